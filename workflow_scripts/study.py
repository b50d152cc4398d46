"""Rule study: an Optuna study on a fold's training subjects, then one fit and one prediction."""

import json
from pathlib import Path

from auflow.io.parquet import read_table, write_table
from auflow.models.classic import make_classifier
from auflow.models.train import load_dataset, predict_fold
from auflow.report import fold_metrics
from auflow.study import run_study, study_name
from auflow.workflow import log_to

log_to(snakemake.log[0])
p = snakemake.params
model = snakemake.wildcards.model
fold = int(snakemake.wildcards.fold)
dataset = load_dataset(snakemake.input.dataset, p.normalise)
folds = read_table(snakemake.input.folds)
name = study_name(
    Path(snakemake.input.dataset).read_bytes(),
    Path(snakemake.input.folds).read_bytes(),
    [model, fold, p.n_trials, p.inner_splits, p.target, p.threshold, p.normalise, p.seed],
)
study, best = run_study(
    dataset,
    folds,
    fold,
    model,
    p.n_trials,
    p.journal,
    name,
    p.timeout,
    p.inner_splits,
    p.seed,
    p.target,
    p.threshold,
    n_jobs=snakemake.threads,
)
pipeline = make_classifier(model, best, random_state=p.seed)
predictions = predict_fold(
    dataset,
    folds,
    fold,
    pipeline,
    p.target,
    p.threshold,
    snakemake.threads,
    tune_threshold=p.tune_threshold,
    seed=p.seed,
)
write_table(study.trials_dataframe(), snakemake.output.trials, {"study": name})
write_table(
    predictions, snakemake.output.predictions, {"classifier": f"optuna_{model}", "params": best}
)
Path(snakemake.output.best).write_text(
    json.dumps({"study": name, "best_value": study.best_value, "params": best}, indent=2)
)
metrics = fold_metrics(
    predictions,
    dataset,
    p.aus,
    p.threshold,
    extractor=snakemake.wildcards.extractor,
    classifier=f"optuna_{model}",
    split=snakemake.wildcards.split,
    leaky=p.leaky,
    fold=fold,
)
write_table(metrics, snakemake.output.metrics)
