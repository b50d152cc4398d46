"""A fold of a dataset table: its training frames (every fold but one) and its test frames,
split in memory or read in two parts from the table."""

from __future__ import annotations

import pandas as pd

from auflow.features.normalise import check_normalisation, subtract_subject_medians
from auflow.io.dataset import KEY
from auflow.io.parquet import read_table, read_table_parts


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
    check_normalisation(method)
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
