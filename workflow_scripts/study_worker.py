"""Rule study_worker: one of study.workers jobs adding trials to a study's shared journal."""

import logging

from auflow.io.parquet import read_table
from auflow.models.stacking import load_model_fold
from auflow.settings import EvaluationSettings
from auflow.study import add_trials, objective_for, open_study, study_of_files
from auflow.workflow import log_to, optional_input, use_malloc_settings

use_malloc_settings(snakemake.wildcards.model)  # first: it may restart the script
log_to(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params.study
fold = int(w.fold)
settings = EvaluationSettings(**p["settings"])
folds = read_table(snakemake.input.folds)
stack = optional_input(snakemake.input.stack)  # a stacked model's features
# the trials see the fold's training frames only: nothing else of the table is read
train, _ = load_model_fold(snakemake.input.dataset, stack, folds, fold, settings.normalise, False)
objective, _ = objective_for(
    train,
    folds,
    fold,
    w.model,
    settings,
    snakemake.threads,
    p["base_params"],
    p["inner_parts"],
)
data = [snakemake.input.dataset, *([stack] if stack else [])]
name = study_of_files(data, snakemake.input.folds, w.model, fold, p)
study = open_study(p["journal"], name)
ran = add_trials(study, objective, p["n_trials"], f"worker{w.worker}", settings.seed, p["timeout"])
logging.getLogger("auflow.study").info("worker %s of study %s: %d trials", w.worker, name, ran)
