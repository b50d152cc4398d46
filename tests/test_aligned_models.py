"""``features.align: landmarks``: training faces aligned as ``auflow predict`` aligns filmed ones.

A tiny workflow run with the option (its own, beside the shared one of the other tests), then
the saved models applied to crops and to the same faces filmed inside larger frames.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from auflow.io.parquet import read_metadata, read_table

from conftest import TINY_CONFIG, make_workdir, snakemake

EXTRACTOR = "gabor_energy"
AUS = [f"AU{au:02d}" for au in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)]
ALIGNED_CONFIG = {
    **TINY_CONFIG,
    # one shard a subject: the aligner steadies its transform over a shard's frames, as
    # auflow predict does over a folder's
    "features": {
        "face_size": 48,
        "shard_size": 64,
        "extractors": [EXTRACTOR],
        "align": "landmarks",
    },
    "classifiers": {"svm_linear": {"params": {"C": 0.1, "class_weight": "balanced"}}},
    "study": {"enabled": False},
    "models": {"save_final": True, "save_folds": True, "static": False},
}
FINAL = f"results/models/{EXTRACTOR}/svm_linear"
FOLD = f"results/models/folds/group_kfold/{EXTRACTOR}/svm_linear/fold1"
PREDICTIONS = f"results/predictions/group_kfold/{EXTRACTOR}/svm_linear/fold1.parquet"


@pytest.fixture(scope="module")
def aligned_run(tmp_path_factory):
    workdir = make_workdir(tmp_path_factory.mktemp("aligned"), ALIGNED_CONFIG)
    targets = [f"{FINAL}/manifest.json", PREDICTIONS]  # the fold's model comes with these
    snakemake(workdir, "--cores", "2", *targets)
    return workdir


def auflow(*args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "auflow.cli", *map(str, args)], capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(f"auflow {' '.join(map(str, args))}:\n{result.stderr[-3000:]}")
    return result


def test_the_option_reaches_the_features_and_the_saved_model(aligned_run):
    metadata = read_metadata(aligned_run / f"results/features/{EXTRACTOR}/SN001/000.parquet")
    assert metadata["align"] == "landmarks"
    manifest = json.loads((aligned_run / FINAL / "manifest.json").read_text())
    assert manifest["align"] == "landmarks"


def test_predict_aligns_crops_as_the_pipeline_did(aligned_run, tmp_path):
    folds = read_table(aligned_run / "results/folds/group_kfold.parquet")
    subject = sorted(folds.loc[folds["fold"] == 1, "subject"].unique())[0]
    images = aligned_run / f"data/croppedImg/{subject}"
    out = tmp_path / "heldout.csv"
    auflow("predict", "--model", aligned_run / FOLD, "--input", images, "--out", out, "--quiet")
    predicted = pd.read_csv(out)
    saved = read_table(aligned_run / PREDICTIONS)
    saved = saved[saved["subject"] == subject].reset_index(drop=True)
    assert predicted["frame"].tolist() == saved["frame"].tolist()
    for au in AUS:
        np.testing.assert_allclose(predicted[f"{au}_p"], saved[f"{au}_p"], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(predicted[f"{au}_c"], saved[f"{au}_c"])


@pytest.fixture(scope="module")
def crop_scores(aligned_run, tmp_path_factory) -> pd.DataFrame:
    """What auflow predict writes for the crops that test_filmed_faces_score_like_their_crops
    films (the same for every placement, so predicted once)."""
    images = aligned_run / "data/croppedImg/SN001"
    out = tmp_path_factory.mktemp("crops") / "c.csv"
    auflow("predict", "--model", aligned_run / FINAL, "--input", images, "--out", out, "--quiet")
    return pd.read_csv(out)


@pytest.mark.parametrize(
    "placement",
    [
        {},
        {"centre": (400, 300)},
        {"noise": 40.0},
        {"face_px": 160},
        {"face_px": 240},
        {"angle": 15},
        {"angle": -15},
    ],
    ids=["upright", "shifted", "noisy", "scaled-20%", "scaled+20%", "rotated+15", "rotated-15"],
)
def test_filmed_faces_score_like_their_crops(aligned_run, crop_scores, tmp_path, placement):
    # Issue #24: mean per-AU score correlation with the crops' >= 0.8, occurrence agreement
    # >= 0.9 for every AU. On make demo's six subjects (96-px faces) with features.align:
    # landmarks: 0.84-0.88 / 0.98-1.00 (README). That mean mixes two kinds of AU. One that comes
    # and goes in the clip moves its score by whole units, which the film must follow: here
    # (48-px faces of 4 subjects, SN001's 40 frames: AU01, AU04, AU15) 0.999-1.000 in every
    # placement. One that stays off (or on) throughout only wavers about its "no", and two such
    # series correlate as far as the film's noise lets them: 0.54-0.82 here, so the mean over
    # all AUs is 0.59-0.70 (its box-cropped twin in tests/test_predict.py: 0.26-0.30 rotated).
    from auflow.demo import write_demo_video

    model = aligned_run / FINAL
    images = aligned_run / "data/croppedImg/SN001"
    video = tmp_path / "filmed.avi"
    write_demo_video(images, video, **placement)
    auflow("predict", "--model", model, "--input", video, "--out", tmp_path / "v.csv", "--quiet")
    crops, filmed = crop_scores, pd.read_csv(tmp_path / "v.csv")
    assert len(filmed) == len(crops) and (filmed["face_detected"] == 1).all()
    correlations = {
        au: np.corrcoef(crops[f"{au}_p"], filmed[f"{au}_p"])[0, 1]
        for au in AUS
        if crops[f"{au}_p"].std() > 0
    }
    coming_and_going = [au for au in AUS if 0 < crops[f"{au}_c"].mean() < 1]
    agreement = [(crops[f"{au}_c"] == filmed[f"{au}_c"]).mean() for au in AUS]
    print(placement, "correlation", correlations, "agreement", min(agreement))
    assert len(coming_and_going) >= 2
    assert min(correlations[au] for au in coming_and_going) >= 0.95
    assert np.mean(list(correlations.values())) >= 0.5
    assert min(agreement) >= 0.95


def test_an_aligned_model_refuses_another_crop(aligned_run, tmp_path):
    images = aligned_run / "data/croppedImg/SN001"
    args = ["predict", "--model", aligned_run / FINAL, "--input", images, "--out", tmp_path / "x"]
    result = auflow(*args, "--align", "box", check=False)
    assert result.returncode == 2
    assert "trained on faces aligned by their landmarks" in result.stderr
    assert "--align landmarks, not 'box'" in result.stderr


def test_without_dlib_predict_says_what_to_install(aligned_run, tmp_path):
    code = (
        "import sys; sys.modules['dlib'] = None\n"
        "from auflow.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    images = aligned_run / "data/croppedImg/SN001"
    args = ["predict", "--model", aligned_run / FINAL, "--input", images, "--out", tmp_path / "x"]
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr
    assert "auflow: error: aligning faces by landmarks needs dlib" in result.stderr
    assert "pip install dlib-bin==20.0.1 face-recognition-models==0.3.0" in result.stderr
    assert not (tmp_path / "x").exists()
