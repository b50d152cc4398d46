"""What a reader gets: the HTML report, tables that agree with the per-fold values and with
scikit-learn, figures of the specified size in one colour per model, and provenance everywhere."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import f1_score

from auflow import plots
from auflow.demo import DISFA_AUS
from auflow.evaluation.aggregate import (
    BASELINE,
    DISFA8_AUS,
    averages_table,
    best_per_au,
    summary_table,
)
from auflow.html_page import markdown_html
from auflow.io.parquet import read_metadata, read_table
from auflow.plots import model_colours
from auflow.provenance import companion_path, label_fingerprint

from conftest import REPO, TINY, TINY_CONFIG, snakemake

SPLIT = TINY_CONFIG["evaluation"]["split"]
EXTRACTOR = TINY_CONFIG["features"]["extractors"][0]
THRESHOLD = 2
# Every figure the tiny run makes: its study is on, its leakage comparison is on (the default)
# and its extractor is a Gabor histogram.
FIGURES = sorted(plots.FIGURE_SIZES)
TABLES_CSV = ["summary", "pooled", "averages", "best_per_au", "leakage"]


def labels_of(run) -> pd.DataFrame:
    return pd.concat(
        [read_table(p) for p in sorted((run / "results/labels").glob("*.parquet"))],
        ignore_index=True,
    )


def predictions_of(run, model: str, split: str = SPLIT) -> pd.DataFrame:
    extractor = "hog" if model == BASELINE else EXTRACTOR
    root = run / f"results/predictions/{split}/{extractor}/{model}"
    return pd.concat([read_table(p) for p in sorted(root.glob("fold*.parquet"))], ignore_index=True)


def honest_models(run) -> list[str]:
    pooled = read_table(run / "results/metrics/pooled.parquet")
    return sorted(pooled.loc[pooled["split"] == SPLIT, "classifier"].unique())


@pytest.fixture(scope="module")
def report_html(pipeline_run):
    snakemake(pipeline_run, "--report", "results/report.html")
    return (pipeline_run / "results/report.html").read_text()


# --- the HTML report ---------------------------------------------------------------------------


def test_report_builds_into_one_file_with_every_figure_and_category(pipeline_run, report_html):
    for figure in FIGURES:
        assert f"{figure}.png" in report_html
    for category in ("Data", "Features", "Models", "Leakage", "Study"):
        assert category in report_html
    for table in ("summary.html", "averages.csv", "best_per_au.csv", "leakage.html"):
        assert table in report_html
    # the figures are embedded, not linked: the file stands on its own
    assert report_html.count("data:image/png") >= len(FIGURES)


def test_report_front_page_shows_the_headline_and_captions(pipeline_run, report_html):
    pooled = read_table(pipeline_run / "results/metrics/pooled.parquet")
    means = pooled[(pooled["au"] == 0) & (pooled["metric"] == "f1") & (pooled["split"] == SPLIT)]
    best = means.loc[means["value"].idxmax()]
    assert "Headline (pooled F1, mean over AUs" in report_html
    assert "Pooled F1 on subjects never seen in training" in report_html
    assert f"{best['value']:.3f}" in report_html
    # a caption says how to read each figure
    assert "2p / (1 + p) is what a detector that always says" in report_html
    assert "1 standard deviation over folds: a long error bar" in report_html


# --- tables ------------------------------------------------------------------------------------


def test_summary_equals_the_fold_values_recomputed_from_per_fold(pipeline_run):
    per_fold = read_table(pipeline_run / "results/metrics/per_fold.parquet")
    f1 = per_fold[per_fold["metric"] == "f1"]
    averages = pd.read_csv(pipeline_run / "results/metrics/averages.csv")
    summary_csv = pd.read_csv(pipeline_run / "results/metrics/summary.csv")
    markdown = (pipeline_run / "results/metrics/summary.md").read_text()
    checked = 0
    for (extractor, model, split), rows in f1.groupby(["extractor", "classifier", "split"]):
        # the CSV's per-fold F1 is the per-fold table's value
        csv = summary_csv[
            (summary_csv["classifier"] == model)
            & (summary_csv["extractor"] == extractor)
            & (summary_csv["split"] == split)
        ].set_index(["fold", "au"])["f1"]
        expected = rows.set_index(["fold", "au"])["value"]
        np.testing.assert_allclose(csv.loc[expected.index], expected, rtol=1e-5)
        for average, aus in (("disfa8", DISFA8_AUS), ("all", DISFA_AUS)):
            fold_means = (
                rows[rows["au"].isin(aus)].groupby("fold")["value"].agg(lambda v: v.dropna().mean())
            )
            row = averages[
                (averages["classifier"] == model)
                & (averages["extractor"] == extractor)
                & (averages["split"] == split)
                & (averages["average"] == average)
                & (averages["metric"] == "f1")
            ].iloc[0]
            # a fold in which every AU of the average is undefined does not count
            assert row["n_folds"] == fold_means.notna().sum()
            assert row["fold_mean"] == pytest.approx(fold_means.mean(), rel=1e-5, nan_ok=True)
            assert row["fold_sd"] == pytest.approx(fold_means.std(), rel=1e-5, nan_ok=True)
            checked += 1
        # the Markdown's fold mean ± sd of the mean over AUs
        overall = rows[rows["au"] == 0]["value"]
        assert f"{overall.mean():.3f} ± {overall.std():.3f}" in markdown
    assert checked == 2 * f1.groupby(["extractor", "classifier", "split"]).ngroups


def test_pooled_f1_and_averages_equal_sklearn_on_the_concatenated_predictions(pipeline_run):
    labels = labels_of(pipeline_run)
    pooled = read_table(pipeline_run / "results/metrics/pooled.parquet")
    averages = pd.read_csv(pipeline_run / "results/metrics/averages.csv")
    best = pd.read_csv(pipeline_run / "results/metrics/best_per_au.csv")
    sklearn_f1 = {}
    for model in honest_models(pipeline_run):
        joined = predictions_of(pipeline_run, model).merge(labels, on=["subject", "frame"])
        assert len(joined) == TINY["subjects"] * TINY["frames"]
        mine = (pooled["classifier"] == model) & (pooled["split"] == SPLIT)
        rows = pooled[mine & (pooled["metric"] == "f1")].set_index("au")["value"]
        for au in DISFA_AUS:
            truth = joined[f"AU{au:02d}"] >= THRESHOLD
            predicted = joined[f"AU{au:02d}_c"]
            value = np.nan
            if truth.sum() + predicted.sum() > 0:
                value = f1_score(truth, predicted, zero_division=0)
                assert rows[au] == pytest.approx(value)
            else:
                assert np.isnan(rows[au])
            sklearn_f1[model, au] = value
        for average, aus in (("disfa8", DISFA8_AUS), ("all", DISFA_AUS)):
            row = averages[
                (averages["classifier"] == model)
                & (averages["split"] == SPLIT)
                & (averages["average"] == average)
                & (averages["metric"] == "f1")
            ].iloc[0]
            # the CSV keeps 6 significant digits
            expected = np.nanmean([sklearn_f1[model, a] for a in aus])
            assert row["pooled"] == pytest.approx(expected, rel=1e-5)
        assert rows[0] == pytest.approx(np.nanmean([sklearn_f1[model, a] for a in DISFA_AUS]))
    # the best model per AU is the one with the highest of those F1s
    for row in best[best["split"] == SPLIT].itertuples():
        scores = {m: sklearn_f1[m, row.au] for m in honest_models(pipeline_run)}
        if all(np.isnan(v) for v in scores.values()):
            continue
        assert row.f1 == pytest.approx(np.nanmax(list(scores.values())), rel=1e-5)
        assert sklearn_f1[row.model, row.au] == pytest.approx(row.f1, rel=1e-5)
        assert row.baseline == pytest.approx(scores[BASELINE], rel=1e-5, nan_ok=True)


def test_summary_opens_with_how_to_read_and_keeps_the_baseline_first(pipeline_run):
    markdown = (pipeline_run / "results/metrics/summary.md").read_text()
    head = markdown.split("## ", 1)[0]
    assert "How to read this" in head and "**Headline (pooled F1" in head
    table = markdown.split("## F1 averaged over the 8 DISFA AUs and over all AUs", 1)[1]
    first_row = [line for line in table.splitlines() if line.startswith("| ")][1]
    assert first_row.startswith(f"| baseline | hog | {SPLIT} |")
    assert "## Best model per AU" in markdown
    assert "## Leakage: the same models under a leaky frame split" in markdown
    html = (pipeline_run / "results/metrics/summary.html").read_text()
    tables = sum(line.startswith("|---") for line in markdown.splitlines())
    assert html.startswith("<!DOCTYPE html>") and html.count("<table>") == tables


def test_averages_table_all_aus_equals_the_pooled_mean_rows(pipeline_run):
    per_fold = read_table(pipeline_run / "results/metrics/per_fold.parquet")
    pooled = read_table(pipeline_run / "results/metrics/pooled.parquet")
    averages = averages_table(summary_table(per_fold), pooled, DISFA_AUS)
    overall = averages[(averages["average"] == "all") & (averages["metric"] == "f1")]
    expected = pooled[(pooled["au"] == 0) & (pooled["metric"] == "f1")]
    merged = overall.merge(expected, on=["extractor", "classifier", "split"])
    assert len(merged) == len(expected) > 0
    np.testing.assert_allclose(merged["pooled"], merged["value"])


def test_best_per_au_breaks_ties_in_model_order():
    rows = []
    for model, value in (("svm_linear", 0.5), (BASELINE, 0.5), ("knn", 0.2)):
        for metric, v in (("f1", value), ("base_rate", 0.1)):
            rows.append(("hog", model, "group_kfold", False, 1, metric, v, 10, 100, ""))
    pooled = pd.DataFrame(
        rows,
        columns=["extractor", "classifier", "split", "leaky", "au", "metric", "value"]
        + ["n_pos", "n", "note"],
    )
    best = best_per_au(pooled).iloc[0]
    assert (best["model"], best["f1"], best["baseline"], best["base_rate"]) == (
        BASELINE,
        0.5,
        0.5,
        0.1,
    )


def test_markdown_html_renders_headings_tables_and_inline_code():
    page = markdown_html("# Title\n\nA `code` and **bold**.\n\n| a | b |\n|---|---|\n| 1 | <2 |\n")
    assert "<h1>Title</h1>" in page
    assert '<span style="font-family: monospace">code</span>' in page
    assert "<strong>bold</strong>" in page
    assert "<th>a</th>" in page and "<td>&lt;2</td>" in page


# --- figures -----------------------------------------------------------------------------------


def test_every_figure_is_a_readable_png_of_its_specified_size(pipeline_run):
    provenance = json.loads((pipeline_run / "results/provenance.json").read_text())
    for name in FIGURES:
        path = pipeline_run / f"results/plots/{name}.png"
        with Image.open(path) as image:
            assert image.format == "PNG"
            width, height = plots.FIGURE_SIZES[name]
            assert image.size == (round(width * plots.DPI), round(height * plots.DPI)), name
            pixels = np.asarray(image.convert("L"), dtype=float)
            description = json.loads(image.text["Description"])
        assert pixels.std() > 5, f"{name} is blank"
        assert description["config_hash"] == provenance["config_hash"]


def draw_every_figure(run, out) -> dict[str, dict[str, set[str]]]:
    """Every model figure drawn again from the run's tables, as the workflow scripts draw them;
    figure name -> model -> the colours its artists have."""
    per_fold = read_table(run / "results/metrics/per_fold.parquet")
    pooled = read_table(run / "results/metrics/pooled.parquet")
    summary = summary_table(per_fold)
    labels = labels_of(run)
    colours = model_colours(pooled["classifier"])
    best, _ = plots.best_model(pooled, SPLIT)
    predictions = {m: predictions_of(run, m) for m in (best, BASELINE)}
    averages = averages_table(summary, pooled, DISFA_AUS)
    study = TINY_CONFIG["study"]["models"][0]
    trials = {
        f"fold {k}": read_table(
            run / f"results/study/{SPLIT}/{EXTRACTOR}/{study}/fold{k}/trials.parquet"
        )
        for k in range(3)
    }
    images = run / "data/croppedImg"
    a = (DISFA_AUS, THRESHOLD, best, colours)
    return {
        "f1_per_au": plots.plot_f1_per_au(summary, averages, DISFA_AUS, colours, out / "1.png"),
        "f1_heatmap": plots.plot_f1_heatmap(pooled, DISFA_AUS, colours, out / "2.png"),
        "f1_vs_base_rate": plots.plot_f1_vs_base_rate(pooled, SPLIT, colours, out / "3.png"),
        "pr_curves": plots.plot_pr_curves(predictions, labels, *a, out / "4.png"),
        "cooccurrence": plots.plot_cooccurrence(predictions[best], labels, *a, out / "5.png"),
        "face_examples": plots.plot_face_examples(
            predictions[best], labels, images, *a, out / "6.png"
        ),
        "au_time_series": plots.plot_au_time_series(predictions[best], labels, *a, out / "7.png"),
        "optuna_history": plots.plot_optuna_history(
            trials, f"optuna_{study}", colours, out / "8.png"
        ),
        "leakage": plots.plot_leakage(pooled, SPLIT, "random_frames", colours, out / "9.png"),
    }


def test_one_model_keeps_one_colour_across_all_figures(pipeline_run, tmp_path):
    pooled = read_table(pipeline_run / "results/metrics/pooled.parquet")
    colours = model_colours(pooled["classifier"])
    drawn = draw_every_figure(pipeline_run, tmp_path)
    seen: dict[str, set[str]] = {}
    for figure, by_model in drawn.items():
        assert by_model, f"{figure} tags no model"
        for model, found in by_model.items():
            assert found == {colours[model]}, f"{figure}: {model} drawn in {found}"
            seen.setdefault(model, set()).add(figure)
    # every model appears in several figures, the baseline and the best one in most
    assert set(seen) == set(colours)
    assert len(seen[BASELINE]) >= 5
    # no two models share a colour, and none looks like the baseline's grey
    assert len(set(colours.values())) == len(colours)


def test_model_colours_depend_only_on_the_set_of_models():
    names = ["knn", "baseline", "svm_linear", "random_forest"]
    assert model_colours(names) == model_colours(reversed(names + ["knn"]))
    many = model_colours([f"model_{i:02d}" for i in range(18)] + [BASELINE])
    assert len(set(many.values())) == len(many)


def test_cooccurrence_is_the_share_of_frames_with_both():
    occurrence = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]])
    matrix = plots.cooccurrence(occurrence)
    np.testing.assert_allclose(matrix[0], [1.0, 2 / 3, 0.0])
    np.testing.assert_allclose(matrix[1], [2 / 3, 1.0, 0.0])
    assert np.isnan(matrix[2]).all()


def test_gabor_profile_averages_filters_per_subject():
    dataset = pd.DataFrame(
        {
            "subject": ["A", "A", "B"],
            "gabor_t000_f0.25_c0_0_mean": [1.0, 3.0, 5.0],
            "gabor_t000_f0.25_c0_1_mean": [3.0, 5.0, 7.0],
            "gabor_t000_f0.25_c0_0_std": [9.0, 9.0, 9.0],
            "gabor_t090_f0.25_c0_0_mean": [0.0, 2.0, 4.0],
        }
    )
    profile, _ = plots.gabor_profile(dataset, "gabor_energy")
    assert list(profile.columns) == ["t000_f0.25", "t090_f0.25"]
    np.testing.assert_allclose(profile.loc["A"], [3.0, 1.0])
    np.testing.assert_allclose(profile.loc["B"], [6.0, 4.0])


# --- provenance --------------------------------------------------------------------------------


def test_provenance_names_config_code_packages_and_data(pipeline_run):
    provenance = json.loads((pipeline_run / "results/provenance.json").read_text())
    manifest = json.loads(
        (pipeline_run / f"results/models/{EXTRACTOR}/svm_linear/manifest.json").read_text()
    )
    assert provenance["config_hash"] == manifest["config_hash"]
    # the workflow's checkout is a git repository: the run's commit is HEAD or one before it
    # (a commit made while the tests run changes HEAD, not the recorded one)
    commit = provenance["git"]["commit"]
    ancestor = subprocess.run(
        ["git", "-C", str(REPO), "merge-base", "--is-ancestor", commit, "HEAD"]
    )
    assert ancestor.returncode == 0
    assert isinstance(provenance["git"]["dirty"], bool)
    assert provenance["packages"]["scikit-learn"] and provenance["packages"]["pandas"]
    dataset = provenance["dataset"]
    assert dataset["subjects"] == [f"SN{i:03d}" for i in range(1, TINY["subjects"] + 1)]
    assert set(dataset["frames"].values()) == {TINY["frames"]}
    assert dataset == label_fingerprint([labels_of(pipeline_run)])


def test_label_hash_changes_with_any_label_and_not_with_row_order(pipeline_run):
    labels = labels_of(pipeline_run)
    shuffled = labels.sample(frac=1.0, random_state=0)
    assert label_fingerprint([shuffled]) == label_fingerprint([labels])
    changed = labels.copy()
    changed.loc[17, "AU12"] = (changed.loc[17, "AU12"] + 1) % 6
    assert (
        label_fingerprint([changed])["labels_sha256"]
        != label_fingerprint([labels])["labels_sha256"]
    )


def test_every_results_table_carries_the_provenance(pipeline_run):
    provenance = json.loads((pipeline_run / "results/provenance.json").read_text())
    metrics = pipeline_run / "results/metrics"
    # all of it but the time of the run, which would make two runs' tables differ
    timeless = {key: value for key, value in provenance.items() if key != "created"}
    assert "created" in provenance
    for name in ("per_fold", "pooled"):
        assert read_metadata(metrics / f"{name}.parquet") == timeless
    for name in TABLES_CSV:
        csv = metrics / f"{name}.csv"
        companion = json.loads(companion_path(csv).read_text())
        assert companion["config_hash"] == provenance["config_hash"]
        assert companion["dataset"] == provenance["dataset"]
        assert companion["rows"] == len(pd.read_csv(csv))
        assert companion["sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    for name in ("summary.md", "leakage.md", "summary.html", "leakage.html"):
        text = (metrics / name).read_text()
        assert "Provenance" in text and provenance["config_hash"] in text


def test_another_git_commit_reruns_nothing(pipeline_run, tmp_path):
    # The same workflow in another git repository (so at another commit) over the same results:
    # the commit is read when the provenance job runs, not declared as a parameter, so nothing
    # is out of date.
    workflow = tmp_path / "workflow"
    workflow.mkdir()
    shutil.copy2(REPO / "Snakefile", workflow / "Snakefile")
    for folder in ("rules", "workflow_scripts", "schemas", "report", "envs"):
        shutil.copytree(REPO / folder, workflow / folder)
    git = ["git", "-C", str(workflow), "-c", "user.name=test", "-c", "user.email=test@example.org"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "another commit"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    work = tmp_path / "work"
    shutil.copytree(pipeline_run, work, symlinks=True)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(workflow / "Snakefile")]
    result = subprocess.run([*command, "--dry-run"], cwd=work, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Nothing to be done" in result.stdout + result.stderr
