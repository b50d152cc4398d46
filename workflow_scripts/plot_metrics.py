"""Rule plot_metrics: the figures of the models' scores and of the best model's predictions
(auflow.summary.draw_metric_figures)."""

from auflow.summary import draw_metric_figures
from auflow.workflow import log_to

log_to(snakemake.log[0])
i, p = snakemake.input, snakemake.params
draw_metric_figures(
    i.per_fold,
    i.pooled,
    i.predictions,
    i.labels,
    i.trials,
    i.provenance,
    aus=p.aus,
    threshold=p.occurrence_threshold,
    split=p.split,
    baseline_extractor=p.baseline_extractor,
    images=p.images,
    out=snakemake.output,
)
