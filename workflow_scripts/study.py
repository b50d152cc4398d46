"""Rule study: an Optuna study on a fold's training subjects, then one fit and one prediction."""

import json
from pathlib import Path

from auflow.io.parquet import read_table, write_table
from auflow.models import make_detector
from auflow.models.train import fit_detector, load_dataset, predict_frames, split_fold
from auflow.report import fold_metrics
from auflow.settings import EvaluationSettings
from auflow.study import run_study, study_name
from auflow.workflow import log_to

log_to(snakemake.log[0])
p = snakemake.params
model = snakemake.wildcards.model
fold = int(snakemake.wildcards.fold)
settings = EvaluationSettings(**p.settings)
dataset = load_dataset(snakemake.input.dataset, settings.normalise)
folds = read_table(snakemake.input.folds)
name = study_name(
    Path(snakemake.input.dataset).read_bytes(),
    Path(snakemake.input.folds).read_bytes(),
    [model, fold, p.n_trials, p.settings, p.base_params],
)
study, best = run_study(
    dataset,
    folds,
    fold,
    model,
    settings,
    p.n_trials,
    p.journal,
    name,
    p.timeout,
    snakemake.threads,
    base_params=p.base_params,
)
train, test = split_fold(dataset, folds, fold)
detector = fit_detector(make_detector(model, best, settings, snakemake.threads), train)
predictions = predict_frames(detector, test, fold)
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
    settings.aus,
    settings.occurrence_threshold,
    extractor=snakemake.wildcards.extractor,
    classifier=f"optuna_{model}",
    split=snakemake.wildcards.split,
    leaky=p.leaky,
    fold=fold,
)
write_table(metrics, snakemake.output.metrics)
