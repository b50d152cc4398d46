"""``auflow predict``: a saved detector applied to new faces, written as OpenFace-style rows.

Frames come from image folders, single images or videos (:mod:`auflow.io.media`). A frame that
is a face crop (``--detect never``, or a roughly square frame under ``auto``) is one face, as in
the pipeline. In any other frame every face of at least ``min_face`` pixels is found
(:meth:`auflow.features.face.FaceFinder.find_faces`), followed from frame to frame within its
input (:class:`auflow.features.track.FaceTracker`: a ``face_id`` per track; a face that has
not moved keeps its last measurement, :class:`auflow.features.track.StillFaces`), cropped or
aligned by a geometry held still while the face stays put (``align``; a model trained on faces
aligned by landmarks has its crops aligned too), described by the model's extractor at the
model's face size, and scored. One row per face per decodable frame::

    input, frame, timestamp, face_id, face_detected, face_x, face_y, face_w, face_h,
    confidence, model, AU01_p, AU01_c, [AU01_r,] AU02_p, ...

``AU01_p`` is the detector's score (a probability where the model gives one), ``AU01_c`` the
occurrence at the model's saved threshold, ``AU01_r`` the predicted intensity for intensity
models. A frame without a face keeps one row with ``face_detected=0``, no ``face_id`` and
empty AU columns.

Static and dynamic models: a model trained with ``subject_median`` normalisation (dynamic)
subtracts the median feature vector of each face track's own frames, as the pipeline does per
subject, so a track is read whole before it is scored, and one frame minus its own median is
zero. Tracks shorter than :data:`MIN_DYNAMIC_FRAMES` (photographs, short clips) are scored by
the static model, the same model fitted without normalisation (``<model>_static``, saved by the
pipeline with ``models.static``). The ``model`` column says which scored each row.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from auflow.io.atomic import replaced_atomically
from auflow.models.saved import ModelError, load_model

ID_COLUMNS = ["input", "frame", "timestamp", "face_id"]
FACE_COLUMNS = ["face_detected", "face_x", "face_y", "face_w", "face_h", "confidence"]
MODEL_KINDS = ("auto", "static", "dynamic")
ALIGN_MODES = ("box", "landmarks", "eyes", "none")
STATIC_SUFFIX = "_static"
# A face track shorter than this is scored by the static model under --model-kind auto: its
# median is too unsteady to stand for the person. Measured on make demo's svm_linear pair
# (crops cut into clips of n frames, F1 mean over AUs): dynamic 0.00 / 0.37 / 0.72 / 0.80 at
# n = 1 / 10 / 20 / 30 frames, static 0.74 at any n; the dynamic model wins from about 25.
MIN_DYNAMIC_FRAMES = 30
# Frames between searches of the whole frame for new faces; in between, each followed face is
# looked for only around its last place (a fifth of the time for one face in 640x480).
REDETECT_EVERY = 5
# Cropping modes whose geometry is steadied knowing the whole face track (two reads of the
# input) rather than as the frames come (FaceTracker's running anchor).
TWO_PASS_MODES = ("box", "landmarks", "eyes")


def check_extractor(manifest: dict, path) -> object:
    """The model's extractor, fitted; ModelError when this auflow does not know it."""
    from auflow.features.descriptors import make_extractor

    try:
        extractor = make_extractor(manifest["extractor"], manifest.get("extractor_params"))
        extractor.fit()
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{path}: cannot rebuild the model's feature extractor: {error}") from None
    names = list(extractor.get_feature_names_out())
    if names != manifest["feature_names"]:
        raise ModelError(
            f"{path}: the extractor {manifest['extractor']!r} of this auflow makes other features "
            "than the model was trained on; re-train the model with this version"
        )
    return extractor


def find_static_model(model_dir: str | Path, static_model: str | Path | None = None):
    """The folder of the model for single frames and short tracks that goes with ``model_dir``.

    ``static_model`` when given, else the pipeline's ``<model>_static`` folder beside
    ``model_dir`` (saved with ``models.static``); None when there is none. Its manifest is
    checked here (no person normalisation, the same features); the model itself is loaded only
    if a track needs it (a crop folder's scoring then costs one model's loading, not two).
    """
    from auflow.models.saved import read_manifest

    model_dir = Path(model_dir)
    if static_model is None:
        candidate = model_dir.with_name(model_dir.name + STATIC_SUFFIX)
        if not (candidate / "manifest.json").is_file():
            return None
        static_model = candidate
    manifest = read_manifest(static_model)
    if manifest.get("normalise") != "none":
        raise ModelError(
            f"{static_model}: a static model must not normalise by the person (its manifest "
            f"says normalise={manifest.get('normalise')!r})"
        )
    dynamic = read_manifest(model_dir)
    if (
        manifest.get("feature_names") != dynamic["feature_names"]
        or manifest.get("face_size") != dynamic["face_size"]
        or manifest.get("align", "none") != dynamic.get("align", "none")
    ):
        raise ModelError(
            f"{static_model}: made from other features, another face size or other aligned "
            f"faces than {model_dir}; name the static model fitted beside it with --static-model"
        )
    return Path(static_model)


def predict_inputs(
    model_dir: str | Path,
    inputs: list[str],
    detect: str = "auto",
    batch_size: int = 256,
    progress: bool = True,
    *,
    min_face: int = 48,
    model_kind: str = "auto",
    static_model: str | Path | None = None,
    min_dynamic_frames: int | None = None,
    align: str | None = None,
) -> pd.DataFrame:
    """Score every face of every frame of ``inputs`` with the saved model in ``model_dir``.

    Parameters
    ----------
    detect : ``auto``, ``always`` or ``never`` (:class:`auflow.features.face.FaceFinder`).
    min_face : smallest face looked for, in frame pixels.
    model_kind : ``auto`` scores a face track of fewer than ``min_dynamic_frames`` frames with
        the static model and longer ones with the dynamic model (``model_dir``); ``static`` or
        ``dynamic`` force one (the dynamic model on a short track is warned about).
    static_model : the static model's folder, if not ``<model_dir>_static``.
    align : how a detected face is cropped; None (default): the model's own, ``landmarks``
        for a model trained with ``features.align: landmarks`` (which then aligns crops too, as
        the pipeline aligned its training crops; any other mode is refused), else ``box``.
        ``box``: the detector's box held still while the face stays put
        (:class:`auflow.features.track.FaceTracker`); ``landmarks``: rotated, scaled and moved
        so that dlib's five landmarks fall on the canonical frame's
        (:mod:`auflow.features.align`), held still likewise; ``eyes``: likewise from the eye
        cascade's eye centres; ``none``: each frame's own box (auflow 0.x's crop).

    Returns
    -------
    One row per face per decodable frame (one row with ``face_detected=0`` for a frame without
    a face), columns as in the module docstring, inputs in the order given and frames in frame
    order, the faces of a frame left to right.
    """
    from auflow.features.face import FaceFinder, align_face, box_eyes, crop_box, is_square

    if align is not None and align not in ALIGN_MODES:
        raise ValueError(f"align must be one of {', '.join(ALIGN_MODES)}, got {align!r}")
    from auflow.features.track import FaceTracker, StillFaces
    from auflow.io.media import iter_frames, open_inputs

    if min_dynamic_frames is None:
        min_dynamic_frames = MIN_DYNAMIC_FRAMES
    if model_kind not in MODEL_KINDS:
        raise ValueError(f"model_kind must be one of {', '.join(MODEL_KINDS)}, got {model_kind!r}")
    dynamic = load_model(model_dir)
    manifest = dynamic.manifest
    extractor = check_extractor(manifest, Path(model_dir))
    align = check_align(manifest, align, Path(model_dir))
    aligned_model = manifest.get("align", "none") == "landmarks"
    one_model = manifest["normalise"] == "none"  # the model is its own static model
    static = model_dir if one_model else find_static_model(model_dir, static_model)
    if model_kind == "static" and static is None:
        raise ModelError(
            f"{model_dir}: no static model beside it ({Path(model_dir).name}{STATIC_SUFFIX}); run "
            "the pipeline with models.static: true, or name one with --static-model"
        )
    opened = open_inputs(inputs)
    face_size = manifest["face_size"]
    finder = FaceFinder(detect=detect, face_size=face_size, min_face=min_face)
    rows, feature_rows = [], []
    # faces waiting to be described, written into one batch reused from batch to batch (not a
    # list stacked and copied: two fresh 9 MB arrays a batch of 96 px faces)
    batch, waiting = None, 0
    positions: list[int] = []  # the row of each face kept, in the order kept
    expected = sum(media.expected_frames for media in opened) or None
    bar = _progress(expected, progress)
    started = time.perf_counter()
    trackers: dict[str, FaceTracker] = {}
    stills: dict = {}  # per input: what finds followed faces again without the cascade
    searched: dict[str, int] = {}  # frames since the whole frame was searched, per input

    def describe():
        nonlocal waiting
        feature_rows.append(extractor.transform(batch[:waiting]))
        waiting = 0

    def keep(face, row=None):
        """Describe ``face`` (in batches) as the face of row ``row`` (default the last row)."""
        nonlocal batch, waiting
        positions.append(len(rows) - 1 if row is None else row)
        if batch is None:
            batch = np.empty((batch_size, *face.shape), np.float32)
        batch[waiting] = face
        waiting += 1
        if waiting == batch_size:
            describe()

    landmarker, canonical = None, None
    # Every mode but none reads the inputs twice: first where each face is (its box, eyes or
    # landmarks), then, with each track's geometry steadied over the whole track
    # (steady_geometry), the faces
    two_pass = align in TWO_PASS_MODES
    pending: list = []  # two passes: (input, frame, track, row) of each face still to crop
    measures: dict = {}  # two passes: track -> its measured eye geometries, in frame order
    if align == "landmarks":
        from auflow.features.align import (
            ALIGNED_LANDMARKS,
            CANONICAL_LANDMARKS,
            Landmarker,
            LandmarkFollower,
            crop_eyes,
            landmark_eyes,
        )

        landmarker = Landmarker(finder.margin)
        landmarker.predictor  # noqa: B018 (fails now, naming what to install, if dlib is missing)
        # a model trained on aligned faces has its own frame; others the crops' frame
        canonical = ALIGNED_LANDMARKS if aligned_model else CANONICAL_LANDMARKS

    def geometry(face, image, levels):
        """Where the crop puts the eyes: the box's canonical eyes, turned by the eye line's
        angle when the eye cascade found both eyes and ``align`` is ``eyes``; with ``landmarks``
        the eyes of the transform that takes the face's landmarks to the canonical ones."""
        if landmarker is not None:
            points = face.landmarks
            if points is None:
                points = landmarker.landmarks(levels, face.box)
            return landmark_eyes(points, canonical)
        eyes = box_eyes(face.box, image.shape, finder.margin)
        if align != "eyes" or not face.eyes_found:
            return eyes
        lx, ly, rx, ry = face.eyes
        angle = math.atan2(ry - ly, rx - lx)
        centre = (eyes[:2] + eyes[2:]) / 2
        half = (eyes[2:] - eyes[:2]) / 2
        turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        half = turn @ half
        return np.concatenate([centre - half, centre + half])

    def defer(item, track, eyes):
        pending.append((item.input, item.frame, track, len(rows) - 1))
        if track is not None:
            measures.setdefault(track, []).append(eyes)

    frames = 0  # decodable frames, each of which has at least one row
    for item in iter_frames(opened):
        frames += 1
        ids = {"input": item.input, "frame": item.frame, "timestamp": item.timestamp}
        image = item.image
        if detect == "never" or (detect == "auto" and is_square(image.shape)):
            h, w = image.shape
            rows.append({**ids, "face_id": 0, "face_detected": 1, "face_x": 0, "face_y": 0})
            rows[-1].update({"face_w": w, "face_h": h, "confidence": math.nan})
            if aligned_model:  # aligned as the pipeline aligned the model's training crops
                defer(item, (item.input, 0), crop_eyes(image, landmarker, canonical))
            else:
                keep(finder(image).face)  # the whole frame is the face, as the pipeline's crops
        else:
            tracker = trackers.setdefault(item.input, FaceTracker())
            levels = cv2.convertScaleAbs(image, alpha=255.0)
            still = stills.get(item.input)
            if still is None:
                # landmarks are found anyway: they follow the faces; else pictures tell which
                # faces have not moved
                still = LandmarkFollower(landmarker, finder.margin) if landmarker else StillFaces()
                stills[item.input] = still
            with_eyes = align == "eyes"
            found = find_faces(
                finder, image, tracker, searched, item.input, with_eyes, still, levels
            )
            if not found:
                rows.append({**ids, "face_id": pd.NA, "face_detected": 0, "face_x": 0})
                rows[-1].update({"face_y": 0, "face_w": 0, "face_h": 0, "confidence": 0.0})
            measured = [geometry(f, image, levels) for f in found]
            face_ids, eyes = tracker.update(item.frame, [f.box for f in found], measured)
            for face, face_id, steady, own in zip(found, face_ids, eyes, measured, strict=True):
                x, y, side, _ = crop_box(face.box, image.shape, finder.margin)
                rows.append({**ids, "face_id": face_id, "face_detected": 1, "face_x": x})
                rows[-1].update({"face_y": y, "face_w": side, "face_h": side})
                rows[-1]["confidence"] = face.confidence
                if two_pass:
                    defer(item, (item.input, face_id), own)
                elif align == "none":
                    keep(finder._resize(image[y : y + side, x : x + side]))
                else:
                    keep(align_face(image, steady, face_size))
        bar.update(1)
    if pending:
        from auflow.features.track import steady_geometry

        steadied = {track: iter(steady_geometry(m)) for track, m in measures.items()}
        position = 0
        again = {entry[0] for entry in pending}  # only the inputs with faces left to crop
        for item in iter_frames([media for media in opened if media.input in again]):
            while position < len(pending) and pending[position][:2] == (item.input, item.frame):
                _, _, track, row = pending[position]
                keep(align_face(item.image, next(steadied[track]), face_size), row)
                position += 1
        if position != len(pending):
            raise ValueError(
                f"{pending[position][0]}: frame {pending[position][1]} was not there when the "
                "input was read again (was it changed while auflow predict ran?)"
            )
    if waiting:
        describe()
    bar.close()
    table = pd.DataFrame(rows, columns=[*ID_COLUMNS, *FACE_COLUMNS])
    table["face_id"] = table["face_id"].astype("Int32")
    found = table["face_detected"].to_numpy() == 1
    kinds = choose_models(table, model_kind, one_model, static is not None, min_dynamic_frames)
    _warn_short_dynamic(table, kinds, static is not None, min_dynamic_frames, model_dir)
    if not aligned_model:
        _warn_unaligned(table, model_dir, align)
    table["model"] = pd.Series(kinds, index=table.index, dtype="object")
    au_columns = _au_columns(manifest)
    # filled as one array and made a table once: a .loc assignment per column and model cost
    # 1% of a crop folder's time
    au_values = np.full((len(table), len(au_columns)), np.nan)
    if found.any():
        features = np.empty((len(table), len(manifest["feature_names"])), np.float32)
        features[positions] = np.concatenate(feature_rows)
        for kind in ("dynamic", "static"):
            chosen = table.index[(table["model"] == kind).to_numpy()]
            if len(chosen) == 0:
                continue
            saved = dynamic if kind == "dynamic" or one_model else load_model(static)
            # each track whole and in frame order: its median and smoothing are its own
            part = table.loc[chosen].sort_values(["input", "face_id", "frame"], kind="stable")
            tracks = part["input"].astype(str) + "\0" + part["face_id"].astype(str)
            scored = saved.predict_table(
                features[part.index.to_numpy()],
                tracks.to_numpy(),
                part["frame"].to_numpy(np.int64),
            )
            at = part.index.to_numpy()
            for column in scored.columns:
                au_values[at, au_columns.index(column)] = scored[column].to_numpy(np.float64)
    au_table = pd.DataFrame(
        {
            column: pd.array(au_values[:, k], dtype="Int8")
            if column.endswith("_c")
            else au_values[:, k]
            for k, column in enumerate(au_columns)
        },
        index=table.index,
    )
    elapsed = time.perf_counter() - started
    table = pd.concat([table, au_table], axis=1)
    table.attrs["frames_per_second"] = frames / elapsed if elapsed > 0 else math.inf
    return table


def check_align(manifest: dict, align: str | None, path: Path) -> str:
    """The cropping mode for a model: ``align`` if given, else the model's own (``landmarks``
    for a model trained on aligned faces, ``box`` for others); ModelError when ``align``
    contradicts how the model's training faces were framed."""
    trained = manifest.get("align", "none")
    if trained == "landmarks":
        if align not in (None, "landmarks"):
            raise ModelError(
                f"{path}: trained on faces aligned by their landmarks (features.align: "
                f"landmarks), so faces must be aligned the same way: --align landmarks, not "
                f"{align!r}"
            )
        return "landmarks"
    if trained != "none":
        raise ModelError(f"{path}: features.align {trained!r} is unknown to this auflow")
    return "box" if align is None else align


def find_faces(
    finder, image, tracker, searched: dict, key, eyes: bool, still=None, levels=None
) -> list:
    """This frame's faces: each followed face looked for around its last place, and the whole
    frame searched for new ones every ``REDETECT_EVERY`` frames (and in the frame after one
    was lost). A followed face's box always comes from its own neighbourhood, so it does not
    depend on the other faces in the frame; the whole frame's search only adds faces that
    overlap none of them. With ``still`` (this input's :class:`auflow.features.track.StillFaces`,
    or :class:`auflow.features.align.LandmarkFollower`), a followed face it finds again (one
    that has not moved; one whose landmarks say where it went) is not looked for by the
    cascade."""
    from auflow.features.track import box_iou

    active = tracker.active_boxes
    reused, look = [], active
    if still is not None:
        if levels is None:
            levels = cv2.convertScaleAbs(image, alpha=255.0)
        reused, look = [], []
        for box in active:
            face = still.find_again(levels, box)
            (look if face is None else reused).append(box if face is None else face)
    measured = finder.find_faces(image, near=look, eyes=eyes, levels=levels) if look else []
    # a face reused may also be found again around a neighbour's box: keep one of the two
    measured = [f for f in measured if all(box_iou(f.box, r.box) < 0.5 for r in reused)]
    near = [*reused, *measured]
    since = searched.get(key, REDETECT_EVERY)
    if since < REDETECT_EVERY and len(near) >= len(active):
        searched[key] = since + 1
    else:
        searched[key] = 1
        new = [
            face
            for face in finder.find_faces(image, eyes=eyes, levels=levels)
            if all(box_iou(face.box, other.box) < 0.3 for other in near)
        ]
        measured = [*measured, *new]
        near = [*near, *new]
    if still is not None:
        still.remember(levels, measured, reused)
    return sorted(near, key=lambda face: face.box[0])


def choose_models(
    table: pd.DataFrame,
    model_kind: str,
    one_model: bool,
    has_static: bool,
    min_dynamic_frames: int = MIN_DYNAMIC_FRAMES,
) -> list:
    """``"dynamic"`` or ``"static"`` for each row with a face (None without), per face track.

    Parameters
    ----------
    table : rows with ``input``, ``face_id``, ``face_detected``.
    one_model : the model does not normalise by the person: it is its own static model, and
        every row is ``"static"``.
    has_static : a static model is at hand; without one every face row is ``"dynamic"``.
    """
    found = table["face_detected"].to_numpy() == 1
    keys = list(zip(table["input"], table["face_id"], strict=True))
    lengths = table[found].groupby(["input", "face_id"]).size().to_dict()
    kinds = [None] * len(table)
    for position in np.flatnonzero(found):
        if one_model:
            kinds[position] = "static"
            continue
        short = lengths[keys[position]] < min_dynamic_frames
        use_static = model_kind == "static" or (model_kind == "auto" and short)
        kinds[position] = "static" if use_static and has_static else "dynamic"
    return kinds


def _warn_unaligned(table: pd.DataFrame, model_dir, align: str) -> None:
    """A UserWarning when faces found in frames (not crops) are scored by a model trained on
    crops as they were framed: how far their scores can be trusted, and what to use instead."""
    found = table[(table["face_detected"].to_numpy() == 1) & table["confidence"].notna()]
    if found.empty:
        return
    warnings.warn(
        f"{model_dir}: trained on crops as they were framed (features.align: none), so the "
        f"{len(found)} face(s) found in frames, cropped by --align {align}, score only roughly "
        "like the same faces cropped (mean per-AU score correlation with the crop's 0.15-0.53 "
        "for the demo's SN002 filmed, 0.76-0.87 by a model trained with features.align: "
        "landmarks); for video and photographs train with that option (README, 'Cropping and "
        "aligning')",
        UserWarning,
        stacklevel=3,
    )


def _warn_short_dynamic(table, kinds, has_static, min_dynamic_frames, model_dir) -> None:
    """A UserWarning naming the short face tracks the dynamic model scored, and why it is poor."""
    dynamic = np.array([kind == "dynamic" for kind in kinds], dtype=bool)
    if not dynamic.any():
        return
    lengths = table[dynamic].groupby(["input", "face_id"]).size()
    short = lengths[lengths < min_dynamic_frames]
    if short.empty:
        return
    listed = ", ".join(f"{inp} face {fid} ({n} frames)" for (inp, fid), n in short.head(5).items())
    reason = (
        "forced with --model-kind dynamic"
        if has_static
        else f"no static model beside it ({Path(model_dir).name}{STATIC_SUFFIX}; run the pipeline "
        "with models.static: true, or name one with --static-model)"
    )
    warnings.warn(
        f"{model_dir}: {len(short)} face track(s) shorter than {min_dynamic_frames} frames scored "
        f"by the dynamic model, {reason}: {listed}{', ...' if len(short) > 5 else ''}. That model "
        "subtracts the median of the track's own frames, which a few frames do not give (a "
        "single frame minus itself is zero: every score is the same constant); the static "
        "model is made for them",
        UserWarning,
        stacklevel=3,
    )


def _au_columns(manifest: dict) -> list[str]:
    suffixes = ["p", "c", "r"] if manifest["target"] == "intensity" else ["p", "c"]
    return [f"{au}_{suffix}" for au in manifest["au_columns"] for suffix in suffixes]


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total, enabled):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", file=sys.stderr, leave=False, mininterval=1.0)


def to_openface(table: pd.DataFrame) -> pd.DataFrame:
    """The predictions in OpenFace 2.0's column names and order.

    ``frame, face_id, timestamp, confidence, success``, then ``AUxx_r`` (intensity models only:
    OpenFace's 0-5 intensity) and ``AUxx_c`` (0/1 occurrence), then ``input`` (OpenFace writes
    one file per input; auflow one for all). A frame without a face has ``face_id`` 0,
    ``success`` 0 and empty AU columns, as OpenFace writes it. ``AUxx_p`` (auflow's score) has
    no OpenFace column and is left out.
    """
    au_r = [c for c in table.columns if c.startswith("AU") and c.endswith("_r")]
    au_c = [c for c in table.columns if c.startswith("AU") and c.endswith("_c")]
    out = pd.DataFrame(
        {
            "frame": table["frame"],
            "face_id": table["face_id"].fillna(0).astype(np.int32),
            "timestamp": table["timestamp"],
            "confidence": table["confidence"],
            "success": table["face_detected"].astype(np.int8),
        }
    )
    for column in [*au_r, *au_c]:
        out[column] = table[column]
    out["input"] = table["input"]
    return out


def write_predictions(table: pd.DataFrame, out: str | Path) -> None:
    """CSV, or Parquet when ``out`` ends in ``.parquet``; written whole or not at all."""
    out = Path(out)
    if out.suffix == ".parquet":
        from auflow.io.parquet import write_table

        write_table(table, out, {"kind": "auflow predict"})
        return
    with replaced_atomically(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
