"""Rule aggregate_metrics: every fold's metrics in one table, pooled scores, CSV and Markdown."""

from pathlib import Path

from auflow.io.dataset import concat_tables
from auflow.io.parquet import write_table
from auflow.report import load_metrics, markdown_summary, pooled_metrics, summary_table
from auflow.settings import EvaluationSettings
from auflow.workflow import log_to

log_to(snakemake.log[0])
settings = EvaluationSettings(**snakemake.params.settings)
per_fold = load_metrics(snakemake.input.metrics)
labels = concat_tables(snakemake.input.labels)
pooled = pooled_metrics(
    snakemake.input.predictions, labels, settings.aus, settings.occurrence_threshold
)
summary = summary_table(per_fold)
write_table(per_fold, snakemake.output.per_fold)
write_table(pooled, snakemake.output.pooled)
summary.to_csv(snakemake.output.csv, index=False, float_format="%.6g")
pooled.to_csv(snakemake.output.pooled_csv, index=False, float_format="%.6g")
Path(snakemake.output.markdown).write_text(markdown_summary(summary, pooled))
