"""Rules classify_<name>: per-AU detectors fitted outside a fold, predicting and scoring it."""

from auflow.io.dataset import KEY, au_columns
from auflow.io.parquet import read_table, write_table
from auflow.models import make_detector
from auflow.models.train import fit_detector, load_dataset, predict_frames, split_fold
from auflow.report import fold_metrics
from auflow.settings import EvaluationSettings
from auflow.workflow import log_to, save_detector

log_to(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
fold = int(w.fold)
settings = EvaluationSettings(**p.settings)
dataset = load_dataset(snakemake.input.dataset, settings.normalise)
train, test = split_fold(dataset, read_table(snakemake.input.folds), fold)
# the metrics need the labels only: free the features of every frame before fitting
dataset = dataset[[*KEY, *au_columns(dataset)]]
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
