"""Aggregated metric tables and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from auflow.io.labels import au_column

ID_COLUMNS = ["extractor", "classifier", "split", "leaky", "fold"]
SUMMARY_METRICS = ["f1", "precision", "recall", "accuracy", "balanced_accuracy", "roc_auc"]


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


def markdown_summary(summary: pd.DataFrame, metric: str = "f1") -> str:
    """A Markdown report: per extractor and split, ``metric`` per classifier x AU as the mean
    over folds (± standard deviation), then the per-fold means of the main metrics."""
    lines = ["# auflow metrics summary", ""]
    for (extractor, split, leaky), part in summary.groupby(["extractor", "split", "leaky"]):
        warning = " (LEAKY: frames of test subjects are in training)" if leaky else ""
        lines += [
            f"## {metric.upper()} per AU: features `{extractor}`, split `{split}`{warning}",
            "",
        ]
        stats = part.groupby(["classifier", "au"])[metric].agg(["mean", "std"])
        spread = stats["std"].map(lambda sd: "" if np.isnan(sd) else f" ± {sd:.3f}")
        cell = stats["mean"].map("{:.3f}".format) + spread
        table = cell.unstack("au")
        table.columns = [au_name(au) for au in table.columns]
        ordered = [c for c in table.columns if c != "mean"] + ["mean"]
        lines += [_markdown(table[ordered].reset_index()), ""]
        means = part[part["au"] == 0].groupby(["classifier", "fold"])[SUMMARY_METRICS].mean()
        lines += [
            f"### Mean over AUs, per fold (`{split}`)",
            "",
            _markdown(means.round(3).reset_index()),
            "",
        ]
    base = summary[summary["au"] != 0].groupby(["au_name"])[["base_rate", "support", "n"]].mean()
    lines += [
        "## Base rate of occurrence per AU (mean over folds)",
        "",
        _markdown(base.round(3).reset_index()),
        "",
    ]
    return "\n".join(lines)


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = [
        "| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def plot_f1(summary: pd.DataFrame, path: str | Path, metric: str = "f1") -> None:
    """Bar chart of ``metric`` per AU (mean over folds), one bar group per classifier, one panel
    per extractor x split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(summary.groupby(["extractor", "split"]))
    fig, axes = plt.subplots(len(groups), 1, figsize=(12, 3.5 * len(groups)), squeeze=False)
    for ax, ((extractor, split), part) in zip(axes[:, 0], groups, strict=True):
        means = part.groupby(["au_name", "classifier"])[metric].mean().unstack("classifier")
        order = [n for n in means.index if n != "mean"] + ["mean"]
        means.loc[order].plot.bar(ax=ax, width=0.8)
        ax.set_title(f"{metric.upper()} per AU — features {extractor}, split {split}")
        ax.set_ylim(0, 1)
        ax.set_ylabel(metric.upper())
        ax.set_xlabel("")
        ax.legend(fontsize="small", ncol=4)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


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
    **ids,
) -> pd.DataFrame:
    """Score one fold's predictions and label the metrics with ``ids`` (extractor, classifier,
    split, leaky, fold): the long table the aggregate reads."""
    from auflow.evaluation.metrics import score_predictions

    return label_metrics(score_predictions(predictions, labels, aus, threshold), **ids)


def load_metrics(paths) -> pd.DataFrame:
    """Every fold's metrics in one long table, in a stable order."""
    from auflow.io.parquet import read_table

    table = pd.concat([read_table(p) for p in paths], ignore_index=True)
    return table.sort_values([*ID_COLUMNS, "au", "metric"], kind="stable").reset_index(drop=True)


LEAKAGE_METRICS = ["f1", "balanced_accuracy", "roc_auc"]


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


def leakage_markdown(comparison: pd.DataFrame, honest: str, leaky: str) -> str:
    """The comparison as Markdown: the mean over AUs per classifier, then F1 per AU."""
    lines = [
        "# Leakage: subject-exclusive folds vs the notebook's random frame split",
        "",
        f"Same features, same classifiers; `{honest}` keeps every test subject out of training,",
        f"`{leaky}` (the notebook's split) puts frames of the test subjects, and their",
        "neighbouring frames, into training. `gap` = leaky - honest: what the leak adds.",
        "",
    ]
    for extractor, part in comparison.groupby("extractor"):
        overall = part[part["au"] == 0].drop(columns=["au", "au_name", "extractor"])
        lines += [f"## Mean over AUs, features `{extractor}`", "", _markdown(overall), ""]
        f1 = part[(part["metric"] == "f1") & (part["au"] != 0)]
        lines += [f"## F1 per AU, features `{extractor}`", ""]
        lines += [_markdown(f1.drop(columns=["au", "extractor", "metric"])), ""]
    return "\n".join(lines)
