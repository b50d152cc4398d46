# Features: one job per extractor x subject x shard of frames.

# A job takes a small manifest of its frames as input, not hundreds of image paths (which
# Snakemake would print whole when a job fails). Manifests are written while the workflow is
# parsed (after every config check; Snakemake caches folder listings once it builds the DAG),
# and only when their content changed (frames, paths, image sizes and modification times), so
# their modification time moves exactly when a shard's images do.
try:
    for subject, frames in FRAMES.items():
        for first in range(0, len(frames), SHARD_SIZE):
            write_manifest(
                f"results/frames/{subject}/{first // SHARD_SIZE:03d}.json",
                subject,
                frames[first : first + SHARD_SIZE],
                with_stat=True,
            )
except (OSError, ValueError) as error:
    raise WorkflowError(
        f"writing the frame manifests under results/frames: {error}"
    ) from None


rule extract_features:
    input:
        frames="results/frames/{subject}/{shard}.json",
    output:
        features="results/features/{extractor}/{subject}/{shard}.parquet",
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
