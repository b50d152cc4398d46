"""The inputs a sequence model stacks on: a per-frame detector's scores, and a small projection
of the features, per frame.

A stacked model learns from the per-frame detector's view of each frame (one score per AU)
instead of hundreds of features. What it learns from must look like what it will be given:

- a **training** frame's scores come from the per-frame detector's inner model that did not
  learn from that frame's subject (:meth:`auflow.models.detector.AUDetector.fit_out_of_split`,
  the same inner subject-exclusive splits that tune its thresholds), never from a model fitted
  on the frame itself, whose scores would be too good to learn from;
- a **test** frame's scores (and at prediction, a new frame's) come from the per-frame detector
  fitted on all training subjects, which never saw the test subjects either.

The projection is a principal component analysis of the standardised features, fitted on
training frames only (no labels), which the sequence model may take beside the scores
(``inputs="scores+projection"``).

A stack table has the keys ``subject``, ``frame``, then ``score_AU01`` ... (raw scores, before
any smoothing) and ``pc01`` ... (the projection); :class:`Stack` turns features into those
columns for new frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from auflow.io.dataset import KEY
from auflow.io.labels import au_column
from auflow.models.scaling import column_statistics

SCORE_PREFIX = "score_"
PROJECTION_PREFIX = "pc"
# Components of the projection written beside the scores; a sequence model takes all or none.
PROJECTION_COMPONENTS = 8
# The projection is fitted on at most this many training frames, evenly spaced: enough for 8
# components of a few hundred features, and a DISFA fold's 87k frames would cost a copy of them.
PROJECTION_ROWS = 20_000
INPUTS = ("scores", "scores+projection", "features")
# A sequence model's inputs, and the per-frame model it stacks on, unless its params say else.
DEFAULT_INPUTS = "scores"
DEFAULT_BASE = "svm_linear"


def score_columns(aus) -> list[str]:
    return [f"{SCORE_PREFIX}{au_column(au)}" for au in aus]


def projection_columns(n: int = PROJECTION_COMPONENTS) -> list[str]:
    return [f"{PROJECTION_PREFIX}{k + 1:02d}" for k in range(n)]


@dataclass
class Stack:
    """How features become a stack table's columns for frames no model learned from.

    Attributes
    ----------
    base : the fitted per-frame detector (:class:`auflow.models.detector.AUDetector`).
    mean, scale : (n_features,) float32 standardisation of the projection's training frames.
    components : (n_components, n_features) float32 principal axes of the standardised features.
    """

    base: object
    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray

    def columns(self, X: np.ndarray) -> np.ndarray:
        """(n, n_aus + n_components) float32: scores, then projection, of features ``X``."""
        return np.hstack(
            [self.base.raw_scores(X).astype(np.float32), self.project(X)], dtype=np.float32
        )

    def project(self, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """(n, n_components) float32 projection of ``X``, standardised in chunks (no copy)."""
        X = np.asarray(X, dtype=np.float32)
        out = np.empty((len(X), len(self.components)), np.float32)
        for start in range(0, len(X), chunk):
            part = (X[start : start + chunk] - self.mean) / self.scale
            out[start : start + chunk] = part @ self.components.T
        return out

    def state(self) -> dict:
        """The projection as JSON-able lists (the base is saved on its own)."""
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "components": self.components.tolist(),
        }

    @classmethod
    def from_state(cls, base, state: dict) -> Stack:
        return cls(
            base,
            np.asarray(state["mean"], np.float32),
            np.asarray(state["scale"], np.float32),
            np.asarray(state["components"], np.float32),
        )


def fit_projection(X: np.ndarray, n_components: int = PROJECTION_COMPONENTS, seed: int = 0):
    """(mean, scale, components) of a PCA of the standardised training features ``X``
    (n, n_features), fitted on at most :data:`PROJECTION_ROWS` evenly spaced rows."""
    from sklearn.decomposition import PCA

    X = np.asarray(X, dtype=np.float32)
    rows = np.unique(np.linspace(0, len(X) - 1, min(len(X), PROJECTION_ROWS)).astype(np.int64))
    mean, scale = column_statistics(X, rows)
    mean, scale = mean.astype(np.float32), scale.astype(np.float32)
    sample = (X[rows] - mean) / scale
    n_components = min(n_components, *sample.shape)
    pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed).fit(sample)
    components = np.zeros((PROJECTION_COMPONENTS, X.shape[1]), np.float32)
    components[:n_components] = pca.components_
    return mean, scale, components


def stack_frames(base, X, Y, groups, seed: int = 0) -> tuple[np.ndarray, Stack]:
    """Fit the per-frame detector ``base`` (unfitted) on training frames and stack them.

    Returns
    -------
    (inputs, stack): (n, n_aus + n_components) float32 stack columns of the training frames (their
    out-of-split scores, and the projection), and the :class:`Stack` that makes the same columns
    for frames no model learned from.
    """
    scores = base.fit_out_of_split(X, Y, groups)
    stack = Stack(base, *fit_projection(X, seed=seed))
    return np.hstack([scores.astype(np.float32), stack.project(X)], dtype=np.float32), stack


def stack_table(keys: pd.DataFrame, columns: np.ndarray, aus) -> pd.DataFrame:
    """A stack table: ``keys`` (``subject``, ``frame``) and the stack ``columns`` named."""
    table = keys[KEY].reset_index(drop=True)
    names = score_columns(aus) + projection_columns(columns.shape[1] - len(aus))
    return pd.concat([table, pd.DataFrame(columns, columns=names)], axis=1)


def fit_stacked(detector, train: pd.DataFrame, test: pd.DataFrame | None, seed: int = 0):
    """Fit the per-frame ``detector`` on the frames of ``train`` and write down its stack.

    Returns
    -------
    (table, stack): the stack table of every frame of ``train`` (out-of-split scores) and of
    ``test`` (scores of the detector fitted on ``train``), sorted by (subject, frame); and the
    :class:`Stack`. ``detector`` is fitted exactly as :meth:`fit` fits it.
    """
    from auflow.models.train import feature_columns, training_arrays

    X, Y, groups = training_arrays(train, detector.aus)
    columns, stack = stack_frames(detector, X, Y, groups, seed)
    parts = [stack_table(train, columns, detector.aus)]
    if test is not None:
        features = test[feature_columns(test)].to_numpy(np.float32)
        parts.append(stack_table(test, stack.columns(features), detector.aus))
    table = pd.concat(parts, ignore_index=True).sort_values(KEY, kind="stable")
    return table.reset_index(drop=True), stack


def stack_metadata(stack: Stack, base) -> dict:
    """What a stack table's metadata records: the projection, and the per-frame detector's cuts
    (thresholds, smoothing widths, whether tuned) on its scores, which a stacked model keeps for
    the AUs it leaves to the per-frame detector."""
    return {
        "projection": stack.state(),
        "cuts": {
            "thresholds": base.thresholds_.tolist(),
            "smoothing": base.smoothing_.tolist(),
            "tuned": base.tuned_.tolist(),
        },
    }


def base_cuts(stack_path) -> dict | None:
    """The per-frame detector's cuts recorded with a stack table (None: no stack table)."""
    if not stack_path:
        return None
    from auflow.io.parquet import read_metadata

    return read_metadata(stack_path)["cuts"]


def stacked_fit(detector, stack_path) -> dict:
    """The fit parameters of a detector fitted on the stack table ``stack_path``: the per-frame
    detector's cuts (:func:`base_cuts`); none for a model of the features."""
    return {"base_cuts": base_cuts(stack_path)} if stack_path else {}


def read_stacked(stack_path, dataset_path) -> pd.DataFrame:
    """A stack table joined with the labels of the dataset table it was made from: what a
    stacked sequence model is fitted on and scores (its features are the stack columns)."""
    from auflow.io.parquet import read_table
    from auflow.models.train import load_labels

    stacked = read_table(stack_path)
    labels = load_labels(dataset_path)
    table = stacked.merge(labels, on=KEY, how="left", validate="one_to_one")
    au = [c for c in labels.columns if c not in KEY]
    if table[au].isna().any().any():
        raise ValueError(f"{stack_path}: frames without labels in {dataset_path}; re-run")
    table[au] = table[au].astype(labels[au].dtypes)
    return table


def read_stacked_fold(stack_path, dataset_path, folds: pd.DataFrame, fold: int):
    """(train, test) of :func:`read_stacked` for ``fold``, as
    :func:`auflow.models.train.split_fold` splits a dataset table."""
    from auflow.models.train import split_fold

    return split_fold(read_stacked(stack_path, dataset_path), folds, fold)


def stack_of(stack_path, base) -> Stack:
    """The :class:`Stack` a stack table was made with: its projection (the table's metadata)
    and the fitted per-frame detector ``base`` that made its scores."""
    from auflow.io.parquet import read_metadata

    return Stack.from_state(base, read_metadata(stack_path)["projection"])


def load_model_fold(
    dataset_path, stack_path, folds: pd.DataFrame, fold: int, normalise: str, with_test: bool = True
):
    """(train, test) of ``fold`` as a model's job reads them: the stack table's columns with the
    dataset's labels for a stacked model (``stack_path`` given), else the dataset table's
    features normalised (:func:`auflow.models.train.load_fold`). ``with_test=False``: (train,
    None)."""
    from auflow.models.train import load_fold

    if not stack_path:
        return load_fold(dataset_path, folds, fold, normalise, with_test)
    train, test = read_stacked_fold(stack_path, dataset_path, folds, fold)
    return train, test if with_test else None
