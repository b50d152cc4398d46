"""What a rule's script does first: send its logging into the rule's log file, keep thread
pools to its threads, take its model's process settings, and read its optional inputs.

What Snakemake prints is read back in :mod:`auflow.snakemake_output`; the parse-time checks are
in :mod:`auflow.checks`."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path


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
    if settings := malloc_settings():
        logging.getLogger(__name__).info("glibc malloc settings: %s", settings)


def use_threads(threads: int) -> None:
    """Keep OpenCV's and the BLAS library's thread pools to the job's share of cores: Snakemake
    schedules one job per declared thread, and oversubscribed cores only slow every job down
    (``gabor_energy``'s sampled passes are BLAS matrix products)."""
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(int(threads))
    threadpool_limits(int(threads))


def use_malloc_settings(classifier: str) -> None:
    """Start this script again, in this same process, with the process settings of the model
    ``classifier`` (``environment`` in its record, :mod:`auflow.models.registry`: glibc's malloc
    settings for the LSTM) in its environment. Nothing when they are there already (a setting
    the user made is kept), when the model has none, or when the process does not run a script
    file (``python -c``, ``python -m``). Call it first thing."""
    from auflow.models.registry import MODELS

    wanted = MODELS[classifier].environment if classifier in MODELS else {}
    missing = {name: value for name, value in wanted.items() if name not in os.environ}
    main = sys.modules["__main__"]
    script = sys.argv[0] if sys.argv else ""
    if missing and getattr(main, "__spec__", None) is None and Path(script).is_file():
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **missing})


def malloc_settings() -> str:
    """The glibc malloc settings of this process's environment, for a job's log."""
    from auflow.models.registry import MODELS

    names = sorted({name for spec in MODELS.values() for name in spec.environment})
    return ", ".join(f"{name}={os.environ[name]}" for name in names if name in os.environ)


def optional_input(value) -> str | None:
    """A rule's input that may be absent: its path, or None (Snakemake gives an input function's
    ``[]`` as an empty list, and one path as a string or a list of one)."""
    if isinstance(value, str | Path):
        return str(value)
    value = list(value or [])
    if len(value) > 1:
        raise ValueError(f"one input expected, got {value}")
    return str(value[0]) if value else None
