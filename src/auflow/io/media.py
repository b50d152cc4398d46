"""Frames of the inputs of ``auflow predict``: image folders, single images and video files.

Every input is checked before the first frame is read (:func:`open_inputs`), so a typo in the
last of ten paths fails at once, not after the first nine recordings. Then :func:`iter_frames`
yields one :class:`MediaFrame` per frame, input after input in the order given.

Frame numbers
-------------
- An image folder: the number in each file name, as the pipeline numbers frames
  (:func:`auflow.io.images.list_frames`: the last run of digits, ``0007.png`` is frame 7), in
  that order. The pipeline's own ``croppedImg/<subject>`` folders keep the pipeline's numbers.
- A single image: the number in its file name, or 1 if the name has no digits.
- A video: the 1-based position among the frames that decode (the first decoded frame is 1),
  as OpenFace numbers video frames. A frame the decoder cannot decode is not yielded and does
  not take a number: the numbers are 1, 2, ... n for the n frames that decode, whatever the
  container's frame count says.

Timestamps
----------
Seconds from the start of a video: the decoder's position of the decoded frame
(``CAP_PROP_POS_MSEC``); where the decoder does not report a position that increases, ``(frame
- 1) / fps`` from the container's frame rate; NaN if it has none. Images have NaN.

Grey levels
-----------
Every frame comes as (h, w) float32 grey levels in [0, 1] at its native size, converted exactly
as :func:`auflow.io.images.load_face` converts (:func:`auflow.io.images.grey_levels`), so that
a pipeline image read here gives the same features, bit for bit, as in the pipeline. Video frames
are 8-bit BGR from the decoder and go through the same conversion.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from auflow.io.images import IMAGE_SUFFIXES, frame_files, frame_number, grey_levels, load_face

VIDEO_SUFFIXES = (".avi", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv")

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "MediaFrame",
    "MediaInput",
    "iter_frames",
    "open_inputs",
]


@dataclass(frozen=True)
class MediaFrame:
    """One frame of an input.

    Attributes
    ----------
    input : str
        The input path exactly as given (a folder, an image or a video), for the output table.
    frame : int
        Frame number (see the module docstring).
    timestamp : float
        Seconds from the start of a video; NaN for images.
    image : (h, w) float32
        Grey levels in [0, 1] at the frame's native size.
    """

    input: str
    frame: int
    timestamp: float
    image: np.ndarray


@dataclass(frozen=True)
class MediaInput:
    """An input that passed the checks of :func:`open_inputs`.

    Attributes
    ----------
    input : str
        The path as given.
    kind : str
        ``"folder"``, ``"image"`` or ``"video"``.
    frames : list of (int, str)
        A folder's images in frame order (:func:`auflow.io.images.frame_files`: paths as
        strings, no Path object per image); ``[(frame, path)]`` for a single image; empty for
        a video (its frames are known only once decoded).
    expected_frames : int
        Frames to expect, for a progress bar: exact for images, the container's frame count
        for a video (which may differ from what decodes; 0 if the container does not say).
    """

    input: str
    kind: str
    frames: list[tuple[int, str]]
    expected_frames: int


def open_inputs(paths: Iterable[str | Path]) -> list[MediaInput]:
    """Check every input and say what it is, before any frame is read.

    Parameters
    ----------
    paths : iterable of str or Path
        Image folders, image files (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``) and video files
        (``.avi``, ``.mp4``, ``.m4v``, ``.mov``, ``.mkv``, ``.webm``, ``.mpg``, ``.mpeg``, ``.wmv``;
        any format OpenCV's FFmpeg can decode).

    Returns
    -------
    list of MediaInput, in the order given.

    Raises
    ------
    ValueError
        Naming the path: it does not exist; it is a file of an unknown type; an image that
        cannot be decoded; a folder with no images (or images without a frame number, or two
        with the same number); a video of which no frame decodes.
    """
    inputs = [_open_input(path) for path in paths]
    if not inputs:
        raise ValueError("no input given: name image folders, image files or video files")
    return inputs


def _open_input(path: str | Path) -> MediaInput:
    given = str(path)
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{given}: no such file or folder")
    if path.is_dir():
        frames = frame_files(path)
        if not frames:
            folders = sorted(p.name for p in path.iterdir() if p.is_dir())
            hint = (
                f"; it holds folders ({', '.join(folders[:3])}{', ...' if len(folders) > 3 else ''}"
                "): give each image folder as its own input"
                if folders
                else ""
            )
            raise ValueError(
                f"{given}: empty folder, no images ({', '.join(IMAGE_SUFFIXES)}) in it{hint}"
            )
        return MediaInput(given, "folder", frames, len(frames))
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        if cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is None:
            raise ValueError(f"{given}: cannot be read as an image (empty or corrupt file)")
        return MediaInput(given, "image", [(_single_image_frame(path), str(path))], 1)
    if suffix in VIDEO_SUFFIXES:
        capture = cv2.VideoCapture(str(path))
        try:
            decodes = capture.isOpened() and capture.read()[0]
            expected = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))) if decodes else 0
        finally:
            capture.release()
        if not decodes:
            raise ValueError(
                f"{given}: no frame of this video could be decoded (empty, corrupt, or a codec "
                "OpenCV's FFmpeg does not read; try converting it to H.264 .mp4 or MJPG .avi)"
            )
        return MediaInput(given, "video", [], expected)
    raise ValueError(
        f"{given}: unknown file type {path.suffix or '(no suffix)'!r}; expected an image "
        f"({', '.join(IMAGE_SUFFIXES)}), a video ({', '.join(VIDEO_SUFFIXES)}) "
        "or a folder of images"
    )


def _single_image_frame(path: Path) -> int:
    """A lone image's frame number: the number in its name, else 1 (``me.jpg`` is frame 1)."""
    try:
        return frame_number(path)
    except ValueError:
        return 1


def iter_frames(inputs: Iterable[str | Path] | list[MediaInput]) -> Iterator[MediaFrame]:
    """Every frame of every input, input after input in the order given.

    Parameters
    ----------
    inputs : paths (checked first with :func:`open_inputs`) or the result of :func:`open_inputs`.

    Yields
    ------
    MediaFrame, images as :func:`auflow.io.images.load_face` reads them (native size).

    Raises
    ------
    ValueError
        From :func:`open_inputs` before the first frame; while iterating, if an image of a folder
        cannot be decoded (naming the file). Video frames that do not decode end the video.
    """
    inputs = list(inputs)
    if not inputs or not all(isinstance(i, MediaInput) for i in inputs):
        inputs = open_inputs(inputs)
    for media in inputs:
        if media.kind == "video":
            yield from _iter_video(media.input)
        else:
            for frame, path in media.frames:
                yield MediaFrame(media.input, frame, math.nan, load_face(path))


def _iter_video(given: str) -> Iterator[MediaFrame]:
    capture = cv2.VideoCapture(given)
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        frame, previous = 0, -math.inf
        while True:
            ok, image = capture.read()
            if not ok:
                return
            frame += 1
            timestamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            # Some containers report no position (0 for every frame): count frames instead.
            if not (timestamp > previous and timestamp >= 0):
                timestamp = (frame - 1) / fps if fps > 0 else math.nan
            previous = timestamp
            yield MediaFrame(given, frame, timestamp, grey_levels(image))
    finally:
        capture.release()
