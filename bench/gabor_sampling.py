"""What ``gabor_energy``'s sampled modulus (``sampling: auto``) saves and changes, in one run.

1. **cost**, single thread, CPU time per face (best of ``--repeats``): each frequency's filters
   at full resolution and at the steps ``auto`` chooses, and the whole extractor with
   ``sampling: every_pixel`` and ``auto``, at each of ``--sizes``;
2. **features**: on a generated DISFA-shaped dataset (``auflow.demo``: ``--subjects`` x
   ``--frames``, ``--size`` px, seed 0), per feature the difference ``auto - every_pixel``:
   relative to the feature's value (largest and median over frames and features), and in
   units of the feature's standard deviation over all frames (what a standardising classifier
   sees), by frequency and statistic;
3. **F1**: the honest pooled mean F1 (group k-fold, k=3, subject-exclusive; each subject's
   median feature vector subtracted; thresholds tuned on the training subjects) of the default
   classic classifiers on both feature tables, with ``bench/defaults_search.py``'s procedure.

Run: ``PYTHONPATH=src python bench/gabor_sampling.py [--size 256] [--sizes 96 256]``
(wrap it in ``flock /tmp/heavy.lock`` on a shared machine).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: single-thread figures

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import defaults_search  # noqa: E402
from gabor import demo_faces  # noqa: E402

from auflow.features.descriptors import GaborEnergy  # noqa: E402
from auflow.features.gabor import GaborBank, iter_chunks  # noqa: E402

cv2.setNumThreads(1)
CLASSIFIERS = ("svm_linear", "naive_bayes", "knn")  # the default config's classic ones


def cpu_ms_per_face(run, n_faces: int, repeats: int) -> float:
    """Best of ``repeats`` CPU times of ``run()`` (process time: less sensitive than the wall
    clock to other programs on a shared machine), in ms per face."""
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best / n_faces * 1e3


def cost(sizes: list[int], repeats: int, workdir: Path) -> None:
    print("== cost: CPU ms per face, 1 thread ==")
    for size in sizes:
        faces = demo_faces(size, 16, workdir)
        every_pixel = GaborEnergy(sampling="every_pixel").fit()
        auto = GaborEnergy().fit()
        steps = auto.sampling_steps((size, size))
        print(f"{size} px, auto steps {dict(zip(auto.bank_.frequencies, steps, strict=True))}:")
        for frequency, step in zip(auto.bank_.frequencies, steps, strict=True):
            bank = GaborBank((frequency,), auto.orientations_deg)

            def filters(bank=bank, step=step, faces=faces):
                for chunk in iter_chunks(len(faces), faces.shape[1:]):
                    for _ in bank.iter_responses(faces[chunk], steps=(step,)):
                        pass

            full = cpu_ms_per_face(lambda b=bank: filters(b, 1), len(faces), repeats)
            sampled = cpu_ms_per_face(filters, len(faces), repeats) if step > 1 else full
            print(
                f"  f={frequency}: {len(bank)} filters {full:.2f} ms at every pixel, "
                f"{sampled:.2f} ms at step {step}"
            )
        whole = {
            name: cpu_ms_per_face(lambda m=model, f=faces: m.transform(f), len(faces), repeats)
            for name, model in (("every_pixel", every_pixel), ("auto", auto))
        }
        print(
            f"  gabor_energy every_pixel "
            f"{whole['every_pixel']:.2f} ms, auto {whole['auto']:.2f} ms "
            f"({whole['every_pixel'] / whole['auto']:.2f}x); load {os.getloadavg()[0]:.1f}",
            flush=True,
        )


def differences(spec, cache: Path) -> tuple[dict, dict]:
    print(
        f"\n== features: auto - every_pixel on {spec.n_subjects} x {spec.n_frames} faces "
        f"of {spec.size} px =="
    )
    exact = defaults_search.feature_table(spec, "gabor_energy", {"sampling": "every_pixel"}, cache)
    auto = defaults_search.feature_table(spec, "gabor_energy", {"sampling": "auto"}, cache)
    names = [c for c in exact.columns if c.startswith("gabor_")]
    e = exact[names].to_numpy(np.float64)
    a = auto[names].to_numpy(np.float64)
    relative = np.abs(a - e) / np.maximum(np.abs(e), 1e-12)
    spread = np.abs(a - e) / np.maximum(e.std(axis=0), 1e-12)
    changed = np.abs(a - e).max(axis=0) > 0
    print(f"features changed: {changed.sum()} of {len(names)}")
    print(f"{'group':22} {'rel max':>8} {'rel median':>11} {'/sd max':>8} {'/sd median':>11}")
    groups = {}
    for name in names:
        frequency = name.split("_")[2]
        groups.setdefault(f"{frequency} {name.rsplit('_', 1)[1]}", []).append(names.index(name))
    groups["all"] = list(range(len(names)))
    for label, columns in groups.items():
        r, d = relative[:, columns], spread[:, columns]
        print(f"{label:22} {r.max():8.4f} {np.median(r):11.5f} {d.max():8.4f} {np.median(d):11.5f}")
    per_feature = relative.max(axis=0)
    worst = int(np.argmax(per_feature))
    print(
        f"largest relative difference: {names[worst]} ({per_feature[worst]:.4f}); per feature, "
        f"the median of the largest over frames is {np.median(per_feature):.4f}"
    )
    return exact, auto


def f1(spec, cache: Path) -> None:
    print(f"\n== F1: group k-fold (k=3), subject_median, on the {spec.size} px dataset ==")
    for sampling in ("every_pixel", "auto"):
        configuration = defaults_search.Configuration(
            sampling,
            features=(("gabor_energy", (("sampling", sampling),)),),
            normalise=defaults_search.MEDIAN,
            classifiers=CLASSIFIERS,
        )
        start = time.perf_counter()
        scores = defaults_search.evaluate(configuration, spec, "group_kfold", cache)
        text = ", ".join(f"{name} {score:.3f}" for name, score in scores.items())
        print(
            f"{sampling:12} pooled mean F1: {text}; best {max(scores.values()):.3f} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=256, help="face size of the dataset")
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/auflow_gabor_sampling"))
    parser.add_argument("--skip-f1", action="store_true")
    args = parser.parse_args(argv)
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cpus; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cost(args.sizes, args.repeats, Path(tmp))
    spec = defaults_search.DatasetSpec("S", args.subjects, args.frames, args.size, 0)
    differences(spec, args.cache)
    if not args.skip_f1:
        f1(spec, args.cache)
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
