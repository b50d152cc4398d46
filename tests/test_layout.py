"""The results layout: every path is built and parsed by auflow.layout, and the two agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from auflow import layout


def test_a_fold_table_path_parses_back_into_what_it_is_of():
    path = layout.fold_table("predictions", "group_kfold", "gabor_energy", "svm_linear", 2)
    assert path == "results/predictions/group_kfold/gabor_energy/svm_linear/fold2.parquet"
    assert layout.parse_fold_table(path) == ("group_kfold", "gabor_energy", "svm_linear", 2)
    # absolute, or below another working folder, as a job's input may be given
    assert layout.parse_fold_table(Path("/tmp/run") / path).model == "svm_linear"


def test_a_study_file_path_parses_back_into_what_it_is_of():
    path = layout.study_file("disfa3", "hog", "lstm", 0, "trials.parquet")
    assert path == "results/study/disfa3/hog/lstm/fold0/trials.parquet"
    assert layout.parse_study_file(path) == ("disfa3", "hog", "lstm", 0)


@pytest.mark.parametrize(
    "path",
    [
        "results/predictions/group_kfold/hog/svm_linear/summary.parquet",
        "results/predictions/cross/lab_b/hog/svm_linear.parquet",
    ],
)
def test_a_path_of_another_kind_is_refused_naming_the_pattern(path):
    with pytest.raises(ValueError, match=r"fold\{fold\}\.parquet"):
        layout.parse_fold_table(path)


def test_builders_given_wildcards_return_the_rules_patterns():
    assert layout.fold_table("metrics", "{split}", "{extractor}", "knn", "{fold}") == (
        "results/metrics/{split}/{extractor}/knn/fold{fold}.parquet"
    )
    assert layout.feature_shard("{extractor}", "{subject}", "{shard}") == layout.FEATURES
    assert layout.feature_shard("{extractor}", "{subject}", "{shard}", "{cross}") == (
        layout.CROSS_FEATURES
    )
    assert layout.labels_table("{subject}", "{cross}") == layout.CROSS_LABELS
    assert layout.frames_manifest("{subject}", "{shard}") == layout.FRAMES_SHARD


def test_a_cross_dataset_has_a_path_component_more_than_the_main_one():
    main = layout.feature_shard("hog", "SN001", "000")
    cross = layout.feature_shard("hog", "SN001", "000", cross="lab_b")
    assert len(Path(cross).parts) == len(Path(main).parts) + 1
    assert layout.labels_table("SN001") != layout.labels_table("SN001", "lab_b")


@pytest.mark.parametrize(
    ("frames", "shard_size", "expected"),
    [(0, 16, []), (16, 16, ["000"]), (17, 16, ["000", "001"]), (40, 16, ["000", "001", "002"])],
)
def test_shards_cut_a_subjects_frames_every_shard_size(frames, shard_size, expected):
    assert layout.shard_ids(frames, shard_size) == expected


def test_a_labels_table_says_which_dataset_and_subject_it_is_of():
    assert layout.parse_labels_table(layout.labels_table("SN001")) == (None, "SN001")
    assert layout.parse_labels_table(layout.labels_table("SN001", "lab_b")) == ("lab_b", "SN001")
    with pytest.raises(ValueError, match="not a labels table"):
        layout.parse_labels_table("results/dataset/hog.parquet")
