"""Per-AU detectors: every registered classifier, the targets, normalisation, tuning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auflow.evaluation.splits import inner_group_splits
from auflow.models.classic import CLASSIFIERS, fit_predict_au, make_classifier
from auflow.models.train import normalise_per_subject, predict_fold

FAST_PARAMS = {
    "random_forest": {"n_estimators": 10},
    "adaboost": {"n_estimators": 5},
    "adaboost_rf": {"n_estimators": 3, "rf_estimators": 5},
    "adaboost_bagging": {"n_estimators": 3, "bagging_estimators": 5},
    "smote_adaboost": {"n_estimators": 5},
}


def separable_problem(seed=0, n=300):
    """Intensities 0-5 that a linear rule on the first feature recovers, about 20 % >= 2."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 6)).astype(np.float32)
    intensity = np.clip(np.round(2.2 * features[:, 0] - 0.3), 0, 5).astype(np.int8)
    return features, intensity


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_every_classifier_detects_a_separable_au(name):
    features, intensity = separable_problem()
    pipeline = make_classifier(name, FAST_PARAMS.get(name), random_state=0)
    result = fit_predict_au(pipeline, features[:200], intensity[:200], features[200:])
    truth = intensity[200:] >= 2
    assert set(np.unique(result["c"])) <= {0, 1}
    assert np.isfinite(result["p"]).all()
    assert (result["c"] == truth).mean() > 0.8
    # the score ranks positives above negatives
    assert result["p"][truth].mean() > result["p"][~truth].mean()


def test_one_class_in_training_predicts_that_class():
    features, _ = separable_problem()
    result = fit_predict_au(
        make_classifier("svm_linear"), features[:200], np.zeros(200, np.int8), features[200:]
    )
    assert (result["c"] == 0).all() and (result["p"] == 0).all()


def test_intensity_target_predicts_classes_and_derives_occurrence():
    features, intensity = separable_problem()
    result = fit_predict_au(
        make_classifier("random_forest", {"n_estimators": 20}),
        features[:200],
        intensity[:200],
        features[200:],
        target="intensity",
        threshold=2,
    )
    assert set(np.unique(result["r"])) <= set(range(6))
    np.testing.assert_array_equal(result["c"], (result["r"] >= 2).astype(np.int8))
    assert ((result["p"] >= 0) & (result["p"] <= 1)).all()


def test_threshold_tuning_runs_on_inner_subject_splits():
    features, intensity = separable_problem(n=400)
    subjects = np.repeat(np.array(["a", "b", "c", "d"]), 100)
    splits = inner_group_splits(subjects[:300], n_splits=3, seed=0)
    result = fit_predict_au(
        make_classifier("naive_bayes"),
        features[:300],
        intensity[:300],
        features[300:],
        inner_splits=splits,
    )
    assert (result["c"] == (intensity[300:] >= 2)).mean() > 0.8


def test_smote_asks_for_no_more_neighbours_than_there_are_positives():
    features, _ = separable_problem()
    occurrence = np.zeros(200, np.int8)
    occurrence[:4] = 3  # four positive frames: SMOTE's default of five neighbours cannot work
    result = fit_predict_au(
        make_classifier("smote_adaboost", {"n_estimators": 3}),
        features[:200],
        occurrence,
        features[200:],
    )
    assert len(result["c"]) == 100


def test_unknown_classifier_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown classifier 'svm'.*svm_linear"):
        make_classifier("svm")


def test_per_subject_normalisation_removes_each_subjects_median():
    rng = np.random.default_rng(0)
    dataset = pd.DataFrame(
        {
            "subject": np.repeat(["a", "b"], 50),
            "frame": np.tile(np.arange(50), 2),
            "AU01": rng.integers(0, 6, 100).astype(np.int8),
            "f0": np.r_[rng.normal(5, 1, 50), rng.normal(-3, 1, 50)].astype(np.float32),
        }
    )
    normalised = normalise_per_subject(dataset)
    medians = normalised.groupby("subject")["f0"].median()
    np.testing.assert_allclose(medians, 0, atol=1e-6)
    assert normalised["AU01"].equals(dataset["AU01"])  # labels untouched


def test_predict_fold_predicts_only_the_test_subjects():
    features, intensity = separable_problem(n=300)
    dataset = pd.DataFrame(features, columns=[f"f{i}" for i in range(6)])
    dataset.insert(0, "AU12", intensity)
    dataset.insert(0, "frame", np.tile(np.arange(100), 3))
    dataset.insert(0, "subject", np.repeat(["s1", "s2", "s3"], 100))
    folds = dataset[["subject", "frame"]].assign(fold=np.repeat([0, 1, 2], 100).astype(np.int16))
    predictions = predict_fold(dataset, folds, 1, make_classifier("svm_linear"))
    assert set(predictions["subject"]) == {"s2"}
    assert list(predictions.columns) == ["subject", "frame", "fold", "AU12_p", "AU12_c"]
    assert (predictions["AU12_c"] == (intensity[100:200] >= 2)).mean() > 0.8


def test_threshold_tuning_falls_back_when_inner_scores_are_constant():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(300, 4)).astype(np.float32)
    intensity = np.zeros(300, np.int8)
    intensity[rng.choice(300, 12, replace=False)] = 3  # rare, and unrelated to the features
    subjects = np.repeat(np.array(["a", "b", "c"]), 100)
    splits = inner_group_splits(subjects, n_splits=3, seed=0)
    # leaves of >= 200 frames: the tree cannot split, so it scores every frame alike
    pipeline = make_classifier("decision_tree", {"min_samples_leaf": 200})
    result = fit_predict_au(pipeline, features, intensity, features[:50], inner_splits=splits)
    assert (result["c"] == 0).all()
    assert len(np.unique(result["p"])) == 1
