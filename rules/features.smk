# Features: one job per extractor x subject x shard of frames. A job takes its shard's frame
# manifest (written while the workflow is parsed: rules/common.smk) as input.


rule extract_features:
    input:
        frames=layout.FRAMES_SHARD,
    output:
        features=layout.FEATURES,
    log:
        "logs/extract_features/{extractor}/{subject}/{shard}.log",
    benchmark:
        "benchmarks/extract_features/{extractor}/{subject}/{shard}.tsv"
    conda:
        "../envs/features.yaml"
    threads: 1
    resources:
        # bounded by the extraction batch, not by the shard or the subject
        mem_mb=1000,
        runtime=60,
    params:
        extractor_params=get_extractor_params,
        face_size=FEATURES["face_size"],
        align=FEATURES["align"],
        version=VERSION,
    script:
        "../workflow_scripts/extract_features.py"
