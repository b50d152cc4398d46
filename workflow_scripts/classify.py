"""Rules classify_<name>: per-AU detectors fitted outside a fold, predicting and scoring it."""

from auflow.io.parquet import read_table, write_table
from auflow.models import make_detector
from auflow.models.train import fit_detector, load_fold, load_labels, predict_frames
from auflow.report import fold_metrics
from auflow.settings import EvaluationSettings
from auflow.workflow import log_to, save_detector, use_malloc_settings

use_malloc_settings(snakemake.params.classifier)  # first: it may restart the script
log_to(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
fold = int(w.fold)
settings = EvaluationSettings(**p.settings)
folds = read_table(snakemake.input.folds)
# the two parts are read straight from the table, never the whole table's features beside them
train, test = load_fold(snakemake.input.dataset, folds, fold, settings.normalise)
dataset = load_labels(snakemake.input.dataset)  # the metrics need the labels only
detector = make_detector(p.classifier, p.classifier_params, settings, snakemake.threads)
fit_detector(detector, train)
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
    save_detector(detector, snakemake, train, p.model, snakemake.output.fold_model)
