# Parse-time helpers: subject and frame discovery, input functions, resources.
# Subjects and their frames are counted when the DAG is built, so adding a subject adds only its
# own extraction and label jobs, and the shard list of every subject is known up front.

import math
import sys
from pathlib import Path

import auflow
from snakemake.exceptions import WorkflowError
from auflow import layout
from auflow.evaluation.splits import LEAKY_SPLITS, n_folds
from auflow.features.descriptors import gabor_extractor
from auflow.io.discovery import discover_dataset, write_frame_manifests
from auflow.io.disfa_txt import label_file
from auflow.io.images import SUBJECT_NAME
from auflow.models import stacks_on
from auflow.models.registry import spec_of
from auflow.settings import EvaluationSettings
from auflow.checks import check_once
from auflow.snakemake_output import failed_jobs_summary


wildcard_constraints:
    subject=SUBJECT_NAME,
    extractor=r"[a-z][a-z0-9_]*",
    classifier=r"[a-z][a-z0-9_]*",
    split=r"[a-z][a-z0-9_]*",
    shard=r"\d+",
    fold=r"\d+",
    worker=r"\d+",


# A failed job's own message (file and fault), printed last, after everything Snakemake says.
onerror:
    if summary := failed_jobs_summary(log):
        print(summary, file=sys.stderr)


VERSION = auflow.__version__
DATASET = config["dataset"]
IMAGES = Path(DATASET["root"]) / DATASET["images"]
LABELS = Path(DATASET["root"]) / DATASET["labels"]
# Images and label files are paired up, and every problem named, before any job runs.
try:
    FRAMES = discover_dataset(
        IMAGES, LABELS, DATASET["label_format"], config["aus"], DATASET["subjects"]
    )
except (OSError, ValueError) as error:
    raise WorkflowError(str(error)) from None
SUBJECTS = list(FRAMES)
SHARD_SIZE = config["features"]["shard_size"]


FEATURES = config["features"]
EXTRACTORS = FEATURES["extractors"]
# The extractor whose responses the features figure shows (None: no Gabor extractor, no figure).
GABOR = gabor_extractor(EXTRACTORS)
EVALUATION = config["evaluation"]
SETTINGS = EvaluationSettings.from_config(config)
BASELINE = config["baseline"]
# Every model a run evaluates: label -> registry classifier, its parameters, the extractors it
# reads and its evaluation settings. The baseline is deliberately plain (HOG, standardised
# logistic regression, no normalisation, no smoothing) and comes first in every table.
MODELS = {}
if BASELINE["enabled"]:
    MODELS["baseline"] = {
        "classifier": "logistic_regression",
        "params": BASELINE["params"],
        "extractors": [BASELINE["extractor"]],
        "settings": SETTINGS.replace(normalise="none", smoothing=(1,)),
        "model_file": spec_of("logistic_regression").model_file,
    }
for classifier_name, section in config["classifiers"].items():
    if section["enabled"]:
        MODELS[classifier_name] = {
            "classifier": classifier_name,
            "params": section["params"],
            "extractors": EXTRACTORS,
            "settings": SETTINGS,
            "model_file": spec_of(classifier_name).model_file,
        }
# Static variants (issue #24): a model normalised by each subject's median cannot score a
# photograph (its one frame minus its own median is zero) nor a short track. Each per-frame model
# so normalised is also run without normalisation, as <model>_static, evaluated and saved like
# every model, so auflow predict can score single frames and the summary says what that is worth.
if config["models"]["static"]:
    for model_name, model in list(MODELS.items()):
        sequence = spec_of(model["classifier"]).sequence
        if model["settings"].normalise != "none" and not sequence:
            MODELS[f"{model_name}_static"] = {
                **model,
                "settings": model["settings"].replace(normalise="none"),
                "static_of": model_name,
            }
for model in MODELS.values():
    model["stacks_on"] = stacks_on(model["classifier"], model["params"])
# Models whose per-frame scores another model stacks on: their jobs write stack tables too.
STACK_BASES = {m["stacks_on"] for m in MODELS.values() if m["stacks_on"]}
for model_name, model in MODELS.items():
    base = model["stacks_on"]
    if base and (
        base not in MODELS or MODELS[base]["extractors"] != model["extractors"]
    ):
        raise WorkflowError(
            f"config, model {model_name!r}: it stacks on {base!r}'s scores (inputs: "
            f"{model['params'].get('inputs', 'scores')}), which this run does not fit on the "
            f"same features: enable classifiers.{base}, or set classifiers.{model_name}."
            "params.inputs: features"
        )
ALL_EXTRACTORS = list(
    dict.fromkeys(e for m in MODELS.values() for e in m["extractors"])
)
CHECKED_EXTRACTORS = list(dict.fromkeys([*EXTRACTORS, *ALL_EXTRACTORS]))


def check_models_and_extractors():
    """Build every model and fit every extractor once, so that a misspelt or out-of-range
    parameter (names, Nyquist) fails before any job starts."""
    from auflow.features.descriptors import make_extractor
    from auflow.models import check_detector

    for model_name, model in MODELS.items():
        try:
            check_detector(model["classifier"], model["params"])
        except ValueError as error:
            raise WorkflowError(f"config, model {model_name!r}: {error}")
    for extractor_name in CHECKED_EXTRACTORS:
        try:
            make_extractor(extractor_name, FEATURES["params"].get(extractor_name)).fit()
        except (TypeError, ValueError) as error:
            raise WorkflowError(
                f"config features, extractor {extractor_name!r}: {error}"
            )


# Building them imports scikit-learn and SciPy, a second of every parse: a configuration that
# passed with the same code and libraries is not built again.
check_once(
    check_models_and_extractors,
    {
        "models": {n: [m["classifier"], m["params"]] for n, m in MODELS.items()},
        "extractors": {n: FEATURES["params"].get(n) for n in CHECKED_EXTRACTORS},
    },
    ".snakemake/auflow/checked",
)
SPLIT = EVALUATION["split"]
# The leakage comparison pairs the configured split with the notebook's random frame split
# (or, if random frames are what is configured, with subject-exclusive group k-fold).
COMPARED_SPLIT = "group_kfold" if SPLIT in LEAKY_SPLITS else "random_frames"
COMPARE = EVALUATION["leakage_comparison"]
STUDY = config["study"]
SAVED = config["models"]
LEARN_THREADS = config["resources"]["learn_threads"]
STUDY_CLASSIFIERS = (
    [f"optuna_{model}" for model in STUDY["models"]] if STUDY["enabled"] else []
)


def shard_ids(subject):
    """Shard ids of a subject: its frames in frame order, cut every features.shard_size."""
    return layout.shard_ids(len(FRAMES[subject]), SHARD_SIZE)


def get_extractor_params(wildcards):
    return FEATURES["params"].get(wildcards.extractor, {})


def get_feature_shards(wildcards):
    return [
        layout.feature_shard(wildcards.extractor, subject, shard)
        for subject in SUBJECTS
        for shard in shard_ids(subject)
    ]


def get_label_sources(wildcards):
    """The label file(s) of a subject, in either supported format."""
    subject = wildcards.subject
    if DATASET["label_format"] == "json":
        return [LABELS / f"{subject}.json"]
    return [label_file(LABELS, subject, au) for au in config["aus"]]


def subject_labels():
    return [layout.labels_table(subject) for subject in SUBJECTS]


def fold_numbers(split):
    return range(n_folds(split, SUBJECTS, EVALUATION["k"]))


def model_extractors(model):
    return MODELS[model]["extractors"] if model in MODELS else EXTRACTORS


def split_outputs(kind, split, models):
    """One file per model x its extractors x fold: ``kind`` is metrics or predictions."""
    return [
        layout.fold_table(kind, split, extractor, model, fold)
        for model in models
        for extractor in model_extractors(model)
        for fold in fold_numbers(split)
    ]


def evaluated(kind):
    """Every fold's metrics or predictions: all models on the configured split, and the models
    (not the studies) on the compared split when the leakage comparison is on."""
    files = split_outputs(kind, SPLIT, [*MODELS, *STUDY_CLASSIFIERS])
    if COMPARE:
        # Not the LSTM: a random frame split leaves it windows of isolated frames, which says
        # nothing about the sequence model the honest split scored.
        compared = [
            model
            for model in MODELS
            if not is_sequence_model(model) and "static_of" not in MODELS[model]
        ]
        files += split_outputs(kind, COMPARED_SPLIT, compared)
    return files


def metrics_files():
    return evaluated("metrics")


def prediction_files():
    return evaluated("predictions")


def final_models():
    """The model folders fitted on every subject (models.save_final)."""
    if not SAVED["save_final"]:
        return []
    return [
        layout.model_file(extractor, model, "manifest.json")
        for model in MODELS
        for extractor in MODELS[model]["extractors"]
    ]


def leakage_outputs():
    return (
        [layout.metrics_file("leakage.md"), layout.metrics_file("leakage.csv")]
        if COMPARE
        else []
    )


def is_leaky(wildcards):
    return wildcards.split in LEAKY_SPLITS


def allow_leaky(wildcards):
    """random_frames is refused unless the user said so, or asked for the comparison."""
    compared = COMPARE and wildcards.split == COMPARED_SPLIT
    return EVALUATION["allow_leaky"] or compared


# What a job reading a few small tables (labels, metrics) declares: a gigabyte, ten minutes.
SMALL_JOB = {"mem_mb": 1000, "runtime": 10}


def mem_mb_for_dataset(wildcards, input, threads):
    """Memory of a job reading the feature table: a gigabyte for the libraries and the work,
    plus twice the size of its inputs, and once more per thread beyond the first (an AU
    fitted in its own thread may copy its training frames). At DISFA size every such job
    measured peaked below 1 GB + 2x its input on one thread (docs/performance.md), where a
    scheduler asked for 6x its input was asked for 2-5x what it used."""
    return int(1000 + (1 + threads) * input.size_mb)


def get_study_params(wildcards):
    """The studied model's config parameters: what its search space leaves unset."""
    return config["classifiers"].get(wildcards.model, {}).get("params", {})


def study_params(wildcards):
    """What a study's worker and gather jobs share: they must agree on all of it."""
    return {
        "journal": layout.study_file(
            wildcards.split,
            wildcards.extractor,
            wildcards.model,
            wildcards.fold,
            "journal.log",
        ),
        "n_trials": STUDY["n_trials_per_model"].get(wildcards.model, STUDY["n_trials"]),
        "inner_parts": STUDY["inner_parts_per_model"].get(wildcards.model),
        "timeout": STUDY["timeout"],
        "base_params": get_study_params(wildcards),
        "settings": SETTINGS.as_dict(),
    }


def study_inputs(**more):
    """What a study's worker and gather jobs read (the gather job: and ``more``)."""
    return {
        "dataset": layout.DATASET,
        "folds": layout.FOLDS,
        "stack": get_study_stack,
        **more,
    }


def study_workers(wildcards):
    """The worker jobs' flags that a study's gather job waits for (none with one worker)."""
    if STUDY["workers"] == 1:
        return []
    return expand(layout.STUDY_WORKER_DONE, worker=range(STUDY["workers"]), **wildcards)


def stack_table(model_name, final=False):
    """The stack table a stacked model reads (:mod:`auflow.models.stacking`): its per-frame
    model's scores of the fold's frames, or of every frame for the final fit; [] otherwise.
    """
    base = MODELS[model_name]["stacks_on"] if model_name in MODELS else None
    if not base:
        return []
    if final:
        return layout.final_stack("{extractor}", base)
    return layout.fold_table("stack", "{split}", "{extractor}", base, "{fold}")


def stack_output(model_name, final=False):
    """The stack table a per-frame model writes when another model stacks on it."""
    if model_name not in STACK_BASES:
        return []
    if final:
        return layout.final_stack("{extractor}", model_name)
    return layout.fold_table("stack", "{split}", "{extractor}", model_name, "{fold}")


def stacked_base_model(model_name, final=False):
    """The saved per-frame model a stacked model's saved model carries (to score features)."""
    base = MODELS[model_name]["stacks_on"]
    if not base:
        return []
    if final:
        return layout.model_file("{extractor}", base, "manifest.json")
    if not SAVED["save_folds"]:
        return []
    return layout.fold_model_dir("{split}", "{extractor}", base, "{fold}")


def get_study_stack(wildcards):
    """The stack table a stacked model's study reads, else nothing."""
    return expand(stack_table(wildcards.model), **wildcards)


def model_spec(model_name):
    """The registry's record of a model of the run (or a studied model's name)."""
    return spec_of(MODELS.get(model_name, {}).get("classifier", model_name))


def is_sequence_model(model_name):
    """Whether a model reads windows of consecutive frames (the LSTM)."""
    return model_spec(model_name).sequence


def mem_mb_for_model(model_name):
    """Memory of a model's jobs: the dataset's, and what its record adds (TensorFlow's)."""
    extra = model_spec(model_name).extra_mb

    def mem_mb(wildcards, input, threads):
        return mem_mb_for_dataset(wildcards, input, threads) + extra

    return mem_mb


def model_resources(model_name):
    """What a model's classify and fit_final jobs declare of memory and time."""
    return {"mem_mb": mem_mb_for_model(model_name), "runtime": runtime_for_dataset}


def model_params(model_name, **more):
    """What a model's classify and fit_final jobs are given (and re-run when it changes): the
    model, its parameters and settings, what its saved manifest records, and ``more``.
    """
    model = MODELS[model_name]
    return {
        "model": model_name,
        "classifier": model["classifier"],
        "classifier_params": model["params"],
        "settings": model["settings"].as_dict(),
        "extractor_params": get_extractor_params,
        "face_size": FEATURES["face_size"],
        **more,
        "version": VERSION,
    }


def mem_mb_for_study(wildcards, input, threads):
    """Memory of a study's jobs: its model's (a wildcard of the study rules)."""
    return mem_mb_for_model(wildcards.model)(wildcards, input, threads)


# Minutes a learning job may run per GB of its inputs (at least LEARN_MINUTES_AT_LEAST): 6x
# the slowest measured at DISFA size on one core (the LSTM's final fit, 6.8 min on the 0.68 GB
# gabor_energy table: 10 min per GB; docs/performance.md), for slower nodes. A study counts one
# such fit per trial and one for its final fit.
LEARN_MINUTES_PER_GB = 60
LEARN_MINUTES_AT_LEAST = 30


def _learn_minutes(fits, input):
    return max(
        LEARN_MINUTES_AT_LEAST,
        math.ceil(LEARN_MINUTES_PER_GB * fits * input.size_mb / 1000),
    )


def runtime_for_dataset(wildcards, input, threads):
    """Time limit (minutes) of a job fitting a model on the feature table once."""
    return _learn_minutes(1, input)


def runtime_for_study(wildcards, input, threads):
    """Time limit (minutes) of a study's jobs: a fit per trial, and the final fit."""
    return _learn_minutes(study_params(wildcards)["n_trials"] + 1, input)


# What a study's worker and gather jobs declare of memory and time: its model's.
STUDY_RESOURCES = {"mem_mb": mem_mb_for_study, "runtime": runtime_for_study}


def study_file(name):
    """The pattern of a file of a fold's study (``trials.parquet``, ``best.json``, ...)."""
    return layout.study_file("{split}", "{extractor}", "{model}", "{fold}", name)


def study_trials():
    """The trials table of every fold's study on the configured split (none without a study)."""
    if not STUDY["enabled"]:
        return []
    return [
        layout.study_file(SPLIT, extractor, model, fold, "trials.parquet")
        for extractor in EXTRACTORS
        for model in STUDY["models"]
        for fold in fold_numbers(SPLIT)
    ]


def report_targets():
    """The tables and figures a reader reads (the report's items), for rule all."""
    plots = [
        "f1_per_au",
        "f1_heatmap",
        "f1_vs_base_rate",
        "pr_curves",
        "cooccurrence",
        "face_examples",
        "au_time_series",
        "data_overview",
    ]
    plots += ["optuna_history"] if STUDY["enabled"] else []
    plots += ["gabor_responses"] if GABOR else []
    return [
        layout.PROVENANCE,
        layout.metrics_file("summary.html"),
        layout.metrics_file("averages.csv"),
        layout.metrics_file("best_per_au.csv"),
        *(layout.plot(name) for name in plots),
    ]


# --- Cross datasets (config cross_datasets; the rules are in rules/cross.smk) -------------------
# Each cross dataset is paired with its label files as the main dataset is, before any job.

import re

from auflow.cross import duplicate_names

CROSS_DATASETS = config["cross_datasets"]
if duplicated := duplicate_names(CROSS_DATASETS):
    raise WorkflowError(
        f"config cross_datasets: name(s) {', '.join(duplicated)} given more than once; "
        "each cross dataset needs a name of its own"
    )
CROSS = {dataset["name"]: dataset for dataset in CROSS_DATASETS}
CROSS_FRAMES = {}
for cross_name, cross_dataset in CROSS.items():
    # every problem of a cross dataset named before any job runs, as for the main dataset
    try:
        CROSS_FRAMES[cross_name] = discover_dataset(
            Path(cross_dataset["root"]) / cross_dataset["images"],
            Path(cross_dataset["root"]) / cross_dataset["labels"],
            cross_dataset["label_format"],
            config["aus"],
            cross_dataset["subjects"],
        )
    except (OSError, ValueError) as error:
        raise WorkflowError(f"config cross_datasets, {cross_name!r}: {error}") from None


def _alternatives(names, otherwise):
    """A wildcard constraint matching exactly ``names`` (``otherwise`` when there are none)."""
    return "|".join(re.escape(name) for name in names) if names else otherwise


CROSS_NAME = _alternatives(CROSS, SUBJECT_NAME)
CROSS_MODEL = _alternatives(MODELS, r"[a-z][a-z0-9_]*")


def cross_shard_ids(cross, subject):
    return layout.shard_ids(len(CROSS_FRAMES[cross][subject]), SHARD_SIZE)


def get_cross_feature_shards(wildcards):
    """Every feature shard of a cross dataset for the model's extractor."""
    return [
        layout.feature_shard(wildcards.extractor, subject, shard, wildcards.cross)
        for subject in CROSS_FRAMES[wildcards.cross]
        for shard in cross_shard_ids(wildcards.cross, subject)
    ]


def get_cross_subject_labels(wildcards):
    return [
        layout.labels_table(subject, wildcards.cross)
        for subject in CROSS_FRAMES[wildcards.cross]
    ]


def cross_labels_dir(wildcards):
    return Path(CROSS[wildcards.cross]["root"]) / CROSS[wildcards.cross]["labels"]


def cross_labels_folder(wildcards):
    return str(cross_labels_dir(wildcards))


def get_cross_label_sources(wildcards):
    """The label file(s) of a cross subject, in either supported format."""
    if CROSS[wildcards.cross]["label_format"] == "json":
        return [cross_labels_dir(wildcards) / f"{wildcards.subject}.json"]
    return [
        label_file(cross_labels_dir(wildcards), wildcards.subject, au)
        for au in config["aus"]
    ]


def cross_setting(key):
    """A cross dataset's config value ``key``, as a param function of its wildcards."""

    def setting(wildcards):
        return CROSS[wildcards.cross][key]

    return setting


def mem_mb_for_cross(wildcards, input, threads):
    """Memory of a cross prediction: the model's jobs', on the cross dataset's features."""
    return mem_mb_for_model(wildcards.model)(wildcards, input, threads)


def cross_outputs(kind):
    """One file per cross dataset x model x its extractors: ``kind`` is metrics or predictions
    (none without cross datasets)."""
    return [
        layout.cross_table(kind, cross, extractor, model)
        for cross in CROSS
        for model in MODELS
        for extractor in MODELS[model]["extractors"]
    ]


def cross_metrics_files():
    return cross_outputs("metrics")


def cross_label_files():
    """Every cross subject's labels table, for the run's provenance."""
    return [
        layout.labels_table(subject, cross)
        for cross, subjects in CROSS_FRAMES.items()
        for subject in subjects
    ]


# The frame manifests every extraction and labels job takes as input (a small file, not hundreds
# of image paths, which Snakemake would print whole when a job fails): written here, once the
# config and every dataset have been checked (Snakemake caches folder listings once it builds the
# DAG), and only when their content changed (frames, paths, image sizes and modification times),
# so their modification time moves exactly when a subject's or a shard's images do.
try:
    write_frame_manifests(FRAMES, SHARD_SIZE)
    for cross_name, cross_frames in CROSS_FRAMES.items():
        write_frame_manifests(cross_frames, SHARD_SIZE, cross_name)
except (OSError, ValueError) as error:
    raise WorkflowError(
        f"writing the frame manifests under results/frames: {error}"
    ) from None
