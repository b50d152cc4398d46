"""Logistic regression for many frames and several AUs at once: scikit-learn's model, another
solver.

The model is scikit-learn's ``LogisticRegression`` default (L2 penalty, lbfgs): for each output

    min_{w, b}  1/2 |w|^2 + C sum_i s_i log(1 + exp(-t_i (w.x_i + b))),    t_i in {-1, +1},

with ``s_i`` the class weight of frame ``i`` (``class_weight``) and the intercept ``b`` not
penalised. The objective is strictly convex in ``w`` and, with both classes present, has one
minimum, whatever finds it.

scikit-learn's lbfgs finds it one AU at a time, on float64 products with the features, and needs
hundreds of iterations on standardised HOG features (they are strongly correlated, so the
problem is badly conditioned). Here the features are few (hundreds to a couple of thousand) and
the frames many, so :class:`Logistic` runs L-BFGS for all outputs at once, with the inverse of
``P + C/4 mean(s) X1' X1`` as its initial Hessian instead of a multiple of the identity (``X1``
the features with a column of ones, ``P`` the identity without the intercept, ``mean(s)`` the
mean class weight of the frames, 1 for balanced weights): the Hessian at zero of an output
whose frames all weigh the same. One Gram matrix of all frames and one Cholesky factor serve
every output. (Each output's own Hessian at zero, with its positive frames weighted apart, was
tried: on HOG features with balanced weights it converged more slowly, and costs a factor per
output.) Every product with the frames (margins, gradients) is one float32 BLAS product for all
outputs at once; line searches run on the margins and cost no product. With ``standardise``
the features are standardised on the fly, inside those products, instead of copied.

Stop criterion, scikit-learn's: an output stops when the largest component of its gradient,
divided by ``C * sum_i s_i`` (the scale at which scikit-learn writes the objective, as a weighted
mean of the losses plus ``|w|^2 / (2 C sum_i s_i)``), is at most ``tol``; or when a step lowers
the objective by less than 64 float64 epsilons of it (scikit-learn's ``ftol``).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import scipy.linalg
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from auflow.models.outputs import binary_outputs, class_weights
from auflow.models.scaling import column_statistics, placed, row_runs

log = logging.getLogger(__name__)

HISTORY = 10  # curvature pairs kept per output (scipy's L-BFGS-B default)
ROWS_AT_ONCE = 4096  # frames per float32 product whose partial sums are added in float64
ARMIJO = 1e-4
CURVATURE = 0.9
FTOL = 64 * np.finfo(np.float64).eps
REFRESH = 10  # iterations between margins recomputed from the weights


class Logistic(ClassifierMixin, BaseEstimator):
    """L2-regularised logistic regression, one or several binary outputs per fit.

    Parameters
    ----------
    C : float, default 1.0
        Inverse of the penalty's strength (as in ``LogisticRegression``).
    class_weight : None, "balanced" or {0: w0, 1: w1}, default None
        "balanced" weighs each class of each output by ``n / (2 * its count)``.
    tol : float, default 1e-4
        Stop an output when its scaled gradient's largest component is at most ``tol`` (the
        module's docstring).
    max_iter : int, default 100
        Most L-BFGS iterations.
    fit_intercept : bool, default True
        Learn an unpenalised intercept.
    standardise : bool, default False
        Fit on the features standardised (``StandardScaler``'s mean and standard deviation of
        the training frames) without forming them: the model of ``StandardScaler`` followed by
        this one, with ``coef_`` and ``intercept_`` expressed on the features as given, and
        without the scaled copy of the features.

    Attributes
    ----------
    classes_ : (2,) array for one output, else a list of one such array per output.
    coef_ : (1, n_features) or (n_outputs, n_features) float64, on the features as given.
    intercept_ : (1,) or (n_outputs,) float64; for an output of one class, -inf or +inf.
    n_iter_ : int, iterations of the slowest output.
    """

    def __init__(
        self,
        C=1.0,
        class_weight=None,
        tol=1e-4,
        max_iter=100,
        fit_intercept=True,
        standardise=False,
    ):
        self.C = C
        self.class_weight = class_weight
        self.tol = tol
        self.max_iter = max_iter
        self.fit_intercept = fit_intercept
        self.standardise = standardise

    def fit(self, X, y, rows=None):
        """Fit on ``X`` (n, n_features), float32 used as it is (other dtypes converted), and 0/1
        labels ``y``: (n,) or (n, n_outputs). ``rows``: optional (n_rows,) int indices, to fit
        on ``X[rows]`` (``y`` their labels) read in place, without that copy."""
        X, labels, single = binary_outputs(X, y, "Logistic", rows)
        if not self.C > 0:
            raise ValueError(f"C must be positive, got {self.C}")
        weights_by_class = class_weights(self.class_weight, labels)
        classes = [np.unique(column) for column in labels.T]
        both = np.array([len(c) == 2 for c in classes])
        n_outputs = labels.shape[1]
        weights = np.zeros((X.shape[1] + 1, n_outputs))
        self.n_iter_ = 0
        if both.any():
            fitted = np.flatnonzero(both)
            statistics = column_statistics(X, rows) if self.standardise else (None, None)
            frames = _Frames(X, *statistics, rows=rows)
            weights[:, fitted], self.n_iter_ = _lbfgs(
                frames,
                labels[:, fitted],
                weights_by_class[:, fitted],
                float(self.C),
                float(self.tol),
                int(self.max_iter),
                bool(self.fit_intercept),
            )
            if self.standardise:
                # the same model on the features as given: w.z + b = (w / spread).x + b - ...
                weights[:-1] /= frames.spread[:, None]
                weights[-1] -= frames.centre @ weights[:-1]
        # an output of one class has no minimum: its intercept runs off to that side
        for j in np.flatnonzero(~both):
            weights[-1, j] = np.inf if classes[j][0] == 1 else -np.inf
        self.coef_ = weights[:-1].T.copy()
        self.intercept_ = weights[-1].copy()
        self.classes_ = classes[0] if single else classes
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X) -> np.ndarray:
        """``w.x + b``: (n,) float64 for one output, (n, n_outputs) for several."""
        check_is_fitted(self, "coef_")
        X = np.asarray(X, dtype=np.float32)
        with np.errstate(invalid="ignore"):
            scores = (X @ self.coef_.T.astype(np.float32)).astype(np.float64) + self.intercept_
        return scores[:, 0] if isinstance(self.classes_, np.ndarray) else scores

    def predict_proba(self, X):
        """(n, 2) float64 probabilities of classes 0 and 1 for one output; for several, a list
        of one such array per output ((n, 1) of ones for an output of one class), as
        scikit-learn's multi-output classifiers return them."""
        scores = self.decision_function(X)
        if isinstance(self.classes_, np.ndarray):
            return _two_columns(scores, self.classes_)
        return [_two_columns(scores[:, j], c) for j, c in enumerate(self.classes_)]

    def predict(self, X) -> np.ndarray:
        """0/1 labels: (n,) int64 for one output, (n, n_outputs) for several."""
        return (self.decision_function(X) > 0).astype(np.int64)


def _two_columns(scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
    if len(classes) == 1:
        return np.ones((len(scores), 1))
    positive = expit(scores)
    return np.column_stack([1.0 - positive, positive])


class _Frames:
    """The features as the solver sees them, ``[Z, 1]`` with ``Z = (X - centre) / spread``
    (``X`` itself without standardisation), never formed: every product is made with ``X`` in
    float32 and corrected by the centre and spread in float64.

    X : (n, n_features) float32, not copied.
    centre, spread : (n_features,) float64, or None for ``Z = X``.
    rows : optional int indices of the rows of ``X`` that are the frames (in that order), read
        run by run in place; None for every row.
    """

    def __init__(self, X, centre=None, spread=None, rows=None):
        self.X, self.centre, self.spread = X, centre, spread
        self.n = len(X) if rows is None else len(rows)
        self.runs = row_runs(len(X), rows)  # whole runs: one product each
        self.chunks = row_runs(len(X), rows, ROWS_AT_ONCE)  # runs cut for float64 partial sums

    def products(self, vectors) -> np.ndarray:
        """(n, k) float64 ``[Z, 1] @ vectors``, vectors (n_features + 1, k) float64: one
        float32 BLAS product."""
        w = vectors[:-1] if self.spread is None else vectors[:-1] / self.spread[:, None]
        offset = vectors[-1] if self.centre is None else vectors[-1] - self.centre @ w
        w = w.astype(np.float32)
        result = np.empty((self.n, vectors.shape[1]))
        for run, into in placed(self.runs):
            result[into] = self.X[run] @ w
        result += offset
        return result

    def transposed_products(self, residuals) -> np.ndarray:
        """(n_features + 1, k) float64 ``[Z, 1]' @ residuals``, residuals (n, k): float32
        products of a few thousand frames each, their sums added in float64."""
        total = np.zeros((self.X.shape[1] + 1, residuals.shape[1]))
        for chunk, into in placed(self.chunks):
            part = residuals[into]
            total[:-1] += self.X[chunk].T @ part.astype(np.float32)
            total[-1] += part.sum(axis=0)
        if self.centre is not None:
            total[:-1] -= np.outer(self.centre, total[-1])
            total[:-1] /= self.spread[:, None]
        return total

    def gram(self) -> np.ndarray:
        """(n_features + 1, n_features + 1) float64 ``[Z, 1]' [Z, 1]``: float32 products of a
        few thousand standardised frames each (standardised before the product, as the centre
        may be many spreads from zero), their sums added in float64."""
        d = self.X.shape[1]
        gram = np.zeros((d + 1, d + 1))
        for chunk in self.chunks:
            part = self.X[chunk]
            if self.centre is not None:
                part = ((part - self.centre) / self.spread).astype(np.float32)
            gram[:d, :d] += part.T @ part
            gram[:d, d] += part.sum(axis=0, dtype=np.float64)
        gram[d, :d] = gram[:d, d]
        gram[d, d] = self.n
        return gram


def _preconditioner(frames, sample_weights, C, fit_intercept):
    """Cholesky factor of ``P + C/4 mean(s) [X, 1]' [X, 1]``, one for all outputs: the Hessian
    at zero of an output whose frames all weigh the mean class weight ``mean(s)`` (with
    balanced class weights, 1), made of one Gram matrix of all frames."""
    d = frames.X.shape[1]
    hessian = frames.gram()
    hessian *= C / 4 * sample_weights.mean()
    hessian[np.arange(d), np.arange(d)] += 1.0
    if not fit_intercept:
        hessian[d, :] = 0.0
        hessian[:, d] = 0.0
        hessian[d, d] = 1.0
    # OpenBLAS factorises by another blocking (other last bits) with more than one thread, so
    # the scores would depend on the job's threads: the factor is made on one (~0.1 s for
    # 1,765 HOG features), the threads' count is then free to change nothing (issue #26).
    with threadpool_limits(1, user_api="blas"):
        return scipy.linalg.cho_factor(hessian, lower=True)


def _objective(weights, margins, targets, sample_weights, C) -> np.ndarray:
    """(k,) objective of each column given its margins ``[X, 1] @ weights``."""
    w = weights[:-1]
    loss = np.logaddexp(0.0, -targets * margins)
    return 0.5 * np.einsum("ij,ij->j", w, w) + C * np.einsum("ij,ij->j", sample_weights, loss)


def _gradient(frames, weights, margins, labels, sample_weights, C, fit_intercept) -> np.ndarray:
    residuals = sample_weights * (expit(margins) - labels)
    gradient = C * frames.transposed_products(residuals)
    gradient[:-1] += weights[:-1]
    if not fit_intercept:
        gradient[-1] = 0.0
    return gradient


def _lbfgs(frames, labels, class_weights, C, tol, max_iter, fit_intercept):
    """(n_features + 1, n_outputs) float64 minimisers (intercept last) and the iterations."""
    n, d = frames.n, frames.X.shape[1]
    k = labels.shape[1]
    sample_weights = np.where(labels == 1, class_weights[1], class_weights[0])
    targets = np.where(labels == 1, 1.0, -1.0)
    scale = C * sample_weights.sum(axis=0)  # scikit-learn's objective is ours / scale
    factor = _preconditioner(frames, sample_weights, C, fit_intercept)
    weights = np.zeros((d + 1, k))
    margins = np.zeros((n, k))
    values = _objective(weights, margins, targets, sample_weights, C)
    gradient = _gradient(frames, weights, margins, labels, sample_weights, C, fit_intercept)
    history = [[] for _ in range(k)]
    done = np.abs(gradient).max(axis=0) <= tol * scale
    iterations = 0
    while iterations < max_iter and not done.all():
        iterations += 1
        todo = np.flatnonzero(~done)
        direction = _two_loop(gradient[:, todo], [history[j] for j in todo], factor)
        if not fit_intercept:
            direction[-1] = 0.0
        moves = frames.products(direction)
        step, new_values = _line_search(
            weights[:, todo],
            margins[:, todo],
            direction,
            moves,
            targets[:, todo],
            sample_weights[:, todo],
            C,
            values[todo],
            gradient[:, todo],
        )
        weights[:, todo] += step * direction
        if iterations % REFRESH == 0:
            margins[:, todo] = frames.products(weights[:, todo])
            new_values = _objective(
                weights[:, todo], margins[:, todo], targets[:, todo], sample_weights[:, todo], C
            )
        else:
            margins[:, todo] += step * moves
        new_gradient = _gradient(
            frames,
            weights[:, todo],
            margins[:, todo],
            labels[:, todo],
            sample_weights[:, todo],
            C,
            fit_intercept,
        )
        for position, j in enumerate(todo):
            s = step[position] * direction[:, position]
            y = new_gradient[:, position] - gradient[:, j]
            if s @ y > 1e-10 * np.linalg.norm(s) * np.linalg.norm(y):
                history[j].append((s, y, 1.0 / (s @ y)))
                del history[j][:-HISTORY]
        decrease = values[todo] - new_values
        flat = decrease <= FTOL * np.maximum(
            np.maximum(np.abs(values[todo]), np.abs(new_values)), 1
        )
        values[todo] = new_values
        gradient[:, todo] = new_gradient
        done[todo] = flat | (np.abs(new_gradient).max(axis=0) <= tol * scale[todo])
    if not done.all():
        warnings.warn(
            f"Logistic: {int((~done).sum())} output(s) not converged after {max_iter} iterations",
            ConvergenceWarning,
            stacklevel=3,
        )
    return weights, iterations


def _two_loop(gradients, histories, factor) -> np.ndarray:
    """(n_features + 1, k) L-BFGS directions ``-H g``, each column's ``H`` built from its
    curvature pairs on top of the preconditioner (the inverse of the Hessian at zero) instead of
    a multiple of the identity; one triangular solve pair for all columns."""
    q = gradients.copy()
    alphas = [[] for _ in histories]
    for column, history in enumerate(histories):
        for s, y, rho in reversed(history):
            alpha = rho * (s @ q[:, column])
            q[:, column] -= alpha * y
            alphas[column].append(alpha)
    r = scipy.linalg.cho_solve(factor, q, check_finite=False)
    for column, history in enumerate(histories):
        for (s, y, rho), alpha in zip(history, reversed(alphas[column]), strict=True):
            beta = rho * (y @ r[:, column])
            r[:, column] += (alpha - beta) * s
    return -r


def _line_search(weights, margins, direction, moves, targets, sample_weights, C, values, gradient):
    """Per column a step satisfying the strong Wolfe conditions, found on the margins alone
    (the objective along a line needs no product with the frames): (steps, objectives)."""
    w, p = weights[:-1], direction[:-1]
    slope0 = np.einsum("ij,ij->j", gradient, direction)
    ww, wp, pp = (np.einsum("ij,ij->j", a, b) for a, b in ((w, w), (w, p), (p, p)))

    def along(step):
        z = margins + step * moves
        loss = np.logaddexp(0.0, -targets * z)
        value = 0.5 * (ww + 2 * step * wp + step**2 * pp) + C * np.einsum(
            "ij,ij->j", sample_weights, loss
        )
        slope = (
            wp
            + step * pp
            + C * np.einsum("ij,ij->j", sample_weights * (expit(z) - (targets > 0)), moves)
        )
        return value, slope

    k = len(values)
    step = np.ones(k)
    low, low_slope = np.zeros(k), slope0.copy()
    high, high_slope = np.full(k, np.inf), np.full(k, np.inf)
    pending = slope0 < 0  # a column whose direction does not descend stays put
    accepted = np.zeros(k)
    final = values.copy()
    for _ in range(30):
        if not pending.any():
            break
        value, slope = along(step)
        armijo = value <= values + ARMIJO * step * slope0
        good = pending & armijo & (np.abs(slope) <= -CURVATURE * slope0)
        accepted[good], final[good] = step[good], value[good]
        pending &= ~good
        # convex along the line: the minimum lies where the slope changes sign
        beyond = pending & ((slope >= 0) | ~armijo)
        short = pending & ~beyond
        high[beyond], high_slope[beyond] = step[beyond], slope[beyond]
        low[short], low_slope[short] = step[short], slope[short]
        width = high - low
        with np.errstate(invalid="ignore", divide="ignore"):
            secant = low - low_slope * width / (high_slope - low_slope)
        usable = (high_slope > low_slope) & (np.abs(secant - (low + high) / 2) < 0.4 * width)
        step = np.where(
            np.isfinite(high), np.where(usable, secant, (low + high) / 2), 4 * np.maximum(low, step)
        )
    if pending.any():
        # no Wolfe step found in time: the last step known to lower the objective enough
        value, _ = along(low)
        accepted[pending] = low[pending]
        final[pending] = np.where(low[pending] > 0, value[pending], values[pending])
    return accepted, final
