"""Single-thread KNN benchmark: scikit-learn's ``KNeighborsClassifier`` against auflow's
``NearestNeighbours``, on real features, 12 AUs at once.

Prints, for example (one core of a 2-core AMD EPYC, load average 1.4, 25 Nov 2026)::

    21600 training x 5400 queries x 864 features, 12 AUs, k=5 uniform
    knn_sklearn  fit + predict_proba   7.08 s
    knn          fit + predict_proba   3.79 s   1.9x
    probabilities: max abs diff 0.0e+00, differing neighbour sets 0 of 540 sampled queries

- the table: a DISFA-shaped feature table (``results/dataset/<extractor>.parquet``); the first
  ``--subjects-train`` subjects (sorted) give their first ``--train-frames`` frames as training
  frames, the next ``--subjects-test`` their first ``--test-frames`` as queries;
- features standardised on the training frames (as the pipeline's ``StandardScaler`` does),
  labels occurrence (intensity >= 2) of every AU column;
- each model built by the classifier registry (``knn_sklearn``, ``knn``), fitted once on all
  AUs' labels and asked for ``predict_proba`` (one array per AU), as a multi-output detector
  does; time of the best of ``--repeats`` runs, one BLAS thread.

Run: ``python bench/knn.py [--table results/dataset/gabor_energy.parquet] [--neighbours 5]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: single-thread figures

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from auflow.io.parquet import read_table  # noqa: E402
from auflow.models.registry import spec_of  # noqa: E402


def load_frames(path, subjects_train, subjects_test, train_frames, test_frames):
    """(training features, training occurrence, query features), standardised float32."""
    table = read_table(path)
    subjects = sorted(table["subject"].unique())
    if len(subjects) < subjects_train + subjects_test:
        raise SystemExit(f"{path}: {len(subjects)} subjects, fewer than asked for")
    features = [c for c in table.columns if c not in ("subject", "frame") and c[:2] != "AU"]
    aus = [c for c in table.columns if c[:2] == "AU" and c[2:].isdigit()]
    by_subject = table.groupby("subject", sort=True)
    train = by_subject.head(train_frames)
    train = train[train["subject"].isin(subjects[:subjects_train])]
    test = by_subject.head(test_frames)
    test = test[test["subject"].isin(subjects[subjects_train : subjects_train + subjects_test])]
    scaler = StandardScaler().fit(train[features].to_numpy(np.float32))
    return (
        scaler.transform(train[features].to_numpy(np.float32)),
        (train[aus].to_numpy() >= 2).astype(np.int8),
        scaler.transform(test[features].to_numpy(np.float32)),
    )


def timed(name, params, training, labels, queries, repeats):
    """(best seconds of fit + predict_proba, the fitted model, its probabilities)."""
    build = spec_of(name).estimator
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        model = build(**params).fit(training, labels)
        probabilities = model.predict_proba(queries)
        best = min(best, time.perf_counter() - start)
    return best, model, probabilities


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", default="/tmp/full/results/dataset/gabor_energy.parquet")
    parser.add_argument("--subjects-train", type=int, default=18)
    parser.add_argument("--subjects-test", type=int, default=9)
    parser.add_argument("--train-frames", type=int, default=1200)
    parser.add_argument("--test-frames", type=int, default=600)
    parser.add_argument("--neighbours", type=int, default=5)
    parser.add_argument("--weights", choices=("uniform", "distance"), default="uniform")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    training, labels, queries = load_frames(
        args.table, args.subjects_train, args.subjects_test, args.train_frames, args.test_frames
    )
    params = {"n_neighbors": args.neighbours, "weights": args.weights}
    print(
        f"{len(training)} training x {len(queries)} queries x {training.shape[1]} features, "
        f"{labels.shape[1]} AUs, k={args.neighbours} {args.weights}"
    )
    old, reference, expected = timed("knn_sklearn", params, training, labels, queries, args.repeats)
    print(f"knn_sklearn  fit + predict_proba {old:6.2f} s")
    new, model, found = timed("knn", params, training, labels, queries, args.repeats)
    print(f"knn          fit + predict_proba {new:6.2f} s  {old / new:4.1f}x")
    difference = max(np.abs(a - b).max() for a, b in zip(expected, found, strict=True))
    # neighbour sets compared on a sample: scikit-learn's search is the slow part
    sample = queries[:: max(1, len(queries) // 500)]
    sets_differ = sum(
        set(a) != set(b)
        for a, b in zip(
            reference.kneighbors(sample, return_distance=False),
            model.kneighbors(sample)[1],
            strict=True,
        )
    )
    print(
        f"probabilities: max abs diff {difference:.1e}, "
        f"differing neighbour sets {sets_differ} of {len(sample)} sampled queries"
    )


if __name__ == "__main__":
    main()
