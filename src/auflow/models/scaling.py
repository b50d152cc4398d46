"""Standardisation statistics of many frames, without a copy of the frames."""

from __future__ import annotations

import numpy as np

# Frames per pass: a 14 MB float64 chunk at 864 features.
ROWS_AT_ONCE = 2048


def column_statistics(X: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Mean and standard deviation (``ddof=0``, as ``StandardScaler``) of each column of ``X``.

    Parameters
    ----------
    X : (n, n_features) float32, read a chunk of rows at a time, never copied whole.
    rows : optional (n_rows,) int row indices, at least one: the statistics of those rows only.

    Returns
    -------
    mean, scale : (n_features,) float64, summed in float64; a column's scale is 1 where its
        deviation is 0.
    """
    n = len(X) if rows is None else len(rows)
    chunks = [
        slice(start, start + ROWS_AT_ONCE) if rows is None else rows[start : start + ROWS_AT_ONCE]
        for start in range(0, n, ROWS_AT_ONCE)
    ]
    total = np.zeros(X.shape[1])
    for chunk in chunks:
        total += X[chunk].sum(axis=0, dtype=np.float64)
    mean = total / n
    squares = np.zeros(X.shape[1])
    for chunk in chunks:
        deviation = X[chunk] - mean
        squares += np.einsum("ij,ij->j", deviation, deviation)
    scale = np.sqrt(squares / n)
    return mean, np.where(scale > 0, scale, 1.0)
