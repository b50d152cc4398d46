"""Rule aggregate_metrics: every fold's metrics in one table, pooled scores, the averages and
the best model per AU, as Parquet, CSV, Markdown and HTML, each with the run's provenance
(auflow.summary.write_summary)."""

from auflow.settings import EvaluationSettings
from auflow.summary import write_summary
from auflow.workflow import log_to

log_to(snakemake.log[0])
i = snakemake.input
write_summary(
    i.metrics,
    i.cross_metrics,
    i.predictions,
    i.labels,
    i.provenance,
    EvaluationSettings(**snakemake.params.settings),
    snakemake.params.split,
    snakemake.output,
)
