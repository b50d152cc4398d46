"""k nearest neighbours by brute force in float32 matrix products, for many frames and AUs.

scikit-learn's brute-force search works in float64 (it upcasts float32 chunks before its matrix
products); at DISFA size (87,210 training frames x 864 features, every frame of a fold queried)
that search is all of KNN's cost, quadratic in frames. Here each chunk of queries ranks every
training frame by ``|x|^2 - 2 q.x`` (the squared distance less ``|q|^2``, which is the same for
the whole row), the products being one float32 BLAS matrix product: twice the multiply-adds per
second of float64 on AVX2. Float32 rounding could swap frames at nearly the same distance, so
the candidates are every frame whose ranking value is within twice a strict bound on that
rounding (:meth:`NearestNeighbours._rounding`) of the k-th smallest: on face features, k frames
or one or two more. Their distances are recomputed in float64 from the differences, and the k
nearest of them, equal distances in training order, are the neighbours.

What that guarantees: the neighbours are the k nearest training frames by float64 distance,
equal distances taken in training order (as long as BLAS keeps to the textbook error bound of a
dot product, which any order of summation does). A query equal to a training frame is at
distance 0, and ``weights="distance"`` treats it as scikit-learn does (the frames at distance 0
share the vote). Where several frames are at (nearly) the same distance, scikit-learn's search
may take another of them, and its distances of float32 frames are rounded to float32; elsewhere
the probabilities are scikit-learn's (``tests/test_neighbours.py``).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from auflow.models.scaling import (
    ROWS_AT_ONCE,
    column_statistics,
    gather_rows,
    row_runs,
    standardise_into,
)

# Bytes of the float32 ranking block of one chunk of queries, whatever the training size; the
# rest of a chunk's memory is a few MB.
CHUNK_BYTES = 32 * 2**20
# Rows of the block selected from at once (copied by np.partition, kept in cache).
SELECT_ROWS = 16
# Candidate frames whose float64 distance is computed at once: their differences (under 1 MB
# at 864 features) stay in cache, several times faster than 10 MB at once.
EXACT_BATCH = 128
WEIGHTS = ("uniform", "distance")


class NearestNeighbours(ClassifierMixin, BaseEstimator):
    """k-nearest-neighbour vote for one or several outputs, Euclidean distance.

    The same model as scikit-learn's ``KNeighborsClassifier`` (Minkowski p=2, brute force),
    with the search described in :mod:`auflow.models.neighbours`.

    Parameters
    ----------
    n_neighbors : int, default 5
        Neighbours that vote.
    weights : "uniform" or "distance", default "uniform"
        "distance" weighs each neighbour's vote by 1 / its distance; a query at distance 0 from
        some training frames takes the vote of those frames only, equally weighted.
    standardise : bool, default False
        Search among the features standardised by the mean and standard deviation of the
        training frames (``StandardScaler``'s, the difference taken in float64): the model of
        ``StandardScaler`` followed by this one, with the training frames standardised straight
        into the model's own copy and the queries a chunk at a time, instead of scaled copies
        of all of them.

    Attributes
    ----------
    classes_ : (n_classes,) array of the labels seen, sorted; for several outputs a list of one
        such array per output.
    outputs_2d_ : bool, whether ``y`` had several outputs.
    features_ : (n_train, n_features) float32 training features (standardised, with
        ``standardise``).
    centre_, spread_ : (n_features,) float64 standardisation, or None without ``standardise``.
    squared_norms_ : (n_train,) float32 ``|x|^2`` of each training frame.
    labels_ : (n_train, n_outputs) intp, each frame's class as an index into its output's
        classes.
    n_features_in_ : int.
    """

    def __init__(self, n_neighbors=5, weights="uniform", standardise=False):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.standardise = standardise

    def fit(self, X, y, rows=None):
        """Keep the training frames.

        Parameters
        ----------
        X : (n, n_features) features, searched in float32.
        y : (n_train,) class labels, or (n_train, n_outputs) for several outputs; a single
            column is one output, as in scikit-learn.
        rows : optional (n_train,) int indices: the training frames are ``X[rows]`` (``y``
            their labels), read in place into the model's copy; None for every row of ``X``.
        """
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {self.weights!r}")
        if not isinstance(self.n_neighbors, numbers.Integral) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be an integer >= 1, got {self.n_neighbors!r}")
        X = _matrix(X, "training features")
        _check_finite(X, row_runs(len(X), rows, ROWS_AT_ONCE), "training features")
        n_train = len(X) if rows is None else len(rows)
        y = np.asarray(y)
        single = y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)
        labels = y.reshape(len(y), -1)
        if len(labels) != n_train:
            raise ValueError(f"X has {n_train} rows to fit on but y has {len(labels)}")
        classes, codes = zip(
            *(np.unique(column, return_inverse=True) for column in labels.T), strict=True
        )
        self.classes_ = classes[0] if single else list(classes)
        self.outputs_2d_ = not single
        self.labels_ = np.column_stack(codes).astype(np.intp)
        self.centre_, self.spread_ = column_statistics(X, rows) if self.standardise else (None,) * 2
        features = np.empty((n_train, X.shape[1]), np.float32)
        self.features_ = gather_rows(X, rows, features, self.centre_, self.spread_)
        self.squared_norms_ = np.einsum("ij,ij->i", features, features, dtype=np.float64).astype(
            np.float32
        )
        self.n_features_in_ = X.shape[1]
        return self

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        """Queries as the search sees them: C-ordered float32, standardised like the training
        frames (:func:`~auflow.models.scaling.standardise_into`)."""
        # a model saved before it could standardise has neither attribute
        centre, spread = getattr(self, "centre_", None), getattr(self, "spread_", None)
        return standardise_into(X, np.empty(X.shape, np.float32), centre, spread)

    def kneighbors(self, X) -> tuple[np.ndarray, np.ndarray]:
        """The ``n_neighbors`` nearest training frames of each query, nearest first.

        Parameters
        ----------
        X : (n_queries, n_features) features.

        Returns
        -------
        distances : (n_queries, n_neighbors) float64 Euclidean distances, ascending.
        indices : (n_queries, n_neighbors) intp training rows; equal distances in training
            order.
        """
        check_is_fitted(self, "features_")
        X = _matrix(X, "query features")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X must be (n_queries, {self.n_features_in_}) like the training features, "
                f"got shape {X.shape}"
            )
        n_train = len(self.features_)
        k = int(self.n_neighbors)
        if k > n_train:
            raise ValueError(f"n_neighbors={k} but only {n_train} training frames")
        rows = max(1, CHUNK_BYTES // (4 * n_train))
        chunks = row_runs(len(X), None, rows)
        _check_finite(X, chunks, "query features")
        distances = np.empty((len(X), k))
        indices = np.empty((len(X), k), dtype=np.intp)
        for chunk in chunks:
            distances[chunk], indices[chunk] = self._search(self._scaled(X[chunk]), k)
        return distances, indices

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`kneighbors` of a chunk of float32 queries."""
        # -2 q is exact in float32, so the product is q.x to BLAS rounding, times -2
        ranking = (queries * np.float32(-2.0)) @ self.features_.T
        ranking += self.squared_norms_
        slack = 2 * self._rounding(queries)
        rows, candidates = [], []
        for start in range(0, len(queries), SELECT_ROWS):
            block = ranking[start : start + SELECT_ROWS]
            kth = np.partition(block, k - 1, axis=1)[:, k - 1]
            # Every frame whose true value can be the k-th smallest or below, ties included:
            # the true k-th is at most kth + rounding, and a frame's true value at least its
            # computed one - rounding. The limit is rounded up to float32, not to nearest.
            limit = (kth + slack[start : start + SELECT_ROWS]).astype(np.float32)
            limit = np.nextafter(limit, np.float32(np.inf))
            # flat indices: ten times faster than np.nonzero's (row, column) pairs
            row, column = np.divmod(np.flatnonzero(block <= limit[:, None]), block.shape[1])
            rows.append(row + start)
            candidates.append(column)
        del ranking
        rows, candidates = np.concatenate(rows), np.concatenate(candidates)
        queries = queries.astype(np.float64)
        squared = np.empty(len(rows))
        for start in range(0, len(rows), EXACT_BATCH):
            batch = slice(start, start + EXACT_BATCH)
            # float64 differences of float32 values are exact (short of magnitudes 2^29
            # apart): 0 for a query equal to a training frame, and one value for training
            # frames equal to each other
            difference = self.features_[candidates[batch]].astype(np.float64)
            difference -= queries[rows[batch]]
            squared[batch] = np.square(difference, out=difference).sum(axis=1)
        # by query, then distance, then training row; each query's first k are its neighbours
        order = np.lexsort((candidates, squared, rows))
        first = np.searchsorted(rows[order], np.arange(len(queries)))
        nearest = order[first[:, None] + np.arange(k)]
        return np.sqrt(squared[nearest]), candidates[nearest]

    def _rounding(self, queries: np.ndarray) -> np.ndarray:
        """(n_queries,) float64 bound on how far any computed ranking value of a query is from
        its true value.

        A float32 dot product of length f is off by at most ``gamma |q| |x|`` with
        ``gamma = f u / (1 - f u)``, ``u = 2^-24``, whatever order BLAS adds in (times 2 for
        ``-2 q``); the stored ``|x|^2`` is off by at most ``u |x|^2`` and the final addition
        by ``u`` of its result. The largest ``|x|`` of the training frames stands for every x.
        """
        unit = 2.0**-24
        gamma = self.n_features_in_ * unit / (1 - self.n_features_in_ * unit)
        longest = np.sqrt(float(self.squared_norms_.max(initial=0.0)))
        lengths = np.sqrt(np.einsum("ij,ij->i", queries, queries, dtype=np.float64))
        # a third u of |x|^2 for the float64 sums behind |x|^2 and |q|
        return 2 * (gamma + unit) * lengths * longest + 3 * unit * longest**2

    def _vote_weights(self, distances: np.ndarray) -> np.ndarray:
        """(n_queries, n_neighbors) float64 weight of each neighbour's vote."""
        if self.weights == "uniform":
            return np.ones(distances.shape)
        with np.errstate(divide="ignore"):
            weights = 1.0 / distances
        # frames at distance 0 take the whole vote, equally (as scikit-learn does)
        coincident = np.isinf(weights)
        rows = coincident.any(axis=1)
        weights[rows] = coincident[rows]
        return weights

    def predict_proba(self, X):
        """Vote shares of each class.

        Parameters
        ----------
        X : (n_queries, n_features) features.

        Returns
        -------
        (n_queries, n_classes) float64, columns in ``classes_`` order; for several outputs a
        list of one such array per output.
        """
        distances, indices = self.kneighbors(X)
        weights = self._vote_weights(distances).ravel()
        n_queries = len(indices)
        probabilities = []
        for column, classes in enumerate(self._output_classes()):
            n_classes = len(classes)
            # one bin per (query, class); bincount adds each query's votes in neighbour order
            bins = self.labels_[indices, column] + n_classes * np.arange(n_queries)[:, None]
            votes = np.bincount(bins.ravel(), weights, minlength=n_queries * n_classes)
            votes = votes.reshape(n_queries, n_classes)
            votes /= votes.sum(axis=1, keepdims=True)
            probabilities.append(votes)
        return probabilities if self.outputs_2d_ else probabilities[0]

    def predict(self, X) -> np.ndarray:
        """(n_queries,) or (n_queries, n_outputs) class with the largest vote share, the first
        in ``classes_`` order on a tie."""
        probabilities = self.predict_proba(X)
        if not self.outputs_2d_:
            return self.classes_[np.argmax(probabilities, axis=1)]
        return np.column_stack(
            [
                classes[np.argmax(shares, axis=1)]
                for classes, shares in zip(self.classes_, probabilities, strict=True)
            ]
        )

    def _output_classes(self) -> list[np.ndarray]:
        return self.classes_ if self.outputs_2d_ else [self.classes_]


def _matrix(X, what: str) -> np.ndarray:
    """``X`` as an array, not copied; ValueError if it is not 2-D."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{what} must be (n_frames, n_features), got shape {X.shape}")
    return X


def _check_finite(X: np.ndarray, runs: list[slice], what: str) -> None:
    """ValueError naming the rows of ``X`` (in ``runs``) that hold NaN or infinity: a NaN would
    never compare as near, and would silently leave a query without neighbours."""
    bad = [
        run.start + np.flatnonzero(~np.isfinite(X[run]).all(axis=1))
        for run in runs
        if not np.isfinite(X[run]).all()
    ]
    if bad:
        rows = np.concatenate(bad)
        raise ValueError(
            f"{what}: {len(rows)} rows hold NaN or infinity (first: row {rows[0]}); "
            "KNN needs finite features"
        )
