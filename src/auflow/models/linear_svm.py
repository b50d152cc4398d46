"""A linear SVM for many frames and several AUs at once: LinearSVC's model, another solver.

The model is scikit-learn's ``LinearSVC`` default: the L2-regularised squared hinge loss

    min_w  1/2 |w|^2 + sum_i c_i max(0, 1 - y_i w.x_i)^2,    y_i in {-1, +1},

with the intercept as one more feature of constant value ``intercept_scaling`` whose weight is
regularised like the others (as liblinear does), and ``c_i = C * class weight of y_i``. The
objective is strictly convex, so it has one minimum, whatever finds it.

liblinear finds it one AU at a time, with its own sparse copy of the features (16 bytes a value),
by a trust-region Newton method whose inner conjugate gradients need hundreds of passes over the
frames on face features (they are strongly correlated). Here the features are few (hundreds) and
the frames many, so :class:`LinearSVM` keeps each output's generalised Hessian
``I + 2 X_a' D X_a`` (``X_a`` the frames inside the margin) as a matrix and takes exact Newton
steps (a Cholesky solve; with fewer frames in the margin than features, a solve the size of the
frames instead), with a backtracking line search. Between steps only frames that enter
or leave the margin change the Hessian, so it is updated by those rows alone; the first Hessian
of every output comes from one Gram matrix of all frames shared by all outputs. The products
with all frames (margins, gradients) are made for every output at once. A column stops when its
gradient norm has fallen below ``tol`` times its first one (liblinear's primal criterion).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from auflow.models.outputs import binary_outputs, class_weights
from auflow.models.scaling import ROWS_AT_ONCE, column_statistics, gather_rows

log = logging.getLogger(__name__)

ARMIJO = 1e-4
FLAT = 1e-7


class LinearSVM(ClassifierMixin, BaseEstimator):
    """L2-regularised squared-hinge linear SVM, one or several binary outputs per fit.

    Parameters
    ----------
    C : float, default 1.0
        Cost of a margin violation (as in ``LinearSVC``).
    class_weight : None, "balanced" or {0: w0, 1: w1}, default None
        "balanced" weighs each class of each output by ``n / (2 * its count)``.
    tol : float, default 1e-6
        Stop a column when its gradient norm is below ``tol`` times its initial one.
    max_iter : int, default 100
        Most Newton steps.
    intercept_scaling : float, default 1.0
        Value of the constant feature whose weight is the intercept.
    standardise : bool, default False
        Fit on the features standardised (``StandardScaler``'s mean and standard deviation of
        the training frames), written straight into the solver's own copy of the features: the
        model of ``StandardScaler`` followed by this one, with ``coef_`` and ``intercept_``
        expressed on the features as given, and one copy of the features fewer (0.45 GB for a
        final fit on DISFA's ``gabor_energy`` table).

    Attributes
    ----------
    classes_ : (2,) array for one output, else a list of one such array per output.
    coef_ : (1, n_features) or (n_outputs, n_features) float64, on the features as given.
    intercept_ : (1,) or (n_outputs,) float64.
    n_iter_ : int, Newton steps taken by the slowest column.
    """

    def __init__(
        self,
        C=1.0,
        class_weight=None,
        tol=1e-6,
        max_iter=100,
        intercept_scaling=1.0,
        standardise=False,
    ):
        self.C = C
        self.class_weight = class_weight
        self.tol = tol
        self.max_iter = max_iter
        self.intercept_scaling = intercept_scaling
        self.standardise = standardise

    def fit(self, X, y, rows=None):
        """Fit on ``X`` (n, n_features) and 0/1 labels ``y``: (n,) or (n, n_outputs).
        ``rows``: optional (n_rows,) int indices, to fit on ``X[rows]`` (``y`` their labels),
        read in place into the solver's own copy instead of through a copy of those rows."""
        X, labels, single = binary_outputs(X, y, "LinearSVM", rows)
        if self.C <= 0:
            raise ValueError(f"C must be positive, got {self.C}")
        signs = np.where(labels == 1, 1.0, -1.0).astype(np.float32)
        weight_0, weight_1 = class_weights(self.class_weight, labels)
        costs = (self.C * np.where(labels == 1, weight_1, weight_0)).astype(np.float32)
        centre, spread = column_statistics(X, rows) if self.standardise else (None, None)
        features = np.empty((len(labels), X.shape[1] + 1), np.float32)
        gather_rows(X, rows, features[:, :-1], centre, spread)
        features[:, -1] = self.intercept_scaling
        weights, self.n_iter_ = _newton(features, signs, costs, self.tol, self.max_iter)
        del features
        coef = weights[:-1]
        intercept = weights[-1] * self.intercept_scaling
        if self.standardise:
            # the same model on the features as given: w.z + b = (w / spread).x + b - ...
            coef = coef / spread[:, None]
            intercept = intercept - centre @ coef
        self.coef_ = coef.T.copy()
        self.intercept_ = intercept
        classes = [np.unique(column) for column in labels.T]
        self.classes_ = classes[0] if single else classes
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X) -> np.ndarray:
        """Signed distances to the margin: (n,) for one output, (n, n_outputs) for several."""
        check_is_fitted(self, "coef_")
        X = np.asarray(X)
        # in float64, a few thousand frames at a time: no float64 copy of all the frames
        scores = np.empty((len(X), len(self.coef_)))
        for start in range(0, len(X), ROWS_AT_ONCE):
            rows = slice(start, start + ROWS_AT_ONCE)
            scores[rows] = X[rows].astype(np.float64) @ self.coef_.T
        scores += self.intercept_
        return scores[:, 0] if isinstance(self.classes_, np.ndarray) else scores

    def predict(self, X) -> np.ndarray:
        scores = self.decision_function(X)
        return (scores >= 0).astype(np.int64)


def _objective(weights, margins, signs, costs) -> np.ndarray:
    """(n_outputs,) objective of each column, given its margins ``X @ w``."""
    slack = np.maximum(0.0, 1.0 - signs * margins, dtype=np.float64)
    return 0.5 * np.einsum("ij,ij->j", weights, weights) + np.einsum("ij,ij->j", costs, slack**2)


def _newton(X, signs, costs, tol, max_iter) -> tuple[np.ndarray, int]:
    """(n_features, n_outputs) float64 minimiser of every column's objective, and the steps."""
    n_outputs = signs.shape[1]
    weights = np.zeros((X.shape[1], n_outputs))
    margins = np.zeros(signs.shape, np.float32)
    active = np.ones(signs.shape, bool)  # at w = 0 every frame is inside the margin
    hessians = _first_hessians(X, signs, costs)
    first = None
    converged = np.zeros(n_outputs, bool)
    steps = 0
    while steps < max_iter:
        steps += 1
        scale = np.where(active, costs, 0.0).astype(np.float32)  # D of the generalised Hessian
        gradient = weights + 2.0 * (X.T @ (scale * (margins - signs)))
        norms = np.linalg.norm(gradient, axis=0)
        if first is None:
            first = np.maximum(norms, np.finfo(np.float64).tiny)
        converged |= norms <= tol * first
        todo = np.flatnonzero(~converged)
        if len(todo) == 0:
            break
        direction = np.column_stack(
            [
                _newton_direction(hessians[j], X, scale[:, j], active[:, j], -gradient[:, j])
                for j in todo
            ]
        )
        before = _objective(weights[:, todo], margins[:, todo], signs[:, todo], costs[:, todo])
        slope = np.einsum("ij,ij->j", gradient[:, todo], direction)
        # The gradient is summed in float32: once the Newton step promises less than float32
        # rounding of the objective, the minimum is reached as closely as it can be measured.
        flat = -slope <= FLAT * before
        converged[todo[flat]] = True
        if flat.all():
            break
        todo, direction, before, slope = (
            todo[~flat],
            direction[:, ~flat],
            before[~flat],
            slope[~flat],
        )
        moves = X @ direction.astype(np.float32)
        step = np.ones(len(todo))
        pending = np.ones(len(todo), bool)
        for _ in range(30):  # backtracking: halve each column's step until it descends enough
            trial_weights = weights[:, todo] + step * direction
            trial_margins = margins[:, todo] + step * moves
            after = _objective(trial_weights, trial_margins, signs[:, todo], costs[:, todo])
            pending &= after > before + ARMIJO * step * slope
            if not pending.any():
                break
            step = np.where(pending, step / 2, step)
        weights[:, todo] += step * direction
        # margins anew from the weights, so float32 rounding does not pile up over the steps
        margins[:, todo] = X @ weights[:, todo].astype(np.float32)
        for j in todo:
            now = signs[:, j] * margins[:, j] < 1
            _update_hessian(hessians[j], X, costs[:, j], active[:, j], now)
            active[:, j] = now
    else:
        warnings.warn(
            f"LinearSVM: {int((~converged).sum())} output(s) not converged after {max_iter} "
            "Newton steps",
            ConvergenceWarning,
            stacklevel=3,
        )
    return weights, steps


def _newton_direction(hessian, X, scale, active, rhs) -> np.ndarray:
    """Solve ``hessian @ p = rhs``, ``hessian = I + 2 X_a' D X_a``. With fewer frames inside the
    margin than features (small training sets), through the frames' side of the Woodbury
    identity, ``(I + U'U)^-1 = I - U' (I + U U')^-1 U`` with ``U = sqrt(2 D) X_a``: a system the
    size of the frames instead of the features."""
    rows = np.flatnonzero(active)
    if len(rows) >= X.shape[1]:
        return scipy.linalg.cho_solve(scipy.linalg.cho_factor(hessian), rhs)
    U = np.sqrt(2.0 * scale[rows])[:, None] * X[rows].astype(np.float64)
    inner = np.eye(len(rows)) + U @ U.T
    return rhs - U.T @ scipy.linalg.cho_solve(scipy.linalg.cho_factor(inner), U @ rhs)


def _first_hessians(X, signs, costs) -> list[np.ndarray]:
    """Each output's Hessian with every frame inside the margin, ``I + 2 X' diag(c) X``: its
    costs take two values (one per class), so it is one Gram matrix of all frames, shared, plus
    the Gram matrix of the output's positive frames."""
    gram = X.T @ X  # float32 BLAS; the Cholesky solves run in float64
    identity = np.eye(X.shape[1])
    hessians = []
    for j in range(signs.shape[1]):
        positive = signs[:, j] > 0
        cost_1 = costs[positive, j][0] if positive.any() else 0.0
        cost_0 = costs[~positive, j][0] if (~positive).any() else 0.0
        rows = X[positive]
        hessian = 2.0 * cost_0 * gram.astype(np.float64)
        hessian += 2.0 * (cost_1 - cost_0) * (rows.T @ rows)
        hessians.append(hessian + identity)
    return hessians


def _update_hessian(hessian, X, costs, was, now) -> None:
    """Add the frames that entered the margin to ``hessian`` and take out those that left."""
    changed = np.flatnonzero(was != now)
    if len(changed) == 0:
        return
    rows = X[changed]
    signed = np.where(now[changed], 2.0, -2.0) * costs[changed]
    hessian += (rows * signed[:, None].astype(np.float32)).T @ rows
