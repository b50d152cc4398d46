"""What the workflow shares: logging into a rule's log file, a summary of failed jobs, and the
job counts Snakemake prints (read by the tests and the benchmarks)."""

from __future__ import annotations

import logging
import os
import re
import sys
import textwrap
import warnings
from collections.abc import Callable
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


_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|error)\b[^:\s]*: ")
_MAX_JOBS = 5


def failed_jobs_summary(snakemake_log, width: int = 100) -> str:
    """What each failed job said, in a few short lines, for the end of Snakemake's output.

    Snakemake prints a failed job's inputs whole and only points at its log; run as plainly as
    ``snakemake --cores 16``, a user would then not see the message at all. This reads the
    ``Error in rule`` blocks of Snakemake's own log file (``snakemake_log``) and, for each failed
    job, the error at the end of the job's log file. ``snakemake_log`` is what Snakemake
    hands an ``onerror`` handler: a path, or a list of paths.

    Returns
    -------
    str
        Lines of at most ``width`` characters (longer single words, such as a path, excepted),
        or "" when the log names no failed job.
    """
    paths = [snakemake_log] if isinstance(snakemake_log, str | Path) else snakemake_log or []
    lines = []
    for path in paths:
        try:
            lines += Path(path).read_text(errors="replace").splitlines()
        except OSError:
            continue
    jobs: list[dict] = []
    for line in lines:
        if line.startswith("Error in rule "):
            jobs.append({"rule": line.removeprefix("Error in rule ").rstrip(":"), "logs": []})
        elif jobs and line.startswith("    output: ") and "output" not in jobs[-1]:
            jobs[-1]["output"] = line.removeprefix("    output: ")
        elif jobs and line.startswith("    log: ") and not jobs[-1]["logs"]:
            logs = line.removeprefix("    log: ").split(" (check log file")[0]
            jobs[-1]["logs"] = [p for p in logs.split(", ") if p]
    if not jobs:
        return ""  # failed before any job ran: Snakemake's own message is already last
    out = [f"auflow: {len(jobs)} job(s) failed; what each said (whole logs in the files named):"]
    for job in jobs[:_MAX_JOBS]:
        where = job.get("output", "")
        out.append(f"  rule {job['rule']}" + (f", {where}" if len(where) < width else "") + ":")
        for log_path in job["logs"]:
            out.append(f"    {log_path}:")
            for message in _job_error(log_path):
                out += textwrap.wrap(
                    message,
                    width,
                    initial_indent="      ",
                    subsequent_indent="        ",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
    if len(jobs) > _MAX_JOBS:
        out.append(f"  ... and {len(jobs) - _MAX_JOBS} more; their logs are named above")
    return "\n".join(out)


def _job_error(log_path: str, max_lines: int = 4) -> list[str]:
    """The exception at the end of a job's log (the last line when there is none)."""
    try:
        lines = [line.rstrip() for line in Path(log_path).read_text(errors="replace").splitlines()]
    except OSError:
        return ["(no log file)"]
    lines = [line for line in lines if line.strip()]
    if not lines:
        return ["(the log is empty)"]
    for start in range(len(lines) - 1, -1, -1):
        if _ERROR_LINE.match(lines[start]):
            return lines[start : start + max_lines]
    return [lines[-1]]


def config_hash(config: dict) -> str:
    """SHA-256 (first 16 hex digits) of the effective configuration, defaults filled in."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_once(check: Callable[[], None], checked: dict, stamps: str | Path) -> bool:
    """Run ``check()`` unless it passed before on the same ``checked`` values and code.

    ``check`` raises when ``checked`` (JSON-able) is wrong, and what it finds depends on nothing
    else than ``checked``, auflow's own source files and the versions of auflow's dependencies.
    When it passes, a file named by the hash of all of these is left in ``stamps``; while that
    file exists, the same check is not run again. Returns whether ``check`` ran.
    """
    import hashlib
    import json
    from importlib.metadata import PackageNotFoundError, requires

    from auflow.models.saved import package_versions

    try:
        dependencies = {re.match(r"[A-Za-z0-9_.-]+", r).group(0) for r in requires("auflow") or []}
    except PackageNotFoundError:  # a source tree that is not installed: nothing to key on
        check()
        return True
    versions = package_versions(sorted(dependencies))
    digest = hashlib.sha256(
        json.dumps([checked, versions, sys.version], sort_keys=True, default=str).encode()
    )
    package = Path(__file__).parent
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode() + b"\0" + source.read_bytes())
    stamp = Path(stamps) / digest.hexdigest()
    if stamp.exists():
        return False
    check()
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    except OSError:  # a read-only working directory: check again next time
        pass
    return True


def optional_input(value) -> str | None:
    """A rule's input that may be absent: its path, or None (Snakemake gives an input function's
    ``[]`` as an empty list, and one path as a string or a list of one)."""
    if isinstance(value, str | Path):
        return str(value)
    value = list(value or [])
    if len(value) > 1:
        raise ValueError(f"one input expected, got {value}")
    return str(value[0]) if value else None


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
    from auflow.models.stacking import stack_of

    base = load_model(_model_folder(base_model))
    detector.stack_ = stack_of(stack, base.detector)
    return list(base.manifest["feature_names"])


def save_detector(detector, smk, training, model: str, directory, feature_names=None) -> None:
    """Save a fitted detector of a rule with its manifest into ``directory`` (a model folder,
    or the parent folder of a ``manifest.json`` output). ``feature_names``: the features it
    scores, if not ``training``'s (a stacked detector's, :func:`stack_for_saving`)."""
    from auflow.models.saved import build_manifest, save_model
    from auflow.models.train import feature_columns

    directory = _model_folder(directory)
    manifest = build_manifest(
        detector,
        extractor=smk.wildcards.extractor,
        extractor_params=dict(smk.params.extractor_params or {}),
        face_size=smk.params.face_size,
        feature_names=feature_names or feature_columns(training),
        normalise=smk.params.settings["normalise"],
        training=training,
        config_hash=config_hash(smk.config),
        model=model,
        align=smk.config["features"].get("align", "none"),
    )
    save_model(detector, directory, manifest)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints before it runs (or with ``--dry-run``): rule ->
    number of jobs, without the total; empty when there is no table (nothing to do)."""
    if "Job stats:" not in output:
        return {}
    counts = {}
    for line in output.split("Job stats:", 1)[1].splitlines()[3:]:
        match = re.fullmatch(r"\s*(\w+)\s+(\d+)\s*", line)
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    counts.pop("total", None)
    return counts
