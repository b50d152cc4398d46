"""The results layout: which file under ``results/`` holds what, built and parsed here alone.

Each pattern names its parts as Snakemake wildcards (``{extractor}``, ``{split}``, ...), so the
rules declare their outputs with them, the input functions fill them in, and the package reads
a path's parts back with the ``parse_*`` functions. A builder given wildcard strings
(``fold_table("metrics", "{split}", "{extractor}", model, "{fold}")``) returns a pattern.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

RESULTS = "results"
FRAMES = "results/frames/{subject}.json"
FRAMES_SHARD = "results/frames/{subject}/{shard}.json"
CROSS_FRAMES = "results/frames/cross/{cross}/{subject}.json"
CROSS_FRAMES_SHARD = "results/frames/cross/{cross}/{subject}/{shard}.json"
FEATURES = "results/features/{extractor}/{subject}/{shard}.parquet"
CROSS_FEATURES = "results/features/{extractor}/{cross}/{subject}/{shard}.parquet"
LABELS = "results/labels/{subject}.parquet"
CROSS_LABELS = "results/labels/{cross}/{subject}.parquet"
DATASET = "results/dataset/{extractor}.parquet"
FOLDS = "results/folds/{split}.parquet"
# a fold's table of one model: its predictions, its metrics, or (a per-frame model another
# stacks on) its stack table
FOLD_TABLE = "results/{kind}/{split}/{extractor}/{model}/fold{fold}.parquet"
FINAL_STACK = "results/stack/final/{extractor}/{model}.parquet"
MODEL = "results/models/{extractor}/{model}"
FOLD_MODEL = "results/models/folds/{split}/{extractor}/{model}/fold{fold}"
STUDY = "results/study/{split}/{extractor}/{model}/fold{fold}"
STUDY_WORKER_DONE = STUDY + "/workers/{worker}.done"
CROSS_TABLE = "results/{kind}/cross/{cross}/{extractor}/{model}.parquet"
METRICS_FILE = "results/metrics/{name}"
PLOT = "results/plots/{name}.png"
PROVENANCE = "results/provenance.json"


def shard_ids(n_frames: int, shard_size: int) -> list[str]:
    """The shard ids of a subject's ``n_frames`` frames in frame order, cut every
    ``shard_size``: ``000``, ``001``, ..."""
    return [f"{shard:03d}" for shard in range(-(-n_frames // shard_size))]


def frames_manifest(subject: str, shard: str | None = None, cross: str | None = None) -> str:
    """The frame manifest of a subject (its labels job's) or of one shard (an extraction's)."""
    if cross is None:
        pattern = FRAMES if shard is None else FRAMES_SHARD
    else:
        pattern = CROSS_FRAMES if shard is None else CROSS_FRAMES_SHARD
    return pattern.format(subject=subject, shard=shard, cross=cross)


def feature_shard(extractor: str, subject: str, shard: str, cross: str | None = None) -> str:
    """A shard of a subject's features (of the main dataset, or of cross dataset ``cross``)."""
    pattern = FEATURES if cross is None else CROSS_FEATURES
    return pattern.format(extractor=extractor, subject=subject, shard=shard, cross=cross)


def labels_table(subject: str, cross: str | None = None) -> str:
    """A subject's labels table (of the main dataset, or of cross dataset ``cross``)."""
    return (LABELS if cross is None else CROSS_LABELS).format(subject=subject, cross=cross)


def fold_table(kind: str, split: str, extractor: str, model: str, fold) -> str:
    """A model's table of one fold: ``kind`` is ``predictions``, ``metrics`` or ``stack``."""
    return FOLD_TABLE.format(kind=kind, split=split, extractor=extractor, model=model, fold=fold)


def final_stack(extractor: str, model: str) -> str:
    """The stack table a final per-frame model writes for a model that stacks on it."""
    return FINAL_STACK.format(extractor=extractor, model=model)


def model_dir(extractor: str, model: str) -> str:
    """The folder of a model fitted on every subject (``model.*``, ``manifest.json``)."""
    return MODEL.format(extractor=extractor, model=model)


def model_file(extractor: str, model: str, name: str) -> str:
    """A file of a model's folder (:func:`model_dir`): ``manifest.json``, ``model.skops``, ..."""
    return f"{model_dir(extractor, model)}/{name}"


def fold_model_dir(split: str, extractor: str, model: str, fold) -> str:
    """The folder of a model fitted on a fold's training subjects (``models.save_folds``)."""
    return FOLD_MODEL.format(split=split, extractor=extractor, model=model, fold=fold)


def study_file(split: str, extractor: str, model: str, fold, name: str) -> str:
    """A file of a fold's study: ``journal.log``, ``trials.parquet``, ``best.json``, ..."""
    return f"{STUDY.format(split=split, extractor=extractor, model=model, fold=fold)}/{name}"


def cross_table(kind: str, cross: str, extractor: str, model: str) -> str:
    """A final model's ``predictions`` or ``metrics`` on every frame of cross dataset ``cross``."""
    return CROSS_TABLE.format(kind=kind, cross=cross, extractor=extractor, model=model)


def metrics_file(name: str) -> str:
    """A whole-run table or page under ``results/metrics/``: ``summary.md``, ``pooled.csv``, ..."""
    return METRICS_FILE.format(name=name)


def plot(name: str) -> str:
    """A figure of the run: ``f1_per_au`` -> ``results/plots/f1_per_au.png``."""
    return PLOT.format(name=name)


class FoldOf(NamedTuple):
    """What a fold's file is of: the parts of its path."""

    split: str
    extractor: str
    model: str
    fold: int


class LabelsOf(NamedTuple):
    """What a labels table is of: its cross dataset (None for the main dataset) and subject."""

    cross: str | None
    subject: str


_LABELS_TABLE = re.compile(r"(?:^|/)labels/(?:([^/]+)/)?([^/]+)\.parquet$")
_FOLD_TABLE = re.compile(r"(?:^|/)[^/]+/([^/]+)/([^/]+)/([^/]+)/fold(\d+)\.parquet$")
_STUDY_FILE = re.compile(r"(?:^|/)study/([^/]+)/([^/]+)/([^/]+)/fold(\d+)/[^/]+$")


def _parsed(pattern: re.Pattern, path, what: str) -> FoldOf:
    match = pattern.search(Path(path).as_posix())
    if match is None:
        raise ValueError(f"{path} is not {what}")
    split, extractor, model, fold = match.groups()
    return FoldOf(split, extractor, model, int(fold))


def parse_fold_table(path) -> FoldOf:
    """The split, extractor, model and fold of a :func:`fold_table` path."""
    return _parsed(_FOLD_TABLE, path, f"a fold's table ({FOLD_TABLE})")


def parse_study_file(path) -> FoldOf:
    """The split, extractor, model and fold of a :func:`study_file` path."""
    return _parsed(_STUDY_FILE, path, f"a file of a fold's study ({STUDY}/<file>)")


def parse_labels_table(path) -> LabelsOf:
    """The cross dataset (None: the main one) and the subject of a :func:`labels_table` path."""
    match = _LABELS_TABLE.search(Path(path).as_posix())
    if match is None:
        raise ValueError(f"{path} is not a labels table ({LABELS} or {CROSS_LABELS})")
    return LabelsOf(*match.groups())
