"""The stacked temporal detector: an LSTM over the per-frame detector's out-of-split scores.

What it must do: learn what one frame cannot say (an AU that marks the onset of another), take
its training inputs only from models that did not learn from those frames, and score new
features, once saved, exactly as it scored the fold's stack table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from auflow.io.dataset import feature_columns
from auflow.models import make_detector
from auflow.models.detector import AUDetector
from auflow.models.saved import build_manifest, load_model, save_model
from auflow.models.stacking import fit_stacked, score_columns
from auflow.models.train import fit_detector, predict_frames
from auflow.settings import EvaluationSettings

SETTINGS = EvaluationSettings(aus=(1, 2), inner_splits=3, seed=0, normalise="none")
STACKED = {
    "min_subjects": 4,  # six training subjects, on a task whose signal is strong
    "stride": 1,
    "batch_size": 32,
    "units": 16,
    "window": 16,
    "learning_rate": 0.01,
    "epochs": 30,
    "patience": 8,
    "dropout": 0.0,
}
EPISODE, ONSET = 16, 6


def onset_task(seed: int, subjects: int, n_frames: int = 200) -> pd.DataFrame:
    """AU1 in episodes of ``EPISODE`` frames, seen in feature x0 through noise; AU2 (co-occurring
    with AU1) only in the first ``ONSET`` frames of each episode, and nowhere in the features.

    A frame on its own cannot tell an onset from the rest of an episode; the AU1 scores of the
    frames around it can. A dataset table (subject, frame, AU01, AU02, x0..x3), sorted."""
    rng = np.random.default_rng(seed)
    tables = []
    for number in range(subjects):
        au1 = np.zeros(n_frames, np.int8)
        au2 = np.zeros(n_frames, np.int8)
        for start in np.arange(4, n_frames - EPISODE - 4, 36) + rng.integers(0, 10):
            au1[start : start + EPISODE] = 3
            au2[start : start + ONSET] = 3
        features = rng.normal(size=(n_frames, 4)).astype(np.float32)
        features[:, 0] += 1.5 * (au1 > 0)
        table = pd.DataFrame(features, columns=[f"x{i}" for i in range(4)])
        table.insert(0, "subject", f"s{seed}_{number}")
        table.insert(1, "frame", np.arange(1, n_frames + 1))
        table.insert(2, "AU01", au1)
        table.insert(3, "AU02", au2)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def with_labels(stacked: pd.DataFrame, dataset: pd.DataFrame) -> pd.DataFrame:
    return stacked.merge(dataset[["subject", "frame", "AU01", "AU02"]], on=["subject", "frame"])


@pytest.fixture(scope="module")
def onset_models():
    train, test = onset_task(0, subjects=6), onset_task(1, subjects=3)
    base = AUDetector.from_settings("svm_linear", {"C": 1.0, "class_weight": "balanced"}, SETTINGS)
    stacked, stack = fit_stacked(base, train, test, SETTINGS.seed)
    keys = ["subject", "frame"]
    stacked_train = with_labels(stacked.merge(train[keys]), train)
    stacked_test = with_labels(stacked.merge(test[keys]), test)
    lstm = fit_detector(make_detector("lstm", STACKED, SETTINGS), stacked_train)
    return base, stack, lstm, train, test, stacked_test


def test_the_stacked_lstm_learns_an_onset_no_single_frame_shows(onset_models):
    base, _, lstm, _, test, stacked_test = onset_models
    per_frame = predict_frames(base, test)
    stacked = predict_frames(lstm, stacked_test)
    assert (stacked[["subject", "frame"]].to_numpy() == test[["subject", "frame"]].to_numpy()).all()
    onset = test["AU02"] >= 2
    per_frame_f1 = f1_score(onset, per_frame["AU02_c"])
    stacked_f1 = f1_score(onset, stacked["AU02_c"])
    assert stacked_f1 > 0.75
    assert stacked_f1 > per_frame_f1 + 0.15, (stacked_f1, per_frame_f1)
    assert not lstm.from_base_[1]  # AU2 is the network's
    # AU1, which one frame does show, is scored no worse than by the per-frame detector
    episode = test["AU01"] >= 2
    assert f1_score(episode, stacked["AU01_c"]) >= f1_score(episode, per_frame["AU01_c"]) - 0.03
    # thresholds tuned on every training subject's out-of-split scores, early stopping used
    assert lstm.tuned_.all() and 1 <= lstm.best_epoch_ <= STACKED["epochs"]


def test_a_saved_stacked_lstm_scores_features_as_it_scored_its_stack(onset_models, tmp_path):
    base, stack, lstm, train, test, stacked_test = onset_models
    lstm.stack_ = stack
    try:
        manifest = build_manifest(
            lstm,
            extractor="none",
            extractor_params={},
            face_size=None,
            feature_names=feature_columns(train),
            normalise="none",
            training=train,
            config_hash="test",
            model="lstm",
        )
        save_model(lstm, tmp_path, manifest)
    finally:
        del lstm.stack_
    saved = load_model(tmp_path)
    assert saved.detector.stack_ is not None
    from_features = saved.predict_table(
        test[feature_columns(test)].to_numpy(np.float32),
        test["subject"].to_numpy(),
        test["frame"].to_numpy(),
    )
    from_stack = predict_frames(lstm, stacked_test)
    for au in ("AU01", "AU02"):
        np.testing.assert_allclose(from_features[f"{au}_p"], from_stack[f"{au}_p"], atol=1e-6)
        assert (from_features[f"{au}_c"] == from_stack[f"{au}_c"]).all()


def test_stacked_inputs_of_training_frames_come_from_models_that_never_saw_them():
    """Known answer: every frame's labels drawn at random, features random. A 1-nearest-neighbour
    detector recalls any frame it was fitted on exactly; a training frame's stacked score from a
    model fitted on it would predict its own label perfectly. Out of split, it is chance."""
    rng = np.random.default_rng(0)
    rows = []
    for subject in range(6):
        table = pd.DataFrame(rng.normal(size=(80, 6)).astype(np.float32))
        table.columns = [f"x{i}" for i in range(6)]
        table.insert(0, "subject", f"s{subject}")
        table.insert(1, "frame", np.arange(80))
        table.insert(2, "AU01", np.where(rng.random(80) < 0.3, 3, 0).astype(np.int8))
        table.insert(3, "AU02", np.where(rng.random(80) < 0.3, 3, 0).astype(np.int8))
        rows.append(table)
    train = pd.concat(rows, ignore_index=True)
    base = AUDetector.from_settings("knn", {"n_neighbors": 1}, SETTINGS)
    stacked, _ = fit_stacked(base, train, None, SETTINGS.seed)
    scored = stacked.merge(train, on=["subject", "frame"])
    in_sample = base.raw_scores(scored[[f"x{i}" for i in range(6)]])
    for column, au in enumerate(("AU01", "AU02")):
        truth = scored[au] >= 2
        assert f1_score(truth, scored[score_columns((1, 2))[column]] >= 0.5) < 0.5
        # the same detector's scores of the frames it was fitted on: recalled perfectly
        assert f1_score(truth, in_sample[:, column] >= 0.5) == 1.0


def small_stack(params: dict):
    """Four training subjects and two test subjects of the onset task (the demo's folds), the
    per-frame detector, and a stacked detector with ``params`` fitted on its stack table."""
    train, test = onset_task(2, subjects=4, n_frames=120), onset_task(3, subjects=2, n_frames=120)
    base = AUDetector.from_settings("svm_linear", {"C": 1.0, "class_weight": "balanced"}, SETTINGS)
    stacked, _ = fit_stacked(base, train, test, SETTINGS.seed)
    keys = ["subject", "frame"]
    lstm = make_detector("lstm", {"units": 4, **params}, SETTINGS)
    cuts = {
        "thresholds": base.thresholds_.tolist(),
        "smoothing": base.smoothing_.tolist(),
        "tuned": base.tuned_.tolist(),
    }
    fit_detector(lstm, with_labels(stacked.merge(train[keys]), train), base_cuts=cuts)
    return base, lstm, test, with_labels(stacked.merge(test[keys]), test)


def test_below_min_subjects_every_au_is_scored_exactly_as_the_per_frame_detector():
    """Inner models learn from two or three subjects, too few to say what a network would do
    on new subjects, so without a filter the stacked detector is the per-frame one: its scores
    and its cuts."""
    base, lstm, test, stacked_test = small_stack({"filter_widths": [1]})
    assert lstm.from_base_.all() and lstm.best_epoch_ == 0
    np.testing.assert_array_equal(lstm.thresholds_, base.thresholds_)
    stacked_predictions = predict_frames(lstm, stacked_test)
    per_frame = predict_frames(base, test)
    for au in ("AU01", "AU02"):
        np.testing.assert_array_equal(stacked_predictions[f"{au}_c"], per_frame[f"{au}_c"])
        np.testing.assert_allclose(stacked_predictions[f"{au}_p"], per_frame[f"{au}_p"], rtol=1e-6)


def test_a_filter_over_the_per_frame_scores_is_chosen_where_episodes_outlast_the_noise():
    """AU1 lasts 16 frames and each frame shows it through noise of its own: a moving average
    of the per-frame scores, chosen on the training subjects' out-of-split scores, detects it
    better on new subjects than any one frame's score; AU2 (onsets only), which averaging
    blurs, is left unfiltered or filtered narrowly. No network is fitted (four subjects)."""
    base, lstm, test, stacked_test = small_stack({"filter_min_subjects": 4})
    assert lstm.from_base_.all() and lstm.best_epoch_ == 0
    assert lstm.smoothing_[0] >= 3 and lstm.smoothing_[1] <= lstm.smoothing_[0]
    episode = test["AU01"] >= 2
    filtered = f1_score(episode, predict_frames(lstm, stacked_test)["AU01_c"])
    per_frame = f1_score(episode, predict_frames(base, test)["AU01_c"])
    assert filtered > per_frame + 0.05, (filtered, per_frame)
    # a causal detector has no frames after the scored one to average: no filter
    _, causal, _, _ = small_stack({"context": "causal", "filter_min_subjects": 4})
    np.testing.assert_array_equal(causal.smoothing_, base.smoothing_)
    # nor does one with fewer training subjects than filter_min_subjects (default 6)
    _, few, _, _ = small_stack({})
    np.testing.assert_array_equal(few.smoothing_, base.smoothing_)
