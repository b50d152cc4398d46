"""Single-thread logistic regression benchmark: scikit-learn's ``LogisticRegression`` (lbfgs,
one AU at a time, after ``StandardScaler``) against auflow's ``Logistic`` (all AUs at once,
standardising inside), as the baseline runs them, on real HOG features.

Per size it prints the time of fitting every AU, the ratio, and per AU the objective each
reached (the same objective: ``1/2 |w|^2 + C sum_i s_i logloss_i`` on standardised features),
the relative gap ``(ours - sklearn) / sklearn`` (negative: ours is nearer the minimum), and the
share of held-out frames both classify alike. For example::

    21600 training frames x 1764 features, 12 AUs, class_weight balanced, max_iter 1000
    logistic_regression_sklearn  fit 12 AUs   40.1 s
    logistic_regression          fit 12 AUs    8.0 s   5.0x
    objective gap per AU: median -2.1e-02, max 1.0e-04; held-out agreement 99.1 %

- the table: a DISFA-shaped feature table (``results/dataset/hog.parquet``); the first
  ``--subjects-train`` subjects (sorted) give their first ``--frames`` frames (each size) as
  training frames, the next ``--subjects-test`` their first 600 frames as held-out frames;
- labels: occurrence (intensity >= 2) of every AU column; features as in the table (raw);
- each model built by the classifier registry with the baseline's parameters, one BLAS thread.

Run: ``python bench/logistic.py [--table ...] [--frames 300 1200 2400]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: single-thread figures

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

from auflow.io.parquet import read_table  # noqa: E402
from auflow.models.classic import make_classifier  # noqa: E402
from auflow.models.detector import AUDetector  # noqa: E402


def load(path, subjects_train, subjects_test, frames, test_frames=600):
    """Training features, occurrence and subjects, held-out features and occurrence (float32
    features, int8 occurrence)."""
    table = read_table(path)
    subjects = sorted(table["subject"].unique())
    features = [c for c in table.columns if c not in ("subject", "frame") and c[:2] != "AU"]
    aus = [c for c in table.columns if c[:2] == "AU" and c[2:].isdigit()]
    by_subject = table.groupby("subject", sort=True)
    train = by_subject.head(frames)
    train = train[train["subject"].isin(subjects[:subjects_train])]
    test = by_subject.head(test_frames)
    test = test[test["subject"].isin(subjects[subjects_train : subjects_train + subjects_test])]
    return (
        train[features].to_numpy(np.float32),
        (train[aus].to_numpy() >= 2).astype(np.int8),
        train["subject"].to_numpy(),
        test[features].to_numpy(np.float32),
        (test[aus].to_numpy() >= 2).astype(np.int8),
    )


def objective(standardised_coef, margins, occurrence, C):
    """The objective of one AU (balanced class weights) from its standardised weights and its
    margins on the training frames, in float64."""
    n, positives = len(occurrence), occurrence.sum()
    weights = np.where(occurrence == 1, n / (2 * positives), n / (2 * (n - positives)))
    losses = np.logaddexp(0.0, -np.where(occurrence == 1, 1.0, -1.0) * margins)
    return 0.5 * standardised_coef @ standardised_coef + C * (weights * losses).sum()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", default="/tmp/full/results/dataset/hog.parquet")
    parser.add_argument("--subjects-train", type=int, default=18)
    parser.add_argument("--subjects-test", type=int, default=9)
    parser.add_argument("--frames", type=int, nargs="+", default=[300, 1200, 2400])
    parser.add_argument("--f1-frames", type=int, default=300)
    args = parser.parse_args()
    params = {"class_weight": "balanced", "max_iter": 1000}  # the baseline's (config.yaml)
    print(f"load average {os.getloadavg()[0]:.1f}, one BLAS thread")
    held_out_f1(args, params)
    for frames in args.frames:
        X, occurrence, _, held_out, _ = load(
            args.table, args.subjects_train, args.subjects_test, frames
        )
        n_aus = occurrence.shape[1]
        print(
            f"\n{len(X)} training frames x {X.shape[1]} features, {n_aus} AUs, "
            f"class_weight balanced, max_iter 1000"
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            start = time.perf_counter()
            theirs = [
                make_classifier("logistic_regression_sklearn", params).fit(X, occurrence[:, j])
                for j in range(n_aus)
            ]
            sklearn_seconds = time.perf_counter() - start
        unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        iterations = [int(p.named_steps["model"].n_iter_[0]) for p in theirs]
        print(
            f"logistic_regression_sklearn  fit {n_aus} AUs {sklearn_seconds:7.1f} s "
            f"(lbfgs iterations per AU {min(iterations)}-{max(iterations)}, "
            f"{unconverged} not converged)"
        )
        start = time.perf_counter()
        ours = make_classifier("logistic_regression", params).fit(X, occurrence)
        ours_seconds = time.perf_counter() - start
        model = ours.named_steps["model"]
        print(
            f"logistic_regression          fit {n_aus} AUs {ours_seconds:7.1f} s "
            f"{sklearn_seconds / ours_seconds:5.1f}x  (iterations {model.n_iter_})"
        )
        spread = X.std(axis=0, dtype=np.float64)
        spread[spread == 0] = 1.0
        margins = ours.decision_function(X)
        gaps, agreement = [], []
        for j, pipeline in enumerate(theirs):
            mine = objective(model.coef_[j] * spread, margins[:, j], occurrence[:, j], 1.0)
            best = objective(
                pipeline.named_steps["model"].coef_[0],
                pipeline.decision_function(X),
                occurrence[:, j],
                1.0,
            )
            gaps.append((mine - best) / best)
            agreement.append(
                np.mean((ours.decision_function(held_out)[:, j] > 0) == pipeline.predict(held_out))
            )
        print(
            "objective gap (ours - sklearn) / sklearn per AU: "
            + " ".join(f"{g:+.1e}" for g in gaps)
            + f"\n  median {np.median(gaps):+.1e}, max {max(gaps):+.1e}; "
            f"held-out frames classified alike {100 * np.mean(agreement):.2f} % "
            f"(lowest AU {100 * min(agreement):.2f} %); load average {os.getloadavg()[0]:.1f}"
        )


def held_out_f1(args, params):
    """The baseline detector (thresholds tuned on 3 subject-exclusive inner splits) by each
    solver: F1 per AU on the held-out subjects."""
    X, occurrence, subjects, held_out, truth = load(
        args.table, args.subjects_train, args.subjects_test, args.f1_frames
    )
    print(
        f"baseline detector, {len(X)} training frames ({args.subjects_train} subjects), "
        f"{len(held_out)} held-out frames ({args.subjects_test} subjects): F1 per AU"
    )
    intensities = 2 * occurrence.astype(np.int64)  # occurrence = intensity >= 2
    aus = tuple(range(1, occurrence.shape[1] + 1))
    for name in ("logistic_regression_sklearn", "logistic_regression"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            detector = AUDetector(name, params, aus=aus).fit(X, intensities, subjects)
            seconds = time.perf_counter() - start
        predicted = detector.predict(held_out)
        scores = [f1_score(truth[:, j], predicted[:, j]) for j in range(len(aus))]
        print(
            f"{name:28} mean F1 {np.mean(scores):.4f}  "
            + " ".join(f"{f:.3f}" for f in scores)
            + f"  ({seconds:.1f} s)"
        )


if __name__ == "__main__":
    main()
