"""Cross-validation folds as data: split a dataset, fit a detector, predict frames.

Fitting and predicting are separate steps, so that a rule can fit on the training subjects of a
fold, keep the model, and predict the test subjects once; and the final refit uses the same fit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from auflow.aus import au_column
from auflow.io.dataset import KEY, au_columns
from auflow.io.parquet import read_table, read_table_parts, with_float_block


def feature_columns(dataset: pd.DataFrame) -> list[str]:
    """Every column of a dataset table that is neither a key, a label nor the fold."""
    labels = set(au_columns(dataset))
    return [c for c in dataset.columns if c not in KEY and c not in labels and c != "fold"]


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
    by_column = np.ascontiguousarray(values.T)  # partitioning along rows of memory is fast
    low, high = (n - 1) // 2, n // 2
    middle = np.partition(by_column, [low, high], axis=1)
    return (middle[:, low].astype(np.float64) + middle[:, high]) / 2


def normalise(dataset: pd.DataFrame, method: str, by: str = "subject") -> pd.DataFrame:
    """Apply the configured feature normalisation (``none`` or ``subject_median``)."""
    _check_normalisation(method)
    return normalise_per_subject(dataset, by) if method == "subject_median" else dataset


def _check_normalisation(method: str) -> None:
    if method not in ("none", "subject_median"):
        raise ValueError(f"unknown normalisation {method!r}; use 'none' or 'subject_median'")


def split_fold(
    dataset: pd.DataFrame, folds: pd.DataFrame, fold: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training frames (every fold but ``fold``) and the test frames of ``fold``.

    Parameters
    ----------
    dataset : ``subject``, ``frame``, ``AU01``... intensities, then features (one row a frame).
    folds : ``subject``, ``frame``, ``fold``: the fold in which each frame is test.

    Returns
    -------
    (train, test), both sorted by (subject, frame) like ``dataset``, with a ``fold`` column.
    """
    is_test, fold_numbers = _test_rows(dataset, folds, fold)
    parts = []
    for rows in (~is_test, is_test):
        part = dataset.loc[rows].reset_index(drop=True)
        part["fold"] = fold_numbers[rows]
        parts.append(part)
    return parts[0], parts[1]


def load_fold(
    path, folds: pd.DataFrame, fold: int, method: str = "none", with_test: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``split_fold(load_dataset(path, method), folds, fold)``, the same frames, without holding
    the whole table's features beside the two parts: each slice of feature columns is read,
    normalised and sent to its part in turn (:func:`auflow.io.parquet.read_table_parts`). For a
    fold of DISFA's HOG table that is 0.9 GB less at its peak. ``with_test=False`` reads the
    training frames only (a study's trials see nothing else): ``(train, None)``."""
    _check_normalisation(method)
    keys = read_table(path, columns=KEY)
    is_test, fold_numbers = _test_rows(keys, folds, fold)

    def normalised(values, rest):
        return subtract_subject_medians(values, rest["subject"]) if method != "none" else values

    masks = [~is_test, is_test] if with_test else [~is_test]
    parts = read_table_parts(path, masks, normalised)
    for part, rows in zip(parts, masks, strict=True):
        part["fold"] = fold_numbers[rows]
    return parts[0], parts[1] if with_test else None


def training_frames(dataset: pd.DataFrame, folds: pd.DataFrame, fold: int) -> pd.DataFrame:
    """The frames of ``dataset`` that are not test frames of ``fold``, without a ``fold`` column.

    ``dataset`` may be the whole table, or only those frames already (:func:`load_fold`'s
    training part), which are then returned as they are, not copied.
    """
    is_test, _ = _test_rows(dataset, folds, fold, require_test=False)
    frames = dataset.loc[~is_test].reset_index(drop=True) if is_test.any() else dataset
    return frames.drop(columns="fold", errors="ignore")


def _test_rows(keys: pd.DataFrame, folds: pd.DataFrame, fold: int, require_test: bool = True):
    """(is_test, fold of each row) of a table's ``keys`` (subject, frame) under ``folds``."""
    # the keys alone are merged: a merge of the whole table would copy every feature once more
    keys = keys[KEY].merge(folds[[*KEY, "fold"]], on=KEY, how="left", validate="one_to_one")
    if keys["fold"].isna().any():
        missing = keys.loc[keys["fold"].isna(), KEY].iloc[0].tolist()
        raise ValueError(f"frame {missing} has no fold: the folds table is out of date")
    is_test = (keys["fold"] == fold).to_numpy()
    if require_test and not is_test.any():
        raise ValueError(f"fold {fold} has no test frames")
    return is_test, keys["fold"].to_numpy(folds["fold"].dtype)


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
