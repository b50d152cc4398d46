"""The LSTM detector: windows of one subject's consecutive frames, a temporal task, saved models."""

from __future__ import annotations

import gc
import json
import os
import stat
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import f1_score

from auflow.models import DETECTORS, check_detector, make_detector
from auflow.models.detector import AUDetector
from auflow.models.registry import KERAS_FILE as KERAS_MODEL_FILE
from auflow.models.saved import (
    ModelError,
    build_manifest,
    load_model,
    save_model,
)
from auflow.models.sequence import (
    STATE_FILE,
    LSTMDetector,
    check_keras_file,
    training_ends,
    window_rows,
)
from auflow.models.train import fit_detector, predict_frames
from auflow.settings import EvaluationSettings

# -- windows ---------------------------------------------------------------------------------


def shuffled_keys(seed=0):
    """Two subjects, one with a gap (frames 1-5 then 9-11), rows in a random order."""
    groups = np.array(["a"] * 8 + ["b"] * 4)
    frames = np.array([1, 2, 3, 4, 5, 9, 10, 11, 1, 2, 3, 4])
    order = np.random.default_rng(seed).permutation(len(groups))
    return groups[order], frames[order]


@pytest.mark.parametrize("context", ["causal", "centred"])
def test_windows_never_cross_subjects_or_gaps(context):
    groups, frames = shuffled_keys()
    rows = window_rows(groups, frames, window=4, context=context)
    assert rows.shape == (len(groups), 4)
    for i in range(len(groups)):
        members = rows[i][rows[i] >= 0]
        assert (groups[members] == groups[i]).all()
        # a run of consecutive frames that holds the row's own frame
        run = frames[members]
        assert (np.diff(run) == 1).all()
        assert frames[i] in run
        if groups[i] == "a":
            assert (run <= 5).all() if frames[i] <= 5 else (run >= 9).all()


def running_keys(seed=0):
    """Frame numbers that run on from one subject to the next, rows in a random order: ``a``
    1-6, ``b`` 7-12, ``c`` 13-15; and one recording cut in two subjects at frame 23: ``d``
    16-22, ``e`` 23-30."""
    spans = {"a": (1, 6), "b": (7, 12), "c": (13, 15), "d": (16, 22), "e": (23, 30)}
    groups = np.concatenate([[g] * (last - first + 1) for g, (first, last) in spans.items()])
    frames = np.concatenate([np.arange(first, last + 1) for first, last in spans.values()])
    order = np.random.default_rng(seed).permutation(len(groups))
    return groups[order], frames[order]


@pytest.mark.parametrize("context", ["causal", "centred"])
def test_windows_never_cross_subjects_whose_frame_numbers_run_on(context):
    groups, frames = running_keys()
    rows = window_rows(groups, frames, window=4, context=context)
    key = {(g, f): i for i, (g, f) in enumerate(zip(groups, frames, strict=True))}
    mixed = [
        (str(groups[i]), int(frames[i]))
        for i in range(len(groups))
        if set(groups[rows[i][rows[i] >= 0]]) != {groups[i]}
    ]
    assert mixed == []
    # at each cut, the window stops at its subject's first or last frame
    if context == "causal":
        assert rows[key[("b", 7)]].tolist() == [-1, -1, -1, key[("b", 7)]]
        assert rows[key[("e", 24)]].tolist() == [-1, -1, key[("e", 23)], key[("e", 24)]]
    else:
        window = [key[("d", 20)], key[("d", 21)], key[("d", 22)], -1]
        assert rows[key[("d", 21)]].tolist() == window


def test_training_windows_start_again_where_a_subject_starts_mid_recording():
    groups, frames = running_keys()
    ends = training_ends(groups, frames, stride=4)
    chosen = sorted(zip(groups[ends].tolist(), frames[ends].tolist(), strict=True))
    starts = {"a": [1, 5], "b": [7, 11], "c": [13], "d": [16, 20], "e": [23, 27]}
    assert chosen == [(g, f) for g, firsts in starts.items() for f in firsts]


def test_a_causal_window_ends_at_its_own_frame_and_pads_in_front():
    groups, frames = shuffled_keys()
    rows = window_rows(groups, frames, window=4, context="causal")
    key = {(g, f): i for i, (g, f) in enumerate(zip(groups, frames, strict=True))}
    expected = {
        ("a", 4): [("a", 1), ("a", 2), ("a", 3), ("a", 4)],
        ("a", 10): [None, None, ("a", 9), ("a", 10)],  # frame 8 is missing: the window stops
        ("b", 1): [None, None, None, ("b", 1)],
    }
    for (group, frame), window in expected.items():
        want = [-1 if k is None else key[k] for k in window]
        assert rows[key[(group, frame)]].tolist() == want


def test_a_centred_window_holds_its_frame_in_the_middle():
    groups, frames = shuffled_keys()
    rows = window_rows(groups, frames, window=5, context="centred")
    key = {(g, f): i for i, (g, f) in enumerate(zip(groups, frames, strict=True))}
    row = rows[key[("a", 3)]]
    assert frames[row].tolist() == [1, 2, 3, 4, 5]
    row = rows[key[("b", 4)]]
    assert frames[row[:3]].tolist() == [2, 3, 4] and row[3:].tolist() == [-1, -1]


def test_training_windows_end_every_stride_frames_of_each_segment():
    groups, frames = shuffled_keys()
    ends = training_ends(groups, frames, stride=2)
    chosen = sorted(zip(groups[ends], frames[ends], strict=True))
    assert chosen == [("a", 1), ("a", 3), ("a", 5), ("a", 9), ("a", 11), ("b", 1), ("b", 3)]


def test_a_repeated_frame_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"subject 'a', frame 2: appears twice"):
        window_rows(np.array(["a", "a", "a"]), np.array([1, 2, 2]), window=3)


# -- a task that needs the past --------------------------------------------------------------

LAG, EPISODE = 3, 8


def spike_task(seed, subjects, n_frames=160, n_features=4):
    """An AU switched on ``LAG`` frames after a spike of feature 0, for ``EPISODE`` frames.

    At the frames where the AU is on, the features are noise like everywhere else: only a
    model that remembers the spike can tell. Returns a dataset table (subject, frame, AU01,
    features) sorted by subject and frame.
    """
    rng = np.random.default_rng(seed)
    tables = []
    for number in range(subjects):
        features = rng.normal(size=(n_frames, n_features)).astype(np.float32)
        intensity = np.zeros(n_frames, np.int8)
        starts = np.arange(5, n_frames - LAG - EPISODE, 25) + rng.integers(0, 8, 1)[0]
        for start in starts:
            features[start, 0] += 6.0
            intensity[start + LAG : start + LAG + EPISODE] = 3
        table = pd.DataFrame(features, columns=[f"x{i}" for i in range(n_features)])
        table.insert(0, "subject", f"s{number}")
        table.insert(1, "frame", np.arange(1, n_frames + 1))
        table.insert(2, "AU01", intensity)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


SETTINGS = EvaluationSettings(aus=(1,), inner_splits=3, seed=0)
# the network of the features themselves (inputs: features), as the seed's: what these tests
# ask of windows and training holds for the stacked one alike (tests/test_stacking.py)
LSTM_PARAMS = {
    "inputs": "features",
    "context": "causal",
    "units": 16,
    "dropout": 0.0,
    "window": 12,
    "stride": 1,
    "learning_rate": 0.01,
    "batch_size": 32,
    "epochs": 30,
    "patience": 8,
}


@pytest.fixture(scope="module")
def spike_lstm():
    train = spike_task(0, subjects=6)
    detector = fit_detector(make_detector("lstm", LSTM_PARAMS, SETTINGS), train)
    return detector, train, spike_task(1, subjects=3)


def test_the_lstm_beats_a_per_frame_model_when_the_label_depends_on_earlier_frames(spike_lstm):
    detector, train, test = spike_lstm
    truth = test["AU01"] >= 2
    lstm = predict_frames(detector, test)
    logistic = fit_detector(AUDetector.from_settings("logistic_regression", {}, SETTINGS), train)
    per_frame = predict_frames(logistic, test)
    lstm_f1 = f1_score(truth, lstm["AU01_c"])
    per_frame_f1 = f1_score(truth, per_frame["AU01_c"])
    assert lstm_f1 > 0.7
    assert lstm_f1 > per_frame_f1 + 0.3
    # it stopped on the validation loss of subjects it did not train on, and tuned its cut
    assert 1 <= detector.best_epoch_ <= len(detector.validation_loss_)
    assert detector.tuned_.all()


def test_scores_map_back_to_their_own_frames(spike_lstm):
    detector, _, test = spike_lstm
    x = test[["x0", "x1", "x2", "x3"]].to_numpy(np.float32)
    groups, frames = test["subject"].to_numpy(), test["frame"].to_numpy()
    scores = detector.decision_function(x, groups, frames)
    reordered = np.random.default_rng(2).permutation(len(test))
    shuffled = detector.decision_function(x[reordered], groups[reordered], frames[reordered])
    # same frames in another row order: the same score per (subject, frame), without smoothing
    assert (detector.smoothing_ == 1).all()
    np.testing.assert_allclose(shuffled, scores[reordered], rtol=1e-5, atol=1e-6)


def test_a_refitted_detector_reuses_its_network_and_fits_as_a_new_one():
    params = {**LSTM_PARAMS, "epochs": 3, "dropout": 0.3}
    first, other = spike_task(3, subjects=3, n_frames=60), spike_task(4, subjects=3, n_frames=60)
    keys = first["subject"].to_numpy(), first["frame"].to_numpy()
    x = first[["x0", "x1", "x2", "x3"]].to_numpy(np.float32)
    detector = fit_detector(make_detector("lstm", params, SETTINGS), first)
    network, scores = detector.model_, detector.decision_function(x, *keys)
    # refitted on other data, then on the first again: the same network object, reset to its
    # initial weights, optimizer and dropout state, so the same scores as the first fit
    fit_detector(detector, other)
    fit_detector(detector, first)
    assert detector.model_ is network
    np.testing.assert_array_equal(detector.decision_function(x, *keys), scores)
    fresh = fit_detector(make_detector("lstm", params, SETTINGS), first)
    assert fresh.model_ is not network
    np.testing.assert_array_equal(fresh.decision_function(x, *keys), scores)
    # other parameters: another network
    fit_detector(detector.set_params(units=8), first)
    assert detector.model_ is not network


def arrays_held(dataset) -> list[np.ndarray]:
    """The numpy arrays a dataset object reaches: its attributes (and tuples or lists of them)
    and the closure cells of its class's methods."""
    found, values = [], list(vars(dataset).values())
    for method in vars(type(dataset)).values():
        values += [cell.cell_contents for cell in getattr(method, "__closure__", None) or ()]
    while values:
        value = values.pop()
        if isinstance(value, np.ndarray):
            found.append(value)
        elif isinstance(value, tuple | list):
            values += value
    return found


def test_a_fitted_lstm_keeps_no_copy_of_its_frames():
    # Keras keeps alive every dataset it iterated over; a study's trials fit and predict again
    # and again in one process, so what those datasets hold would pile up (1.2 GB at DISFA size)
    import keras

    train = spike_task(5, subjects=3, n_frames=1000, n_features=64)
    x = train[[f"x{i}" for i in range(64)]].to_numpy(np.float32)
    keys = train["subject"].to_numpy(), train["frame"].to_numpy()
    detector = fit_detector(make_detector("lstm", {**LSTM_PARAMS, "epochs": 1}, SETTINGS), train)
    detector.decision_function(x, *keys)
    gc.collect()
    datasets = [o for o in gc.get_objects() if isinstance(o, keras.utils.PyDataset)]
    assert datasets, "Keras no longer keeps its datasets: this test checks nothing"
    # each fit and prediction made a padded copy of the frames, as large as x
    held = [a.nbytes for d in datasets for a in arrays_held(d) if a.nbytes >= x.nbytes / 4]
    assert held == [], f"datasets still hold arrays of {held} bytes; the frames are {x.nbytes}"


def test_a_saved_lstm_predicts_what_it_predicted_before(spike_lstm, tmp_path):
    detector, train, test = spike_lstm
    features = ["x0", "x1", "x2", "x3"]
    manifest = build_manifest(
        detector,
        extractor="gabor_energy",
        extractor_params={},
        face_size=96,
        feature_names=features,
        normalise="none",
        training=train,
        config_hash="0123456789abcdef",
        model="lstm",
    )
    save_model(detector, tmp_path / "model", manifest)
    saved = json.loads((tmp_path / "model/manifest.json").read_text())
    assert saved["model_file"] == KERAS_MODEL_FILE
    assert set(saved["files_sha256"]) == {KERAS_MODEL_FILE, STATE_FILE}
    assert saved["classifier"] == "lstm" and saved["classifier_params"]["window"] == 12
    loaded = load_model(tmp_path / "model")
    np.testing.assert_array_equal(loaded.detector.thresholds_, detector.thresholds_)
    table = loaded.predict_table(
        test[features].to_numpy(np.float32), test["subject"].to_numpy(), test["frame"].to_numpy()
    )
    before = predict_frames(detector, test)
    np.testing.assert_allclose(table["AU01_p"], before["AU01_p"], rtol=1e-6)
    np.testing.assert_array_equal(table["AU01_c"], before["AU01_c"])


def test_a_save_over_a_killed_saves_leftovers_leaves_only_its_files_readable_as_usual(
    spike_lstm, tmp_path
):
    detector, _, test = spike_lstm
    # what a save killed in the middle of each file leaves: a hidden file beside the target
    for leftover in (".model.keras.tmp.keras", f".{STATE_FILE}.tmp"):
        (tmp_path / leftover).write_bytes(b"half a file")
        (tmp_path / leftover).chmod(0o600)
    previous = os.umask(0o022)
    try:
        written = detector.save(tmp_path)
    finally:
        os.umask(previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {
        name: 0o644 for name in written
    }
    keys = test["subject"].to_numpy(), test["frame"].to_numpy()
    x = test[["x0", "x1", "x2", "x3"]].to_numpy(np.float32)
    np.testing.assert_array_equal(
        LSTMDetector.load(tmp_path).decision_function(x, *keys),
        detector.decision_function(x, *keys),
    )


def test_a_changed_detector_state_is_refused(spike_lstm, tmp_path):
    detector, train, _ = spike_lstm
    manifest = build_manifest(
        detector,
        extractor="hog",
        extractor_params={},
        face_size=96,
        feature_names=["x0", "x1", "x2", "x3"],
        normalise="none",
        training=train,
        config_hash="0",
        model="lstm",
    )
    save_model(detector, tmp_path, manifest)
    state = json.loads((tmp_path / STATE_FILE).read_text())
    state["thresholds"] = [0.0]
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(ModelError, match="detector.json: SHA-256 differs"):
        load_model(tmp_path)


def test_a_keras_file_naming_a_foreign_module_is_refused(tmp_path):
    path = tmp_path / "model.keras"
    config = {"module": "keras", "config": {"layers": [{"module": "os", "class_name": "system"}]}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    with pytest.raises(ValueError, match="names modules outside Keras.*: os"):
        check_keras_file(path)


# -- intensity, parameters, the registry -----------------------------------------------------


def test_the_intensity_head_predicts_within_0_to_5():
    train = spike_task(3, subjects=3, n_frames=60)
    settings = SETTINGS.replace(target="intensity")
    params = {"inputs": "features", "units": 4, "window": 4, "epochs": 2}
    detector = fit_detector(make_detector("lstm", params, settings), train)
    predictions = predict_frames(detector, train)
    assert ((predictions["AU01_r"] >= 0) & (predictions["AU01_r"] <= 5)).all()
    assert (predictions["AU01_c"] == (predictions["AU01_r"] >= 2)).all()
    assert detector.thresholds_.tolist() == [2.0] and not detector.tuned_.any()


def test_the_lstm_is_a_registered_model_with_checked_parameters():
    assert "lstm" in DETECTORS
    with pytest.raises(ValueError, match="unexpected keyword argument 'unit'"):
        check_detector("lstm", {"unit": 50})
    with pytest.raises(ValueError, match="lstm: window must be a positive integer"):
        check_detector("lstm", {"window": 0})
    with pytest.raises(ValueError, match="context must be one of"):
        check_detector("lstm", {"context": "future"})
    check_detector("lstm", {"units": 50, "dropout": 0.2})


def test_the_lstm_follows_the_estimator_contract():
    detector = make_detector("lstm", {"units": 8}, SETTINGS)
    assert isinstance(detector, LSTMDetector) and detector.units == 8
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    copy.set_params(window=4)
    assert copy.window == 4 and detector.window == 16
    assert not hasattr(copy, "model_")


# -- studies ---------------------------------------------------------------------------------


def test_an_lstm_study_reports_epochs_to_its_pruner_and_resumes_to_its_total(tmp_path):
    import optuna

    from auflow.study import run_study

    # four training subjects: each inner part trains on two, one of them for early stopping
    dataset = spike_task(4, subjects=5, n_frames=48)
    folds = dataset[["subject", "frame"]].assign(fold=np.where(dataset["subject"] == "s4", 1, 0))
    settings = SETTINGS.replace(inner_splits=2)
    base = {"inputs": "features", "epochs": 2, "patience": 2, "stride": 2}
    journal = tmp_path / "journal.log"
    study, best = run_study(dataset, folds, 1, "lstm", settings, 1, journal, "s", base_params=base)
    assert len(study.trials) == 1
    # minus the validation loss of every epoch of the first inner part
    assert sorted(study.trials[0].intermediate_values) == [0, 1]
    assert all(v < 0 for v in study.trials[0].intermediate_values.values())
    assert best["epochs"] == 2 and 8 <= best["window"] <= 32
    assert best["inputs"] == "features"  # a network of the features is not offered stacking
    # stopped after one trial, asked for two: one more, then never beyond
    study, _ = run_study(dataset, folds, 1, "lstm", settings, 2, journal, "s", base_params=base)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert sum(t.state in finished for t in study.trials) == 2
    study, _ = run_study(dataset, folds, 1, "lstm", settings, 2, journal, "s", base_params=base)
    assert len(study.trials) == 2
