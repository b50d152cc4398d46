"""Which defaults make auflow's best detector beat a plain HOG baseline (issue 8, point 3).

Generates three DISFA-shaped datasets (``auflow.demo``), extracts and caches their features,
and runs each configuration under ``leave_one_subject_out`` and ``group_kfold`` (k=3, seed 0),
calling the package's functions directly (no Snakemake). The score is the **pooled mean F1**:
per AU, F1 of the positive class over all test frames of all folds concatenated, then the mean
over the AUs with at least one positive frame in the dataset.

- A: the demo (6 subjects, 120 frames, 96 px, seed 0); B: 8 subjects, 128 px, seed 1;
  C: 12 subjects, 96 px, seed 2 (120 frames each). Faces are resized to the dataset's size.
- baseline: ``hog`` (default parameters), StandardScaler, per AU
  ``LogisticRegression(class_weight="balanced", max_iter=1000)``, decision threshold tuned for F1
  on a grouped inner split of the training subjects; nothing else.
- candidates: a feature set (extractors concatenated), a normalisation, optional temporal
  smoothing of each subject's scores, and a list of classifiers; a configuration's score in a
  cell is that of its best classifier there.

Run (from the repository, single-threaded)::

    PYTHONPATH=src python bench/defaults_search.py            # final table, 6 cells
    PYTHONPATH=src python bench/defaults_search.py --levers   # lever table on dataset A
    PYTHONPATH=src python bench/defaults_search.py --quick    # final table on dataset A only

Datasets and feature tables are cached under ``--cache`` (default /tmp/auflow_defaults).
``--check`` first runs the baseline on A through the pipeline's ``predict_fold`` and stops if any
prediction differs from this script's faster threshold tuning.

Measured on 2 vCPUs (AMD EPYC) shared with other jobs: ``--quick`` 68 s with the machine idle;
the full table 66 min at a load of 12-20, of which dataset C under leave_one_subject_out took
46 min; A and B together took 5 min at a load of 1-7.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: the machine is shared

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from auflow.demo import generate_demo_dataset  # noqa: E402
from auflow.evaluation.splits import inner_group_splits, make_folds  # noqa: E402
from auflow.features.descriptors import make_extractor  # noqa: E402
from auflow.features.normalise import normalise_per_subject  # noqa: E402
from auflow.io.dataset import (  # noqa: E402
    KEY,
    au_columns,
    feature_columns,  # noqa: E402
    join_features_labels,
)
from auflow.io.images import list_frames, load_faces  # noqa: E402
from auflow.io.labels import read_subject_labels  # noqa: E402
from auflow.io.parquet import read_table, write_table  # noqa: E402
from auflow.models.classic import make_classifier  # noqa: E402
from auflow.models.detector import AUDetector  # noqa: E402
from auflow.models.detector import positive_scores as decision_scores  # noqa: E402
from auflow.models.train import predict_fold  # noqa: E402

cv2.setNumThreads(1)
logging.getLogger("auflow").setLevel(logging.WARNING)

AUS = [1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26]  # the DISFA AUs of config.yaml
OCCURRENCE_THRESHOLD = 2
SPLITS = ("leave_one_subject_out", "group_kfold")
K, SEED, INNER_SPLITS = 3, 0, 3
N_THRESHOLDS = 100  # as TunedThresholdClassifierCV


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    n_subjects: int
    n_frames: int
    size: int
    seed: int


DATASETS = (
    DatasetSpec("A", 6, 120, 96, 0),
    DatasetSpec("B", 8, 120, 128, 1),
    DatasetSpec("C", 12, 120, 96, 2),
)

# --------------------------------------------------------------------------------------------
# Data and features
# --------------------------------------------------------------------------------------------


def ensure_dataset(spec: DatasetSpec, cache: Path) -> Path:
    """The dataset's folder under ``cache``, generated once."""
    root = cache / "data" / f"{spec.name}_{spec.n_subjects}x{spec.n_frames}_{spec.size}_{spec.seed}"
    if not (root / "done").exists():
        generate_demo_dataset(root, spec.n_subjects, spec.n_frames, spec.size, spec.seed)
        (root / "done").write_text("")
    return root


def labels_table(spec: DatasetSpec, cache: Path) -> pd.DataFrame:
    """``subject``, ``frame``, ``AU01``... int8 intensities, one row per frame."""
    root = ensure_dataset(spec, cache)
    tables = []
    for subject_dir in sorted((root / "croppedImg").iterdir()):
        paths = [p for _, p in list_frames(subject_dir)]
        labels = root / "json" / f"{subject_dir.name}.json"
        tables.append(read_subject_labels(subject_dir.name, "json", labels, paths, AUS))
    return pd.concat(tables, ignore_index=True)


def _params_key(extractor: str, params: dict) -> str:
    text = json.dumps([extractor, params], sort_keys=True)
    return f"{extractor}_{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def feature_table(spec: DatasetSpec, extractor: str, params: dict, cache: Path) -> pd.DataFrame:
    """``subject``, ``frame``, then float32 features of one extractor; cached as Parquet."""
    path = cache / "features" / spec.name / f"{_params_key(extractor, params)}.parquet"
    if path.exists():
        return read_table(path)
    root = ensure_dataset(spec, cache)
    model = make_extractor(extractor, params).fit()
    parts = []
    for subject_dir in sorted((root / "croppedImg").iterdir()):
        frames = list_frames(subject_dir)
        faces = load_faces([p for _, p in frames], face_size=spec.size)
        part = pd.DataFrame(model.transform(faces), columns=model.get_feature_names_out())
        part.insert(0, "frame", np.array([f for f, _ in frames], dtype=np.int64))
        part.insert(0, "subject", subject_dir.name)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    write_table(table, path, {"extractor": extractor, "params": params})
    return table


def dataset_table(spec: DatasetSpec, features: tuple, cache: Path) -> pd.DataFrame:
    """Labels joined with the concatenated features of ``features`` ((extractor, params) pairs),
    sorted by (subject, frame). Column names are prefixed by the position of their extractor, so
    two parametrisations of one extractor can be combined."""
    combined = None
    for position, (extractor, params) in enumerate(features):
        table = feature_table(spec, extractor, dict(params), cache)
        table = table.rename(columns={c: f"x{position}_{c}" for c in table.columns if c not in KEY})
        combined = table if combined is None else combined.merge(table, on=KEY, validate="1:1")
    return join_features_labels(combined, labels_table(spec, cache))


def smooth_features(dataset: pd.DataFrame, window: int) -> pd.DataFrame:
    """Centred moving average of each feature over ``window`` frames within each subject."""
    if window <= 1:
        return dataset
    columns = feature_columns(dataset)
    smoothed = dataset.copy()
    values = dataset[columns].to_numpy(np.float64)
    subjects = dataset["subject"].to_numpy()
    for subject in np.unique(subjects):
        rows = np.flatnonzero(subjects == subject)
        values[rows] = moving_average(values[rows], window)
    smoothed[columns] = values.astype(np.float32)
    return smoothed


# --------------------------------------------------------------------------------------------
# Temporal smoothing of scores and threshold tuning on smoothed scores
# --------------------------------------------------------------------------------------------


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 of one subject's frames, in frame order.

    Frame i gets the mean of rows ``i - window // 2 ... i + window // 2`` that exist (the window
    shrinks at the ends of the sequence, nothing is padded). ``window`` is odd; 1 is identity.

    Parameters
    ----------
    values : (n_frames,) or (n_frames, n_columns) float
    window : int, odd, >= 1

    Returns
    -------
    float64 array of the same shape.
    """
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) == 0:
        return values.copy()
    half = window // 2
    n = len(values)
    cumulative = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
    upper = np.minimum(np.arange(n) + half + 1, n)
    lower = np.maximum(np.arange(n) - half, 0)
    counts = (upper - lower).reshape(-1, *([1] * (values.ndim - 1)))
    return (cumulative[upper] - cumulative[lower]) / counts


def smooth_by_subject(scores: np.ndarray, subjects: np.ndarray, window: int) -> np.ndarray:
    """``moving_average`` of each subject's scores; rows are in (subject, frame) order."""
    if window <= 1:
        return np.asarray(scores, dtype=np.float64)
    smoothed = np.empty(len(scores))
    for subject in np.unique(subjects):
        rows = np.flatnonzero(subjects == subject)
        smoothed[rows] = moving_average(scores[rows], window)
    return smoothed


def _f1_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F1 at N_THRESHOLDS thresholds spread over the scores' range (predict: score >= t)."""
    thresholds = np.linspace(scores.min(), scores.max(), N_THRESHOLDS)
    predicted = scores[None, :] >= thresholds[:, None]
    tp = (predicted & (labels[None, :] == 1)).sum(axis=1)
    fp = predicted.sum(axis=1) - tp
    fn = labels.sum() - tp
    denominator = 2 * tp + fp + fn
    f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
    return thresholds, f1


def _mean_curve(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean F1 over inner splits at common thresholds (as TunedThresholdClassifierCV does)."""
    low = min(t.min() for t, _ in curves)
    high = max(t.max() for t, _ in curves)
    thresholds = np.linspace(low, high, N_THRESHOLDS)
    mean = np.mean([np.interp(thresholds, t, f) for t, f in curves], axis=0)
    return thresholds, mean


def fit_predict_smoothed(
    pipeline,
    train_features: np.ndarray,
    train_labels: np.ndarray,
    train_subjects: np.ndarray,
    test_features: np.ndarray,
    test_subjects: np.ndarray,
    windows: tuple[int, ...],
    inner: list | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """One AU's detector whose scores are smoothed within subjects before thresholding.

    The window (from ``windows``) and the threshold are chosen together, for the best mean F1
    over the inner (subject-exclusive) validation splits of the training subjects; the model is
    then refitted on all training frames, its test scores smoothed with the chosen window and
    thresholded. With ``windows == (1,)`` this is TunedThresholdClassifierCV's choice.

    Returns
    -------
    (occurrence (n_test,) int8, smoothed scores (n_test,) float64, window)
    """
    if len(np.unique(train_labels)) == 1:
        constant = np.full(len(test_features), train_labels[0], dtype=np.int8)
        return constant, constant.astype(float), 1
    learnable = inner is not None and all(
        len(np.unique(train_labels[t])) == 2 and train_labels[v].any() for t, v in inner
    )
    best = None  # (objective, window, threshold)
    if learnable:
        raw = []
        for train, validation in inner:
            model = clone(pipeline).fit(train_features[train], train_labels[train])
            raw.append((validation, decision_scores(model, train_features[validation])))
        for window in windows:
            curves = []
            for validation, scores in raw:
                smoothed = smooth_by_subject(scores, train_subjects[validation], window)
                curves.append(_f1_curve(train_labels[validation], smoothed))
            if any(np.isclose(t[0], t[-1]) for t, _ in curves):
                continue  # constant scores: no threshold to choose
            thresholds, mean = _mean_curve(curves)
            i = int(mean.argmax())
            if best is None or mean[i] > best[0]:
                best = (mean[i], window, thresholds[i])
    model = clone(pipeline).fit(train_features, train_labels)
    if best is None:  # keep the model's own threshold, unsmoothed
        scores = decision_scores(model, test_features)
        return model.predict(test_features).astype(np.int8), scores, 1
    _, window, threshold = best
    scores = smooth_by_subject(decision_scores(model, test_features), test_subjects, window)
    return (scores >= threshold).astype(np.int8), scores, window


# --------------------------------------------------------------------------------------------
# Models, configurations, evaluation
# --------------------------------------------------------------------------------------------


def logistic(C: float = 1.0, class_weight="balanced", pca: int | None = None) -> Pipeline:
    """StandardScaler (PCA), LogisticRegression: the baseline's learner when on HOG."""
    steps = [("scale", StandardScaler())]
    if pca:
        steps.append(("pca", PCA(n_components=pca, random_state=0)))
    steps.append(("model", LogisticRegression(C=C, class_weight=class_weight, max_iter=1000)))
    return Pipeline(steps)


def svm_pca(n_components: int, C: float = 0.1) -> Pipeline:
    """StandardScaler, PCA, LinearSVC (balanced)."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(n_components=n_components, random_state=0)),
            ("model", LinearSVC(C=C, class_weight="balanced", random_state=0)),
        ]
    )


def classifier(name: str):
    """A learner by short name: the config.yaml classifiers, and the levers' variants."""
    config = {
        "svm_linear": {"C": 0.1, "class_weight": "balanced"},
        "random_forest": {
            "n_estimators": 100,
            "class_weight": "balanced_subsample",
            "min_samples_leaf": 2,
        },
        "decision_tree": {"class_weight": "balanced", "max_depth": 8},
        "naive_bayes": {},
        "knn": {"n_neighbors": 5},
    }
    if name in config:
        return make_classifier(name, config[name])
    variants = {
        "logreg": lambda: logistic(),
        "logreg_C0.01": lambda: logistic(C=0.01),
        "logreg_C0.1": lambda: logistic(C=0.1),
        "svm_C0.01": lambda: make_classifier("svm_linear", {"C": 0.01, "class_weight": "balanced"}),
        "svm_C1": lambda: make_classifier("svm_linear", {"C": 1.0, "class_weight": "balanced"}),
        "svm_unweighted": lambda: make_classifier("svm_linear", {"C": 0.1}),
        "svm_pca64": lambda: svm_pca(64),
        "logreg_pca64": lambda: logistic(pca=64),
    }
    return variants[name]()


GABOR = ("gabor_energy", ())
HOG = ("hog", ())
LBP = ("lbp", ())
GABOR6 = ("gabor_energy", (("grid", 6),))
GABOR8 = ("gabor_energy", (("grid", 8),))
DEFAULT_CLASSIFIERS = ("svm_linear", "random_forest", "decision_tree", "naive_bayes", "knn")


@dataclass(frozen=True)
class Configuration:
    """What a default configuration fixes: features, normalisation, smoothing, classifiers.

    ``score_windows``: odd windows (frames) for smoothing each subject's scores, chosen with the
    threshold on the training subjects; ``(1,)`` is no smoothing. ``feature_window``: centred
    moving average of the features within each subject before learning (1: none).
    """

    name: str
    features: tuple = (GABOR,)
    normalise: str = "none"
    classifiers: tuple[str, ...] = DEFAULT_CLASSIFIERS
    score_windows: tuple[int, ...] = (1,)
    feature_window: int = 1
    notes: str = field(default="", compare=False)


BASELINE = Configuration("baseline", features=(HOG,), classifiers=("logreg",))


def pooled_mean_f1(labels: pd.DataFrame, predictions: pd.DataFrame) -> tuple[float, dict]:
    """Mean over AUs (with a positive frame in ``labels``) of the F1 over all pooled frames."""
    table = labels.merge(predictions, on=KEY, validate="1:1")
    if len(table) != len(labels):
        raise ValueError(f"{len(labels) - len(table)} frames have no prediction")
    per_au = {}
    for au in au_columns(labels):
        occurrence = (table[au].to_numpy() >= OCCURRENCE_THRESHOLD).astype(int)
        if occurrence.any():
            per_au[au] = f1_score(occurrence, table[f"{au}_c"].to_numpy(), zero_division=0)
    return float(np.mean(list(per_au.values()))), per_au


def predict_split(
    dataset: pd.DataFrame,
    folds: pd.DataFrame,
    learner,
    windows: tuple[int, ...],
    pipeline_code: bool = False,
) -> pd.DataFrame:
    """Occurrence predictions of every frame, each from the fold in which it is a test frame.

    With ``pipeline_code`` (no smoothing only), the pipeline's own ``predict_fold`` and
    ``AUDetector`` (each AU's threshold chosen on the pooled out-of-split scores of
    ``inner_group_splits``); otherwise the same inner splits choose window and threshold in
    ``fit_predict_smoothed``, which follows scikit-learn's ``TunedThresholdClassifierCV`` (F1
    curves per split at 100 thresholds, averaged), the procedure the pipeline used when these
    defaults were measured. ``--check`` prints how far the two procedures' predictions differ.
    """
    parts = []
    for fold in sorted(folds["fold"].unique()):
        if pipeline_code:
            if windows != (1,):
                raise ValueError("the pipeline's predict_fold does not smooth scores")
            aus = [int(column[2:]) for column in au_columns(dataset)]
            detector = AUDetector(learner, aus=tuple(aus), random_state=SEED)
            parts.append(predict_fold(dataset, folds, fold, detector))
            continue
        table = dataset.merge(folds[[*KEY, "fold"]], on=KEY, validate="1:1")
        is_test = (table["fold"] == fold).to_numpy()
        features = table[feature_columns(dataset)].to_numpy(np.float32)
        subjects = table["subject"].to_numpy()
        inner = inner_group_splits(subjects[~is_test], n_splits=INNER_SPLITS, seed=SEED)
        part = table.loc[is_test, KEY].reset_index(drop=True)
        for au in au_columns(dataset):
            occurrence = (table.loc[~is_test, au].to_numpy() >= OCCURRENCE_THRESHOLD).astype(int)
            predicted, _, _ = fit_predict_smoothed(
                learner,
                features[~is_test],
                occurrence,
                subjects[~is_test],
                features[is_test],
                subjects[is_test],
                windows,
                inner,
            )
            part[f"{au}_c"] = predicted
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def evaluate(
    configuration: Configuration, spec: DatasetSpec, split: str, cache: Path
) -> dict[str, float]:
    """Pooled mean F1 of each classifier of ``configuration`` on one dataset and split."""
    dataset = dataset_table(spec, configuration.features, cache)
    if configuration.normalise == "subject_median":
        dataset = normalise_per_subject(dataset)
    dataset = smooth_features(dataset, configuration.feature_window)
    folds = make_folds(dataset[KEY], split, k=K, seed=SEED)
    labels = dataset[[*KEY, *au_columns(dataset)]]
    scores = {}
    for name in configuration.classifiers:
        predictions = predict_split(dataset, folds, classifier(name), configuration.score_windows)
        scores[name] = pooled_mean_f1(labels, predictions)[0]
    return scores


# --------------------------------------------------------------------------------------------
# The recommendation and the levers measured on the way
# --------------------------------------------------------------------------------------------

MEDIAN = "subject_median"
# Chosen by measurement (see --levers): a finer Gabor grid, each subject's median feature vector
# subtracted, no smoothing (it changed the pooled F1 by < 0.01), the pipeline's classifiers
# without random_forest (never best, and the slowest by far).
RECOMMENDED = Configuration(
    "recommended",
    features=(GABOR6,),
    normalise=MEDIAN,
    classifiers=("svm_linear", "decision_tree", "naive_bayes", "knn"),
)

LEVERS = (
    Configuration("current defaults (gabor_energy 4x4, no normalisation)"),
    Configuration("+ subject_median", normalise=MEDIAN),
    Configuration(
        "hog, subject_median",
        features=(HOG,),
        normalise=MEDIAN,
        classifiers=("svm_linear", "logreg"),
    ),
    Configuration(
        "gabor_energy + hog, none", features=(GABOR, HOG), classifiers=("svm_linear", "logreg")
    ),
    Configuration(
        "gabor_energy + hog, subject_median",
        features=(GABOR, HOG),
        normalise=MEDIAN,
        classifiers=("svm_linear", "logreg"),
    ),
    Configuration(
        "hog + lbp, subject_median",
        features=(HOG, LBP),
        normalise=MEDIAN,
        classifiers=("svm_linear", "logreg"),
    ),
    Configuration(
        "gabor_energy 6x6, subject_median",
        features=(GABOR6,),
        normalise=MEDIAN,
        classifiers=("svm_linear", "logreg"),
    ),
    Configuration(
        "gabor 4x4, median, scores smoothed, window tuned in {1,3,5,9,15}",
        normalise=MEDIAN,
        classifiers=("svm_linear", "logreg"),
        score_windows=(1, 3, 5, 9, 15),
    ),
    Configuration(
        "gabor 4x4, median, scores smoothed, window 9",
        normalise=MEDIAN,
        classifiers=("svm_linear", "logreg"),
        score_windows=(9,),
    ),
    Configuration(
        "gabor 4x4, median, features smoothed, window 5",
        normalise=MEDIAN,
        classifiers=("svm_linear", "logreg"),
        feature_window=5,
    ),
    Configuration(
        "gabor 4x4, median, other C / class weights",
        normalise=MEDIAN,
        classifiers=("svm_C0.01", "svm_C1", "svm_unweighted", "logreg_C0.01"),
    ),
    Configuration(
        "gabor 4x4, median, PCA to 64", normalise=MEDIAN, classifiers=("svm_pca64", "logreg_pca64")
    ),
)


def check_fast_path(spec: DatasetSpec, cache: Path) -> None:
    """How far the baseline's predictions through the pipeline's predict_fold differ from the
    script's own threshold tuning (an informative comparison, not a pass/fail check)."""
    dataset = dataset_table(spec, BASELINE.features, cache)
    for split in SPLITS:
        folds = make_folds(dataset[KEY], split, k=K, seed=SEED)
        pipeline = predict_split(dataset, folds, classifier("logreg"), (1,), pipeline_code=True)
        fast = predict_split(dataset, folds, classifier("logreg"), (1,))
        columns = [c for c in fast.columns if c.endswith("_c")]
        pipeline, fast = (t.sort_values(KEY, ignore_index=True) for t in (pipeline, fast))
        differing = int((pipeline[columns].to_numpy() != fast[columns].to_numpy()).sum())
        print(f"check {spec.name} {split}: {differing} of {fast[columns].size} predictions differ")


def final_table(specs, cache: Path) -> None:
    print(
        "| dataset | split | baseline | best model of the recommended defaults | its F1 | ratio "
        "| all models | time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for spec in specs:
        for split in SPLITS:
            start = time.time()
            baseline = evaluate(BASELINE, spec, split, cache)["logreg"]
            scores = evaluate(RECOMMENDED, spec, split, cache)
            best = max(scores, key=scores.get)
            others = ", ".join(f"{name} {value:.3f}" for name, value in scores.items())
            print(
                f"| {spec.name} ({spec.n_subjects} subj, {spec.size} px, seed {spec.seed}) "
                f"| {split} | {baseline:.3f} | {best} | {scores[best]:.3f} "
                f"| {scores[best] / baseline:.2f} | {others} | {time.time() - start:.0f} s |",
                flush=True,
            )


def lever_table(spec: DatasetSpec, cache: Path) -> None:
    baseline = {split: evaluate(BASELINE, spec, split, cache)["logreg"] for split in SPLITS}
    print(
        f"dataset {spec.name}; baseline pooled mean F1: "
        + ", ".join(f"{split} {value:.3f}" for split, value in baseline.items())
    )
    print("| configuration | split | pooled mean F1 per model (ratio to baseline) |")
    print("|---|---|---|")
    for configuration in LEVERS:
        for split in SPLITS:
            scores = evaluate(configuration, spec, split, cache)
            cells = ", ".join(
                f"{name} {value:.3f} ({value / baseline[split]:.2f})"
                for name, value in scores.items()
            )
            print(f"| {configuration.name} | {split} | {cells} |", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/auflow_defaults"))
    parser.add_argument("--quick", action="store_true", help="dataset A only")
    parser.add_argument("--levers", action="store_true", help="the lever table on dataset A")
    parser.add_argument(
        "--check", action="store_true", help="also run the baseline through predict_fold on A"
    )
    args = parser.parse_args(argv)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.python_version()}, single-threaded learners"
    )
    start = time.time()
    if args.check:
        check_fast_path(DATASETS[0], args.cache)
    if args.levers:
        lever_table(DATASETS[0], args.cache)
    else:
        final_table(DATASETS[:1] if args.quick else DATASETS, args.cache)
    print(f"# {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
