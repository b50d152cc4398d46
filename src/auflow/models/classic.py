"""The classic models: one scikit-learn / imbalanced-learn pipeline per AU, by name.

The builders of their estimators are here; what each model is (seeded, resampled, standardising
itself, ...) is its record in :mod:`auflow.models.registry`. Scaling and resampling live inside
the pipeline, so they are fitted on the training subjects of a fold only.
:class:`auflow.models.detector.AUDetector` holds one such pipeline per AU.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def sklearn(path: str):
    """A builder of the scikit-learn class ``path`` (``"svm.LinearSVC"``), imported when called.

    The workflow reads this registry while it parses, and importing scikit-learn takes a second
    that a dry run would otherwise pay every time.
    """
    module, name = path.rsplit(".", 1)

    def build(**params):
        return getattr(importlib.import_module(f"sklearn.{module}"), name)(**params)

    return build


def linear_svm(**params):
    """LinearSVC's model (squared hinge, L2) on standardised features, solved for every AU at
    once; it standardises the features itself (``standardises_itself`` in its record)."""
    from auflow.models.linear_svm import LinearSVM

    return LinearSVM(**{"standardise": True, **params})


def logistic(**params):
    """LogisticRegression's model (L2 penalty, unpenalised intercept) on standardised features,
    solved for every AU at once; it standardises the features itself (``standardises_itself`` in
    its record)."""
    from auflow.models.logistic import Logistic

    return Logistic(**{"standardise": True, **params})


def nearest_neighbours(**params):
    """k nearest neighbours searched by float32 matrix products (scikit-learn's model) among
    standardised features; it standardises them itself (``standardises_itself`` in its record)."""
    from auflow.models.neighbours import NearestNeighbours

    return NearestNeighbours(**{"standardise": True, **params})


def gaussian_naive_bayes(**params):
    """GaussianNB's model, every AU's class statistics from one pass over the frames."""
    from auflow.models.naive_bayes import GaussianNaiveBayes

    return GaussianNaiveBayes(**params)


def adaboost_rf(random_state=None, n_estimators=10, rf_estimators=20, **rf_params):
    from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier

    forest = RandomForestClassifier(
        n_estimators=rf_estimators, random_state=random_state, **rf_params
    )
    return AdaBoostClassifier(forest, n_estimators=n_estimators, random_state=random_state)


def svc_linear(**params):
    """The seed's exact SVM: kernel SVC with a linear kernel (slow beyond ~20k frames)."""
    from sklearn.svm import SVC

    return SVC(kernel="linear", **params)


def adaboost_bagging(random_state=None, n_estimators=10, bagging_estimators=20):
    from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier

    bagging = BaggingClassifier(n_estimators=bagging_estimators, random_state=random_state)
    return AdaBoostClassifier(bagging, n_estimators=n_estimators, random_state=random_state)


def make_classifier(name: str, params: dict | None = None, random_state: int = 0) -> Pipeline:
    """The pipeline registered as ``name``: scaling (by the model itself where it can, see
    ``standardises_itself`` in its record), SMOTE where the name says so, the model.

    ``params`` are the model's keyword arguments (the classifier's config section).
    """
    from auflow.models.records import spec_of

    spec = spec_of(name)
    if spec.estimator is None:
        raise ValueError(f"{name!r} is not a per-AU classifier (it is a detector of its own)")
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    params = dict(params or {})
    if spec.seeded:
        params.setdefault("random_state", random_state)
    builder = spec.estimator
    steps = [] if spec.standardises_itself else [("scale", StandardScaler())]
    if not spec.resampled:
        return Pipeline([*steps, ("model", builder(**params))])
    # imbalanced-learn's pipeline resamples while fitting only; imported here, as it takes half
    # a second that every other classifier job would pay
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline as ResamplingPipeline

    steps.append(("smote", SMOTE(random_state=random_state)))
    return ResamplingPipeline([*steps, ("model", builder(**params))])


def check_classifier(name: str, params: dict | None = None) -> None:
    """Build the pipeline once, so an unknown name or a misspelt parameter fails before any job
    starts (ValueError naming the classifier and the parameter)."""
    try:
        make_classifier(name, params)
    except TypeError as error:
        raise ValueError(f"classifier {name!r}: {error}") from None
