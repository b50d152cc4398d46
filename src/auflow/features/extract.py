"""Feature extraction for one shard of one subject's frames."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

import auflow
from auflow.features.align import ALIGN_CHOICES
from auflow.features.descriptors import make_extractor
from auflow.features.face import align_face
from auflow.io.images import frame_number, load_face, load_faces
from auflow.versions import package_versions

log = logging.getLogger(__name__)

# A frame narrower or lower than this fraction of the median of the frames read with it (its
# shard: the whole subject at the default shard size) is far smaller than the subject's faces:
# a thumbnail or a failed crop, which resizing would blow up into a blurred "face". Warned.
SMALL_FRAME_RATIO = 0.5

# Distributions whose versions can change a feature value (filters, decoding, resizing).
_PROVENANCE_PACKAGES = ("numpy", "scipy", "scikit-image", "opencv-python-headless")


def extraction_metadata(
    extractor: str, params: dict | None, face_size: int | None, align: str = "none"
) -> dict:
    """What a feature table records about how it was made (JSON-serialisable).

    ``params`` is recorded in full: the extractor's ``get_params()``, defaults included, so a
    table stays interpretable if a default changes later.
    """
    model = make_extractor(extractor, params)
    return {
        "extractor": extractor,
        "params": _jsonable(model.get_params()),
        "face_size": face_size,
        "align": align,
        "auflow_version": auflow.__version__,
        "package_versions": package_versions(_PROVENANCE_PACKAGES),
    }


def _jsonable(value):
    """Tuples to lists and numpy scalars to Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def extract_shard(
    subject: str,
    image_paths: list[str | Path],
    extractor: str,
    params: dict | None = None,
    face_size: int | None = None,
    batch_size: int = 64,
    align: str = "none",
) -> pd.DataFrame:
    """Features of one subject's images.

    Images are decoded and filtered ``batch_size`` at a time, so memory is bounded by the batch
    (64 faces of 256 px: 16 MB), not by the subject. Logs images/s at INFO (decode and feature
    time separately) and each batch at DEBUG.

    ``align="landmarks"`` (``features.align``) aligns each face by its landmarks before it is
    described (:mod:`auflow.features.align`), the transform steadied over the shard's frames as
    one face track (:func:`auflow.features.track.steady_geometry`), as ``auflow predict``
    aligns the faces of such a model: training and prediction see one geometry. It reads each
    image twice (landmarks, then the aligned face) and needs a ``face_size`` and the optional
    dlib packages.

    Returns
    -------
    DataFrame with ``subject`` (str), ``frame`` (int64), then one float32 column per feature
    (named by the extractor's ``get_feature_names_out()``), one row per image, sorted by frame.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if align not in ALIGN_CHOICES:
        raise ValueError(f"align must be one of {', '.join(ALIGN_CHOICES)}, got {align!r}")
    paths = sorted(image_paths, key=frame_number)
    geometry = None
    if align == "landmarks":
        # first every face's landmarks, then each face aligned by the transform steadied over
        # the shard's frames as one face track, as auflow predict aligns a crop folder
        from auflow.features.align import Landmarker, crop_eyes
        from auflow.features.track import steady_geometry

        if face_size is None:
            raise ValueError("features.align: landmarks needs a features.face_size, not null")
        landmarker = Landmarker()
        geometry = steady_geometry([crop_eyes(load_face(path), landmarker) for path in paths])
    model = make_extractor(extractor, params).fit()
    names = list(model.get_feature_names_out())
    features = np.empty((len(paths), len(names)), np.float32)
    # one batch buffer for the whole shard: a fresh 16 MB batch would be mapped and zeroed by
    # the system at every batch
    buffer = None
    if face_size is not None:
        buffer = np.empty((min(batch_size, len(paths)), face_size, face_size), np.float32)
    decode = compute = 0.0
    sizes: list[tuple[int, int]] = []
    for first in range(0, len(paths), batch_size):
        batch = paths[first : first + batch_size]
        start = time.perf_counter()
        if geometry is None:
            faces = load_faces(batch, face_size, out=buffer, sizes=sizes)
        else:
            faces = buffer[: len(batch)]
            for i, path in enumerate(batch):
                image = load_face(path)
                sizes.append(image.shape)
                faces[i] = align_face(image, geometry[first + i], face_size)
        loaded = time.perf_counter()
        features[first : first + len(batch)] = model.transform(faces)
        done = time.perf_counter()
        decode += loaded - start
        compute += done - loaded
        log.debug(
            "%s: images %d-%d of %d, %.1f images/s",
            subject,
            first + 1,
            first + len(batch),
            len(paths),
            len(batch) / max(done - start, 1e-9),
        )
    warn_small_frames(subject, paths, sizes, face_size)
    total = decode + compute
    log.info(
        "%s: %d images with %s in %.2f s, %.1f images/s (decode %.2f s, features %.2f s)",
        subject,
        len(paths),
        extractor,
        total,
        len(paths) / total if total > 0 else float("nan"),
        decode,
        compute,
    )
    table = pd.DataFrame(features, columns=names, copy=False)
    table.insert(0, "frame", np.array([frame_number(p) for p in paths], dtype=np.int64))
    table.insert(0, "subject", subject)
    return table


def warn_small_frames(
    subject: str, paths: list, sizes: list[tuple[int, int]], face_size: int | None
) -> list[Path]:
    """Log a warning naming each image far smaller than the others read with it (width or height
    under :data:`SMALL_FRAME_RATIO` of their median) and both sizes; returns those images.

    Parameters
    ----------
    paths : the images, n of them.
    sizes : (n,) native ``(height, width)`` of each image, as :func:`load_faces` reports them.
    """
    if not sizes:
        return []
    heights, widths = np.array(sizes).T
    median_height, median_width = np.median(heights), np.median(widths)
    small = (heights < SMALL_FRAME_RATIO * median_height) | (
        widths < SMALL_FRAME_RATIO * median_width
    )
    resized = f"resized to {face_size}x{face_size} like them" if face_size else "used as it is"
    for i in np.flatnonzero(small):
        log.warning(
            "%s is %dx%d pixels (width x height), far smaller than the other frames of %s "
            "(median %gx%g): %s; check that it is a face of that subject (a thumbnail or a "
            "failed crop?) and replace it with the face crop of that frame",
            paths[i],
            widths[i],
            heights[i],
            subject,
            median_width,
            median_height,
            resized,
        )
    return [Path(paths[i]) for i in np.flatnonzero(small)]
