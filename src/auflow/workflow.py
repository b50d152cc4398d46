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
