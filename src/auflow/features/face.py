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

__all__ = [
    "DEFAULT_MARGIN",
    "DETECT_MODES",
    "FaceCrop",
    "FaceFinder",
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

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cascade"] = None  # an OpenCV object: reloaded where it is used
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

    def _resize(self, face: np.ndarray) -> np.ndarray:
        # only when the size differs, as auflow.io.images.load_face: the same bits either way
        if self.face_size is None or face.shape == (self.face_size, self.face_size):
            return face
        return resize_face(face, self.face_size)
