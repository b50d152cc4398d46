"""Rules fit_final_<name>: the model fitted on every subject, saved for auflow predict."""

from auflow.models import make_detector
from auflow.models.train import fit_detector, load_dataset
from auflow.settings import EvaluationSettings
from auflow.workflow import log_to, save_detector, use_malloc_settings

use_malloc_settings(snakemake.params.classifier)  # first: it may restart the script
log_to(snakemake.log[0])
p = snakemake.params
settings = EvaluationSettings(**p.settings)
dataset = load_dataset(snakemake.input.dataset, settings.normalise)
detector = make_detector(p.classifier, p.classifier_params, settings, snakemake.threads)
fit_detector(detector, dataset)
save_detector(detector, snakemake, dataset, p.model, snakemake.output.manifest)
