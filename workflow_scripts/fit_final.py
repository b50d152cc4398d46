"""Rules fit_final_<name>: the model fitted on every subject, saved for auflow predict."""

from auflow.io.parquet import write_table
from auflow.models import make_detector
from auflow.models.stacking import fit_stacked, read_stacked, stack_metadata, stacked_fit
from auflow.models.train import fit_detector, load_dataset
from auflow.settings import EvaluationSettings
from auflow.workflow import (
    log_to,
    optional_input,
    save_detector,
    stack_for_saving,
    use_malloc_settings,
)

use_malloc_settings(snakemake.params.classifier)  # first: it may restart the script
log_to(snakemake.log[0])
p, i = snakemake.params, snakemake.input
settings = EvaluationSettings(**p.settings)
stack = optional_input(i.stack)  # a stacked model's features
if stack:  # the per-frame detector's scores are its features
    dataset = read_stacked(stack, i.dataset)
else:
    dataset = load_dataset(i.dataset, settings.normalise)
detector = make_detector(p.classifier, p.classifier_params, settings, snakemake.threads)
if snakemake.output.stack:  # the per-frame detector a stacked model takes its inputs from
    stacked, made = fit_stacked(detector, dataset, None, settings.seed)
    write_table(stacked, snakemake.output.stack, stack_metadata(made, detector))
else:
    fit_detector(detector, dataset, **stacked_fit(detector, stack))
features = stack_for_saving(detector, stack, optional_input(i.base_model))
save_detector(detector, snakemake, dataset, p.model, snakemake.output.manifest, features)
