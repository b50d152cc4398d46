"""Rules classify_<name>: per-AU detectors fitted outside a fold, predicting and scoring it."""

from auflow.io.parquet import read_table, write_table
from auflow.models.classic import make_classifier
from auflow.models.train import load_dataset, predict_fold
from auflow.report import fold_metrics
from auflow.workflow import log_to

log_to(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
fold = int(w.fold)
dataset = load_dataset(snakemake.input.dataset, p.normalise)
pipeline = make_classifier(p.classifier, p.classifier_params, random_state=p.seed)
predictions = predict_fold(
    dataset,
    read_table(snakemake.input.folds),
    fold,
    pipeline,
    p.target,
    p.threshold,
    n_jobs=snakemake.threads,
    tune_threshold=p.tune_threshold,
    seed=p.seed,
)
metadata = {"classifier": p.classifier, "params": p.classifier_params, "target": p.target}
write_table(predictions, snakemake.output.predictions, metadata)
metrics = fold_metrics(
    predictions,
    dataset,
    p.aus,
    p.threshold,
    extractor=w.extractor,
    classifier=p.classifier,
    split=w.split,
    leaky=p.leaky,
    fold=fold,
)
write_table(metrics, snakemake.output.metrics)
