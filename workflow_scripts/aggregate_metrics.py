"""Rule aggregate_metrics: every fold's metrics in one table, pooled scores, the averages and
the best model per AU, as Parquet, CSV, Markdown and HTML, each with the run's provenance."""

from pathlib import Path

import pandas as pd

from auflow.cross import cross_pooled, generalisation_table
from auflow.io.dataset import concat_tables
from auflow.io.parquet import write_table
from auflow.provenance import table_provenance, write_csv
from auflow.report import (
    averages_table,
    best_per_au,
    headline_markdown,
    load_metrics,
    markdown_html,
    markdown_summary,
    pooled_metrics,
    summary_table,
)
from auflow.settings import EvaluationSettings
from auflow.workflow import log_to

log_to(snakemake.log[0])
out = snakemake.output
settings = EvaluationSettings(**snakemake.params.settings)
provenance = table_provenance(snakemake.input.provenance)
per_fold = load_metrics([*snakemake.input.metrics, *snakemake.input.cross_metrics])
labels = concat_tables(snakemake.input.labels)
pooled = pooled_metrics(
    snakemake.input.predictions, labels, settings.aus, settings.occurrence_threshold
)
# a cross dataset is one "fold": its pooled rows are its fold's
cross = cross_pooled(snakemake.input.cross_metrics)
if cross is not None:
    pooled = pd.concat([pooled, cross], ignore_index=True)
summary = summary_table(per_fold)
write_table(per_fold, out.per_fold, provenance)
write_table(pooled, out.pooled, provenance)
write_csv(summary, out.csv, provenance)
write_csv(pooled, out.pooled_csv, provenance)
write_csv(averages_table(summary, pooled, settings.aus), out.averages, provenance)
write_csv(best_per_au(pooled), out.best_per_au, provenance)
markdown = markdown_summary(summary, pooled, settings.aus, provenance, snakemake.params.split)
if out.generalisation:
    write_csv(generalisation_table(pooled, snakemake.params.split), out.generalisation, provenance)
Path(out.markdown).write_text(markdown)
Path(out.html).write_text(markdown_html(markdown, "auflow metrics summary"))
Path(out.headline).write_text(markdown_html(headline_markdown(summary, pooled, settings.aus)))
