"""Every face of a frame, followed through a video and aligned by its eyes (issue #24)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from auflow.demo import compose_faces, film_face, generate_demo_dataset
from auflow.features.face import CANONICAL_EYES, FaceFinder, align_face, eye_transform
from auflow.features.track import FaceTracker, StillFaces, box_iou, steady_geometry
from auflow.io.images import grey_levels


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """The first frame of five different demo subjects, 96 px, uint8 grey."""
    root = tmp_path_factory.mktemp("demo")
    subjects = generate_demo_dataset(root, n_subjects=5, n_frames=2, size=96, seed=0)
    return [
        cv2.imread(str(root / "croppedImg" / s / "1.png"), cv2.IMREAD_GRAYSCALE) for s in subjects
    ]


def test_five_faces_in_one_frame_are_all_found_left_to_right(faces):
    frame, boxes = compose_faces(faces)
    found = FaceFinder("always").find_faces(grey_levels(frame))
    assert len(found) == 5
    assert [f.box[0] for f in found] == sorted(f.box[0] for f in found)
    for box in boxes:  # each composed face has one detection lying on it
        assert sum(box_iou(box, f.box) > 0.4 for f in found) == 1


@pytest.mark.parametrize("angle", [-15, 0, 15])
def test_the_eyes_give_the_faces_rotation(faces, angle):
    frame = film_face(faces[0], angle=angle)
    (face,) = FaceFinder("always").find_faces(grey_levels(frame))
    lx, ly, rx, ry = face.eyes
    assert face.eyes_found
    # film_face turns counter-clockwise: the eye line then falls to the right in image rows.
    # Measured on 5 subjects: within 3.5 degrees of the truth.
    assert abs(np.degrees(np.arctan2(ry - ly, rx - lx)) + angle) < 5


def test_aligning_puts_the_eyes_where_the_canonical_frame_says():
    eyes = np.array([100.0, 120.0, 160.0, 140.0])  # tilted by 18 degrees
    matrix, side = eye_transform(eyes)
    mapped = matrix @ np.array([[100, 160], [120, 140], [1, 1]])
    (clx, cly), (crx, cry) = CANONICAL_EYES
    # a fraction f of the side lies at pixel coordinate f * side - 0.5 (pixel centres)
    expected = np.array([[clx * side, cly * side], [crx * side, cry * side]]) - 0.5
    np.testing.assert_allclose(mapped.T, expected, atol=1e-9)
    face = align_face(np.zeros((300, 300), np.float32), eyes, 48)
    assert face.shape == (48, 48) and face.dtype == np.float32


def test_a_filmed_face_aligned_looks_like_its_crop_whatever_its_pose(faces):
    crop = cv2.resize(faces[1], (48, 48), interpolation=cv2.INTER_AREA) / 255.0
    finder = FaceFinder("always")
    for angle, size, centre in ((0, 200, None), (15, 200, None), (-15, 160, (420, 260))):
        frame = grey_levels(film_face(faces[1], face_px=size, angle=angle, centre=centre))
        (face,) = finder.find_faces(frame)
        aligned = align_face(frame, face.eyes, 48)
        # measured 0.88-0.95 on the demo's faces; the eye cascade's centres move by about
        # 1 % of the face from face to face, which is what remains
        assert np.corrcoef(aligned.ravel(), crop.ravel())[0, 1] > 0.8, (angle, size)


def test_tracks_follow_boxes_and_never_swap_two_faces():
    tracker = FaceTracker()
    left, right = (50, 100, 150, 150), (400, 100, 150, 150)
    eyes = [np.zeros(4), np.zeros(4)]
    assert tracker.update(1, [left, right], eyes)[0] == [0, 1]
    # given in the other order, and moved a little: the same ids follow the same faces
    moved = [(r[0] + 6, r[1] - 4, r[2], r[3]) for r in (right, left)]
    assert tracker.update(2, moved, eyes)[0] == [1, 0]
    # the right face leaves; a new face far away later is a new track
    assert tracker.update(3, [moved[1]], eyes[:1])[0] == [0]
    assert tracker.update(4, [moved[1], (250, 300, 100, 100)], eyes)[0] == [0, 2]


def test_a_track_gone_too_long_ends():
    tracker = FaceTracker(max_gap=3)
    box = (10, 10, 100, 100)
    assert tracker.update(1, [box], [np.zeros(4)])[0] == [0]
    assert tracker.update(10, [box], [np.zeros(4)])[0] == [1]


def test_the_eye_geometry_of_a_track_is_its_running_median():
    tracker = FaceTracker(steady=3)
    box = (10, 10, 100, 100)
    measured = [np.full(4, v) for v in (10.0, 30.0, 11.0, 12.0)]
    steadied = [tracker.update(f, [box], [m])[1][0][0] for f, m in enumerate(measured)]
    assert steadied == [10.0, 20.0, 11.0, 12.0]


def test_a_blank_frame_and_a_too_small_face_give_no_face(faces):
    finder = FaceFinder("always", min_face=48)
    assert finder.find_faces(np.zeros((480, 640), np.float32)) == []
    small = grey_levels(film_face(faces[0], face_px=40))
    assert finder.find_faces(small) == []


def test_a_face_that_has_not_moved_keeps_its_measurement_and_one_that_moved_does_not(faces):
    finder, still = FaceFinder("always"), StillFaces(max_age=3)
    rng = np.random.default_rng(1)

    def levels(**placement):
        return film_face(faces[2], face_px=160, rng=rng, **placement)  # fresh noise each time

    first = levels(centre=(320, 240))
    (face,) = finder.find_faces(grey_levels(first), eyes=False)
    still.remember(first, [face])
    # the same place in a new frame (new sensor noise): the same face, three times at most
    for _ in range(3):
        assert still.find_again(levels(centre=(320, 240)), face.box) is face
        still.remember(first, [], [face])
    assert still.find_again(levels(centre=(320, 240)), face.box) is None  # measured again now
    still.remember(first, [face])
    # moved by 3 pixels (2 % of the face), or gone: looked for again
    assert still.find_again(levels(centre=(323, 240)), face.box) is None
    assert still.find_again(np.full_like(first, 110), face.box) is None
    # a box it never measured
    assert still.find_again(first, (0, 0, 100, 100)) is None


def test_a_tracks_geometry_is_held_still_until_the_face_moves_then_follows_it():
    rng = np.random.default_rng(0)
    still = np.array([100.0, 120.0, 160.0, 120.0])
    moved = still + [30.0, 0.0, 30.0, 0.0]  # half the eye distance to the right
    measured = np.concatenate(
        [still + rng.normal(0, 0.5, (40, 4)), moved + rng.normal(0, 0.5, (40, 4))]
    )
    steadied = steady_geometry(measured)
    # two still parts, each given the median of its own measurements from its first frame on;
    # the cut comes within the running window's length of the move
    parts = [tuple(row) for row in np.unique(steadied, axis=0)]
    assert len(parts) == 2
    cut = int(np.flatnonzero(np.any(steadied != steadied[0], axis=1))[0])
    assert 40 - 15 <= cut <= 40
    np.testing.assert_allclose(steadied[0], np.median(measured[:cut], axis=0))
    np.testing.assert_allclose(steadied[-1], np.median(measured[cut:], axis=0))
    assert np.abs(steadied[-1] - moved).max() < 2.0
