"""Rule leakage_comparison: honest and leaky splits side by side, with their difference."""

from pathlib import Path

from auflow.io.parquet import read_table
from auflow.report import leakage_markdown, leakage_table, summary_table
from auflow.workflow import log_to

log_to(snakemake.log[0])
p = snakemake.params
summary = summary_table(read_table(snakemake.input.per_fold))
honest, leaky = (p.compared, p.split) if p.split == "random_frames" else (p.split, p.compared)
comparison = leakage_table(summary, honest, leaky)
comparison.to_csv(snakemake.output.csv, index=False, float_format="%.6g")
Path(snakemake.output.markdown).write_text(leakage_markdown(comparison, honest, leaky))
