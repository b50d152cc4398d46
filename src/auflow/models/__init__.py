"""Detectors by name: the classic per-AU pipelines and the LSTM, behind one factory.

:data:`DETECTORS` is the registry the config schema's ``classifiers`` names are checked against
(tests/test_registries.py). Building an LSTM detector does not import TensorFlow; fitting or
loading one does.
"""

from __future__ import annotations

from auflow.models.classic import CLASSIFIERS, check_classifier

SEQUENCE_DETECTORS = ("lstm",)
DETECTORS = (*CLASSIFIERS, *SEQUENCE_DETECTORS)


def make_detector(classifier: str, params: dict | None, settings, n_jobs: int = 1):
    """An unfitted detector for the model named ``classifier`` (a config ``classifiers`` key).

    Parameters
    ----------
    classifier : a name in :data:`DETECTORS`.
    params : the model's parameters (its config section's ``params``).
    settings : :class:`auflow.settings.EvaluationSettings`.
    n_jobs : the job's threads (AUs fitted in parallel, or TensorFlow's thread pools).

    Returns
    -------
    :class:`auflow.models.detector.AUDetector` or
    :class:`auflow.models.sequence.LSTMDetector`.
    """
    if classifier == "lstm":
        from auflow.models.sequence import LSTMDetector

        return LSTMDetector.from_settings(params, settings, n_jobs)
    from auflow.models.detector import AUDetector

    return AUDetector.from_settings(classifier, params, settings, n_jobs)


def check_detector(classifier: str, params: dict | None = None) -> None:
    """Build the model once, so an unknown name or a misspelt or out-of-range parameter fails
    before any job starts (ValueError naming the model and the parameter)."""
    if classifier == "lstm":
        from auflow.models.sequence import LSTMDetector

        try:
            LSTMDetector(**(params or {})).check_params()
        except TypeError as error:
            raise ValueError(f"classifier 'lstm': {error}") from None
        return
    check_classifier(classifier, params)
