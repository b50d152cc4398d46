"""The config schema's names and the package's registries are one list, not two."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auflow.evaluation.splits import SPLITS
from auflow.features.descriptors import EXTRACTORS
from auflow.models import DETECTORS
from auflow.models.registry import BUILT_IN, MODELS, studied
from auflow.settings import EvaluationSettings

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO / "schemas/config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_FILE.read_text())


def schema_at(*keys):
    node = SCHEMA
    for key in keys:
        node = node["properties"][key] if key in node.get("properties", {}) else node[key]
    return node


@pytest.mark.parametrize(
    ("path", "registry"),
    [
        (("features", "extractors", "items", "enum"), EXTRACTORS),
        (("baseline", "extractor", "enum"), EXTRACTORS),
        (("classifiers", "propertyNames", "enum"), BUILT_IN),
        (("study", "models", "items", "enum"), studied()),
        (("evaluation", "split", "enum"), SPLITS),
    ],
)
def test_schema_enum_equals_registry(path, registry):
    assert sorted(schema_at(*path)) == sorted(registry)


def test_every_study_model_is_a_model():
    assert set(studied()) <= set(DETECTORS)
    assert set(DETECTORS) == set(MODELS)


def test_the_seed_config_turns_on_the_notebooks_classifiers():
    """--configfile configs/seed_notebook.yaml merges into config.yaml key by key, so a model
    that config.yaml turns off stays off unless the seed config turns it on again."""
    from snakemake.utils import update_config, validate

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "configs/seed_notebook.yaml").read_text()))
    validate(config, str(SCHEMA_FILE), set_default=True)
    enabled = {name for name, model in config["classifiers"].items() if model["enabled"]}
    # SVM, random forest, decision tree, naive Bayes, KNN, AdaBoost, bagging, SMOTE + AdaBoost,
    # and the two-layer LSTM
    assert enabled == {
        "svm_linear_seed",
        "random_forest",
        "decision_tree",
        "naive_bayes",
        "knn",
        "adaboost_rf",
        "adaboost_bagging",
        "smote_adaboost",
        "lstm",
    }


def test_settings_defaults_equal_the_schema_defaults():
    evaluation = {k: v["default"] for k, v in schema_at("evaluation")["properties"].items()}
    config = {
        "aus": schema_at("aus")["default"],
        "occurrence_threshold": schema_at("occurrence_threshold")["default"],
        "features": {"normalise": schema_at("features", "normalise")["default"]},
        "evaluation": evaluation,
    }
    assert EvaluationSettings.from_config(config) == EvaluationSettings()


def test_a_misspelt_classifier_parameter_stops_the_run_before_any_job(tmp_path):
    from conftest import TINY_CONFIG, make_workdir, snakemake

    config = {
        **TINY_CONFIG,
        "classifiers": {"random_forest": {"params": {"n_estimator": 10}}},
    }
    workdir = make_workdir(tmp_path / "work", config, subjects=3, frames=8)
    result = snakemake(workdir, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "model 'random_forest'" in output and "n_estimator" in output
    assert not (workdir / "results").exists()
