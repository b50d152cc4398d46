# Features: one job per extractor x subject x shard of frames.


rule extract_features:
    input:
        images=get_shard_images,
    output:
        features="results/features/{extractor}/{subject}/{shard}.parquet",
    log:
        "logs/extract_features/{extractor}/{subject}/{shard}.log",
    benchmark:
        "benchmarks/extract_features/{extractor}/{subject}/{shard}.tsv"
    params:
        extractor_params=get_extractor_params,
        face_size=FEATURES["face_size"],
        version=VERSION,
    threads: 1
    resources:
        mem_mb=mem_mb_for_shard,
        runtime=60,
    conda:
        "../envs/features.yaml"
    script:
        "../workflow_scripts/extract_features.py"
