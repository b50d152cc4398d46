"""Face image folders: subject discovery, frame order, loading."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_BGR_TO_GREY = np.array([0.0721, 0.7154, 0.2125], dtype=np.float32)
_FRAME_NUMBER = re.compile(r"(\d+)(?!.*\d)")  # the last run of digits in the file stem


def frame_number(path: str | Path) -> int:
    """The frame number of an image file: the last run of digits in its stem.

    ``frame_0012.png`` -> 12, ``7.png`` -> 7. Raises ValueError naming the file if it has none.
    """
    stem = Path(path).stem
    match = _FRAME_NUMBER.search(stem)
    if match is None:
        raise ValueError(f"{path}: no frame number in the file name (expected digits, e.g. 12.png)")
    return int(match.group(1))


def list_frames(subject_dir: str | Path) -> list[tuple[int, Path]]:
    """(frame, path) of every image in ``subject_dir``, in frame-number order.

    Never relies on directory listing order. Two files with the same frame number are an error.
    """
    subject_dir = Path(subject_dir)
    frames = sorted(
        (frame_number(p), p)
        for p in subject_dir.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    for (a, pa), (b, pb) in zip(frames, frames[1:], strict=False):
        if a == b:
            raise ValueError(f"{pa} and {pb}: both are frame {a} of subject {subject_dir.name}")
    return frames


def discover_subjects(images_root: str | Path) -> list[str]:
    """Names of the subject folders under ``images_root`` that hold at least one image, sorted."""
    images_root = Path(images_root)
    if not images_root.is_dir():
        raise FileNotFoundError(f"{images_root}: image folder not found (dataset.images in config)")
    return sorted(
        d.name
        for d in images_root.iterdir()
        if d.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in d.iterdir())
    )


def load_face(path: str | Path, face_size: int | None = None) -> np.ndarray:
    """Read one face as grey float32 in [0, 1], shape (face_size, face_size) or native.

    Colour images are converted with ITU-R 709 luma weights, as skimage's ``rgb2gray`` (which the
    seed notebook used through ``imread(..., as_gray=True)``) does.
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path}: cannot be read as an image (missing, empty or corrupt)")
    face = grey_levels(image)
    if face_size is not None and face.shape != (face_size, face_size):
        face = resize_face(face, face_size)
    return face


def grey_levels(image: np.ndarray) -> np.ndarray:
    """An image as OpenCV decodes it -> (h, w) grey float32 in [0, 1].

    Parameters
    ----------
    image : (h, w) grey or (h, w, 3 or 4) BGR(A) array, integer (scaled by its dtype's maximum)
        or float (taken as already in [0, 1]).

    Colour is converted with ITU-R 709 luma weights, as skimage's ``rgb2gray`` does.
    """
    scale = np.float32(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else np.float32(1)
    grey = image.astype(np.float32) / scale
    if grey.ndim == 3:  # OpenCV gives BGR(A)
        grey = grey[..., :3] @ _BGR_TO_GREY
    return grey


def resize_face(face: np.ndarray, face_size: int) -> np.ndarray:
    """(h, w) float32 face -> (face_size, face_size) float32, as the pipeline resizes faces.

    Area interpolation (``cv2.INTER_AREA``): averages pixels when shrinking, so fine texture
    does not alias into the Gabor responses. A non-square face is stretched to a square.
    """
    return cv2.resize(face, (face_size, face_size), interpolation=cv2.INTER_AREA)


def load_faces(paths, face_size: int | None = None) -> np.ndarray:
    """Faces of ``paths`` as one (n, h, w) float32 batch; native sizes must then agree."""
    faces = [load_face(p, face_size) for p in paths]
    shapes = {f.shape for f in faces}
    if len(shapes) > 1:
        raise ValueError(
            f"images differ in size {sorted(shapes)} (e.g. {paths[0]}); set features.face_size"
        )
    return np.stack(faces) if faces else np.empty((0, 0, 0), np.float32)
