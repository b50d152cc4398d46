"""Rule aggregate_metrics: every fold's metrics in one table, as CSV and Markdown summaries."""

from pathlib import Path

from auflow.io.parquet import write_table
from auflow.report import load_metrics, markdown_summary, summary_table
from auflow.workflow import log_to

log_to(snakemake.log[0])
per_fold = load_metrics(snakemake.input.metrics)
summary = summary_table(per_fold)
write_table(per_fold, snakemake.output.per_fold)
summary.to_csv(snakemake.output.csv, index=False, float_format="%.6g")
Path(snakemake.output.markdown).write_text(markdown_summary(summary))
