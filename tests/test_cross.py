"""Cross-dataset evaluation (config cross_datasets): the tiny run's final models on a second
generated dataset, added to the finished run."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import f1_score

from auflow.aus import au_column
from auflow.demo import generate_demo_dataset
from auflow.evaluation.metrics import NEVER_LABELLED
from auflow.io.dataset import concat_tables, feature_columns
from auflow.io.discovery import discover_dataset
from auflow.io.parquet import read_table
from auflow.models.saved import load_model
from auflow.models.train import predict_frames
from auflow.snakemake_output import job_counts

from conftest import TINY, TINY_CONFIG, snakemake

# Another seed and size than the tiny main dataset; its subjects are named SN001, SN002 like
# two of the main dataset's.
CROSS = {"subjects": 2, "frames": 20, "size": 40, "seed": 1}
NAME = "lab_b"
# an AU the cross dataset's label files never give (its key removed from every frame)
UNLABELLED_AU = 15
AUS = [1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26]  # the schema's default, the tiny run's AUs
OCCURRENCE_THRESHOLD = 2  # the schema's default
# the final models of the tiny run, the static variants (models.static) included
MODELS = [
    "baseline",
    "svm_linear",
    "naive_bayes",
    "knn",
    "lstm",
    "svm_linear_static",
    "naive_bayes_static",
    "knn_static",
]
# The jobs that read every fold's metrics or the run's provenance (which hashes the config).
WHOLE_RUN_RULES = {
    "provenance",
    "aggregate_metrics",
    "plot_metrics",
    "plot_data",
    "leakage_comparison",
    "all",
}


def model_extractor(model: str) -> str:
    return "hog" if model == "baseline" else TINY_CONFIG["features"]["extractors"][0]


def prediction_path(workdir: Path, model: str) -> Path:
    return workdir / f"results/predictions/cross/{NAME}/{model_extractor(model)}/{model}.parquet"


def base_rate(metrics: pd.DataFrame, au: int) -> float:
    return metrics.loc[(metrics["au"] == au) & (metrics["metric"] == "base_rate"), "value"].iloc[0]


def write_cross_dataset(root: Path) -> None:
    generate_demo_dataset(root, CROSS["subjects"], CROSS["frames"], CROSS["size"], CROSS["seed"])
    for path in (root / "json").glob("*.json"):
        frames = json.loads(path.read_text())
        for frame in frames:
            frame.pop(f"au{UNLABELLED_AU}", None)
        path.write_text(json.dumps(frames))


def with_cross(config: dict, **entry) -> dict:
    return {**config, "cross_datasets": [{"name": NAME, "root": NAME, **entry}]}


@pytest.fixture(scope="module")
def cross_run(pipeline_run, tmp_path_factory) -> SimpleNamespace:
    """The finished tiny run, copied, with a cross dataset added: what a dry run scheduled,
    then the run itself."""
    workdir = tmp_path_factory.mktemp("cross") / "work"
    shutil.copytree(pipeline_run, workdir, symlinks=True)
    write_cross_dataset(workdir / NAME)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    (workdir / "config.yaml").write_text(yaml.safe_dump(with_cross(config)))
    dry_run = snakemake(workdir, "--dry-run")
    snakemake(workdir, "--cores", "2")
    return SimpleNamespace(workdir=workdir, dry_run=dry_run.stdout)


def cross_labels(workdir: Path) -> pd.DataFrame:
    return concat_tables(sorted((workdir / "results/labels" / NAME).glob("*.parquet")))


def test_adding_a_cross_dataset_schedules_only_its_jobs(cross_run):
    counts = job_counts(cross_run.dry_run)
    shards = math.ceil(CROSS["frames"] / TINY_CONFIG["features"]["shard_size"])
    # its shards of the configured extractor and of the baseline's HOG, its labels, and one
    # prediction and one scoring per final model
    assert counts.pop("cross_extract_features") == CROSS["subjects"] * shards * 2
    assert counts.pop("cross_labels") == CROSS["subjects"]
    assert counts.pop("cross_predict") == len(MODELS)
    assert counts.pop("cross_score") == len(MODELS)
    assert set(counts) <= WHOLE_RUN_RULES
    scheduled = re.findall(r"output: (results/\S+?\.parquet)", cross_run.dry_run)
    tables = {"results/metrics/per_fold.parquet", "results/metrics/pooled.parquet"}
    assert all(f"/{NAME}/" in path or path in tables for path in scheduled)
    assert not any("/models/" in path or "/dataset/" in path for path in scheduled)


def test_cross_predictions_cover_every_frame(cross_run):
    workdir = cross_run.workdir
    frames = discover_dataset(workdir / NAME / "croppedImg", workdir / NAME / "json", "json", AUS)
    expected = [(subject, frame) for subject, found in frames.items() for frame, _ in found]
    for model in MODELS:
        path = (
            workdir / f"results/predictions/cross/{NAME}/{model_extractor(model)}/{model}.parquet"
        )
        predictions = read_table(path)
        assert list(zip(predictions["subject"], predictions["frame"], strict=True)) == expected
        for au in AUS:
            assert predictions[f"{au_column(au)}_p"].notna().all()
            assert set(predictions[f"{au_column(au)}_c"].unique()) <= {0, 1}


def test_cross_scores_equal_sklearn_f1_on_the_predictions(cross_run):
    workdir = cross_run.workdir
    labels = cross_labels(workdir)
    pooled = read_table(workdir / "results/metrics/pooled.parquet")
    per_fold = read_table(workdir / "results/metrics/per_fold.parquet")
    split = f"cross:{NAME}"
    for model in MODELS:
        path = (
            workdir / f"results/predictions/cross/{NAME}/{model_extractor(model)}/{model}.parquet"
        )
        joined = read_table(path).merge(labels, on=["subject", "frame"], validate="one_to_one")
        rows = pooled[
            (pooled["split"] == split)
            & (pooled["classifier"] == model)
            & (pooled["metric"] == "f1")
        ].set_index("au")
        fold_rows = per_fold[
            (per_fold["split"] == split)
            & (per_fold["classifier"] == model)
            & (per_fold["metric"] == "f1")
        ]
        assert set(fold_rows["fold"]) == {0}  # one "fold" per cross dataset
        assert not rows["leaky"].any()
        for au in AUS:
            name = au_column(au)
            if au == UNLABELLED_AU:
                assert np.isnan(rows.loc[au, "value"]) and rows.loc[au, "note"] == NEVER_LABELLED
                continue
            truth = (joined[name] >= OCCURRENCE_THRESHOLD).astype(int)
            expected = f1_score(truth, joined[f"{name}_c"], zero_division=np.nan)
            assert rows.loc[au, "value"] == pytest.approx(expected, nan_ok=True), (model, name)
        # the mean over AUs leaves the never labelled AU out
        scored = [au for au in AUS if au != UNLABELLED_AU]
        assert rows.loc[0, "value"] == pytest.approx(rows.loc[scored, "value"].mean())
        assert au_column(UNLABELLED_AU) in rows.loc[0, "note"]
    averages = pd.read_csv(workdir / "results/metrics/averages.csv")
    assert set(averages.loc[averages["split"] == split, "classifier"]) == set(MODELS)


def test_summary_has_the_generalisation_table(cross_run):
    workdir = cross_run.workdir
    summary = (workdir / "results/metrics/summary.md").read_text()
    assert "## Generalisation" in summary
    within_column = f"within ({TINY_CONFIG['evaluation']['split']})"
    assert f"| {within_column} | cross | gap (cross - within) |" in summary
    table = pd.read_csv(workdir / "results/metrics/generalisation.csv")
    pooled = read_table(workdir / "results/metrics/pooled.parquet")
    assert sorted(table["model"]) == sorted(MODELS)
    for row in table.itertuples(index=False):
        f1 = pooled[(pooled["classifier"] == row.model) & (pooled["metric"] == "f1")]
        within = f1[f1["split"] == TINY_CONFIG["evaluation"]["split"]].set_index("au")["value"]
        cross = f1[f1["split"] == f"cross:{NAME}"].set_index("au")["value"]
        both = [au for au in AUS if not np.isnan(within[au]) and not np.isnan(cross[au])]
        assert UNLABELLED_AU not in both and row.AUs == len(both)
        assert row[4] == pytest.approx(within[both].mean(), rel=1e-5, abs=1e-6)
        assert row.cross == pytest.approx(cross[both].mean(), rel=1e-5)
        assert row[6] == pytest.approx(row.cross - row[4], rel=1e-5, abs=1e-6)
        assert f"| {row.model} | {row.features} | {NAME} | {row.AUs} |" in summary
    # the headline speaks of the main dataset only
    headline = next(line for line in summary.splitlines() if line.startswith("**Headline"))
    assert "cross" not in headline


def test_cross_subject_named_like_a_main_subject_does_not_mix(cross_run):
    workdir = cross_run.workdir
    main = read_table(workdir / "results/labels/SN001.parquet")
    cross = read_table(workdir / f"results/labels/{NAME}/SN001.parquet")
    assert len(main) == TINY["frames"] and len(cross) == CROSS["frames"]
    truth = json.loads((workdir / NAME / "json/SN001.json").read_text())
    assert cross[au_column(1)].tolist() == [frame["au1"] for frame in truth]
    extractor = model_extractor("svm_linear")
    dataset = read_table(workdir / f"results/dataset/{extractor}.parquet", columns=["subject"])
    assert (dataset["subject"] == "SN001").sum() == TINY["frames"]
    # the cross predictions, made again from the cross features alone, each subject normalised
    # by the median of its own frames
    shards = sorted((workdir / f"results/features/{extractor}/{NAME}").glob("*/*.parquet"))
    features = concat_tables(shards)
    assert set(features["subject"]) == {"SN001", "SN002"} and len(features) == 40
    columns = feature_columns(features)
    values = features[columns].to_numpy(np.float64, copy=True)
    for subject in ("SN001", "SN002"):
        rows = (features["subject"] == subject).to_numpy()
        values[rows] -= np.median(values[rows], axis=0)
    features[columns] = values.astype(np.float32)
    saved = load_model(workdir / f"results/models/{extractor}/svm_linear")
    assert saved.manifest["normalise"] == "subject_median"
    expected = predict_frames(saved.detector, features)
    written = read_table(
        workdir / f"results/predictions/cross/{NAME}/{extractor}/svm_linear.parquet"
    )
    pd.testing.assert_frame_equal(written, expected, check_exact=False, rtol=1e-5, atol=1e-5)


def test_a_missing_cross_label_file_stops_the_run_before_any_job(cross_run, tmp_path):
    workdir = cross_run.workdir
    broken = tmp_path / "broken"
    shutil.copytree(workdir / NAME, broken)
    (broken / "json/SN002.json").unlink()
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["cross_datasets"][0]["root"] = str(broken)
    configfile = tmp_path / "broken.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--dry-run", "--configfile", str(configfile), check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"cross_datasets, '{NAME}'" in output and f"{broken}/json" in output
    assert "Job stats" not in output


def test_two_cross_datasets_of_one_name_stop_the_run_before_any_job(cross_run, tmp_path):
    workdir = cross_run.workdir
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["cross_datasets"] *= 2
    configfile = tmp_path / "twice.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--dry-run", "--configfile", str(configfile), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and f"name(s) {NAME} given more than once" in output
    assert "Job stats" not in output


def test_changing_cross_labels_changes_no_prediction(cross_run):
    """Leak audit: the cross predictions never see a label (runs last: it edits the labels)."""
    workdir = cross_run.workdir
    predictions = sorted((workdir / "results/predictions/cross").rglob("*.parquet"))
    before = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in predictions}
    metrics_before = read_table(workdir / f"results/metrics/cross/{NAME}/hog/baseline.parquet")
    path = workdir / NAME / "json/SN001.json"
    frames = json.loads(path.read_text())
    for frame in frames:
        frame["au25"] = 5 - frame["au25"]
    path.write_text(json.dumps(frames))

    # every cross score, and what it depends on (a prediction, were it to read the labels);
    # not the whole-run tables, which only add time
    targets = [
        f"results/metrics/cross/{NAME}/{model_extractor(model)}/{model}.parquet" for model in MODELS
    ]
    result = snakemake(workdir, "--cores", "2", *targets)
    counts = job_counts(result.stdout + result.stderr)
    assert counts == {"cross_labels": 1, "cross_score": len(MODELS)}
    after = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in predictions}
    assert after == before
    metrics = read_table(workdir / f"results/metrics/cross/{NAME}/hog/baseline.parquet")
    changed = metrics[(metrics["au"] == 25) & (metrics["metric"] == "base_rate")]["value"]
    unchanged = metrics_before[
        (metrics_before["au"] == 25) & (metrics_before["metric"] == "base_rate")
    ]
    assert changed.iloc[0] != unchanged["value"].iloc[0]
