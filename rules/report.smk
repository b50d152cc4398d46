# The end of the DAG: every fold's metrics in one table, a summary, and plots.


rule aggregate_metrics:
    input:
        metrics=metrics_files(),
        predictions=prediction_files(),
        labels=subject_labels(),
    output:
        per_fold="results/metrics/per_fold.parquet",
        pooled="results/metrics/pooled.parquet",
        pooled_csv=report(
            "results/metrics/pooled.csv",
            caption="../report/pooled.rst",
            category="Metrics",
        ),
        csv=report(
            "results/metrics/summary.csv",
            caption="../report/summary.rst",
            category="Metrics",
        ),
        markdown="results/metrics/summary.md",
    log:
        "logs/aggregate_metrics.log",
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=SETTINGS.as_dict(),
        version=VERSION,
    script:
        "../workflow_scripts/aggregate_metrics.py"


rule plot_metrics:
    input:
        per_fold="results/metrics/per_fold.parquet",
    output:
        f1=report(
            "results/plots/f1_per_au.png",
            caption="../report/f1_per_au.rst",
            category="Metrics",
        ),
    log:
        "logs/plot_metrics.log",
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        version=VERSION,
    script:
        "../workflow_scripts/plot_metrics.py"


rule leakage_comparison:
    input:
        per_fold="results/metrics/per_fold.parquet",
    output:
        csv=report(
            "results/metrics/leakage.csv",
            caption="../report/leakage.rst",
            category="Leakage",
        ),
        markdown="results/metrics/leakage.md",
    log:
        "logs/leakage_comparison.log",
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        split=SPLIT,
        compared=COMPARED_SPLIT,
        version=VERSION,
    script:
        "../workflow_scripts/leakage_comparison.py"
