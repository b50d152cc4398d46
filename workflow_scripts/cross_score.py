"""Rule cross_score: a cross dataset's predictions scored against its labels (split
cross:<name>, one fold; auflow.pipeline.score_cross)."""

from auflow.pipeline import score_cross
from auflow.workflow import log_to

log_to(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
score_cross(
    snakemake.input.predictions,
    snakemake.input.labels,
    p.aus,
    p.occurrence_threshold,
    cross=w.cross,
    extractor=w.extractor,
    model=w.model,
    metrics=snakemake.output.metrics,
)
