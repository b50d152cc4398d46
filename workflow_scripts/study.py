"""Rule study: an Optuna study on a fold's training subjects (run here, or gathered from the
study_worker jobs and completed), its plots, then one fit and one prediction of the test fold."""

import json
from pathlib import Path

from auflow.io.parquet import read_table, write_table
from auflow.models import make_detector
from auflow.models.stacking import load_model_fold, stacked_fit
from auflow.models.train import fit_detector, load_labels, predict_frames
from auflow.plots import plot_study
from auflow.report import fold_metrics
from auflow.settings import EvaluationSettings
from auflow.study import finished_trials, run_study, study_of_files
from auflow.workflow import log_to, optional_input, use_malloc_settings

use_malloc_settings(snakemake.wildcards.model)  # first: it may restart the script
log_to(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params.study
fold = int(w.fold)
settings = EvaluationSettings(**p["settings"])
folds = read_table(snakemake.input.folds)
stack = optional_input(snakemake.input.stack)  # a stacked model's features
# the fold's two parts, never the whole table's features beside them (the trials see the first)
train, test = load_model_fold(snakemake.input.dataset, stack, folds, fold, settings.normalise)
data = [snakemake.input.dataset, *([stack] if stack else [])]
name = study_of_files(data, snakemake.input.folds, w.model, fold, p)
study, best = run_study(
    train,
    folds,
    fold,
    w.model,
    settings,
    p["n_trials"],
    p["journal"],
    name,
    p["timeout"],
    snakemake.threads,
    base_params=p["base_params"],
    inner_parts=p["inner_parts"],
)
plot_study(study, f"optuna_{w.model}", f"fold {fold}", snakemake.output)
detector = make_detector(w.model, best, settings, snakemake.threads)
fit_detector(detector, train, **stacked_fit(detector, stack))
predictions = predict_frames(detector, test, fold)
write_table(finished_trials(study), snakemake.output.trials, {"study": name})
write_table(
    predictions, snakemake.output.predictions, {"classifier": f"optuna_{w.model}", "params": best}
)
Path(snakemake.output.best).write_text(
    json.dumps({"study": name, "best_value": study.best_value, "params": best}, indent=2)
)
metrics = fold_metrics(
    predictions,
    load_labels(snakemake.input.dataset),
    settings.aus,
    settings.occurrence_threshold,
    extractor=w.extractor,
    classifier=f"optuna_{w.model}",
    split=w.split,
    leaky=snakemake.params.leaky,
    fold=fold,
)
write_table(metrics, snakemake.output.metrics)
