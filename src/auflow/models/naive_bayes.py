"""Gaussian naive Bayes for several outputs at once: scikit-learn's ``GaussianNB`` model.

The model is ``GaussianNB``'s: per output and class, a prior (the class's share of the frames)
and a normal distribution per feature (the class's mean and variance, ``ddof=0``), every variance
enlarged by ``var_smoothing`` times the largest variance of any feature over all frames. A frame's
class probabilities follow from the joint log-likelihood

    log P(c) - 1/2 sum_f log(2 pi var_cf) - 1/2 sum_f (x_f - mean_cf)^2 / var_cf.

``GaussianNB`` fits one output per call; each AU's fit is a pass over all frames for the class
means and variances, and each prediction another pass per class. Here every (output, class)
statistic of all outputs comes from two matrix products with the frames (an indicator matrix
against the features and their squares), and the log-likelihoods of all of them from two more,
because ``sum_f (x_f - mean_f)^2 / var_f`` expands into products of ``x^2`` and ``x`` with
per-class vectors. The products are made in float64, a block of frames at a time, so the float32
features are never copied whole.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

# frames converted to float64 at a time: 4,096 x 864 features is 28 MB
BLOCK_ROWS = 4096


class GaussianNaiveBayes(ClassifierMixin, BaseEstimator):
    """Gaussian naive Bayes (``GaussianNB``'s model), one or several outputs per fit.

    Parameters
    ----------
    var_smoothing : float, default 1e-9
        Share of the largest feature variance added to every variance (as in ``GaussianNB``).

    Attributes
    ----------
    classes_ : array of the classes for one output, else a list of one such array per output.
    class_prior_, theta_, var_ : for one output ``(n_classes,)``, ``(n_classes, n_features)``,
        ``(n_classes, n_features)`` float64 as in ``GaussianNB``; for several outputs a list of
        those, one per output.
    epsilon_ : float, the amount added to every variance.
    """

    def __init__(self, var_smoothing=1e-9):
        self.var_smoothing = var_smoothing

    def fit(self, X, y):
        """Fit on ``X`` (n, n_features) and labels ``y``: (n,) or (n, n_outputs), any classes."""
        X = np.asarray(X)
        y = np.asarray(y)
        single = y.ndim == 1
        labels = y.reshape(len(y), -1)
        if len(labels) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(labels)}")
        if self.var_smoothing < 0:
            raise ValueError(f"var_smoothing must be >= 0, got {self.var_smoothing}")
        classes = [np.unique(column) for column in labels.T]
        # one indicator column per (output, class): the statistics of every class at once
        indicator = np.column_stack(
            [
                labels[:, output] == value
                for output, values in enumerate(classes)
                for value in values
            ]
        ).astype(np.float64)
        counts = indicator.sum(axis=0)
        sums = np.zeros((indicator.shape[1], X.shape[1]))
        squares = np.zeros_like(sums)
        for start in range(0, len(X), BLOCK_ROWS):
            # a float64 copy of a block (astype copies even when X is float64 already)
            block = X[start : start + BLOCK_ROWS].astype(np.float64)
            rows = indicator[start : start + BLOCK_ROWS]
            sums += rows.T @ block
            block *= block
            squares += rows.T @ block
        # E[x^2] - mean^2 in float64: on standardised features (values of order 1) the
        # cancellation costs about 1e-12 of a variance
        first = slice(0, len(classes[0]))  # the classes of one output cover every frame once
        overall = squares[first].sum(axis=0) / len(X) - (sums[first].sum(axis=0) / len(X)) ** 2
        self.epsilon_ = float(self.var_smoothing * overall.max())
        theta = sums / counts[:, None]
        var = np.maximum(squares / counts[:, None] - theta**2, 0.0) + self.epsilon_
        bounds = np.cumsum([0, *(len(values) for values in classes)])
        per_output = [
            (counts[a:b] / counts[a:b].sum(), theta[a:b], var[a:b])
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        if single:
            self.classes_ = classes[0]
            self.class_prior_, self.theta_, self.var_ = per_output[0]
        else:
            self.classes_ = classes
            self.class_prior_, self.theta_, self.var_ = (
                list(v) for v in zip(*per_output, strict=True)
            )
        self.n_features_in_ = X.shape[1]
        return self

    def _outputs(self) -> list[tuple[np.ndarray, ...]]:
        """Per output: (classes, class_prior, theta, var), as lists for one output too."""
        if isinstance(self.classes_, np.ndarray):
            return [(self.classes_, self.class_prior_, self.theta_, self.var_)]
        return list(zip(self.classes_, self.class_prior_, self.theta_, self.var_, strict=True))

    def _joint_log_likelihood(self, X) -> list[np.ndarray]:
        """Per output, (n, n_classes) float64 log P(c) + log p(x | c) of its classes; the
        likelihoods of every output's classes are computed together."""
        check_is_fitted(self, "classes_")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have {self.n_features_in_} features, got shape {X.shape}")
        outputs = self._outputs()
        prior, theta, var = (np.concatenate(v) for v in list(zip(*outputs, strict=True))[1:])
        precision = 1.0 / var
        constant = (
            np.log(prior)
            - 0.5 * np.log(2.0 * np.pi * var).sum(axis=1)
            - 0.5 * (theta**2 * precision).sum(axis=1)
        )
        linear = (theta * precision).T
        quadratic = -0.5 * precision.T
        joint = np.empty((len(X), len(constant)))
        for start in range(0, len(X), BLOCK_ROWS):
            block = X[start : start + BLOCK_ROWS].astype(np.float64)
            rows = joint[start : start + BLOCK_ROWS]
            np.matmul(block, linear, out=rows)
            block *= block
            rows += block @ quadratic
            rows += constant
        bounds = np.cumsum([0, *(len(classes) for classes, *_ in outputs)])
        return [joint[:, a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def predict_proba(self, X):
        """Class probabilities: (n, n_classes) for one output, else a list of them per output."""
        probabilities = [
            np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
            for joint in self._joint_log_likelihood(X)
        ]
        return probabilities[0] if isinstance(self.classes_, np.ndarray) else probabilities

    def predict(self, X) -> np.ndarray:
        """The most likely class: (n,) for one output, else (n, n_outputs)."""
        predicted = np.column_stack(
            [
                classes[np.argmax(joint, axis=1)]
                for (classes, *_), joint in zip(
                    self._outputs(), self._joint_log_likelihood(X), strict=True
                )
            ]
        )
        return predicted[:, 0] if isinstance(self.classes_, np.ndarray) else predicted
