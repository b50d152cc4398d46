# Labels: one job per subject, aligning the label file with the images in frame order. A job
# takes the subject's frame manifest (frame numbers and image paths, not their pixels, which
# labels do not depend on; written while the workflow is parsed: rules/common.smk) as input.


rule labels:
    input:
        labels=get_label_sources,
        frames=layout.FRAMES,
    output:
        labels=layout.LABELS,
    log:
        "logs/labels/{subject}.log",
    benchmark:
        "benchmarks/labels/{subject}.tsv"
    conda:
        "../envs/features.yaml"
    threads: 1
    resources:
        **SMALL_JOB,
    params:
        label_format=DATASET["label_format"],
        labels_dir=str(LABELS),
        aus=config["aus"],
        missing_au=DATASET["missing_au"],
        strict_frames=DATASET["strict_frames"],
        version=VERSION,
    script:
        "../workflow_scripts/labels.py"
