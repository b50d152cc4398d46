"""Rule plot_metrics: F1 per AU and classifier."""

from auflow.io.parquet import read_table
from auflow.report import plot_f1, summary_table
from auflow.workflow import log_to

log_to(snakemake.log[0])
plot_f1(summary_table(read_table(snakemake.input.per_fold)), snakemake.output.f1)
