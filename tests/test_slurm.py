"""profiles/slurm, run for real: Snakemake's SLURM executor against a single-node SLURM cluster
(slurmctld, slurmd, slurmdbd with MariaDB, munged) that tests/slurm/start.sh starts for the
session and tests/slurm/stop.sh stops. The shipped profile is used as it is, with only its
partition and account replaced by the test cluster's (on the command line)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from auflow.io.parquet import read_table
from auflow.snakemake_output import job_counts

from conftest import REPO, SNAKEFILE, make_workdir, snakemake

SCRIPTS = REPO / "tests/slurm"
# Every SLURM job costs two Snakemake start-ups and a status poll, tens of seconds on two busy
# cores, so the workflow is as small as the DAG allows: 3 subjects for 3 subject-exclusive
# folds (2 training subjects each, so 2 inner splits), one shard each, one extractor, one
# classifier; no baseline, study, leakage comparison or final models.
DATASET = {"subjects": 3, "frames": 12, "size": 48, "seed": 0}
CONFIG = {
    "dataset": {"root": "data"},
    "features": {"face_size": 48, "shard_size": 12, "extractors": ["gabor_energy"]},
    "evaluation": {
        "split": "group_kfold",
        "k": 3,
        "seed": 0,
        "inner_splits": 2,
        "leakage_comparison": False,
    },
    "classifiers": {"naive_bayes": {}},
    "baseline": {"enabled": False},
    "study": {"enabled": False},
    "models": {"save_final": False, "static": False},
}
# Snakemake ignores SIGTERM while it waits for jobs, so a run past its limit is killed (SIGKILL
# to its process group); the limit only turns a hang into a failure.
RUN_LIMIT_S = 1200
FAILURE_LIMIT_S = 600
SUBMITTED = re.compile(
    r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+/rule_(\w+)/\S*\.log)\)\."
)


@dataclass(frozen=True)
class SlurmCluster:
    state: Path
    env: dict[str, str]  # SLURM_CONF, AUFLOW_SLURM_PARTITION, AUFLOW_SLURM_ACCOUNT

    def command(self, *args: str) -> str:
        """Run a SLURM client command (sacct, squeue, ...) against this cluster; its stdout."""
        env = {**os.environ, **self.env}
        return subprocess.run(
            args, env=env, capture_output=True, text=True, check=True, timeout=60
        ).stdout


@dataclass(frozen=True)
class SlurmRun:
    workdir: Path
    returncode: int
    output: str  # Snakemake's stdout and stderr
    run_id: str  # the executor's run id: the SLURM job name of every job of the run
    submitted: dict[str, tuple[str, Path]]  # SLURM job id -> (rule, SLURM log of the job)


@pytest.fixture(scope="session")
def slurm_cluster():
    # Under /tmp, not pytest's private tmp folder: munged and mariadbd run as their own users.
    state = Path(tempfile.mkdtemp(prefix="auflow-slurm-"))
    try:
        start = subprocess.run(
            [str(SCRIPTS / "start.sh"), str(state)], capture_output=True, text=True, timeout=900
        )
        if start.returncode != 0:
            raise RuntimeError(f"tests/slurm/start.sh failed:\n{start.stdout}\n{start.stderr}")
        env = {}
        for line in (state / "slurm.env").read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value
        yield SlurmCluster(state, env)
    finally:
        subprocess.run([str(SCRIPTS / "stop.sh"), str(state)], timeout=300)
        shutil.rmtree(state, ignore_errors=True)


def start_on_slurm(workdir: Path, cluster: SlurmCluster, *args: str) -> subprocess.Popen:
    """Start the workflow in ``workdir`` with ``--profile profiles/slurm`` on ``cluster``."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(SNAKEFILE),
        "--profile",
        str(REPO / "profiles/slurm"),
        "--default-resources",
        f"slurm_partition={cluster.env['AUFLOW_SLURM_PARTITION']}",
        f"slurm_account={cluster.env['AUFLOW_SLURM_ACCOUNT']}",
        # each job's SLURM log is its own record of having run inside SLURM
        "--slurm-keep-successful-logs",
        # The executor's first status check after a job finishes is 40 s away by default, a
        # courtesy to a real cluster's slurmdbd; here it would be most of each DAG level's time.
        "--slurm-init-seconds-before-status-checks",
        "5",
        *args,
    ]
    return subprocess.Popen(
        command,
        cwd=workdir,
        env={**os.environ, **cluster.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish_on_slurm(process: subprocess.Popen, workdir: Path, limit_s: float) -> SlurmRun:
    """Wait for a run that :func:`start_on_slurm` started; killed after ``limit_s``."""
    try:
        output, _ = process.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(
            f"snakemake on SLURM still running after {limit_s} s, killed:\n{output[-6000:]}"
        ) from None
    run_id = re.search(r"SLURM run ID: (\S+)", output)
    assert run_id, f"no SLURM run ID in Snakemake's output:\n{output[-6000:]}"
    submitted = {
        slurm_id: (rule, Path(log)) for _, slurm_id, log, rule in SUBMITTED.findall(output)
    }
    return SlurmRun(workdir, process.returncode, output, run_id.group(1), submitted)


def accounting(cluster: SlurmCluster, run_id: str) -> dict[str, dict[str, str]]:
    """slurmdbd's record of the run's jobs: SLURM job id -> State, ExitCode, Comment."""
    text = cluster.command(
        "sacct", "-X", "-n", "--parsable2", "--name", run_id,
        "--format", "JobIDRaw,State,ExitCode,Comment%200",
    )  # fmt: skip
    rows = csv.reader(text.splitlines(), delimiter="|")
    return {row[0]: {"State": row[1], "ExitCode": row[2], "Comment": row[3]} for row in rows}


@dataclass(frozen=True)
class SlurmRuns:
    whole: SlurmRun  # the whole tiny workflow
    failing: SlurmRun  # one labels job that fails on purpose
    local: Path  # the same workflow run locally


@pytest.fixture(scope="session")
def slurm_runs(slurm_cluster, tmp_path_factory) -> SlurmRuns:
    """The SLURM runs and the local run they are compared with, all at once: a SLURM run spends
    most of its time waiting for the executor's next status poll, not computing."""
    whole = make_workdir(tmp_path_factory.mktemp("slurm_run"), CONFIG, **DATASET)
    failing = make_workdir(tmp_path_factory.mktemp("slurm_failing"), CONFIG, **DATASET)
    labels_path = failing / "data/json/SN002.json"
    labels_path.write_text(json.dumps(json.loads(labels_path.read_text())[:-1]))
    local = make_workdir(tmp_path_factory.mktemp("local_run"), CONFIG, **DATASET)

    started = [
        (start_on_slurm(whole, slurm_cluster), whole, RUN_LIMIT_S),
        (start_on_slurm(failing, slurm_cluster, "results/labels/SN002.parquet"), failing,
         FAILURE_LIMIT_S),
    ]  # fmt: skip
    try:
        snakemake(local, "--cores", "2")
    finally:
        # every run is waited for (or killed at its limit) before any failure is raised
        outcomes = []
        for run in started:
            try:
                outcomes.append(finish_on_slurm(*run))
            except AssertionError as error:
                outcomes.append(error)
    for outcome in outcomes:
        if isinstance(outcome, AssertionError):
            raise outcome
    return SlurmRuns(*outcomes, local)


@pytest.fixture(scope="session")
def slurm_run(slurm_runs) -> SlurmRun:
    run = slurm_runs.whole
    assert run.returncode == 0, f"snakemake on SLURM failed:\n{run.output[-8000:]}"
    return run


def test_every_job_is_submitted_to_slurm_and_writes_its_slurm_log(slurm_run):
    scheduled = job_counts(slurm_run.output)
    # `all` only collects the targets: Snakemake finishes it itself, as a local rule
    assert scheduled.pop("all") == 1
    submitted_rules = [rule for rule, _ in slurm_run.submitted.values()]
    assert {rule: submitted_rules.count(rule) for rule in scheduled} == scheduled
    # 3 feature shards, 3 label files, join, folds, 3 folds of naive_bayes, provenance,
    # aggregate and the two plotting jobs
    assert len(submitted_rules) == sum(scheduled.values()) == 15
    for slurm_id, (rule, log) in slurm_run.submitted.items():
        # SLURM wrote the job's output to <slurm job id>.log; the job ran its rule in there
        assert log.name == f"{slurm_id}.log"
        text = log.read_text()
        assert re.search(rf"^localrule {rule}:$", text, re.MULTILINE), text[-3000:]


def test_the_controller_accounts_for_every_job_of_the_run(slurm_run, slurm_cluster):
    jobs = accounting(slurm_cluster, slurm_run.run_id)
    assert set(jobs) == set(slurm_run.submitted)
    for slurm_id, job in jobs.items():
        rule, _ = slurm_run.submitted[slurm_id]
        assert job["State"] == "COMPLETED" and job["ExitCode"] == "0:0", (slurm_id, job)
        # the executor names the rule (and wildcards) in the job's comment
        assert re.fullmatch(rf"rule_{rule}(_wildcards_\w+)?", job["Comment"]), (rule, job)


def test_results_on_slurm_equal_a_local_run(slurm_run, slurm_runs):
    for table in (
        "results/metrics/per_fold.parquet",
        "results/dataset/gabor_energy.parquet",
        *(f"results/predictions/group_kfold/gabor_energy/naive_bayes/fold{k}.parquet"
          for k in range(3)),
    ):  # fmt: skip
        # float32 features of the same image from two runs have differed in the last bit
        # (one value of one column, seen once), so floats are compared to 1e-5 relative
        pd.testing.assert_frame_equal(
            read_table(slurm_run.workdir / table), read_table(slurm_runs.local / table), rtol=1e-5
        )
    assert (slurm_run.workdir / "results/plots/f1_per_au.png").stat().st_size > 0


def test_a_failing_job_makes_snakemake_exit_with_an_error(slurm_runs, slurm_cluster):
    run = slurm_runs.failing

    assert run.returncode != 0
    assert [rule for rule, _ in run.submitted.values()] == ["labels"], run.output[-6000:]
    [slurm_id] = run.submitted
    assert f"SLURM-job '{slurm_id}' failed, SLURM status is: 'FAILED'" in run.output
    assert accounting(slurm_cluster, run.run_id)[slurm_id]["State"] == "FAILED"
    log = (run.workdir / "logs/labels/SN002.log").read_text()
    assert "data/json/SN002.json has 11 frames" in log
    assert not (run.workdir / "results/labels/SN002.parquet").exists()
