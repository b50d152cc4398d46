"""Find the face in a frame and crop it the way the pipeline's faces are framed.

The pipeline trains on pre-cropped faces (``croppedImg``); ``auflow predict`` also takes raw
frames (a webcam video, a photograph). :class:`FaceFinder` turns any frame into the face the
model expects, following ``--detect``:

- ``never``: the whole frame is the face, resized to the face size exactly as the pipeline
  resizes its images (a non-square frame is stretched, as the pipeline would stretch it). For
  the pipeline's own inputs this gives the pipeline's faces bit for bit.
- ``always``: OpenCV's frontal-face Haar cascade (``haarcascade_frontalface_default.xml``,
  shipped with opencv-python-headless 4.x in ``cv2.data.haarcascades``; nothing is downloaded)
  finds faces; the largest is kept.
- ``auto`` (the default): a frame that is already roughly square (longer side at most 10 %
  longer than the shorter one) is taken as a pre-cropped face, like the training data, without
  running the detector; any other frame goes through the detector as with ``always``. Video and
  photographs are rarely square, crops are: that is the whole rule, so the result is predictable
  and the pipeline's own crops are never re-cropped.

The crop
--------
The cascade's box is square and tighter than a face crop: on the demo's faces pasted into a
larger frame it covers 81-88 % of the face image's side (brows to lower lip). The crop is that
box grown by ``margin`` (default 0.10) of its side on each side, the same centre, so it frames
the face as the demo's crops do. If it reaches past the frame, it is moved back inside (keeping
its size, so the face keeps the scale the model was trained on; the face itself is always inside
the frame); if it is larger than the frame's shorter side, it shrinks to that side. The square
crop is then resized to ``face_size`` with the pipeline's interpolation
(:func:`auflow.io.images.resize_face`).

Every face, and the eyes
------------------------
:meth:`FaceFinder.find_faces` returns every face of at least ``min_face`` pixels of a frame
(:class:`FoundFace`: the detector's box, its confidence, and the eye centres), for ``auflow
predict``'s tracks. The whole frame is searched at down to half resolution (a 48-px face still
fills the cascade's 24-px window; 27 ms of CPU instead of 47 for a 640x480 frame, measured at a
load average of 12); a face already followed is looked for around its last box only. The eyes
come from OpenCV's eye cascade (``haarcascade_eye.xml``, shipped beside the face cascade) in the
top 60 % of the box: on the demo's faces filmed at 160-240 px it found both eyes in 175 of 180
faces and measured the eye line of faces turned by 15 degrees as 13-18 degrees, its eye centres
varying by 1.3 % of the face (sd) from face to face. :func:`align_face` maps two eye centres to
:data:`CANONICAL_EYES` (where that cascade puts them in the demo's crops).

What comes back
---------------
A :class:`FaceCrop` per frame: ``face_detected`` (1 if a face was taken, by the detector or as
a pre-cropped frame; OpenFace calls this ``success``), the crop box ``face_x, face_y, face_w,
face_h`` in frame pixels (the whole frame for a frame taken as a face; all 0 when there is no
face), ``confidence`` and the face. A frame without a face never raises: it gives
``face_detected=0`` and ``face=None``.

``confidence`` is the cascade's level weight ``w`` (the sum of its last stage's weak
classifiers for the kept box, from ``detectMultiScale3(..., outputRejectLevels=True)``)
squashed as ``1 / (1 + exp(-w / 4))``: a monotone score in (0, 1), not a calibrated
probability. Measured: faces in ``skimage.data.astronaut()`` and demo faces 5.8-11.9 (0.81-0.95),
false windows in noise -2.7 to 4.8 (0.34-0.77, and these are grouped away by ``min_neighbors``).
It is NaN when no detector ran (``never``, or a square frame under ``auto``) and 0.0 when the
detector ran and found no face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from auflow.io.images import resize_face

DETECT_MODES = ("auto", "always", "never")
FRONTAL_FACE_CASCADE = "haarcascade_frontalface_default.xml"
SQUARE_TOLERANCE = 0.10  # auto: longer side / shorter side - 1 at most this is a crop
DEFAULT_MARGIN = 0.10
CONFIDENCE_SCALE = 4.0  # spreads the level weights of real faces over 0.8-0.95, unsaturated
_CASCADE_WINDOW = 24  # the frontal cascade's own window: no smaller face can be found
# A followed face is looked for in its last box grown by this fraction of its side on each side,
# at these sizes relative to it: a face moves and grows little from one frame to the next, and
# one lost is looked for in the whole frame at once (auflow.predict.find_faces).
NEAR_REGION = 0.5
NEAR_SIZES = (0.7, 1.4)

EYE_CASCADE = "haarcascade_eye.xml"
# Where the eye detector puts the eye centres in the demo's crops (fractions of the crop's side,
# median of 156 of 180 crops of 6 subjects in which it found both eyes; sd 0.013): the canonical
# frame every face is aligned to, so an aligned filmed face is framed as the crops the models
# were trained on. Both eyes get the mean height, so a level pair of eyes is not rotated.
CANONICAL_EYES = ((0.350, 0.406), (0.642, 0.406))
_EYE_SEARCH_WIDTH = 120  # the face box is resized to this width before looking for eyes
_EYE_SEARCH_DEPTH = 0.6  # eyes are looked for in this top fraction of the face box

__all__ = [
    "CANONICAL_EYES",
    "DEFAULT_MARGIN",
    "DETECT_MODES",
    "FaceCrop",
    "FaceFinder",
    "FoundFace",
    "align_face",
    "box_eyes",
    "eye_transform",
    "warp_face",
    "crop_box",
    "is_square",
]


@dataclass(frozen=True)
class FaceCrop:
    """The face of one frame.

    Attributes
    ----------
    face_detected : int
        1 if a face was taken (by the detector, or the whole frame as a pre-cropped face), else 0.
    face_x, face_y, face_w, face_h : int
        The crop box in frame pixels (left, top, width, height); all 0 without a face.
    confidence : float
        The detector's squashed level weight in (0, 1); NaN if no detector ran; 0.0 if it ran
        and found no face.
    face : (face_size, face_size) float32 or None
        Grey levels in [0, 1]; with ``face_size=None`` the crop at native size. None without a
        face.
    """

    face_detected: int
    face_x: int
    face_y: int
    face_w: int
    face_h: int
    confidence: float
    face: np.ndarray | None


@dataclass(frozen=True)
class FoundFace:
    """A face the detector found in a frame, before it is cropped.

    Attributes
    ----------
    box : (x, y, w, h) int, the detector's box in frame pixels.
    confidence : float, the squashed level weight (see the module docstring).
    eyes : (4,) float64 ``(left_x, left_y, right_x, right_y)``, the eye centres in frame pixels
        (left as seen in the image); found by OpenCV's eye cascade, or, where it finds no
        plausible pair, where the canonical frame puts them in the box's crop.
    eyes_found : bool, whether the eye cascade found them.
    landmarks : (5, 2) float64 or None, dlib's five landmarks in frame pixels when the face was
        followed by them (:class:`auflow.features.align.LandmarkFollower`).
    """

    box: tuple[int, int, int, int]
    confidence: float
    eyes: np.ndarray
    eyes_found: bool
    landmarks: np.ndarray | None = None


def box_eyes(box, frame_shape, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """Where the canonical frame puts the eyes in the crop of a detector box (no rotation).

    Returns
    -------
    (4,) float64 ``(left_x, left_y, right_x, right_y)`` in frame pixels.
    """
    x, y, side, _ = crop_box(box, frame_shape, margin)
    (lx, ly), (rx, ry) = CANONICAL_EYES
    # a fraction f of the crop's side lies at pixel coordinate f * side - 0.5 (pixel centres)
    x, y = x - 0.5, y - 0.5
    return np.array([x + lx * side, y + ly * side, x + rx * side, y + ry * side])


def eye_transform(eyes: np.ndarray) -> tuple[np.ndarray, int]:
    """The similarity transform taking two eye centres to :data:`CANONICAL_EYES`.

    Parameters
    ----------
    eyes : (4,) ``(left_x, left_y, right_x, right_y)`` in frame pixels.

    Returns
    -------
    (matrix, side): (2, 3) float64 affine matrix from frame pixels to a square of ``side``
    pixels, the face at its own resolution (the eyes as far apart as in the frame).
    """
    lx, ly, rx, ry = (float(v) for v in eyes)
    (clx, cly), (crx, _) = CANONICAL_EYES
    distance = math.hypot(rx - lx, ry - ly)
    side = max(8, round(distance / (crx - clx)))
    scale = (crx - clx) * side / max(distance, 1e-6)
    angle = math.atan2(ry - ly, rx - lx)
    cos, sin = scale * math.cos(-angle), scale * math.sin(-angle)
    # x' = s R (x - left eye) + canonical left eye, at pixel coordinate f * side - 0.5
    tx = clx * side - 0.5 - (cos * lx - sin * ly)
    ty = cly * side - 0.5 - (sin * lx + cos * ly)
    return np.array([[cos, -sin, tx], [sin, cos, ty]]), side


def warp_face(
    image: np.ndarray, matrix: np.ndarray, side: int, face_size: int | None
) -> np.ndarray:
    """``image`` through ``matrix`` (into a ``side``-pixel square) as a ``face_size`` face; parts
    outside the frame repeat its edge pixels.

    The warp never shrinks: it fills a square of ``k * face_size`` pixels, ``k`` the smallest
    whole number (at least 2) for which that is no smaller than ``side``, with bicubic
    interpolation, which is then averaged down by ``k`` (area interpolation, as the pipeline
    resizes faces). A 96-px crop and the same face filmed at 200 px thus go through the same
    steps (enlarged, then averaged down by a whole factor) and come out equally sharp; warping
    straight to the face size blurred the crop (bilinear interpolation at a fractional offset)
    more than the larger filmed face, which a model trained on aligned crops reads as a change
    of the face (mean per-AU score correlation of a filmed face with its crop 0.77, measured on
    the demo's SN002).
    """
    if face_size is None:
        return cv2.warpAffine(
            image, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    k = max(2, math.ceil(side / face_size))
    big = k * face_size
    scaled = np.asarray(matrix, np.float64) * (big / side)
    # pixel centres: canonical pixel p of the side-px square is pixel (p + 0.5) * big/side - 0.5
    scaled[:, 2] += 0.5 * (big / side) - 0.5
    face = cv2.warpAffine(
        image, scaled, (big, big), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    return resize_face(face, face_size)


def align_face(image: np.ndarray, eyes: np.ndarray, face_size: int | None) -> np.ndarray:
    """The face whose eye centres are ``eyes``, rotated, scaled and moved to the canonical frame
    (:func:`eye_transform` then :func:`warp_face`).

    Parameters
    ----------
    image : (h, w) float32 grey levels.
    eyes : (4,) ``(left_x, left_y, right_x, right_y)`` in frame pixels.
    face_size : int, or None for the square at its native side.

    Returns
    -------
    (face_size, face_size) float32.
    """
    matrix, side = eye_transform(eyes)
    return warp_face(image, matrix, side, face_size)


def _distinct(detections):
    """Detections without duplicates (boxes overlapping by half or more): the surer kept."""
    from auflow.features.track import box_iou

    kept = []
    for box, weight in sorted(detections, key=lambda d: -d[1]):
        if all(box_iou(box, other) < 0.5 for other, _ in kept):
            kept.append((box, weight))
    return kept


def is_square(shape: tuple[int, ...], tolerance: float = SQUARE_TOLERANCE) -> bool:
    """Whether an (h, w) frame is roughly square: ``max / min - 1 <= tolerance``."""
    h, w = shape[:2]
    return min(h, w) > 0 and max(h, w) / min(h, w) - 1 <= tolerance + 1e-12


def crop_box(
    box: tuple[int, int, int, int], frame_shape: tuple[int, ...], margin: float = DEFAULT_MARGIN
) -> tuple[int, int, int, int]:
    """The square crop (x, y, side, side) around a detector box, inside the frame.

    Parameters
    ----------
    box : (x, y, w, h) of the detection, in frame pixels.
    frame_shape : (h, w, ...) of the frame.
    margin : fraction of the box's larger side added on each side.

    Returns
    -------
    (x, y, side, side): the box grown by ``margin`` about its centre, made square, moved back
    inside the frame if it reaches past an edge, and shrunk to the frame's shorter side if
    larger.
    """
    x, y, w, h = (int(v) for v in box)
    frame_h, frame_w = frame_shape[:2]
    side = min(round(max(w, h) * (1 + 2 * margin)), frame_h, frame_w)
    left = round(x + w / 2 - side / 2)
    top = round(y + h / 2 - side / 2)
    left = min(max(left, 0), frame_w - side)
    top = min(max(top, 0), frame_h - side)
    return left, top, side, side


class FaceFinder:
    """Finds and crops the face of each frame (see the module docstring for the rules).

    Parameters
    ----------
    detect : {"auto", "always", "never"}, default "auto"
    face_size : int or None, default 96
        Side of the returned faces, the model's face size; None keeps the crop's native size.
    margin : float, default 0.10
        Fraction of the detector's box added on each side of the crop.
    min_face : int, default 48
        Smallest face the detector looks for, in frame pixels (at least the cascade's 24 px
        window). Faces much smaller than the face size carry little AU detail once enlarged.
    scale_factor : float, default 1.1
        Step between the detector's scales.
    min_neighbors : int, default 5
        Overlapping detections a face needs: fewer finds more faces and more false ones.

    Notes
    -----
    The cascade is loaded on first use and not pickled: a finder can be sent to worker
    processes, each loading its own. One finder per thread.
    """

    def __init__(
        self,
        detect: str = "auto",
        face_size: int | None = 96,
        margin: float = DEFAULT_MARGIN,
        min_face: int = 48,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
    ):
        if detect not in DETECT_MODES:
            raise ValueError(f"detect must be one of {', '.join(DETECT_MODES)}, got {detect!r}")
        if face_size is not None and (int(face_size) != face_size or face_size < 1):
            raise ValueError(f"face_size must be a positive integer or None, got {face_size!r}")
        if not (np.isfinite(margin) and 0 <= margin <= 1):
            raise ValueError(f"margin must be between 0 and 1 (of the box's side), got {margin!r}")
        if int(min_face) != min_face or min_face < _CASCADE_WINDOW:
            raise ValueError(f"min_face must be an integer >= {_CASCADE_WINDOW}, got {min_face!r}")
        if not scale_factor > 1:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor!r}")
        if int(min_neighbors) != min_neighbors or min_neighbors < 0:
            raise ValueError(f"min_neighbors must be an integer >= 0, got {min_neighbors!r}")
        self.detect = detect
        self.face_size = None if face_size is None else int(face_size)
        self.margin = float(margin)
        self.min_face = int(min_face)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self._cascade = None
        self._eye_cascade = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cascade"] = None  # an OpenCV object: reloaded where it is used
        state["_eye_cascade"] = None
        return state

    @property
    def cascade(self) -> cv2.CascadeClassifier:
        """OpenCV's frontal-face cascade, loaded once."""
        if self._cascade is None:
            path = Path(cv2.data.haarcascades) / FRONTAL_FACE_CASCADE
            cascade = cv2.CascadeClassifier(str(path))
            if cascade.empty():
                raise RuntimeError(
                    f"{path}: OpenCV's face cascade is missing; opencv-python-headless 4.x ships "
                    "it (5.0 does not): install the version pinned in pyproject.toml"
                )
            self._cascade = cascade
        return self._cascade

    def __call__(self, image: np.ndarray) -> FaceCrop:
        """The face of one frame.

        Parameters
        ----------
        image : (h, w) float32 grey levels in [0, 1], as :mod:`auflow.io.media` yields them.

        Returns
        -------
        FaceCrop
        """
        image = np.asarray(image)
        if image.ndim != 2 or image.dtype.kind != "f":
            raise ValueError(
                "a frame must be an (h, w) float array of grey levels in [0, 1] (as "
                f"auflow.io.media yields them), got {image.dtype} of shape {image.shape}"
            )
        h, w = image.shape
        if self.detect == "never" or (self.detect == "auto" and is_square(image.shape)):
            return FaceCrop(1, 0, 0, w, h, math.nan, self._resize(image))
        return self._detect(image)

    def _detect(self, image: np.ndarray) -> FaceCrop:
        no_face = FaceCrop(0, 0, 0, 0, 0, 0.0, None)
        smallest = min(self.min_face, *image.shape)
        if smallest < _CASCADE_WINDOW:
            return no_face
        # the cascade works on 8-bit levels; for 8-bit sources this is exactly their levels
        levels = cv2.convertScaleAbs(image, alpha=255.0)
        boxes, _, weights = self.cascade.detectMultiScale3(
            levels,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(smallest, smallest),
            outputRejectLevels=True,
        )
        if len(boxes) == 0:
            return no_face
        weights = np.ravel(weights)
        best = max(range(len(boxes)), key=lambda i: (boxes[i][2] * boxes[i][3], weights[i]))
        x, y, side, _ = crop_box(boxes[best], image.shape, self.margin)
        confidence = 1.0 / (1.0 + math.exp(-float(weights[best]) / CONFIDENCE_SCALE))
        face = self._resize(image[y : y + side, x : x + side])
        return FaceCrop(1, x, y, side, side, confidence, face)

    @property
    def eye_cascade(self) -> cv2.CascadeClassifier:
        """OpenCV's eye cascade, loaded once."""
        if self._eye_cascade is None:
            path = Path(cv2.data.haarcascades) / EYE_CASCADE
            cascade = cv2.CascadeClassifier(str(path))
            if cascade.empty():
                raise RuntimeError(f"{path}: OpenCV's eye cascade is missing")
            self._eye_cascade = cascade
        return self._eye_cascade

    def find_faces(
        self, image: np.ndarray, near=None, eyes: bool = True, levels: np.ndarray | None = None
    ) -> list[FoundFace]:
        """Every face of at least ``min_face`` pixels in a frame, left to right.

        Parameters
        ----------
        image : (h, w) float32 grey levels in [0, 1].
        near : optional list of (x, y, w, h) boxes of faces already followed (the tracks of
            the previous frames): look only around each (twice its side, at 0.7-1.4 times its
            size), at the frame's full resolution. Without it the whole frame is searched,
            at down to half resolution, as far as a face of ``min_face`` pixels still fills the
            detector's 24-pixel window (half the time of the full resolution).

        eyes : look for the eyes (2 ms a face); without, every face's eyes are where the
            canonical frame puts them in its box (``eyes_found`` False).
        levels : the frame as 8-bit levels (``cv2.convertScaleAbs(image, alpha=255)``), if
            the caller has them already.

        Returns
        -------
        list of FoundFace; empty when there is none (or the frame is smaller than ``min_face``).
        """
        if levels is None:
            levels = cv2.convertScaleAbs(image, alpha=255.0)
        detections = []  # (box in frame pixels, level weight)
        if near is None:
            scale = min(1.0, max(0.5, _CASCADE_WINDOW / self.min_face))
            small = levels
            if scale < 1:
                size = (round(levels.shape[1] * scale), round(levels.shape[0] * scale))
                small = cv2.resize(levels, size, interpolation=cv2.INTER_AREA)
            side = max(_CASCADE_WINDOW, round(self.min_face * scale))
            for box, weight in self._cascade_boxes(small, (side, side), None):
                detections.append((tuple(round(v / scale) for v in box), weight))
        else:
            for x, y, w, h in near:
                grow = round(w * NEAR_REGION)
                left, top = max(0, x - grow), max(0, y - grow)
                region = levels[top : y + h + grow, left : x + w + grow]
                low = max(self.min_face, round(w * NEAR_SIZES[0]))
                high = round(w * NEAR_SIZES[1])
                for box, weight in self._cascade_boxes(region, (low, low), high):
                    bx, by, bw, bh = box
                    detections.append(((bx + left, by + top, bw, bh), weight))
            detections = _distinct(detections)
        found = []
        for box, weight in detections:
            centres = self._find_eyes(levels, box) if eyes else None
            confidence = 1.0 / (1.0 + math.exp(-float(weight) / CONFIDENCE_SCALE))
            if centres is None:
                centres = box_eyes(box, image.shape, self.margin)
                found.append(FoundFace(box, confidence, centres, False))
            else:
                found.append(FoundFace(box, confidence, centres, True))
        return sorted(found, key=lambda face: face.box[0])

    def _cascade_boxes(self, levels, smallest, largest):
        """The frontal cascade's (x, y, w, h) int boxes and level weights in ``levels``."""
        if min(levels.shape) < smallest[0] or (largest is not None and largest < smallest[0]):
            return []
        sizes = {"minSize": smallest}
        if largest is not None:
            sizes["maxSize"] = (largest, largest)
        boxes, _, weights = self.cascade.detectMultiScale3(
            levels,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            outputRejectLevels=True,
            **sizes,
        )
        return [
            (tuple(int(v) for v in box), float(weight))
            for box, weight in zip(boxes, np.ravel(weights), strict=True)
        ]

    def _find_eyes(self, levels: np.ndarray, box) -> np.ndarray | None:
        """Eye centres in a face box: the cascade's detections in the box's top part, the pair
        nearest to where the canonical frame expects them; None without a plausible pair."""
        x, y, w, h = box
        top = levels[y : y + round(h * _EYE_SEARCH_DEPTH), x : x + w]
        if top.size == 0:
            return None
        factor = _EYE_SEARCH_WIDTH / w
        top = cv2.resize(top, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        eyes = self.eye_cascade.detectMultiScale(
            top, scaleFactor=1.1, minNeighbors=3, minSize=(12, 12), maxSize=(45, 45)
        )
        if len(eyes) < 2:
            return None
        centres = np.array([(ex + ew / 2, ey + eh / 2) for ex, ey, ew, eh in eyes]) / factor
        expected = box_eyes(box, levels.shape, self.margin).reshape(2, 2) - (x, y)
        half = w / 2
        left = [c for c in centres if c[0] < half]
        right = [c for c in centres if c[0] >= half]
        if not left or not right:
            return None
        left = min(left, key=lambda c: np.hypot(*(c - expected[0])))
        right = min(right, key=lambda c: np.hypot(*(c - expected[1])))
        dx, dy = right - left
        # a pair a face can have: apart by a fifth to two thirds of the box, tilted < 35 degrees
        if not (0.2 * w < math.hypot(dx, dy) < 0.67 * w and abs(math.atan2(dy, dx)) < 0.61):
            return None
        return np.array([left[0] + x, left[1] + y, right[0] + x, right[1] + y])

    def _resize(self, face: np.ndarray) -> np.ndarray:
        # only when the size differs, as auflow.io.images.load_face: the same bits either way
        if self.face_size is None or face.shape == (self.face_size, self.face_size):
            return face
        return resize_face(face, self.face_size)
