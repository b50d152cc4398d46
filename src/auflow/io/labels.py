"""AU labels: reading, validating and aligning them with the face images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from auflow.io.images import frame_number

MAX_INTENSITY = 5


def au_column(au: int) -> str:
    """``1`` -> ``"AU01"``: the AU column name used in every table."""
    return f"AU{au:02d}"


def read_json_labels(path: str | Path, aus: list[int]) -> pd.DataFrame:
    """The seed's JSON labels: a list with one object per frame, keys ``au1`` ... ``au26``.

    Returns
    -------
    DataFrame with one int8 column per AU (``AU01`` ...), one row per JSON element, in file order.
    Frame numbers are not in the file: :func:`align_labels` gives them.
    """
    path = Path(path)
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list with one object per frame")
    columns = {}
    for au in aus:
        key = f"au{au}"
        values = []
        for position, record in enumerate(records):
            if not isinstance(record, dict) or key not in record:
                raise ValueError(f"{path}: element {position} has no {key!r}")
            values.append(record[key])
        columns[au_column(au)] = _intensities(values, path, key)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(records)))


def _intensities(values: list, path: Path, key: str) -> np.ndarray:
    for position, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise ValueError(f"{path}: element {position} {key}={value!r} is not an integer")
        if not 0 <= value <= MAX_INTENSITY:
            raise ValueError(
                f"{path}: element {position} {key}={value} is outside 0-{MAX_INTENSITY}"
            )
    return np.asarray(values, dtype=np.int8)


def align_labels(
    subject: str, labels: pd.DataFrame, image_paths: list[str | Path], labels_path: str | Path
) -> pd.DataFrame:
    """Key positional labels by (subject, frame).

    The i-th label row belongs to the i-th image in frame-number order (never listing order).

    Returns
    -------
    DataFrame ``subject``, ``frame`` (int64), then the AU columns, sorted by frame.
    """
    frames = sorted(frame_number(p) for p in image_paths)
    if len(frames) != len(labels):
        folder = Path(image_paths[0]).parent if image_paths else "(no images)"
        raise ValueError(
            f"{labels_path} has {len(labels)} frames but {folder} has {len(frames)} images "
            f"for subject {subject}: every image needs exactly one label"
        )
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
) -> pd.DataFrame:
    """Labels of one subject keyed by (subject, frame), from either supported format."""
    if label_format == "json":
        return align_labels(subject, read_json_labels(labels_path, aus), image_paths, labels_path)
    if label_format == "disfa_txt":
        from auflow.io.disfa_txt import read_disfa_txt_labels

        table = read_disfa_txt_labels(labels_path, subject, aus)
        frames = sorted(frame_number(p) for p in image_paths)
        if table["frame"].tolist() != frames:
            raise ValueError(
                f"{labels_path}: label frames of {subject} ({len(table)}, "
                f"{table['frame'].min()}-{table['frame'].max()}) do not match the "
                f"{len(frames)} image frames ({frames[0]}-{frames[-1]})"
            )
        table.insert(0, "subject", subject)
        return table
    raise ValueError(f"unknown label format {label_format!r}; use 'json' or 'disfa_txt'")
