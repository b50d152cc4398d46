"""Hyperparameter studies with Optuna, inside the training subjects of a fold only."""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import logging
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from auflow.evaluation.folds import split_fold, training_frames
from auflow.evaluation.metrics import HEADLINE_METRIC, score_predictions
from auflow.io.dataset import KEY
from auflow.journal import JournalStudy, open_journal_study
from auflow.models import make_detector
from auflow.models.registry import spec_of, studied
from auflow.models.train import fit_detector, predict_frames
from auflow.settings import EvaluationSettings

log = logging.getLogger(__name__)


# Trials that report per-epoch values are stopped when they fall below the median of earlier
# trials at the same epoch; the first trials and epochs always run.
PRUNER = {"n_startup_trials": 2, "n_warmup_steps": 2}


def inner_folds(train: pd.DataFrame, n_splits: int, seed: int) -> pd.DataFrame:
    """Grouped validation folds over the training subjects: ``subject``, ``frame``, ``fold``."""
    from auflow.evaluation.splits import inner_group_splits

    folds = train[KEY].copy()
    folds["fold"] = np.int16(-1)
    splits = inner_group_splits(train["subject"].to_numpy(), n_splits=n_splits, seed=seed)
    for number, (_, validation) in enumerate(splits):
        folds.iloc[validation, folds.columns.get_loc("fold")] = number
    return folds


def pooled_macro_f1(labels: pd.DataFrame, predictions: pd.DataFrame, aus, threshold: int) -> float:
    """Mean over AUs of F1 pooled over every predicted frame (the headline of the summary); 0
    when no AU is defined, so a trial always has a value."""
    scored = score_predictions(predictions, labels, list(aus), threshold)
    headline = (scored["au"] == 0) & (scored["metric"] == HEADLINE_METRIC)
    f1 = scored.loc[headline, "value"].iloc[0]
    return 0.0 if np.isnan(f1) else float(f1)


def pooled_cut_predictions(
    predictions: pd.DataFrame, labels: pd.DataFrame, settings: EvaluationSettings
) -> pd.DataFrame:
    """``predictions`` of the inner validation parts (``fold`` = part) with each AU's occurrence
    cut anew at the threshold and smoothing width that maximise F1 over all parts pooled
    (:func:`auflow.models.detector.choose_cut`). An AU without positive frames, or whose scores
    no part ranks (constant within every part), keeps the detectors' own cut, as a detector's
    tuning does."""
    from auflow.aus import au_column, occurs
    from auflow.models.detector import choose_cut, smooth_scores

    cut = predictions.copy()
    names = [au_column(au) for au in settings.aus]
    truth = cut[KEY].merge(labels[[*KEY, *names]], on=KEY, how="left", validate="one_to_one")
    groups = cut["subject"].to_numpy().astype(str)
    parts = cut["fold"].to_numpy()
    for au in settings.aus:
        name = au_column(au)
        occurrence = occurs(truth[name].to_numpy(), settings.occurrence_threshold)
        occurrence = occurrence.astype(np.int8)
        scores = cut[f"{name}_p"].to_numpy(np.float64)
        ranked = any(np.ptp(scores[parts == part]) > 0 for part in np.unique(parts))
        if not occurrence.any() or not ranked:
            continue
        threshold, width, _ = choose_cut(scores, occurrence, groups, settings.smoothing)
        cut[f"{name}_c"] = (smooth_scores(scores, groups, width) >= threshold).astype(np.int8)
    return cut


def study_name(*parts) -> str:
    """A name that changes whenever the data or the settings of a study do, so that a study
    resumes from its journal only when re-run on exactly the same problem."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(
            part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode()
        )
    return digest.hexdigest()[:16]


def study_of_files(data, folds: str | Path, model: str, fold: int, p: dict) -> str:
    """The :func:`study_name` of a rule's study: its data files (the dataset table, or a list
    of it and a stack table), model, fold and the ``study`` parameters its worker and gather
    jobs share (n_trials, settings, base parameters, inner parts)."""
    files = [data] if isinstance(data, str | Path) else list(data)
    return study_name(
        *(Path(path).read_bytes() for path in files),
        Path(folds).read_bytes(),
        [model, fold, p["n_trials"], p["settings"], p["base_params"], p.get("inner_parts")],
    )


def objective_for(
    dataset: pd.DataFrame,
    folds: pd.DataFrame,
    fold: int,
    model: str,
    settings: EvaluationSettings,
    n_jobs: int = 1,
    base_params: dict | None = None,
    inner_parts: int | None = None,
):
    """The objective of ``model``'s study on ``fold``: it sees the fold's training subjects only.

    ``dataset`` is the dataset table, or only the fold's training frames (what a study job reads,
    :func:`auflow.evaluation.folds.load_fold` with ``with_test=False``, so that the table's other
    features are not held during the trials).

    A trial is scored as the pipeline reports, F1 per AU pooled over the inner validation
    subjects, mean over AUs, with one difference that makes a trial a quarter of the work: the
    detectors are fitted on each inner training part without tuning, and each AU's threshold
    (and smoothing width) is chosen on the pooled inner validation scores
    (:func:`pooled_cut_predictions`), not inside each inner training part by a further inner
    split. That F1 is optimistic by the same kind of margin for every trial, which is all a
    ranking of trials needs; the test subjects of the fold are never seen either way, and the
    detector refitted with the best parameters tunes its thresholds as every detector does.

    ``inner_parts`` (None: all ``settings.inner_splits``; more than there are: all) limits a
    trial to the first inner parts: a trial of one part fits one detector, on the other inner
    parts' subjects, and is scored on that part's validation subjects only, its cut chosen on
    their scores. For a network whose fit takes minutes (the LSTM) that is a third of the
    work of three parts, for a noisier value: fewer validation subjects.

    A model whose ``fit`` takes an ``epoch_callback`` (the LSTM) reports, while fitting the
    first inner part, minus its validation loss after every epoch to a ``MedianPruner``, which
    stops a trial that trails the median of the earlier trials at that epoch.

    Returns
    -------
    ``(objective, space)``: the objective ``trial -> score`` and the search space that turns a
    trial's values into model parameters (base, then search-space values and fixed ones).
    """
    space = spec_of(model).search_space
    if space is None:
        raise ValueError(f"no search space for {model!r}; study.models may hold {studied()}")
    train = training_frames(dataset, folds, fold)
    validation_folds = inner_folds(train, settings.inner_splits, settings.seed)
    n_inner = int(validation_folds["fold"].max()) + 1
    if inner_parts is not None:
        if inner_parts < 1:
            raise ValueError(
                f"study of {model!r}: inner_parts must be at least 1, got {inner_parts}"
            )
        n_inner = min(n_inner, int(inner_parts))
    base = dict(base_params or {})

    def parameters(trial) -> dict:
        return {**base, **space(trial, base)}

    # with tuning off, a detector cuts at its own threshold; the cut is then chosen below
    cut_pooled = settings.target == "occurrence" and settings.tune_threshold

    def objective(trial: optuna.Trial) -> float:
        detector = make_detector(model, parameters(trial), settings, n_jobs)
        if cut_pooled:
            detector.set_params(tune_threshold=False)
        reports = "epoch_callback" in inspect.signature(detector.fit).parameters
        parts = []
        for inner in range(n_inner):
            inner_train, inner_validation = split_fold(train, validation_folds, inner)
            fit_params = {"epoch_callback": _reporter(trial)} if reports and inner == 0 else {}
            fit_detector(detector, inner_train, **fit_params)
            parts.append(predict_frames(detector, inner_validation, inner))
        predictions = pd.concat(parts, ignore_index=True)
        if cut_pooled:
            predictions = pooled_cut_predictions(predictions, train, settings)
        return pooled_macro_f1(train, predictions, settings.aus, settings.occurrence_threshold)

    return objective, parameters


def open_study(journal: str | Path, name: str) -> JournalStudy:
    """The study ``name`` in the journal file ``journal`` (:mod:`auflow.journal`: created on
    first use, shared by the processes that open it), with this search's pruner."""
    return open_journal_study(journal, name, optuna.pruners.MedianPruner(**PRUNER))


FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _places(study: optuna.Study) -> dict[int, int]:
    """Trial number -> place (0 ... n_trials - 1) of every trial that holds one: finished or
    still running, all but failed ones. A trial holds the place it claimed; one without a claim
    (a journal written before places were recorded) the lowest place left, in trial order."""
    holders = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.FAIL]
    places = {t.number: t.user_attrs["place"] for t in holders if "place" in t.user_attrs}
    taken = set(places.values())
    free = (place for place in itertools.count() if place not in taken)
    for trial in holders:
        if trial.number not in places:
            places[trial.number] = next(free)
    return places


def _sampler(seed: int, place: int) -> optuna.samplers.BaseSampler:
    """A TPE sampler seeded by the trial's place in the study, whichever worker runs it and
    whenever. A study resumed after a kill, or run by another number of workers, thus draws for
    its k-th place what an uninterrupted one draws (exactly so while TPE draws at random, its
    first 10 trials; after that it also reads the trials finished so far, which with several
    workers depends on their timing)."""
    state = np.random.SeedSequence([int(seed), int(place)]).generate_state(1)[0]
    return optuna.samplers.TPESampler(seed=int(state))


def add_trials(
    study: JournalStudy,
    objective,
    n_trials: int,
    worker: str,
    seed: int,
    timeout: float | None = None,
) -> int:
    """Run trials of ``study`` until its ``n_trials`` places are held by finished or running
    trials, counting the trials of every worker that shares the journal; never more than
    ``n_trials`` are run.

    A worker claims the lowest free place and asks for its trial under a lock, so places are
    never claimed twice and each place's draw depends on the place only (:func:`_sampler`).
    A trial that ``worker`` left running (its job was killed) is marked failed first, which
    frees its place for the next claim: the same worker never runs twice at once, so it cannot
    be in progress.

    Returns
    -------
    The number of trials this call finished (complete or pruned).
    """
    for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if stale.user_attrs.get("worker") == worker:
            log.info("trial %d was left running by %s: marked failed", stale.number, worker)
            study.tell(stale.number, state=TrialState.FAIL)
    started = time.monotonic()
    finished = 0
    while True:
        if timeout is not None and time.monotonic() - started > timeout:
            log.info("%s: timeout of %s s reached", worker, timeout)
            break
        with study.claims():
            taken = set(_places(study).values())
            place = next((p for p in range(n_trials) if p not in taken), None)
            if place is None:
                break
            study.sampler = _sampler(seed, place)
            trial = study.ask()
            trial.set_user_attr("worker", worker)
            trial.set_user_attr("place", place)
        try:
            value = objective(trial)
        except optuna.TrialPruned as pruned:
            log.info("trial %d pruned: %s", trial.number, pruned)
            study.tell(trial, state=TrialState.PRUNED)
        except BaseException:
            study.tell(trial, state=TrialState.FAIL)
            raise
        else:
            log.info(
                "trial %d, place %d (%s): %.4f %s", trial.number, place, worker, value, trial.params
            )
            study.tell(trial, value)
        finished += 1
    return finished


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The complete trial with the highest value, ties going to the lowest place. Optuna's own
    ``best_trial`` keeps the lowest trial number among equals (small folds often tie, e.g. at
    F1 = 0), and numbers follow the order in which workers asked, or a re-run after a kill."""
    places = _places(study)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ValueError(f"study {study.study_name} has no complete trial")
    return max(complete, key=lambda t: (t.value, -places[t.number]))


def finished_trials(study: optuna.Study) -> pd.DataFrame:
    """The study's finished trials (complete or pruned) in trial-number order."""
    table = study.trials_dataframe()
    if table.empty:
        return table
    table = table[table["state"].isin([s.name for s in FINISHED])]
    return table.sort_values("number").reset_index(drop=True)


def run_study(
    dataset: pd.DataFrame,
    folds: pd.DataFrame,
    fold: int,
    model: str,
    settings: EvaluationSettings,
    n_trials: int,
    journal: str | Path,
    name: str,
    timeout: float | None = None,
    n_jobs: int = 1,
    base_params: dict | None = None,
    worker: str = "gather",
    inner_parts: int | None = None,
) -> tuple[optuna.Study, dict]:
    """Tune ``model`` on the training subjects of ``fold`` (see :func:`objective_for`); the test
    fold is never seen. Trials are journalled to ``journal``, so an interrupted study resumes
    where it stopped and runs only the trials still missing, up to ``n_trials`` in all,
    whichever worker ran the others (:func:`add_trials`).

    Parameters
    ----------
    base_params : the model's parameters that the search space does not set (its config
        section), e.g. the LSTM's epochs and stride.
    worker : this process's name among the processes that share ``journal``.
    inner_parts : inner parts a trial fits and scores (None: all; see :func:`objective_for`).

    Returns
    -------
    The study and the best model parameters.
    """
    objective, parameters = objective_for(
        dataset, folds, fold, model, settings, n_jobs, base_params, inner_parts
    )
    study = open_study(journal, name)
    done = sum(t.state in FINISHED for t in study.get_trials(deepcopy=False))
    log.info("study %s: %d of %d trials done", name, done, n_trials)
    add_trials(study, objective, n_trials, worker, settings.seed, timeout)
    return study, parameters(optuna.trial.FixedTrial(best_trial(study).params))


def _reporter(trial: optuna.Trial):
    """An ``epoch_callback`` that reports minus the validation loss (the study maximises) and
    stops the trial when the pruner says so."""

    def report(epoch: int, validation_loss: float) -> None:
        trial.report(-float(validation_loss), step=int(epoch))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}")

    return report
