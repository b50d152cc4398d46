"""Classic per-AU detectors: one scikit-learn / imbalanced-learn pipeline per AU.

Scaling and resampling live inside the pipeline, so they are fitted on the training subjects of
a fold only.
"""

from __future__ import annotations

import logging

import numpy as np
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier, RandomForestClassifier
from sklearn.model_selection import TunedThresholdClassifierCV
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier


def _adaboost_rf(random_state=None, n_estimators=10, rf_estimators=20, **rf_params):
    forest = RandomForestClassifier(
        n_estimators=rf_estimators, random_state=random_state, **rf_params
    )
    return AdaBoostClassifier(forest, n_estimators=n_estimators, random_state=random_state)


def _svc_linear(**params):
    """The seed's exact SVM: kernel SVC with a linear kernel (slow beyond ~20k frames)."""
    return SVC(kernel="linear", **params)


def _adaboost_bagging(random_state=None, n_estimators=10, bagging_estimators=20):
    bagging = BaggingClassifier(n_estimators=bagging_estimators, random_state=random_state)
    return AdaBoostClassifier(bagging, n_estimators=n_estimators, random_state=random_state)


log = logging.getLogger(__name__)

# name -> (builder taking the config params, whether it takes random_state, needs SMOTE)
CLASSIFIERS = {
    "svm_linear": (LinearSVC, True),
    "svm_linear_seed": (_svc_linear, True),
    "random_forest": (RandomForestClassifier, True),
    "decision_tree": (DecisionTreeClassifier, True),
    "naive_bayes": (GaussianNB, False),
    "knn": (KNeighborsClassifier, False),
    "adaboost": (AdaBoostClassifier, True),
    "adaboost_rf": (_adaboost_rf, True),
    "adaboost_bagging": (_adaboost_bagging, True),
    "smote_adaboost": (AdaBoostClassifier, True),
}
RESAMPLED = {"smote_adaboost"}


def make_classifier(name: str, params: dict | None = None, random_state: int = 0) -> Pipeline:
    """The pipeline registered as ``name``: scaling, SMOTE where the name says so, the model.

    ``params`` are the model's keyword arguments (the classifier's config section).
    """
    try:
        builder, seeded = CLASSIFIERS[name]
    except KeyError:
        raise ValueError(
            f"unknown classifier {name!r}; known: {', '.join(sorted(CLASSIFIERS))}"
        ) from None
    params = dict(params or {})
    if seeded:
        params.setdefault("random_state", random_state)
    steps = [("scale", StandardScaler())]
    if name in RESAMPLED:
        steps.append(("smote", SMOTE(random_state=random_state)))
    steps.append(("model", builder(**params)))
    return Pipeline(steps)


def _fit(model: Pipeline, features: np.ndarray, labels: np.ndarray, inner_splits) -> Pipeline:
    """Fit ``model``, with its decision threshold tuned for F1 on ``inner_splits`` when given.

    A model that scores every inner validation frame alike (a pure tree leaf, neighbours that
    are all negative) leaves no threshold to choose: it then keeps its own.
    """
    if inner_splits is not None:
        tuned = TunedThresholdClassifierCV(model, scoring="f1", cv=inner_splits)
        try:
            return tuned.fit(features, labels)
        except ValueError as error:
            if "constant predictions" not in str(error):
                raise
            log.info("threshold not tuned: %s", error)
    return model.fit(features, labels)


def _learnable(labels: np.ndarray, splits) -> bool:
    """Whether every inner split has both classes to train on and positives to validate on."""
    return all(
        len(np.unique(labels[train])) == 2 and labels[validation].any()
        for train, validation in splits
    )


def _fit_smote_to(model: Pipeline, labels: np.ndarray, splits) -> None:
    """SMOTE interpolates between a minority frame and its neighbours: ask for no more
    neighbours than the smallest training set it will see has minority frames to offer."""
    trainings = [labels] if splits is None else [labels[train] for train, _ in splits]
    minority = min(np.bincount(part).min() for part in trainings)
    neighbours = min(model.named_steps["smote"].k_neighbors, max(minority - 1, 1))
    model.set_params(smote__k_neighbors=neighbours)


def decision_scores(model, features: np.ndarray) -> np.ndarray:
    """A real-valued score per frame, larger = more likely positive: P(positive) where the model
    gives probabilities, else its decision function."""
    if hasattr(model, "predict_proba"):
        try:
            probabilities = model.predict_proba(features)
            return probabilities[:, list(model.classes_).index(1)]
        except AttributeError:  # e.g. SVC without probability=True exposes the name only
            pass
    return np.asarray(model.decision_function(features), dtype=float)


def fit_predict_au(
    pipeline: Pipeline,
    train_features: np.ndarray,
    train_target: np.ndarray,
    test_features: np.ndarray,
    target: str = "occurrence",
    threshold: int = 2,
    inner_splits: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """Fit a clone of ``pipeline`` for one AU on the training frames and predict the test frames.

    Parameters
    ----------
    train_target : (n_train,) int intensities 0-5.
    target : ``"occurrence"`` fits a binary detector of intensity >= ``threshold`` (the field's
        protocol); ``"intensity"`` fits the classes 0-5 as the seed notebook did and derives
        occurrence from the predicted class.
    inner_splits : (train, validation) index pairs over the training frames, grouped by subject.
        When given (occurrence only), the decision threshold is tuned for F1 on these inner
        validation subjects (``TunedThresholdClassifierCV``), never on the test frames.

    Returns
    -------
    ``{"c": (n_test,) int8 occurrence, "p": (n_test,) float score}``, plus ``"r"``, the
    predicted intensity, when ``target`` is ``"intensity"``.
    """
    labels = (train_target >= threshold).astype(np.int8) if target == "occurrence" else train_target
    classes = np.unique(labels)
    if len(classes) == 1:
        # Nothing to learn from one class: predict it; the metrics say why the scores are flat.
        constant = np.full(len(test_features), classes[0])
        result = {"c": (constant >= (1 if target == "occurrence" else threshold)).astype(np.int8)}
        result["p"] = result["c"].astype(float)
        if target == "intensity":
            result["r"] = constant.astype(float)
        return result
    model = clone(pipeline)
    tune = target == "occurrence" and inner_splits and _learnable(labels, inner_splits)
    if "smote" in model.named_steps:
        _fit_smote_to(model, labels, inner_splits if tune else None)
    model = _fit(model, train_features, labels, inner_splits if tune else None)
    predicted = model.predict(test_features)
    if target == "occurrence":
        return {"c": predicted.astype(np.int8), "p": decision_scores(model, test_features)}
    result = {"c": (predicted >= threshold).astype(np.int8), "r": predicted.astype(float)}
    if hasattr(model, "predict_proba"):
        probabilities = model.predict_proba(test_features)
        result["p"] = probabilities[:, model.classes_ >= threshold].sum(axis=1)
    else:
        result["p"] = predicted.astype(float)
    return result
