"""A run killed with SIGKILL (the whole Snakemake process group, as a lost node or an
out-of-memory killer would) and re-run ends with the metrics of a run never interrupted, and
two clean runs of the same tree write byte-identical feature tables, predictions and metrics."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import SNAKEFILE, TINY_CONFIG, make_workdir, snakemake

# The tiny dataset with the work cut to what a crash can hit: a shard a subject (four
# extraction jobs to kill between), a study with two workers sharing a journal to kill inside,
# two folds, and no plain classifiers, plots, final models or leakage comparison.
CRASH_CONFIG = {
    "dataset": TINY_CONFIG["dataset"],
    "features": {**TINY_CONFIG["features"], "shard_size": 40},
    "evaluation": {**TINY_CONFIG["evaluation"], "k": 2, "leakage_comparison": False},
    "baseline": {"enabled": False},
    "classifiers": {
        "svm_linear": {"enabled": False, "params": {"C": 0.1, "class_weight": "balanced"}},
        "knn": {"enabled": False},
    },
    "study": {"models": ["svm_linear"], "n_trials": 3, "workers": 2},
    "models": {"save_final": False},
}
# The shipped configuration's models on the tiny dataset: the default extractor (gabor_energy)
# and the HOG baseline, the linear SVM, naive Bayes, the LSTM (tiny, as in TINY_CONFIG) and a
# study of the SVM and of the LSTM, each with two workers sharing its journal; two shards a
# subject, the second one partial. The leaky comparison and the final models are left out: they
# are the same learners on the same tables.
DEFAULT_MODELS_CONFIG = {
    "dataset": TINY_CONFIG["dataset"],
    "features": {"face_size": 48, "shard_size": 24, "extractors": ["gabor_energy"]},
    "evaluation": {**TINY_CONFIG["evaluation"], "k": 2, "leakage_comparison": False},
    "classifiers": {
        "svm_linear": TINY_CONFIG["classifiers"]["svm_linear"],
        "naive_bayes": {},
        "lstm": TINY_CONFIG["classifiers"]["lstm"],
    },
    "study": {
        "models": ["svm_linear", "lstm"],
        "n_trials": 2,
        "n_trials_per_model": {"lstm": 2},
        "inner_parts_per_model": {"lstm": 1},
        "workers": 2,
    },
    "models": {"save_final": False},
}
DEFAULT_MODELS = {
    "gabor_energy/svm_linear",
    "gabor_energy/naive_bayes",
    "gabor_energy/lstm",
    "gabor_energy/optuna_svm_linear",
    "gabor_energy/optuna_lstm",
    "hog/baseline",
    # what auflow predict scores single frames with (models.static, on by default)
    "gabor_energy/svm_linear_static",
    "gabor_energy/naive_bayes_static",
}
# Everything a person reads numbers from: the tables of every fold, the pooled and summary
# tables and their provenance, and each study's choice.
TARGET = "results/metrics/summary.csv"
SHARDS = "results/features/gabor_hist_seed/*/*.parquet"
N_SHARDS = 4
JOURNALS = "results/study/*/*/*/fold*/journal.log"


def metrics_tables(workdir: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under results/metrics and every study's best.json."""
    files = [*workdir.glob("results/metrics/**/*"), *workdir.glob("results/study/**/best.json")]
    return {str(path.relative_to(workdir)): path.read_bytes() for path in files if path.is_file()}


def computed_tables(workdir: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every feature shard, dataset table and fold's predictions."""
    patterns = ("results/features/**/*.parquet", "results/dataset/*.parquet")
    files = [path for pattern in patterns for path in workdir.glob(pattern)]
    files += workdir.glob("results/predictions/**/*.parquet")
    return {str(path.relative_to(workdir)): path.read_bytes() for path in files}


def largest_difference(first: Path, second: Path) -> float:
    """The largest absolute difference between the numbers of two tables of one layout."""
    a, b = pd.read_parquet(first), pd.read_parquet(second)
    numbers = [c for c in a.columns if pd.api.types.is_numeric_dtype(a[c])]
    return max(
        (float(np.nanmax(np.abs(a[c].to_numpy(float) - b[c].to_numpy(float)))) for c in numbers),
        default=0.0,
    )


def complete_run(workdir: Path) -> Path:
    snakemake(workdir, "--cores", "2", TARGET)
    return workdir


def kill_when(workdir: Path, inside, *args: str, timeout: float = 300) -> str:
    """Start a run in its own process group, SIGKILL the whole group once ``inside()``, and
    return what the run had printed."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE)]
    log_path = workdir / "killed.log"
    with open(log_path, "w") as log:
        run = subprocess.Popen(
            [*command, "--cores", "2", *args, TARGET],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        try:
            while not inside():
                if run.poll() is not None:
                    raise AssertionError(f"the run ended before the kill:\n{log_path.read_text()}")
                assert time.monotonic() < deadline, "the run never reached the stage"
                time.sleep(0.05)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    return log_path.read_text()


def jobs_in(output: str, rule: str) -> int:
    """The number of ``rule`` jobs in the job stats a run prints before it starts (0 if none)."""
    found = re.search(rf"^{rule}\s+(\d+)$", output, re.MULTILINE)
    return int(found.group(1)) if found else 0


def incomplete_files(workdir: Path) -> set[Path]:
    """The outputs Snakemake says a killed run left incomplete, as a plain re-run tells a user
    (here a dry run, which stops at the same check)."""
    result = snakemake(workdir, "--dry-run", TARGET, check=False)
    listed = result.stdout + result.stderr
    if "Incomplete files:" not in listed:
        assert result.returncode == 0, listed[-4000:]
        return set()
    names = listed.split("Incomplete files:", 1)[1].split()
    return {workdir / name for name in names if name.startswith("results/")}


def assert_no_half_written_outputs(workdir: Path) -> None:
    """Every Parquet output a killed run left is a whole table (tables are renamed into place)."""
    for path in workdir.glob("results/**/*.parquet"):
        assert pq.read_metadata(path).num_rows > 0, path


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> Path:
    return complete_run(make_workdir(tmp_path_factory.mktemp("clean"), CRASH_CONFIG))


def test_two_clean_runs_write_byte_identical_features_predictions_and_metrics(tmp_path):
    # Bit for bit, not within a tolerance: a score that moves in its last digits can cross its
    # threshold (issue #26: HOG tables 3e-8 apart gave baseline scores 7e-4 apart).
    first = complete_run(make_workdir(tmp_path / "first", DEFAULT_MODELS_CONFIG))
    second = complete_run(make_workdir(tmp_path / "second", DEFAULT_MODELS_CONFIG))
    expected, written = computed_tables(first), computed_tables(second)
    models = {
        str(path.relative_to(first / "results/predictions/group_kfold"))
        for path in first.glob("results/predictions/group_kfold/*/*")
    }
    assert models == DEFAULT_MODELS
    assert len([name for name in expected if "/features/hog/" in name]) == 4 * 2  # 40 frames / 24
    assert sorted(written) == sorted(expected)
    differing = {
        name: largest_difference(first / name, second / name)
        for name in expected
        if written[name] != expected[name]
    }
    assert differing == {}
    expected, written = metrics_tables(first), metrics_tables(second)
    assert "results/metrics/pooled.parquet" in expected and len(expected) > 10
    assert sorted(written) == sorted(expected)
    assert [name for name in expected if written[name] != expected[name]] == []


def test_a_run_killed_in_extraction_and_in_a_study_ends_as_if_never_killed(clean_run, tmp_path):
    workdir = make_workdir(tmp_path, CRASH_CONFIG)

    # 1. killed while extracting, once Snakemake has recorded a shard's job as finished
    def extracted() -> bool:
        return "(Rule: extract_features)" in (workdir / "killed.log").read_text()

    kill_when(workdir, extracted)
    assert len(list(workdir.glob(SHARDS))) < N_SHARDS
    assert_no_half_written_outputs(workdir)
    # what a user is told after a kill: remove the dead run's lock, re-run the incomplete jobs
    snakemake(workdir, "--unlock")
    kept = {
        path: path.stat().st_mtime_ns
        for path in set(workdir.glob(SHARDS)) - incomplete_files(workdir)
    }
    assert kept

    # 2. the re-run extracts only the missing shards, and is killed inside a study: a journal
    #    holds trials, not every study has chosen its model
    def studying() -> bool:
        return any(b'"worker"' in journal.read_bytes() for journal in workdir.glob(JOURNALS))

    output = kill_when(workdir, studying, "--rerun-incomplete")
    assert jobs_in(output, "extract_features") == N_SHARDS - len(kept)
    assert len(list(workdir.glob("results/study/**/best.json"))) < 2
    assert_no_half_written_outputs(workdir)
    assert {path: path.stat().st_mtime_ns for path in kept} == kept
    kept = {path: path.stat().st_mtime_ns for path in workdir.glob(SHARDS)}
    assert len(kept) == N_SHARDS

    # 3. re-run to the end: no extraction, the studies resumed, identical metrics
    snakemake(workdir, "--unlock")
    result = snakemake(workdir, "--cores", "2", "--rerun-incomplete", TARGET)
    assert jobs_in(result.stdout + result.stderr, "extract_features") == 0
    assert jobs_in(result.stdout + result.stderr, "study") >= 1
    assert {path: path.stat().st_mtime_ns for path in kept} == kept
    for trials in workdir.glob("results/study/**/trials.parquet"):
        assert pq.read_metadata(trials).num_rows == CRASH_CONFIG["study"]["n_trials"]
    expected, written = metrics_tables(clean_run), metrics_tables(workdir)
    assert sorted(written) == sorted(expected)
    assert [name for name in expected if written[name] != expected[name]] == []
    # what a write killed mid-table left (a hidden temporary file) the re-runs took over
    assert [str(p) for p in workdir.glob("results/**/.*")] == []
