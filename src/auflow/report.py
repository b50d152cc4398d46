"""The run's summary pages in Markdown: how to read them, the headline, the averages, the best
model per AU, the per-split tables, the leakage comparison and the generalisation section.

The tables come from :mod:`auflow.evaluation.aggregate`; :mod:`auflow.html_page` turns the
Markdown into a page.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auflow.cross import generalisation_table
from auflow.evaluation.aggregate import (
    AVERAGES,
    BASELINE,
    MODEL_KEYS,
    SUMMARY_METRICS,
    au_name,
    averages_table,
    best_per_au,
    in_model_order,
)
from auflow.evaluation.metrics import HEADLINE_METRIC
from auflow.evaluation.splits import is_cross_split, within_rows
from auflow.provenance import provenance_markdown

HOW_TO_READ = [
    "How to read this: F1 of the positive class (the AU occurs: intensity at or above the",
    "occurrence threshold) per AU. *Pooled* F1 scores every test frame of every fold",
    "together, as the field reports it; *fold mean ± sd* shows how much it varies between",
    "test subjects. *8 DISFA AUs* is the mean over AUs 1, 2, 4, 6, 9, 12, 25 and 26 (those",
    "configured), the average DISFA papers report; *all AUs* the mean over every configured AU.",
    "A model is worth running when it clearly beats `baseline` (HOG + logistic regression), the",
    "deliberately plain floor on the same split. Rows marked LEAKY let frames of the test",
    "subjects into training: never report them.",
]


def headline(pooled: pd.DataFrame) -> str:
    """One line: the best honest model's pooled mean F1 against the baseline's, or, when no
    model beats the baseline, that and the best of the others ('' with nothing to report)."""
    pooled = within_rows(pooled)  # the headline is about the main dataset
    honest = pooled[
        (~pooled["leaky"].astype(bool))
        & (pooled["au"] == 0)
        & (pooled["metric"] == HEADLINE_METRIC)
    ]
    honest = honest[honest["value"].notna()]
    if honest.empty:
        return ""
    best = honest.loc[honest["value"].idxmax()]
    split = best["split"]
    start = f"**Headline (pooled F1, mean over AUs, split `{split}`):** "
    floor = honest[(honest["classifier"] == BASELINE) & (honest["split"] == split)]
    others = honest[(honest["classifier"] != BASELINE) & (honest["split"] == split)]
    if len(floor) and floor["value"].iloc[0] >= best["value"]:
        line = f"no model beats the baseline (`{BASELINE}`, {floor['value'].iloc[0]:.3f})"
        if len(others):
            runner = others.loc[others["value"].idxmax()]
            line += (
                f"; the best other model is `{runner['classifier']}` on `{runner['extractor']}` "
                f"features, {runner['value']:.3f}"
            )
        return start + line + "."
    line = (
        f"best model `{best['classifier']}` on `{best['extractor']}` features, {best['value']:.3f}"
    )
    if len(floor):
        value = floor["value"].iloc[0]
        line += f"; baseline {value:.3f}"
        if value > 0:
            line += f" ({best['value'] / value:.2f}x)"
    return start + line + "."


def _spread(mean: float, sd: float, n_folds: int) -> str:
    if np.isnan(mean):
        return ""
    return f"{mean:.3f} ± {sd:.3f}" if n_folds > 1 else f"{mean:.3f}"


def averages_markdown(
    averages: pd.DataFrame,
    metric: str = HEADLINE_METRIC,
    leaky: bool | None = None,
    compact: bool = False,
) -> str:
    """The averages of ``metric`` as a Markdown table: one row per model x features x split,
    pooled and fold mean ± sd for the 8 DISFA AUs and for all AUs (``compact``: the pooled
    values only, without the split)."""
    part = averages[averages["metric"] == metric]
    if leaky is not None:
        part = part[part["leaky"].astype(bool) == leaky]
    if part.empty:
        return ""
    rows = []
    for (extractor, model, split, is_leaky), group in part.groupby(MODEL_KEYS, sort=False):
        row = {"model": model, "features": extractor}
        if not compact:
            row["split"] = f"{split} (LEAKY)" if is_leaky else split
        for average, label in AVERAGES.items():
            values = group[group["average"] == average]
            if values.empty:
                continue
            value = values.iloc[0]
            if compact:
                row[label] = value["pooled"]
                continue
            row[f"{label}: pooled"] = value["pooled"]
            row[f"{label}: fold mean ± sd"] = _spread(
                value["fold_mean"], value["fold_sd"], value["n_folds"]
            )
        rows.append(row)
    return markdown_table(pd.DataFrame(rows))


def leakage_pooled_markdown(averages: pd.DataFrame) -> str:
    """Pooled F1 (mean over all AUs) of the models run under both an honest and a leaky split,
    and the gap: '' when no model was run under both."""
    part = within_rows(averages)
    part = part[(part["metric"] == HEADLINE_METRIC) & (part["average"] == "all")]
    rows = []
    for (extractor, model), group in part.groupby(["extractor", "classifier"], sort=False):
        honest = group[~group["leaky"].astype(bool)]
        leaky = group[group["leaky"].astype(bool)]
        if honest.empty or leaky.empty:
            continue
        h, k = honest.iloc[0], leaky.iloc[0]
        rows.append(
            {
                "model": model,
                "features": extractor,
                f"honest ({h['split']})": h["pooled"],
                f"leaky ({k['split']})": k["pooled"],
                "gap (leaky - honest)": k["pooled"] - h["pooled"],
            }
        )
    return markdown_table(pd.DataFrame(rows)) if rows else ""


def headline_markdown(summary: pd.DataFrame, pooled: pd.DataFrame, aus) -> str:
    """What the report's front page shows first: the headline, each model's pooled F1 on the
    subject-exclusive split(s) averaged over the 8 DISFA AUs and over all AUs, and how to read
    them."""
    lines = []
    line = headline(pooled)
    if line:
        lines += [line, ""]
    averages = within_rows(averages_table(summary, pooled, aus))
    table = averages_markdown(averages, leaky=False, compact=True)
    if table:
        splits = ", ".join(f"`{s}`" for s in averages.loc[~averages["leaky"], "split"].unique())
        lines += [
            f"**Pooled F1 on subjects never seen in training** (split {splits}), averaged over "
            "the 8 AUs DISFA papers report (1, 2, 4, 6, 9, 12, 25, 26, those configured) and "
            "over all AUs:",
            "",
            table,
            "",
        ]
    lines += [
        "F1 of the positive class (the AU occurs). *Pooled*: every test frame of every fold "
        "scored together, as the field reports it. A model is worth running when it clearly "
        "beats `baseline` (HOG + logistic regression), the deliberately plain floor.",
        "",
    ]
    return "\n".join(lines)


def markdown_summary(
    summary: pd.DataFrame,
    pooled: pd.DataFrame,
    aus=None,
    provenance: dict | None = None,
    split: str | None = None,
) -> str:
    """The Markdown summary: how to read it and a headline (the best honest model's pooled mean
    F1 against the baseline's); the 8-DISFA-AU and all-AU averages; the best model per AU; then
    per split the pooled F1 per model x AU with the fold spread and the per-fold means; the
    leakage comparison when a leaky split was run; base rates; and the provenance of the run.

    Parameters
    ----------
    summary, pooled : :func:`summary_table` and :func:`pooled_metrics`.
    aus : the configured AUs (default: those in ``pooled``).
    provenance : ``results/provenance.json`` (see :mod:`auflow.provenance`), or None.
    split : the configured split, which the Generalisation section (the final models on the
        cross datasets, when any were scored) sets the cross scores beside.
    """
    configured_split = split  # the loops below name each split they go through ``split``

    if aus is None:
        aus = sorted(int(au) for au in pooled["au"].unique() if au != 0)
    averages = averages_table(summary, pooled, aus)
    lines = ["# auflow metrics summary", "", *HOW_TO_READ, ""]
    line = headline(pooled)
    if line:
        lines += [line, ""]
    lines += [
        "## F1 averaged over the 8 DISFA AUs and over all AUs",
        "",
        averages_markdown(averages),
        "",
    ]
    best = best_per_au(pooled)
    # the main dataset's splits first, then the cross datasets' (cross:<name>)
    for split, part in sorted(best.groupby("split"), key=lambda item: is_cross_split(item[0])):
        table = part.drop(columns=["split", "au"]).rename(columns={"au_name": "AU"})
        lines += [
            f"## Best model per AU (pooled F1, split `{split}`)",
            "",
            "`baseline` is the baseline's pooled F1 on the same AU; `base_rate` the share of test "
            "frames in which the AU occurs (an F1 near 2 x base_rate / (1 + base_rate) is what "
            "always answering yes would score).",
            "",
            markdown_table(table),
            "",
        ]
    by_split = summary.groupby(["split", "leaky"])
    for (split, leaky), part in sorted(by_split, key=lambda item: is_cross_split(item[0][0])):
        warning = " (LEAKY: frames of test subjects are in training)" if leaky else ""
        split_pooled = pooled[pooled["split"] == split]
        lines += [
            f"## Pooled F1 per AU, split `{split}`{warning}",
            "",
            markdown_table(_f1_table(split_pooled, part)),
            "",
        ]
        means = (
            part[part["au"] == 0]
            .groupby(["classifier", "extractor", "fold"])[SUMMARY_METRICS]
            .mean()
        )
        means = in_model_order(means.reset_index(), ["classifier", "extractor", "fold"])
        lines += [
            f"### Mean over AUs, per fold (`{split}`)",
            "",
            markdown_table(means.round(3)),
            "",
        ]
    leakage = leakage_pooled_markdown(averages)
    if leakage:
        lines += [
            "## Leakage: the same models under a leaky frame split (pooled F1, all AUs)",
            "",
            "What the notebook's random frame split adds by letting test subjects into training; "
            "`leakage.md` has the per-AU comparison (fold means).",
            "",
            leakage,
            "",
        ]
    if configured_split is not None:
        generalisation = generalisation_markdown(pooled, configured_split)
        if generalisation:
            lines += [generalisation]
    within = within_rows(summary)
    base = within[within["au"] != 0].groupby(["au_name"])[["base_rate", "support", "n"]].mean()
    lines += [
        "## Base rate of occurrence per AU (mean over folds)",
        "",
        markdown_table(base.round(3).reset_index()),
        "",
    ]
    if provenance is not None:
        lines += [provenance_markdown(provenance)]
    return "\n".join(lines)


def _f1_table(pooled: pd.DataFrame, per_fold: pd.DataFrame) -> pd.DataFrame:
    """Per model (x extractor): pooled F1 per AU and its mean, and the fold mean ± sd of the
    mean over AUs."""
    f1 = pooled[pooled["metric"] == HEADLINE_METRIC]
    table = f1.set_index(["classifier", "extractor", "au"])["value"].unstack("au")
    table.columns = [au_name(au) for au in table.columns]
    ordered = [c for c in table.columns if c != "mean"] + ["mean"]
    table = table[ordered].rename(columns={"mean": "pooled mean"})
    fold_means = per_fold[per_fold["au"] == 0].groupby(["classifier", "extractor"])[HEADLINE_METRIC]
    table["fold mean ± sd"] = fold_means.agg(
        lambda v: f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v.mean():.3f}"
    )
    table = in_model_order(table.reset_index(), ["classifier", "extractor"])
    return table.rename(columns={"classifier": "model", "extractor": "features"})


def leakage_markdown(
    comparison: pd.DataFrame, honest: str, leaky: str, provenance: dict | None = None
) -> str:
    """The comparison as Markdown: the mean over AUs per classifier, then F1 per AU, then the
    provenance of the run (when given)."""
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
        lines += [f"## Mean over AUs, features `{extractor}`", "", markdown_table(overall), ""]
        f1 = part[(part["metric"] == HEADLINE_METRIC) & (part["au"] != 0)]
        lines += [f"## F1 per AU, features `{extractor}`", ""]
        lines += [markdown_table(f1.drop(columns=["au", "extractor", "metric"])), ""]
    if provenance is not None:
        lines += [provenance_markdown(provenance)]
    return "\n".join(lines)


GENERALISATION_CAPTION = (
    "How to read this: each model fitted on every subject of the main dataset (the saved final "
    "model) predicts every frame of another labelled dataset; *cross* is its pooled F1 there, "
    "*within* the same model's pooled F1 on the main dataset's held-out subjects under split "
    "`{split}`, both the mean over the *AUs* scored on both datasets (an AU a cross dataset "
    "never labels is left out, not scored as absent). *gap* = cross - within: near 0, the "
    "detector holds on other people, cameras and labs; cross-dataset scores in the literature "
    "are far lower than within-dataset ones. Subject normalisation uses each cross subject's "
    "own frames; thresholds are the ones tuned on the main dataset. The final model saw a fold "
    "more subjects than the within scores' fold models, which favours *cross* slightly."
)


def generalisation_markdown(pooled: pd.DataFrame, split: str) -> str:
    """The summary's Generalisation section ('' without cross datasets)."""
    table = generalisation_table(pooled, split)
    if table.empty:
        return ""
    return "\n".join(
        [
            "## Generalisation: the final models on other datasets (pooled F1, mean over AUs)",
            "",
            GENERALISATION_CAPTION.format(split=split),
            "",
            markdown_table(table),
            "",
        ]
    )


def markdown_table(table: pd.DataFrame) -> str:
    """A pipe table of ``table``'s columns; floats to 3 decimals, NaN empty."""
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
