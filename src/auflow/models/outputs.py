"""Labels of the models that fit several binary outputs (AUs) at once: one check, one weighting."""

from __future__ import annotations

import numpy as np


def binary_outputs(X, y, model: str, rows=None) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(X, labels, single)``: ``X`` as float32 (n, n_features), ``labels`` (n, n_outputs) of
    0/1, and whether ``y`` was one output (n,) rather than a matrix (n, n_outputs). With
    ``rows`` (indices of the rows of ``X`` fitted on), ``y`` labels those rows."""
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    labels = y.reshape(len(y), -1)
    n = len(X) if rows is None else len(rows)
    if len(labels) != n:
        raise ValueError(f"X has {n} rows to fit on but y has {len(labels)}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{model} takes 0/1 labels")
    return X, labels, y.ndim == 1


def class_weights(class_weight, labels: np.ndarray) -> np.ndarray:
    """(2, n_outputs) float64 weight of class 0 and of class 1 in each output, with
    scikit-learn's meaning of ``class_weight``: None, "balanced" (n / (2 * the class's count)) or
    {0: w0, 1: w1}. A class absent from an output weighs nothing there."""
    n_outputs = labels.shape[1]
    if class_weight is None:
        return np.ones((2, n_outputs))
    if isinstance(class_weight, str) and class_weight == "balanced":
        n = len(labels)
        positives = labels.sum(axis=0, dtype=np.int64)
        weight_1 = np.where(positives > 0, n / (2 * np.maximum(positives, 1)), 0.0)
        weight_0 = np.where(positives < n, n / (2 * np.maximum(n - positives, 1)), 0.0)
        return np.vstack([weight_0, weight_1])
    if isinstance(class_weight, dict):
        unknown = set(class_weight) - {0, 1}
        if unknown:
            raise ValueError(f"class_weight has classes {sorted(unknown)} not in (0, 1)")
        weights = [float(class_weight.get(0, 1.0)), float(class_weight.get(1, 1.0))]
        return np.repeat(np.array(weights)[:, None], n_outputs, axis=1)
    raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {class_weight!r}")
