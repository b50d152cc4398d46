"""Single-thread HOG benchmark: skimage's ``hog`` face by face against auflow's batched ``Hog``.

For each face size, prints one line such as::

    256 px  skimage 9.31 ms  batched 0.87 ms  10.7x  max abs diff 5.7e-07

- skimage: ``skimage.feature.hog`` called on each face with the parameters ``Hog`` uses (the
  extractor before issue #11), ms per face;
- batched: ``Hog().transform`` on the whole batch (default parameters: 9 orientations, 8 x 8
  cells, 2 x 2 blocks, L2-Hys), ms per face;
- max abs diff: largest difference between the two feature tables.

Times are the best of ``--repeats`` runs on ``--faces`` demo faces (``auflow.demo``, drawn at
each size), with one thread for numpy and OpenCV.
Run: ``python bench/hog.py [--sizes 96 128 256] [--repeats 5]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: single-thread figures

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage  # noqa: E402

from auflow.demo import generate_demo_dataset  # noqa: E402
from auflow.features.descriptors import Hog, skimage_hog  # noqa: E402
from auflow.io.images import load_faces  # noqa: E402

cv2.setNumThreads(1)


def best_ms_per_face(extract, faces: np.ndarray, repeats: int) -> float:
    """Best of ``repeats`` wall times of ``extract(faces)``, in ms per face."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        extract(faces)
        best = min(best, time.perf_counter() - start)
    return best / len(faces) * 1e3


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 256])
    parser.add_argument("--faces", type=int, default=64, help="demo faces per size")
    parser.add_argument("--repeats", type=int, default=5, help="timings per figure; best kept")
    args = parser.parse_args(argv)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, one thread; "
        f"skimage {skimage.__version__}, OpenCV {cv2.__version__}, numpy {np.__version__}; "
        f"load average before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    model = Hog().fit()
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            folder = Path(tmp) / f"demo{size}"
            (subject,) = generate_demo_dataset(folder, 1, args.faces, size=size, seed=0)
            faces = load_faces(sorted((folder / "croppedImg" / subject).glob("*.png")))
            reference = skimage_hog(model, faces)
            batched = model.transform(faces)  # and warms up
            old = best_ms_per_face(lambda batch: skimage_hog(model, batch), faces, args.repeats)
            new = best_ms_per_face(model.transform, faces, args.repeats)
            print(
                f"{size} px  skimage {old:.2f} ms  batched {new:.2f} ms  {old / new:.1f}x  "
                f"max abs diff {np.abs(batched - reference).max():.1e}",
                flush=True,
            )
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
