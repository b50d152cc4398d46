"""A detector and the frames of a dataset table: fit on some, predict others.

Fitting and predicting are separate steps, so that a rule can fit on the training subjects of a
fold, keep the model, and predict the test subjects once; and the final refit uses the same fit.
Folds are split by :mod:`auflow.evaluation.folds`, features normalised by
:mod:`auflow.features.normalise`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auflow.aus import au_column

# load_fold and subtract_subject_medians: what models.stacking and models.sequence import here
from auflow.evaluation.folds import load_fold, split_fold  # noqa: F401
from auflow.features.normalise import normalise, subtract_subject_medians  # noqa: F401
from auflow.io.dataset import KEY, au_columns, feature_columns
from auflow.io.parquet import read_table


def training_arrays(table: pd.DataFrame, aus) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, Y, groups)`` for :meth:`AUDetector.fit`: float32 features, int intensities in
    ``aus`` order, subjects."""
    X = table[feature_columns(table)].to_numpy(np.float32)
    Y = table[[au_column(au) for au in aus]].to_numpy()
    return X, Y, table["subject"].to_numpy()


def frame_keywords(detector, table: pd.DataFrame) -> dict:
    """``{"frames": ...}`` for a detector that declares ``needs_frames`` (a sequence model builds
    its windows from the frame numbers), else nothing: the classic detectors see rows only."""
    if getattr(detector, "needs_frames", False):
        return {"frames": table["frame"].to_numpy()}
    return {}


def fit_detector(detector, train: pd.DataFrame, **fit_params):
    """Fit ``detector`` (unfitted :class:`AUDetector` or sequence detector) on the frames of
    ``train``: the only place where the rules hand frames to a fit. ``fit_params`` go to its
    ``fit`` (e.g. a sequence detector's ``epoch_callback``)."""
    keywords = frame_keywords(detector, train)
    return detector.fit(*training_arrays(train, detector.aus), **keywords, **fit_params)


def predict_frames(detector, table: pd.DataFrame, fold: int | None = None) -> pd.DataFrame:
    """A fitted detector's predictions for every frame of ``table``.

    Returns
    -------
    ``subject``, ``frame``, (``fold`` when given), then per AU ``AU01_p`` (float32 score or
    probability), ``AU01_c`` (int8 0/1), and ``AU01_r`` (float32 predicted intensity) for the
    intensity target; one row per frame, in ``table``'s order.
    """
    X = table[feature_columns(table)].to_numpy(np.float32)
    groups = table["subject"].to_numpy().astype(str)
    keywords = frame_keywords(detector, table)
    scores = detector.decision_function(X, groups, **keywords)
    if detector.target == "occurrence":
        # what predict returns, without scoring the frames twice (a network pass for the LSTM)
        occurrence = (scores >= detector.thresholds_).astype(np.int8)
    else:
        occurrence = detector.predict(X, groups, **keywords)
    intensity = None
    if detector.target == "intensity":
        # a classic detector's intensity is per frame; a sequence detector's needs the windows
        intensity = (
            detector.predict_intensity(X, groups, **keywords)
            if keywords
            else detector.predict_intensity(X)
        )
    predictions = table[KEY].reset_index(drop=True)
    if fold is not None:
        predictions["fold"] = np.int16(fold)
    for column, au in enumerate(detector.aus):
        name = au_column(au)
        predictions[f"{name}_p"] = scores[:, column].astype(np.float32)
        predictions[f"{name}_c"] = occurrence[:, column].astype(np.int8)
        if intensity is not None:
            predictions[f"{name}_r"] = intensity[:, column].astype(np.float32)
    return predictions


def predict_fold(dataset: pd.DataFrame, folds: pd.DataFrame, fold: int, detector) -> pd.DataFrame:
    """Fit ``detector`` on the frames outside ``fold`` and predict the frames in it.

    Returns
    -------
    The predictions of :func:`predict_frames` for the test frames, with a ``fold`` column.
    """
    train, test = split_fold(dataset, folds, fold)
    fit_detector(detector, train)
    return predict_frames(detector, test, fold)


def load_labels(path) -> pd.DataFrame:
    """The keys and AU intensity columns of a dataset table, without its features."""
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    return read_table(path, columns=[*KEY, *au_columns(pd.DataFrame(columns=names))])


def load_dataset(path, method: str = "none") -> pd.DataFrame:
    """Read a dataset table and apply the configured feature normalisation."""
    return normalise(read_table(path), method)
