"""The figures of a run: per-AU scores, curves, co-occurrence, faces, time series, features, study.

Every function draws one figure of a fixed size (:data:`FIGURE_SIZES` at :data:`DPI`), saves it
as PNG and returns the colour it drew each model in (:func:`drawn_colours`), read back from the
figure's artists. Models are coloured by :func:`model_colours` of the whole run, so
a model keeps its colour in every figure; a test checks it from these returned maps.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from auflow.aus import au_column, occurs  # noqa: E402
from auflow.evaluation.aggregate import (  # noqa: E402
    AVERAGES,
    BASELINE,
    au_name,
    average_aus,
    model_order,
)
from auflow.evaluation.metrics import HEADLINE_METRIC  # noqa: E402
from auflow.evaluation.splits import cross_name, is_cross_split  # noqa: E402
from auflow.features.descriptors import EXTRACTORS  # noqa: E402

DPI = 100
# (width, height) in inches of each figure; the PNG is DPI times that in pixels.
FIGURE_SIZES = {
    "data_overview": (14, 6),
    "gabor_responses": (14, 6),
    "f1_per_au": (14, 8),
    "f1_heatmap": (14, 8),
    "f1_vs_base_rate": (10, 7),
    "pr_curves": (14, 10),
    "cooccurrence": (14, 6.5),
    "face_examples": (14, 9),
    "au_time_series": (14, 16),
    "optuna_history": (11, 6),
    "leakage": (12, 6),
}
# Each study's own two figures (results/study/.../fold<k>/), drawn by Optuna.
STUDY_FIGURE_SIZE = (8, 5)
# Where the model an artist stands for is recorded (matplotlib's gid), for drawn_colours.
_GID = "model:"
TRUTH_COLOUR = "#222222"
BASELINE_COLOUR = "#737373"


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
    tab10 = [c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 7]
    lighter = [c for i, c in enumerate(matplotlib.colormaps["tab20"].colors) if i % 2 and i != 15]
    cycle = [to_hex(c) for c in tab10 + lighter]
    others = [name for name in model_order(names) if name != BASELINE]
    colours = {name: cycle[i % len(cycle)] for i, name in enumerate(others)}
    colours[BASELINE] = BASELINE_COLOUR
    return colours


def _figure(name: str, **kwargs):
    return plt.figure(figsize=FIGURE_SIZES[name], dpi=DPI, layout="constrained", **kwargs)


def _tag(artist, model: str):
    """Record on a matplotlib artist (or a container of them) the model it is drawn for."""
    for item in getattr(artist, "patches", None) or getattr(artist, "lines", None) or [artist]:
        item.set_gid(_GID + model)
    if hasattr(artist, "set_gid"):
        artist.set_gid(_GID + model)
    return artist


def drawn_colours(fig) -> dict[str, set[str]]:
    """Model -> the set of colours (``#rrggbb``) the figure's artists tagged with that model
    are drawn in: bars and patches by face colour, lines by colour, markers by face colour,
    text by colour. One model drawn in two colours shows up as a set of two."""
    found: dict[str, set[str]] = {}
    for artist in fig.findobj(lambda a: (a.get_gid() or "").startswith(_GID)):
        model = artist.get_gid().removeprefix(_GID)
        if isinstance(artist, matplotlib.patches.Patch):
            colours = [artist.get_facecolor()]
        elif isinstance(artist, matplotlib.lines.Line2D):
            colours = [artist.get_color()]
        elif isinstance(artist, matplotlib.collections.Collection):
            colours = list(artist.get_facecolor()) or list(artist.get_edgecolor())
        elif isinstance(artist, matplotlib.text.Text):
            colours = [artist.get_color()]
        else:
            continue
        found.setdefault(model, set()).update(to_hex(c) for c in colours)
    return found


def _save(fig, name: str, path: str | Path, provenance: dict | None) -> dict[str, set[str]]:
    """Save ``fig`` at its fixed size (never cropped, so every PNG has the size it is specified
    with) and return :func:`drawn_colours`; the provenance goes into the PNG's text chunks."""
    colours = drawn_colours(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Software": "auflow"}
    if provenance is not None:
        metadata["Description"] = json.dumps(
            {k: provenance[k] for k in ("config_hash", "auflow_version", "git") if k in provenance}
            | {"labels_sha256": provenance.get("dataset", {}).get("labels_sha256")},
            sort_keys=True,
        )
    fig.savefig(path, dpi=DPI, metadata=metadata)
    plt.close(fig)
    return colours


def _model_label(model: str, extractor: str, several_extractors: bool) -> str:
    return f"{model} ({extractor})" if several_extractors else model


def _splits_in_order(table: pd.DataFrame) -> list[tuple[str, bool]]:
    """(split, leaky) pairs of a table: the main dataset's subject-exclusive splits first, then
    the cross datasets (``cross:<name>``), then the leaky splits."""
    pairs = {(str(s), bool(k)) for s, k in table[["split", "leaky"]].itertuples(index=False)}
    return sorted(pairs, key=lambda pair: (pair[1], is_cross_split(pair[0]), pair[0]))


def _several_extractors(models: list[tuple[str, str]]) -> bool:
    """Whether a model name stands for more than one (model, extractor) pair, so that labels
    must name the features too."""
    names = [m for m, _ in models]
    return len(set(names)) < len(names)


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def _models(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(model, extractor) pairs of a table in model order."""
    pairs = table[["classifier", "extractor"]].drop_duplicates().itertuples(index=False)
    order = {m: i for i, m in enumerate(model_order(table["classifier"]))}
    return sorted(((str(m), str(e)) for m, e in pairs), key=lambda p: (order[p[0]], p[1]))


# --- models: scores per AU --------------------------------------------------------------------


def plot_f1_per_au(
    summary: pd.DataFrame,
    averages: pd.DataFrame,
    aus,
    colours: dict[str, str],
    path: str | Path,
    provenance: dict | None = None,
) -> dict[str, set[str]]:
    """F1 per AU, one bar per model: the mean over test folds with ± 1 sd over folds as error
    bars, then the same for the 8-DISFA-AU and the all-AU averages. One panel per split, the
    subject-exclusive split on top.

    Parameters
    ----------
    summary : :func:`auflow.evaluation.aggregate.summary_table`.
    averages : :func:`auflow.evaluation.aggregate.averages_table` (its fold means and sds are
        drawn).
    aus : configured AUs (ints). colours : :func:`model_colours` of the run.
    """
    fig = _figure("f1_per_au")
    splits = _splits_in_order(summary)
    axes = fig.subplots(len(splits), 1, squeeze=False)[:, 0]
    folds = averages[averages["metric"] == HEADLINE_METRIC]
    for ax, (split, leaky) in zip(axes, splits, strict=True):
        part = summary[(summary["split"] == split) & (summary["au"] != 0)]
        models = _models(part)
        several = _several_extractors(models)
        groups = [au_column(au) for au in aus] + [
            AVERAGES[a] for a in AVERAGES if average_aus(aus, a)
        ]
        width = 0.84 / max(len(models), 1)
        for i, (model, extractor) in enumerate(models):
            rows = part[(part["classifier"] == model) & (part["extractor"] == extractor)]
            per_au = rows.groupby("au")[HEADLINE_METRIC].agg(["mean", "std"])
            means = [per_au["mean"].get(au, np.nan) for au in aus]
            sds = [per_au["std"].get(au, np.nan) for au in aus]
            for average in AVERAGES:
                if not average_aus(aus, average):
                    continue
                row = folds[
                    (folds["classifier"] == model)
                    & (folds["extractor"] == extractor)
                    & (folds["split"] == split)
                    & (folds["average"] == average)
                ]
                means.append(row["fold_mean"].iloc[0] if len(row) else np.nan)
                sds.append(row["fold_sd"].iloc[0] if len(row) else np.nan)
            x = np.arange(len(groups)) - 0.42 + width * (i + 0.5)
            bars = ax.bar(
                x,
                np.nan_to_num(means),
                width,
                # a cross dataset is scored once, on all its frames: no spread to draw
                yerr=None if is_cross_split(split) else np.nan_to_num(sds),
                color=colours[model],
                label=_model_label(model, extractor, several),
                error_kw={"elinewidth": 0.7, "capsize": 1.5, "ecolor": "#333"},
            )
            _tag(bars, model)
        ax.axvline(len(aus) - 0.5, color="#999", lw=0.8)
        ax.set_xticks(np.arange(len(groups)), groups)
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_ylim(0, 1)
        ax.set_ylabel("F1 (all frames)" if is_cross_split(split) else "F1 (mean over folds)")
        leak = "  —  LEAKY: test subjects' frames are in training" if leaky else ""
        title = f"F1 per AU, split {split}: mean over test folds, error bar ± 1 sd{leak}"
        if is_cross_split(split):
            title = (
                f"F1 per AU, cross dataset {cross_name(split)}: the final models (fitted on "
                "every subject of the main dataset) on all its frames, no error bar"
            )
        ax.set_title(title)
        ax.legend(fontsize="small", ncol=min(len(models), 8), loc="upper left")
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, "f1_per_au", path, provenance)


def _pooled_matrix(pooled: pd.DataFrame, aus, metric: str = HEADLINE_METRIC) -> pd.DataFrame:
    """Rows (model, extractor) in model order, columns the AUs then the two averages."""
    part = pooled[pooled["metric"] == metric]
    matrix = part[part["au"] != 0].pivot_table(
        index=["classifier", "extractor"], columns="au", values="value", dropna=False
    )
    matrix = matrix.reindex(columns=list(aus))
    matrix.columns = [au_column(au) for au in aus]
    for average, label in AVERAGES.items():
        chosen = [au_column(au) for au in average_aus(aus, average)]
        if chosen:
            matrix[label] = matrix[chosen].mean(axis=1)
    rows = [(m, e) for m, e in _models(part) if (m, e) in matrix.index]
    return matrix.loc[rows]


def plot_f1_heatmap(
    pooled: pd.DataFrame,
    aus,
    colours: dict[str, str],
    path: str | Path,
    provenance: dict | None = None,
) -> dict[str, set[str]]:
    """Model x AU heatmap of pooled F1 (every test frame of every fold scored together), with
    the two averages as the last columns; one panel per split, the honest one on top. Model
    names are written in their colour."""
    fig = _figure("f1_heatmap")
    splits = _splits_in_order(pooled)
    axes = fig.subplots(len(splits), 1, squeeze=False)[:, 0]
    image = None
    for ax, (split, leaky) in zip(axes, splits, strict=True):
        matrix = _pooled_matrix(pooled[pooled["split"] == split], aus)
        values = matrix.to_numpy(float)
        image = ax.imshow(
            np.ma.masked_invalid(values),
            vmin=0,
            vmax=1,
            cmap=matplotlib.colormaps["viridis"].with_extremes(bad="#dddddd"),
            aspect="auto",
        )
        for (r, c), value in np.ndenumerate(values):
            text = "–" if np.isnan(value) else f"{value:.2f}"
            shade = "black" if np.isnan(value) or value > 0.6 else "white"
            ax.text(c, r, text, ha="center", va="center", fontsize=8, color=shade)
        several = _several_extractors(list(matrix.index))
        ax.set_yticks(
            np.arange(len(matrix)),
            [_model_label(m, e, several) for m, e in matrix.index],
        )
        for label, (model, _) in zip(ax.get_yticklabels(), matrix.index, strict=True):
            label.set_color(colours[model])
            label.set_fontweight("bold")
            _tag(label, model)
        ax.set_xticks(np.arange(matrix.shape[1]), matrix.columns)
        ax.axvline(len(aus) - 0.5, color="white", lw=2)
        leak = "  —  LEAKY split, do not report" if leaky else ""
        ax.set_title(f"Pooled F1 per model and AU, split {split}{leak}")
    if image is not None:
        fig.colorbar(image, ax=list(axes), label="pooled F1", shrink=0.8)
    return _save(fig, "f1_heatmap", path, provenance)


def plot_f1_vs_base_rate(
    pooled: pd.DataFrame,
    split: str,
    colours: dict[str, str],
    path: str | Path,
    provenance: dict | None = None,
) -> dict[str, set[str]]:
    """Pooled F1 of each model and AU against how often the AU occurs (split ``split``), with
    the F1 of always answering yes, 2p / (1 + p), as the floor a detector must rise above."""
    fig = _figure("f1_vs_base_rate")
    ax = fig.subplots()
    part = pooled[(pooled["split"] == split) & (pooled["au"] != 0)]
    # every metric kept, an undefined one (all NaN: no positives anywhere) too
    table = part.pivot_table(
        index=["classifier", "extractor", "au"], columns="metric", values="value", dropna=False
    ).reset_index()
    models = _models(part)
    several = _several_extractors(models)
    for model, extractor in models:
        rows = table[(table["classifier"] == model) & (table["extractor"] == extractor)]
        points = ax.scatter(
            rows["base_rate"],
            rows[HEADLINE_METRIC],
            s=36,
            color=colours[model],
            label=_model_label(model, extractor, several),
            edgecolors="white",
            linewidths=0.5,
            zorder=3,
        )
        _tag(points, model)
    rates = table.groupby("au")["base_rate"].first()
    top = max(0.05, float(np.nanmax(rates.to_numpy())) * 1.1) if len(rates) else 1.0
    p = np.linspace(0, top, 200)
    ax.plot(p, 2 * p / (1 + p), "--", color="black", lw=1, label="always yes: 2p / (1 + p)")
    for au, rate in rates.items():
        ax.annotate(
            au_name(au), (rate, 1.0), rotation=90, fontsize=7, ha="center", va="top", color="#555"
        )
    ax.set_xlim(0, top)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("base rate p (share of test frames in which the AU occurs)")
    ax.set_ylabel("pooled F1")
    ax.set_title(f"F1 against base rate, split {split}: rare AUs are harder")
    ax.legend(fontsize="small", loc="center right")
    ax.grid(alpha=0.3)
    return _save(fig, "f1_vs_base_rate", path, provenance)


# --- models: the best model's predictions ----------------------------------------------------


def best_model(pooled: pd.DataFrame, split: str) -> tuple[str, str]:
    """(model, extractor) with the highest pooled mean F1 on ``split`` among the models other
    than the baseline (the baseline only when it is the only one; ties: model order). The
    figures of predictions show this model, the one a reader would consider using; the
    baseline is the floor it is compared with."""
    means = pooled[
        (pooled["split"] == split) & (pooled["au"] == 0) & (pooled["metric"] == HEADLINE_METRIC)
    ]
    means = means[means["value"].notna()]
    if means.empty:
        raise ValueError(f"pooled metrics: no model has a defined mean F1 on split {split}")
    if (means["classifier"] != BASELINE).any():
        means = means[means["classifier"] != BASELINE]
    order = {m: i for i, m in enumerate(model_order(means["classifier"]))}
    means = means.assign(order=means["classifier"].map(order))
    best = means.sort_values(["value", "order"], ascending=[False, True]).iloc[0]
    return str(best["classifier"]), str(best["extractor"])


def with_truth(predictions: pd.DataFrame, labels: pd.DataFrame, aus) -> pd.DataFrame:
    """Predictions joined with the true intensities ``AU01``... of their frames, sorted by
    subject and frame."""
    columns = ["subject", "frame", *[au_column(au) for au in aus]]
    joined = predictions.merge(labels[columns], on=["subject", "frame"], how="inner")
    return joined.sort_values(["subject", "frame"]).reset_index(drop=True)


def _grid(n: int, columns: int = 4) -> tuple[int, int]:
    return max(1, int(np.ceil(n / columns))), min(n, columns) or 1


def plot_pr_curves(
    predictions: dict[str, pd.DataFrame],
    labels: pd.DataFrame,
    aus,
    threshold: int,
    best: str,
    colours: dict[str, str],
    path: str | Path,
    provenance: dict | None = None,
) -> dict[str, set[str]]:
    """Precision-recall curve per AU of the best model on its pooled test frames (the ``_p``
    scores of every fold together), the baseline's curve beside it when there is one, each
    model's operating point (its ``_c`` decisions) as a dot, and the base rate (a detector
    without skill) as a dashed line.

    Parameters
    ----------
    predictions : model -> its predictions on every test fold, concatenated; ``best`` and
        optionally ``baseline``.
    labels : ``subject``, ``frame``, ``AU01``... intensities; ``threshold``: occurrence.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig = _figure("pr_curves")
    rows, cols = _grid(len(aus))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    shown = [m for m in dict.fromkeys([best, BASELINE]) if m in predictions]
    joined = {m: with_truth(predictions[m], labels, aus) for m in shown}
    for ax, au in zip(axes, aus, strict=False):
        column = au_column(au)
        base_rate = None
        for model in shown:
            table = joined[model]
            truth = occurs(table[column], threshold).to_numpy()
            if f"{column}_p" not in table or truth.sum() == 0 or truth.all():
                continue
            scores = table[f"{column}_p"].to_numpy(float)
            precision, recall, _ = precision_recall_curve(truth, scores)
            ap = average_precision_score(truth, scores)
            best_line = model == best
            (line,) = ax.step(
                recall,
                precision,
                where="post",
                color=colours[model],
                lw=1.8 if best_line else 1.0,
                label=f"{model} AP {ap:.2f}",
            )
            _tag(line, model)
            decided = table[f"{column}_c"].to_numpy() == 1
            hits = (decided & truth).sum()
            point_p = hits / decided.sum() if decided.sum() else 1.0
            dot = ax.scatter(
                [hits / truth.sum()],
                [point_p],
                color=colours[model],
                edgecolors="black",
                s=30,
                zorder=4,
            )
            _tag(dot, model)
            base_rate = truth.mean()
        if base_rate is None:
            _no_data(ax, f"{column}: no positive (or no negative) test frame")
            continue
        ax.axhline(base_rate, ls="--", color="#888", lw=0.8)
        ax.set_title(f"{column} (base rate {base_rate:.2f})", fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    for ax in axes[len(aus) :]:
        ax.set_axis_off()
    fig.supxlabel("recall")
    fig.supylabel("precision")
    fig.suptitle(
        f"Precision-recall per AU, pooled test frames: {best} (the best model by pooled mean F1) "
        "against the baseline; "
        "dot = its chosen threshold, dashed = base rate"
    )
    return _save(fig, "pr_curves", path, provenance)


def cooccurrence(occurrence: np.ndarray) -> np.ndarray:
    """P(AU j occurs | AU i occurs) from an (n_frames, n_aus) 0/1 array: an (n_aus, n_aus)
    float array, NaN in the rows of AUs that never occur."""
    occurrence = np.asarray(occurrence, dtype=np.float64)
    together = occurrence.T @ occurrence
    counts = np.diag(together).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts[:, None] > 0, together / counts[:, None], np.nan)


def plot_cooccurrence(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    aus,
    threshold: int,
    model: str,
    colours: dict[str, str],
    path: str | Path,
    provenance: dict | None = None,
) -> dict[str, set[str]]:
    """AU co-occurrence, true (left) and as ``model`` predicts it (right), on the pooled test
    frames: cell (i, j) is the share of frames with AU i in which AU j also occurs."""
    fig = _figure("cooccurrence")
    axes = fig.subplots(1, 2)
    joined = with_truth(predictions, labels, aus)
    names = [au_column(au) for au in aus]
    truth = occurs(joined[names].to_numpy(), threshold).astype(int)
    predicted = joined[[f"{n}_c" for n in names]].to_numpy().astype(int)
    image = None
    for ax, matrix, title in (
        (axes[0], cooccurrence(truth), "true (labels)"),
        (axes[1], cooccurrence(predicted), f"predicted by {model}"),
    ):
        image = ax.imshow(
            np.ma.masked_invalid(matrix),
            vmin=0,
            vmax=1,
            cmap=matplotlib.colormaps["Blues"].with_extremes(bad="#dddddd"),
        )
        for (r, c), value in np.ndenumerate(matrix):
            if not np.isnan(value):
                shade = "white" if value > 0.6 else "black"
                ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=6, color=shade)
        ax.set_xticks(np.arange(len(names)), names, rotation=90)
        ax.set_yticks(np.arange(len(names)), names)
        ax.set_xlabel("AU j also occurs")
        ax.set_ylabel("given AU i occurs")
        heading = ax.set_title(f"P(AU j | AU i), {title}")
        if title.startswith("predicted"):
            heading.set_color(colours[model])
            _tag(heading, model)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="share of frames")
    return _save(fig, "cooccurrence", path, provenance)


def example_frames(joined: pd.DataFrame, aus, threshold: int, n: int = 4) -> pd.DataFrame:
    """``n`` test frames worth looking at: in each subject (in name order, then again) the frame
    with the most AUs occurring that is not chosen yet (ties: the earliest frame)."""
    names = [au_column(au) for au in aus]
    ranked = joined.assign(active=occurs(joined[names], threshold).sum(axis=1))
    ranked = ranked.sort_values(["subject", "active", "frame"], ascending=[True, False, True])
    ranked["rank"] = ranked.groupby("subject").cumcount()
    return ranked.sort_values(["rank", "subject"]).head(n).reset_index(drop=True)


def plot_face_examples(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    images_root: str | Path,
    aus,
    threshold: int,
    model: str,
    colours: dict[str, str],
    path: str | Path,
    provenance: dict | None = None,
    n: int = 4,
) -> dict[str, set[str]]:
    """A few test frames: the face image beside its true AUs (dark squares, with the labelled
    intensity) and the AUs ``model`` predicts (squares in its colour, with its score).

    ``images_root`` is the dataset's image folder (``<root>/<images>``); a frame's file is found
    as the pipeline finds it, with :func:`auflow.io.images.list_frames`.
    """
    from auflow.io.images import list_frames, load_face

    fig = _figure("face_examples")
    joined = with_truth(predictions, labels, aus)
    chosen = example_frames(joined, aus, threshold, n)
    grid = fig.add_gridspec(max(len(chosen), 1), 2, width_ratios=[1, 5])
    files: dict[str, dict[int, Path]] = {}
    names = [au_column(au) for au in aus]
    for row, frame in enumerate(chosen.itertuples(index=False)):
        subject = str(frame.subject)
        if subject not in files:
            folder = Path(images_root) / subject
            files[subject] = dict(list_frames(folder)) if folder.is_dir() else {}
        face_ax = fig.add_subplot(grid[row, 0])
        image_path = files[subject].get(int(frame.frame))
        if image_path is None:
            _no_data(face_ax, f"no image for frame {frame.frame}\nin {images_root}/{subject}")
        else:
            face_ax.imshow(load_face(image_path), cmap="gray", vmin=0, vmax=1)
            face_ax.set_axis_off()
        face_ax.set_title(f"{subject} frame {frame.frame} (test fold {frame.fold})", fontsize=9)
        ax = fig.add_subplot(grid[row, 1])
        values = frame._asdict()
        for c, name in enumerate(names):
            intensity = int(values[name])
            present = occurs(intensity, threshold)
            ax.add_patch(
                matplotlib.patches.Rectangle(
                    (c - 0.4, 1.1),
                    0.8,
                    0.8,
                    facecolor=TRUTH_COLOUR if present else "white",
                    edgecolor="#999",
                )
            )
            ax.text(
                c, 1.5, str(intensity), ha="center", va="center", fontsize=8,
                color="white" if present else "#999",
            )  # fmt: skip
            decided = int(values[f"{name}_c"]) == 1
            square = matplotlib.patches.Rectangle(
                (c - 0.4, 0.1),
                0.8,
                0.8,
                facecolor=colours[model] if decided else "white",
                edgecolor="#999",
            )
            ax.add_patch(square)
            if decided:
                _tag(square, model)
            score = values.get(f"{name}_p")
            if score is not None and np.isfinite(score):
                ax.text(c, 0.5, f"{score:.2f}", ha="center", va="center", fontsize=7)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_ylim(0, 2)
        ax.set_xticks(np.arange(len(names)), names, fontsize=8)
        ax.set_yticks([0.5, 1.5], [f"predicted\n({model})", "true\n(intensity)"], fontsize=8)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        truth = np.array([occurs(int(values[c]), threshold) for c in names])
        decisions = np.array([int(values[f"{c}_c"]) == 1 for c in names])
        ax.set_title(
            f"{truth.sum()} AUs occur, {decisions.sum()} predicted, "
            f"{(truth & decisions).sum()} of them right",
            fontsize=9,
            loc="left",
        )
    if chosen.empty:
        _no_data(fig.add_subplot(grid[0, :]), "no test frames")
    fig.suptitle(f"Test frames with the AUs labelled and those {model} predicts (score inside)")
    return _save(fig, "face_examples", path, provenance)


def example_subject(joined: pd.DataFrame, aus, threshold: int) -> str:
    """The test subject with the most AU-positive frames (ties: the first by name)."""
    names = [au_column(au) for au in aus]
    counts = occurs(joined[names], threshold).sum(axis=1).groupby(joined["subject"]).sum()
    return str(counts.sort_index().idxmax())


def plot_au_time_series(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    aus,
    threshold: int,
    model: str,
    colours: dict[str, str],
    path: str | Path,
    provenance: dict | None = None,
) -> dict[str, set[str]]:
    """True and predicted AUs over time for one test subject (:func:`example_subject`): per AU
    the labelled intensity (black, left axis) with the frames where the AU occurs shaded, the
    model's score (its colour, right axis) and the frames it decides the AU occurs (a band in
    its colour along the bottom)."""
    fig = _figure("au_time_series")
    joined = with_truth(predictions, labels, aus)
    subject = example_subject(joined, aus, threshold)
    frames = joined[joined["subject"] == subject]
    axes = fig.subplots(len(aus), 1, sharex=True, squeeze=False)[:, 0]
    x = frames["frame"].to_numpy()
    for ax, au in zip(axes, aus, strict=True):
        column = au_column(au)
        intensity = frames[column].to_numpy()
        ax.fill_between(
            x, 0, 5, where=occurs(intensity, threshold), step="mid", color="#dddddd", lw=0
        )
        ax.step(x, intensity, where="mid", color=TRUTH_COLOUR, lw=1)
        ax.set_ylim(0, 5.2)
        ax.set_yticks([0, 5])
        ax.set_ylabel(column, rotation=0, ha="right", va="center")
        decided = frames[f"{column}_c"].to_numpy() == 1
        band = ax.fill_between(
            x,
            0,
            0.6,
            where=decided,
            step="mid",
            color=colours[model],
            lw=0,
            alpha=0.9,
        )
        _tag(band, model)
        if f"{column}_p" in frames:
            score_ax = ax.twinx()
            (line,) = score_ax.plot(x, frames[f"{column}_p"].to_numpy(), color=colours[model], lw=1)
            _tag(line, model)
            score_ax.tick_params(labelsize=7, colors=colours[model])
    axes[-1].set_xlabel("frame")
    fig.suptitle(
        f"Subject {subject} over time: labelled intensity (black, shaded where the AU occurs), "
        f"{model}'s score (line, right axis) and decisions (band at the bottom)"
    )
    return _save(fig, "au_time_series", path, provenance)


def plot_optuna_history(
    trials: dict[str, pd.DataFrame],
    model: str | dict[str, str],
    colours: dict[str, str],
    path: str | Path,
    provenance: dict | None = None,
) -> dict[str, set[str]]:
    """The Optuna optimisation history of each fold's study: every finished trial's inner score
    (dots) and the best so far (line), one marker and line style per fold.

    Parameters
    ----------
    trials : study label (``fold 0``, or ``hog fold 0`` with several extractors) -> the study's
        ``trials.parquet`` (``number``, ``value``, ``state``).
    model : the tuned model's label (``optuna_<classifier>``), whose colour is used; or, with
        several studied models, study label -> model label.
    """
    models = model if isinstance(model, dict) else dict.fromkeys(trials, model)
    fig = _figure("optuna_history")
    ax = fig.subplots()
    markers = "osD^v<>p"
    styles = ["-", "--", ":", "-."]
    for i, (study, table) in enumerate(trials.items()):
        done = table[table["state"].astype(str).str.upper().str.endswith("COMPLETE")]
        done = done.sort_values("number")
        dots = ax.scatter(
            done["number"],
            done["value"],
            color=colours[models[study]],
            marker=markers[i % len(markers)],
            s=28,
            alpha=0.7,
            label=f"{study}: trial",
        )
        _tag(dots, models[study])
        (line,) = ax.step(
            done["number"],
            done["value"].cummax(),
            where="post",
            color=colours[models[study]],
            ls=styles[i % len(styles)],
            label=f"{study}: best so far",
        )
        _tag(line, models[study])
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel("inner-split score (training subjects only)")
    names = ", ".join(dict.fromkeys(models.values()))
    ax.set_title(f"Optuna optimisation history of {names}, one study per test fold")
    ax.legend(fontsize="small", ncol=2)
    ax.grid(alpha=0.3)
    return _save(fig, "optuna_history", path, provenance)


def plot_study(study, model: str, label: str, paths) -> None:
    """One study's own figures, drawn by ``optuna.visualization.matplotlib``: its optimisation
    history (``paths.history``) and the importance of each tuned parameter (``paths.importance``;
    a note instead when Optuna cannot rank them, e.g. with fewer than two finished trials).

    Parameters
    ----------
    model : the tuned model's label (``optuna_<classifier>``); label : which study (its fold).
    """
    import warnings

    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    drawers = {
        "history": optuna_plots.plot_optimization_history,
        "importance": optuna_plots.plot_param_importances,
    }
    titles = {
        "history": f"{model}, {label}: inner-split score of each trial and the best so far",
        "importance": f"{model}, {label}: importance of each tuned parameter (fANOVA)",
    }
    for kind, draw in drawers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                fig = draw(study).figure
            except (ValueError, RuntimeError) as error:
                fig = plt.figure(figsize=STUDY_FIGURE_SIZE, dpi=DPI)
                _no_data(fig.subplots(), f"Optuna cannot draw this study's {kind}: {error}")
        fig.set_size_inches(*STUDY_FIGURE_SIZE)
        ax = fig.axes[0]
        for side in ("left", "center", "right"):
            ax.set_title("", loc=side)  # Optuna's own title, replaced by one naming the study
        ax.set_title(titles[kind], fontsize="medium", loc="left")
        fig.tight_layout()
        _save(fig, "study", getattr(paths, kind), None)


def plot_leakage(
    pooled: pd.DataFrame,
    honest: str,
    leaky: str,
    colours: dict[str, str],
    path: str | Path,
    provenance: dict | None = None,
) -> dict[str, set[str]]:
    """Pooled mean F1 over AUs of each model under the honest split (solid bar) and the leaky
    split (hatched bar), with the gap written above."""
    fig = _figure("leakage")
    ax = fig.subplots()
    means = pooled[(pooled["au"] == 0) & (pooled["metric"] == HEADLINE_METRIC)]
    models = [
        (m, e)
        for m, e in _models(means[means["split"] == leaky])
        if len(means[(means["classifier"] == m) & (means["split"] == honest)])
    ]
    for i, (model, extractor) in enumerate(models):
        rows = means[(means["classifier"] == model) & (means["extractor"] == extractor)]
        value = {s: rows.loc[rows["split"] == s, "value"].iloc[0] for s in (honest, leaky)}
        solid = ax.bar(i - 0.2, value[honest], 0.4, color=colours[model])
        hatched = ax.bar(
            i + 0.2, value[leaky], 0.4, color=colours[model], alpha=0.45, hatch="//",
            edgecolor="black",
        )  # fmt: skip
        _tag(solid, model)
        _tag(hatched, model)
        top = np.nanmax([value[honest], value[leaky]])
        ax.text(i, top + 0.02, f"{value[leaky] - value[honest]:+.2f}", ha="center", fontsize=9)
    ax.set_xticks(np.arange(len(models)), [m for m, _ in models])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("pooled F1, mean over AUs")
    ax.set_title(
        f"Leakage: solid = {honest} (subject-exclusive), hatched = {leaky} (leaky); "
        "number = what the leak adds"
    )
    ax.grid(axis="y", alpha=0.3)
    if not models:
        _no_data(ax, "no model was run under both splits")
    return _save(fig, "leakage", path, provenance)


# --- data and features -------------------------------------------------------------------------


def plot_data_overview(
    labels: pd.DataFrame,
    aus,
    threshold: int,
    path: str | Path,
    provenance: dict | None = None,
) -> dict[str, set[str]]:
    """The labelled data: frames per subject (left) and, per subject and AU, the share of frames
    in which the AU occurs (right)."""
    fig = _figure("data_overview")
    left, right = fig.subplots(1, 2, width_ratios=[1, 3])
    names = [au_column(au) for au in aus]
    counts = labels.groupby("subject").size().sort_index()
    left.barh(np.arange(len(counts)), counts.to_numpy(), color="#4a6b8a")
    left.set_yticks(np.arange(len(counts)), counts.index)
    left.invert_yaxis()
    left.set_xlabel("labelled frames")
    left.set_title(f"{len(counts)} subjects, {int(counts.sum())} frames")
    rates = occurs(labels[names], threshold).groupby(labels["subject"]).mean().sort_index()
    image = right.imshow(rates.to_numpy(float), vmin=0, vmax=1, cmap="magma_r", aspect="auto")
    for (r, c), value in np.ndenumerate(rates.to_numpy(float)):
        right.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=7,
                   color="white" if value > 0.5 else "black")  # fmt: skip
    right.set_xticks(np.arange(len(names)), names)
    right.set_yticks(np.arange(len(rates)), rates.index)
    right.set_title(f"share of frames in which each AU occurs (intensity ≥ {threshold})")
    fig.colorbar(image, ax=right, shrink=0.8, label="base rate")
    return _save(fig, "data_overview", path, provenance)


def gabor_columns(extractor: str, columns) -> list[str]:
    """The feature columns :func:`gabor_profile` reads for ``extractor`` (its ``RESPONSES``)."""
    responses = EXTRACTORS[extractor].RESPONSES
    return [c for c in columns if responses.key(c) is not None]


def gabor_profile(dataset: pd.DataFrame, extractor: str) -> tuple[pd.DataFrame, str]:
    """Per subject, the average Gabor response of ``extractor``'s features.

    Returns
    -------
    (table, x_label): rows the subjects, columns the histogram bins (``gabor_hist_seed``,
    ``gabor_hist``: the mean histogram over frames, and over filters for ``gabor_hist``) or the
    filters (``gabor_energy``: the mean Gabor magnitude over frames and face cells), as the
    extractor's ``RESPONSES`` (:class:`auflow.features.descriptors.Responses`) say.
    """
    responses = EXTRACTORS[extractor].RESPONSES
    columns = gabor_columns(extractor, dataset.columns)
    if not columns:
        raise ValueError(f"dataset of {extractor}: no Gabor feature columns found")
    per_subject = dataset.groupby("subject")[columns].mean()
    keys = [responses.key(c) for c in columns]
    profile = per_subject.T.groupby(keys, sort=False).mean().T
    return profile, responses.axis


def plot_gabor_responses(
    dataset: pd.DataFrame,
    extractor: str,
    path: str | Path,
    provenance: dict | None = None,
) -> dict[str, set[str]]:
    """The average Gabor response per subject (one line per subject): the mean histogram for the
    histogram extractors, the mean energy per filter for ``gabor_energy``. Subjects that stand
    apart are where subject normalisation matters."""
    fig = _figure("gabor_responses")
    ax = fig.subplots()
    profile, label = gabor_profile(dataset, extractor)
    responses = EXTRACTORS[extractor].RESPONSES
    palette = matplotlib.colormaps["viridis"]
    positions = np.arange(profile.shape[1])
    for i, (subject, values) in enumerate(profile.iterrows()):
        colour = palette(i / max(len(profile) - 1, 1))
        ax.plot(positions, values.to_numpy(float), "-o", ms=3, lw=1, color=colour, label=subject)
    ax.set_xticks(positions, [str(k) for k in profile.columns], rotation=90 if profile.shape[1]
                  > 20 or not responses.numbered else 0, fontsize=8)  # fmt: skip
    ax.set_xlabel(label)
    what = responses.value
    ax.set_ylabel(what)
    ax.set_title(f"{extractor}: {what} per subject (mean over the subject's frames)")
    ax.legend(fontsize="small", ncol=max(1, len(profile) // 12), title="subject")
    ax.grid(alpha=0.3)
    return _save(fig, "gabor_responses", path, provenance)
