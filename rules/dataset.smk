# The dataset: features joined with labels on (subject, frame), and the cross-validation folds.


rule join_dataset:
    input:
        features=get_feature_shards,
        labels=subject_labels(),
    output:
        dataset="results/dataset/{extractor}.parquet",
    log:
        "logs/join_dataset/{extractor}.log",
    params:
        version=VERSION,
    threads: 1
    resources:
        mem_mb=mem_mb_for_dataset,
        runtime=30,
    conda:
        "../envs/features.yaml"
    script:
        "../workflow_scripts/join_dataset.py"


rule folds:
    input:
        labels=subject_labels(),
    output:
        folds="results/folds/{split}.parquet",
    log:
        "logs/folds/{split}.log",
    params:
        k=EVALUATION["k"],
        seed=EVALUATION["seed"],
        allow_leaky=EVALUATION["allow_leaky"],
        version=VERSION,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/learn.yaml"
    script:
        "../workflow_scripts/folds.py"
