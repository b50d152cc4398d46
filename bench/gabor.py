"""Single-thread Gabor benchmark: the seed's skimage method against auflow's fast bank.

For each face size, prints one line such as::

    256 px  seed 203.4 ms  bank 2.6 ms  78x  seed-hist 3.5 ms  58x  max rel diff 5e-07

- seed: ``seed_gabor_histogram`` (the notebook's ``extract_gabor_features``: 16 calls of
  ``skimage.filters.gabor``, each computing the real and imaginary responses, then
  ``np.histogram``), ms per face;
- bank: ``GaborBank`` on the seed's 16 filters, full complex responses (real and imaginary
  float32 planes, as skimage returns), ms per face, the faces filtered as one batch;
- seed-hist: the ``gabor_hist_seed`` extractor (real parts only, then the 20-bin histogram);
- max rel diff: over filters and faces, ``max|ours - skimage| / max|skimage|`` of the complex
  responses; ``hist diff``: largest number of histogram counts (of 16 h w values) by which
  ``gabor_hist_seed`` differs from the seed's function on the same face.

Faces are the demo dataset's drawn faces (``auflow.demo``) when it is available, else smooth
random blobs with noise. Run: ``python bench/gabor.py [--sizes 96 128 256 384] [--repeats 3]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: single-thread figures

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from skimage.filters import gabor  # noqa: E402

from auflow.features.descriptors import GaborHistSeed  # noqa: E402
from auflow.features.gabor import (  # noqa: E402
    SEED_FREQUENCIES,
    SEED_ORIENTATIONS_DEG,
    GaborBank,
    iter_chunks,
    seed_gabor_histogram,
)

cv2.setNumThreads(1)


def demo_faces(size: int, count: int, workdir: Path) -> np.ndarray:
    """(count, size, size) float32 faces in [0, 1]: demo faces, or synthetic ones."""
    try:
        from auflow.demo import generate_demo_dataset
        from auflow.io.images import load_faces
    except ImportError:
        return synthetic_faces(size, count)
    out = workdir / f"demo{size}"
    (subject,) = generate_demo_dataset(out, n_subjects=1, n_frames=count, size=size, seed=0)
    paths = sorted((out / "croppedImg" / subject).glob("*.png"))
    return load_faces(paths, size)


def synthetic_faces(size: int, count: int, seed: int = 0) -> np.ndarray:
    """Face-like test images: a bright oval, dark blobs for eyes and mouth, texture noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    faces = []
    for _ in range(count):
        face = 0.25 + 0.5 * np.exp(-((((x - 0.5) / 0.32) ** 2 + ((y - 0.5) / 0.42) ** 2) ** 2))
        for cx, cy, r in ((0.35, 0.4, 0.05), (0.65, 0.4, 0.05), (0.5, 0.72, 0.08)):
            cx, cy = cx + rng.normal(0, 0.01), cy + rng.normal(0, 0.01)
            face -= 0.3 * np.exp(-((x - cx) ** 2 + ((y - cy) * 2) ** 2) / r**2)
        face += cv2.GaussianBlur(rng.normal(0, 0.05, (size, size)), (0, 0), 1.0)
        faces.append(np.clip(face, 0, 1))
    return np.asarray(faces, dtype=np.float32)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def best_ms_per_face(run, n_faces: int, repeats: int) -> float:
    """Best of ``repeats`` timings of ``run()``, in ms per face."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) / n_faces * 1e3


def max_relative_difference(bank: GaborBank, faces: np.ndarray) -> float:
    """max over faces and filters of max|ours - skimage| / max|skimage| (complex responses)."""
    worst = 0.0
    for face in faces:
        ours = bank.responses(face)
        for k, flt in enumerate(bank.filters):
            real, imag = gabor(face, flt.frequency, theta=np.deg2rad(flt.orientation_deg))
            reference = real.astype(np.float64) + 1j * imag
            worst = max(worst, np.abs(ours[k] - reference).max() / np.abs(reference).max())
    return worst


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 256, 384])
    parser.add_argument("--repeats", type=int, default=3, help="timings per figure; best kept")
    parser.add_argument("--faces", type=int, default=4, help="faces per size")
    parser.add_argument("--seed-faces", type=int, default=2, help="faces timed with the seed")
    args = parser.parse_args(argv)

    print(f"# {cpu_model()}, {os.cpu_count()} cpus; 1 thread")
    print(f"# load average before: {os.getloadavg()[0]:.2f}")
    warnings.simplefilter("ignore")  # the seed bank's 0.6 and 0.8 are above Nyquist, on purpose
    bank = GaborBank(SEED_FREQUENCIES, SEED_ORIENTATIONS_DEG, allow_above_nyquist=True)
    extractor = GaborHistSeed().fit()
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            faces = demo_faces(size, args.faces, Path(tmp))
            seed_faces = faces[: args.seed_faces]

            def run_seed(seed_faces=seed_faces):
                for face in seed_faces:
                    seed_gabor_histogram(face)

            def run_bank(faces=faces):
                for chunk in iter_chunks(len(faces), faces.shape[1:]):
                    for _ in bank.iter_responses(faces[chunk]):
                        pass

            run_bank()  # warm the workspace
            extractor.transform(faces)
            seed = best_ms_per_face(run_seed, len(seed_faces), args.repeats)
            fast = best_ms_per_face(run_bank, len(faces), args.repeats)
            hist = best_ms_per_face(
                lambda f=faces: extractor.transform(f), len(faces), args.repeats
            )
            diff = max_relative_difference(bank, seed_faces)
            ours = extractor.transform(seed_faces)
            counts = 16 * size * size
            hist_diff = max(
                np.abs(np.round((ours[i] - seed_gabor_histogram(face)) * counts)).max()
                for i, face in enumerate(seed_faces)
            )
            print(
                f"{size} px  seed {seed:.1f} ms  bank {fast:.1f} ms  {seed / fast:.0f}x  "
                f"seed-hist {hist:.1f} ms  {seed / hist:.0f}x  max rel diff {diff:.0e}  "
                f"hist diff {hist_diff:.0f} of {counts}",
                flush=True,
            )
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
