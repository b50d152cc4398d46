# Cross-dataset evaluation (config cross_datasets): the final models, fitted on every subject of
# the main dataset, predict every frame of other labelled datasets, which are then scored.
#
# A cross dataset's frames go through the same extraction and label scripts into their own tables,
#   results/features/<extractor>/<name>/<subject>/<shard>.parquet
#   results/labels/<name>/<subject>.parquet
# one path component more than the main dataset's, whose wildcards never hold a slash: no pattern
# of one matches a file of the other, and a cross subject named like a main subject is another
# file. Predictions read the features and the model only, never a label; scoring reads the labels
# afterwards. Adding a cross dataset adds its own jobs and re-runs the whole-run tables; the main
# dataset's learning does not depend on it. Its subjects and label files are paired at parse
# time, and their frame manifests written (the cross datasets section of rules/common.smk, with
# the helpers these rules use).


use rule extract_features as cross_extract_features with:
    input:
        frames=layout.CROSS_FRAMES_SHARD,
    output:
        features=layout.CROSS_FEATURES,
    log:
        "logs/cross_extract_features/{cross}/{extractor}/{subject}/{shard}.log",
    benchmark:
        "benchmarks/cross_extract_features/{cross}/{extractor}/{subject}/{shard}.tsv"
    wildcard_constraints:
        cross=CROSS_NAME,


use rule labels as cross_labels with:
    input:
        labels=get_cross_label_sources,
        frames=layout.CROSS_FRAMES,
    output:
        labels=layout.CROSS_LABELS,
    log:
        "logs/cross_labels/{cross}/{subject}.log",
    benchmark:
        "benchmarks/cross_labels/{cross}/{subject}.tsv"
    wildcard_constraints:
        cross=CROSS_NAME,
    params:
        label_format=cross_setting("label_format"),
        labels_dir=cross_labels_folder,
        aus=config["aus"],
        missing_au=cross_setting("missing_au"),
        strict_frames=cross_setting("strict_frames"),
        version=VERSION,


rule cross_predict:
    input:
        # the fit_final job writes the model file with its manifest
        model=layout.model_file("{extractor}", "{model}", "manifest.json"),
        features=get_cross_feature_shards,
    output:
        predictions=layout.cross_table(
            "predictions", "{cross}", "{extractor}", "{model}"
        ),
    log:
        "logs/cross_predict/{cross}/{extractor}/{model}.log",
    benchmark:
        "benchmarks/cross_predict/{cross}/{extractor}/{model}.tsv"
    wildcard_constraints:
        cross=CROSS_NAME,
        model=CROSS_MODEL,
    conda:
        "../envs/learn.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_cross,
        runtime=runtime_for_dataset,
    params:
        version=VERSION,
    script:
        "../workflow_scripts/cross_predict.py"


rule cross_score:
    input:
        predictions=layout.cross_table(
            "predictions", "{cross}", "{extractor}", "{model}"
        ),
        labels=get_cross_subject_labels,
    output:
        metrics=layout.cross_table("metrics", "{cross}", "{extractor}", "{model}"),
    log:
        "logs/cross_score/{cross}/{extractor}/{model}.log",
    benchmark:
        "benchmarks/cross_score/{cross}/{extractor}/{model}.tsv"
    wildcard_constraints:
        cross=CROSS_NAME,
        model=CROSS_MODEL,
    conda:
        "../envs/learn.yaml"
    threads: 1
    resources:
        **SMALL_JOB,
    params:
        aus=config["aus"],
        occurrence_threshold=config["occurrence_threshold"],
        version=VERSION,
    script:
        "../workflow_scripts/cross_score.py"
