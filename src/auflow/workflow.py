"""What the workflow scripts share: logging into the rule's log file."""

from __future__ import annotations

import logging
import sys
import warnings


def log_to(path: str) -> None:
    """Send logging, warnings and stderr of a rule's script to its ``log:`` file."""
    stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    warnings.simplefilter("default")


def use_threads(threads: int) -> None:
    """Keep OpenCV's own thread pool to the job's share of cores: Snakemake schedules one job
    per declared thread, and oversubscribed cores only slow every job down."""
    import cv2

    cv2.setNumThreads(int(threads))


def config_hash(config: dict) -> str:
    """SHA-256 (first 16 hex digits) of the effective configuration, defaults filled in."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_detector(detector, smk, training, model: str, directory) -> None:
    """Save a fitted detector of a rule with its manifest into ``directory`` (a model folder,
    or the parent folder of a ``manifest.json`` output)."""
    from pathlib import Path

    from auflow.models.saved import MANIFEST_FILE, build_manifest, save_model
    from auflow.models.train import feature_columns

    directory = Path(directory)
    if directory.name == MANIFEST_FILE:
        directory = directory.parent
    manifest = build_manifest(
        detector,
        extractor=smk.wildcards.extractor,
        extractor_params=dict(smk.params.extractor_params or {}),
        face_size=smk.params.face_size,
        feature_names=feature_columns(training),
        normalise=smk.params.settings["normalise"],
        training=training,
        config_hash=config_hash(smk.config),
        model=model,
    )
    save_model(detector, directory, manifest)
