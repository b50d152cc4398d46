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
# time (the cross datasets section of rules/common.smk, with the helpers these rules use).

# The frame manifests, as rules/features.smk and rules/labels.smk write the main dataset's.
try:
    for cross_name, subjects in CROSS_FRAMES.items():
        for subject, frames in subjects.items():
            write_manifest(
                f"results/frames/cross/{cross_name}/{subject}.json",
                subject,
                frames,
                with_stat=False,
            )
            for first in range(0, len(frames), SHARD_SIZE):
                write_manifest(
                    f"results/frames/cross/{cross_name}/{subject}/{first // SHARD_SIZE:03d}.json",
                    subject,
                    frames[first : first + SHARD_SIZE],
                    with_stat=True,
                )
except (OSError, ValueError) as error:
    raise WorkflowError(
        f"writing the frame manifests under results/frames/cross: {error}"
    ) from None


rule cross_extract_features:
    input:
        frames="results/frames/cross/{cross}/{subject}/{shard}.json",
    output:
        features="results/features/{extractor}/{cross}/{subject}/{shard}.parquet",
    log:
        "logs/cross_extract_features/{cross}/{extractor}/{subject}/{shard}.log",
    benchmark:
        "benchmarks/cross_extract_features/{cross}/{extractor}/{subject}/{shard}.tsv"
    wildcard_constraints:
        cross=CROSS_NAME,
    conda:
        "../envs/features.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        extractor_params=get_extractor_params,
        face_size=FEATURES["face_size"],
        align=FEATURES["align"],
        version=VERSION,
    script:
        "../workflow_scripts/extract_features.py"


rule cross_labels:
    input:
        labels=get_cross_label_sources,
        frames="results/frames/cross/{cross}/{subject}.json",
    output:
        labels="results/labels/{cross}/{subject}.parquet",
    log:
        "logs/cross_labels/{cross}/{subject}.log",
    benchmark:
        "benchmarks/cross_labels/{cross}/{subject}.tsv"
    wildcard_constraints:
        cross=CROSS_NAME,
    conda:
        "../envs/features.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        label_format=cross_setting("label_format"),
        labels_dir=cross_labels_folder,
        aus=config["aus"],
        missing_au=cross_setting("missing_au"),
        strict_frames=cross_setting("strict_frames"),
        version=VERSION,
    script:
        "../workflow_scripts/labels.py"


rule cross_predict:
    input:
        # the fit_final job writes the model file with its manifest
        model="results/models/{extractor}/{model}/manifest.json",
        features=get_cross_feature_shards,
    output:
        predictions="results/predictions/cross/{cross}/{extractor}/{model}.parquet",
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
        predictions="results/predictions/cross/{cross}/{extractor}/{model}.parquet",
        labels=get_cross_subject_labels,
    output:
        metrics="results/metrics/cross/{cross}/{extractor}/{model}.parquet",
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
        mem_mb=1000,
        runtime=10,
    params:
        aus=config["aus"],
        occurrence_threshold=config["occurrence_threshold"],
        version=VERSION,
    script:
        "../workflow_scripts/cross_score.py"
