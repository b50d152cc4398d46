"""Per-AU detectors: every registered classifier, the targets, normalisation, tuning, smoothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import f1_score

from auflow.features.normalise import normalise_per_subject
from auflow.models.classic import check_classifier, make_classifier
from auflow.models.detector import AUDetector, best_f1_cut, smooth_scores
from auflow.models.registry import MODELS
from auflow.models.train import predict_fold
from auflow.settings import EvaluationSettings

CLASSIFIERS = [name for name, spec in MODELS.items() if spec.estimator is not None]

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


def subjects_of(n, count=4):
    return np.repeat([f"s{i}" for i in range(count)], n // count)


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_every_classifier_detects_a_separable_au(name):
    features, intensity = separable_problem()
    detector = AUDetector(name, FAST_PARAMS.get(name), aus=(1,), inner_splits=2)
    detector.fit(features[:200], intensity[:200, None], subjects_of(200))
    truth = intensity[200:] >= 2
    predicted = detector.predict(features[200:])[:, 0]
    scores = detector.decision_function(features[200:])[:, 0]
    assert set(np.unique(predicted)) <= {0, 1}
    assert np.isfinite(scores).all()
    assert (predicted == truth).mean() > 0.8
    # the score ranks positives above negatives
    assert scores[truth].mean() > scores[~truth].mean()


@pytest.mark.parametrize(
    ("name", "params", "tolerance"),
    # KNN's neighbours are the same search either way: exactly equal. The SVM's matrix products
    # for several AUs round differently from those for one, in float32: equal to its tolerance.
    [
        ("knn", {"n_neighbors": 5}, 0.0),
        ("knn", {"n_neighbors": 7, "weights": "distance"}, 0.0),
        ("knn_sklearn", {"n_neighbors": 5}, 0.0),
        ("svm_linear", {"C": 0.1, "class_weight": "balanced"}, 1e-4),
    ],
)
def test_fitted_for_all_aus_at_once_equals_one_fit_per_au(name, params, tolerance):
    features, intensity = separable_problem(n=400)
    rng = np.random.default_rng(1)
    # an AU the first feature explains, a noisy one, one that never occurs, one that always does
    aus = np.column_stack([intensity, rng.integers(0, 4, 400), np.zeros(400, int), np.full(400, 3)])
    groups = subjects_of(300)
    shared = AUDetector(name, params, aus=(1, 2, 4, 5), inner_splits=2)
    per_au = AUDetector(make_classifier(name, params), aus=(1, 2, 4, 5), inner_splits=2)
    shared.fit(features[:300], aus[:300], groups)
    per_au.fit(features[:300], aus[:300], groups)
    assert shared.shared_ is not None and per_au.shared_ is None
    np.testing.assert_allclose(shared.thresholds_, per_au.thresholds_, atol=tolerance)
    np.testing.assert_array_equal(shared.tuned_, [True, True, False, False])
    np.testing.assert_array_equal(shared.tuned_, per_au.tuned_)
    # the AUs without both classes are constant detectors in both
    np.testing.assert_allclose(
        shared.decision_function(features[300:]),
        per_au.decision_function(features[300:]),
        atol=tolerance,
    )
    np.testing.assert_array_equal(shared.predict(features[300:]), per_au.predict(features[300:]))


def test_detector_follows_the_estimator_contract():
    detector = AUDetector("svm_linear", {"C": 0.5}, aus=(1, 2), smoothing=(1, 3))
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    copy.set_params(params={"C": 2.0})
    assert copy.params == {"C": 2.0} and detector.params == {"C": 0.5}
    assert not hasattr(copy, "estimators_")


def test_one_class_in_training_predicts_that_class():
    features, _ = separable_problem()
    detector = AUDetector("svm_linear", aus=(1,)).fit(
        features[:200], np.zeros((200, 1), np.int8), subjects_of(200)
    )
    assert (detector.predict(features[200:]) == 0).all()
    assert (detector.decision_function(features[200:]) == 0).all()


def test_intensity_target_predicts_classes_and_derives_occurrence():
    features, intensity = separable_problem()
    detector = AUDetector("random_forest", {"n_estimators": 20}, aus=(1,), target="intensity")
    detector.fit(features[:200], intensity[:200, None], subjects_of(200))
    predicted = detector.predict_intensity(features[200:])[:, 0]
    assert set(np.unique(predicted)) <= set(range(6))
    np.testing.assert_array_equal(
        detector.predict(features[200:])[:, 0], (predicted >= 2).astype(np.int8)
    )
    scores = detector.decision_function(features[200:])
    assert ((scores >= 0) & (scores <= 1)).all()


def test_threshold_is_tuned_for_f1_on_the_inner_subjects():
    features, intensity = separable_problem(n=400)
    detector = AUDetector("naive_bayes", aus=(1,), inner_splits=3)
    detector.fit(features[:300], intensity[:300, None], subjects_of(300, 3))
    assert detector.tuned_[0]
    assert (detector.predict(features[300:])[:, 0] == (intensity[300:] >= 2)).mean() > 0.8


def test_best_f1_cut_matches_a_brute_force_search():
    rng = np.random.default_rng(3)
    occurrence = (rng.random(200) < 0.2).astype(np.int8)
    scores = rng.normal(size=200) + 1.5 * occurrence
    threshold, f1 = best_f1_cut(occurrence, scores)
    brute = max(f1_score(occurrence, scores >= t) for t in np.unique(scores))
    assert f1 == pytest.approx(brute)
    assert f1_score(occurrence, scores >= threshold) == pytest.approx(brute)


def test_smoothing_is_a_centred_mean_within_each_subject():
    scores = np.array([0.0, 3.0, 0.0, 9.0, 9.0, 0.0])
    groups = np.array(["a", "a", "a", "b", "b", "b"])
    smoothed = smooth_scores(scores, groups, 3)
    # near the ends the window is cut short; no window reaches into the other subject
    np.testing.assert_allclose(smoothed, [1.5, 1.0, 1.5, 9.0, 6.0, 4.5])
    np.testing.assert_array_equal(smooth_scores(scores, groups, 1), scores)


def test_smoothing_width_is_chosen_on_the_training_subjects():
    # An AU on for episodes of 20 frames; each frame's feature is the truth plus heavy noise, so
    # averaging neighbouring frames helps and the tuning should pick a wide window.
    rng = np.random.default_rng(0)
    on = (np.arange(400) // 20) % 3 == 0
    features = (on + rng.normal(0, 1.2, 400)).astype(np.float32)[:, None]
    intensity = (on * 3).astype(np.int8)[:, None]
    subjects = subjects_of(400, 4)
    detector = AUDetector("logistic_regression", aus=(1,), smoothing=(1, 9), inner_splits=2)
    detector.fit(features[:300], intensity[:300], subjects[:300])
    assert detector.smoothing_[0] == 9
    smoothed = detector.predict(features[300:], subjects[300:])[:, 0]
    single = AUDetector("logistic_regression", aus=(1,), inner_splits=2)
    single.fit(features[:300], intensity[:300], subjects[:300])
    raw = single.predict(features[300:], subjects[300:])[:, 0]
    truth = intensity[300:, 0] >= 2
    assert f1_score(truth, smoothed) > f1_score(truth, raw) + 0.1


def test_smote_asks_for_no_more_neighbours_than_there_are_positives():
    features, _ = separable_problem()
    intensity = np.zeros((200, 1), np.int8)
    intensity[:4] = 3  # four positive frames: SMOTE's default of five neighbours cannot work
    detector = AUDetector("smote_adaboost", {"n_estimators": 3}, aus=(1,), tune_threshold=False)
    detector.fit(features[:200], intensity, subjects_of(200))
    assert detector.predict(features[200:]).shape == (100, 1)


def test_unknown_classifier_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown classifier 'svm'.*svm_linear"):
        make_classifier("svm")


def test_a_misspelt_classifier_parameter_is_named():
    with pytest.raises(ValueError, match="random_forest.*n_estimator"):
        check_classifier("random_forest", {"n_estimator": 10})


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


@pytest.mark.parametrize("missing", [False, True])
def test_per_subject_normalisation_equals_pandas_grouped_median(missing):
    rng = np.random.default_rng(1)
    # subjects of odd and even frame counts, their rows interleaved
    subjects = rng.permutation(np.repeat(["a", "b", "c"], [7, 10, 13]))
    dataset = pd.DataFrame({"subject": subjects, "frame": np.arange(30), "AU01": np.int8(0)})
    features = rng.normal(size=(30, 5)).astype(np.float32)
    features[rng.integers(0, 30, 6), rng.integers(0, 5, 6)] = 2.5  # ties
    if missing:
        features[3, 1] = np.nan
    for column in range(5):
        dataset[f"f{column}"] = features[:, column]
    columns = [f"f{column}" for column in range(5)]
    medians = dataset.groupby("subject")[columns].transform("median")
    expected = dataset.copy()
    expected[columns] = (dataset[columns] - medians).astype(np.float32)
    # equal to float32 rounding: pandas may average the two middle values in float32
    pd.testing.assert_frame_equal(normalise_per_subject(dataset), expected, rtol=0, atol=1e-6)


def dataset_of(features, intensity, subjects=("s1", "s2", "s3")):
    per = len(features) // len(subjects)
    dataset = pd.DataFrame(features, columns=[f"f{i}" for i in range(features.shape[1])])
    dataset.insert(0, "AU12", intensity)
    dataset.insert(0, "frame", np.tile(np.arange(per), len(subjects)))
    dataset.insert(0, "subject", np.repeat(list(subjects), per))
    folds = dataset[["subject", "frame"]].assign(
        fold=np.repeat(np.arange(len(subjects)), per).astype(np.int16)
    )
    return dataset, folds


def test_predict_fold_predicts_only_the_test_subjects():
    features, intensity = separable_problem(n=300)
    dataset, folds = dataset_of(features, intensity)
    detector = AUDetector("svm_linear", aus=(12,), inner_splits=2)
    predictions = predict_fold(dataset, folds, 1, detector)
    assert set(predictions["subject"]) == {"s2"}
    assert list(predictions.columns) == ["subject", "frame", "fold", "AU12_p", "AU12_c"]
    assert (predictions["AU12_c"] == (intensity[100:200] >= 2)).mean() > 0.8


def test_threshold_tuning_falls_back_when_inner_scores_are_constant():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(300, 4)).astype(np.float32)
    intensity = np.zeros((300, 1), np.int8)
    intensity[rng.choice(300, 12, replace=False)] = 3  # rare, and unrelated to the features
    # leaves of >= 200 frames: the tree cannot split, so it scores every frame alike
    detector = AUDetector("decision_tree", {"min_samples_leaf": 200}, aus=(1,))
    detector.fit(features, intensity, subjects_of(300, 3))
    assert not detector.tuned_[0]
    assert (detector.predict(features[:50]) == 0).all()
    assert len(np.unique(detector.decision_function(features[:50]))) == 1


def test_settings_build_a_detector_with_one_number_of_inner_splits():
    settings = EvaluationSettings(aus=(1, 12), inner_splits=5, smoothing=(1, 5), seed=7)
    detector = AUDetector.from_settings("svm_linear", {"C": 1.0}, settings)
    assert detector.inner_splits == 5 and detector.random_state == 7
    assert detector.aus == (1, 12) and detector.smoothing == (1, 5)
    with pytest.raises(ValueError, match="odd"):
        EvaluationSettings(smoothing=(2,))


# Leak guards: the functions the rules call must never hand a test frame to a fit.


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that records the frame ids (feature 0) of every fit, then acts as a
    nearest-mean classifier; class-level log, since clone copies parameters."""

    fitted_ids: list[set] = []

    def fit(self, X, y):
        RecordingClassifier.fitted_ids.append(set(np.round(X[:, 0]).astype(int)))
        self.classes_ = np.unique(y)
        self.mean_ = X[:, 1:].mean(axis=0)
        return self

    def decision_function(self, X):
        return X[:, 1:].sum(axis=1) - self.mean_.sum()


def test_no_test_frame_reaches_any_fit_of_a_fold():
    features, intensity = separable_problem(n=300)
    ids = np.arange(300, dtype=np.float32)[:, None]  # feature 0: the frame's unique id
    dataset, folds = dataset_of(np.hstack([ids, features]), intensity)
    RecordingClassifier.fitted_ids.clear()
    detector = AUDetector(RecordingClassifier(), aus=(12,), inner_splits=2, smoothing=(1, 3))
    predict_fold(dataset, folds, 1, detector)
    test_ids = set(range(100, 200))
    # the final fit and every threshold-tuning fit
    assert len(RecordingClassifier.fitted_ids) == 3
    for fitted in RecordingClassifier.fitted_ids:
        assert not fitted & test_ids
    assert set().union(*RecordingClassifier.fitted_ids) == set(range(300)) - test_ids


def test_no_test_frame_reaches_a_study_trial():
    from auflow.study import run_study

    features, intensity = separable_problem(n=400)
    ids = np.arange(400, dtype=np.float32)[:, None]
    dataset, folds = dataset_of(
        np.hstack([ids, features]), intensity, subjects=("s1", "s2", "s3", "s4")
    )
    settings = EvaluationSettings(aus=(12,), inner_splits=2)
    seen = []
    original = AUDetector.fit

    def recording_fit(self, X, Y, groups):
        seen.append(set(np.round(X[:, 0]).astype(int)))
        return original(self, X, Y, groups)

    AUDetector.fit = recording_fit
    try:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            run_study(dataset, folds, 3, "svm_linear", settings, 2, f"{folder}/j.log", "t")
    finally:
        AUDetector.fit = original
    assert seen and all(not ids_ & set(range(300, 400)) for ids_ in seen)


def test_a_study_trial_fits_once_per_inner_split_and_scores_the_best_pooled_cut():
    import optuna
    from sklearn.metrics import precision_recall_curve

    from auflow.evaluation.folds import split_fold
    from auflow.study import inner_folds, objective_for

    rng = np.random.default_rng(3)
    features, intensity = separable_problem(seed=3, n=480)
    features[:, 0] += rng.normal(scale=0.8, size=480)  # not separable: the cut matters
    subjects = ("s1", "s2", "s3", "s4", "s5", "s6")
    dataset, folds = dataset_of(features, intensity, subjects=subjects)
    settings = EvaluationSettings(aus=(12,), inner_splits=3)
    fits = []
    original = AUDetector.fit

    def recording_fit(self, X, Y, groups):
        fits.append(self.tune_threshold)
        return original(self, X, Y, groups)

    AUDetector.fit = recording_fit
    try:
        objective, _ = objective_for(dataset, folds, 5, "svm_linear", settings)
        value = objective(optuna.trial.FixedTrial({"C": 0.05}))
    finally:
        AUDetector.fit = original
    # one untuned fit per inner split, none nested inside them
    assert fits == [False, False, False]

    # the same scores, computed here: untuned detectors on each inner split of fold 5's
    # training subjects, then the best F1 over every threshold of the pooled scores
    train, _ = split_fold(dataset, folds, 5)
    train = train.drop(columns="fold")
    parts = inner_folds(train, 3, settings.seed)
    truth, scores = [], []
    for part in range(3):
        inner_train, inner_validation = split_fold(train, parts, part)
        detector = AUDetector("svm_linear", {"C": 0.05, "class_weight": "balanced"}, aus=(12,))
        detector.set_params(tune_threshold=False)
        columns = [f"f{i}" for i in range(6)]
        detector.fit(inner_train[columns], inner_train[["AU12"]], inner_train["subject"])
        scores.append(detector.decision_function(inner_validation[columns])[:, 0])
        truth.append(inner_validation["AU12"].to_numpy() >= 2)
    precision, recall, _ = precision_recall_curve(np.concatenate(truth), np.concatenate(scores))
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
    assert value == pytest.approx(f1.max(), abs=1e-12)
    assert 0.3 < value < 1


def test_memorised_labels_are_not_predictable_across_subjects():
    # Labels drawn at random per frame: only a model that saw the test frames could predict them.
    # 1-nearest-neighbour memorises perfectly, so any leak of a test frame into a fit shows as
    # F1 near 1; honestly it is near chance.
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 8)).astype(np.float32)
    intensity = np.where(rng.random(300) < 0.3, 3, 0).astype(np.int8)
    dataset, folds = dataset_of(features, intensity)
    detector = AUDetector("knn", {"n_neighbors": 1}, aus=(12,), tune_threshold=False)
    predictions = pd.concat([predict_fold(dataset, folds, f, detector) for f in range(3)])
    truth = predictions.merge(dataset, on=["subject", "frame"])["AU12"] >= 2
    assert f1_score(truth, predictions["AU12_c"]) < 0.5
    # the same data with the test frames in training is memorised: the guard can fail
    leaked = AUDetector("knn", {"n_neighbors": 1}, aus=(12,), tune_threshold=False)
    leaked.fit(features, intensity[:, None], dataset["subject"])
    assert f1_score(intensity >= 2, leaked.predict(features)[:, 0]) == 1.0
