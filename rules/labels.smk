# Labels: one job per subject, aligning the label file with the images in frame order.


rule labels:
    input:
        labels=get_label_sources,
        frames=get_subject_manifest,
    output:
        labels="results/labels/{subject}.parquet",
    log:
        "logs/labels/{subject}.log",
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
