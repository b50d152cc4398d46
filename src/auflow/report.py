"""Aggregated metric tables and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from auflow.io.labels import au_column

ID_COLUMNS = ["extractor", "classifier", "split", "leaky", "fold"]
BASELINE = "baseline"
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


def model_order(names) -> list[str]:
    """Models in reading order: the baseline first, then the others by name."""
    return sorted(set(names), key=lambda name: (name != BASELINE, name))


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
    from auflow.evaluation.metrics import score_predictions
    from auflow.evaluation.splits import LEAKY_SPLITS
    from auflow.io.parquet import read_table

    groups: dict[tuple[str, str, str], list[pd.DataFrame]] = {}
    for path in map(Path, prediction_paths):
        split, extractor, model = path.parts[-4:-1]
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


def _f1_table(pooled: pd.DataFrame, per_fold: pd.DataFrame) -> pd.DataFrame:
    """Per model (x extractor): pooled F1 per AU and its mean, and the fold mean ± sd of the
    mean over AUs."""
    f1 = pooled[pooled["metric"] == "f1"]
    table = f1.set_index(["classifier", "extractor", "au"])["value"].unstack("au")
    table.columns = [au_name(au) for au in table.columns]
    ordered = [c for c in table.columns if c != "mean"] + ["mean"]
    table = table[ordered].rename(columns={"mean": "pooled mean"})
    fold_means = per_fold[per_fold["au"] == 0].groupby(["classifier", "extractor"])["f1"]
    table["fold mean ± sd"] = fold_means.agg(
        lambda v: f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v.mean():.3f}"
    )
    table = _in_model_order(table.reset_index(), ["classifier", "extractor"])
    return table.rename(columns={"classifier": "model", "extractor": "features"})


def _in_model_order(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``table`` sorted by ``by``, its ``classifier`` column in :func:`model_order`."""
    order = {name: i for i, name in enumerate(model_order(table["classifier"]))}
    return table.sort_values(by, key=lambda c: c.map(order) if c.name == "classifier" else c)


def markdown_summary(summary: pd.DataFrame, pooled: pd.DataFrame) -> str:
    """The Markdown summary: a headline (the best honest model's pooled mean F1 against the
    baseline's), then per split the pooled F1 per model x AU with the fold spread, the per-fold
    means of the main metrics, and the base rates."""
    lines = ["# auflow metrics summary", ""]
    lines += [
        "How to read this: F1 of the positive class (the AU occurs: intensity at or above the",
        "occurrence threshold) per AU. *Pooled* F1 scores every test frame of every fold",
        "together, as the field reports it; *fold mean ± sd* shows how much it varies between",
        "test subjects. A model is worth running when it clearly beats `baseline` (HOG +",
        "logistic regression), the deliberately plain floor on the same split.",
        "",
    ]
    honest = pooled[(~pooled["leaky"]) & (pooled["au"] == 0) & (pooled["metric"] == "f1")]
    if len(honest):
        best = honest.loc[honest["value"].idxmax()]
        line = (
            f"**Headline (pooled F1, mean over AUs, split `{best['split']}`):** best model "
            f"`{best['classifier']}` on `{best['extractor']}` features, {best['value']:.3f}"
        )
        floor = honest[(honest["classifier"] == BASELINE) & (honest["split"] == best["split"])]
        if len(floor):
            value = floor["value"].iloc[0]
            line += f"; baseline {value:.3f}"
            if value > 0:
                line += f" ({best['value'] / value:.2f}x)"
        lines += [line + ".", ""]
    for (split, leaky), part in summary.groupby(["split", "leaky"]):
        warning = " (LEAKY: frames of test subjects are in training)" if leaky else ""
        split_pooled = pooled[pooled["split"] == split]
        lines += [
            f"## Pooled F1 per AU, split `{split}`{warning}",
            "",
            _markdown(_f1_table(split_pooled, part)),
            "",
        ]
        means = (
            part[part["au"] == 0]
            .groupby(["classifier", "extractor", "fold"])[SUMMARY_METRICS]
            .mean()
        )
        means = _in_model_order(means.reset_index(), ["classifier", "extractor", "fold"])
        lines += [
            f"### Mean over AUs, per fold (`{split}`)",
            "",
            _markdown(means.round(3)),
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


def model_colours(names) -> dict[str, tuple]:
    """One colour per model, the same in every panel and figure: the baseline grey, the others
    from matplotlib's tab10 cycle in :func:`model_order`."""
    import matplotlib

    cycle = matplotlib.colormaps["tab10"].colors
    others = [name for name in model_order(names) if name != BASELINE]
    colours = {name: cycle[i % len(cycle)] for i, name in enumerate(others)}
    colours[BASELINE] = (0.45, 0.45, 0.45)
    return colours


def plot_f1(summary: pd.DataFrame, path: str | Path, metric: str = "f1") -> None:
    """Bar chart of ``metric`` per AU (mean over folds), one bar group per classifier, one panel
    per extractor x split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(summary.groupby("split"))
    colours = model_colours(summary["classifier"])
    fig, axes = plt.subplots(len(groups), 1, figsize=(12, 3.5 * len(groups)), squeeze=False)
    for ax, (split, part) in zip(axes[:, 0], groups, strict=True):
        means = part.groupby(["au_name", "classifier"])[metric].mean().unstack("classifier")
        order = [n for n in means.index if n != "mean"] + ["mean"]
        models = model_order(means.columns)
        means.loc[order, models].plot.bar(ax=ax, width=0.8, color=[colours[m] for m in models])
        ax.set_title(f"{metric.upper()} per AU (mean over folds) — split {split}")
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
