"""Metric tables of a run: every fold's metrics in one long table, scores pooled over the test
frames of every fold, averages over AUs, the best model per AU and the leakage comparison.

The tables only; :mod:`auflow.report` writes them as Markdown and :mod:`auflow.plots` draws them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auflow.aus import au_column
from auflow.evaluation.metrics import HEADLINE_METRIC, OCCURRENCE_METRICS, score_predictions
from auflow.evaluation.splits import LEAKY_SPLITS
from auflow.io.parquet import read_table
from auflow.layout import parse_fold_table

ID_COLUMNS = ["extractor", "classifier", "split", "leaky", "fold"]
MODEL_KEYS = ["extractor", "classifier", "split", "leaky"]
BASELINE = "baseline"

# The AUs DISFA papers average over (those with enough positive frames in DISFA); the summary
# reports this average beside the mean over every configured AU, so numbers can be compared with
# the literature.
DISFA8_AUS = (1, 2, 4, 6, 9, 12, 25, 26)
AVERAGES = {"disfa8": "8 DISFA AUs", "all": "all AUs"}

# the summary's per-fold columns: the occurrence metrics without the PR curve's area and the
# base rate (which the summary shows apart)
SUMMARY_METRICS = [m for m in OCCURRENCE_METRICS if m not in ("pr_auc", "base_rate")]
LEAKAGE_METRICS = [HEADLINE_METRIC, "balanced_accuracy", "roc_auc"]


def au_name(au: int) -> str:
    """The AU label of a metrics row: ``AU01`` ..., or ``mean`` for the macro average (au 0)."""
    return "mean" if au == 0 else au_column(au)


def summary_table(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Wide table: one row per extractor x classifier x split x fold x AU, a column per metric,
    plus ``support`` (positive frames) and ``n`` (frames)."""
    wide = per_fold.set_index([*ID_COLUMNS, "au", "metric"])["value"].unstack("metric")
    counts = per_fold.groupby([*ID_COLUMNS, "au"])[["n_pos", "n"]].first()
    wide = wide.join(counts.rename(columns={"n_pos": "support"})).reset_index()
    wide.insert(wide.columns.get_loc("au") + 1, "au_name", wide["au"].map(au_name))
    wide.columns.name = None
    return wide


def model_order(names) -> list[str]:
    """Models in reading order: the baseline first, then the others by name."""
    return sorted(set(names), key=lambda name: (name != BASELINE, name))


def in_model_order(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``table`` sorted by ``by``, its ``classifier`` column in :func:`model_order`."""
    order = {name: i for i, name in enumerate(model_order(table["classifier"]))}
    return table.sort_values(by, key=lambda c: c.map(order) if c.name == "classifier" else c)


def pooled_metrics(
    prediction_paths, labels: pd.DataFrame, aus: list[int], threshold: int
) -> pd.DataFrame:
    """Scores pooled over every test frame of every fold, per model and AU.

    Parameters
    ----------
    prediction_paths : ``results/predictions/<split>/<extractor>/<model>/fold<k>.parquet`` files.
    labels : ``subject``, ``frame``, ``AU01``... intensities of every frame.

    Returns
    -------
    ``extractor, classifier, split, leaky, au, metric, value, n_pos, n, note``: the long table of
    :func:`auflow.evaluation.metrics.score_predictions` on each model's concatenated predictions.
    """
    groups: dict[tuple[str, str, str], list[pd.DataFrame]] = {}
    for path in prediction_paths:
        split, extractor, model, _ = parse_fold_table(path)
        groups.setdefault((extractor, model, split), []).append(read_table(path))
    tables = []
    for (extractor, model, split), parts in sorted(groups.items()):
        scored = score_predictions(pd.concat(parts, ignore_index=True), labels, aus, threshold)
        for position, (name, value) in enumerate(
            [
                ("extractor", extractor),
                ("classifier", model),
                ("split", split),
                ("leaky", split in LEAKY_SPLITS),
            ]
        ):
            scored.insert(position, name, value)
        tables.append(scored)
    return pd.concat(tables, ignore_index=True)


def average_aus(aus, average: str) -> list[int]:
    """The AUs of an average: ``disfa8`` (those of :data:`DISFA8_AUS` that are configured) or
    ``all`` (every configured AU)."""
    return [au for au in aus if au in DISFA8_AUS] if average == "disfa8" else list(aus)


def averages_table(
    summary: pd.DataFrame, pooled: pd.DataFrame, aus, metrics=(HEADLINE_METRIC, "roc_auc")
) -> pd.DataFrame:
    """Each model's average over the 8 DISFA AUs and over all AUs, pooled and per fold.

    Parameters
    ----------
    summary : :func:`summary_table` (one row per model x split x fold x AU).
    pooled : :func:`pooled_metrics` (one row per model x split x AU x metric).
    aus : the configured AUs (ints).

    Returns
    -------
    ``extractor, classifier, split, leaky, average, aus, n_aus, metric, pooled, fold_mean,
    fold_sd, n_folds``: ``pooled`` is the mean over the average's AUs of the pooled per-AU
    values; ``fold_mean`` and ``fold_sd`` the mean and sd over folds of each fold's mean over
    the same AUs. Undefined (NaN) AUs are left out of a mean, as in the ``au`` 0 rows, so the
    ``all`` row's ``pooled`` equals the pooled table's ``au`` 0 value.
    """
    tables = []
    for average in AVERAGES:
        chosen = average_aus(aus, average)
        if not chosen:
            continue
        part = pooled[pooled["au"].isin(chosen) & pooled["metric"].isin(metrics)]
        pooled_mean = part.groupby([*MODEL_KEYS, "metric"])["value"].mean().rename("pooled")
        folds = summary[summary["au"].isin(chosen)].groupby([*MODEL_KEYS, "fold"])[list(metrics)]
        fold_means = folds.mean().stack().rename_axis([*MODEL_KEYS, "fold", "metric"])
        spread = fold_means.groupby([*MODEL_KEYS, "metric"]).agg(["mean", "std", "count"])
        spread.columns = ["fold_mean", "fold_sd", "n_folds"]
        table = pd.concat([pooled_mean, spread], axis=1).reset_index()
        table.insert(4, "average", average)
        table.insert(5, "aus", " ".join(au_column(au) for au in chosen))
        table.insert(6, "n_aus", len(chosen))
        tables.append(table)
    columns = [*MODEL_KEYS, "average", "aus", "n_aus", "metric", "pooled", "fold_mean"]
    if not tables:
        return pd.DataFrame(columns=[*columns, "fold_sd", "n_folds"])
    table = pd.concat(tables, ignore_index=True)
    table["n_folds"] = table["n_folds"].fillna(0).astype(int)
    table = in_model_order(table, ["leaky", "split", "classifier", "extractor"])
    return table.reset_index(drop=True)


def best_per_au(pooled: pd.DataFrame, metric: str = HEADLINE_METRIC) -> pd.DataFrame:
    """The best model per AU on each subject-exclusive split, by pooled ``metric``.

    Returns
    -------
    ``split, au, au_name, model, features, <metric>, baseline, base_rate, positives, frames``:
    one row per split x AU; ``baseline`` is the baseline's value on the same split (NaN without
    a baseline), ``base_rate`` the share of test frames in which the AU occurs. Ties go to the
    model first in :func:`model_order`; an AU no model could be scored on has an empty model.
    """
    honest = pooled[~pooled["leaky"].astype(bool) & (pooled["au"] != 0)]
    order = {name: i for i, name in enumerate(model_order(honest["classifier"]))}
    rows = []
    for (split, au), part in honest.groupby(["split", "au"]):
        scores = part[part["metric"] == metric].copy()
        scores["order"] = scores["classifier"].map(order)
        scores = scores.sort_values(["value", "order"], ascending=[False, True])
        defined = scores[scores["value"].notna()]
        best = defined.iloc[0] if len(defined) else None
        floor = scores.loc[scores["classifier"] == BASELINE, "value"]
        base = part.loc[part["metric"] == "base_rate", "value"]
        rows.append(
            {
                "split": split,
                "au": int(au),
                "au_name": au_name(au),
                "model": "" if best is None else best["classifier"],
                "features": "" if best is None else best["extractor"],
                metric: np.nan if best is None else best["value"],
                "baseline": floor.iloc[0] if len(floor) else np.nan,
                "base_rate": base.iloc[0] if len(base) else np.nan,
                "positives": int(scores["n_pos"].iloc[0]) if len(scores) else 0,
                "frames": int(scores["n"].iloc[0]) if len(scores) else 0,
            }
        )
    columns = ["split", "au", "au_name", "model", "features", metric, "baseline", "base_rate"]
    return pd.DataFrame(rows, columns=[*columns, "positives", "frames"])


def label_metrics(
    metrics: pd.DataFrame, extractor: str, classifier: str, split: str, leaky: bool, fold: int
) -> pd.DataFrame:
    """Prefix one fold's metrics (``au, metric, value, n_pos, n, note``) with what they are of."""
    labelled = metrics.copy()
    for position, (name, value) in enumerate(
        [
            ("extractor", extractor),
            ("classifier", classifier),
            ("split", split),
            ("leaky", bool(leaky)),
            ("fold", int(fold)),
        ]
    ):
        labelled.insert(position, name, value)
    return labelled


def fold_metrics(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    aus: list[int],
    threshold: int,
    unlabelled=(),
    **ids,
) -> pd.DataFrame:
    """Score one fold's predictions and label the metrics with ``ids`` (extractor, classifier,
    split, leaky, fold): the long table the aggregate reads. AUs in ``unlabelled`` (never
    labelled in the dataset) are NaN with a note
    (:func:`auflow.evaluation.metrics.score_predictions`)."""
    scored = score_predictions(predictions, labels, list(aus), threshold, unlabelled)
    return label_metrics(scored, **ids)


def load_metrics(paths) -> pd.DataFrame:
    """Every fold's metrics in one long table, in a stable order."""
    table = pd.concat([read_table(p) for p in paths], ignore_index=True)
    return table.sort_values([*ID_COLUMNS, "au", "metric"], kind="stable").reset_index(drop=True)


def leakage_table(summary: pd.DataFrame, honest: str, leaky: str) -> pd.DataFrame:
    """Each classifier's metrics per AU (mean over folds) under a subject-exclusive split and
    under the leaky split, and the gap ``leaky - honest``.

    Returns
    -------
    ``extractor, classifier, au, au_name, metric, <honest>, <leaky>, gap``, one row per
    extractor x classifier x AU (``mean`` = the mean over AUs) x metric, for the classifiers
    evaluated under both splits.
    """
    means = (
        summary[summary["split"].isin([honest, leaky])]
        .groupby(["extractor", "classifier", "au", "au_name", "split"])[LEAKAGE_METRICS]
        .mean()
        .stack()
        .rename_axis([*["extractor", "classifier", "au", "au_name", "split"], "metric"])
        .unstack("split")
        .dropna(subset=[honest, leaky], how="any")
        .reset_index()
    )
    means.columns.name = None
    means["gap"] = means[leaky] - means[honest]
    return means[["extractor", "classifier", "au", "au_name", "metric", honest, leaky, "gap"]]
