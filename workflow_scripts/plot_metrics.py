"""Rule plot_metrics: the figures of the models' scores and of the best model's predictions."""

from pathlib import Path

import pandas as pd

from auflow.io.dataset import concat_tables
from auflow.io.parquet import read_table
from auflow.plots import (
    best_model,
    plot_au_time_series,
    plot_cooccurrence,
    plot_f1_heatmap,
    plot_f1_per_au,
    plot_f1_vs_base_rate,
    plot_face_examples,
    plot_optuna_history,
    plot_pr_curves,
)
from auflow.provenance import table_provenance
from auflow.report import BASELINE, averages_table, model_colours, summary_table
from auflow.workflow import log_to

log_to(snakemake.log[0])
p = snakemake.params
out = snakemake.output
provenance = table_provenance(snakemake.input.provenance)
summary = summary_table(read_table(snakemake.input.per_fold))
pooled = read_table(snakemake.input.pooled)
labels = concat_tables(snakemake.input.labels)
# One colour map for every figure, made from every model of the run.
colours = model_colours(pooled["classifier"])
plot_f1_per_au(summary, averages_table(summary, pooled, p.aus), p.aus, colours, out.f1, provenance)
plot_f1_heatmap(pooled, p.aus, colours, out.heatmap, provenance)
plot_f1_vs_base_rate(pooled, p.split, colours, out.base_rate, provenance)

best, extractor = best_model(pooled, p.split)
predictions = {}
for model, model_extractor in ((best, extractor), (BASELINE, p.baseline_extractor)):
    # predictions/<split>/<extractor>/<model>/fold<k>.parquet of the configured split
    files = [
        f
        for f in snakemake.input.predictions
        if Path(f).parts[-4:-1] == (p.split, model_extractor, model)
    ]
    if files:
        predictions[model] = pd.concat([read_table(f) for f in files], ignore_index=True)
threshold = p.occurrence_threshold
plot_pr_curves(predictions, labels, p.aus, threshold, best, colours, out.pr_curves, provenance)
plot_cooccurrence(
    predictions[best], labels, p.aus, threshold, best, colours, out.cooccurrence, provenance
)
plot_face_examples(
    predictions[best], labels, p.images, p.aus, threshold, best, colours, out.faces, provenance
)
plot_au_time_series(
    predictions[best], labels, p.aus, threshold, best, colours, out.time_series, provenance
)
if out.get("study"):
    # results/study/<split>/<extractor>/<model>/fold<k>/trials.parquet
    studies = [
        (Path(f).parts[-4], Path(f).parts[-3], Path(f).parent.name, f)
        for f in snakemake.input.trials
    ]
    several_extractors = len({extractor for extractor, _, _, _ in studies}) > 1
    several_models = len({model for _, model, _, _ in studies}) > 1
    labels_of = {
        f: (f"{extractor} " if several_extractors else "")
        + (f"{model} " if several_models else "")
        + fold.replace("fold", "fold ")
        for extractor, model, fold, f in studies
    }
    trials = {labels_of[f]: read_table(f) for *_, f in studies}
    tuned = {labels_of[f]: f"optuna_{model}" for _, model, _, f in studies}
    plot_optuna_history(trials, tuned, colours, out.study, provenance)
