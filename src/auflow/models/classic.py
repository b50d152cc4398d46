"""The classifier registry: one scikit-learn / imbalanced-learn pipeline per AU, by name.

Scaling and resampling live inside the pipeline, so they are fitted on the training subjects of
a fold only. :class:`auflow.models.detector.AUDetector` holds one such pipeline per AU.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def _sklearn(path: str):
    """A builder of the scikit-learn class ``path`` (``"svm.LinearSVC"``), imported when called.

    The workflow reads this registry while it parses, and importing scikit-learn takes a second
    that a dry run would otherwise pay every time.
    """
    module, name = path.rsplit(".", 1)

    def build(**params):
        return getattr(importlib.import_module(f"sklearn.{module}"), name)(**params)

    return build


def _linear_svm(**params):
    """LinearSVC's model (squared hinge, L2) on standardised features, solved for every AU at
    once; it standardises the features itself (see :data:`STANDARDISES_ITSELF`)."""
    from auflow.models.linear_svm import LinearSVM

    return LinearSVM(**{"standardise": True, **params})


def _logistic(**params):
    """LogisticRegression's model (L2 penalty, unpenalised intercept) on standardised features,
    solved for every AU at once; it standardises the features itself (see
    :data:`STANDARDISES_ITSELF`)."""
    from auflow.models.logistic import Logistic

    return Logistic(**{"standardise": True, **params})


def _nearest_neighbours(**params):
    """k nearest neighbours searched by float32 matrix products (scikit-learn's model) among
    standardised features; it standardises them itself (see :data:`STANDARDISES_ITSELF`)."""
    from auflow.models.neighbours import NearestNeighbours

    return NearestNeighbours(**{"standardise": True, **params})


def _gaussian_naive_bayes(**params):
    """GaussianNB's model, every AU's class statistics from one pass over the frames."""
    from auflow.models.naive_bayes import GaussianNaiveBayes

    return GaussianNaiveBayes(**params)


def _adaboost_rf(random_state=None, n_estimators=10, rf_estimators=20, **rf_params):
    from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier

    forest = RandomForestClassifier(
        n_estimators=rf_estimators, random_state=random_state, **rf_params
    )
    return AdaBoostClassifier(forest, n_estimators=n_estimators, random_state=random_state)


def _svc_linear(**params):
    """The seed's exact SVM: kernel SVC with a linear kernel (slow beyond ~20k frames)."""
    from sklearn.svm import SVC

    return SVC(kernel="linear", **params)


def _adaboost_bagging(random_state=None, n_estimators=10, bagging_estimators=20):
    from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier

    bagging = BaggingClassifier(n_estimators=bagging_estimators, random_state=random_state)
    return AdaBoostClassifier(bagging, n_estimators=n_estimators, random_state=random_state)


# name -> (builder taking the config params, whether it takes random_state)
CLASSIFIERS = {
    "logistic_regression": (_logistic, False),  # auflow.models.logistic
    # the same model by scikit-learn's lbfgs, one AU at a time
    "logistic_regression_sklearn": (_sklearn("linear_model.LogisticRegression"), True),
    "svm_linear": (_linear_svm, False),  # auflow.models.linear_svm
    # the same model by liblinear, one AU at a time
    "svm_linear_liblinear": (_sklearn("svm.LinearSVC"), True),
    "svm_linear_seed": (_svc_linear, True),
    "random_forest": (_sklearn("ensemble.RandomForestClassifier"), True),
    "decision_tree": (_sklearn("tree.DecisionTreeClassifier"), True),
    "naive_bayes": (_gaussian_naive_bayes, False),  # auflow.models.naive_bayes
    # the same model by scikit-learn, one AU at a time
    "naive_bayes_sklearn": (_sklearn("naive_bayes.GaussianNB"), False),
    "knn": (_nearest_neighbours, False),  # auflow.models.neighbours
    # the same model by scikit-learn's search (float64 distances, several times slower)
    "knn_sklearn": (_sklearn("neighbors.KNeighborsClassifier"), False),
    "adaboost": (_sklearn("ensemble.AdaBoostClassifier"), True),
    "adaboost_rf": (_adaboost_rf, True),
    "adaboost_bagging": (_adaboost_bagging, True),
    "smote_adaboost": (_sklearn("ensemble.AdaBoostClassifier"), True),
}
RESAMPLED = {"smote_adaboost"}
# Models that standardise the features inside their own fit, as StandardScaler would, without
# its scaled copy of the features (0.6 GB for a DISFA-sized fold of HOG features).
STANDARDISES_ITSELF = {"logistic_regression", "svm_linear", "knn"}
# Models whose fit reads a subset of the rows of the features in place (``fit(X, y, rows=...)``),
# so that an inner split's training frames are not copied out of the fold's (0.6 GB for a final
# fit on DISFA's HOG table). Their pipelines are the model alone (no scaler, no resampling).
READS_ROWS = {"logistic_regression", "svm_linear", "knn"}


def make_classifier(name: str, params: dict | None = None, random_state: int = 0) -> Pipeline:
    """The pipeline registered as ``name``: scaling (by the model itself where it can, see
    :data:`STANDARDISES_ITSELF`), SMOTE where the name says so, the model.

    ``params`` are the model's keyword arguments (the classifier's config section).
    """
    try:
        builder, seeded = CLASSIFIERS[name]
    except KeyError:
        raise ValueError(
            f"unknown classifier {name!r}; known: {', '.join(sorted(CLASSIFIERS))}"
        ) from None
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    params = dict(params or {})
    if seeded:
        params.setdefault("random_state", random_state)
    steps = [] if name in STANDARDISES_ITSELF else [("scale", StandardScaler())]
    if name not in RESAMPLED:
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
