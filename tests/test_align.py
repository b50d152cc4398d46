"""Faces aligned by their landmarks (dlib's 5-point model) to one canonical frame (issue #24)."""

from __future__ import annotations

import math
import subprocess
import sys

import cv2
import numpy as np
import pytest

from auflow.demo import film_face, generate_demo_dataset
from auflow.features.align import (
    ALIGNED_LANDMARKS,
    CANONICAL_LANDMARKS,
    Landmarker,
    crop_eyes,
    landmark_eyes,
    similarity_to,
)
from auflow.features.extract import extract_shard
from auflow.features.face import FaceFinder, align_face
from auflow.features.track import steady_geometry
from auflow.io.images import grey_levels, list_frames, load_face


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Three demo subjects of 30 frames at 96 px."""
    root = tmp_path_factory.mktemp("demo")
    generate_demo_dataset(root, n_subjects=3, n_frames=30, size=96, seed=0)
    return root / "croppedImg"


def first_face(demo, subject="SN001") -> np.ndarray:
    return cv2.imread(str(demo / subject / "1.png"), cv2.IMREAD_GRAYSCALE)


def eye_line_degrees(points: np.ndarray) -> float:
    """The angle of the line from the image-left eye's centre to the image-right one's
    (image coordinates: positive turns clockwise on screen)."""
    right, left = points[0:2].mean(axis=0), points[2:4].mean(axis=0)
    return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))


def test_the_similarity_fit_recovers_a_known_rotation_scale_and_shift():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 200, (5, 2))
    angle, scale, shift = math.radians(-12.0), 0.47, np.array([3.0, -8.0])
    rotation = scale * np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    target = points @ rotation.T + shift
    matrix = similarity_to(points, target)
    np.testing.assert_allclose(matrix[:, :2], rotation, atol=1e-12)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-10)


@pytest.mark.parametrize("angle", [-15.0, 15.0])
def test_a_face_rotated_by_a_known_angle_is_measured_and_comes_out_level(demo, angle):
    finder, landmarker = FaceFinder("always"), Landmarker()

    def landmarks(frame):
        (face,) = finder.find_faces(grey_levels(frame), eyes=False)
        return landmarker.landmarks(frame, face.box)

    upright = landmarks(film_face(first_face(demo), face_px=200))
    frame = film_face(first_face(demo), face_px=200, angle=angle)
    points = landmarks(frame)
    # film_face turns counter-clockwise, so the eye line turns clockwise by -angle in image
    # coordinates, from where it lies in the upright face (this face's head is tilted by 2.7
    # degrees in its crop)
    assert abs(eye_line_degrees(points) - eye_line_degrees(upright) + angle) < 0.5
    aligned = align_face(grey_levels(frame), landmark_eyes(points), 96)
    again = landmarker.landmarks(frame_levels(aligned), landmarker.crop_box_of(aligned.shape))
    # as level as the canonical frame, and every landmark where it says (measured: within 0.4
    # degrees and 0.7 % of the face)
    assert abs(eye_line_degrees(again) - eye_line_degrees(CANONICAL_LANDMARKS)) < 1.0
    assert np.abs((again + 0.5) / 96 - CANONICAL_LANDMARKS).max() < 0.015


@pytest.mark.parametrize(
    "placement",
    [
        {},
        {"centre": (400, 300)},
        {"face_px": 160},
        {"face_px": 240},
        {"angle": 15.0},
        {"angle": -15.0},
    ],
    ids=["upright", "shifted", "scaled-20%", "scaled+20%", "rotated+15", "rotated-15"],
)
def test_a_filmed_face_aligned_looks_like_its_crop_aligned(demo, placement):
    crop = first_face(demo, "SN002")
    frame = grey_levels(film_face(crop, **placement))
    (face,) = FaceFinder("always").find_faces(frame, eyes=False)
    landmarker = Landmarker()
    filmed = align_face(
        frame,
        landmark_eyes(landmarker.landmarks(frame_levels(frame), face.box), ALIGNED_LANDMARKS),
        96,
    )
    crop = grey_levels(crop)
    aligned_crop = align_face(crop, crop_eyes(crop, landmarker), 96)
    # the aligned frame shows the crop's middle: nothing from around the face enters it
    # (measured 0.986-0.999)
    correlation = np.corrcoef(filmed.ravel(), aligned_crop.ravel())[0, 1]
    assert correlation > 0.98, correlation


def frame_levels(frame: np.ndarray) -> np.ndarray:
    return cv2.convertScaleAbs(frame, alpha=255.0)


def test_a_subjects_crops_are_aligned_by_one_steadied_transform(demo):
    crops = [load_face(path) for _, path in list_frames(demo / "SN003")]
    landmarker = Landmarker()
    measured = np.array([crop_eyes(crop, landmarker) for crop in crops])
    steadied = steady_geometry(measured)
    # each frame's own fit moves by a fraction of a pixel from frame to frame (the landmarks'
    # noise and the demo head's tremor); the face stays put, so one transform aligns them all
    assert np.abs(np.diff(measured, axis=0)).mean() > 0.2
    np.testing.assert_array_equal(steadied, np.repeat(steadied[:1], len(crops), axis=0))
    np.testing.assert_allclose(steadied[0], np.median(measured, axis=0))
    face = align_face(crops[0], steadied[0], 96)
    assert face.shape == (96, 96) and face.dtype == np.float32


def test_features_of_aligned_training_faces(demo):
    paths = [path for _, path in list_frames(demo / "SN001")]
    plain = extract_shard("SN001", paths, "gabor_energy", None, 48)
    aligned = extract_shard("SN001", paths, "gabor_energy", None, 48, align="landmarks")
    again = extract_shard("SN001", paths, "gabor_energy", None, 48, align="landmarks", batch_size=7)
    assert list(aligned.columns) == list(plain.columns)
    assert aligned["frame"].tolist() == plain["frame"].tolist()
    features = aligned.columns[2:]
    # another geometry, so other features; the same ones however the frames are batched
    assert not np.allclose(aligned[features], plain[features])
    np.testing.assert_array_equal(again[features], aligned[features])
    with pytest.raises(ValueError, match="needs a features.face_size"):
        extract_shard("SN001", paths, "gabor_energy", None, None, align="landmarks")
    with pytest.raises(ValueError, match="align must be one of none, landmarks"):
        extract_shard("SN001", paths, "gabor_energy", None, 48, align="eyes")


def test_without_dlib_aligning_says_what_to_install():
    # dlib made unimportable in a fresh interpreter, as on a machine without the extra
    code = (
        "import sys; sys.modules['dlib'] = None\n"
        "from auflow.features.align import Landmarker, LandmarksUnavailable\n"
        "try:\n"
        "    Landmarker().predictor\n"
        "except LandmarksUnavailable as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "needs dlib" in result.stdout
    assert "pip install dlib-bin==20.0.1 face-recognition-models==0.3.0" in result.stdout


def test_landmarks_follow_a_moving_face_until_the_detector_must_look_again(demo):
    from auflow.features.align import LandmarkFollower, landmark_box

    finder, landmarker = FaceFinder("always"), Landmarker()
    follower = LandmarkFollower(landmarker, max_age=2)
    rng = np.random.default_rng(2)

    def frame(x):
        return film_face(first_face(demo), face_px=160, centre=(x, 240), rng=rng)

    first = frame(300)
    (face,) = finder.find_faces(grey_levels(first), eyes=False)
    follower.remember(first, [face])
    start = landmark_box(landmarker.landmarks(first, face.box))
    # moved right by 6 pixels: found again there by its landmarks, which it carries
    again = follower.find_again(frame(306), face.box)
    assert again is not None and again.landmarks.shape == (5, 2)
    assert abs(again.box[0] - start[0] - 6) <= 1 and abs(again.box[1] - start[1]) <= 1
    assert abs(again.box[2] - start[2]) <= 1 and again.confidence == face.confidence
    np.testing.assert_array_equal(landmark_box(again.landmarks), again.box)
    follower.remember(first, [], [again])
    second = follower.find_again(frame(310), again.box)
    assert second is not None
    follower.remember(first, [], [second])
    assert follower.find_again(frame(312), second.box) is None  # max_age: the detector looks
    # a jump of a third of the face from its last box: the detector looks at once
    follower.remember(first, [face])
    assert follower.find_again(frame(300 + 55), face.box) is None
