"""Studies shared by several workers: one journal, exactly the configured number of trials, and
a resumed study that draws what an uninterrupted one draws."""

from __future__ import annotations

import multiprocessing
import time

import optuna
from optuna.trial import TrialState

from auflow.study import add_trials, best_trial, finished_trials, open_study

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def slow_objective(trial: optuna.Trial) -> float:
    """Long enough that two workers overlap; the value depends only on the drawn parameter."""
    x = trial.suggest_float("x", -3.0, 3.0)
    time.sleep(0.15)
    return -((x - 1.0) ** 2)


def run_worker(journal: str, n_trials: int, worker: str) -> None:
    add_trials(open_study(journal, "shared"), slow_objective, n_trials, worker, seed=0)


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
