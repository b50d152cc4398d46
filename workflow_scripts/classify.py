"""Rules classify_<name>: per-AU detectors fitted outside a fold, predicting the fold."""

from auflow.io.parquet import read_table, write_table
from auflow.models.classic import make_classifier
from auflow.models.train import load_dataset, predict_fold
from auflow.workflow import log_to

log_to(snakemake.log[0])
p = snakemake.params
dataset = load_dataset(snakemake.input.dataset, p.normalise)
pipeline = make_classifier(p.classifier, p.classifier_params, random_state=p.seed)
predictions = predict_fold(
    dataset,
    read_table(snakemake.input.folds),
    int(snakemake.wildcards.fold),
    pipeline,
    p.target,
    p.threshold,
    n_jobs=snakemake.threads,
)
write_table(
    predictions,
    snakemake.output.predictions,
    {"classifier": p.classifier, "params": p.classifier_params, "target": p.target},
)
