"""Face image folders: subject discovery, frame numbers, reading and checking images.

The rules a dataset must follow, each refused with an error naming the file and what to do:

- **Subjects** are the folders under the images root. Their names become parts of output paths
  and Snakemake wildcards, so they may use only ASCII letters, digits, ``_``, ``.`` and ``-``,
  starting with a letter or digit (:data:`SUBJECT_NAME`). Hidden entries (``.DS_Store``,
  macOS ``._1.png`` copies) are ignored everywhere.
- **Frames** are the files ending in ``.png``, ``.jpg``, ``.jpeg`` or ``.bmp`` (any case); a
  folder with such a name is not a frame (a warning says so). The frame number is the last run
  of digits in the file name: ``7.png``, ``0007.png``, ``frame_7.png`` and ``S005_001_00000007.png``
  are all frame 7. Everything else in the name must be the same for every frame of a subject,
  so that the number that changes is the frame: ``img12_v2.png`` beside ``img13_v2.png`` is
  refused, not read as frame 2.
- **Pixels** (:func:`read_image`): the file's content decides its format (PNG, JPEG or BMP,
  whatever the suffix). An empty file, a file that is not an image, a PNG without its closing
  ``IEND`` chunk, a JPEG without its end-of-image marker and a BMP shorter than its header says
  are refused as such, never decoded into a partial face. Conversions to grey float32 in [0, 1]:
  8-bit values are divided by 255 and 16-bit values by 65535; colour (RGB, palette images,
  which are expanded to their colours first) becomes grey with the ITU-R 709 luma weights
  0.2125 R + 0.7154 G + 0.0721 B, as skimage's ``rgb2gray`` (the seed notebook's reader) does;
  an alpha channel is dropped (the colour under it is used).
- **Sizes** (:func:`load_face`): with a ``face_size``, every face is resized to face_size x
  face_size with OpenCV's area interpolation, whatever its own size (a non-square image is
  stretched, not cropped); with ``face_size=None`` the faces of a batch must share one size.
  An image narrower or lower than :data:`MIN_FACE_SIDE` pixels holds no face to resize and is
  refused by :func:`load_faces` (the extraction's reader).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_IMAGE_EXTENSIONS = frozenset(suffix[1:] for suffix in IMAGE_SUFFIXES)
# A subject name: also the wildcard constraint of `subject` in rules/common.smk and the pattern
# of dataset.subjects in the config schema.
SUBJECT_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_BGR_TO_GREY = np.array([0.0721, 0.7154, 0.2125], dtype=np.float32)
# A stem split around its last run of digits: (before, digits, after).
_FRAME_NUMBER = re.compile(r"^(.*?)(\d+)(\D*)$")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk's type and CRC, the last 8 bytes of every PNG
_JPEG_START = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"
# Fewer pixels a side than this leave no eyes or mouth to read: such an image is an icon, a
# placeholder or a failed crop, never a face, and resizing would only make a flat one of it.
MIN_FACE_SIDE = 8


def frame_number(path: str | Path) -> int:
    """The frame number of an image file: the last run of digits in its stem.

    ``frame_0012.png`` -> 12, ``7.png`` -> 7. Raises ValueError naming the file if it has none.
    Whether the number is unambiguous is a property of the whole folder: :func:`list_frames`.
    """
    return int(_split_stem(Path(path))[1])


def _split_stem(path: Path) -> tuple[str, str, str]:
    match = _FRAME_NUMBER.match(path.stem)
    if match is None:
        raise _no_frame_number(path)
    return match.group(1), match.group(2), match.group(3)


def _no_frame_number(path: Path) -> ValueError:
    return ValueError(
        f"{path}: no frame number in the file name; name each frame by its number "
        "(e.g. 12.png or frame_0012.png), or move the file out of the subject folder"
    )


def list_frames(subject_dir: str | Path) -> list[tuple[int, Path]]:
    """(frame, path) of every image in ``subject_dir``, in frame-number order.

    Never relies on directory listing order. Raises ValueError naming the files for: a name
    without a frame number, names that differ elsewhere than in their last number (ambiguous),
    and two files with the same frame number. A folder named like an image is skipped with a
    warning; hidden files are skipped.
    """
    return [(frame, Path(path)) for frame, path in frame_files(subject_dir)]


def frame_files(subject_dir: str | Path) -> list[tuple[int, str]]:
    """:func:`list_frames` with each path as a string, ``str(Path(subject_dir) / name)``.

    The workflow lists every subject while it parses (DISFA: 130,815 images), so this works on
    names: one listing, whose entries tell a folder from a file without a stat call each, and
    no Path object per image (making them took longer than listing the folder).
    """
    subject_dir = Path(subject_dir)
    images, folders = [], []
    with os.scandir(subject_dir) as entries:
        for entry in entries:
            name = entry.name
            _, dot, extension = name.rpartition(".")
            if name.startswith(".") or not dot or extension.lower() not in _IMAGE_EXTENSIONS:
                continue
            (folders if entry.is_dir() else images).append(name)
    for name in sorted(folders):
        log.warning(
            "%s is a folder, not an image: not a frame of %s", subject_dir / name, subject_dir.name
        )
    images.sort()
    numbered = []
    first_of_pattern: dict[tuple[str, str], str] = {}
    for name in images:
        match = _FRAME_NUMBER.match(name.rpartition(".")[0])
        if match is None:
            raise _no_frame_number(subject_dir / name)
        before, digits, after = match.groups()
        numbered.append((int(digits), name))
        first_of_pattern.setdefault((before, after), name)
    if len(first_of_pattern) > 1:
        (a_before, a_after), a = list(first_of_pattern.items())[0]
        (b_before, b_after), b = list(first_of_pattern.items())[1]
        raise ValueError(
            f"{subject_dir}: cannot tell which number is the frame in {a} and {b}: "
            "the frame number is the last run of digits in a name, and the rest of the name "
            f"must be the same for every image of a subject (here {a_before!r}...{a_after!r} "
            f"and {b_before!r}...{b_after!r}); rename the images so that only the frame number "
            "differs, e.g. 12.png or frame_0012.png"
        )
    numbered.sort()
    for (a, name_a), (b, name_b) in zip(numbered, numbered[1:], strict=False):
        if a == b:
            raise ValueError(
                f"{subject_dir / name_a} and {subject_dir / name_b}: both are frame {a} of "
                f"subject {subject_dir.name}; remove or renumber one of them"
            )
    # what str(subject_dir / name) gives ("." is left out, "/" not doubled)
    prefix = "" if str(subject_dir) == "." else os.path.join(subject_dir, "")
    return [(frame, prefix + name) for frame, name in numbered]


def frame_gaps(frames: list[int]) -> list[tuple[int, int]]:
    """Runs of missing frame numbers in sorted ``frames``: [(first missing, last missing), ...]."""
    return [(a + 1, b - 1) for a, b in zip(frames, frames[1:], strict=False) if b - a > 1]


def check_subject_name(subject: str, folder: str | Path) -> None:
    """Raise ValueError naming ``folder`` if ``subject`` cannot be a subject id, and why."""
    if re.fullmatch(SUBJECT_NAME, subject) is None:
        raise ValueError(
            f"{folder}: {subject!r} cannot be a subject name: subject names become parts of "
            "output paths and Snakemake wildcards (results/labels/<subject>.parquet), so they "
            "may use only ASCII letters, digits, '_', '.' and '-', starting with a letter or "
            "digit (no spaces or accents); rename the folder and its label file, or leave it "
            "out with dataset.subjects"
        )


def read_image(path: str | Path) -> np.ndarray:
    """Read one image as grey float32 in [0, 1] at its own size, shape (h, w).

    Conversions and refusals are those of the module docstring. Raises ValueError naming the
    file and what is wrong with it (FileNotFoundError if it does not exist).
    """
    return grey_levels(decode_image(path))


def decode_image(path: str | Path) -> np.ndarray:
    """The checked pixels of one image as OpenCV decodes them, before :func:`grey_levels`.

    Returns
    -------
    (h, w) or (h, w, 3 or 4) uint8 or uint16 array (colour in BGR(A) order). Raises as
    :func:`read_image`.
    """
    try:
        # open, not Path(path).read_bytes(): a Path object costs about as much as this
        # function's checks, per image of a folder read by auflow predict
        with open(path, "rb") as stream:
            data = stream.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: image not found (moved or deleted since the run began?)"
        ) from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, not an image") from None
    _check_image_bytes(path, data)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path}: corrupt image: its data cannot be decoded; replace the file")
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{path}: unsupported pixel type {image.dtype} (8 or 16 bits expected)")
    return image


def _check_image_bytes(path: str | Path, data: bytes) -> None:
    """Refuse what a decoder might turn into a partial or garbage face."""
    if not data:
        raise ValueError(f"{path}: empty file (0 bytes); replace it with the image")
    if data.startswith(_PNG_SIGNATURE):
        if not data.endswith(_PNG_END) and _PNG_END not in data[-4096:]:
            raise ValueError(
                f"{path}: truncated PNG ({len(data)} bytes, no IEND chunk at its end); "
                "copy the file again"
            )
    elif data.startswith(_JPEG_START):
        if not data.rstrip(b"\x00").endswith(_JPEG_END):
            raise ValueError(
                f"{path}: truncated JPEG ({len(data)} bytes, no end-of-image marker at its end); "
                "copy the file again"
            )
    elif data.startswith(b"BM") and len(data) >= 6:
        declared = int.from_bytes(data[2:6], "little")
        if len(data) < declared:
            raise ValueError(
                f"{path}: truncated BMP ({len(data)} of the {declared} bytes its header "
                "declares); copy the file again"
            )
    else:
        raise ValueError(
            f"{path}: not an image: its content is not PNG, JPEG or BMP (it starts with "
            f"{data[:8]!r}); replace it with the image or move it out of the subject folder"
        )


def load_face(path: str | Path, face_size: int | None = None) -> np.ndarray:
    """Read one face as grey float32 in [0, 1], shape (face_size, face_size) or native.

    See :func:`read_image` for conversions; resizing uses OpenCV's area interpolation. An image
    smaller than :data:`MIN_FACE_SIDE` pixels a side is refused (:func:`check_face_size`).
    """
    face = read_image(path)
    check_face_size(path, face, face_size)
    if face_size is not None and face.shape != (face_size, face_size):
        face = resize_face(face, face_size)
    return face


def grey_levels(image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """An image as OpenCV decodes it -> (h, w) grey float32 in [0, 1].

    Parameters
    ----------
    image : (h, w) grey or (h, w, 3 or 4) BGR(A) array, integer (scaled by its dtype's maximum)
        or float (taken as already in [0, 1]).
    out : optional (h, w) float32 array to write the grey levels into (returned).

    Colour is converted with ITU-R 709 luma weights, as skimage's ``rgb2gray`` does.
    """
    scale = np.float32(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else np.float32(1)
    if image.ndim == 2:
        # the float32 quotient of the float32 level, as image.astype(np.float32) / scale, without
        # the intermediate copy
        return np.divide(image, scale, out=out, dtype=np.float32)
    grey = image.astype(np.float32) / scale
    grey = grey[..., :3] @ _BGR_TO_GREY  # OpenCV gives BGR(A)
    if out is None:
        return grey
    np.copyto(out, grey)
    return out


def resize_face(face: np.ndarray, face_size: int) -> np.ndarray:
    """(h, w) float32 face -> (face_size, face_size) float32, as the pipeline resizes faces.

    Area interpolation (``cv2.INTER_AREA``): averages pixels when shrinking, so fine texture
    does not alias into the Gabor responses. A non-square face is stretched to a square.
    """
    return cv2.resize(face, (face_size, face_size), interpolation=cv2.INTER_AREA)


def check_face_size(path: str | Path, image: np.ndarray, face_size: int | None = None) -> None:
    """Raise ValueError naming ``path`` if ``image`` (as decoded) is too small to be a face:
    narrower or lower than :data:`MIN_FACE_SIDE` pixels."""
    height, width = image.shape[:2]
    if min(height, width) < MIN_FACE_SIDE:
        stretched = f" (it would be stretched to {face_size}x{face_size})" if face_size else ""
        raise ValueError(
            f"{path}: {width}x{height} pixels (width x height) is too small to be a face: a face "
            f"needs at least {MIN_FACE_SIDE} pixels a side{stretched}; replace it with the face "
            "crop of that frame, or move it out of the subject folder (and its label element "
            "out of the label file)"
        )


def load_faces(
    paths,
    face_size: int | None = None,
    out: np.ndarray | None = None,
    sizes: list | None = None,
) -> np.ndarray:
    """Faces of ``paths`` as one (n, h, w) float32 batch; native sizes must then agree.

    Each face is converted straight into its place in the batch (the same values as
    :func:`load_face`, without a copy per face and a copy of the batch). An image smaller than
    :data:`MIN_FACE_SIDE` pixels a side is refused (:func:`check_face_size`).

    Parameters
    ----------
    paths : sequence of image paths, n of them.
    face_size : int or None, as :func:`load_face`.
    out : optional (at least n, face_size, face_size) float32 array, filled and returned (its
        first n faces) instead of a new batch, e.g. the same buffer for every batch of a shard.
        Only with a ``face_size``.
    sizes : optional list, extended with each image's native ``(height, width)``, in order.
    """
    paths = list(paths)
    if out is not None and face_size is None:
        raise ValueError("load_faces: out= needs a face_size (native sizes are known only later)")
    faces = None if out is None else out[: len(paths)]
    for i, path in enumerate(paths):
        image = decode_image(path)
        check_face_size(path, image, face_size)
        if sizes is not None:
            sizes.append(image.shape[:2])
        if faces is None:
            shape = (face_size, face_size) if face_size is not None else image.shape[:2]
            faces = np.empty((len(paths), *shape), np.float32)
        if image.shape[:2] == faces.shape[1:]:
            grey_levels(image, out=faces[i])
        elif face_size is not None:
            faces[i] = resize_face(grey_levels(image), face_size)
        else:
            first, other = faces.shape[1:], image.shape[:2]
            raise ValueError(
                f"images differ in size: {paths[0]} is {first[1]}x{first[0]} but {path} is "
                f"{other[1]}x{other[0]} (width x height) and features.face_size is null; set "
                "features.face_size to resize every face"
            )
    return faces if faces is not None else np.empty((0, 0, 0), np.float32)
