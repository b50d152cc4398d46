"""Faces aligned to one canonical frame by facial landmarks (rotation, scale and position).

A face filmed by a camera lies anywhere in the frame, at any size and tilted; the models were
trained on crops that frame the face one way. :class:`Landmarker` finds five landmarks of a face
(the outer and inner corner of each eye and the base of the nose) with dlib's 5-point shape
predictor (``shape_predictor_5_face_landmarks.dat``, shipped inside the ``face-recognition-models``
package; nothing is downloaded), and :func:`similarity_to` fits the similarity transform
(rotation, one scale, translation; least squares over the five points) that takes them to
:data:`CANONICAL_LANDMARKS`, where those landmarks lie in the demo's crops. The face warped
through that transform is framed as a crop.

Why the 5-point model and not the 68 points: the five points sit on the rigid part of the face
(eye corners and nose base), which Action Units barely move, whereas the mouth and jaw points
would pull the alignment with every smile and jaw drop; it is twice as fast (1 ms a face against
2 ms, measured) and its training set is dlib's own, in the public domain (the 68-point model's,
iBUG 300-W, excludes commercial use).

A transform is passed around as the two points it sends to :data:`auflow.features.face.
CANONICAL_EYES` (``eye geometry``, (4,) ``left_x, left_y, right_x, right_y`` in frame pixels):
two points fix a similarity transform, so :func:`auflow.features.face.align_face` warps by it
unchanged, and :func:`auflow.features.track.steady_geometry` steadies it over a face track (a
subject's crops in the pipeline, a face followed through a video in ``auflow predict``): held
still while the face stays put, the aligned face keeps the small movements of the face within
the frame, as a camera's crop would, rather than the landmarks' own frame-to-frame noise (0.2-0.3
% of the face).

dlib is an optional dependency (``pip install 'auflow[align]'``); :func:`require_dlib` names
what to install when it is missing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from auflow.features.face import CANONICAL_EYES, DEFAULT_MARGIN, FoundFace, crop_box

__all__ = [
    "ALIGNED_LANDMARKS",
    "ALIGNED_ZOOM",
    "ALIGN_CHOICES",
    "CANONICAL_LANDMARKS",
    "LANDMARK_MODEL",
    "LandmarkFollower",
    "Landmarker",
    "LandmarksUnavailable",
    "crop_eyes",
    "landmark_eyes",
    "require_dlib",
    "similarity_to",
]

ALIGN_CHOICES = ("none", "landmarks")
LANDMARK_MODEL = "shape_predictor_5_face_landmarks.dat"
# Where dlib's five landmarks lie in the demo's crops, as fractions of the crop's side (x right,
# y down; a pixel's centre at (i + 0.5) / side): the median over the 720 crops of make demo's
# six subjects (landmarks found in the box the crop's margin implies), each eye's two corners
# given their mean height. dlib's order: the eye on the image's right (outer, inner corner),
# the eye on the image's left (outer, inner), the nose's base.
# Subjects' own medians differ from these by up to 0.02 (2 px of a 96-px crop).
CANONICAL_LANDMARKS = np.array(
    [
        [0.6981, 0.4107],
        [0.5877, 0.4107],
        [0.3084, 0.4156],
        [0.4188, 0.4156],
        [0.5162, 0.6331],
    ]
)
# The canonical frame of models trained on aligned faces (features.align: landmarks): the crops'
# frame enlarged by this factor about the crop's centre, so that an aligned face shows the
# crop's central 83 %. The crops' own frame (factor 1) is no good there: aligning a crop moves
# it by up to 2-3 % of its side and turns it by 1-2 degrees (the subject's landmarks are not the
# average's), so a strip along the edge comes from outside the crop (repeated edge pixels; in a
# filmed frame, whatever surrounds the face), and the edge cells' features then differ between
# a crop and the same face filmed. Measured with a scratch script on the demo's SN002 filmed at
# 200 px, upright and turned by 15 degrees (crops and film both aligned, scored by make demo's
# svm_linear, trained on unaligned crops): mean per-AU score correlation with the crop's
# 0.55-0.58 at factor 1, 0.91-0.92 at 1.1, 0.93-0.95 at 1.15, 0.95-0.96 at 1.2 and 1.3.
ALIGNED_ZOOM = 1.2
ALIGNED_LANDMARKS = 0.5 + (CANONICAL_LANDMARKS - 0.5) * ALIGNED_ZOOM
# Landmarks are found on the face resized so that its detector box is this many pixels wide:
# the same input whatever the face's size in the frame (a 96-px crop and a 240-px filmed face).
_LANDMARK_BOX = 128
INSTALL_HINT = (
    "pip install dlib-bin==20.0.1 face-recognition-models==0.3.0 (or pip install -e '.[align]' "
    "in the auflow repository)"
)


class LandmarksUnavailable(RuntimeError):
    """dlib or its landmark model is not installed."""


def _model_path() -> Path:
    """The 5-point model's file inside the installed ``face-recognition-models`` package.

    Found without importing the package: its ``__init__`` imports ``pkg_resources``, which new
    setuptools releases no longer have.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise LandmarksUnavailable(
            f"aligning faces by landmarks needs the face-recognition-models package: {INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / LANDMARK_MODEL
    if not path.is_file():
        raise LandmarksUnavailable(
            f"{path}: the landmark model is missing from face-recognition-models; reinstall it: "
            f"{INSTALL_HINT}"
        )
    return path


def require_dlib():
    """The ``dlib`` module, or LandmarksUnavailable saying what to install."""
    try:
        import dlib
    except ImportError:
        raise LandmarksUnavailable(
            f"aligning faces by landmarks needs dlib: {INSTALL_HINT}"
        ) from None
    return dlib


def similarity_to(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The similarity transform (rotation, one scale, translation) taking ``points`` closest
    to ``target`` in least squares (Umeyama's solution without reflection).

    Parameters
    ----------
    points, target : (n, 2) float, n >= 2.

    Returns
    -------
    (2, 3) float64 affine matrix: ``target ~ matrix[:, :2] @ point + matrix[:, 2]``.
    """
    points = np.asarray(points, np.float64)
    target = np.asarray(target, np.float64)
    mean_p, mean_t = points.mean(axis=0), target.mean(axis=0)
    p, t = points - mean_p, target - mean_t
    # with complex numbers: t ~ z p, z = a + ib the scaled rotation
    pz = p[:, 0] + 1j * p[:, 1]
    tz = t[:, 0] + 1j * t[:, 1]
    z = np.vdot(pz, tz) / max(np.vdot(pz, pz).real, 1e-12)
    a, b = z.real, z.imag
    rotation = np.array([[a, -b], [b, a]])
    return np.column_stack([rotation, mean_t - rotation @ mean_p])


def landmark_eyes(points: np.ndarray, canonical: np.ndarray | None = None) -> np.ndarray:
    """The eye geometry of the transform that aligns landmarks ``points``: where the points of
    :data:`CANONICAL_EYES` lie in the frame.

    Parameters
    ----------
    points : (5, 2) landmarks in frame pixels.
    canonical : (5, 2) their canonical places as fractions of the crop's side (default
        :data:`CANONICAL_LANDMARKS`).

    Returns
    -------
    (4,) float64 ``(left_x, left_y, right_x, right_y)`` in frame pixels, for
    :func:`auflow.features.face.align_face`.
    """
    canonical = CANONICAL_LANDMARKS if canonical is None else canonical
    # frame -> canonical (fractions); its inverse sends the canonical eyes into the frame
    forward = similarity_to(points, canonical)
    inverse = cv2.invertAffineTransform(forward)
    eyes = np.asarray(CANONICAL_EYES, np.float64)
    return (eyes @ inverse[:, :2].T + inverse[:, 2]).ravel()


class Landmarker:
    """dlib's five face landmarks, in frame pixels, for a face found by the detector.

    Parameters
    ----------
    margin : the crop's margin around the detector's box (as :class:`auflow.features.face.
        FaceFinder`), used to read a crop's face box.

    Notes
    -----
    The model (9 MB) is loaded on first use and not pickled. One landmarker per thread.
    """

    def __init__(self, margin: float = DEFAULT_MARGIN):
        self.margin = float(margin)
        self._predictor = None
        self._dlib = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_predictor"] = None
        state["_dlib"] = None
        return state

    @property
    def predictor(self):
        if self._predictor is None:
            self._dlib = require_dlib()
            self._predictor = self._dlib.shape_predictor(str(_model_path()))
        return self._predictor

    def landmarks(self, levels: np.ndarray, box) -> np.ndarray:
        """The five landmarks of the face whose detector box is ``box``.

        Parameters
        ----------
        levels : (h, w) uint8 grey frame.
        box : (x, y, w, h) the frontal cascade's box of the face, in frame pixels.

        Returns
        -------
        (5, 2) float64 (x, y) in frame pixels, in dlib's order.
        """
        predictor = self.predictor
        x, y, w, h = (int(v) for v in box)
        # the box's crop with room around it, resized so the box is _LANDMARK_BOX pixels
        cx, cy, side, _ = crop_box((x, y, w, h), levels.shape, 0.25)
        region = levels[cy : cy + side, cx : cx + side]
        factor = _LANDMARK_BOX / max(w, 1)
        if abs(factor - 1) > 0.02:
            size = max(1, round(region.shape[1] * factor)), max(1, round(region.shape[0] * factor))
            interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
            region = cv2.resize(region, size, interpolation=interpolation)
            fx, fy = size[0] / side, size[1] / side
        else:
            fx = fy = 1.0
        rect = self._dlib.rectangle(
            round((x - cx) * fx),
            round((y - cy) * fy),
            round((x - cx + w) * fx),
            round((y - cy + h) * fy),
        )
        shape = predictor(np.ascontiguousarray(region), rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
        # pixel centres: a point at pixel i of the resized region lies at (i + 0.5) / f - 0.5
        points[:, 0] = (points[:, 0] + 0.5) / fx - 0.5 + cx
        points[:, 1] = (points[:, 1] + 0.5) / fy - 0.5 + cy
        return points

    def crop_box_of(self, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """The detector box a crop of ``shape`` (h, w) stands for: the crop less its margin on
        each side (:func:`auflow.features.face.crop_box` read backwards)."""
        h, w = shape[:2]
        bw, bh = w / (1 + 2 * self.margin), h / (1 + 2 * self.margin)
        return (round((w - bw) / 2), round((h - bh) / 2), round(bw), round(bh))


def landmark_box(points: np.ndarray, margin: float = DEFAULT_MARGIN) -> tuple[int, int, int, int]:
    """The detector box a face with landmarks ``points`` (frame pixels) would have: the crop
    that :data:`CANONICAL_LANDMARKS` frame, less its ``margin`` on each side, upright.

    Returns
    -------
    (x, y, w, h) int, w == h.
    """
    forward = similarity_to(points, CANONICAL_LANDMARKS)  # frame -> fractions of the crop
    inverse = cv2.invertAffineTransform(forward)
    centre = inverse[:, :2] @ np.array([0.5, 0.5]) + inverse[:, 2]
    side = float(np.hypot(*inverse[:, 0])) / (1 + 2 * margin)  # the crop's side, less margins
    return (round(centre[0] - side / 2), round(centre[1] - side / 2), round(side), round(side))


class LandmarkFollower:
    """Followed faces found again by their landmarks instead of the face detector.

    With ``--align landmarks`` every face's landmarks are found anyway (1 ms); found from the
    face's last box, they also say where the face is now, so the frontal cascade (about 10 ms
    of CPU a face) need not look for it again. A face is followed so for at most ``max_age``
    frames after the cascade last found it, which then looks again (a face that left the frame
    leaves landmarks on whatever is there, which only the cascade tells from a face), and at
    once when its landmarks put it more than ``max_move`` of its side from where it was or
    change its size by more than that.

    Parameters
    ----------
    landmarker : Landmarker
    margin : the crops' margin around the detector's box.
    max_age : int, default 5
    max_move : float, default 0.1
    """

    def __init__(
        self,
        landmarker: Landmarker,
        margin: float = DEFAULT_MARGIN,
        max_age: int = 5,
        max_move: float = 0.1,
    ):
        self.landmarker = landmarker
        self.margin = float(margin)
        self.max_age = int(max_age)
        self.max_move = float(max_move)
        self._seen: dict[tuple, tuple[FoundFace, int]] = {}  # box -> (face, frames since found)
        self._ages: dict[tuple, int] = {}  # this frame's boxes of faces found again -> age

    def find_again(self, levels: np.ndarray, box) -> FoundFace | None:
        """The face whose last box was ``box``, found again by its landmarks; None when the
        cascade must look (not followed, too long since it last did, or moved too far)."""
        known = self._seen.get(tuple(box))
        if known is None or known[1] >= self.max_age:
            return None
        face, age = known
        points = self.landmarker.landmarks(levels, box)
        new = landmark_box(points, self.margin)
        x, y, w, _ = box
        moved = np.hypot(new[0] + new[2] / 2 - x - w / 2, new[1] + new[3] / 2 - y - w / 2)
        if moved > self.max_move * w or abs(new[2] / w - 1) > self.max_move:
            return None
        found = FoundFace(new, face.confidence, face.eyes, False, points)
        self._ages[tuple(new)] = age + 1
        return found

    def remember(self, levels: np.ndarray, measured, again=()) -> None:
        """This frame's faces: those the cascade ``measured`` start again at age 0, those found
        ``again`` by :meth:`find_again` age by one; the others are forgotten."""
        seen = {tuple(face.box): (face, self._ages[tuple(face.box)]) for face in again}
        for face in measured:
            seen[tuple(face.box)] = (face, 0)
        self._seen, self._ages = seen, {}


def crop_eyes(
    image: np.ndarray, landmarker: Landmarker, canonical: np.ndarray | None = None
) -> np.ndarray:
    """The eye geometry (:func:`landmark_eyes`) that aligns a face crop by its landmarks.

    Parameters
    ----------
    image : (h, w) float32 grey levels in [0, 1], a face crop at its native size (its face box
        is the crop less the margin, :meth:`Landmarker.crop_box_of`).
    canonical : where the landmarks go (default :data:`ALIGNED_LANDMARKS`, the frame of models
        trained with ``features.align``).
    """
    canonical = ALIGNED_LANDMARKS if canonical is None else canonical
    levels = cv2.convertScaleAbs(image, alpha=255.0)
    points = landmarker.landmarks(levels, landmarker.crop_box_of(image.shape))
    return landmark_eyes(points, canonical)
