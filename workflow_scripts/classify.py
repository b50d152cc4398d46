"""Rules classify_<name>: per-AU detectors fitted outside a fold, predicting and scoring it."""

from auflow.io.parquet import read_table, write_table
from auflow.models import make_detector
from auflow.models.stacking import fit_stacked, load_model_fold, stack_metadata, stacked_fit
from auflow.models.train import fit_detector, load_labels, predict_frames
from auflow.report import fold_metrics
from auflow.settings import EvaluationSettings
from auflow.workflow import (
    log_to,
    optional_input,
    save_detector,
    stack_for_saving,
    use_malloc_settings,
)

use_malloc_settings(snakemake.params.classifier)  # first: it may restart the script
log_to(snakemake.log[0])
w, p, i = snakemake.wildcards, snakemake.params, snakemake.input
fold = int(w.fold)
settings = EvaluationSettings(**p.settings)
stack = optional_input(i.stack)  # a stacked model's features
folds = read_table(i.folds)
# the two parts are read straight from the table, never the whole table's features beside them
# (a stacked model's features are the stack table's columns)
train, test = load_model_fold(i.dataset, stack, folds, fold, settings.normalise)
dataset = load_labels(i.dataset)  # the metrics need the labels only
detector = make_detector(p.classifier, p.classifier_params, settings, snakemake.threads)
if snakemake.output.stack:  # the per-frame detector a stacked model takes its inputs from
    stacked, made = fit_stacked(detector, train, test, settings.seed)
    write_table(stacked, snakemake.output.stack, stack_metadata(made, detector))
else:
    fit_detector(detector, train, **stacked_fit(detector, stack))
predictions = predict_frames(detector, test, fold)
metadata = {"classifier": p.model, "params": p.classifier_params, "target": settings.target}
write_table(predictions, snakemake.output.predictions, metadata)
metrics = fold_metrics(
    predictions,
    dataset,
    settings.aus,
    settings.occurrence_threshold,
    extractor=w.extractor,
    classifier=p.model,
    split=w.split,
    leaky=p.leaky,
    fold=fold,
)
write_table(metrics, snakemake.output.metrics)
if snakemake.output.fold_model:
    features = stack_for_saving(detector, stack, optional_input(i.base_model))
    save_detector(detector, snakemake, train, p.model, snakemake.output.fold_model, features)
