"""Detectors by name: the classic per-AU pipelines and the sequence models, behind one factory.

What each model is lives in its record in :mod:`auflow.models.registry`; :data:`DETECTORS` are
the names it holds, which the config schema's ``classifiers`` names are checked against
(tests/test_registries.py). Building an LSTM detector does not import TensorFlow; fitting or
loading one does.
"""

from __future__ import annotations

from auflow.models.registry import MODELS, spec_of

DETECTORS = tuple(MODELS)


def make_detector(classifier: str, params: dict | None, settings, n_jobs: int = 1):
    """An unfitted detector for the model named ``classifier`` (a config ``classifiers`` key).

    Parameters
    ----------
    classifier : a name in :data:`auflow.models.records.MODELS`.
    params : the model's parameters (its config section's ``params``).
    settings : :class:`auflow.settings.EvaluationSettings`.
    n_jobs : the job's threads (AUs fitted in parallel, or TensorFlow's thread pools).

    Returns
    -------
    :class:`auflow.models.detector.AUDetector`, or the model's own detector (e.g.
    :class:`auflow.models.sequence.LSTMDetector`).
    """
    spec = spec_of(classifier)
    if spec.detector is not None:
        return spec.detector().from_settings(params, settings, n_jobs)
    from auflow.models.detector import AUDetector

    return AUDetector.from_settings(classifier, params, settings, n_jobs)


def stacks_on(classifier: str, params: dict | None) -> str | None:
    """The model (a config ``classifiers`` name) whose out-of-split scores ``classifier`` takes
    as its inputs (:mod:`auflow.models.stacking`), or None for a model of the features."""
    return spec_of(classifier).base(params)


def check_detector(classifier: str, params: dict | None = None) -> None:
    """Build the model once, so an unknown name or a misspelt or out-of-range parameter fails
    before any job starts (ValueError naming the model and the parameter)."""
    spec = spec_of(classifier)
    if spec.detector is None:
        from auflow.models.classic import check_classifier

        check_classifier(classifier, params)
        return
    try:
        spec.detector()(**(params or {})).check_params()
    except TypeError as error:
        raise ValueError(f"classifier {classifier!r}: {error}") from None
