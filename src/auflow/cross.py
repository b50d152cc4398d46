"""Cross-dataset evaluation: the final models, fitted on every subject of the main dataset,
predicting and scored on other labelled datasets (config ``cross_datasets``).

A cross dataset's frames go through the main dataset's extraction and label code into their
own tables (``results/features/<extractor>/<name>/<subject>/<shard>.parquet``,
``results/labels/<name>/<subject>.parquet``); a frame's key there is (name, subject, frame),
so a cross subject named like a main subject never meets it. Predictions are made from the
features alone (the job never reads a label); scoring reads the labels afterwards. Metrics are
the fold tables' long format with ``split`` = ``cross:<name>`` and a single fold, 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from auflow.aus import au_column
from auflow.evaluation.aggregate import fold_metrics, in_model_order, load_metrics
from auflow.evaluation.metrics import HEADLINE_METRIC
from auflow.evaluation.splits import cross_name, cross_split, is_cross_split
from auflow.io.dataset import KEY


def duplicate_names(datasets: list[dict]) -> list[str]:
    """Names given to more than one entry of ``cross_datasets``, in order of appearance."""
    names = [dataset["name"] for dataset in datasets]
    return list(dict.fromkeys(name for name in names if names.count(name) > 1))


def predict_cross(model_dir: str | Path, feature_paths) -> pd.DataFrame:
    """A saved final model's predictions for every frame of a cross dataset.

    Parameters
    ----------
    model_dir : ``results/models/<extractor>/<model>`` (loaded with
        :func:`auflow.models.saved.load_model`, so with its checks).
    feature_paths : the cross dataset's feature shards of the model's extractor; features are
        normalised as the model's manifest says, with each cross subject's own frames.

    Returns
    -------
    ``subject``, ``frame``, then per AU ``AU01_p``, ``AU01_c`` (and ``AU01_r``): one row per
    frame, sorted by (subject, frame). Labels are never read.
    """
    from auflow.features.normalise import normalise
    from auflow.io.dataset import concat_tables
    from auflow.io.parquet import read_metadata
    from auflow.models.saved import ModelError, load_model
    from auflow.models.train import predict_frames

    saved = load_model(model_dir)
    manifest = saved.manifest
    feature_paths = list(feature_paths)
    for path in feature_paths:
        made = read_metadata(path)
        for key in ("extractor", "face_size"):
            if made.get(key) != manifest.get(key):
                raise ModelError(
                    f"{path}: features made with {key} {made.get(key)!r}, but the model in "
                    f"{model_dir} was trained on {manifest.get(key)!r}; re-run the extraction"
                )
    features = concat_tables(feature_paths)
    names = manifest["feature_names"]
    missing = [name for name in names if name not in features.columns]
    if missing:
        raise ModelError(
            f"{feature_paths[0]}: lacks the model's feature column(s) {', '.join(missing[:5])} "
            f"({model_dir}); re-run the extraction"
        )
    table = normalise(features[[*KEY, *names]], manifest["normalise"])
    return predict_frames(saved.detector, table)


def never_labelled(label_paths, aus) -> list[int]:
    """The AUs of ``aus`` that no frame of a dataset's labels tables gives a value for: JSON
    labels in which every frame's object lacks the AU's key (recorded as ``filled_in`` in each
    table's metadata), so that every intensity is a filled-in 0, not an observation."""
    import pyarrow.parquet as pq

    from auflow.io.parquet import read_metadata

    frames, filled_in = 0, dict.fromkeys((au_column(au) for au in aus), 0)
    for path in label_paths:
        frames += pq.read_metadata(path).num_rows
        for column, count in (read_metadata(path).get("filled_in") or {}).items():
            if column in filled_in:
                filled_in[column] += int(count)
    return [au for au in aus if frames and filled_in[au_column(au)] == frames]


def cross_metrics(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    aus,
    threshold: int,
    unlabelled,
    *,
    extractor: str,
    classifier: str,
    name: str,
) -> pd.DataFrame:
    """A cross dataset's predictions scored against its labels: the long metrics table of a
    fold (``extractor, classifier, split, leaky, fold, au, metric, value, n_pos, n, note``)
    with ``split`` = ``cross:<name>``, ``leaky`` False and ``fold`` 0; AUs in ``unlabelled``
    are NaN with a note (:func:`auflow.evaluation.metrics.score_predictions`)."""
    if len(predictions) != len(labels):
        raise ValueError(
            f"cross dataset {name}: {len(predictions)} predicted frames but {len(labels)} "
            "labelled ones; the predictions are out of date"
        )
    ids = {"extractor": extractor, "classifier": classifier, "split": cross_split(name)}
    return fold_metrics(predictions, labels, aus, threshold, unlabelled, **ids, leaky=False, fold=0)


def cross_pooled(metric_paths) -> pd.DataFrame | None:
    """The pooled rows of the cross datasets' metrics files: each cross dataset is scored as
    one "fold" over all its frames, so its pooled scores are that fold's, without the ``fold``
    column (None without files)."""
    paths = list(metric_paths)
    if not paths:
        return None
    return load_metrics(paths).drop(columns="fold")


def generalisation_table(pooled: pd.DataFrame, split: str) -> pd.DataFrame:
    """Per model x features x cross dataset: pooled F1 on the main dataset's held-out subjects
    (``split``) beside pooled F1 on the cross dataset, both the mean over the AUs scored on
    both (an AU the cross dataset never labels is left out of both means), and the gap.

    Returns
    -------
    ``model, features, cross dataset, AUs, within (<split>), cross, gap (cross - within)``;
    empty (with those columns) without cross rows.
    """
    within_name = f"within ({split})"
    columns = ["model", "features", "cross dataset", "AUs", within_name, "cross"]
    columns.append("gap (cross - within)")
    f1 = pooled[(pooled["metric"] == HEADLINE_METRIC) & (pooled["au"] != 0)]
    within = f1[f1["split"] == split]
    rows = []
    cross = f1[f1["split"].map(is_cross_split)]
    for (extractor, model, split_name), part in cross.groupby(
        ["extractor", "classifier", "split"], sort=True
    ):
        mine = within[(within["extractor"] == extractor) & (within["classifier"] == model)]
        if mine.empty:
            continue
        within_f1 = mine.set_index("au")["value"].dropna()
        cross_f1 = part.set_index("au")["value"].dropna()
        both = sorted(set(within_f1.index) & set(cross_f1.index))
        inside = within_f1.loc[both].mean() if both else np.nan
        outside = cross_f1.loc[both].mean() if both else np.nan
        rows.append(
            {
                "classifier": model,
                "extractor": extractor,
                "cross dataset": cross_name(split_name),
                "AUs": len(both),
                within_name: inside,
                "cross": outside,
                "gap (cross - within)": outside - inside,
            }
        )
    if not rows:
        return pd.DataFrame(columns=columns)
    table = in_model_order(pd.DataFrame(rows), ["cross dataset", "classifier", "extractor"])
    table = table.rename(columns={"classifier": "model", "extractor": "features"})
    return table[columns].reset_index(drop=True)
