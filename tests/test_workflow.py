"""The whole DAG, run for real by Snakemake on a tiny generated dataset."""

from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from auflow.demo import DISFA_AUS, generate_demo_dataset
from auflow.features.descriptors import make_extractor
from auflow.io.images import load_faces
from auflow.io.parquet import read_metadata, read_table
from auflow.models.registry import MODELS
from auflow.snakemake_output import job_counts

from conftest import TINY, TINY_CONFIG, snakemake

AU_COLUMNS = [f"AU{au:02d}" for au in DISFA_AUS]
EXTRACTOR = TINY_CONFIG["features"]["extractors"][0]


def test_feature_shards_cover_every_frame_once(pipeline_run):
    shards_per_subject = math.ceil(TINY["frames"] / TINY_CONFIG["features"]["shard_size"])
    for subject in ("SN001", "SN002", "SN003", "SN004"):
        paths = sorted((pipeline_run / f"results/features/{EXTRACTOR}/{subject}").glob("*.parquet"))
        assert len(paths) == shards_per_subject
        frames = np.concatenate([read_table(p)["frame"].to_numpy() for p in paths])
        assert frames.tolist() == list(range(1, TINY["frames"] + 1))


def test_feature_shards_record_their_provenance(pipeline_run):
    path = pipeline_run / f"results/features/{EXTRACTOR}/SN001/000.parquet"
    metadata = read_metadata(path)
    assert metadata["extractor"] == EXTRACTOR
    assert metadata["face_size"] == TINY_CONFIG["features"]["face_size"]
    assert "auflow_version" in metadata


def test_dataset_has_one_row_per_frame_with_labels_and_features(pipeline_run):
    dataset = read_table(pipeline_run / f"results/dataset/{EXTRACTOR}.parquet")
    assert len(dataset) == TINY["subjects"] * TINY["frames"]
    assert list(dataset.columns[:2]) == ["subject", "frame"]
    assert [c for c in dataset.columns if c.startswith("AU")] == AU_COLUMNS
    features = dataset.columns[2 + len(AU_COLUMNS) :]
    assert len(features) == 20
    assert all(dataset[c].dtype == np.float32 for c in features)
    assert not dataset.duplicated(["subject", "frame"]).any()
    # each seed histogram is normalised
    np.testing.assert_allclose(dataset[features].sum(axis=1), 1.0, rtol=1e-5)


def test_labels_follow_frame_numbers_not_listing_order(pipeline_run):
    # File names are 1.png ... 24.png, so listing order (1, 10, 11, ...) differs from frame order.
    labels = read_table(pipeline_run / "results/labels/SN004.parquet")
    elements = json.loads((pipeline_run / "data/json/SN004.json").read_text())
    assert labels["frame"].tolist() == list(range(1, len(elements) + 1))
    for position, element in enumerate(elements):
        row = labels.loc[labels["frame"] == position + 1].iloc[0]
        assert [row[f"AU{au:02d}"] for au in DISFA_AUS] == [element[f"au{au}"] for au in DISFA_AUS]


def test_a_frame_lands_on_its_own_features(pipeline_run):
    dataset = read_table(pipeline_run / f"results/dataset/{EXTRACTOR}.parquet")
    params = TINY_CONFIG["features"].get("params", {}).get(EXTRACTOR)
    extractor = make_extractor(EXTRACTOR, params).fit()
    features = dataset.columns[2 + len(AU_COLUMNS) :]
    elements = json.loads((pipeline_run / "data/json/SN003.json").read_text())
    for frame in (2, 10, 19, 33):  # 10.png lists before 2.png: alignment by number, not by name
        face = load_faces([pipeline_run / f"data/croppedImg/SN003/{frame}.png"], 48)
        row = dataset[(dataset["subject"] == "SN003") & (dataset["frame"] == frame)].iloc[0]
        np.testing.assert_allclose(row[features].to_numpy(float), extractor.transform(face)[0])
        assert row["AU12"] == elements[frame - 1]["au12"]


def test_folds_are_subject_exclusive(pipeline_run):
    folds = read_table(pipeline_run / "results/folds/group_kfold.parquet")
    assert sorted(folds["fold"].unique()) == [0, 1, 2]
    assert folds.groupby("subject")["fold"].nunique().max() == 1
    for path in (pipeline_run / "results/predictions/group_kfold").rglob("fold*.parquet"):
        fold = int(path.stem.removeprefix("fold"))
        predictions = read_table(path)
        test_subjects = set(folds.loc[folds["fold"] == fold, "subject"])
        assert set(predictions["subject"]) == test_subjects
        assert (predictions["fold"] == fold).all()


def test_every_classifier_predicts_every_fold(pipeline_run):
    classifiers = [
        *TINY_CONFIG["classifiers"],
        *[f"optuna_{m}" for m in TINY_CONFIG["study"]["models"]],
    ]
    root = pipeline_run / f"results/predictions/group_kfold/{EXTRACTOR}"
    for classifier in classifiers:
        for fold in range(3):
            predictions = read_table(root / classifier / f"fold{fold}.parquet")
            for au in AU_COLUMNS:
                assert set(predictions[f"{au}_c"].unique()) <= {0, 1}
                assert np.isfinite(predictions[f"{au}_p"]).all()


def test_metrics_equal_sklearn_on_the_saved_predictions(pipeline_run):
    dataset = read_table(pipeline_run / f"results/dataset/{EXTRACTOR}.parquet")
    threshold = 2
    checked = 0
    for path in (pipeline_run / "results/metrics/group_kfold").rglob("fold*.parquet"):
        metrics = read_table(path)
        predictions = read_table(
            pipeline_run
            / "results/predictions"
            / path.relative_to(pipeline_run / "results/metrics")
        )
        joined = predictions.merge(dataset, on=["subject", "frame"])
        for au in DISFA_AUS:
            truth = (joined[f"AU{au:02d}"] >= threshold).astype(int)
            predicted = joined[f"AU{au:02d}_c"]
            values = metrics[metrics["au"] == au].set_index("metric")["value"]
            assert values["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
            assert values["base_rate"] == pytest.approx(truth.mean())
            if truth.sum() + predicted.sum() > 0:
                # F1, precision and recall as the field counts them: 0/0 with alarms is 0
                for name, score in (("f1", f1_score), ("recall", recall_score)):
                    assert values[name] == pytest.approx(score(truth, predicted, zero_division=0))
                assert values["precision"] == pytest.approx(
                    precision_score(truth, predicted, zero_division=0)
                )
                checked += 1
            else:
                assert np.isnan(values["f1"])
                assert metrics.set_index(["au", "metric"]).loc[(au, "f1"), "note"] != ""
        defined = metrics["value"].dropna()
        ratios = metrics[metrics["metric"] != "mae"]["value"].dropna()
        assert len(defined) > 0 and ((ratios >= 0) & (ratios <= 1)).all()
    assert checked > 0


def test_pooled_f1_equals_sklearn_on_every_fold_concatenated(pipeline_run):
    pooled = read_table(pipeline_run / "results/metrics/pooled.parquet")
    labels = pd.concat([read_table(p) for p in (pipeline_run / "results/labels").glob("*.parquet")])
    for model, extractor in (("svm_linear", EXTRACTOR), ("baseline", "hog")):
        root = pipeline_run / f"results/predictions/group_kfold/{extractor}/{model}"
        predictions = pd.concat([read_table(root / f"fold{k}.parquet") for k in range(3)])
        joined = predictions.merge(labels, on=["subject", "frame"])
        assert len(joined) == TINY["subjects"] * TINY["frames"]
        rows = pooled[
            (pooled["classifier"] == model)
            & (pooled["split"] == "group_kfold")
            & (pooled["metric"] == "f1")
        ].set_index("au")["value"]
        expected = []
        for au in DISFA_AUS:
            truth = joined[f"AU{au:02d}"] >= 2
            predicted = joined[f"AU{au:02d}_c"]
            if truth.sum() + predicted.sum() == 0:
                assert np.isnan(rows[au])
                continue
            expected.append(f1_score(truth, predicted, zero_division=0))
            assert rows[au] == pytest.approx(expected[-1])
        assert rows[0] == pytest.approx(np.mean(expected))


def test_summary_opens_with_the_pooled_headline_and_the_baseline_first(pipeline_run):
    markdown = (pipeline_run / "results/metrics/summary.md").read_text()
    assert "How to read this" in markdown
    assert "**Headline (pooled F1, mean over AUs" in markdown and "baseline" in markdown
    table = markdown.split("## Pooled F1 per AU, split `group_kfold`", 1)[1]
    first_row = [line for line in table.splitlines() if line.startswith("| ")][1]
    assert first_row.startswith("| baseline | hog |")


def test_every_model_is_saved_and_reproduces_its_fold_predictions(pipeline_run):
    from auflow.models.saved import load_model

    for model in ("baseline", *TINY_CONFIG["classifiers"]):
        extractor = "hog" if model == "baseline" else EXTRACTOR
        saved = load_model(pipeline_run / f"results/models/{extractor}/{model}")
        manifest = saved.manifest
        assert manifest["extractor"] == extractor
        assert manifest["face_size"] == TINY_CONFIG["features"]["face_size"]
        assert manifest["training_frames"] == TINY["subjects"] * TINY["frames"]
        assert set(manifest["thresholds"]) == set(AU_COLUMNS)
    # a kept fold model recomputes that fold's saved predictions
    fold_model = pipeline_run / f"results/models/folds/group_kfold/{EXTRACTOR}/svm_linear/fold1"
    saved = load_model(fold_model)
    dataset = read_table(pipeline_run / f"results/dataset/{EXTRACTOR}.parquet")
    predictions = read_table(
        pipeline_run / f"results/predictions/group_kfold/{EXTRACTOR}/svm_linear/fold1.parquet"
    )
    test = dataset.merge(predictions[["subject", "frame"]], on=["subject", "frame"])
    features = test[saved.manifest["feature_names"]].to_numpy(np.float32)
    recomputed = saved.predict_table(features, test["subject"].to_numpy())
    for au in AU_COLUMNS:
        np.testing.assert_allclose(recomputed[f"{au}_p"], predictions[f"{au}_p"], rtol=1e-6)
        np.testing.assert_array_equal(recomputed[f"{au}_c"], predictions[f"{au}_c"])


def test_summary_lists_classifier_au_and_fold(pipeline_run):
    summary = pd.read_csv(pipeline_run / "results/metrics/summary.csv")
    honest = summary[summary["split"] == "group_kfold"]
    # the baseline, the classifiers, their static variants (not the LSTM's) and the study's
    # tuned model
    static = {f"{name}_static" for name in TINY_CONFIG["classifiers"]} - {"lstm_static"}
    classifiers = {"baseline", *TINY_CONFIG["classifiers"], *static, "optuna_svm_linear"}
    assert set(honest["classifier"]) == classifiers
    # one row per classifier x fold x (12 AUs + the mean over AUs)
    assert len(honest) == len(classifiers) * 3 * (len(DISFA_AUS) + 1)
    assert not honest.duplicated(["classifier", "fold", "au"]).any()
    for column in ("f1", "precision", "recall", "accuracy", "support", "base_rate"):
        assert column in summary.columns
    assert not honest["leaky"].any()
    # the leakage comparison's random frame split is there, and marked leaky: the baseline and
    # the classifiers but the LSTM (a random frame split leaves it windows of isolated frames)
    leaky = summary[summary["split"] == "random_frames"]
    assert set(leaky["classifier"]) == {"baseline", *TINY_CONFIG["classifiers"]} - {"lstm"}
    assert len(leaky) == len(TINY_CONFIG["classifiers"]) * 3 * (len(DISFA_AUS) + 1)
    assert leaky["leaky"].all()
    markdown = (pipeline_run / "results/metrics/summary.md").read_text()
    assert "| svm_linear |" in markdown and "AU26" in markdown
    assert (pipeline_run / "results/plots/f1_per_au.png").stat().st_size > 1000


def test_study_keeps_its_trials_and_best_parameters(pipeline_run):
    root = pipeline_run / f"results/study/group_kfold/{EXTRACTOR}/svm_linear"
    for fold in range(3):
        trials = read_table(root / f"fold{fold}/trials.parquet")
        # the workers' trials, gathered: exactly the configured total, each number once
        assert len(trials) == TINY_CONFIG["study"]["n_trials"]
        assert trials["number"].is_unique
        assert set(trials["user_attrs_worker"]) <= {"worker0", "worker1", "gather"}
        for worker in range(TINY_CONFIG["study"]["workers"]):
            assert (root / f"fold{fold}/workers/{worker}.done").exists()
        for plot in ("history", "importance"):
            with Image.open(root / f"fold{fold}/{plot}.png") as image:
                assert image.size == (800, 500)
        best = json.loads((root / f"fold{fold}/best.json").read_text())
        assert best["best_value"] == pytest.approx(trials["value"].max())
        assert 1e-3 <= best["params"]["C"] <= 10


def test_only_the_lstms_jobs_run_with_its_malloc_settings(pipeline_run):
    logs = pipeline_run / "logs"
    lstm = [*logs.glob("classify/*/*/lstm/fold*.log"), *logs.glob("fit_final/*/lstm.log")]
    classic = [*logs.glob("classify/*/*/svm_linear/fold*.log"), *logs.glob("study/**/*.log")]
    assert len(lstm) == 3 + 1 and classic
    expected = ", ".join(f"{k}={v}" for k, v in sorted(MODELS["lstm"].environment.items()))
    for log in lstm:
        assert f"glibc malloc settings: {expected}" in log.read_text(), log
    for log in classic:
        assert "glibc malloc settings" not in log.read_text(), log


def test_every_job_asks_a_scheduler_for_more_memory_and_time_than_it_used(pipeline_run):
    # what each job of the run declares (mem_mb, runtime in minutes), listed by a dry run of
    # every job again
    listed = snakemake(pipeline_run, "--dry-run", "--forceall").stdout
    declared = re.findall(
        r"benchmark: (\S+)\n(?:.*\n)*?\s+resources: .*?runtime=(\d+), mem_mb=(\d+)", listed
    )
    rules = set()
    for benchmark, runtime, mem_mb in declared:
        measured = pd.read_csv(pipeline_run / benchmark, sep="\t")
        rule = benchmark.split("/")[1].removesuffix(".tsv")
        assert 0 < measured["s"].max() < 60 * int(runtime), (benchmark, runtime)
        # MiB, sampled every half second at first; NA if the job ended before the first sample
        peak = measured["max_rss"].max()
        if pd.notna(peak):
            assert 0 < peak < int(mem_mb), (benchmark, peak, mem_mb)
            rules.add(rule)
    assert {"extract_features", "join_dataset", "classify", "study", "fit_final"} <= rules


def test_unchanged_tree_schedules_nothing(pipeline_run):
    result = snakemake(pipeline_run, "--dry-run")
    assert job_counts(result.stdout) == {}
    assert "Nothing to be done" in result.stdout + result.stderr


def test_new_subject_extracts_only_its_own_features(pipeline_run, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(pipeline_run, workdir, symlinks=True)
    extra = tmp_path / "extra"
    generate_demo_dataset(extra, TINY["subjects"] + 1, TINY["frames"], TINY["size"], seed=9)
    shutil.copytree(extra / "croppedImg/SN005", workdir / "data/croppedImg/SN005")
    shutil.copy2(extra / "json/SN005.json", workdir / "data/json/SN005.json")

    result = snakemake(workdir, "--dry-run")
    counts = job_counts(result.stdout)
    shards = math.ceil(TINY["frames"] / TINY_CONFIG["features"]["shard_size"])
    # its shards of the configured extractor and of the baseline's HOG
    assert counts["extract_features"] == 2 * shards
    assert counts["labels"] == 1
    scheduled = re.findall(r"output: (results/features/\S+?\.parquet)", result.stdout)
    assert len(scheduled) == 2 * shards and all("/SN005/" in path for path in scheduled)
    assert re.findall(r"output: (results/labels/\S+?\.parquet)", result.stdout) == [
        "results/labels/SN005.parquet"
    ]
    # what depends on the whole dataset runs again
    assert counts["join_dataset"] == 2 and counts["aggregate_metrics"] == 1


# The jobs that read every fold's metrics or the run's provenance (which hashes the config).
WHOLE_RUN_RULES = {
    "provenance",
    "aggregate_metrics",
    "plot_metrics",
    "plot_data",
    "leakage_comparison",
    "all",
}


def test_new_classifier_params_rerun_only_that_classifier(pipeline_run, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(pipeline_run, workdir, symlinks=True)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["classifiers"]["knn"]["params"]["n_neighbors"] = 5
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))

    result = snakemake(workdir, "--dry-run")
    counts = job_counts(result.stdout)
    folds = TINY_CONFIG["evaluation"]["k"]
    # each fold of both splits of the leakage comparison, and the model fitted on every subject
    assert counts.pop("classify_knn") == 2 * folds
    assert counts.pop("fit_final_knn") == 1
    # and its static variant (models.static), on the configured split only
    assert counts.pop("classify_knn_static") == folds
    assert counts.pop("fit_final_knn_static") == 1
    assert set(counts) <= WHOLE_RUN_RULES
    scheduled = re.findall(r"output: (results/(?:predictions|models)/\S+)", result.stdout)
    assert scheduled and all(re.search("/knn(_static)?/", path) for path in scheduled)


def test_workflow_lint_is_clean(pipeline_run):
    result = snakemake(pipeline_run, "--lint")
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr


def test_leakage_comparison_sets_both_splits_side_by_side(pipeline_run):
    comparison = pd.read_csv(pipeline_run / "results/metrics/leakage.csv")
    per_fold = read_table(pipeline_run / "results/metrics/per_fold.parquet")
    # every model but the LSTM, which a random frame split leaves windows of isolated frames
    assert set(comparison["classifier"]) == {"baseline", *TINY_CONFIG["classifiers"]} - {"lstm"}
    for row in comparison[comparison["metric"] == "f1"].itertuples():
        for split in ("group_kfold", "random_frames"):
            folds = per_fold[
                (per_fold["split"] == split)
                & (per_fold["classifier"] == row.classifier)
                & (per_fold["au"] == row.au)
                & (per_fold["metric"] == "f1")
            ]
            assert getattr(row, split) == pytest.approx(folds["value"].mean(), rel=1e-5)
        assert row.gap == pytest.approx(row.random_frames - row.group_kfold, abs=1e-5)
    # the random frame split does put every subject on both sides, which is the leak
    folds = read_table(pipeline_run / "results/folds/random_frames.parquet")
    assert (folds.groupby("subject")["fold"].nunique() > 1).all()
