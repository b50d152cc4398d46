import numpy as np
import pandas as pd
import pytest

from auflow.evaluation.splits import (
    DISFA3_FOLDS,
    SPLITS,
    inner_group_splits,
    make_folds,
    n_folds,
)

DISFA_SUBJECTS = sorted(s for fold in DISFA3_FOLDS for s in fold)
SUBJECT_EXCLUSIVE = [s for s in SPLITS if s != "random_frames"]


def frame_keys(subjects, frames_per_subject=5):
    """One row per (subject, frame), frames numbered from 1, in a scrambled row order."""
    keys = pd.DataFrame(
        {
            "subject": np.repeat(subjects, frames_per_subject),
            "frame": np.tile(np.arange(1, frames_per_subject + 1), len(subjects)),
        }
    )
    return keys.sample(frac=1.0, random_state=1, ignore_index=True)


@pytest.mark.parametrize("split", SUBJECT_EXCLUSIVE)
def test_no_subject_on_both_sides_of_a_fold(split):
    folds = make_folds(frame_keys(DISFA_SUBJECTS), split, k=4, seed=3)
    assert (folds.groupby("subject")["fold"].nunique() == 1).all()


@pytest.mark.parametrize("split", SPLITS)
def test_every_frame_is_test_in_exactly_one_fold(split):
    keys = frame_keys(DISFA_SUBJECTS)
    folds = make_folds(keys, split, k=3, seed=0, allow_leaky=True)
    assert len(folds) == len(keys)
    assert not folds.duplicated(["subject", "frame"]).any()
    assert folds["fold"].dtype == np.int16
    assert set(folds["fold"]) == set(range(n_folds(split, DISFA_SUBJECTS, 3)))
    expected_order = folds.sort_values(["subject", "frame"], ignore_index=True)
    pd.testing.assert_frame_equal(folds, expected_order)


def test_group_kfold_is_deterministic_and_ignores_row_order():
    keys = frame_keys([f"p{i}" for i in range(10)])
    first = make_folds(keys, "group_kfold", k=3, seed=7)
    again = make_folds(keys.iloc[::-1], "group_kfold", k=3, seed=7)
    pd.testing.assert_frame_equal(first, again)


def test_group_kfold_fold_sizes_differ_by_at_most_one_subject():
    folds = make_folds(frame_keys([f"p{i}" for i in range(10)]), "group_kfold", k=3)
    subjects_per_fold = folds.groupby("fold")["subject"].nunique()
    assert sorted(subjects_per_fold) == [3, 3, 4]


def test_group_kfold_with_more_folds_than_subjects_names_both_numbers():
    with pytest.raises(ValueError, match=r"k=5.*got 3"):
        make_folds(frame_keys(["a", "b", "c"]), "group_kfold", k=5)


def test_disfa3_assigns_the_published_subjects():
    folds = make_folds(frame_keys(DISFA_SUBJECTS), "disfa3")
    fold_subjects = folds.groupby("fold")["subject"].unique()
    for fold, members in enumerate(DISFA3_FOLDS):
        assert set(fold_subjects[fold]) == set(members)


def test_disfa3_accepts_a_subset_of_the_subjects():
    folds = make_folds(frame_keys(["SN001", "SN006", "SN003", "SN004"]), "disfa3")
    assert folds.groupby("subject")["fold"].first().to_dict() == {
        "SN001": 0,
        "SN003": 2,
        "SN004": 2,
        "SN006": 1,
    }


def test_disfa3_rejects_an_unknown_subject_by_name():
    with pytest.raises(ValueError, match=r"SN999.*group_kfold"):
        make_folds(frame_keys([*DISFA_SUBJECTS, "SN999"]), "disfa3")


def test_disfa3_rejects_a_fold_without_subjects():
    with pytest.raises(ValueError, match="fold 1"):
        make_folds(frame_keys(["SN001", "SN003"]), "disfa3")


def test_leave_one_subject_out_makes_one_fold_per_subject_in_sorted_order():
    folds = make_folds(frame_keys(["c", "a", "b"]), "leave_one_subject_out")
    assert folds.groupby("subject")["fold"].first().to_dict() == {"a": 0, "b": 1, "c": 2}


def test_random_frames_is_refused_without_the_flag():
    with pytest.raises(ValueError, match="allow_leaky"):
        make_folds(frame_keys(["a", "b", "c"]), "random_frames")


def test_random_frames_with_the_flag_mixes_subjects_across_folds():
    folds = make_folds(frame_keys(["a", "b", "c"], 30), "random_frames", allow_leaky=True)
    assert (folds.groupby("subject")["fold"].nunique() == 3).all()


def test_unknown_split_lists_the_known_ones():
    with pytest.raises(ValueError, match="group_kfold, disfa3"):
        make_folds(frame_keys(["a", "b"]), "by_age")


@pytest.mark.parametrize(
    ("split", "subjects", "k"),
    [
        ("group_kfold", [f"p{i}" for i in range(7)], 3),
        ("group_kfold", [f"p{i}" for i in range(7)], 7),
        ("disfa3", DISFA_SUBJECTS, 5),
        ("disfa3", ["SN001", "SN006", "SN003"], 3),
        ("leave_one_subject_out", [f"p{i}" for i in range(7)], 3),
        ("random_frames", [f"p{i}" for i in range(7)], 4),
    ],
)
def test_n_folds_agrees_with_make_folds(split, subjects, k):
    folds = make_folds(frame_keys(subjects), split, k=k, allow_leaky=True)
    assert n_folds(split, subjects, k) == folds["fold"].nunique() == folds["fold"].max() + 1


@pytest.mark.parametrize("n_subjects", [2, 3, 8])
def test_inner_group_splits_never_share_subjects(n_subjects):
    subjects = np.repeat([f"p{i}" for i in range(n_subjects)], 4)
    splits = inner_group_splits(subjects, n_splits=3, seed=0)
    assert len(splits) == min(3, n_subjects)
    for train, validation in splits:
        assert len(train) and len(validation)
        assert not set(subjects[train]) & set(subjects[validation])
    validated = np.sort(np.concatenate([validation for _, validation in splits]))
    np.testing.assert_array_equal(validated, np.arange(len(subjects)))


def test_inner_group_splits_needs_two_subjects():
    with pytest.raises(ValueError, match="at least 2"):
        inner_group_splits(np.array(["p0"] * 5))


@pytest.mark.parametrize("split", ["group_kfold", "random_frames"])
@pytest.mark.parametrize("method", ["none", "subject_median"])
def test_a_fold_read_in_parts_equals_the_whole_table_read_then_split(tmp_path, split, method):
    from auflow.evaluation.folds import load_fold, split_fold
    from auflow.io.parquet import COLUMNS_AT_ONCE, write_table
    from auflow.models.train import load_dataset

    rng = np.random.default_rng(0)
    subjects = np.repeat([f"SN{i:03d}" for i in range(1, 7)], 30)
    table = pd.DataFrame({"subject": subjects, "frame": np.tile(np.arange(1, 31), 6)})
    table["AU01"] = rng.integers(0, 6, len(table))
    # more feature columns than are read at once, one of them with missing values
    features = rng.normal(size=(len(table), COLUMNS_AT_ONCE + 9)).astype(np.float32)
    features[rng.random(len(table)) < 0.1, 3] = np.nan
    table = pd.concat(
        [table, pd.DataFrame(features, columns=[f"f{i}" for i in range(features.shape[1])])],
        axis=1,
    )
    path = tmp_path / "dataset.parquet"
    write_table(table, path)
    folds = make_folds(table[["subject", "frame"]], split, 3, 0, allow_leaky=True)
    for fold in range(3):
        expected = split_fold(load_dataset(path, method), folds, fold)
        for part, wanted in zip(load_fold(path, folds, fold, method), expected, strict=True):
            pd.testing.assert_frame_equal(part, wanted, check_exact=True)
