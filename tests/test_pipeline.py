"""The fold pipeline the learning rules share (auflow.pipeline), on a generated dataset table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from auflow.io.parquet import read_table, write_table
from auflow.models.saved import load_model
from auflow.models.train import predict_frames
from auflow.pipeline import FoldIds, Model, Saving, classify_fold
from auflow.settings import EvaluationSettings

SUBJECTS = ("s1", "s2", "s3", "s4")
PER_SUBJECT = 75


def dataset_files(tmp_path):
    """A dataset table (AU12 recoverable from the first feature) and its folds table, one
    subject a fold; returns their paths and the intensities."""
    rng = np.random.default_rng(0)
    n = PER_SUBJECT * len(SUBJECTS)
    features = rng.normal(size=(n, 6)).astype(np.float32)
    intensity = np.clip(np.round(2.2 * features[:, 0] - 0.3), 0, 5).astype(np.int8)
    dataset = pd.DataFrame(features, columns=[f"f{i}" for i in range(6)])
    dataset.insert(0, "AU12", intensity)
    dataset.insert(0, "frame", np.tile(np.arange(PER_SUBJECT), len(SUBJECTS)))
    dataset.insert(0, "subject", np.repeat(SUBJECTS, PER_SUBJECT))
    folds = dataset[["subject", "frame"]].assign(
        fold=np.repeat(np.arange(len(SUBJECTS)), PER_SUBJECT).astype(np.int16)
    )
    write_table(dataset, tmp_path / "dataset.parquet")
    write_table(folds, tmp_path / "folds.parquet")
    return tmp_path / "dataset.parquet", tmp_path / "folds.parquet", dataset


# the features as they are (no subject medians subtracted), so a saved model scores the table's
MODEL = Model(
    "svm_linear",
    "svm_linear",
    {"C": 1.0},
    EvaluationSettings(aus=(12,), inner_splits=2, normalise="none"),
)
IDS = FoldIds("generated", "svm_linear", "group_kfold", False, 1)


def classify(tmp_path, **saving) -> pd.DataFrame:
    """Fold 1 (subject s2) of the generated dataset classified into ``tmp_path``; the dataset."""
    dataset_path, folds_path, dataset = dataset_files(tmp_path)
    classify_fold(
        MODEL,
        IDS,
        dataset=dataset_path,
        folds=folds_path,
        predictions=tmp_path / "predictions.parquet",
        metrics=tmp_path / "metrics.parquet",
        **saving,
    )
    return dataset


def test_a_fold_is_fitted_on_the_others_and_its_test_subject_predicted_and_scored(tmp_path):
    dataset = classify(tmp_path)
    predictions = read_table(tmp_path / "predictions.parquet")
    assert set(predictions["subject"]) == {"s2"} and (predictions["fold"] == 1).all()
    metrics = read_table(tmp_path / "metrics.parquet")
    assert set(metrics[["extractor", "classifier", "split"]].itertuples(index=False)) == {
        ("generated", "svm_linear", "group_kfold")
    }
    assert (metrics["fold"] == 1).all() and not metrics["leaky"].any()
    # the metrics score exactly the predictions written beside them
    truth = dataset.loc[dataset["subject"] == "s2", "AU12"].to_numpy() >= 2
    f1 = metrics.query("au == 12 and metric == 'f1'")["value"].item()
    assert f1 == f1_score(truth, predictions["AU12_c"].to_numpy())
    assert f1 > 0.8


def test_a_saved_fold_model_predicts_what_its_fold_predicted(tmp_path):
    saving = Saving("generated", {}, 48, "0123456789abcdef")
    dataset = classify(tmp_path, fold_model=tmp_path / "fold1", saving=saving)
    saved = load_model(tmp_path / "fold1")
    assert saved.manifest["model"] == "svm_linear"
    assert saved.manifest["extractor"] == "generated" and saved.manifest["face_size"] == 48
    assert saved.manifest["config_hash"] == "0123456789abcdef"
    test = dataset[dataset["subject"] == "s2"].drop(columns="AU12").reset_index(drop=True)
    again = predict_frames(saved.detector, test, 1)
    pd.testing.assert_frame_equal(again, read_table(tmp_path / "predictions.parquet"))
