"""The dataset as the workflow sees it when the DAG is built: subjects, frames, label files.

Everything here runs before any job, so a dataset that cannot work stops with one message that
names every problem found (a subject without a label file, a label file without a subject, a
folder that cannot be a subject), instead of failing job by job.

It also writes the *frame manifests* the per-subject jobs take as input, instead of hundreds
of image paths each (which Snakemake would print whole when a job fails):

- ``<dir>/<subject>.json``: the subject's frames and image paths (input of the labels job,
  which needs frame numbers, not pixels);
- ``<dir>/<subject>/<shard>.json``: a shard's frames, image paths, sizes and modification
  times (input of the extraction job).

A manifest is rewritten only when its content changes, so its modification time changes
exactly when a frame is added, removed, renamed, or its image replaced or touched: Snakemake then
re-runs only the jobs whose frames changed, as it would with the images themselves as inputs.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from auflow.io.atomic import replaced_atomically
from auflow.io.images import IMAGE_SUFFIXES, SUBJECT_NAME, check_subject_name, frame_files
from auflow.layout import frames_manifest, shard_ids

log = logging.getLogger(__name__)

_MAX_LISTED = 10
_DISFA_TXT = re.compile(r"^(.+)_au(\d+)\.txt$")


def discover_dataset(
    images_root: str | Path,
    labels_root: str | Path,
    label_format: str,
    aus: list[int],
    subjects: list[str] | None = None,
) -> dict[str, list[tuple[int, str]]]:
    """Subjects and their frames, after checking that images and label files pair up.

    Parameters
    ----------
    images_root : str or Path
        Folder with one sub-folder of images per subject.
    labels_root : str or Path
        Folder of the label files (``<subject>.json`` or DISFA's ``<subject>_au<N>.txt``).
    label_format : {"json", "disfa_txt"}
    aus : list of int
        The AUs of the config (DISFA txt files must exist for each).
    subjects : list of str, optional
        The subjects to use; empty or None means every folder under ``images_root``. Label
        files of subjects not listed are then not looked at.

    Returns
    -------
    dict
        subject -> [(frame, image path as str), ...] in frame order, subjects sorted (or in
        the order given).

    Raises
    ------
    ValueError
        One message listing every problem found, each naming the folder or file.
    """
    images_root, labels_root = Path(images_root), Path(labels_root)
    if not images_root.is_dir():
        raise ValueError(
            f"image folder {images_root} not found: set dataset.root / dataset.images in the "
            "config, or write the demo dataset first (make demo-data)"
        )
    if not labels_root.is_dir():
        raise ValueError(
            f"labels folder {labels_root} not found: set dataset.root / dataset.labels in config"
        )
    problems: list[str] = []
    listed = bool(subjects)
    if listed:
        folders = [images_root / subject for subject in subjects]
        for folder in folders:
            if not folder.is_dir():
                problems.append(f"{folder}: no such subject folder (listed in dataset.subjects)")
    else:
        folders = [
            p for p in sorted(images_root.iterdir()) if p.is_dir() and not p.name.startswith(".")
        ]
        if not folders:
            problems.append(f"{images_root}: no subject folders")
    frames: dict[str, list[tuple[int, str]]] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        try:
            check_subject_name(folder.name, folder)
            found = frame_files(folder)
        except ValueError as error:
            problems.append(str(error))
            continue
        if not found:
            problems.append(
                f"{folder}: subject folder without images ({', '.join(IMAGE_SUFFIXES)}); add its "
                "images, remove the folder, or list the subjects to use in dataset.subjects"
            )
            continue
        frames[folder.name] = found
    problems += _label_problems(images_root, labels_root, label_format, aus, folders, listed)
    if problems:
        shown = problems[:_MAX_LISTED]
        if len(problems) > _MAX_LISTED:
            shown.append(f"... and {len(problems) - _MAX_LISTED} more")
        raise ValueError(
            f"the dataset ({images_root}, {labels_root}) has {len(problems)} problem(s), "
            "found before any job ran:\n  " + "\n  ".join(shown)
        )
    return frames


def _label_problems(images_root, labels_root, label_format, aus, folders, listed) -> list[str]:
    """Subjects without a label file, and (when subjects are discovered) label files without
    a subject folder."""
    problems = []
    subjects = {folder.name for folder in folders}
    if label_format == "json":
        for subject in sorted(subjects):
            if not (labels_root / f"{subject}.json").is_file():
                problems.append(
                    f"subject {subject} ({images_root / subject}) has no label file "
                    f"{labels_root / f'{subject}.json'}"
                )
        orphans = {
            p.stem: p
            for p in labels_root.glob("*.json")
            if not p.name.startswith(".") and p.is_file()
        }
    elif label_format == "disfa_txt":
        from auflow.io.disfa_txt import label_file

        for subject in sorted(subjects):
            missing = []
            for au in aus:
                try:
                    label_file(labels_root, subject, au)
                except FileNotFoundError:
                    missing.append(au)
                except ValueError as error:
                    problems.append(str(error))
            if missing:
                problems.append(
                    f"subject {subject} ({images_root / subject}) has no label file for "
                    f"AU {', '.join(map(str, missing))} under {labels_root} "
                    f"(expected {subject}_au<N>.txt in {labels_root / subject} or {labels_root})"
                )
        orphans = {}
        for path in [*labels_root.glob("*_au*.txt"), *labels_root.glob("*/*_au*.txt")]:
            match = _DISFA_TXT.match(path.name)
            if match and not path.name.startswith("."):
                orphans.setdefault(match.group(1), path)
    else:
        return [f"unknown dataset.label_format {label_format!r}; use json or disfa_txt"]
    if not listed:
        for stem, path in sorted(orphans.items()):
            if stem not in subjects:
                problems.append(
                    f"label file {path} has no subject folder {images_root / stem}; add the "
                    "images, rename the file to match its folder, or move it out"
                )
    return problems


def write_frame_manifests(frames: dict, shard_size: int, cross: str | None = None) -> None:
    """Every frame manifest of a dataset (:func:`write_manifest`, paths from
    :mod:`auflow.layout`): per subject (frame numbers and paths: its labels job's input) and per
    shard of ``shard_size`` frames (with each image's size and time: an extraction's input).

    Parameters
    ----------
    frames : subject -> [(frame, image path), ...] in frame order (:func:`discover_dataset`).
    cross : the cross dataset's name, or None for the main dataset.
    """
    for subject, subject_frames in frames.items():
        write_manifest(frames_manifest(subject, cross=cross), subject, subject_frames, False)
        for number, shard in enumerate(shard_ids(len(subject_frames), shard_size)):
            first = number * shard_size
            part = subject_frames[first : first + shard_size]
            write_manifest(frames_manifest(subject, shard, cross), subject, part, True)


def write_manifest(path: str | Path, subject: str, frames, with_stat: bool) -> bool:
    """Write the frame manifest of ``frames`` ([(frame, path), ...]) unless it is unchanged.

    With ``with_stat`` each image's size and modification time are recorded too, so replacing
    or touching an image changes the manifest. The file is written beside its destination and
    renamed into place. Returns True if the file was (re)written.
    """
    path = Path(path)
    frames = [(int(frame), str(image)) for frame, image in frames]
    paths = _json_strings([image for _, image in frames])
    if with_stat:
        columns = ["frame", "path", "bytes", "mtime_ns"]
        stats = [_image_stat(image) for _, image in frames]
        rows = [
            (frame, encoded, stat.st_size, stat.st_mtime_ns)
            for (frame, _), encoded, stat in zip(frames, paths, stats, strict=True)
        ]
    else:
        columns = ["frame", "path"]
        rows = [(frame, encoded) for (frame, _), encoded in zip(frames, paths, strict=True)]
    text = _manifest_text(subject, columns, rows)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    with replaced_atomically(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return True


def _image_stat(image: str) -> os.stat_result:
    try:
        return os.stat(image)
    except FileNotFoundError:
        raise ValueError(f"{image}: a link to a missing file; replace it") from None


def _json_strings(strings: list[str]) -> list[str]:
    """Each string JSON-encoded as ``json.dumps`` does, in one call of its C encoder."""
    # A JSON string never holds a raw line break, so ",\n" can only separate two of them.
    return json.dumps(strings, separators=(",\n", ": "))[1:-1].split(",\n") if strings else []


def _manifest_text(subject: str, columns: list[str], rows: list[tuple]) -> str:
    """``json.dumps({"subject", "columns", "frames": rows}, indent=0) + "\n"``, made faster;
    ``rows`` hold numbers and strings already JSON-encoded (:func:`_json_strings`).

    Manifests are compared as text, and their first format was ``indent=0``: keeping it byte for
    byte keeps the manifests of existing runs unchanged (a changed manifest re-runs its jobs).
    ``json`` encodes with ``indent`` in pure Python (0.4-0.8 s for DISFA's 130,815 frames, each
    of the two kinds of manifest); this writes the layout of ``indent=0`` (one value a line) around
    the values, the numbers formatted as json formats them.
    """
    if not rows:
        return json.dumps({"subject": subject, "columns": columns, "frames": []}, indent=0) + "\n"
    layout = "[\n" + ",\n".join(["%s"] * len(columns)) + "\n]"
    return (
        "{\n"
        f'"subject": {json.dumps(subject)},\n'
        '"columns": [\n' + ",\n".join(map(json.dumps, columns)) + "\n],\n"
        '"frames": [\n' + ",\n".join([layout % row for row in rows]) + "\n]\n"
        "}\n"
    )


def read_manifest(path: str | Path) -> list[tuple[int, str]]:
    """[(frame, image path), ...] of a manifest written by :func:`write_manifest`."""
    manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    return [(int(row[0]), row[1]) for row in manifest["frames"]]


__all__ = ["SUBJECT_NAME", "discover_dataset", "read_manifest", "write_manifest"]
