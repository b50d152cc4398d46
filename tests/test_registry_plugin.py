"""A model added in one place, its registry record, is scheduled, studied, saved and loaded.

The dummy model lives in a module of its own, outside the package, named by AUFLOW_MODELS: no
rule, schema list, study table or loader learns its name.
"""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from auflow.io.parquet import read_table
from auflow.models.registry import MODELS, PLUGINS_VARIABLE

from conftest import TINY, make_workdir, snakemake

PLUGIN = textwrap.dedent(
    '''
    """A nearest-class-mean classifier, registered as a model of its own."""

    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin

    from auflow.models.registry import ModelSpec, register


    class NearestMean(ClassifierMixin, BaseEstimator):
        def __init__(self, shrink=0.0):
            self.shrink = shrink

        def fit(self, X, y):
            self.classes_ = np.unique(y)
            self.means_ = np.stack([X[y == c].mean(axis=0) for c in self.classes_])
            self.means_ *= 1 - self.shrink
            return self

        def decision_function(self, X):
            distance = ((X[:, None, :] - self.means_[None]) ** 2).sum(axis=2)
            return distance[:, 0] - distance[:, -1]


    def space(trial, base):
        return {"shrink": trial.suggest_float("shrink", 0.0, 0.5)}


    register(
        ModelSpec(
            "nearest_mean",
            NearestMean,
            search_space=space,
            trusted_types=("auflow_dummy_model.NearestMean",),
        )
    )
    '''
)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    folder = tmp_path / "plugin"
    folder.mkdir()
    (folder / "auflow_dummy_model.py").write_text(PLUGIN)
    monkeypatch.setenv(PLUGINS_VARIABLE, "auflow_dummy_model")
    monkeypatch.setenv("PYTHONPATH", f"{folder}:{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.syspath_prepend(str(folder))
    yield
    MODELS.pop("nearest_mean", None)
    sys.modules.pop("auflow_dummy_model", None)


def test_a_model_registered_in_one_place_is_scheduled_studied_saved_and_loaded(tmp_path, plugin):
    config = {
        "dataset": {"root": "data"},
        "features": {"face_size": 48, "shard_size": 40, "extractors": ["gabor_hist_seed"]},
        "evaluation": {
            "split": "group_kfold",
            "k": 3,
            "inner_splits": 2,
            "leakage_comparison": False,
        },
        "classifiers": {"nearest_mean": {"params": {"shrink": 0.1}}},
        "baseline": {"enabled": False},
        "study": {"models": ["nearest_mean"], "n_trials": 2},
    }
    # the tiny dataset (TINY): AUs with positive frames in every fold, so the tables and
    # figures of the run have F1 to show
    workdir = make_workdir(tmp_path / "work", config)
    snakemake(workdir, "--cores", "2")
    results = workdir / "results"
    predicted = 0
    for fold in range(3):
        folder = f"group_kfold/gabor_hist_seed/nearest_mean/fold{fold}"
        predictions = read_table(results / f"predictions/{folder}.parquet")
        assert predictions["AU01_p"].notna().all()
        predicted += len(predictions)
        trials = read_table(results / f"study/{folder}/trials.parquet")
        assert len(trials) == 2 and trials["params_shrink"].between(0, 0.5).all()
    assert predicted == TINY["subjects"] * TINY["frames"]  # every frame, once, in its fold
    pooled = read_table(results / "metrics/pooled.parquet")
    assert {"nearest_mean", "optuna_nearest_mean"} <= set(pooled["classifier"])

    import auflow_dummy_model  # noqa: F401 - registers it in this process too

    from auflow.models.saved import load_model

    saved = load_model(results / "models/gabor_hist_seed/nearest_mean")
    assert saved.manifest["classifier"] == "nearest_mean"
    assert saved.detector.estimators_[0].named_steps["model"].shrink == 0.1
