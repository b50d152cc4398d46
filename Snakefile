# auflow: face images with FACS Action Unit labels -> features -> detectors -> metrics.
# Only configuration, validation, includes and the final target live here (and, last, a word to
# the garbage collector); see rules/.

import gc
from pathlib import Path

from snakemake.utils import min_version, validate

from auflow.models.registry import config_schema

min_version("9.0")


configfile: "config.yaml"


# The front page of `snakemake --report results/report.html`.
report: "report/workflow.rst"


# the schema's model lists are the model registry's (auflow.models.registry)
validate(config, config_schema(Path(workflow.basedir) / "schemas/config.schema.yaml"))


include: "rules/common.smk"
include: "rules/features.smk"
include: "rules/labels.smk"
include: "rules/dataset.smk"
include: "rules/classifiers.smk"
include: "rules/study.smk"
include: "rules/cross.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        layout.metrics_file("summary.md"),
        layout.metrics_file("summary.csv"),
        report_targets(),
        leakage_outputs(),
        final_models(),
        expand(
            study_file("best.json"),
            split=SPLIT,
            extractor=EXTRACTORS,
            model=STUDY["models"] if STUDY["enabled"] else [],
            fold=fold_numbers(SPLIT),
        ),


# What parsing made (modules, rules, the frame lists) lives as long as the run: kept out of
# Python's garbage collector, which would otherwise walk all of it again and again while
# Snakemake builds the DAG (0.5-0.9 s of a dry run at DISFA size).
gc.freeze()
