"""The model records and the table that holds them: what a model is, looked up by name.

:class:`ModelSpec` says what one model is; :data:`MODELS` holds every registered model by name.
The built-in models' records are written in :mod:`auflow.models.registry`, which registers them
when the ``auflow.models`` package is imported (its ``__init__`` imports the registry), as a model
from outside the package registers itself (:func:`register`). The detectors, saving and loading
read the records here, below the models that the registry's records build.

Nothing here imports scikit-learn or TensorFlow: the workflow reads the records while it parses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

SKOPS_FILE = "model.skops"
KERAS_FILE = "model.keras"
# Types every saved classic detector is made of (skops refuses anything not trusted).
DETECTOR_TYPES = ("auflow.models.detector.AUDetector", "auflow.models.detector._Constant")


@dataclass(frozen=True)
class ModelSpec:
    """What one model is.

    Attributes
    ----------
    name : its ``classifiers`` name in the config.
    estimator : a classic model's builder of one scikit-learn estimator from its config params
        (``random_state`` too when ``seeded``); None for a model that is its own detector.
    detector : a model that is its own detector (not per-AU scikit-learn estimators): a
        function returning its class, imported on first use (e.g. TensorFlow's LSTM).
    sequence : it reads windows of consecutive frames: needs frame numbers, and a random frame
        split says nothing about it (left out of the leakage comparison).
    seeded : ``estimator`` takes ``random_state``.
    multi_output : one fit on all AUs' labels makes, column by column, the model one fit per
        AU would (:class:`auflow.models.detector.AUDetector` shares the work).
    resampled : SMOTE before the model, inside its pipeline (training frames only).
    standardises_itself : it standardises the features in its own fit (no scaler step).
    reads_rows : its fit reads a subset of rows in place (``fit(X, y, rows=...)``).
    search_space : ``(trial, params) -> params`` of its Optuna study (given the config's
        params, which it may read and override), or None (not studied).
    trusted_types : types its saved file may hold beyond :data:`DETECTOR_TYPES` and skops'
        defaults.
    model_file : the main file of its saved folder (``model.skops``, or a detector's own).
    environment : settings its jobs' processes start with (glibc malloc, see
        :func:`auflow.workflow.use_malloc_settings`).
    extra_mb : memory its jobs need beyond a classic model's (TensorFlow).
    stacks_on : ``params -> name`` of the model whose out-of-split scores it takes as inputs
        (:mod:`auflow.models.stacking`), or None; None for every model of the features.
    """

    name: str
    estimator: Callable | None = None
    detector: Callable[[], type] | None = None
    sequence: bool = False
    seeded: bool = False
    multi_output: bool = False
    resampled: bool = False
    standardises_itself: bool = False
    reads_rows: bool = False
    search_space: Callable[[optuna.Trial], dict] | None = None
    trusted_types: tuple[str, ...] = ()
    model_file: str = SKOPS_FILE
    environment: Mapping[str, str] = field(default_factory=dict)
    extra_mb: int = 0
    stacks_on: Callable[[dict], str | None] | None = None

    def __post_init__(self):
        if (self.estimator is None) == (self.detector is None):
            raise ValueError(f"model {self.name!r}: give an estimator or a detector, not both")
        object.__setattr__(self, "environment", MappingProxyType(dict(self.environment)))

    def base(self, params: dict | None) -> str | None:
        """The model whose scores this one stacks on with ``params``, or None."""
        return None if self.stacks_on is None else self.stacks_on(dict(params or {}))


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model (:mod:`auflow.models.registry` for a model from outside the package); a name
    already taken is refused."""
    if spec.name in MODELS:
        raise ValueError(f"a model named {spec.name!r} is registered already")
    MODELS[spec.name] = spec
    return spec


def spec_of(name: str) -> ModelSpec:
    """The record of the model ``name``; ValueError listing the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown classifier {name!r}; known: {', '.join(sorted(MODELS))}"
        ) from None


def studied() -> list[str]:
    """The models that have a search space."""
    return [name for name, spec in MODELS.items() if spec.search_space is not None]


def trusted_types() -> tuple[str, ...]:
    """Every type a saved skops file of any model may hold (beyond skops' defaults)."""
    found = dict.fromkeys(DETECTOR_TYPES)
    for spec in MODELS.values():
        found.update(dict.fromkeys(spec.trusted_types))
    return tuple(found)
