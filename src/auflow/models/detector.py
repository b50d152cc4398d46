"""The model boundary: one detector object for all AUs of one model.

:class:`AUDetector` follows the scikit-learn estimator contract (``__init__`` stores its keyword
arguments, ``fit`` returns ``self``, learned attributes end in ``_``; ``clone``, ``get_params`` and
``set_params`` work). It holds, per AU, a fitted pipeline (scaling, resampling, the classifier) and
that AU's decision threshold and smoothing width, tuned on the training subjects only. Classifier
rules, studies, the final refit and ``auflow predict`` all go through it.

Rows are frames. ``groups`` (the subject, or the input file at prediction) matter twice: inner
tuning splits are subject-exclusive, and temporal smoothing runs within a group, over its rows in
the order given (tables are sorted by frame, so that is frame order).
"""

from __future__ import annotations

import logging

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from auflow.aus import occurs
from auflow.evaluation.splits import inner_group_splits
from auflow.models.classic import make_classifier
from auflow.models.records import MODELS

log = logging.getLogger(__name__)


def positive_scores(model, features: np.ndarray) -> np.ndarray:
    """(n,) float64 scores, larger = more likely positive: P(class 1) where the model gives
    probabilities, else its decision function. A model trained on one class scores a constant."""
    classes = list(model.classes_)
    if 1 not in classes:
        return np.zeros(len(features))
    if len(classes) == 1:
        return np.ones(len(features))
    if hasattr(model, "predict_proba"):
        try:
            return model.predict_proba(features)[:, classes.index(1)].astype(np.float64)
        except AttributeError:  # e.g. SVC without probability=True exposes the name only
            pass
    return np.asarray(model.decision_function(features), dtype=np.float64)


def own_threshold(model) -> float:
    """The cut a model's own ``predict`` makes on :func:`positive_scores`."""
    if len(model.classes_) == 1 or hasattr(model, "predict_proba"):
        return 0.5
    return 0.0


def smooth_scores(scores: np.ndarray, groups: np.ndarray | None, width: int) -> np.ndarray:
    """Centred moving average of ``scores`` over ``width`` rows within each group.

    Parameters
    ----------
    scores : (n,) float scores in frame order within each group.
    groups : (n,) group of each row (subject or input), or None for one group.
    width : odd number of rows; 1 returns ``scores`` unchanged. Near a group's ends the window is
        cut short (the mean of the rows that exist), so every frame keeps a score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if width == 1 or len(scores) == 0:
        return scores
    groups = np.zeros(len(scores), np.int8) if groups is None else np.asarray(groups)
    smoothed = np.empty_like(scores)
    half = width // 2
    # rows of one group are contiguous in a sorted table; find the runs
    change = np.flatnonzero(groups[1:] != groups[:-1]) + 1
    for start, stop in zip(np.r_[0, change], np.r_[change, len(scores)], strict=True):
        run = scores[start:stop]
        padded = np.cumsum(np.r_[0.0, run])
        index = np.arange(len(run))
        low = np.maximum(index - half, 0)
        high = np.minimum(index + half + 1, len(run))
        smoothed[start:stop] = (padded[high] - padded[low]) / (high - low)
    return smoothed


def best_f1_cut(occurrence: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The threshold on ``scores`` that maximises F1 of ``scores >= threshold``, and that F1.

    Parameters
    ----------
    occurrence : (n,) 0/1 truth, with at least one positive.
    scores : (n,) float scores.

    Returns
    -------
    (threshold, f1): the threshold lies halfway between the lowest score predicted positive and
    the next lower score, so it generalises no tighter than the data allow.
    """
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    tp = np.cumsum(occurrence[order])
    fp = np.cumsum(1 - occurrence[order])
    n_pos = tp[-1]
    # only cut between distinct scores: the last row of each run of equal scores
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    f1 = np.where(last, 2 * tp / (tp + fp + n_pos), -1.0)
    best = int(np.argmax(f1))
    below = sorted_scores[best + 1] if best + 1 < len(scores) else sorted_scores[best] - 1.0
    return float((sorted_scores[best] + below) / 2), float(f1[best])


def choose_cut(scores, labels, groups, widths) -> tuple[float, int, float]:
    """The smoothing width and threshold that maximise F1 over pooled out-of-sample scores.

    Parameters
    ----------
    scores : (n,) float scores of frames the model did not learn from.
    labels : (n,) 0/1 truth, with at least one positive.
    groups : (n,) subject of each row; a subject's rows contiguous and in frame order.
    widths : candidate smoothing widths (odd); each is tried, the best kept.

    Returns
    -------
    (threshold, width, f1): the threshold on the scores smoothed with ``width``, and the F1 that
    cut gives on these frames.
    """
    best = (-1.0, 0.0, 1)
    for width in widths:
        threshold, f1 = best_f1_cut(labels, smooth_scores(scores, groups, int(width)))
        if f1 > best[0]:
            best = (f1, threshold, int(width))
    return best[1], best[2], best[0]


class AUDetector(BaseEstimator):
    """Per-AU detectors of one kind, with thresholds (and smoothing) tuned on training subjects.

    Parameters
    ----------
    classifier : a registered classifier name (:data:`auflow.models.classic.CLASSIFIERS`) or an
        unfitted scikit-learn classifier/pipeline, cloned per AU.
    params : keyword arguments of a named classifier (its config section).
    aus : AU numbers, one output column each.
    target : ``"occurrence"`` or ``"intensity"`` (see :class:`auflow.settings.EvaluationSettings`).
    occurrence_threshold : intensity at which an AU occurs.
    tune_threshold : tune each AU's threshold for F1 on ``inner_splits`` subject-exclusive inner
        splits of the training frames (occurrence only).
    inner_splits : number of inner splits.
    smoothing : candidate smoothing widths (odd); the best is chosen with the threshold.
    random_state : seed of the learners and inner splits.
    n_jobs : AUs fitted in parallel (threads).

    Attributes
    ----------
    estimators_ : list of fitted pipelines, one per AU; None for an AU of a multi-output fit.
    shared_ : the one pipeline fitted on all AUs' labels (classifiers whose record says
        ``multi_output``, occurrence target), else None.
    thresholds_ : (n_aus,) float64 decision thresholds on :meth:`decision_function`.
    smoothing_ : (n_aus,) int64 smoothing widths.
    tuned_ : (n_aus,) bool, whether the threshold was tuned (else the model's own cut).
    """

    def __init__(
        self,
        classifier="svm_linear",
        params=None,
        aus=(1,),
        target="occurrence",
        occurrence_threshold=2,
        tune_threshold=True,
        inner_splits=3,
        smoothing=(1,),
        random_state=0,
        n_jobs=1,
    ):
        self.classifier = classifier
        self.params = params
        self.aus = aus
        self.target = target
        self.occurrence_threshold = occurrence_threshold
        self.tune_threshold = tune_threshold
        self.inner_splits = inner_splits
        self.smoothing = smoothing
        self.random_state = random_state
        self.n_jobs = n_jobs

    @classmethod
    def from_settings(cls, classifier, params, settings, n_jobs: int = 1) -> AUDetector:
        """A detector configured by :class:`auflow.settings.EvaluationSettings`."""
        return cls(
            classifier=classifier, params=params, **settings.detector_params(), n_jobs=n_jobs
        )

    def _pipeline(self):
        if isinstance(self.classifier, str):
            return make_classifier(self.classifier, self.params, random_state=self.random_state)
        return clone(self.classifier)

    def fit(self, X, Y, groups):
        """Fit one detector per AU.

        Parameters
        ----------
        X : (n_frames, n_features) float32 features.
        Y : (n_frames, n_aus) int intensities 0-5, columns in ``aus`` order.
        groups : (n_frames,) subject of each frame; rows of a subject in frame order.
        """
        self._fit(X, Y, groups, keep_inner_scores=False)
        return self

    def fit_out_of_split(self, X, Y, groups) -> np.ndarray:
        """:meth:`fit`, and return every training frame's score from the inner model that did
        not learn from its subject: the inputs a stacked model learns from
        (:mod:`auflow.models.stacking`). The inner splits are those threshold tuning uses,
        so the scores cost no fit more than :meth:`fit` makes when it tunes.

        Returns
        -------
        (n_frames, n_aus) float64 raw (unsmoothed) scores, in the rows' order.
        """
        if not self._multi_output():
            raise ValueError(
                f"{self.classifier!r}: out-of-split scores need a model that fits all AUs at "
                "once on the occurrence target"
            )
        groups = np.asarray(groups).astype(str)
        if len(set(groups)) < 2:
            raise ValueError("out-of-split scores need at least 2 training subjects")
        return self._fit(X, Y, groups, keep_inner_scores=True)

    def _fit(self, X, Y, groups, keep_inner_scores):
        X = np.asarray(X, dtype=np.float32)
        Y = np.asarray(Y)
        groups = np.asarray(groups).astype(str)
        if Y.shape != (len(X), len(self.aus)):
            raise ValueError(f"Y must have shape ({len(X)}, {len(self.aus)}), got {Y.shape}")
        if len(groups) != len(X):
            raise ValueError(f"groups must have {len(X)} entries, got {len(groups)}")
        tuning = self.target == "occurrence" and self.tune_threshold
        inner = None
        if (tuning or keep_inner_scores) and len(set(groups)) >= 2:
            inner = inner_group_splits(groups, self.inner_splits, self.random_state)
        self.shared_ = None
        inner_scores = None
        if self._multi_output():
            fitted, inner_scores = self._fit_multi_output(
                X, Y, groups, inner, tuning, keep_inner_scores
            )
        else:
            # Threads: the learners release the GIL in their numeric cores, and a process pool
            # would cost more to start and to copy the features into than a small fold takes.
            fitted = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(self._fit_au)(X, Y[:, column], groups, inner)
                for column in range(len(self.aus))
            )
        self.estimators_ = [estimator for estimator, _, _, _ in fitted]
        self.thresholds_ = np.array([t for _, t, _, _ in fitted], dtype=np.float64)
        self.smoothing_ = np.array([w for _, _, w, _ in fitted], dtype=np.int64)
        self.tuned_ = np.array([tuned for _, _, _, tuned in fitted], dtype=bool)
        self.n_features_in_ = X.shape[1]
        return inner_scores

    def _labels(self, intensity: np.ndarray) -> np.ndarray:
        if self.target == "occurrence":
            return occurs(intensity, self.occurrence_threshold).astype(np.int8)
        return intensity.astype(np.int8)

    def _fit_one(self, X, labels):
        model = self._pipeline()
        if "smote" in getattr(model, "named_steps", {}):
            # SMOTE interpolates between a minority frame and its neighbours: ask for no more
            # neighbours than the training set has minority frames to offer.
            minority = np.bincount(labels).min()
            neighbours = min(model.named_steps["smote"].k_neighbors, max(int(minority) - 1, 1))
            model.set_params(smote__k_neighbors=neighbours)
        return model.fit(X, labels)

    def _fit_au(self, X, intensity, groups, inner):
        labels = self._labels(intensity)
        if len(np.unique(labels)) == 1:
            # Nothing to learn from one class: a constant model; the metrics say why.
            model = _Constant().fit(X, labels)
            return model, 0.5, 1, False
        threshold, width, tuned = None, 1, False
        if inner is not None and self._learnable(labels, inner):
            threshold, width = self._tune(X, labels, groups, inner)
            tuned = threshold is not None
        model = self._fit_one(X, labels)
        if threshold is None:
            threshold = own_threshold(model)
        return model, threshold, width, tuned

    @staticmethod
    def _learnable(labels, inner) -> bool:
        """Every inner split has both classes to train on, and the validation frames positives."""
        return all(len(np.unique(labels[train])) == 2 for train, _ in inner) and bool(labels.any())

    def _multi_output(self) -> bool:
        # scikit-learn takes a one-column label matrix for one output, with a warning
        shareable = self.target == "occurrence" and len(self.aus) > 1
        named = isinstance(self.classifier, str) and self.classifier in MODELS
        return shareable and named and MODELS[self.classifier].multi_output

    def _fit_multi_output(self, X, Y, groups, inner, tuning=True, keep_inner_scores=False):
        """What :meth:`_fit_au` gives for every AU, from one fit on all AUs' labels per inner
        split and one final fit: the same models, the work shared (``multi_output`` in the model's
        record: k nearest neighbours are searched once for all AUs, the linear models and naive
        Bayes make their passes over the frames for all AUs together; not the trees, whose
        multi-output splits would be another model).
        Returns that and the inner validation scores (None unless ``keep_inner_scores``)."""
        labels = np.column_stack([self._labels(Y[:, c]) for c in range(len(self.aus))])
        constant = [len(np.unique(labels[:, c])) == 1 for c in range(len(self.aus))]
        tunable = [
            tuning
            and inner is not None
            and not constant[c]
            and self._learnable(labels[:, c], inner)
            for c in range(len(self.aus))
        ]
        scores = np.empty(labels.shape)
        if any(tunable) or keep_inner_scores:
            for train, validation in inner:
                model = self._fit_rows(X, labels, train)
                scores[validation] = _output_scores(model, X[validation])
        self.shared_ = self._fit_one(X, labels) if not all(constant) else None
        fitted = []
        for column in range(len(self.aus)):
            if constant[column]:
                fitted.append((_Constant().fit(X, labels[:, column]), 0.5, 1, False))
                continue
            threshold, width = None, 1
            if tunable[column]:
                threshold, width = self._choose_cut(
                    scores[:, column], labels[:, column], groups, inner
                )
            tuned = threshold is not None
            if threshold is None:
                threshold = own_threshold(self.shared_)
            fitted.append((None, threshold, width, tuned))
        return fitted, scores if keep_inner_scores else None

    def _fit_rows(self, X, labels, rows):
        """``_fit_one(X[rows], labels[rows])``, reading the rows in place where the model can
        (``reads_rows`` in its record) instead of copying them out of ``X``."""
        if isinstance(self.classifier, str) and MODELS[self.classifier].reads_rows:
            return self._pipeline().fit(X, labels[rows], model__rows=rows)
        return self._fit_one(X[rows], labels[rows])

    def _tune(self, X, labels, groups, inner):
        """(threshold, width) maximising F1 over the pooled out-of-split scores of the inner
        validation subjects; (None, 1) when no inner model tells its validation frames apart."""
        scores = np.empty(len(labels))
        for train, validation in inner:
            model = self._fit_one(X[train], labels[train])
            scores[validation] = positive_scores(model, X[validation])
        return self._choose_cut(scores, labels, groups, inner)

    def _choose_cut(self, scores, labels, groups, inner):
        """:meth:`_tune` once the inner validation scores are known."""
        if all(np.ptp(scores[validation]) == 0 for _, validation in inner):
            # no inner model ranks its validation frames: nothing to choose a cut from
            log.info("threshold not tuned: inner validation scores are constant")
            return None, 1
        # every subject is in one inner validation part, so smoothing per subject over the
        # pooled scores is smoothing within each part
        threshold, width, _ = choose_cut(scores, labels, groups, self.smoothing)
        return threshold, width

    def _scores(self, X, groups, column, shared=None):
        model = self.estimators_[column]
        # an AU of a multi-output fit has no model of its own, only a column of the shared one
        scores = shared[:, column] if model is None else positive_scores(model, X)
        return smooth_scores(scores, groups, int(self.smoothing_[column]))

    def decision_function(self, X, groups=None) -> np.ndarray:
        """(n_frames, n_aus) float64 scores (probabilities or margins), smoothed within
        ``groups`` where a smoothing width was chosen; compare with :attr:`thresholds_`."""
        check_is_fitted(self, "estimators_")
        X = np.asarray(X, dtype=np.float32)
        if self.target == "intensity":
            return np.column_stack([self._occurrence_probability(m, X) for m in self.estimators_])
        shared = None
        if getattr(self, "shared_", None) is not None:
            shared = _output_scores(self.shared_, X)
        return np.column_stack([self._scores(X, groups, c, shared) for c in range(len(self.aus))])

    def raw_scores(self, X) -> np.ndarray:
        """(n_frames, n_aus) float64 scores before any smoothing: what :meth:`fit_out_of_split`
        returns for training frames, here from the model fitted on all of them. Every AU's
        column comes from the one model fitted on all AUs, an AU without positives included
        (whose detections are otherwise a constant), as its inner models scored it."""
        check_is_fitted(self, "estimators_")
        if getattr(self, "shared_", None) is None:
            raise ValueError("raw_scores needs a detector fitted on all AUs at once")
        return _output_scores(self.shared_, np.asarray(X, dtype=np.float32))

    def _occurrence_probability(self, model, X):
        if hasattr(model, "predict_proba"):
            probabilities = model.predict_proba(X)
            return probabilities[
                :, occurs(np.asarray(model.classes_), self.occurrence_threshold)
            ].sum(axis=1)
        return occurs(model.predict(X), self.occurrence_threshold).astype(np.float64)

    def predict(self, X, groups=None) -> np.ndarray:
        """(n_frames, n_aus) int8 occurrence: scores at or above each AU's threshold (for the
        intensity target: predicted intensity at or above the occurrence threshold)."""
        if self.target == "intensity":
            return occurs(self.predict_intensity(X), self.occurrence_threshold).astype(np.int8)
        return (self.decision_function(X, groups) >= self.thresholds_).astype(np.int8)

    def predict_intensity(self, X) -> np.ndarray:
        """(n_frames, n_aus) float64 predicted intensity (``target="intensity"`` only)."""
        check_is_fitted(self, "estimators_")
        if self.target != "intensity":
            raise ValueError("predict_intensity needs a detector fitted with target='intensity'")
        X = np.asarray(X, dtype=np.float32)
        return np.column_stack([m.predict(X).astype(np.float64) for m in self.estimators_])


def _output_scores(model, features: np.ndarray) -> np.ndarray:
    """(n, n_outputs) :func:`positive_scores` of a model fitted on a matrix of 0/1 labels."""
    if not hasattr(model, "predict_proba"):  # margins, one column per output
        return np.asarray(model.decision_function(features), dtype=np.float64)
    probabilities = model.predict_proba(features)
    columns = []
    for classes, probability in zip(model.classes_, probabilities, strict=True):
        classes = list(classes)
        if 1 not in classes:
            columns.append(np.zeros(len(features)))
        elif len(classes) == 1:
            columns.append(np.ones(len(features)))
        else:
            columns.append(probability[:, classes.index(1)].astype(np.float64))
    return np.column_stack(columns)


class _Constant(BaseEstimator):
    """The one class seen in training, predicted for every frame."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def predict_proba(self, X):
        return np.ones((len(X), 1))
