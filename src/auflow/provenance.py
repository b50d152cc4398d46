"""Where a results table came from: configuration, code, packages and data.

A table read weeks later, or sent to someone else, has to say which configuration, which code
and which data produced it. :func:`build_provenance` gathers that once per run (the
``provenance`` rule writes ``results/provenance.json``); the rules that write tables read it and
store it in the Parquet metadata (``auflow`` key), in a companion ``<table>.provenance.json``
beside each CSV, and at the foot of each Markdown or HTML page.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

# Packages whose version can change a number in a results table or a figure, beyond those a
# saved model records (auflow.models.saved.PACKAGES).
REPORT_PACKAGES = ("pandas", "pyarrow", "scipy", "opencv-python-headless", "optuna", "matplotlib")
COMPANION_SUFFIX = ".provenance.json"


def label_fingerprint(label_tables) -> dict:
    """Subjects, frame counts and a content hash of the label tables.

    Parameters
    ----------
    label_tables : iterable of DataFrame
        One table per subject: ``subject`` (str), ``frame`` (int), ``AU01``... (int intensities).

    Returns
    -------
    dict
        ``subjects`` (sorted names), ``frames`` (subject -> frame count), ``n_frames``, ``aus``
        (the AU columns) and ``labels_sha256``: SHA-256 over every subject's frame numbers and
        intensities in (subject, frame) order. It changes when any label changes and not when a
        file is merely rewritten, so two runs on the same labels show the same hash.
    """
    tables = {}
    for table in label_tables:
        for subject, part in table.groupby("subject", sort=False):
            tables[str(subject)] = part
    digest = hashlib.sha256()
    frames = {}
    aus: list[str] = []
    for subject in sorted(tables):
        part = tables[subject].sort_values("frame")
        aus = [c for c in part.columns if c.startswith("AU")]
        frames[subject] = len(part)
        digest.update(f"{subject}\n{','.join(aus)}\n".encode())
        digest.update(part["frame"].to_numpy(np.int64).tobytes())
        digest.update(part[aus].to_numpy(np.int64).tobytes())
    return {
        "subjects": sorted(tables),
        "frames": frames,
        "n_frames": int(sum(frames.values())),
        "aus": aus,
        "labels_sha256": digest.hexdigest(),
    }


def git_state(directory: str | Path) -> dict:
    """The git commit of the checkout holding ``directory`` and whether tracked files differ
    from it; both None when it is not a git checkout (or git is not installed)."""

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", "-C", str(directory), *args],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a model and a results table depend on."""
    from auflow.models.saved import PACKAGES
    from auflow.versions import package_versions as installed

    return installed((*PACKAGES, *REPORT_PACKAGES))


def build_provenance(
    config: dict, label_tables, workflow_dir: str | Path, cross_label_tables=None
) -> dict:
    """Everything a results table should say about where it came from.

    Parameters
    ----------
    config : the effective configuration (defaults filled in), as Snakemake holds it.
    label_tables : one label table per subject (see :func:`label_fingerprint`).
    workflow_dir : a folder of the workflow's checkout, for its git commit.
    cross_label_tables : cross dataset name -> its label tables (config ``cross_datasets``);
        each is fingerprinted under ``cross_datasets``, when there are any.
    """
    from auflow import __version__
    from auflow.checks import config_hash

    provenance = {
        "config_hash": config_hash(config),
        "auflow_version": __version__,
        "python": platform.python_version(),
        "packages": package_versions(),
        "dataset": label_fingerprint(label_tables),
        "git": git_state(workflow_dir),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if cross_label_tables:
        provenance["cross_datasets"] = {
            name: label_fingerprint(tables) for name, tables in sorted(cross_label_tables.items())
        }
    return provenance


def read_provenance(path: str | Path) -> dict:
    """``results/provenance.json`` as written by the provenance rule."""
    return json.loads(Path(path).read_text())


def table_provenance(path: str | Path) -> dict:
    """The provenance a results table or figure carries: ``results/provenance.json`` without
    the time it was created, so that two runs of the same code, config and data write
    byte-identical tables (the time stays in ``results/provenance.json``)."""
    provenance = read_provenance(path)
    provenance.pop("created", None)
    return provenance


def companion_path(table_path: str | Path) -> Path:
    """The companion JSON of a CSV: ``summary.csv`` -> ``summary.csv.provenance.json``."""
    table_path = Path(table_path)
    return table_path.with_name(table_path.name + COMPANION_SUFFIX)


def write_csv(table: pd.DataFrame, path: str | Path, provenance: dict) -> None:
    """Write ``table`` as CSV and its provenance beside it (:func:`companion_path`).

    The companion also records the CSV's SHA-256 and row count, so a CSV that travelled on its
    own can still be matched with the run that made it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format="%.6g")
    companion = {
        "table": path.name,
        "rows": len(table),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        **provenance,
    }
    companion_path(path).write_text(json.dumps(companion, indent=2, sort_keys=True) + "\n")


def provenance_markdown(provenance: dict) -> str:
    """A short Markdown section naming the configuration, code, packages and data of a run."""
    dataset = provenance["dataset"]
    git = provenance["git"]
    if git["commit"] is None:
        code = f"auflow {provenance['auflow_version']} (not a git checkout)"
    else:
        code = f"auflow {provenance['auflow_version']}, git commit `{git['commit'][:12]}`"
        if git["dirty"]:
            code += " with uncommitted changes"
    packages = ", ".join(
        f"{name} {found}" for name, found in sorted(provenance["packages"].items()) if found
    )
    return "\n".join(
        [
            "## Provenance",
            "",
            f"- configuration: hash `{provenance['config_hash']}` (of the effective config, "
            "defaults filled in)",
            f"- code: {code}",
            f"- data: {len(dataset['subjects'])} subjects, {dataset['n_frames']} labelled frames, "
            f"labels SHA-256 `{dataset['labels_sha256'][:16]}`",
            *(
                f"- cross dataset `{name}`: {len(cross['subjects'])} subjects, "
                f"{cross['n_frames']} labelled frames, labels SHA-256 "
                f"`{cross['labels_sha256'][:16]}`"
                for name, cross in provenance.get("cross_datasets", {}).items()
            ),
            f"- packages: Python {provenance['python']}, {packages}",
            "- all of it, and when the run recorded it: `results/provenance.json`",
            "",
        ]
    )
