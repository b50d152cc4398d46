"""Standardisation statistics of many frames, and reading a subset of them, without a copy of the
frames."""

from __future__ import annotations

import numpy as np

# Frames per pass: a 14 MB float64 chunk at 864 features.
ROWS_AT_ONCE = 2048


def row_runs(n: int, rows: np.ndarray | None = None, size: int | None = None) -> list[slice]:
    """Slices of an array's rows that cover ``rows`` in their order, each a run of consecutive
    rows (so ``X[run]`` is a view, never a gathered copy), cut to at most ``size`` rows.

    A fold's or an inner split's training frames are whole subjects, each a run of rows of the
    table, so they are a few dozen runs: a model reads them in place instead of ``X[rows]``.

    Parameters
    ----------
    n : number of rows of the array; with ``rows=None`` every row, in order.
    rows : optional (n_rows,) int row indices (any order; a run is consecutive ascending rows).
    size : most rows per slice, or None for whole runs.
    """
    if rows is None:
        starts, stops = np.array([0]), np.array([n])
    else:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return []
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = rows[np.r_[0, breaks]]
        stops = rows[np.r_[breaks - 1, len(rows) - 1]] + 1
    runs = []
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        step = stop - start if size is None else size
        runs.extend(slice(first, min(first + step, stop)) for first in range(start, stop, step))
    return runs


def placed(runs: list[slice]):
    """``(run, into)`` for each run of :func:`row_runs`: the run's rows of the array, and the rows
    they take in an array gathered from the runs in order."""
    position = 0
    for run in runs:
        into = slice(position, position + run.stop - run.start)
        position = into.stop
        yield run, into


def standardise_into(X: np.ndarray, out: np.ndarray, centre=None, spread=None) -> np.ndarray:
    """``X`` written into the float32 array ``out`` of its shape, standardised when ``centre``
    and ``spread`` (:func:`column_statistics`) are given: the difference in float64 rounded to
    float32, then the quotient (``StandardScaler``'s centring of float32 frames may round 1e-7
    of the raw values apart)."""
    if centre is None:
        out[...] = X
    else:
        np.divide((X - centre).astype(np.float32), spread, out=out, casting="same_kind")
    return out


def gather_rows(X: np.ndarray, rows, out: np.ndarray, centre=None, spread=None) -> np.ndarray:
    """``X[rows]`` (every row for None) read run by run into ``out`` (n_rows, n_features)
    float32, standardised as :func:`standardise_into` does; no copy of the rows besides."""
    for run, into in placed(row_runs(len(X), rows, ROWS_AT_ONCE)):
        standardise_into(X[run], out[into], centre, spread)
    return out


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
    chunks = row_runs(len(X), rows, ROWS_AT_ONCE)
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
