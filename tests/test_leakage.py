"""Known-answer test: a frame-level split rewards recognising the person, a subject split does not.

In the synthetic data below, whether the AU is present depends only on who the subject is, and
the features only say who the subject is. Nothing generalises to a new person, so an honest
evaluation must score at chance; the seed notebook's random frame split scores near perfect.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsClassifier

from auflow.evaluation.metrics import occurrence_metrics
from auflow.evaluation.splits import make_folds

# Many subjects, few frames each: with a dozen subjects, "chance" is itself a coin flip per
# subject and swings by +-0.15; 96 subjects keep it within a few hundredths of 0.5.
N_SUBJECTS = 96
N_FRAMES = 25
N_FEATURES = 8


@pytest.fixture(scope="module")
def identity_only_data():
    """Keys (subject, frame), features (n, N_FEATURES) float64, occurrence (n,) int8."""
    rng = np.random.default_rng(0)
    subject_index = np.repeat(np.arange(N_SUBJECTS), N_FRAMES)
    subject_occurrence = rng.permutation(np.arange(N_SUBJECTS) % 2).astype(np.int8)
    subject_offset = rng.normal(size=(N_SUBJECTS, N_FEATURES))
    noise = 0.1 * rng.normal(size=(len(subject_index), N_FEATURES))
    features = subject_offset[subject_index] + noise
    keys = pd.DataFrame(
        {
            "subject": np.array([f"S{i:03d}" for i in range(N_SUBJECTS)])[subject_index],
            "frame": np.tile(np.arange(1, N_FRAMES + 1), N_SUBJECTS),
        }
    )
    return keys, features, subject_occurrence[subject_index]


def cross_validated_metrics(keys, features, occurrence, split):
    """Occurrence metrics of out-of-fold kNN predictions, as {metric: value}."""
    folds = make_folds(keys, split, k=3, seed=0, allow_leaky=True)
    # make_folds sorts by (subject, frame); the fixture's rows are already in that order.
    assert (folds[["subject", "frame"]].to_numpy() == keys[["subject", "frame"]].to_numpy()).all()
    fold = folds["fold"].to_numpy()
    predicted = np.empty_like(occurrence)
    for test_fold in np.unique(fold):
        test = fold == test_fold
        model = KNeighborsClassifier(n_neighbors=5).fit(features[~test], occurrence[~test])
        predicted[test] = model.predict(features[test])
    table = occurrence_metrics(occurrence, predicted)
    return dict(zip(table["metric"], table["value"], strict=True))


def test_subject_exclusive_split_scores_at_chance(identity_only_data):
    metrics = cross_validated_metrics(*identity_only_data, split="group_kfold")
    assert metrics["balanced_accuracy"] == pytest.approx(0.5, abs=0.2)
    assert metrics["f1"] < 0.75


def test_random_frame_split_scores_near_perfect(identity_only_data):
    metrics = cross_validated_metrics(*identity_only_data, split="random_frames")
    assert metrics["balanced_accuracy"] > 0.9
    assert metrics["f1"] > 0.9


def test_the_pipeline_cannot_predict_labels_only_memorising_test_frames_could(tmp_path):
    """Known answer through Snakemake: every frame's labels drawn at random, independently of its
    neighbours. A 1-nearest-neighbour detector recalls any frame it was fitted on exactly, so if a
    test frame reached a fit (classification, threshold tuning, the final refit), pooled F1 would
    be near 1. Fitted on other frames only, it is near chance, on every split: even the leaky
    random frame split keeps the test frames themselves out of training."""
    import json

    from auflow.io.parquet import read_table

    from conftest import make_workdir, snakemake

    config = {
        "dataset": {"root": "data"},
        "aus": [1, 2, 12],
        "features": {"face_size": 48, "shard_size": 40, "extractors": ["gabor_hist_seed"]},
        "evaluation": {"split": "group_kfold", "k": 3, "tune_threshold": False},
        "classifiers": {"knn": {"params": {"n_neighbors": 1}}},
        "baseline": {"enabled": False},
        "study": {"enabled": False},
        "models": {"save_final": False},
    }
    workdir = make_workdir(tmp_path / "work", config, subjects=4, frames=30)
    rng = np.random.default_rng(0)
    for path in (workdir / "data/json").glob("*.json"):
        frames = len(json.loads(path.read_text()))
        labels = [
            {f"au{au}": 3 * int(rng.random() < 0.3) for au in (1, 2, 12)} for _ in range(frames)
        ]
        path.write_text(json.dumps(labels))
    # the pooled table and what it is made of; not the figures and the leakage table drawn
    # from it
    snakemake(workdir, "--cores", "2", "results/metrics/pooled.parquet")
    pooled = read_table(workdir / "results/metrics/pooled.parquet")
    f1 = pooled[(pooled["au"] == 0) & (pooled["metric"] == "f1")].set_index("split")["value"]
    assert set(f1.index) == {"group_kfold", "random_frames"}
    assert (f1 < 0.6).all(), f1.to_dict()
