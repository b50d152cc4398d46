"""Rule study: an Optuna study on a fold's training subjects, its figures, then its best
parameters fitted, predicting and scoring the test fold (auflow.pipeline.study_fold)."""

from auflow.pipeline import FoldIds, study_fold
from auflow.workflow import log_to, optional_input, use_malloc_settings

use_malloc_settings(snakemake.wildcards.model)  # first: it may restart the script
log_to(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
study_fold(
    w.model,
    p.study,
    FoldIds(w.extractor, f"optuna_{w.model}", w.split, p.leaky, int(w.fold)),
    dataset=snakemake.input.dataset,
    folds=snakemake.input.folds,
    outputs=snakemake.output,
    stack=optional_input(snakemake.input.stack),  # a stacked model's features
    n_jobs=snakemake.threads,
)
