"""Shared fixtures: a tiny generated dataset and real Snakemake runs on it."""

from __future__ import annotations

import fcntl
import shlex
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from auflow.demo import generate_demo_dataset

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"

# Small enough for two cores in a minute or two, big enough for 3 subject-exclusive folds with
# at least two training subjects each (the inner splits need two), AUs with positive frames,
# and several shards a subject, the last one partial.
TINY = {"subjects": 4, "frames": 40, "size": 48, "seed": 0}
TINY_CONFIG = {
    "dataset": {"root": "data"},
    "features": {"face_size": 48, "shard_size": 16, "extractors": ["gabor_hist_seed"]},
    "evaluation": {"split": "group_kfold", "k": 3, "seed": 0, "inner_splits": 2},
    "classifiers": {
        # one of each kind of model; the trees' plumbing is the SVM's (tests/test_models.py
        # fits every registered classifier), and each classifier costs the run 7 more jobs
        "svm_linear": {"params": {"C": 0.1, "class_weight": "balanced"}},
        "naive_bayes": {},
        "knn": {"params": {"n_neighbors": 3}},
        # tiny on purpose: the point is the plumbing (windows, saving, tables), not the F1
        # stacked on svm_linear; networks fitted for every AU however few the subjects, so
        # that windows, networks and their files are all exercised
        "lstm": {
            "params": {
                "units": 8,
                "window": 6,
                "stride": 2,
                "epochs": 4,
                "patience": 2,
                "min_subjects": 2,
                "fall_back_margin": -1.0,
            },
        },
    },
    # two workers per study: the tiny run goes through the shared journal and the gather step
    "study": {"models": ["svm_linear"], "n_trials": 3, "workers": 2},
    "models": {"save_final": True, "save_folds": True},
}


def face_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth bright oval with dark eye and mouth blobs and fine noise, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    y, x = y / h, x / w
    face = 0.25 + 0.5 * np.exp(-((((x - 0.5) / 0.32) ** 2 + ((y - 0.5) / 0.42) ** 2) ** 2))
    for cx, cy, r in ((0.35, 0.4, 0.05), (0.65, 0.4, 0.05), (0.5, 0.72, 0.08)):
        cx, cy = cx + rng.normal(0, 0.02), cy + rng.normal(0, 0.02)
        face -= 0.3 * np.exp(-((x - cx) ** 2 + ((y - cy) * 2) ** 2) / r**2)
    face += cv2.GaussianBlur(rng.normal(0, 0.05, (h, w)), (0, 0), 1.0)
    return np.clip(face, 0, 1).astype(np.float32)


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real workflow in ``workdir``; output is captured and shown when it fails."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def make_workdir(path: Path, config: dict | None = None, **dataset) -> Path:
    """A working folder with a generated dataset under data/ and a config.yaml."""
    path.mkdir(parents=True, exist_ok=True)
    sizes = {**TINY, **dataset}
    generate_demo_dataset(
        path / "data", sizes["subjects"], sizes["frames"], sizes["size"], sizes["seed"]
    )
    (path / "config.yaml").write_text(yaml.safe_dump(config or TINY_CONFIG))
    return path


# far beyond the few minutes it takes: only turns a run that died silently into a failure
PIPELINE_LIMIT_S = 3600

# The test files that take longest, longest first (--durations of whole runs under load 6-9,
# the readers of the shared tiny run counted without their wait for it). Under pytest-xdist
# (--dist=loadfile --no-loadscope-reorder, pyproject.toml) a file runs on one worker, and files
# are handed out in collection order as workers free up: a long file handed out last runs alone
# while the other worker idles (test_crash's two clean runs, 550 s, did). Handed out first, the
# long files share the time and the short ones fill in at the end. The readers of the shared
# run (test_cross, test_predict, test_workflow, test_report) come after the first few, once it
# has had time to finish. Files not listed follow, in their usual order.
LONGEST_FIRST = [
    "test_crash.py",
    "test_slurm.py",  # mostly waiting for SLURM's status polls
    "test_invariance.py",
    "test_registry_plugin.py",
    "test_cross.py",
    "test_aligned_models.py",
    "test_predict.py",
    "test_bad_input.py",
    "test_workflow.py",
    "test_report.py",
    "test_sequence.py",
    "test_stacking.py",
    "test_labels.py",
    "test_study.py",
    "test_leakage.py",
    "test_logistic.py",
    "test_saved_models.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Runs the files of :data:`LONGEST_FIRST` first, in its order (a stable sort: the tests of a
    file, and the files not listed, keep their order)."""
    place = {name: rank for rank, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: place.get(item.path.name, len(place)))


def _start_pipeline(session: Path) -> None:
    """Start the tiny run in ``session``/pipeline in the background, unless a worker has."""
    with open(session / "pipeline.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (session / "pipeline.log").exists():
            return
        workdir = make_workdir(session / "pipeline")
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--cores", "2"]
        with open(session / "pipeline.log", "w") as log:
            # the exit status goes to a file: the worker that waits may not be the one that started
            subprocess.Popen(
                f"{shlex.join(command)}; echo $? > ../pipeline.status.tmp; "
                "mv ../pipeline.status.tmp ../pipeline.status",
                shell=True,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


@pytest.fixture(scope="session", autouse=True)
def pipeline_started(request, tmp_path_factory, worker_id) -> None:
    """Under pytest-xdist, the tiny run starts with the session when any test will need it, and
    runs beside the other tests (much of the suite leaves a core idle); :func:`pipeline_run`
    waits for it. Every worker collects every test, so each can tell; the first starts it."""
    needed = any("pipeline_run" in item.fixturenames for item in request.session.items)
    if worker_id != "master" and needed:
        _start_pipeline(tmp_path_factory.getbasetemp().parent)


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, worker_id) -> Path:
    """A complete run of the whole DAG on the tiny dataset (shared: it is the slow part).

    Under pytest-xdist the run is shared by the workers: started as the session starts
    (:func:`pipeline_started`) in the session's folder, and waited for here.
    """
    if worker_id == "master":  # one process
        workdir = make_workdir(tmp_path_factory.mktemp("pipeline"))
        snakemake(workdir, "--cores", "2")
        return workdir
    session = tmp_path_factory.getbasetemp().parent  # this session's, shared by its workers
    status, deadline = session / "pipeline.status", time.monotonic() + PIPELINE_LIMIT_S
    while not status.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"the tiny pipeline run ({session / 'pipeline'}) never ended")
        time.sleep(1)
    if status.read_text().strip() != "0":
        output = (session / "pipeline.log").read_text()
        raise AssertionError(f"the tiny pipeline run failed:\n{output[-8000:]}")
    return session / "pipeline"
