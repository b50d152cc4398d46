# The dataset: features joined with labels on (subject, frame), and the cross-validation folds.


rule join_dataset:
    input:
        features=get_feature_shards,
        labels=subject_labels(),
    output:
        dataset=layout.DATASET,
    log:
        "logs/join_dataset/{extractor}.log",
    benchmark:
        "benchmarks/join_dataset/{extractor}.tsv"
    conda:
        "../envs/features.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_dataset,
        runtime=30,
    params:
        version=VERSION,
    script:
        "../workflow_scripts/join_dataset.py"


rule folds:
    input:
        labels=subject_labels(),
    output:
        folds=layout.FOLDS,
    log:
        "logs/folds/{split}.log",
    benchmark:
        "benchmarks/folds/{split}.tsv"
    conda:
        "../envs/learn.yaml"
    threads: 1
    resources:
        **SMALL_JOB,
    params:
        k=EVALUATION["k"],
        seed=EVALUATION["seed"],
        allow_leaky=allow_leaky,
        version=VERSION,
    script:
        "../workflow_scripts/folds.py"
