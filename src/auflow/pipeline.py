"""What the workflow's learning jobs do, one function each, for their scripts to call.

- :func:`classify_fold` (rules ``classify_<model>``): a model fitted on a fold's training
  subjects, predicting and scoring its test subjects (:func:`evaluate_fold`);
- :func:`study_fold` (rule ``study``): a fold's Optuna study, then its best parameters fitted,
  predicting and scoring the test subjects as :func:`classify_fold` does; :func:`add_study_trials`
  (rule ``study_worker``): one of the workers adding trials to the study's journal;
- :func:`fit_final` (rules ``fit_final_<model>``): a model fitted on every subject and saved;
- :func:`score_cross` (rule ``cross_score``): a final model's predictions of a cross dataset
  scored as a fold is.

Inputs and outputs are paths; nothing here knows Snakemake.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from auflow.aus import au_column
from auflow.checks import config_hash
from auflow.cross import cross_metrics, never_labelled
from auflow.evaluation.aggregate import fold_metrics
from auflow.io.dataset import concat_tables
from auflow.io.parquet import read_table, write_table
from auflow.models import make_detector
from auflow.models.stacking import (
    fit_stacked,
    load_model_fold,
    read_stacked,
    stack_metadata,
    stack_of,
    stacked_fit,
)
from auflow.models.train import fit_detector, load_dataset, load_labels, predict_frames
from auflow.settings import EvaluationSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Model:
    """A model of the run: its label (``svm_linear_static``), its registry name
    (``svm_linear``), its parameters (its config section's) and its evaluation settings."""

    name: str
    classifier: str
    params: dict | None
    settings: EvaluationSettings

    def detector(self, n_jobs: int = 1):
        """An unfitted detector of the model (:func:`auflow.models.make_detector`)."""
        return make_detector(self.classifier, self.params, self.settings, n_jobs)


@dataclass(frozen=True)
class Stacking:
    """A model's stack tables (:mod:`auflow.models.stacking`): ``inputs``, the table a stacked
    model takes as its features; ``output``, where a per-frame model another model stacks on
    writes its scores; ``base_model``, the saved per-frame model (folder or manifest) a saved
    stacked model carries to score features. None where it has none."""

    inputs: str | None = None
    output: str | None = None
    base_model: str | None = None


NO_STACKING = Stacking()


@dataclass(frozen=True)
class Saving:
    """What a saved model's manifest records of the run that fitted it, beside the model."""

    extractor: str
    extractor_params: dict
    face_size: int | None
    config_hash: str
    align: str = "none"  # features.align: how the training faces were aligned

    @classmethod
    def of_job(cls, extractor: str, params, config: dict) -> Saving:
        """What a job's manifest records: its extractor wildcard, its ``extractor_params`` and
        ``face_size`` params, and the run's config (its hash, ``features.align``)."""
        return cls(
            extractor,
            params.extractor_params,
            params.face_size,
            config_hash(config),
            config["features"].get("align", "none"),
        )


@dataclass(frozen=True)
class FoldIds:
    """What a fold's metrics are of: the labels of every row of its metrics table."""

    extractor: str
    classifier: str
    split: str
    leaky: bool
    fold: int


def fit(detector, train: pd.DataFrame, test, stacking: Stacking, seed: int) -> None:
    """Fit ``detector`` on ``train`` (for a stacked model: the stack table's columns), and, for
    a per-frame model another stacks on (``stacking.output``), write there the stack table of
    ``train`` (out-of-split scores) and ``test`` (None for a final fit)."""
    if stacking.output:
        stacked, made = fit_stacked(detector, train, test, seed)
        write_table(stacked, stacking.output, stack_metadata(made, detector))
    else:
        fit_detector(detector, train, **stacked_fit(detector, stacking.inputs))


def evaluate_fold(
    detector,
    train: pd.DataFrame,
    test: pd.DataFrame,
    ids: FoldIds,
    settings: EvaluationSettings,
    *,
    dataset: str,
    predictions: str,
    metrics: str,
    metadata: dict,
    stacking: Stacking = NO_STACKING,
) -> None:
    """The fold pipeline: fit ``detector`` on the fold's ``train`` frames (:func:`fit`), predict
    its ``test`` frames once, score them against the labels of the ``dataset`` table, and write
    the ``predictions`` (with ``metadata``) and the ``metrics`` tables."""
    fit(detector, train, test, stacking, settings.seed)
    predicted = predict_frames(detector, test, ids.fold)
    write_table(predicted, predictions, metadata)
    labels = load_labels(dataset)  # the metrics need the labels only
    threshold = settings.occurrence_threshold
    scored = fold_metrics(predicted, labels, settings.aus, threshold, **vars(ids))
    write_table(scored, metrics)


def classify_fold(
    model: Model,
    ids: FoldIds,
    *,
    dataset: str,
    folds: str,
    predictions: str,
    metrics: str,
    stacking: Stacking = NO_STACKING,
    fold_model: str | None = None,
    saving: Saving | None = None,
    n_jobs: int = 1,
) -> None:
    """``model`` fitted on the training subjects of fold ``ids.fold`` of the ``folds`` table,
    predicting and scoring its test subjects (:func:`evaluate_fold`); saved into
    ``fold_model`` when given."""
    settings = model.settings
    # the two parts are read straight from the table, never the whole table's features beside
    # them (a stacked model's features are the stack table's columns)
    train, test = load_model_fold(
        dataset, stacking.inputs, read_table(folds), ids.fold, settings.normalise
    )
    detector = model.detector(n_jobs)
    metadata = {"classifier": model.name, "params": model.params, "target": settings.target}
    evaluate_fold(
        detector,
        train,
        test,
        ids,
        settings,
        dataset=dataset,
        predictions=predictions,
        metrics=metrics,
        metadata=metadata,
        stacking=stacking,
    )
    if fold_model:
        save_detector(detector, fold_model, train, model, saving, stacking)


def study_fold(
    model: str,
    study_params: dict,
    ids: FoldIds,
    *,
    dataset: str,
    folds: str,
    outputs,
    stack: str | None = None,
    n_jobs: int = 1,
) -> None:
    """A study of ``model`` (a registry name; ``ids.classifier`` is ``optuna_<model>``) on the
    training subjects of fold ``ids.fold`` (run here, or gathered from the journal its workers
    wrote, and completed), its figures, then its best parameters fitted and scored as
    :func:`classify_fold` does.

    Parameters
    ----------
    study_params : what a study's worker and gather jobs share (``journal``, ``n_trials``,
        ``settings``, ``base_params``, ``inner_parts``, ``timeout``).
    outputs : paths ``trials``, ``best``, ``history``, ``importance``, ``predictions``,
        ``metrics`` (attributes).
    """
    from auflow.plots import plot_study
    from auflow.study import finished_trials, run_study

    settings, folds_table, train, test, name = _study_of(
        model, study_params, ids.fold, dataset, folds, stack
    )
    study, best = run_study(
        train,
        folds_table,
        ids.fold,
        model,
        settings,
        study_params["n_trials"],
        study_params["journal"],
        name,
        study_params["timeout"],
        n_jobs,
        base_params=study_params["base_params"],
        inner_parts=study_params["inner_parts"],
    )
    plot_study(study, ids.classifier, f"fold {ids.fold}", outputs)
    detector = make_detector(model, best, settings, n_jobs)
    evaluate_fold(
        detector,
        train,
        test,
        ids,
        settings,
        dataset=dataset,
        predictions=outputs.predictions,
        metrics=outputs.metrics,
        metadata={"classifier": ids.classifier, "params": best},
        stacking=Stacking(inputs=stack),
    )
    write_table(finished_trials(study), outputs.trials, {"study": name})
    Path(outputs.best).write_text(
        json.dumps({"study": name, "best_value": study.best_value, "params": best}, indent=2)
    )


def _study_of(model: str, study_params: dict, fold: int, dataset, folds, stack, with_test=True):
    """(settings, folds table, train, test, name) of a fold's study: the fold's parts as a
    model's job reads them (``with_test=False``: test None) and the study's name
    (:func:`auflow.study.study_of_files`)."""
    from auflow.study import study_of_files

    settings = EvaluationSettings(**study_params["settings"])
    folds_table = read_table(folds)
    # the fold's parts, never the whole table's features beside them (the trials see the first)
    train, test = load_model_fold(dataset, stack, folds_table, fold, settings.normalise, with_test)
    data = [dataset, *([stack] if stack else [])]
    name = study_of_files(data, folds, model, fold, study_params)
    return settings, folds_table, train, test, name


def add_study_trials(
    model: str,
    study_params: dict,
    fold: int,
    worker: str,
    *,
    dataset: str,
    folds: str,
    stack: str | None = None,
    n_jobs: int = 1,
) -> int:
    """One worker (``worker``) of the study of ``model`` on ``fold``: trials added to the
    study's shared journal until it holds ``n_trials`` (:func:`auflow.study.add_trials`).
    Returns the number of trials this worker ran."""
    from auflow.study import add_trials, objective_for, open_study

    settings, folds_table, train, _, name = _study_of(
        model, study_params, fold, dataset, folds, stack, with_test=False
    )
    objective, _ = objective_for(
        train,
        folds_table,
        fold,
        model,
        settings,
        n_jobs,
        study_params["base_params"],
        study_params["inner_parts"],
    )
    study = open_study(study_params["journal"], name)
    n_trials, timeout = study_params["n_trials"], study_params["timeout"]
    ran = add_trials(study, objective, n_trials, worker, settings.seed, timeout)
    log.info("%s of study %s: %d trials", worker, name, ran)
    return ran


def fit_final(
    model: Model,
    *,
    dataset: str,
    manifest: str,
    saving: Saving,
    stacking: Stacking = NO_STACKING,
    n_jobs: int = 1,
) -> None:
    """``model`` fitted on every subject of the ``dataset`` table (a stacked model: on the rows
    of its stack table), saved with its ``manifest`` for ``auflow predict``."""
    if stacking.inputs:  # the per-frame detector's scores are its features
        training = read_stacked(stacking.inputs, dataset)
    else:
        training = load_dataset(dataset, model.settings.normalise)
    detector = model.detector(n_jobs)
    fit(detector, training, None, stacking, model.settings.seed)
    save_detector(detector, manifest, training, model, saving, stacking)


def score_cross(
    predictions: str,
    labels,
    aus,
    threshold: int,
    *,
    cross: str,
    extractor: str,
    model: str,
    metrics: str,
) -> None:
    """A final model's ``predictions`` of cross dataset ``cross`` scored against its ``labels``
    tables (split ``cross:<name>``, one fold); AUs the dataset never labels are not scored."""
    labels = list(labels)
    unlabelled = never_labelled(labels, aus)
    if unlabelled:
        log.warning(
            "cross dataset %s never labels %s: not scored",
            cross,
            ", ".join(au_column(au) for au in unlabelled),
        )
    scored = cross_metrics(
        read_table(predictions),
        concat_tables(labels),
        aus,
        threshold,
        unlabelled,
        extractor=extractor,
        classifier=model,
        name=cross,
    )
    write_table(scored, metrics)


def _model_folder(path) -> Path:
    """A model folder, given as itself or as its ``manifest.json``."""
    from auflow.models.saved import MANIFEST_FILE

    path = Path(path)
    return path.parent if path.name == MANIFEST_FILE else path


def stack_for_saving(detector, stack, base_model) -> list[str] | None:
    """Make a stacked detector, fitted on the stack table ``stack``, able to score features:
    give it the per-frame detector saved in ``base_model`` (its folder or manifest) and the
    table's projection (:func:`auflow.models.stacking.stack_of`). Returns the feature names it
    then takes (the per-frame detector's); None, and nothing done, for a model of features."""
    if not stack:
        return None
    from auflow.models.saved import load_model

    base = load_model(_model_folder(base_model))
    detector.stack_ = stack_of(stack, base.detector)
    return list(base.manifest["feature_names"])


def save_detector(
    detector,
    directory,
    training: pd.DataFrame,
    model: Model,
    saving: Saving,
    stacking: Stacking = NO_STACKING,
) -> None:
    """Save ``model``'s fitted detector with its manifest into ``directory`` (a model folder,
    or the parent folder of a ``manifest.json`` output). A stacked detector is first given the
    per-frame detector saved in ``stacking.base_model`` (:func:`stack_for_saving`), so that it
    scores features."""
    from auflow.io.dataset import feature_columns
    from auflow.models.saved import build_manifest, save_model

    feature_names = stack_for_saving(detector, stacking.inputs, stacking.base_model)
    directory = _model_folder(directory)
    manifest = build_manifest(
        detector,
        extractor=saving.extractor,
        extractor_params=dict(saving.extractor_params or {}),
        face_size=saving.face_size,
        feature_names=feature_names or feature_columns(training),
        normalise=model.settings.normalise,
        training=training,
        config_hash=saving.config_hash,
        model=model.name,
        align=saving.align,
    )
    save_model(detector, directory, manifest)
