"""Aggregated metric tables and plots."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

from auflow.io.labels import au_column

ID_COLUMNS = ["extractor", "classifier", "split", "leaky", "fold"]
BASELINE = "baseline"
BASELINE_COLOUR = "#737373"
# The AUs DISFA papers average over (those with enough positive frames in DISFA); the summary
# reports this average beside the mean over every configured AU, so numbers can be compared with
# the literature.
DISFA8_AUS = (1, 2, 4, 6, 9, 12, 25, 26)
AVERAGES = {"disfa8": "8 DISFA AUs", "all": "all AUs"}
# Extractors whose responses the features figure can show, in order of preference: the seed's
# plot was a Gabor response histogram, so a histogram extractor comes first.
GABOR_EXTRACTORS = ("gabor_hist_seed", "gabor_hist", "gabor_energy")


def gabor_extractor(extractors) -> str | None:
    """The configured extractor whose responses the features figure shows (a histogram one when
    configured, else ``gabor_energy``), or None when no Gabor extractor is configured."""
    for name in GABOR_EXTRACTORS:
        if name in extractors:
            return name
    return None


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


MODEL_KEYS = ["extractor", "classifier", "split", "leaky"]


def average_aus(aus, average: str) -> list[int]:
    """The AUs of an average: ``disfa8`` (those of :data:`DISFA8_AUS` that are configured) or
    ``all`` (every configured AU)."""
    return [au for au in aus if au in DISFA8_AUS] if average == "disfa8" else list(aus)


def averages_table(
    summary: pd.DataFrame, pooled: pd.DataFrame, aus, metrics=("f1", "roc_auc")
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
    table = _in_model_order(table, ["leaky", "split", "classifier", "extractor"])
    return table.reset_index(drop=True)


def best_per_au(pooled: pd.DataFrame, metric: str = "f1") -> pd.DataFrame:
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
    from auflow.cross import within_rows

    pooled = within_rows(pooled)  # the headline is about the main dataset
    honest = pooled[
        (~pooled["leaky"].astype(bool)) & (pooled["au"] == 0) & (pooled["metric"] == "f1")
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
    averages: pd.DataFrame, metric: str = "f1", leaky: bool | None = None, compact: bool = False
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
    return _markdown(pd.DataFrame(rows))


def leakage_pooled_markdown(averages: pd.DataFrame) -> str:
    """Pooled F1 (mean over all AUs) of the models run under both an honest and a leaky split,
    and the gap: '' when no model was run under both."""
    from auflow.cross import within_rows

    part = within_rows(averages)
    part = part[(part["metric"] == "f1") & (part["average"] == "all")]
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
    return _markdown(pd.DataFrame(rows)) if rows else ""


def headline_markdown(summary: pd.DataFrame, pooled: pd.DataFrame, aus) -> str:
    """What the report's front page shows first: the headline, each model's pooled F1 on the
    subject-exclusive split(s) averaged over the 8 DISFA AUs and over all AUs, and how to read
    them."""
    lines = []
    line = headline(pooled)
    if line:
        lines += [line, ""]
    from auflow.cross import within_rows

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
    from auflow.cross import generalisation_markdown, is_cross_split, within_rows
    from auflow.provenance import provenance_markdown

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
            _markdown(table),
            "",
        ]
    by_split = summary.groupby(["split", "leaky"])
    for (split, leaky), part in sorted(by_split, key=lambda item: is_cross_split(item[0][0])):
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
        _markdown(base.round(3).reset_index()),
        "",
    ]
    if provenance is not None:
        lines += [provenance_markdown(provenance)]
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


_INLINE = [
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\*(.+?)\*"), r"<em>\1</em>"),
    # a span, not <code>: the report's stylesheet writes backticks around <code>
    (re.compile(r"`(.+?)`"), r'<span style="font-family: monospace">\1</span>'),
]
_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?( ± \d+(\.\d+)?)?$")
PAGE_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; line-height: 1.45; margin: 1.5em;
       color: #222; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
th { background: #f0f0f0; } td.number { text-align: right; }
"""


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


def markdown_html(markdown: str, title: str | None = None) -> str:
    """The Markdown this module writes (headings, paragraphs, lists, pipe tables, bold, italics,
    code) as HTML: a whole page with ``title``, or a fragment without."""
    out: list[str] = []
    blocks = re.split(r"\n\s*\n", markdown.strip())
    for block in blocks:
        lines = block.splitlines()
        if lines[0].startswith("#"):
            level = len(lines[0]) - len(lines[0].lstrip("#"))
            out.append(f"<h{level}>{_inline(lines[0][level:].strip())}</h{level}>")
            lines = lines[1:]
            if not lines:
                continue
        if lines[0].startswith("|"):
            rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
            header, body = rows[0], [r for r in rows[1:] if not set("".join(r)) <= set("-:")]
            out.append("<table><thead><tr>")
            out += [f"<th>{_inline(c)}</th>" for c in header]
            out.append("</tr></thead><tbody>")
            for row in body:
                cells = [
                    f'<td class="number">{c}</td>' if _NUMBER.match(c) else f"<td>{_inline(c)}</td>"
                    for c in row
                ]
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</tbody></table>")
        elif lines[0].startswith("- "):
            items = "".join(f"<li>{_inline(line[2:])}</li>" for line in lines)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(lines))}</p>")
    body = "\n".join(out)
    if title is None:
        return body
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{PAGE_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def model_colours(names) -> dict[str, str]:
    """One colour per model, the same in every panel and figure of a run.

    Parameters
    ----------
    names : every model of the run (e.g. the ``classifier`` column of ``pooled.parquet``), not
        only those one figure draws: a colour depends on the whole set, so a figure that shows
        two models must still be handed the run's full map.

    Returns
    -------
    dict
        model -> ``#rrggbb``: the baseline grey, the others in :func:`model_order` from
        matplotlib's tab10 without its grey (so that no model looks like the baseline), then
        tab20's lighter shades when there are more than nine.
    """
    import matplotlib
    from matplotlib.colors import to_hex

    tab10 = [c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 7]
    lighter = [c for i, c in enumerate(matplotlib.colormaps["tab20"].colors) if i % 2 and i != 15]
    cycle = [to_hex(c) for c in tab10 + lighter]
    others = [name for name in model_order(names) if name != BASELINE]
    colours = {name: cycle[i % len(cycle)] for i, name in enumerate(others)}
    colours[BASELINE] = BASELINE_COLOUR
    return colours


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
        lines += [f"## Mean over AUs, features `{extractor}`", "", _markdown(overall), ""]
        f1 = part[(part["metric"] == "f1") & (part["au"] != 0)]
        lines += [f"## F1 per AU, features `{extractor}`", ""]
        lines += [_markdown(f1.drop(columns=["au", "extractor", "metric"])), ""]
    if provenance is not None:
        from auflow.provenance import provenance_markdown

        lines += [provenance_markdown(provenance)]
    return "\n".join(lines)
