"""Feature normalisation: ``none``, or each subject's median feature vector subtracted
(``subject_median``, as OpenFace does), the same at training and at prediction."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from auflow.io.dataset import feature_columns
from auflow.io.parquet import with_float_block

NORMALISATIONS = ("none", "subject_median")


def normalise_per_subject(dataset: pd.DataFrame, by: str = "subject") -> pd.DataFrame:
    """Subtract each subject's median feature vector (as OpenFace does).

    Uses no labels, only the subject's own frames, so it is the same whether the subject is in
    training or test: it removes identity (face shape, skin, lighting) from the features. At
    prediction the group is the input (a recording), which must then be read whole first.
    """
    columns = feature_columns(dataset)
    values = dataset[columns].to_numpy(np.float32)  # a view of the block read_table made
    normalised = np.empty((len(columns), len(dataset)), np.float32).T  # pandas' block layout
    subtract_subject_medians(values, dataset[by], out=normalised)
    rest = dataset.drop(columns=columns)
    return with_float_block(normalised, columns, rest, dataset.columns)


def subtract_subject_medians(values: np.ndarray, subjects, out=None) -> np.ndarray:
    """(n, n_columns) float32 ``values`` less the median of each column over each subject's rows
    (missing values skipped, as pandas does). ``subjects``: (n,) the subject of each row;
    ``out``: an array of ``values``' shape to write into (and return), else a new one."""
    normalised = np.empty_like(values) if out is None else out
    codes, _ = pd.factorize(np.asarray(subjects))
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        normalised[rows] = values[rows] - _column_medians(values[rows])
    return normalised


def _column_medians(values: np.ndarray) -> np.ndarray:
    """(n_columns,) float64 median of each column of a 2-D float32 array: the middle value, or
    the mean of the two middle ones (exact in float64, as pandas computes it); missing values
    are skipped (a column of them only has a missing median)."""
    if np.isnan(values).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column of missing values only
            return np.nanmedian(values.astype(np.float64), axis=0)
    n = len(values)
    by_column = np.ascontiguousarray(values.T)  # sorting along rows of memory is fast
    low, high = (n - 1) // 2, n // 2
    # numpy's vectorised sort gives the same middle values 4-10x faster than np.partition
    # with two kth (120 to 4,845 frames of 864 features: 0.12 vs 1.4 ms, 14 vs 52 ms)
    middle = np.sort(by_column, axis=1)
    return (middle[:, low].astype(np.float64) + middle[:, high]) / 2


def normalise(dataset: pd.DataFrame, method: str, by: str = "subject") -> pd.DataFrame:
    """Apply the configured feature normalisation (``none`` or ``subject_median``)."""
    check_normalisation(method)
    return normalise_per_subject(dataset, by) if method == "subject_median" else dataset


def check_normalisation(method: str) -> None:
    """ValueError naming the choices when ``method`` is not a normalisation."""
    if method not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {method!r}; use 'none' or 'subject_median'")
