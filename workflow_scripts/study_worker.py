"""Rule study_worker: one of study.workers jobs adding trials to a study's shared journal
(auflow.pipeline.add_study_trials)."""

from auflow.pipeline import add_study_trials
from auflow.workflow import log_to, optional_input, use_malloc_settings

use_malloc_settings(snakemake.wildcards.model)  # first: it may restart the script
log_to(snakemake.log[0])
w = snakemake.wildcards
add_study_trials(
    w.model,
    snakemake.params.study,
    int(w.fold),
    f"worker{w.worker}",
    dataset=snakemake.input.dataset,
    folds=snakemake.input.folds,
    stack=optional_input(snakemake.input.stack),  # a stacked model's features
    n_jobs=snakemake.threads,
)
