"""AU labels: reading, validating and aligning them with the face images.

The seed's JSON contract, kept: ``<subject>.json`` is a UTF-8 JSON list with one object per
frame, ``{"au1": 0, "au2": 3, ...}``; the i-th object labels the i-th frame in frame-number
order. A missing AU key means intensity 0, as the seed read it (``frame.get('au1', 0)``): exports
that leave zeros out are common. How many values were filled in is logged and recorded in the
labels table's metadata; ``missing_au="error"`` refuses them instead. Intensities must be whole
numbers 0-5 (``3`` or ``3.0``); anything else (2.5, NaN, -1, 7, "3", null, true) is an error
naming the file, the element and the key. Keys that are not ``au<N>`` are ignored with a
warning, unless they look like a differently spelled AU key (``AU12``, ``au_12``): then the
file is refused, since ``missing_au="zero"`` would quietly turn that AU into zeros.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from auflow.aus import MAX_INTENSITY, au_column
from auflow.io.disfa_txt import read_disfa_txt_labels
from auflow.io.images import frame_gaps, frame_number

log = logging.getLogger(__name__)

MISSING_AU = ("zero", "error")
_AU_KEY = re.compile(r"^au(\d+)$")
_AU_LIKE = re.compile(r"^au[\s_-]*0*(\d+)$", re.IGNORECASE)


def read_json_labels(path: str | Path, aus: list[int], missing_au: str = "zero") -> pd.DataFrame:
    """The seed's JSON labels: a list with one object per frame, keys ``au1`` ... ``au26``.

    Parameters
    ----------
    path : str or Path
        The subject's JSON file.
    aus : list of int
        AU numbers to read.
    missing_au : {"zero", "error"}
        What a missing AU key means: intensity 0 (the seed's contract) or an error.

    Returns
    -------
    DataFrame with one int8 column per AU (``AU01`` ...), one row per JSON element, in file order.
    ``attrs["filled_in"]`` holds, per AU column, how many values were missing and set to 0.
    Frame numbers are not in the file: :func:`align_labels` gives them.
    """
    if missing_au not in MISSING_AU:
        raise ValueError(f"missing_au must be one of {MISSING_AU}, got {missing_au!r}")
    path = Path(path)
    records = _load_json(path)
    if not isinstance(records, list):
        raise ValueError(
            f"{path}: expected a JSON list with one object per frame, got a JSON "
            f"{_json_type(records)}"
        )
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(
                f"{path}: element {position} is a JSON {_json_type(record)}, not an object "
                '({"au1": 0, ...})'
            )
    _check_keys(path, records, aus)
    columns, filled_in = {}, {}
    for au in aus:
        key = f"au{au}"
        missing = [i for i, record in enumerate(records) if key not in record]
        if missing and missing_au == "error":
            raise ValueError(
                f"{path}: element {missing[0]} has no {key!r} ({len(missing)} of {len(records)} "
                "elements lack it); add the values, or set dataset.missing_au: zero to read a "
                "missing AU as intensity 0"
            )
        values = [record.get(key, 0) for record in records]
        columns[au_column(au)] = _intensities(values, path, key)
        filled_in[au_column(au)] = len(missing)
    table = pd.DataFrame(columns, index=pd.RangeIndex(len(records)))
    table.attrs["filled_in"] = filled_in
    total = sum(filled_in.values())
    if total:
        per_au = ", ".join(f"{column}: {n}" for column, n in filled_in.items() if n)
        log.info(
            "%s: %d AU values missing, read as intensity 0 (dataset.missing_au: zero): %s",
            path,
            total,
            per_au,
        )
        for column, n in filled_in.items():
            if records and n == len(records):
                log.warning(
                    "%s: %s is missing from every element, so all its intensities are 0",
                    path,
                    column,
                )
    return table


def _json_type(value) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _load_json(path: Path):
    data = path.read_bytes()
    if not data.strip():
        raise ValueError(f"{path}: empty file; expected a JSON list with one object per frame")
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is harmless
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); "
            "save the file as UTF-8 JSON"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if not text[error.pos :].strip():
            raise ValueError(
                f"{path}: JSON ends early at line {error.lineno} column {error.colno} "
                f"({error.msg}): truncated? Copy or export the file again"
            ) from None
        raise ValueError(
            f"{path}: not valid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None


def _check_keys(path: Path, records: list[dict], aus: list[int]) -> None:
    """Refuse misspelled AU keys; warn about other keys that are not read."""
    unknown: dict[str, int] = {}
    for record in records:
        for key in record:
            if not _AU_KEY.match(str(key)):
                unknown[key] = unknown.get(key, 0) + 1
    for key in unknown:
        like = _AU_LIKE.match(str(key))
        if like and int(like.group(1)) in aus:
            raise ValueError(
                f"{path}: key {key!r} looks like AU{int(like.group(1))}, but auflow reads the "
                f"seed's spelling {'au' + str(int(like.group(1)))!r} (and would read a missing "
                "key as intensity 0); rename the keys"
            )
    if unknown:
        listed = ", ".join(f"{key!r} ({n} elements)" for key, n in sorted(unknown.items())[:10])
        log.warning("%s: keys that are not AU intensities (au<N>) are ignored: %s", path, listed)
    unused = sorted(
        {int(m.group(1)) for r in records for k in r if (m := _AU_KEY.match(str(k)))} - set(aus)
    )
    if unused:
        log.info("%s: AUs not in the config's aus are not read: %s", path, unused)


def _intensities(values: list, path: Path, key: str) -> np.ndarray:
    for position, value in enumerate(values):
        where = f"{path}: element {position} {key}={json.dumps(value)}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(
                f"{where} is not a number; intensities are whole numbers 0-{MAX_INTENSITY}"
            )
        if not math.isfinite(value):
            raise ValueError(
                f"{where} is not a number; intensities are whole numbers 0-{MAX_INTENSITY}"
            )
        if value != int(value):
            raise ValueError(f"{where} is not an integer (intensities are 0-{MAX_INTENSITY})")
        if not 0 <= value <= MAX_INTENSITY:
            raise ValueError(f"{where} is outside 0-{MAX_INTENSITY}")
    return np.asarray(values, dtype=np.int8)


def align_labels(
    subject: str,
    labels: pd.DataFrame,
    image_paths: list[str | Path],
    labels_path: str | Path,
    strict_frames: bool = False,
) -> pd.DataFrame:
    """Key positional labels by (subject, frame).

    The i-th label row belongs to the i-th image in frame-number order (never listing order).
    Gaps in the frame numbers are logged as a warning naming them (the labels are paired across
    the gap), or refused with ``strict_frames``.

    Returns
    -------
    DataFrame ``subject``, ``frame`` (int64), then the AU columns, sorted by frame.
    """
    frames = sorted(frame_number(p) for p in image_paths)
    folder = Path(image_paths[0]).parent if image_paths else "(no images)"
    if len(frames) != len(labels):
        raise ValueError(
            f"{labels_path} has {len(labels)} frames but {folder} has {len(frames)} images "
            f"for subject {subject}: every image needs exactly one label"
        )
    gaps = frame_gaps(frames)
    if gaps:
        listed = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in gaps[:5])
        more = f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
        message = (
            f"{folder}: frame numbers have gaps (missing {listed}{more}); the labels of "
            f"{labels_path} are paired with the frames in order, across the gaps"
        )
        if strict_frames:
            raise ValueError(
                f"{message}. Refused because dataset.strict_frames is true: add the missing "
                "frames, or set it to false if the gaps are intended"
            )
        log.warning("%s", message)
    keyed = labels.reset_index(drop=True)
    keyed.insert(0, "frame", np.asarray(frames, dtype=np.int64))
    keyed.insert(0, "subject", subject)
    return keyed


def read_subject_labels(
    subject: str,
    label_format: str,
    labels_path: str | Path,
    image_paths: list[str | Path],
    aus: list[int],
    missing_au: str = "zero",
    strict_frames: bool = False,
) -> pd.DataFrame:
    """Labels of one subject keyed by (subject, frame), from either supported format.

    ``attrs["auflow"]`` of the result holds what the labels table records in its metadata
    (for JSON: the values filled in per AU, and any gaps in the frame numbers).
    """
    if label_format == "json":
        labels = read_json_labels(labels_path, aus, missing_au)
        table = align_labels(subject, labels, image_paths, labels_path, strict_frames)
        filled_in = labels.attrs["filled_in"]
        table.attrs["auflow"] = {
            "missing_au": missing_au,
            "filled_in": filled_in,
            "filled_in_total": sum(filled_in.values()),
            "frame_gaps": [list(gap) for gap in frame_gaps(table["frame"].tolist())],
        }
        return table
    if label_format == "disfa_txt":
        table = read_disfa_txt_labels(labels_path, subject, aus)
        frames = sorted(frame_number(p) for p in image_paths)
        if table["frame"].tolist() != frames:
            raise ValueError(
                f"{labels_path}: label frames of {subject} ({len(table)}, "
                f"{table['frame'].min()}-{table['frame'].max()}) do not match the "
                f"{len(frames)} image frames ({frames[0]}-{frames[-1]})"
            )
        table.insert(0, "subject", subject)
        table.attrs["auflow"] = {}
        return table
    raise ValueError(f"unknown label format {label_format!r}; use 'json' or 'disfa_txt'")
