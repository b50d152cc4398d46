"""Rules classify_<name>: a model fitted on a fold's training subjects, predicting and scoring
its test subjects (auflow.pipeline.classify_fold)."""

from auflow.pipeline import FoldIds, Model, Saving, Stacking, classify_fold
from auflow.settings import EvaluationSettings
from auflow.workflow import log_to, optional_input, use_malloc_settings

use_malloc_settings(snakemake.params.classifier)  # first: it may restart the script
log_to(snakemake.log[0])
w, p, i, out = snakemake.wildcards, snakemake.params, snakemake.input, snakemake.output
classify_fold(
    Model(p.model, p.classifier, p.classifier_params, EvaluationSettings(**p.settings)),
    FoldIds(w.extractor, p.model, w.split, p.leaky, int(w.fold)),
    dataset=i.dataset,
    folds=i.folds,
    predictions=out.predictions,
    metrics=out.metrics,
    stacking=Stacking(*map(optional_input, (i.stack, out.stack, i.base_model))),
    fold_model=optional_input(out.fold_model),
    saving=Saving.of_job(w.extractor, p, snakemake.config),
    n_jobs=snakemake.threads,
)
