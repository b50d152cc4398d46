"""Studies shared by several workers: one journal, exactly the configured number of trials, and
a resumed study that draws what an uninterrupted one draws."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from auflow.evaluation.folds import split_fold
from auflow.models import make_detector
from auflow.models.train import fit_detector, predict_frames
from auflow.settings import EvaluationSettings
from auflow.study import (
    add_trials,
    best_trial,
    finished_trials,
    inner_folds,
    objective_for,
    open_study,
    pooled_cut_predictions,
    pooled_macro_f1,
)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def slow_objective(trial: optuna.Trial) -> float:
    """Long enough that two workers overlap; the value depends only on the drawn parameter."""
    x = trial.suggest_float("x", -3.0, 3.0)
    time.sleep(0.15)
    return -((x - 1.0) ** 2)


def run_worker(journal: str, n_trials: int, worker: str, n_workers: int = 2) -> None:
    """One worker; it starts adding trials once every worker has opened the study, as
    Snakemake's jobs would on idle cores (on a loaded machine one process can otherwise start
    after the other has run every trial)."""
    study = open_study(journal, "shared")
    gate = Path(f"{journal}.opened")
    gate.mkdir(exist_ok=True)
    (gate / worker).touch()
    deadline = time.monotonic() + 60
    while len(list(gate.iterdir())) < n_workers and time.monotonic() < deadline:
        time.sleep(0.01)
    add_trials(study, slow_objective, n_trials, worker, seed=0)


def run_worker_processes(target, journal: str, n_trials: int, n_workers: int = 2) -> None:
    """Run ``target(journal, n_trials, "worker<i>")`` in ``n_workers`` processes at once, as
    Snakemake runs study_worker jobs, and check that each one ended well."""
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=target, args=(journal, n_trials, f"worker{i}"))
        for i in range(n_workers)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0


def test_two_workers_share_one_journal_and_stop_at_the_total(tmp_path):
    journal = str(tmp_path / "journal.log")
    run_worker_processes(run_worker, journal, 12)
    study = open_study(journal, "shared")
    finished = [t for t in study.trials if t.state in FINISHED]
    assert len(finished) == 12
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))
    # both took part, each place was claimed once, and no trial was asked for and left unrun
    assert {t.user_attrs["worker"] for t in finished} == {"worker0", "worker1"}
    assert sorted(t.user_attrs["place"] for t in finished) == list(range(12))
    assert len(study.trials) == 12
    assert len(finished_trials(study)) == 12
    # a gather step asking for the same total adds nothing
    assert add_trials(study, slow_objective, 12, "gather", seed=0) == 0


def leave_running(study: optuna.Study, worker: str) -> optuna.Trial:
    """What a SIGKILL in the middle of a trial leaves in the journal: a trial still running."""
    trial = study.ask()
    trial.set_user_attr("worker", worker)
    trial.suggest_float("x", -3.0, 3.0)
    return trial


def test_a_writer_killed_holding_the_journals_locks_holds_up_no_one(tmp_path):
    # a relative journal path, as the workflow's jobs give it
    open_study_in = (
        "import sys\nfrom auflow.study import open_study\nstudy = open_study(sys.argv[1], 's')\n"
    )
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            open_study_in
            + "import os, signal\n"
            + "study.claims().acquire()  # as a worker claiming a place does\n"
            + "study._storage._backend._lock.acquire()  # as a writer does\n"
            + "os.kill(os.getpid(), signal.SIGKILL)\n",
            "results/study.journal",
        ],
        cwd=tmp_path,
    )
    assert killed.returncode == -signal.SIGKILL
    # the locks' files are still there, their locks died with the process
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [
        "study.journal",
        "study.journal.claims",
        "study.journal.writes",
    ]
    # the next worker claims a place and writes its trial; with a stale lock it would wait
    # (the timeout ends it)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            open_study_in
            + "from auflow.study import add_trials\n"
            + "add_trials(study, lambda trial: trial.suggest_float('x', 0, 1), 2, 'w', seed=0)\n"
            + "print(len(study.trials))\n",
            "results/study.journal",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.split() == ["2"]


def test_a_killed_study_resumes_to_the_total_and_draws_as_if_never_stopped(tmp_path):
    uninterrupted = open_study(tmp_path / "a.log", "s")
    add_trials(uninterrupted, slow_objective, 5, "gather", seed=3)

    killed = open_study(tmp_path / "b.log", "s")
    add_trials(killed, slow_objective, 2, "gather", seed=3)
    stale = leave_running(killed, "gather")

    resumed = open_study(tmp_path / "b.log", "s")
    assert add_trials(resumed, slow_objective, 5, "gather", seed=3) == 3
    assert resumed.trials[stale.number].state == TrialState.FAIL
    drawn = [t.params["x"] for t in resumed.trials if t.state == TrialState.COMPLETE]
    assert drawn == [t.params["x"] for t in uninterrupted.trials]
    assert [t.value for t in finished_trials(resumed).itertuples()] == [
        t.value for t in uninterrupted.trials
    ]


def test_a_worker_leaves_another_workers_running_trial_alone(tmp_path):
    study = open_study(tmp_path / "j.log", "s")
    add_trials(study, slow_objective, 1, "worker0", seed=0)
    running = leave_running(study, "worker1")
    # worker0 restarts: the running trial may be in progress in worker1 and holds its place
    assert add_trials(study, slow_objective, 4, "worker0", seed=0) == 2
    assert study.trials[running.number].state == TrialState.RUNNING
    # worker1, restarted after its kill, fails its own stale trial and fills the place
    assert add_trials(study, slow_objective, 4, "worker1", seed=0) == 1
    assert study.trials[running.number].state == TrialState.FAIL
    assert sum(t.state in FINISHED for t in study.trials) == 4


def flat_objective(trial: optuna.Trial) -> float:
    """Every trial ties (as small folds often do, at F1 = 0), finishing in a varying order."""
    trial.suggest_float("x", -3.0, 3.0)
    time.sleep(0.05 + 0.1 * (trial.number % 2))
    return 0.0


def run_flat_worker(journal: str, n_trials: int, worker: str) -> None:
    add_trials(open_study(journal, "flat"), flat_objective, n_trials, worker, seed=0)


def test_each_place_draws_alike_whichever_worker_runs_it_and_ties_go_to_the_first(tmp_path):
    alone = open_study(tmp_path / "alone.log", "flat")
    add_trials(alone, flat_objective, 6, "gather", seed=0)

    journal = str(tmp_path / "shared.log")
    run_worker_processes(run_flat_worker, journal, 6)
    shared = open_study(journal, "flat")

    def drawn(study: optuna.Study) -> dict[int, float]:
        return {t.user_attrs["place"]: t.params["x"] for t in study.trials if t.state in FINISHED}

    assert sorted(drawn(shared)) == list(range(6))
    assert drawn(shared) == drawn(alone)
    assert best_trial(shared).user_attrs["place"] == 0
    assert best_trial(shared).params == best_trial(alone).params


def noisy_au_task(subjects=9, n_frames=40, seed=0) -> pd.DataFrame:
    """A dataset table whose AU01 shows, through noise, in feature x0."""
    rng = np.random.default_rng(seed)
    n = subjects * n_frames
    intensity = rng.choice([0, 0, 0, 3], n).astype(np.int8)
    table = pd.DataFrame(
        {
            "subject": np.repeat([f"s{i}" for i in range(subjects)], n_frames),
            "frame": np.tile(np.arange(1, n_frames + 1), subjects),
            "AU01": intensity,
            "x0": (intensity > 0) + rng.normal(0, 0.8, n),
            "x1": rng.normal(0, 1, n),
        }
    )
    return table.astype({"x0": np.float32, "x1": np.float32})


def test_a_trial_of_a_one_part_model_fits_once_and_scores_its_one_validation_part():
    dataset = noisy_au_task()
    folds = dataset[["subject", "frame"]].assign(fold=dataset["subject"].isin(["s0", "s1"]) * 1)
    settings = EvaluationSettings(aus=(1,), inner_splits=3, normalise="none", seed=0)
    params = {"max_depth": 2, "min_samples_leaf": 5}
    one, parameters = objective_for(dataset, folds, 1, "decision_tree", settings, inner_parts=1)
    every, _ = objective_for(dataset, folds, 1, "decision_tree", settings)

    # the same trial by hand: one detector, fitted on the other inner parts' subjects, scored
    # on the first part's validation subjects at the cut chosen on their scores
    train = split_fold(dataset, folds, 1)[0].drop(columns="fold")
    parts = inner_folds(train, 3, 0)
    inner_train, inner_validation = split_fold(train, parts, 0)
    trial_params = parameters(optuna.trial.FixedTrial(params))
    detector = make_detector("decision_tree", trial_params, settings)
    detector.set_params(tune_threshold=False)
    predictions = predict_frames(fit_detector(detector, inner_train), inner_validation, 0)
    assert set(predictions["subject"]) < set(train["subject"])
    cut = pooled_cut_predictions(predictions, train, settings)
    expected = pooled_macro_f1(train, cut, settings.aus, settings.occurrence_threshold)

    value = one(optuna.trial.FixedTrial(params))
    assert value == expected
    assert 0 < value <= 1
    # all three parts pool the scores of every training subject: another value
    assert every(optuna.trial.FixedTrial(params)) != value


def test_a_study_given_only_the_folds_training_frames_scores_as_on_the_whole_table(tmp_path):
    from auflow.evaluation.folds import load_fold
    from auflow.io.parquet import write_table

    dataset = noisy_au_task()
    folds = dataset[["subject", "frame"]].assign(fold=dataset["subject"].isin(["s0", "s1"]) * 1)
    path = tmp_path / "dataset.parquet"
    write_table(dataset, path)
    train, test = load_fold(path, folds, 1, "none", with_test=False)
    assert test is None and not train["subject"].isin(["s0", "s1"]).any()
    settings = EvaluationSettings(aus=(1,), inner_splits=3, normalise="none", seed=0)
    whole, _ = objective_for(dataset, folds, 1, "decision_tree", settings)
    part, _ = objective_for(train, folds, 1, "decision_tree", settings)
    for params in (
        {"max_depth": 2, "min_samples_leaf": 5},
        {"max_depth": 4, "min_samples_leaf": 1},
    ):
        assert part(optuna.trial.FixedTrial(params)) == whole(optuna.trial.FixedTrial(params))
