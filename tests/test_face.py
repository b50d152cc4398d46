"""Face detection and crop for ``auflow predict`` (``--detect auto|always|never``)."""

from __future__ import annotations

import math
import pickle

import cv2
import numpy as np
import pytest
import skimage.data

from auflow.demo import generate_demo_dataset
from auflow.features.descriptors import make_extractor
from auflow.features.face import FaceFinder, crop_box, is_square
from auflow.io.images import grey_levels, list_frames, load_face, load_faces
from auflow.io.media import iter_frames

# The astronaut's face in skimage.data.astronaut() (512 x 512), checked by eye: from the left
# to the right cheek and from the hairline to the chin, as (x0, y0, x1, y1).
ASTRONAUT_FACE = (178, 72, 270, 165)
PASTE_SIZE = 160


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo dataset: 3 subjects of 4 frames at 160 px (faces to paste) and its image root."""
    root = tmp_path_factory.mktemp("demo")
    subjects = generate_demo_dataset(root, n_subjects=3, n_frames=4, size=PASTE_SIZE, seed=0)
    return root / "croppedImg", subjects


def astronaut() -> np.ndarray:
    return grey_levels(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))


def pasted(face: np.ndarray, x: int, y: int, seed: int = 0) -> np.ndarray:
    """``face`` (float32 grey) pasted at (x, y) into a 640 x 480 frame of uniform noise."""
    frame = np.random.default_rng(seed).random((480, 640), dtype=np.float32)
    frame[y : y + face.shape[0], x : x + face.shape[1]] = face
    return frame


def overlap(box, region) -> float:
    """Fraction of ``region`` (x0, y0, x1, y1) inside ``box`` (x, y, w, h)."""
    x, y, w, h = box
    x0, y0, x1, y1 = region
    inter = max(0, min(x + w, x1) - max(x, x0)) * max(0, min(y + h, y1) - max(y, y0))
    return inter / ((x1 - x0) * (y1 - y0))


def test_the_astronauts_face_is_found_and_cropped():
    result = FaceFinder("always", face_size=96)(astronaut())
    box = (result.face_x, result.face_y, result.face_w, result.face_h)
    assert result.face_detected == 1
    assert result.face_w == result.face_h
    assert overlap(box, ASTRONAUT_FACE) > 0.95  # the whole face is in the crop
    assert result.face_w * result.face_h < 2 * 92 * 93  # and not much else
    assert 0 < result.confidence < 1
    assert result.face.shape == (96, 96) and result.face.dtype == np.float32


@pytest.mark.parametrize("detect", ["always", "auto"])
@pytest.mark.parametrize("subject", [0, 1, 2])
def test_a_demo_face_pasted_into_a_noisy_frame_is_found_and_resembles_the_original(
    demo, detect, subject
):
    images, subjects = demo
    path = images / subjects[subject] / "1.png"
    original = load_face(path)
    x, y = 120 + 150 * subject, 60 + 100 * subject
    result = FaceFinder(detect, face_size=96)(pasted(original, x, y, seed=subject))
    assert result.face_detected == 1
    pasted_region = (x, y, x + PASTE_SIZE, y + PASTE_SIZE)
    box = (result.face_x, result.face_y, result.face_w, result.face_h)
    assert overlap(box, pasted_region) > 0.8
    # The crop frames the face as the demo's crops do (margin 0.10 around the cascade's box):
    # measured correlation 0.78-0.97 over 18 demo faces; the noise around the paste lowers it.
    expected = load_face(path, 96)
    assert np.corrcoef(result.face.ravel(), expected.ravel())[0, 1] > 0.7


@pytest.mark.parametrize("detect", ["always", "auto"])
def test_a_blank_frame_has_no_face_and_does_not_raise(detect):
    result = FaceFinder(detect)(np.zeros((480, 640), np.float32))
    assert result.face_detected == 0
    assert result.face is None
    assert (result.face_x, result.face_y, result.face_w, result.face_h) == (0, 0, 0, 0)
    assert result.confidence == 0.0


def test_never_takes_the_whole_frame_without_a_detector():
    result = FaceFinder("never", face_size=64)(np.zeros((480, 640), np.float32))
    assert (result.face_detected, result.face_x, result.face_y) == (1, 0, 0)
    assert (result.face_w, result.face_h) == (640, 480)
    assert math.isnan(result.confidence)
    assert result.face.shape == (64, 64)


@pytest.mark.parametrize("detect", ["auto", "never"])
def test_the_pipelines_own_crops_give_the_pipelines_features_bit_for_bit(demo, detect):
    images, subjects = demo
    folder = images / subjects[0]
    face_size = 96  # the crops are 160 px: both paths resize
    finder = FaceFinder(detect, face_size=face_size)
    results = [finder(item.image) for item in iter_frames([folder])]
    assert all(r.face_detected == 1 and math.isnan(r.confidence) for r in results)
    assert all((r.face_w, r.face_h) == (PASTE_SIZE, PASTE_SIZE) for r in results)
    ours = np.stack([r.face for r in results])
    pipeline = load_faces([p for _, p in list_frames(folder)], face_size)
    assert np.array_equal(ours, pipeline)
    extractor = make_extractor("gabor_energy").fit()
    assert np.array_equal(extractor.transform(ours), extractor.transform(pipeline))


def test_auto_takes_square_frames_as_crops_and_detects_in_the_others():
    assert is_square((100, 110)) and is_square((110, 100)) and is_square((96, 96))
    assert not is_square((100, 111)) and not is_square((480, 640))
    square = FaceFinder("auto")(np.zeros((100, 108), np.float32))
    wide = FaceFinder("auto")(np.zeros((100, 120), np.float32))
    assert (square.face_detected, square.face_w, square.face_h) == (1, 108, 100)
    assert math.isnan(square.confidence)
    assert (wide.face_detected, wide.confidence) == (0, 0.0)


def test_the_crop_grows_the_box_and_stays_inside_the_frame():
    # 100 px box, 10 % each side: 120 px about the same centre
    assert crop_box((200, 100, 100, 100), (480, 640), 0.1) == (190, 90, 120, 120)
    # near the top left corner: moved inside, same size
    assert crop_box((5, 3, 100, 100), (480, 640), 0.1) == (0, 0, 120, 120)
    # near the bottom right corner
    assert crop_box((535, 375, 100, 100), (480, 640), 0.1) == (520, 360, 120, 120)
    # larger than the frame's shorter side: shrinks to it
    assert crop_box((10, 0, 90, 90), (100, 300), 0.2) == (5, 0, 100, 100)


def test_a_finder_survives_pickling_for_worker_processes():
    finder = FaceFinder("always", face_size=96)
    finder(np.zeros((48, 64), np.float32))  # loads the cascade
    copy = pickle.loads(pickle.dumps(finder))
    assert copy(astronaut()).face_detected == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"detect": "sometimes"}, "detect must be one of auto, always, never"),
        ({"margin": -0.1}, "margin must be between 0 and 1"),
        ({"min_face": 10}, "min_face must be an integer >= 24"),
        ({"face_size": 0}, "face_size must be a positive integer or None"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FaceFinder(**kwargs)


def test_a_frame_must_be_grey_levels_in_float():
    with pytest.raises(ValueError, match="float array of grey levels in"):
        FaceFinder()(np.zeros((48, 64), np.uint8))
