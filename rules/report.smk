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
            "results/provenance.json",
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
        provenance="results/provenance.json",
    output:
        per_fold="results/metrics/per_fold.parquet",
        pooled="results/metrics/pooled.parquet",
        pooled_csv=report(
            "results/metrics/pooled.csv",
            caption="../report/pooled.rst",
            category="Models",
            subcategory="Tables",
        ),
        csv=report(
            "results/metrics/summary.csv",
            caption="../report/summary.rst",
            category="Models",
            subcategory="Tables",
        ),
        averages=report(
            "results/metrics/averages.csv",
            caption="../report/averages.rst",
            category="Models",
            subcategory="Tables",
        ),
        best_per_au=report(
            "results/metrics/best_per_au.csv",
            caption="../report/best_per_au.rst",
            category="Models",
            subcategory="Tables",
        ),
        companions=multiext(
            "results/metrics/",
            "summary.csv.provenance.json",
            "pooled.csv.provenance.json",
            "averages.csv.provenance.json",
            "best_per_au.csv.provenance.json",
        ),
        markdown="results/metrics/summary.md",
        html=report(
            "results/metrics/summary.html",
            caption="../report/summary_html.rst",
            category="Models",
            subcategory="Tables",
        ),
        headline="results/metrics/headline.html",
        generalisation=(
            report(
                "results/metrics/generalisation.csv",
                caption="../report/generalisation.rst",
                category="Generalisation",
            )
            if CROSS
            else []
        ),
        generalisation_companion=(
            "results/metrics/generalisation.csv.provenance.json" if CROSS else []
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
        per_fold="results/metrics/per_fold.parquet",
        pooled="results/metrics/pooled.parquet",
        predictions=split_outputs("predictions", SPLIT, [*MODELS, *STUDY_CLASSIFIERS]),
        labels=subject_labels(),
        trials=study_trials(),
        provenance="results/provenance.json",
    output:
        f1=report(
            "results/plots/f1_per_au.png",
            caption="../report/f1_per_au.rst",
            category="Models",
            subcategory="Scores per AU",
        ),
        heatmap=report(
            "results/plots/f1_heatmap.png",
            caption="../report/f1_heatmap.rst",
            category="Models",
            subcategory="Scores per AU",
        ),
        base_rate=report(
            "results/plots/f1_vs_base_rate.png",
            caption="../report/f1_vs_base_rate.rst",
            category="Models",
            subcategory="Scores per AU",
        ),
        pr_curves=report(
            "results/plots/pr_curves.png",
            caption="../report/pr_curves.rst",
            category="Models",
            subcategory="The best model's predictions",
        ),
        cooccurrence=report(
            "results/plots/cooccurrence.png",
            caption="../report/cooccurrence.rst",
            category="Models",
            subcategory="The best model's predictions",
        ),
        faces=report(
            "results/plots/face_examples.png",
            caption="../report/face_examples.rst",
            category="Models",
            subcategory="The best model's predictions",
        ),
        time_series=report(
            "results/plots/au_time_series.png",
            caption="../report/au_time_series.rst",
            category="Models",
            subcategory="The best model's predictions",
        ),
        study=(
            report(
                "results/plots/optuna_history.png",
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
        dataset=f"results/dataset/{GABOR}.parquet" if GABOR else [],
        provenance="results/provenance.json",
    output:
        overview=report(
            "results/plots/data_overview.png",
            caption="../report/data_overview.rst",
            category="Data",
        ),
        gabor=(
            report(
                "results/plots/gabor_responses.png",
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
        per_fold="results/metrics/per_fold.parquet",
        pooled="results/metrics/pooled.parquet",
        provenance="results/provenance.json",
    output:
        csv=report(
            "results/metrics/leakage.csv",
            caption="../report/leakage.rst",
            category="Leakage",
        ),
        companion="results/metrics/leakage.csv.provenance.json",
        markdown="results/metrics/leakage.md",
        html=report(
            "results/metrics/leakage.html",
            caption="../report/leakage_html.rst",
            category="Leakage",
        ),
        plot=report(
            "results/plots/leakage.png",
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
