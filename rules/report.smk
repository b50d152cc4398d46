# The end of the DAG: where the results came from, every fold's metrics in one table, the
# summary, and the figures; `snakemake --report results/report.html` bundles them by category.
#
# results/provenance.json is an input of these end-of-DAG rules only: a new git commit or a new
# package version re-runs the few cheap jobs that read it, never the extraction or the learners.

from auflow.checks import config_hash


rule provenance:
    input:
        labels=subject_labels(),
        cross_labels=cross_label_files(),
    output:
        provenance=report(
            layout.PROVENANCE,
            caption="../report/provenance.rst",
            category="Data",
        ),
    log:
        "logs/provenance.log",
    benchmark:
        "benchmarks/provenance.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        **SMALL_JOB,
    params:
        # The git commit is read when the job runs, not declared here, so that committing does
        # not by itself re-run the tables.
        config_hash=config_hash(config),
        version=VERSION,
    script:
        "../workflow_scripts/provenance.py"


rule aggregate_metrics:
    input:
        metrics=metrics_files(),
        predictions=prediction_files(),
        labels=subject_labels(),
        # the cross datasets' metrics (split cross:<name>, one fold each): rules/cross.smk
        cross_metrics=cross_metrics_files(),
        provenance=layout.PROVENANCE,
    output:
        per_fold=layout.metrics_file("per_fold.parquet"),
        pooled=layout.metrics_file("pooled.parquet"),
        pooled_csv=report(
            layout.metrics_file("pooled.csv"),
            caption="../report/pooled.rst",
            category="Models",
            subcategory="Tables",
        ),
        csv=report(
            layout.metrics_file("summary.csv"),
            caption="../report/summary.rst",
            category="Models",
            subcategory="Tables",
        ),
        averages=report(
            layout.metrics_file("averages.csv"),
            caption="../report/averages.rst",
            category="Models",
            subcategory="Tables",
        ),
        best_per_au=report(
            layout.metrics_file("best_per_au.csv"),
            caption="../report/best_per_au.rst",
            category="Models",
            subcategory="Tables",
        ),
        companions=multiext(
            layout.metrics_file(""),
            "summary.csv.provenance.json",
            "pooled.csv.provenance.json",
            "averages.csv.provenance.json",
            "best_per_au.csv.provenance.json",
        ),
        markdown=layout.metrics_file("summary.md"),
        html=report(
            layout.metrics_file("summary.html"),
            caption="../report/summary_html.rst",
            category="Models",
            subcategory="Tables",
        ),
        headline=layout.metrics_file("headline.html"),
        generalisation=(
            report(
                layout.metrics_file("generalisation.csv"),
                caption="../report/generalisation.rst",
                category="Generalisation",
            )
            if CROSS
            else []
        ),
        generalisation_companion=(
            layout.metrics_file("generalisation.csv.provenance.json") if CROSS else []
        ),
    log:
        "logs/aggregate_metrics.log",
    benchmark:
        "benchmarks/aggregate_metrics.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        **SMALL_JOB,
    params:
        settings=SETTINGS.as_dict(),
        split=SPLIT,
        version=VERSION,
    script:
        "../workflow_scripts/aggregate_metrics.py"


rule plot_metrics:
    input:
        per_fold=layout.metrics_file("per_fold.parquet"),
        pooled=layout.metrics_file("pooled.parquet"),
        predictions=split_outputs("predictions", SPLIT, [*MODELS, *STUDY_CLASSIFIERS]),
        labels=subject_labels(),
        trials=study_trials(),
        provenance=layout.PROVENANCE,
    output:
        f1=report(
            layout.plot("f1_per_au"),
            caption="../report/f1_per_au.rst",
            category="Models",
            subcategory="Scores per AU",
        ),
        heatmap=report(
            layout.plot("f1_heatmap"),
            caption="../report/f1_heatmap.rst",
            category="Models",
            subcategory="Scores per AU",
        ),
        base_rate=report(
            layout.plot("f1_vs_base_rate"),
            caption="../report/f1_vs_base_rate.rst",
            category="Models",
            subcategory="Scores per AU",
        ),
        pr_curves=report(
            layout.plot("pr_curves"),
            caption="../report/pr_curves.rst",
            category="Models",
            subcategory="The best model's predictions",
        ),
        cooccurrence=report(
            layout.plot("cooccurrence"),
            caption="../report/cooccurrence.rst",
            category="Models",
            subcategory="The best model's predictions",
        ),
        faces=report(
            layout.plot("face_examples"),
            caption="../report/face_examples.rst",
            category="Models",
            subcategory="The best model's predictions",
        ),
        time_series=report(
            layout.plot("au_time_series"),
            caption="../report/au_time_series.rst",
            category="Models",
            subcategory="The best model's predictions",
        ),
        study=(
            report(
                layout.plot("optuna_history"),
                caption="../report/optuna_history.rst",
                category="Study",
            )
            if STUDY["enabled"]
            else []
        ),
    log:
        "logs/plot_metrics.log",
    benchmark:
        "benchmarks/plot_metrics.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        aus=config["aus"],
        occurrence_threshold=config["occurrence_threshold"],
        split=SPLIT,
        baseline_extractor=BASELINE["extractor"],
        # The face images of the examples figure, found as the pipeline finds them.
        images=str(IMAGES),
        version=VERSION,
    script:
        "../workflow_scripts/plot_metrics.py"


rule plot_data:
    input:
        labels=subject_labels(),
        dataset=layout.DATASET.format(extractor=GABOR) if GABOR else [],
        provenance=layout.PROVENANCE,
    output:
        overview=report(
            layout.plot("data_overview"),
            caption="../report/data_overview.rst",
            category="Data",
        ),
        gabor=(
            report(
                layout.plot("gabor_responses"),
                caption="../report/gabor_responses.rst",
                category="Features",
            )
            if GABOR
            else []
        ),
    log:
        "logs/plot_data.log",
    benchmark:
        "benchmarks/plot_data.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_dataset,
        runtime=20,
    params:
        aus=config["aus"],
        occurrence_threshold=config["occurrence_threshold"],
        gabor=GABOR,
        version=VERSION,
    script:
        "../workflow_scripts/plot_data.py"


rule leakage_comparison:
    input:
        per_fold=layout.metrics_file("per_fold.parquet"),
        pooled=layout.metrics_file("pooled.parquet"),
        provenance=layout.PROVENANCE,
    output:
        csv=report(
            layout.metrics_file("leakage.csv"),
            caption="../report/leakage.rst",
            category="Leakage",
        ),
        companion=layout.metrics_file("leakage.csv.provenance.json"),
        markdown=layout.metrics_file("leakage.md"),
        html=report(
            layout.metrics_file("leakage.html"),
            caption="../report/leakage_html.rst",
            category="Leakage",
        ),
        plot=report(
            layout.plot("leakage"),
            caption="../report/leakage_plot.rst",
            category="Leakage",
        ),
    log:
        "logs/leakage_comparison.log",
    benchmark:
        "benchmarks/leakage_comparison.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        **SMALL_JOB,
    params:
        split=SPLIT,
        compared=COMPARED_SPLIT,
        version=VERSION,
    script:
        "../workflow_scripts/leakage_comparison.py"
