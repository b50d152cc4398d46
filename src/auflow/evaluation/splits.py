"""Cross-validation folds: which frames are test frames in which fold.

Every split except ``random_frames`` is subject-exclusive: all frames of a subject fall in the same
fold, so no test subject is ever seen in training. That is the field's protocol for AU detection;
a frame-level split lets a detector recognise the *person* (and near-duplicate neighbouring frames)
instead of the facial action, which inflates every score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# The subject-exclusive 3-fold partition of DISFA shipped with the data-list scripts of JAA-Net and
# ME-GraphAU and reused by most later work, so results are comparable with published tables.
DISFA3_FOLDS: tuple[tuple[str, ...], ...] = (
    ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016"),
    ("SN013", "SN018", "SN011", "SN028", "SN012", "SN006", "SN031", "SN021", "SN024"),
    ("SN003", "SN029", "SN023", "SN025", "SN008", "SN005", "SN007", "SN017", "SN004"),
)
SPLITS = ("group_kfold", "disfa3", "leave_one_subject_out", "random_frames")
LEAKY_SPLITS = frozenset({"random_frames"})
# A cross dataset's metric rows (config ``cross_datasets``, :mod:`auflow.cross`) have the split
# ``cross:<name>``: scored by the final models as one fold, beside the main dataset's splits.
CROSS_PREFIX = "cross:"


def cross_split(name: str) -> str:
    """The ``split`` of a cross dataset's metric rows: ``cross:<name>``."""
    return f"{CROSS_PREFIX}{name}"


def is_cross_split(split) -> bool:
    """Whether a ``split`` value names a cross dataset rather than a split of the main one."""
    return str(split).startswith(CROSS_PREFIX)


def cross_name(split: str) -> str:
    """The cross dataset's name of a ``cross:<name>`` split."""
    return str(split)[len(CROSS_PREFIX) :]


def within_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a metrics table (``split`` column) that score the main dataset."""
    return table[~table["split"].map(is_cross_split)]


def _check_split(split: str, allow_leaky: bool = True) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known splits: {', '.join(SPLITS)}")
    if split in LEAKY_SPLITS and not allow_leaky:
        raise ValueError(
            f"split {split!r} puts frames of the same subject (and neighbouring, near-identical "
            "frames) on both sides of a fold, so test scores measure recognising the person, not "
            "the action unit. Use a subject-exclusive split (group_kfold, disfa3, "
            "leave_one_subject_out), or pass allow_leaky=True to reproduce the leaky result on "
            "purpose."
        )


def _group_kfold_of_subjects(subjects: list[str], k: int, seed: int) -> dict[str, int]:
    """Fold of each subject: the sorted subjects shuffled with ``seed``, dealt round-robin.

    Sorting first makes the result independent of the order subjects were found in; dealing
    round-robin keeps fold sizes within one subject of each other.
    """
    unique = sorted(set(subjects))
    if k < 2:
        raise ValueError(f"group_kfold needs k >= 2 folds, got k={k}")
    if k > len(unique):
        raise ValueError(
            f"group_kfold with k={k} folds needs at least {k} subjects, got {len(unique)}"
        )
    order = np.random.default_rng(seed).permutation(len(unique))
    return {unique[i]: position % k for position, i in enumerate(order)}


def _disfa3_of_subjects(subjects: list[str]) -> dict[str, int]:
    """Fold of each subject in the standard DISFA partition; unknown subjects are an error."""
    fold_of = {s: fold for fold, members in enumerate(DISFA3_FOLDS) for s in members}
    unknown = sorted(set(subjects) - fold_of.keys())
    if unknown:
        raise ValueError(
            f"split 'disfa3' only knows the 27 DISFA subjects; not in any of its folds: "
            f"{', '.join(unknown)}. Use split 'group_kfold' for other data."
        )
    present = set(subjects)
    for fold, members in enumerate(DISFA3_FOLDS):
        if not present.intersection(members):
            raise ValueError(
                f"split 'disfa3': fold {fold} would have no test subject (none of "
                f"{', '.join(members)} is in the data)"
            )
    return {s: fold_of[s] for s in present}


def _subject_folds(split: str, subjects: list[str], k: int, seed: int) -> dict[str, int]:
    """Fold of each subject for a subject-exclusive split."""
    if not subjects:
        raise ValueError(f"split {split!r}: no subjects")
    if split == "group_kfold":
        return _group_kfold_of_subjects(subjects, k, seed)
    if split == "disfa3":
        return _disfa3_of_subjects(subjects)
    unique = sorted(set(subjects))
    if len(unique) < 2:
        raise ValueError(f"split 'leave_one_subject_out' needs at least 2 subjects, got {unique}")
    return {s: i for i, s in enumerate(unique)}


def n_folds(split: str, subjects: list[str], k: int) -> int:
    """How many folds ``split`` makes for these subjects.

    Known before any data is read, so the workflow can lay out one job per fold.

    Parameters
    ----------
    split : str
        One of ``SPLITS``. Leaky splits are accepted here; ``make_folds`` decides whether to allow
        them.
    subjects : list of str
        Subject names of the data set (duplicates are ignored).
    k : int
        Requested number of folds (used by ``group_kfold`` and ``random_frames``).

    Returns
    -------
    int
        Number of folds; raises ValueError for the same inputs ``make_folds`` rejects.
    """
    _check_split(split)
    subjects = [str(s) for s in subjects]
    if split == "random_frames":
        if k < 2:
            raise ValueError(f"random_frames needs k >= 2 folds, got k={k}")
        return k
    return len(set(_subject_folds(split, subjects, k, seed=0).values()))


def make_folds(
    keys: pd.DataFrame, split: str, k: int = 3, seed: int = 0, allow_leaky: bool = False
) -> pd.DataFrame:
    """Assign every frame to the fold in which it is a test frame.

    Parameters
    ----------
    keys : DataFrame
        Columns ``subject`` (str) and ``frame`` (int), one row per frame; other columns are ignored.
    split : str
        One of ``SPLITS``.
    k : int
        Number of folds for ``group_kfold`` and ``random_frames``.
    seed : int
        Shuffling seed for ``group_kfold`` and ``random_frames``.
    allow_leaky : bool
        Must be True for a split in ``LEAKY_SPLITS``.

    Returns
    -------
    DataFrame
        Columns ``subject`` (str), ``frame`` (int64), ``fold`` (int16, 0..n_folds-1), one row per
        input frame, sorted by (subject, frame).
    """
    _check_split(split, allow_leaky)
    missing = {"subject", "frame"} - set(keys.columns)
    if missing:
        raise ValueError(f"keys lack column(s) {sorted(missing)}; expected subject, frame")
    folds = pd.DataFrame(
        {"subject": keys["subject"].astype(str), "frame": keys["frame"].astype("int64")}
    )
    folds = folds.sort_values(["subject", "frame"], ignore_index=True)
    duplicated = folds.duplicated(["subject", "frame"])
    if duplicated.any():
        first = folds[duplicated].iloc[0]
        raise ValueError(f"frame {first['frame']} of subject {first['subject']} appears twice")

    if split == "random_frames":
        if k < 2 or k > len(folds):
            raise ValueError(
                f"random_frames needs 2 <= k <= number of frames ({len(folds)}), k={k}"
            )
        # imported here: the workflow imports this module while it parses, and scikit-learn
        # takes a second to import
        from sklearn.model_selection import KFold

        fold = np.empty(len(folds), dtype=np.int16)
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
        for i, (_, test) in enumerate(splitter.split(folds)):
            fold[test] = i
    else:
        fold_of = _subject_folds(split, folds["subject"].unique().tolist(), k, seed)
        fold = folds["subject"].map(fold_of).to_numpy(dtype=np.int16)
    folds["fold"] = fold
    return folds


def inner_group_splits(
    subjects: np.ndarray, n_splits: int = 3, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Subject-exclusive train/validation splits inside a training set, for tuning.

    Parameters
    ----------
    subjects : ndarray, shape (n_frames,)
        Subject of each row of the training set.
    n_splits : int
        Wanted number of splits; reduced to the number of subjects when there are fewer.
    seed : int
        Shuffling seed.

    Returns
    -------
    list of (train, validation) pairs
        Row indices (int64 arrays) into ``subjects``; each subject is in exactly one validation set.
    """
    subjects = np.asarray(subjects).astype(str)
    unique = np.unique(subjects)
    if len(unique) < 2:
        raise ValueError(
            f"tuning needs at least 2 training subjects to hold one out, got {len(unique)}"
            + (f" ({unique[0]})" if len(unique) else "")
        )
    if n_splits < 2:
        raise ValueError(f"inner_group_splits needs n_splits >= 2, got {n_splits}")
    fold_of = _group_kfold_of_subjects(unique.tolist(), min(n_splits, len(unique)), seed)
    row_fold = np.array([fold_of[s] for s in unique])[np.searchsorted(unique, subjects)]
    return [
        (np.flatnonzero(row_fold != fold), np.flatnonzero(row_fold == fold))
        for fold in range(min(n_splits, len(unique)))
    ]
