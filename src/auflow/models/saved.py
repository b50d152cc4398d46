"""Saved detectors: a model file that cannot run code when loaded, and its manifest.

People share model files, and a pickle runs whatever it contains when it is loaded. A saved
detector is therefore written with ``skops.io``, which rebuilds objects from a description and
refuses any type that is not on an explicit list (:func:`auflow.models.records.trusted_types`:
auflow's detector, the scikit-learn and imbalanced-learn pieces our classifiers are made of).
``manifest.json`` beside it says everything ``auflow predict`` needs to use the model or to
refuse a mismatch, and records the SHA-256 of the model file: a model file that does not match
its manifest is refused.

An LSTM detector is a Keras network and a few arrays instead: ``model.keras`` (loaded with
Keras' ``safe_mode``, which refuses Lambda layers, after checking that its configuration names
only Keras' own modules) and ``detector.json`` (parameters, standardisation, thresholds). The
manifest records the SHA-256 of every file of the model.

Layout of a model folder (``results/models/<extractor>/<model>/``)::

    model.skops     the fitted AUDetector
      or
    model.keras     the LSTM detector's network
    detector.json   the rest of the LSTM detector
    manifest.json   what it was trained on and how (see :func:`build_manifest`)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from auflow.aus import au_column
from auflow.io.atomic import write_bytes_atomically
from auflow.models.records import MODELS, SKOPS_FILE, spec_of, trusted_types
from auflow.versions import package_versions as installed_versions

MODEL_FILE = SKOPS_FILE
MANIFEST_FILE = "manifest.json"
# Raised whenever the layout of the model file or manifest changes incompatibly.
MODEL_FORMAT = 2
PACKAGES = (
    "auflow",
    "scikit-learn",
    "imbalanced-learn",
    "numpy",
    "scikit-image",
    "skops",
    "keras",
    "tensorflow-cpu",
)


class ModelError(ValueError):
    """A model folder that cannot be used: missing, tampered with, or made for something else."""


def model_file(classifier: str) -> str:
    """The name of the main model file a model folder of ``classifier`` holds."""
    return spec_of(classifier).model_file


def _saves_itself(classifier) -> bool:
    """A model that is its own detector writes and reads its own files (no skops)."""
    return isinstance(classifier, str) and spec_of(classifier).detector is not None


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (by default the packages a saved model depends on);
    None for a package that is not installed."""
    return installed_versions(names)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(
    detector,
    *,
    extractor: str,
    extractor_params: dict,
    face_size: int | None,
    feature_names: list[str],
    normalise: str,
    training: pd.DataFrame,
    config_hash: str,
    model: str,
    align: str = "none",
) -> dict:
    """What a fitted detector is, for ``auflow predict`` and for people.

    Parameters
    ----------
    training : the frames it was fitted on (``subject``, ``frame``); subjects and frame counts
        are recorded.
    config_hash : hash of the effective configuration that produced it.
    align : ``features.align`` of the training faces (``none`` or ``landmarks``): ``auflow
        predict`` aligns faces for the model the same way.
    """
    counts = training.groupby("subject").size()
    return {
        "format": MODEL_FORMAT,
        "model": model,
        "classifier": detector.classifier if isinstance(detector.classifier, str) else None,
        "classifier_params": detector.params or {},
        "extractor": extractor,
        "extractor_params": extractor_params,
        "face_size": face_size,
        "align": align,
        "feature_names": list(feature_names),
        "aus": [int(au) for au in detector.aus],
        "au_columns": [au_column(au) for au in detector.aus],
        "target": detector.target,
        "occurrence_threshold": int(detector.occurrence_threshold),
        "thresholds": {
            au_column(au): float(t)
            for au, t in zip(detector.aus, detector.thresholds_, strict=True)
        },
        "thresholds_tuned": {
            au_column(au): bool(t) for au, t in zip(detector.aus, detector.tuned_, strict=True)
        },
        "smoothing": {
            au_column(au): int(w) for au, w in zip(detector.aus, detector.smoothing_, strict=True)
        },
        "normalise": normalise,
        "training_subjects": {str(s): int(n) for s, n in counts.items()},
        "training_frames": int(counts.sum()),
        "config_hash": config_hash,
        "packages": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def save_model(detector, directory: str | Path, manifest: dict) -> None:
    """Write ``detector`` as ``model.skops`` (an LSTM detector: ``model.keras`` and
    ``detector.json``) and ``manifest`` (plus each file's SHA-256) as ``manifest.json`` into
    ``directory``, each written whole or not at all."""
    directory = Path(directory)
    if _saves_itself(detector.classifier):  # e.g. the LSTM: a Keras file and JSON, no pickle
        files = detector.save(directory)
    else:
        write_skops(detector, directory / MODEL_FILE)
        files = [MODEL_FILE]
    manifest = {
        **manifest,
        "model_file": files[0],
        "model_sha256": _sha256(directory / files[0]),
        "files_sha256": {name: _sha256(directory / name) for name in files},
    }
    write_bytes_atomically(
        directory / MANIFEST_FILE, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    )


def read_manifest(directory: str | Path) -> dict:
    """The manifest of a model folder; ModelError when it is missing or unreadable."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise ModelError(
            f"{directory}: no {MANIFEST_FILE}; --model must be a folder written by auflow's "
            "fit_final rule (results/models/<extractor>/<model>)"
        )
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: not a readable manifest ({error})") from None


def check_compatible(manifest: dict, path) -> None:
    """Refuse a manifest this version of auflow cannot honour."""
    if manifest.get("format") != MODEL_FORMAT:
        raise ModelError(
            f"{path}: model format {manifest.get('format')!r}, this auflow reads format "
            f"{MODEL_FORMAT}; re-run the pipeline's fit_final rule with this version"
        )
    saved = (manifest.get("packages") or {}).get("scikit-learn") or ""
    installed = package_versions(["scikit-learn"])["scikit-learn"] or ""  # not all 8: 3 ms
    if saved.split(".")[:2] != installed.split(".")[:2]:
        raise ModelError(
            f"{path}: trained with scikit-learn {saved}, this environment has {installed}; "
            "fitted models do not carry across scikit-learn releases: install "
            f"scikit-learn=={saved} or re-train"
        )


@dataclass
class SavedModel:
    """A loaded detector with its manifest."""

    detector: object
    manifest: dict
    path: Path

    def predict_table(
        self, features: np.ndarray, groups: np.ndarray, frames: np.ndarray | None = None
    ) -> pd.DataFrame:
        """AU columns for frames: ``AU01_p``, ``AU01_c`` (and ``AU01_r``) per AU.

        Parameters
        ----------
        features : (n_frames, n_features) float32, the model's extractor on its face size, before
            normalisation; rows of a group in frame order.
        groups : (n_frames,) the recording (input) of each frame: subject normalisation uses the
            median over each group's own frames, and smoothing runs within a group.
        frames : (n_frames,) int frame numbers, or None for consecutive rows. A sequence model's
            windows follow them and stop at gaps (e.g. a frame without a face).
        """
        from auflow.features.normalise import normalise
        from auflow.models.train import predict_frames

        names = self.manifest["feature_names"]
        if features.shape[1] != len(names):
            raise ModelError(
                f"{self.path}: the model expects {len(names)} features "
                f"({self.manifest['extractor']}), got {features.shape[1]}"
            )
        table = pd.DataFrame(np.asarray(features, dtype=np.float32), columns=names)
        table.insert(0, "subject", np.asarray(groups).astype(str))
        table.insert(1, "frame", np.arange(len(table)) if frames is None else np.asarray(frames))
        table = normalise(table, self.manifest["normalise"])
        return predict_frames(self.detector, table).drop(columns=["subject", "frame"])


def load_model(directory: str | Path) -> SavedModel:
    """Load a model folder, refusing anything that could run code or does not match.

    Raises
    ------
    ModelError
        No manifest or model file; a model file whose SHA-256 differs from the manifest's; a
        format or scikit-learn version this auflow cannot use; a model file holding a type
        outside :func:`auflow.models.records.trusted_types` (nothing of it is instantiated);
        a Keras model naming a module outside Keras or holding a Lambda layer.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    check_compatible(manifest, directory / MANIFEST_FILE)
    model_path = directory / manifest.get("model_file", MODEL_FILE)
    expected = {**manifest.get("files_sha256", {}), model_path.name: manifest.get("model_sha256")}
    for name, digest in expected.items():
        path = directory / Path(name).name
        if not path.is_file():
            raise ModelError(f"{path}: model file missing (named in {MANIFEST_FILE})")
        if _sha256(path) != digest:
            raise ModelError(
                f"{path}: SHA-256 differs from the one in {MANIFEST_FILE}: the file was changed "
                "or replaced after training; refusing to load it"
            )
    classifier = manifest.get("classifier")
    if classifier not in MODELS:
        raise ModelError(
            f"{directory / MANIFEST_FILE}: model {classifier!r} is not one this auflow knows "
            f"({', '.join(sorted(MODELS))})"
        )
    if _saves_itself(classifier):
        try:
            detector = spec_of(classifier).detector().load(directory)
        except (ValueError, OSError, KeyError, TypeError) as error:
            raise ModelError(
                f"{model_path}: cannot load the {classifier} detector ({error})"
            ) from None
        return SavedModel(detector, manifest, directory)
    return SavedModel(read_skops(model_path), manifest, directory)


def write_skops(detector, path: Path) -> None:
    """Write a detector as a skops file, whole or not at all."""
    import skops.io as sio

    write_bytes_atomically(path, sio.dumps(detector))


def read_skops(path: Path):
    """The object of a skops file, refusing it (ModelError, nothing instantiated) when it holds
    a type outside :func:`auflow.models.records.trusted_types`."""
    import skops.io as sio

    data = Path(path).read_bytes()
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as error:  # noqa: BLE001 - any parse failure is an unreadable model file
        raise ModelError(f"{path}: not a skops model file ({error})") from None
    refused = sorted(set(untrusted) - set(trusted_types()))
    if refused:
        raise ModelError(
            f"{path}: holds types outside auflow's trusted list, refused without loading "
            f"them: {', '.join(refused)}"
        )
    return sio.loads(data, trusted=list(untrusted))
