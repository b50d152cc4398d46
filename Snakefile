# auflow: face images with FACS Action Unit labels -> features -> detectors -> metrics.
# Only configuration, validation, includes and the final target live here; see rules/.

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


# The front page of `snakemake --report results/report.html`.
report: "report/workflow.rst"


validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/features.smk"
include: "rules/labels.smk"
include: "rules/dataset.smk"
include: "rules/classifiers.smk"
include: "rules/study.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        "results/metrics/summary.md",
        "results/metrics/summary.csv",
        report_targets(),
        leakage_outputs(),
        final_models(),
        expand(
            "results/study/{split}/{extractor}/{model}/fold{fold}/best.json",
            split=SPLIT,
            extractor=EXTRACTORS,
            model=STUDY["models"] if STUDY["enabled"] else [],
            fold=fold_numbers(SPLIT),
        ),
