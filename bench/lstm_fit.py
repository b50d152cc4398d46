"""Where an LSTM fit's time and memory go, and what each of its speed-ups pays, on a real table.

On fold 0 of a group 3-fold split of ``--table`` (a dataset table, e.g. the learning tree's
``learn_gabor_energy_0.125.parquet`` of bench/scale.py), with the network of ``--config``'s
``classifiers.lstm`` and one thread, as a ``classify_lstm`` job runs:

1. a training epoch through the ``PyDataset`` (its Python gathering of windows alone as well),
   with Keras' graph and with XLA (``jit_compile=True``);
2. a validation pass: the loss on every validation frame (before) and on the windows ending
   every ``stride`` frames (now), with both losses;
3. a prediction pass over the validation frames in steps of 256 windows
   (:data:`auflow.models.sequence.PREDICTION_BATCH`) and of 1,024, with and without XLA;
4. the standardised copy of the training features: peak memory the old way (whole-array
   temporaries) and in place, with the largest difference of the statistics.

Every time is the least of ``--rounds`` interleaved rounds (other processes share the machine),
CPU seconds of this process beside wall seconds. Run:
``PYTHONPATH=src flock /tmp/heavy.lock python bench/lstm_fit.py --table T --config C``.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def timed(function) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result) of ``function()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def traced_peak(function) -> tuple[float, object]:
    """(peak MB of memory traced while ``function()`` ran, above what was held before, result)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    result = function()
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return peak / 1e6, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from snakemake.utils import validate
    from threadpoolctl import threadpool_limits

    from auflow.evaluation.folds import split_fold
    from auflow.evaluation.splits import inner_group_splits, make_folds
    from auflow.models import make_detector
    from auflow.models import sequence as seq
    from auflow.models.scaling import column_statistics
    from auflow.models.train import load_dataset, training_arrays
    from auflow.settings import EvaluationSettings

    threadpool_limits(1)
    config = yaml.safe_load(args.config.read_text())
    validate(config, str(REPO / "schemas/config.schema.yaml"), set_default=True)
    settings = EvaluationSettings.from_config(config)
    dataset = load_dataset(args.table, settings.normalise)
    folds = make_folds(dataset[["subject", "frame"]], "group_kfold", 3, 0, False)
    train, _ = split_fold(dataset, folds, 0)
    del dataset
    detector = make_detector("lstm", config["classifiers"]["lstm"]["params"], settings, 1)
    X, Y, groups = training_arrays(train, detector.aus)
    groups, frames = detector._keys(X, groups, train["frame"].to_numpy())
    seq.configure_tensorflow(1, settings.seed)
    keras = seq._keras()

    validation = np.zeros(len(X), bool)
    validation[inner_group_splits(groups, detector.inner_splits, settings.seed)[0][1]] = True
    fit_rows, validation_rows = np.flatnonzero(~validation), np.flatnonzero(validation)
    stride = detector.stride

    print(f"== LSTM fit on {args.table.name}: fold 0, {len(X)} training frames x {X.shape[1]} ==")
    print(f"load average {os.getloadavg()[0]:.2f}; times: least of {args.rounds} rounds")

    # 4. the standardised copy: old way against the in-place one
    def old_padded():
        mean = X[fit_rows].mean(axis=0)
        scale = X[fit_rows].std(axis=0)
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        standardised = (X - mean) / scale
        padded = np.zeros((len(X) + 1, X.shape[1] + 1), np.float32)
        padded[:-1, :-1] = standardised
        padded[:-1, -1] = 1.0
        return mean, scale, padded

    def new_padded():
        mean, scale = column_statistics(X, fit_rows)
        detector.mean_, detector.scale_ = mean.astype(np.float32), scale.astype(np.float32)
        return detector._padded(X)

    old_peak, (old_mean, old_scale, old) = traced_peak(old_padded)
    new_peak, padded = traced_peak(new_padded)
    size = padded.nbytes / 1e6
    print(
        f"\nstandardised copy ({size:.0f} MB): peak {old_peak:.0f} MB before, {new_peak:.0f} MB "
        f"in place ({old_peak / new_peak:.1f}x less); statistics differ by at most "
        f"{np.abs(detector.mean_ - old_mean).max():.1e} (mean), "
        f"{np.abs(detector.scale_ / old_scale - 1).max():.1e} (relative scale); "
        f"features by {np.abs(padded - old).max():.1e}"
    )
    del old

    rows = seq.window_rows(groups, frames, detector.window, detector.context)
    labels = detector._labels(Y)
    ends = fit_rows[seq.training_ends(groups[~validation], frames[~validation], stride)]
    weights = np.zeros_like(labels)
    weights[ends] = detector._weights(labels[ends])
    strided = validation_rows[seq.training_ends(groups[validation], frames[validation], stride)]
    weights[validation_rows] = detector._validation_weights(labels, ends, validation_rows)

    networks = {}
    for jit in (False, True):
        network = detector._build(padded.shape[1])
        network.compile(
            optimizer=keras.optimizers.Adam(detector.learning_rate),
            loss="binary_crossentropy",
            jit_compile=jit,
        )
        networks[jit] = network

    def epoch(network):
        batches = seq._window_batches(
            padded, rows, ends, labels, weights, detector.batch_size, settings.seed
        )
        return network.fit(batches, epochs=1, verbose=0, shuffle=False)

    def gather():
        batches = seq._window_batches(
            padded, rows, ends, labels, weights, detector.batch_size, settings.seed
        )
        return [batches[i] for i in range(len(batches))]

    def loss(network, which, batch):
        batches = seq._window_batches(padded, rows, which, labels, weights, batch)
        return network.evaluate(batches, verbose=0)

    def scores(network, batch):
        batches = seq._window_batches(padded, rows, validation_rows, batch_size=batch)
        return network.predict(batches, verbose=0)

    passes = {
        "training epoch, Keras graph": lambda: epoch(networks[False]),
        "training epoch, XLA": lambda: epoch(networks[True]),
        "gathering an epoch of windows": gather,
        "validation loss, every frame (256)": lambda: loss(networks[False], validation_rows, 256),
        "validation loss, every stride frames": lambda: loss(networks[False], strided, 256),
        "prediction, steps of 256": lambda: scores(networks[False], 256),
        "prediction, steps of 1024": lambda: scores(networks[False], 1024),
        "prediction, steps of 256, XLA": lambda: scores(networks[True], 256),
    }
    for name, function in passes.items():  # Keras traces each function on its first call
        if "gathering" not in name:
            function()
    best: dict[str, tuple[float, float]] = {}
    results = {}
    for _ in range(args.rounds):
        for name, function in passes.items():
            wall, cpu, results[name] = timed(function)
            old = best.get(name, (np.inf, np.inf))
            best[name] = (min(old[0], wall), min(old[1], cpu))
    print(
        f"\n{len(ends)} training windows ({-(-len(ends) // detector.batch_size)} steps of "
        f"{detector.batch_size}), {len(validation_rows)} validation frames, {len(strided)} "
        f"validation windows every {stride} frames"
    )
    print(f"{'pass':40} {'wall s':>8} {'CPU s':>8}")
    for name, (wall, cpu) in best.items():
        print(f"{name:40} {wall:8.2f} {cpu:8.2f}")

    def faster(slow: str, fast: str) -> str:
        return f"{best[slow][1] / best[fast][1]:.2f}x (wall {best[slow][0] / best[fast][0]:.2f}x)"

    epoch_cpu = best["training epoch, Keras graph"][1]
    print("\nratios of CPU seconds:")
    print(f"XLA training epoch: {faster('training epoch, Keras graph', 'training epoch, XLA')}")
    print(
        f"gathering windows: {best['gathering an epoch of windows'][1] / epoch_cpu:.0%} of an epoch"
    )
    print(
        "validation every stride frames: "
        + faster("validation loss, every frame (256)", "validation loss, every stride frames")
        + f"; loss {results['validation loss, every frame (256)']:.5f} on every frame, "
        f"{results['validation loss, every stride frames']:.5f} every {stride} frames"
    )
    small = results["prediction, steps of 256"]
    large = results["prediction, steps of 1024"]
    print(
        "prediction in larger steps: "
        + faster("prediction, steps of 256", "prediction, steps of 1024")
        + f"; scores differ by at most {np.abs(small - large).max():.1e}"
    )
    print("XLA prediction: " + faster("prediction, steps of 256", "prediction, steps of 256, XLA"))


if __name__ == "__main__":
    main()
