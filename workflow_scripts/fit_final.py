"""Rules fit_final_<name>: the model fitted on every subject, saved for auflow predict
(auflow.pipeline.fit_final)."""

from auflow.pipeline import Model, Saving, Stacking, fit_final
from auflow.settings import EvaluationSettings
from auflow.workflow import log_to, optional_input, use_malloc_settings

use_malloc_settings(snakemake.params.classifier)  # first: it may restart the script
log_to(snakemake.log[0])
w, p, i, out = snakemake.wildcards, snakemake.params, snakemake.input, snakemake.output
fit_final(
    Model(p.model, p.classifier, p.classifier_params, EvaluationSettings(**p.settings)),
    dataset=i.dataset,
    manifest=out.manifest,
    saving=Saving.of_job(w.extractor, p, snakemake.config),
    stacking=Stacking(*map(optional_input, (i.stack, out.stack, i.base_model))),
    n_jobs=snakemake.threads,
)
