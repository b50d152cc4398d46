"""Hyperparameter studies with Optuna, inside the training subjects of a fold only."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from auflow.evaluation.metrics import score_predictions
from auflow.io.dataset import KEY
from auflow.models.detector import AUDetector
from auflow.models.train import predict_fold, split_fold
from auflow.settings import EvaluationSettings

log = logging.getLogger(__name__)


def _svm_linear_space(trial: optuna.Trial) -> dict:
    return {"C": trial.suggest_float("C", 1e-3, 10.0, log=True), "class_weight": "balanced"}


def _random_forest_space(trial: optuna.Trial) -> dict:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 20, 200, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 16),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 50, log=True),
        "max_features": trial.suggest_categorical("max_features", ["sqrt", "log2"]),
        "class_weight": "balanced_subsample",
    }


def _decision_tree_space(trial: optuna.Trial) -> dict:
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 16),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 100, log=True),
        "class_weight": "balanced",
    }


def _knn_space(trial: optuna.Trial) -> dict:
    return {
        "n_neighbors": trial.suggest_int("n_neighbors", 1, 50, log=True),
        "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
    }


SEARCH_SPACES = {
    "svm_linear": _svm_linear_space,
    "random_forest": _random_forest_space,
    "decision_tree": _decision_tree_space,
    "knn": _knn_space,
}


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
    f1 = scored.loc[(scored["au"] == 0) & (scored["metric"] == "f1"), "value"].iloc[0]
    return 0.0 if np.isnan(f1) else float(f1)


def study_name(*parts) -> str:
    """A name that changes whenever the data or the settings of a study do, so that a study
    resumes from its journal only when re-run on exactly the same problem."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(
            part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode()
        )
    return digest.hexdigest()[:16]


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
) -> tuple[optuna.Study, dict]:
    """Tune ``model`` on the training subjects of ``fold``; the test fold is never seen.

    A trial is scored as the pipeline reports: detectors fitted with their thresholds (and
    smoothing) tuned inside each inner training part, their predictions on the inner validation
    subjects pooled, F1 per AU, mean over AUs. Trials are journalled to ``journal`` so an
    interrupted study resumes where it stopped; only the trials still missing are run.

    Returns
    -------
    The study and the best model parameters (search-space values plus fixed ones).
    """
    try:
        space = SEARCH_SPACES[model]
    except KeyError:
        raise ValueError(
            f"no search space for {model!r}; study.model must be one of {sorted(SEARCH_SPACES)}"
        ) from None
    train, _ = split_fold(dataset, folds, fold)
    train = train.drop(columns="fold")
    validation_folds = inner_folds(train, settings.inner_splits, settings.seed)
    n_inner = int(validation_folds["fold"].max()) + 1

    def objective(trial: optuna.Trial) -> float:
        detector = AUDetector.from_settings(model, space(trial), settings, n_jobs)
        predictions = pd.concat(
            [predict_fold(train, validation_folds, inner, detector) for inner in range(n_inner)],
            ignore_index=True,
        )
        return pooled_macro_f1(train, predictions, settings.aus, settings.occurrence_threshold)

    # Trial reports go to the rule's log file with everything else, not to the terminal.
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    Path(journal).parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=settings.seed),
        load_if_exists=True,
    )
    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if done < n_trials:
        log.info("study %s: %d trials done, running %d more", name, done, n_trials - done)
        study.optimize(objective, n_trials=n_trials - done, timeout=timeout)
    best = space(optuna.trial.FixedTrial(study.best_params))
    return study, best
