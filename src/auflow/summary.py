"""The whole run's outputs, from every fold's files: the metric tables, their Markdown and HTML
pages, the figures of the scores and the leakage comparison, one function per rule.

Each function reads the files it is given, computes with :mod:`auflow.evaluation.aggregate`,
writes with :mod:`auflow.report`, :mod:`auflow.html_page` and :mod:`auflow.plots`, and stamps
every output with the run's provenance (``results/provenance.json``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from auflow.cross import cross_pooled, generalisation_table
from auflow.evaluation.aggregate import (
    BASELINE,
    averages_table,
    best_per_au,
    leakage_table,
    load_metrics,
    pooled_metrics,
    summary_table,
)
from auflow.html_page import markdown_html
from auflow.io.dataset import concat_tables
from auflow.io.parquet import read_table, write_table
from auflow.layout import parse_fold_table, parse_study_file
from auflow.provenance import table_provenance, write_csv
from auflow.report import headline_markdown, leakage_markdown, markdown_summary
from auflow.settings import EvaluationSettings


def write_summary(
    metrics,
    cross_metrics,
    predictions,
    labels,
    provenance: str,
    settings: EvaluationSettings,
    split: str,
    out,
) -> None:
    """Every fold's metrics in one table, pooled scores, the averages and the best model per AU,
    as Parquet, CSV, Markdown and HTML, each with the run's provenance.

    Parameters
    ----------
    metrics, cross_metrics, predictions, labels : the fold metrics tables, the cross datasets'
        metrics tables, the fold predictions tables and every subject's labels table (paths).
    split : the configured split (the Generalisation section's within scores).
    out : paths ``per_fold``, ``pooled``, ``csv``, ``pooled_csv``, ``averages``,
        ``best_per_au``, ``generalisation`` (empty without cross datasets), ``markdown``,
        ``html``, ``headline`` (attributes).
    """
    stamp = table_provenance(provenance)
    per_fold = load_metrics([*metrics, *cross_metrics])
    pooled = pooled_metrics(
        predictions, concat_tables(labels), settings.aus, settings.occurrence_threshold
    )
    # a cross dataset is one "fold": its pooled rows are its fold's
    cross = cross_pooled(cross_metrics)
    if cross is not None:
        pooled = pd.concat([pooled, cross], ignore_index=True)
    summary = summary_table(per_fold)
    write_table(per_fold, out.per_fold, stamp)
    write_table(pooled, out.pooled, stamp)
    write_csv(summary, out.csv, stamp)
    write_csv(pooled, out.pooled_csv, stamp)
    write_csv(averages_table(summary, pooled, settings.aus), out.averages, stamp)
    write_csv(best_per_au(pooled), out.best_per_au, stamp)
    markdown = markdown_summary(summary, pooled, settings.aus, stamp, split)
    if out.generalisation:
        write_csv(generalisation_table(pooled, split), out.generalisation, stamp)
    Path(out.markdown).write_text(markdown)
    Path(out.html).write_text(markdown_html(markdown, "auflow metrics summary"))
    Path(out.headline).write_text(markdown_html(headline_markdown(summary, pooled, settings.aus)))


def _predictions_of(paths, split: str, extractor: str, model: str) -> pd.DataFrame | None:
    """The fold predictions of ``model`` on ``extractor`` under ``split`` among ``paths``, in
    one table (None when there are none)."""
    files = [f for f in paths if parse_fold_table(f)[:3] == (split, extractor, model)]
    if not files:
        return None
    return pd.concat([read_table(f) for f in files], ignore_index=True)


def _study_labels(trial_paths) -> tuple[dict[str, str], dict[str, str]]:
    """Each study's label in the history figure (``fold 0``; with several extractors or models
    these prefixed) and its tuned model's label (``optuna_<model>``), by trials file."""
    studies = {f: parse_study_file(f) for f in trial_paths}
    several_extractors = len({s.extractor for s in studies.values()}) > 1
    several_models = len({s.model for s in studies.values()}) > 1
    labels = {
        f: (f"{s.extractor} " if several_extractors else "")
        + (f"{s.model} " if several_models else "")
        + f"fold {s.fold}"
        for f, s in studies.items()
    }
    return labels, {f: f"optuna_{s.model}" for f, s in studies.items()}


def draw_metric_figures(
    per_fold: str,
    pooled: str,
    predictions,
    labels,
    trials,
    provenance: str,
    *,
    aus,
    threshold: int,
    split: str,
    baseline_extractor: str,
    images: str,
    out,
) -> None:
    """The figures of the models' scores and of the best model's predictions on ``split``.

    Parameters
    ----------
    per_fold, pooled : ``per_fold.parquet`` and ``pooled.parquet``.
    predictions, labels, trials : the fold predictions tables of the configured split, every
        subject's labels table, and the trials table of every study (paths).
    images : the folder of the face images (the examples figure).
    out : paths ``f1``, ``heatmap``, ``base_rate``, ``pr_curves``, ``cooccurrence``, ``faces``,
        ``time_series`` and ``study`` (empty without a study) (attributes).
    """
    from auflow import plots

    stamp = table_provenance(provenance)
    summary = summary_table(read_table(per_fold))
    pooled = read_table(pooled)
    labels = concat_tables(labels)
    # One colour map for every figure, made from every model of the run.
    colours = plots.model_colours(pooled["classifier"])
    averages = averages_table(summary, pooled, aus)
    plots.plot_f1_per_au(summary, averages, aus, colours, out.f1, stamp)
    plots.plot_f1_heatmap(pooled, aus, colours, out.heatmap, stamp)
    plots.plot_f1_vs_base_rate(pooled, split, colours, out.base_rate, stamp)

    best, extractor = plots.best_model(pooled, split)
    predicted = {}
    for model, model_extractor in ((best, extractor), (BASELINE, baseline_extractor)):
        table = _predictions_of(predictions, split, model_extractor, model)
        if table is not None:
            predicted[model] = table
    plots.plot_pr_curves(predicted, labels, aus, threshold, best, colours, out.pr_curves, stamp)
    mine = predicted[best]
    plots.plot_cooccurrence(mine, labels, aus, threshold, best, colours, out.cooccurrence, stamp)
    plots.plot_face_examples(mine, labels, images, aus, threshold, best, colours, out.faces, stamp)
    plots.plot_au_time_series(mine, labels, aus, threshold, best, colours, out.time_series, stamp)
    if getattr(out, "study", None):
        study_labels, tuned = _study_labels(trials)
        tables = {study_labels[f]: read_table(f) for f in trials}
        models = {study_labels[f]: tuned[f] for f in trials}
        plots.plot_optuna_history(tables, models, colours, out.study, stamp)


def write_leakage_comparison(
    per_fold: str, pooled: str, provenance: str, split: str, compared: str, out
) -> None:
    """The configured split and the one it is compared with (one of them the leaky
    ``random_frames``) side by side, with their difference: CSV, Markdown, HTML and figure.

    ``out``: paths ``csv``, ``markdown``, ``html``, ``plot`` (attributes).
    """
    from auflow.plots import model_colours, plot_leakage

    stamp = table_provenance(provenance)
    summary = summary_table(read_table(per_fold))
    pooled = read_table(pooled)
    honest, leaky = (compared, split) if split == "random_frames" else (split, compared)
    comparison = leakage_table(summary, honest, leaky)
    write_csv(comparison, out.csv, stamp)
    markdown = leakage_markdown(comparison, honest, leaky, stamp)
    Path(out.markdown).write_text(markdown)
    Path(out.html).write_text(markdown_html(markdown, "auflow leakage comparison"))
    colours = model_colours(pooled["classifier"])
    plot_leakage(pooled, honest, leaky, colours, out.plot, stamp)
