"""The built-in models' records: one per model, what it is, for every caller that treats models
differently (the records' type and table are :mod:`auflow.models.records`).

The rules (memory, which stack table a job reads, which file a final fit writes),
:func:`auflow.models.make_detector`, the studies (search spaces), saving and loading (file
format, trusted types), and the jobs' process settings (malloc) all ask :data:`MODELS`; none of
them names a model to decide how to treat it. The config schema's model lists are filled from
it when the config is validated, and tests/test_registries.py checks that the lists written in
the schema file equal its built-in models.

A model from outside the package registers itself: name a module in the environment variable
``AUFLOW_MODELS`` (comma-separated, importable from ``PYTHONPATH``) that calls :func:`register`
when imported. Every process of a run (Snakemake and its jobs) inherits the variable, so the
model is scheduled, studied, saved and loaded like the built-in ones.

Nothing here imports scikit-learn or TensorFlow: the workflow reads the registry while it
parses.
"""

from __future__ import annotations

import importlib
import os

from auflow.models import classic

# the records' table, read here and by the callers that import it from the registry
from auflow.models.records import (  # noqa: F401
    DETECTOR_TYPES,
    KERAS_FILE,
    MODELS,
    SKOPS_FILE,
    ModelSpec,
    register,
    spec_of,
    studied,
    trusted_types,
)
from auflow.models.stacking import DEFAULT_BASE, DEFAULT_INPUTS

PLUGINS_VARIABLE = "AUFLOW_MODELS"
TREE_TYPES = ("sklearn.tree._tree.Tree",)

# -- search spaces ----------------------------------------------------------------------------


def _svm_linear_space(trial, base: dict) -> dict:
    return {"C": trial.suggest_float("C", 1e-3, 10.0, log=True), "class_weight": "balanced"}


def _random_forest_space(trial, base: dict) -> dict:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 20, 200, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 16),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 50, log=True),
        "max_features": trial.suggest_categorical("max_features", ["sqrt", "log2"]),
        "class_weight": "balanced_subsample",
    }


def _decision_tree_space(trial, base: dict) -> dict:
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 16),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 100, log=True),
        "class_weight": "balanced",
    }


def _knn_space(trial, base: dict) -> dict:
    return {
        "n_neighbors": trial.suggest_int("n_neighbors", 1, 50, log=True),
        "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
    }


def _lstm_space(trial, base: dict) -> dict:
    """The seed notebook tuned units and dropout; for the stacked network the window, the
    learning rate and its inputs (the per-frame scores alone, or with a projection of the
    features) matter as much. A network of the features (``base``: the config's params) keeps
    them."""
    inputs = {}
    if _lstm_base(base) is not None:
        inputs["inputs"] = trial.suggest_categorical("inputs", ["scores", "scores+projection"])
    return {
        **inputs,
        "units": trial.suggest_int("units", 8, 32, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-2, log=True),
        "window": trial.suggest_int("window", 8, 32, log=True),
    }


# -- the LSTM ---------------------------------------------------------------------------------


def _lstm_detector() -> type:
    from auflow.models.sequence import LSTMDetector

    return LSTMDetector


def _lstm_base(params: dict) -> str | None:
    if params.get("inputs", DEFAULT_INPUTS) == "features":
        return None
    return params.get("base", DEFAULT_BASE)


# glibc's malloc settings for a job fitting the LSTM: each heap keeps 64 MB free at its top, and
# the threads share two heaps. Left to itself, glibc gave the top of TensorFlow's heaps back to the
# system after each training step and took page faults to get it back at the next: a third of
# an LSTM fit's CPU time (docs/performance.md, "Page faults"). glibc reads these settings only
# when a process starts, and they slowed the classic models a little (more arrays mapped one by
# one), so only the LSTM's jobs start with them.
LSTM_MALLOC = {"MALLOC_TOP_PAD_": str(64 << 20), "MALLOC_ARENA_MAX": "2"}
# TensorFlow and the network's work take about half a gigabyte more than the classic learners.
TENSORFLOW_MB = 500

_FOREST = TREE_TYPES
_NEIGHBOURS = (
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
)
_SMOTE = ("imblearn.pipeline.Pipeline", "imblearn.over_sampling._smote.base.SMOTE")
# the solvers of our own (auflow.models.<module>): they standardise the features themselves and
# read an inner split's rows in place, and fit every AU at once
_OWN = {"standardises_itself": True, "reads_rows": True, "multi_output": True}

_BUILT_IN = (
    ModelSpec(
        "logistic_regression",
        classic.logistic,
        trusted_types=("auflow.models.logistic.Logistic",),
        **_OWN,
    ),
    # the same model by scikit-learn's lbfgs, one AU at a time
    ModelSpec(
        "logistic_regression_sklearn",
        classic.sklearn("linear_model.LogisticRegression"),
        seeded=True,
    ),
    ModelSpec(
        "svm_linear",
        classic.linear_svm,
        search_space=_svm_linear_space,
        trusted_types=("auflow.models.linear_svm.LinearSVM",),
        **_OWN,
    ),
    # the same model by liblinear, one AU at a time
    ModelSpec("svm_linear_liblinear", classic.sklearn("svm.LinearSVC"), seeded=True),
    ModelSpec("svm_linear_seed", classic.svc_linear, seeded=True),
    ModelSpec(
        "random_forest",
        classic.sklearn("ensemble.RandomForestClassifier"),
        seeded=True,
        search_space=_random_forest_space,
        trusted_types=_FOREST,
    ),
    ModelSpec(
        "decision_tree",
        classic.sklearn("tree.DecisionTreeClassifier"),
        seeded=True,
        search_space=_decision_tree_space,
        trusted_types=_FOREST,
    ),
    ModelSpec(
        "naive_bayes",
        classic.gaussian_naive_bayes,
        multi_output=True,
        trusted_types=("auflow.models.naive_bayes.GaussianNaiveBayes",),
    ),
    # the same model by scikit-learn, one AU at a time
    ModelSpec("naive_bayes_sklearn", classic.sklearn("naive_bayes.GaussianNB")),
    ModelSpec(
        "knn",
        classic.nearest_neighbours,
        search_space=_knn_space,
        trusted_types=("auflow.models.neighbours.NearestNeighbours",),
        **_OWN,
    ),
    # the same model by scikit-learn's search (float64 distances, several times slower)
    ModelSpec(
        "knn_sklearn",
        classic.sklearn("neighbors.KNeighborsClassifier"),
        multi_output=True,
        trusted_types=_NEIGHBOURS,
    ),
    ModelSpec(
        "adaboost",
        classic.sklearn("ensemble.AdaBoostClassifier"),
        seeded=True,
        trusted_types=_FOREST,
    ),
    ModelSpec("adaboost_rf", classic.adaboost_rf, seeded=True, trusted_types=_FOREST),
    ModelSpec("adaboost_bagging", classic.adaboost_bagging, seeded=True, trusted_types=_FOREST),
    ModelSpec(
        "smote_adaboost",
        classic.sklearn("ensemble.AdaBoostClassifier"),
        seeded=True,
        resampled=True,
        trusted_types=(*_FOREST, *_SMOTE),
    ),
    ModelSpec(
        "lstm",
        detector=_lstm_detector,
        sequence=True,
        search_space=_lstm_space,
        model_file=KERAS_FILE,
        environment=LSTM_MALLOC,
        extra_mb=TENSORFLOW_MB,
        stacks_on=_lstm_base,
    ),
)
BUILT_IN = tuple(spec.name for spec in _BUILT_IN)
for built_in in _BUILT_IN:
    register(built_in)


def config_schema(path, workdir=".snakemake/auflow"):
    """The config schema to validate against: the file at ``path`` when only the built-in
    models are registered (its lists are theirs, tests/test_registries.py), else a copy with
    its model lists (classifier names, studied models) set to the registry's, written under
    ``workdir``; returns its absolute path (Snakemake validates against a file)."""
    if tuple(MODELS) == BUILT_IN:
        return str(path)
    import hashlib
    from pathlib import Path

    import yaml

    schema = yaml.safe_load(Path(path).read_text())
    properties = schema["properties"]
    properties["classifiers"]["propertyNames"]["enum"] = list(MODELS)
    study = properties["study"]["properties"]
    study["models"]["items"]["enum"] = studied()
    for key in ("n_trials_per_model", "inner_parts_per_model"):
        study[key]["propertyNames"]["enum"] = studied()
    text = yaml.safe_dump(schema, sort_keys=False)
    out = Path(workdir) / f"config.schema.{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return str(out.resolve())


def _load_plugins() -> None:
    for module in filter(None, os.environ.get(PLUGINS_VARIABLE, "").split(",")):
        importlib.import_module(module.strip())


_load_plugins()
