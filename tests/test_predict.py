"""``auflow predict``: saved models applied to new faces, run as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from auflow.io.parquet import read_table

from conftest import TINY_CONFIG

EXTRACTOR = TINY_CONFIG["features"]["extractors"][0]
AUS = [f"AU{au:02d}" for au in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)]


def auflow(*args, cwd=None, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "auflow.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"auflow {' '.join(map(str, args))}:\n{result.stderr[-3000:]}")
    return result


def test_predict_reproduces_the_pipelines_predictions_for_a_held_out_subject(pipeline_run):
    folds = read_table(pipeline_run / "results/folds/group_kfold.parquet")
    subject = sorted(folds.loc[folds["fold"] == 1, "subject"].unique())[0]
    model = pipeline_run / f"results/models/folds/group_kfold/{EXTRACTOR}/svm_linear/fold1"
    out = pipeline_run / "predict_heldout.csv"
    images = pipeline_run / f"data/croppedImg/{subject}"
    auflow("predict", "--model", model, "--input", images, "--out", out, "--quiet")
    predicted = pd.read_csv(out)
    saved = read_table(
        pipeline_run / f"results/predictions/group_kfold/{EXTRACTOR}/svm_linear/fold1.parquet"
    )
    saved = saved[saved["subject"] == subject].reset_index(drop=True)
    assert predicted["frame"].tolist() == saved["frame"].tolist()
    assert (predicted["face_detected"] == 1).all() and (predicted["input"] == str(images)).all()
    for au in AUS:
        np.testing.assert_allclose(predicted[f"{au}_p"], saved[f"{au}_p"], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(predicted[f"{au}_c"], saved[f"{au}_c"])


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()


def test_a_video_gives_one_row_per_frame_and_a_blank_frame_has_no_face(pipeline_run, tmp_path):
    model = pipeline_run / f"results/models/{EXTRACTOR}/svm_linear"
    face = cv2.imread(str(pipeline_run / "data/croppedImg/SN001/1.png"), cv2.IMREAD_GRAYSCALE)
    rng = np.random.default_rng(0)
    frames = []
    for index in range(6):
        frame = rng.integers(90, 110, (240, 320), dtype=np.uint8)
        if index != 3:  # frame 4 shows no face at all
            big = cv2.resize(face, (160, 160), interpolation=cv2.INTER_CUBIC)
            frame[40:200, 80:240] = big
        frames.append(frame)
    video = tmp_path / "clip.avi"
    write_video(video, frames)
    out = tmp_path / "clip.parquet"
    auflow("predict", "--model", model, "--input", video, "--out", out, "--quiet")
    table = read_table(out)
    assert table["frame"].tolist() == [1, 2, 3, 4, 5, 6]
    assert np.all(np.diff(table["timestamp"]) > 0)
    blank = table.iloc[3]
    assert blank["face_detected"] == 0 and pd.isna(blank["AU12_p"]) and pd.isna(blank["AU12_c"])
    assert list(table.columns[:10]) == [
        "input",
        "frame",
        "timestamp",
        "face_id",
        "face_detected",
        "face_x",
        "face_y",
        "face_w",
        "face_h",
        "confidence",
    ]


def test_faces_found_in_a_larger_video_frame_score_like_their_crops(pipeline_run, tmp_path):
    # auflow demo-video films a subject's crops at 200 px inside 640x480 noisy frames; the
    # detector's crop frames the face a little differently from the original crop, so scores
    # shift, but they must follow the same frames. Stated tolerance: occurrence agrees on >= 70 %
    # of the frames for every AU, and the scores correlate positively over the subject's frames,
    # >= 0.2 on average over the AUs whose scores vary (measured on the tiny model, which sees
    # 48 px faces: 0.36 with subject_median normalisation, 0.62 without; with the box steadied
    # over the whole track, the lowest AU's agreement 0.725, AU12, was >= 0.75 with the running
    # anchor, while on make demo's model it rose from 0.74 to 0.81).
    model = pipeline_run / f"results/models/{EXTRACTOR}/svm_linear"
    images = pipeline_run / "data/croppedImg/SN001"
    video = tmp_path / "sn001.avi"
    auflow("demo-video", images, video)
    cropped = auflow("predict", "--model", model, "--input", images, "--out", tmp_path / "c.csv")
    found = auflow("predict", "--model", model, "--input", video, "--out", tmp_path / "v.csv")
    crops, filmed = pd.read_csv(tmp_path / "c.csv"), pd.read_csv(tmp_path / "v.csv")
    assert len(filmed) == len(crops) and (filmed["face_detected"] == 1).all()
    assert (filmed["face_w"] > 150).all() and (filmed["confidence"] > 0.5).all()
    # the user is told what such scores are worth, and what to train instead; crops are not
    # found in frames, so their scores get no such warning
    assert f"the {len(filmed)} face(s) found in frames" in found.stderr
    assert "features.align: landmarks" in found.stderr
    assert "found in frames" not in cropped.stderr
    correlations = []
    for au in AUS:
        if crops[f"{au}_p"].std() > 0:
            correlations.append(np.corrcoef(crops[f"{au}_p"], filmed[f"{au}_p"])[0, 1])
        assert (crops[f"{au}_c"] == filmed[f"{au}_c"]).mean() >= 0.7, au
    assert len(correlations) >= 6 and np.mean(correlations) >= 0.2


def test_a_real_photograph_is_found_cropped_and_scored(pipeline_run, tmp_path):
    from skimage import data

    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    model = pipeline_run / f"results/models/{EXTRACTOR}/svm_linear"
    out = tmp_path / "astronaut.csv"
    result = auflow(
        "predict", "--model", model, "--input", photo, "--out", out, "--detect", "always"
    )
    row = pd.read_csv(out).iloc[0]
    assert row["face_detected"] == 1
    # the box lies on the astronaut's face (centre near x 190, y 80 of the 512 px photograph)
    centre = (row["face_x"] + row["face_w"] / 2, row["face_y"] + row["face_h"] / 2)
    assert 150 < centre[0] < 240 and 30 < centre[1] < 130
    assert all(np.isfinite(row[f"{au}_p"]) for au in AUS)
    assert "with a face" in result.stderr


def test_refusals_name_what_is_wrong(pipeline_run, tmp_path):
    model = pipeline_run / f"results/models/{EXTRACTOR}/svm_linear"
    out = tmp_path / "x.csv"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = auflow("predict", "--model", model, "--input", empty, "--out", out, check=False)
    assert result.returncode != 0 and str(empty) in result.stderr
    missing = tmp_path / "nowhere.mp4"
    result = auflow("predict", "--model", model, "--input", missing, "--out", out, check=False)
    assert result.returncode != 0 and "nowhere.mp4" in result.stderr
    result = auflow("predict", "--model", tmp_path, "--input", empty, "--out", out, check=False)
    assert result.returncode != 0 and "no manifest.json" in result.stderr
    # a model whose manifest names another extractor than its features came from
    other = tmp_path / "other"
    shutil.copytree(model, other)
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "extractor": "lbp"}))
    images = pipeline_run / "data/croppedImg/SN001"
    result = auflow("predict", "--model", other, "--input", images, "--out", out, check=False)
    assert result.returncode != 0 and "other features than the model was trained on" in (
        result.stderr
    )
    # faces aligned in a way this auflow does not know
    (other / "manifest.json").write_text(json.dumps({**manifest, "align": "mesh"}))
    result = auflow("predict", "--model", other, "--input", images, "--out", out, check=False)
    assert result.returncode == 2 and "features.align 'mesh' is unknown" in result.stderr
    # an image too small to hold a face
    speck = tmp_path / "speck.png"
    cv2.imwrite(str(speck), np.zeros((1, 1), np.uint8))
    result = auflow("predict", "--model", model, "--input", speck, "--out", out, check=False)
    assert result.returncode == 2 and f"{speck}: 1x1 pixels" in result.stderr
    assert not out.exists()


def film(path: Path, faces: list[np.ndarray], **placement) -> Path:
    """One PNG of demo faces filmed in a 640x480 frame (several: side by side)."""
    from auflow.demo import compose_faces, film_face

    if len(faces) == 1:
        frame = film_face(faces[0], **placement)
    else:
        frame, _ = compose_faces(faces, **placement)
    cv2.imwrite(str(path), frame)
    return path


def demo_face(pipeline_run, subject: str, frame: int = 1) -> np.ndarray:
    path = pipeline_run / f"data/croppedImg/{subject}/{frame}.png"
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def test_two_photographs_of_different_faces_get_different_scores_from_the_static_model(
    pipeline_run, tmp_path
):
    model = pipeline_run / f"results/models/{EXTRACTOR}/svm_linear"
    photos = [film(tmp_path / f"{s}.png", [demo_face(pipeline_run, s)]) for s in ("SN001", "SN002")]
    out = tmp_path / "photos.csv"
    auflow("predict", "--model", model, "--input", *photos, "--out", out, "--quiet")
    table = pd.read_csv(out)
    assert len(table) == 2 and (table["face_detected"] == 1).all()
    assert (table["model"] == "static").all() and (table["face_id"] == 0).all()
    scores = table[[f"{au}_p" for au in AUS]].to_numpy()
    assert np.isfinite(scores).all()
    assert np.abs(scores[0] - scores[1]).max() > 1e-3
    # forced, the dynamic model gives both the same constant, and says why
    result = auflow(
        "predict", "--model", model, "--input", *photos, "--out", out, "--model-kind", "dynamic"
    )
    forced = pd.read_csv(out)
    assert (forced["model"] == "dynamic").all()
    np.testing.assert_allclose(forced.loc[0, "AU01_p"], forced.loc[1, "AU01_p"])
    assert "shorter than 30 frames" in result.stderr and "minus itself is zero" in result.stderr


def test_a_frame_of_five_faces_gives_five_rows_with_five_face_ids(pipeline_run, tmp_path):
    from auflow.demo import generate_demo_dataset

    subjects = generate_demo_dataset(tmp_path / "five", n_subjects=5, n_frames=1, size=96)
    faces = [
        cv2.imread(str(tmp_path / "five/croppedImg" / s / "1.png"), cv2.IMREAD_GRAYSCALE)
        for s in subjects
    ]
    photo = film(tmp_path / "group.png", faces)
    model = pipeline_run / f"results/models/{EXTRACTOR}/svm_linear"
    out = tmp_path / "group.csv"
    auflow("predict", "--model", model, "--input", photo, "--out", out, "--quiet")
    table = pd.read_csv(out)
    assert len(table) == 5 and (table["frame"] == 1).all()
    assert sorted(table["face_id"]) == [0, 1, 2, 3, 4]
    assert (table["face_detected"] == 1).all() and (table["model"] == "static").all()
    assert table[[f"{au}_p" for au in AUS]].notna().all().all()
    assert len(table[[f"{au}_p" for au in AUS]].round(6).drop_duplicates()) == 5


def test_two_subjects_side_by_side_keep_their_own_tracks_and_medians(pipeline_run, tmp_path):
    from auflow.demo import film_face
    from auflow.io.images import list_frames

    model = pipeline_run / f"results/models/{EXTRACTOR}/svm_linear"
    left = list_frames(pipeline_run / "data/croppedImg/SN001")
    right = list_frames(pipeline_run / "data/croppedImg/SN002")
    both, alone = [], []
    for (_, a), (_, b) in zip(left, right, strict=True):
        face_a = cv2.imread(str(a), cv2.IMREAD_GRAYSCALE)
        face_b = cv2.imread(str(b), cv2.IMREAD_GRAYSCALE)
        frame = film_face(face_a, face_px=200, centre=(160, 240))
        alone.append(frame.copy())
        frame[:, 320:] = film_face(face_b, face_px=200, centre=(480, 240))[:, 320:]
        both.append(frame)
    # image folders, not videos: OpenCV's Motion-JPEG encoder does not code the left half of a
    # frame alike when the right half differs, and the point is that nothing else differs
    for name, frames in (("both", both), ("alone", alone)):
        (tmp_path / name).mkdir()
        for number, frame in enumerate(frames, start=1):
            cv2.imwrite(str(tmp_path / name / f"{number}.png"), frame)
        auflow(
            "predict",
            "--model",
            model,
            "--input",
            tmp_path / name,
            "--out",
            tmp_path / f"{name}.csv",
            "--quiet",
        )
    both, alone = pd.read_csv(tmp_path / "both.csv"), pd.read_csv(tmp_path / "alone.csv")
    assert len(both) == 2 * len(left) and sorted(both["face_id"].unique()) == [0, 1]
    for face_id, side in ((0, both["face_x"] < 320), (1, both["face_x"] >= 320)):
        assert (both.loc[side, "face_id"] == face_id).all()
        assert (both.loc[side, "model"] == "dynamic").all()
    # the left person's scores do not depend on who sits beside them: their median is their own
    mine = both[both["face_id"] == 0].reset_index(drop=True)
    for au in AUS:
        np.testing.assert_allclose(mine[f"{au}_p"], alone[f"{au}_p"], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def crop_scores(pipeline_run, tmp_path_factory) -> pd.DataFrame:
    """What auflow predict writes for the crops that test_filmed_faces_score_like_their_crops
    films (the same for every placement, so predicted once)."""
    model = pipeline_run / f"results/models/{EXTRACTOR}/svm_linear"
    images = pipeline_run / "data/croppedImg/SN001"
    out = tmp_path_factory.mktemp("crops") / "c.csv"
    auflow("predict", "--model", model, "--input", images, "--out", out, "--quiet")
    return pd.read_csv(out)


@pytest.mark.parametrize(
    "placement",
    [
        {},
        {"centre": (400, 300)},
        {"face_px": 160},
        {"face_px": 240},
        {"angle": 15},
        {"angle": -15},
    ],
    ids=["upright", "shifted", "scaled-20%", "scaled+20%", "rotated+15", "rotated-15"],
)
def test_filmed_faces_score_like_their_crops(pipeline_run, crop_scores, tmp_path, placement):
    # Issue #24 asks for a mean per-AU score correlation >= 0.8 and occurrence agreement >= 0.9
    # for every AU; with the default crop of a model trained on unaligned crops (--align box:
    # the detector's box held still while the face stays put) not reached: on make demo's
    # gabor_energy model (SN002) 0.45-0.53 / 0.79-0.82 upright, shifted and scaled, 0.15-0.25
    # rotated (each frame's own box: 0.11-0.27). A model trained with features.align: landmarks
    # reaches it: tests/test_aligned_models.py. Held here with margin, so a regression shows.
    from auflow.demo import write_demo_video

    model = pipeline_run / f"results/models/{EXTRACTOR}/svm_linear"
    images = pipeline_run / "data/croppedImg/SN001"
    video = tmp_path / "filmed.avi"
    write_demo_video(images, video, **placement)
    auflow("predict", "--model", model, "--input", video, "--out", tmp_path / "v.csv", "--quiet")
    crops, filmed = crop_scores, pd.read_csv(tmp_path / "v.csv")
    assert len(filmed) == len(crops) and (filmed["face_detected"] == 1).all()
    assert (filmed["face_id"] == 0).all()
    correlations = [
        np.corrcoef(crops[f"{au}_p"], filmed[f"{au}_p"])[0, 1]
        for au in AUS
        if crops[f"{au}_p"].std() > 0
    ]
    agreement = [(crops[f"{au}_c"] == filmed[f"{au}_c"]).mean() for au in AUS]
    print(placement, "correlation", np.mean(correlations), "agreement", min(agreement))
    rotated = "angle" in placement
    assert np.mean(correlations) > (0.15 if rotated else 0.35)
    assert min(agreement) >= (0.3 if rotated else 0.65)


def test_no_face_a_face_at_the_edge_and_a_too_small_face_each_give_a_row(pipeline_run, tmp_path):
    from auflow.demo import film_face

    face = demo_face(pipeline_run, "SN001")
    blank = np.full((480, 640), 110, np.uint8)
    frames = {
        "blank": blank,
        "edge": film_face(face, face_px=200, centre=(90, 240)),  # a tenth of it outside
        "small": film_face(face, face_px=40),
    }
    for name, frame in frames.items():
        cv2.imwrite(str(tmp_path / f"{name}.png"), frame)
    model = pipeline_run / f"results/models/{EXTRACTOR}/svm_linear"
    out = tmp_path / "edges.csv"
    inputs = [tmp_path / f"{name}.png" for name in frames]
    auflow("predict", "--model", model, "--input", *inputs, "--out", out, "--min-face", 48)
    table = pd.read_csv(out).set_index("input")
    assert len(table) == 3
    assert table.loc[str(tmp_path / "blank.png"), "face_detected"] == 0
    assert table.loc[str(tmp_path / "small.png"), "face_detected"] == 0
    edge = table.loc[str(tmp_path / "edge.png")]
    assert edge["face_detected"] == 1 and np.isfinite(edge["AU01_p"])
    assert edge["face_x"] >= 0 and pd.isna(table.loc[str(tmp_path / "blank.png"), "AU01_p"])


def test_openface_format_has_openfaces_columns(pipeline_run, tmp_path):
    model = pipeline_run / f"results/models/{EXTRACTOR}/svm_linear"
    photo = film(tmp_path / "one.png", [demo_face(pipeline_run, "SN003")])
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((480, 640), 110, np.uint8))
    out = tmp_path / "openface.csv"
    auflow(
        "predict",
        "--model",
        model,
        "--input",
        photo,
        blank,
        "--out",
        out,
        "--format",
        "openface",
        "--quiet",
    )
    table = pd.read_csv(out)
    assert list(table.columns[:5]) == ["frame", "face_id", "timestamp", "confidence", "success"]
    assert list(table.columns[5:-1]) == [f"{au}_c" for au in AUS]  # an occurrence model: no _r
    assert table["success"].tolist() == [1, 0] and table["face_id"].tolist() == [0, 0]


@pytest.fixture(scope="module", autouse=True)
def _no_pythonpath_surprises():
    # the CLI runs in a subprocess with this interpreter; keep the package under test first
    # (for the whole module: crop_scores runs it too)
    src = str(Path(__file__).resolve().parents[1] / "src")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("PYTHONPATH", src + ":" + __import__("os").environ.get("PYTHONPATH", ""))
        yield
