# Labels: one job per subject, aligning the label file with the images in frame order.

# The subject's frame numbers and image paths (not their pixels, which labels do not depend
# on), written as rules/features.smk writes the shard manifests, for the same reasons.
try:
    for subject, frames in FRAMES.items():
        write_manifest(
            f"results/frames/{subject}.json", subject, frames, with_stat=False
        )
except (OSError, ValueError) as error:
    raise WorkflowError(
        f"writing the frame manifests under results/frames: {error}"
    ) from None


rule labels:
    input:
        labels=get_label_sources,
        frames="results/frames/{subject}.json",
    output:
        labels="results/labels/{subject}.parquet",
    log:
        "logs/labels/{subject}.log",
    benchmark:
        "benchmarks/labels/{subject}.tsv"
    conda:
        "../envs/features.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        label_format=DATASET["label_format"],
        labels_dir=str(LABELS),
        aus=config["aus"],
        missing_au=DATASET["missing_au"],
        strict_frames=DATASET["strict_frames"],
        version=VERSION,
    script:
        "../workflow_scripts/labels.py"
