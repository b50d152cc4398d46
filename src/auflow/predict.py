"""``auflow predict``: a saved detector applied to new faces, written as OpenFace-style rows.

Frames come from image folders, single images or videos (:mod:`auflow.io.media`); each is turned
into the face the model was trained on (:class:`auflow.features.face.FaceFinder`), described by
the model's extractor at the model's face size, and scored. One row per decodable frame::

    input, frame, timestamp, face_detected, face_x, face_y, face_w, face_h, confidence,
    AU01_p, AU01_c, [AU01_r,] AU02_p, ...

``AU01_p`` is the detector's score (a probability where the model gives one), ``AU01_c`` the
occurrence at the model's saved threshold, ``AU01_r`` the predicted intensity for intensity
models. A frame without a face has ``face_detected=0`` and empty AU columns.

A model trained with ``subject_median`` normalisation subtracts the median feature vector of
each input's own face frames, as the pipeline does per subject: an input is read whole before
its first row can be scored, and a short input gives a poorer median.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from auflow.io.atomic import replaced_atomically
from auflow.models.saved import ModelError, load_model

ID_COLUMNS = ["input", "frame", "timestamp"]
FACE_COLUMNS = ["face_detected", "face_x", "face_y", "face_w", "face_h", "confidence"]


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


def predict_inputs(
    model_dir: str | Path,
    inputs: list[str],
    detect: str = "auto",
    batch_size: int = 256,
    progress: bool = True,
) -> pd.DataFrame:
    """Score every frame of ``inputs`` with the saved model in ``model_dir``.

    Returns
    -------
    One row per decodable frame, columns as in the module docstring, inputs in the order given
    and frames in frame order.
    """
    from auflow.features.face import FaceFinder
    from auflow.io.media import iter_frames, open_inputs

    saved = load_model(model_dir)
    manifest = saved.manifest
    extractor = check_extractor(manifest, Path(model_dir))
    opened = open_inputs(inputs)
    finder = FaceFinder(detect=detect, face_size=manifest["face_size"])
    rows, faces, feature_rows = [], [], []
    expected = sum(media.expected_frames for media in opened) or None
    bar = _progress(expected, progress)
    started = time.perf_counter()

    def describe(batch):
        stacked = np.stack(batch).astype(np.float32)
        feature_rows.append(extractor.transform(stacked))

    for item in iter_frames(opened):
        crop = finder(item.image)
        rows.append(
            {
                "input": item.input,
                "frame": item.frame,
                "timestamp": item.timestamp,
                "face_detected": crop.face_detected,
                "face_x": crop.face_x,
                "face_y": crop.face_y,
                "face_w": crop.face_w,
                "face_h": crop.face_h,
                "confidence": crop.confidence,
            }
        )
        if crop.face is not None:
            faces.append(crop.face)
            if len(faces) == batch_size:
                describe(faces)
                faces = []
        bar.update(1)
    if faces:
        describe(faces)
    bar.close()
    table = pd.DataFrame(rows, columns=[*ID_COLUMNS, *FACE_COLUMNS])
    found = table["face_detected"].to_numpy() == 1
    au_table = pd.DataFrame(index=table.index)
    if found.any():
        features = np.concatenate(feature_rows)
        scored = saved.predict_table(
            features,
            table.loc[found, "input"].to_numpy(),
            table.loc[found, "frame"].to_numpy(np.int64),
        )
        for column in scored.columns:
            values = np.full(len(table), np.nan)
            values[found] = scored[column].to_numpy(np.float64)
            au_table[column] = values
    else:
        for column in _au_columns(manifest):
            au_table[column] = np.nan
    for column in au_table.columns:
        if column.endswith("_c"):
            au_table[column] = au_table[column].astype("Int8")
    elapsed = time.perf_counter() - started
    table = pd.concat([table, au_table], axis=1)
    table.attrs["frames_per_second"] = len(table) / elapsed if elapsed > 0 else math.inf
    return table


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


def write_predictions(table: pd.DataFrame, out: str | Path) -> None:
    """CSV, or Parquet when ``out`` ends in ``.parquet``; written whole or not at all."""
    out = Path(out)
    if out.suffix == ".parquet":
        from auflow.io.parquet import write_table

        write_table(table, out, {"kind": "auflow predict"})
        return
    with replaced_atomically(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
