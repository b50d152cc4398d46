"""Training and predicting one cross-validation fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from auflow.evaluation.splits import inner_group_splits
from auflow.io.dataset import KEY, au_columns
from auflow.models.classic import fit_predict_au


def feature_columns(dataset: pd.DataFrame) -> list[str]:
    """Every column of a dataset table that is neither a key nor a label."""
    labels = set(au_columns(dataset))
    return [c for c in dataset.columns if c not in KEY and c not in labels]


def normalise_per_subject(dataset: pd.DataFrame) -> pd.DataFrame:
    """Subtract each subject's median feature vector (as OpenFace does).

    Uses no labels, only the subject's own frames, so it is the same whether the subject is in
    training or test: it removes identity (face shape, skin, lighting) from the features.
    """
    columns = feature_columns(dataset)
    normalised = dataset.copy()
    medians = dataset.groupby("subject")[columns].transform("median")
    normalised[columns] = (dataset[columns] - medians).astype(np.float32)
    return normalised


def predict_fold(
    dataset: pd.DataFrame,
    folds: pd.DataFrame,
    fold: int,
    pipeline,
    target: str = "occurrence",
    threshold: int = 2,
    n_jobs: int = 1,
    tune_threshold: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """Fit one detector per AU on the frames outside ``fold`` and predict the frames in it.

    With ``tune_threshold``, each detector's decision threshold is chosen for F1 by a grouped
    inner split of the training subjects (falling back to the model's own threshold for an AU
    whose inner splits lack positives).

    Parameters
    ----------
    dataset : ``subject``, ``frame``, ``AU01``... intensities, then features (one row a frame).
    folds : ``subject``, ``frame``, ``fold``: the fold in which each frame is test.

    Returns
    -------
    ``subject``, ``frame``, ``fold``, then per AU ``AU01_p`` (score), ``AU01_c`` (0/1), and
    ``AU01_r`` (predicted intensity) when ``target`` is ``"intensity"``; one row per test frame.
    """
    table = dataset.merge(folds[[*KEY, "fold"]], on=KEY, how="left", validate="one_to_one")
    if table["fold"].isna().any():
        missing = table.loc[table["fold"].isna(), KEY].iloc[0].tolist()
        raise ValueError(f"frame {missing} has no fold: the folds table is out of date")
    is_test = (table["fold"] == fold).to_numpy()
    if not is_test.any():
        raise ValueError(f"fold {fold} has no test frames")
    columns = feature_columns(dataset)
    features = table[columns].to_numpy(np.float32)
    aus = au_columns(dataset)
    inner = None
    if tune_threshold and target == "occurrence":
        train_subjects = table.loc[~is_test, "subject"].to_numpy()
        if len(np.unique(train_subjects)) >= 2:
            inner = inner_group_splits(train_subjects, n_splits=3, seed=seed)
    # Threads: the learners release the GIL in their numeric cores, and a process pool would
    # cost more to start and to copy the features into than a small fold takes to fit.
    results = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(fit_predict_au)(
            pipeline,
            features[~is_test],
            table.loc[~is_test, au].to_numpy(),
            features[is_test],
            target,
            threshold,
            inner,
        )
        for au in aus
    )
    predictions = table.loc[is_test, KEY].reset_index(drop=True)
    predictions["fold"] = np.int16(fold)
    for au, result in zip(aus, results, strict=True):
        predictions[f"{au}_p"] = result["p"].astype(np.float32)
        predictions[f"{au}_c"] = result["c"].astype(np.int8)
        if "r" in result:
            predictions[f"{au}_r"] = result["r"].astype(np.float32)
    return predictions


def load_dataset(path, normalise: str = "none") -> pd.DataFrame:
    """Read a dataset table and apply the configured feature normalisation."""
    from auflow.io.parquet import read_table

    dataset = read_table(path)
    if normalise == "subject_median":
        return normalise_per_subject(dataset)
    if normalise != "none":
        raise ValueError(f"unknown normalisation {normalise!r}; use 'none' or 'subject_median'")
    return dataset
