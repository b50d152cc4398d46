"""Rule cross_score: a cross dataset's predictions scored against its labels (split
cross:<name>, one fold)."""

import logging

from auflow.cross import cross_metrics, never_labelled
from auflow.io.dataset import concat_tables
from auflow.io.labels import au_column
from auflow.io.parquet import read_table, write_table
from auflow.workflow import log_to

log_to(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
unlabelled = never_labelled(snakemake.input.labels, p.aus)
if unlabelled:
    logging.getLogger(__name__).warning(
        "cross dataset %s never labels %s: not scored",
        w.cross,
        ", ".join(au_column(au) for au in unlabelled),
    )
metrics = cross_metrics(
    read_table(snakemake.input.predictions),
    concat_tables(snakemake.input.labels),
    p.aus,
    p.occurrence_threshold,
    unlabelled,
    extractor=w.extractor,
    classifier=w.model,
    name=w.cross,
)
write_table(metrics, snakemake.output.metrics)
