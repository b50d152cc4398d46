"""No prediction of a test subject depends on the labels of its fold's test subjects, nor on the
frames of the fold's other test subjects: the real workflow, run twice on tiny data that differ
only there, writes the same predictions for that subject with every kind of model.

The second run changes the labels of both test subjects of a fold (one shuffled over its frames,
the other's intensities inverted) and turns the first one's faces into their negatives. The
labels catch what is tuned on the test fold (a threshold chosen on its labels moves every
prediction); the faces catch windows that run from one subject into the next, which read no
labels at all: a test subject's windows only ever hold test frames, so no change of labels alone
can show them. The second subject's frame numbers continue the first's, as when a recording is
cut into subjects by time, so that nothing but the subject tells the two apart.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from auflow.evaluation.splits import make_folds
from auflow.io.parquet import read_table

from conftest import TINY, TINY_CONFIG, make_workdir, snakemake

# One model of each kind: per-AU classic (naive Bayes), multi-output (the linear SVM fits every
# AU at once), sequence (the LSTM, over windows of consecutive frames, stacked on the SVM's
# out-of-split scores: networks for every AU, TINY_CONFIG), an Optuna study, and a static
# variant (no subject normalisation, what auflow predict scores a photograph with).
MODELS = ["naive_bayes", "svm_linear", "lstm", "optuna_svm_linear", "svm_linear_static"]
CONFIG = {
    "dataset": TINY_CONFIG["dataset"],
    "features": {**TINY_CONFIG["features"], "shard_size": TINY["frames"]},
    "evaluation": {**TINY_CONFIG["evaluation"], "leakage_comparison": False},
    "baseline": {"enabled": False},
    "classifiers": {
        "svm_linear": TINY_CONFIG["classifiers"]["svm_linear"],
        "naive_bayes": {},
        "lstm": TINY_CONFIG["classifiers"]["lstm"],
    },
    "study": {"models": ["svm_linear"], "n_trials": 3, "workers": 1},
    "models": {"save_final": False, "save_folds": False},
}
SPLIT, EXTRACTOR = CONFIG["evaluation"]["split"], CONFIG["features"]["extractors"][0]
PREDICTIONS = f"results/predictions/{SPLIT}/{EXTRACTOR}/{{model}}/fold{{fold}}.parquet"
N_FRAMES = TINY["frames"]


def subjects_of_folds() -> dict[int, list[str]]:
    """The test subjects of each fold of the tiny dataset, as the workflow's split deals them
    (the subjects alone decide it, never their labels)."""
    subjects = [f"SN{i:03d}" for i in range(1, TINY["subjects"] + 1)]
    evaluation = CONFIG["evaluation"]
    folds = make_folds(
        pd.DataFrame({"subject": subjects, "frame": 1}), SPLIT, evaluation["k"], evaluation["seed"]
    )
    return {int(k): sorted(part["subject"]) for k, part in folds.groupby("fold")}


def run_on_from(images: Path, subject: str, first: int) -> None:
    """Renumber ``subject``'s frames first, first + 1, ...: its frame numbers continue another
    subject's, as when one recording is cut into subjects by time (labels follow frame order)."""
    for frame in range(N_FRAMES, 0, -1):
        (images / subject / f"{frame}.png").rename(images / subject / f"{first + frame - 1}.png")


def perturb(data: Path, shuffled: str, inverted: str) -> None:
    """``shuffled``: labels permuted over its frames and every face made its negative (a mirror
    image would not do: Gabor histograms hardly see it); ``inverted``: every intensity x read as
    5 - x. Nothing else of the dataset changes."""
    labels = json.loads((data / "json" / f"{shuffled}.json").read_text())
    order = np.random.default_rng(7).permutation(len(labels))
    (data / "json" / f"{shuffled}.json").write_text(json.dumps([labels[i] for i in order]))
    for image in (data / "croppedImg" / shuffled).iterdir():
        cv2.imwrite(str(image), 255 - cv2.imread(str(image), cv2.IMREAD_GRAYSCALE))
    labels = json.loads((data / "json" / f"{inverted}.json").read_text())
    flipped = [{au: 5 - value for au, value in frame.items()} for frame in labels]
    (data / "json" / f"{inverted}.json").write_text(json.dumps(flipped))


def predictions_of(workdir: Path, model: str, fold: int) -> pd.DataFrame:
    return read_table(workdir / PREDICTIONS.format(model=model, fold=fold))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """``(clean, changed, fold, (first, second))``: the fold with two test subjects, ``second``'s
    frame numbers running on from ``first``'s in both runs; in ``changed``, ``first``'s labels
    are shuffled and its faces negated, ``second``'s intensities inverted."""
    fold, pair = next((k, s) for k, s in subjects_of_folds().items() if len(s) == 2)
    clean = make_workdir(tmp_path_factory.mktemp("clean"), CONFIG)
    run_on_from(clean / "data" / "croppedImg", pair[1], N_FRAMES + 1)
    changed = tmp_path_factory.mktemp("changed")
    shutil.copytree(clean, changed, dirs_exist_ok=True)
    perturb(changed / "data", *pair)
    targets = [PREDICTIONS.format(model=model, fold=fold) for model in MODELS]
    for workdir in (clean, changed):
        snakemake(workdir, "--cores", "2", *targets)
    return clean, changed, fold, pair


def test_the_changed_run_reads_other_labels_and_faces_for_the_test_subjects(two_runs):
    clean, changed, _, (first, second) = two_runs
    dataset = f"results/dataset/{EXTRACTOR}.parquet"
    before, after = read_table(clean / dataset), read_table(changed / dataset)
    aus = [c for c in before.columns if c.startswith("AU")]
    assert before["frame"][before["subject"] == second].tolist() == list(
        range(N_FRAMES + 1, 2 * N_FRAMES + 1)
    )
    is_second = before["subject"] == second
    assert (after.loc[is_second, aus] == 5 - before.loc[is_second, aus]).all().all()
    is_first = before["subject"] == first
    assert (after.loc[is_first, aus].to_numpy() != before.loc[is_first, aus].to_numpy()).any()
    features = [c for c in before.columns if c not in {"subject", "frame", *aus}]
    # every frame of the first subject has other features
    changed = after.loc[is_first, features].to_numpy() != before.loc[is_first, features].to_numpy()
    assert changed.any(axis=1).all()
    others = ~(is_first | is_second)
    pd.testing.assert_frame_equal(after.loc[others], before.loc[others])


@pytest.mark.parametrize("model", MODELS)
def test_a_test_subjects_predictions_ignore_the_folds_test_labels_and_other_subjects(
    two_runs, model
):
    clean, changed, fold, (_, second) = two_runs
    before, after = predictions_of(clean, model, fold), predictions_of(changed, model, fold)
    columns = [c for c in before.columns if c.endswith(("_p", "_c", "_r"))]
    assert columns and set(after.columns) == set(before.columns)
    before, after = (table[table["subject"] == second] for table in (before, after))
    assert len(before) == N_FRAMES
    pd.testing.assert_frame_equal(
        after[["frame", *columns]].reset_index(drop=True),
        before[["frame", *columns]].reset_index(drop=True),
        check_exact=True,
    )
