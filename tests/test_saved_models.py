"""Saved detectors: they load to the same predictions, and refuse anything that could run code."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auflow.models.detector import AUDetector
from auflow.models.saved import (
    MANIFEST_FILE,
    MODEL_FILE,
    ModelError,
    build_manifest,
    load_model,
    save_model,
)


class PlantedPayload:
    """Runs code when unpickled or when its state is restored: what a shared model file must
    never be allowed to do."""

    def __init__(self, marker=""):
        self.marker = marker

    def __setstate__(self, state):
        Path(state["marker"]).write_text("code ran")


def fitted(classifier="random_forest", params=None):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(240, 5)).astype(np.float32)
    intensity = np.column_stack(
        [np.clip(np.round(2 * features[:, 0]), 0, 5), np.clip(np.round(2 * features[:, 1]), 0, 5)]
    ).astype(np.int8)
    subjects = np.repeat(["a", "b", "c", "d"], 60)
    detector = AUDetector(classifier, params, aus=(1, 12), smoothing=(1, 3), inner_splits=2)
    detector.fit(features, intensity, subjects)
    training = pd.DataFrame({"subject": subjects, "frame": np.tile(np.arange(60), 4)})
    return detector, features, subjects, training


def save(tmp_path, classifier="random_forest", params=None, normalise="none"):
    detector, features, subjects, training = fitted(classifier, params)
    manifest = build_manifest(
        detector,
        extractor="gabor_energy",
        extractor_params={"grid": 4},
        face_size=96,
        feature_names=[f"f{i}" for i in range(5)],
        normalise=normalise,
        training=training,
        config_hash="0123456789abcdef",
        model=classifier,
    )
    save_model(detector, tmp_path / "model", manifest)
    return detector, features, subjects


@pytest.mark.parametrize(
    ("classifier", "params"),
    [
        ("random_forest", {"n_estimators": 5}),
        ("knn", {}),
        ("smote_adaboost", {"n_estimators": 3}),
        ("logistic_regression", {"class_weight": "balanced"}),  # auflow's Logistic, multi-output
    ],
)
def test_a_saved_detector_predicts_what_it_predicted_before(tmp_path, classifier, params):
    detector, features, subjects = save(tmp_path, classifier, params)
    loaded = load_model(tmp_path / "model")
    np.testing.assert_array_equal(
        loaded.detector.decision_function(features, subjects),
        detector.decision_function(features, subjects),
    )
    np.testing.assert_array_equal(loaded.detector.thresholds_, detector.thresholds_)
    table = loaded.predict_table(features, subjects)
    assert list(table.columns) == ["AU01_p", "AU01_c", "AU12_p", "AU12_c"]
    np.testing.assert_array_equal(table[["AU01_c", "AU12_c"]], detector.predict(features, subjects))


def test_the_manifest_says_what_predict_needs(tmp_path):
    detector, _, _ = save(tmp_path)
    manifest = json.loads((tmp_path / "model" / MANIFEST_FILE).read_text())
    assert manifest["extractor"] == "gabor_energy" and manifest["face_size"] == 96
    assert manifest["aus"] == [1, 12] and manifest["occurrence_threshold"] == 2
    assert manifest["thresholds"]["AU12"] == pytest.approx(detector.thresholds_[1])
    assert manifest["training_subjects"] == {"a": 60, "b": 60, "c": 60, "d": 60}
    assert manifest["packages"]["scikit-learn"]
    model_bytes = (tmp_path / "model" / MODEL_FILE).read_bytes()
    assert manifest["model_sha256"] == hashlib.sha256(model_bytes).hexdigest()


def test_a_model_file_changed_after_training_is_refused(tmp_path):
    save(tmp_path)
    path = tmp_path / "model" / MODEL_FILE
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="SHA-256 differs"):
        load_model(tmp_path / "model")


def test_a_planted_file_that_would_run_code_is_refused_without_running_it(tmp_path):
    import skops.io as sio

    save(tmp_path)
    marker = tmp_path / "ran.txt"
    folder = tmp_path / "model"
    payload = PlantedPayload(str(marker))
    (folder / MODEL_FILE).write_bytes(sio.dumps(payload))
    # the attacker also fixes up the manifest's hash: the type check is what must refuse it
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["model_sha256"] = hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="PlantedPayload"):
        load_model(folder)
    assert not marker.exists()


def test_a_pickle_is_not_a_model_file(tmp_path):
    import pickle

    save(tmp_path)
    folder = tmp_path / "model"
    (folder / MODEL_FILE).write_bytes(pickle.dumps(PlantedPayload(str(tmp_path / "ran.txt"))))
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["model_sha256"] = hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="not a skops model file"):
        load_model(folder)
    assert not (tmp_path / "ran.txt").exists()


def test_an_incompatible_manifest_is_refused(tmp_path):
    save(tmp_path)
    path = tmp_path / "model" / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(ModelError, match="model format 99"):
        load_model(tmp_path / "model")
    manifest["packages"]["scikit-learn"] = "0.24.2"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="scikit-learn 0.24.2"):
        load_model(tmp_path / "model")


def test_a_folder_without_a_manifest_is_refused(tmp_path):
    with pytest.raises(ModelError, match="no manifest.json"):
        load_model(tmp_path)


def test_subject_normalisation_uses_each_inputs_own_median(tmp_path):
    _, features, subjects = save(tmp_path, normalise="subject_median")
    loaded = load_model(tmp_path / "model")
    shifted = features.copy()
    shifted[subjects == "a"] += 10.0  # a recording-wide offset, e.g. lighting
    np.testing.assert_array_equal(
        loaded.predict_table(features, subjects), loaded.predict_table(shifted, subjects)
    )
