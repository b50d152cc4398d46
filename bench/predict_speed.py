"""Frames per second of ``auflow predict`` on one core: detection, tracking, alignment, features
and scoring, video decoding included.

Inputs made from a demo dataset's faces: a 640x480 video of one filmed face (``auflow
demo-video``), a 640x480 video of five faces side by side in every frame
(:func:`auflow.demo.compose_faces`), the same drifting by about a pixel a frame (so that every
face is looked for again in every frame), and every subject's crop folder (no detection).
Targets (issue #24): at least 30, 15 and 1,000 frames/s. ``--align`` measures a cropping mode
other than the model's default (e.g. ``landmarks``, what the landmark aligner costs). For the
crops it also prints where a crop's CPU time goes: decoding the image, the model's feature
extractor (and of it the Gabor bank's filtering, for a Gabor extractor), and the rest of
``auflow predict`` (batching, scoring, the table).

Run after ``make demo``::

    .venv/bin/python bench/predict_speed.py --model results/models/gabor_energy/svm_linear \\
        --demo resources/demo/croppedImg

The machine's load average is printed beside the figures: on a shared machine they are
indicative only.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one core

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from auflow.demo import compose_faces, write_demo_video  # noqa: E402
from auflow.features.gabor import iter_chunks  # noqa: E402
from auflow.io.images import list_frames, load_face  # noqa: E402
from auflow.models.saved import read_manifest  # noqa: E402
from auflow.predict import check_extractor, predict_inputs  # noqa: E402


def five_face_video(demo: Path, out: Path, frames: int, moving: bool = False) -> None:
    """Five demo subjects side by side; ``moving``: the whole group drifts by up to 12 pixels
    (about 1 pixel a frame), so that no face stays where it was last measured."""
    subjects = sorted(p for p in demo.iterdir() if p.is_dir())[:5]
    lists = [list_frames(s) for s in subjects]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (640, 480))
    rng = np.random.default_rng(0)
    for index in range(frames):
        faces = [cv2.imread(str(f[index % len(f)][1]), cv2.IMREAD_GRAYSCALE) for f in lists]
        frame, _ = compose_faces(faces, rng=rng)
        if moving:
            dx, dy = 12 * np.sin(index / 12), 8 * np.cos(index / 15)
            shift = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
            frame = cv2.warpAffine(frame, shift, (640, 480), borderMode=cv2.BORDER_REFLECT)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()


def rate(
    model: str, sources: list[Path], repeats: int, align: str | None = None
) -> tuple[float, float, int]:
    """Best frames/s of ``repeats`` runs by the clock and by this process's CPU time (less
    affected by other programs on a shared machine), and the faces found in the last."""
    best, best_cpu, faces = 0.0, 0.0, 0
    for _ in range(repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            started, cpu = time.perf_counter(), time.process_time()
            table = predict_inputs(model, [str(s) for s in sources], progress=False, align=align)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        frames = table[["input", "frame"]].drop_duplicates().shape[0]
        best = max(best, frames / elapsed)
        best_cpu = max(best_cpu, frames / cpu)
        faces = int(table["face_detected"].sum())
    return best, best_cpu, faces


def crop_stages(model: str, subjects: list[Path], repeats: int) -> dict[str, float]:
    """CPU milliseconds per crop of each stage of ``auflow predict`` on crop folders, the best
    of ``repeats`` runs each: ``decoding`` (every crop read as predict reads it), ``features``
    (the model's extractor, in predict's batches of 256), ``gabor bank`` (the filtering of a
    Gabor extractor, included in ``features``), ``the rest`` (predict's total less decoding and
    features) and ``total``."""
    manifest = read_manifest(model)
    extractor = check_extractor(manifest, model)
    paths = [path for subject in subjects for _, path in list_frames(subject)]
    faces = np.stack([load_face(path, manifest["face_size"]) for path in paths])
    batches = [faces[start : start + 256] for start in range(0, len(faces), 256)]

    def bank():
        sampling = getattr(extractor, "sampling_steps", None)  # gabor_energy's
        steps = sampling(faces.shape[1:]) if sampling else None
        for batch in batches:
            for chunk in iter_chunks(len(batch), batch.shape[1:]):  # as the extractors do
                for _ in extractor.bank_.iter_responses(batch[chunk], steps=steps):
                    pass

    def predict():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predict_inputs(model, [str(s) for s in subjects], progress=False)

    stages = {
        "decoding": lambda: [load_face(path) for path in paths],
        "features": lambda: [extractor.transform(batch) for batch in batches],
        "total": predict,
    }
    if hasattr(extractor, "bank_"):
        stages["gabor bank"] = bank
    best = dict.fromkeys(stages, np.inf)
    for _ in range(repeats):
        for name, stage in stages.items():
            cpu = time.process_time()
            stage()
            best[name] = min(best[name], 1e3 * (time.process_time() - cpu) / len(paths))
    best["the rest"] = best["total"] - best["decoding"] - best["features"]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a saved model folder")
    parser.add_argument("--demo", required=True, help="a demo dataset's croppedImg folder")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--frames", type=int, default=120, help="frames of the five-face video")
    parser.add_argument(
        "--align",
        choices=["box", "landmarks", "eyes", "none"],
        help="auflow predict's --align (default: the model's)",
    )
    parser.add_argument(
        "--only",
        choices=["videos", "crops"],
        help="measure only the videos or only the crops (default: both)",
    )
    args = parser.parse_args()
    cv2.setNumThreads(1)
    demo = Path(args.demo)
    subjects = sorted(p for p in demo.iterdir() if p.is_dir())
    subject = subjects[0]
    with tempfile.TemporaryDirectory() as tmp:
        one, five = Path(tmp) / "one.avi", Path(tmp) / "five.avi"
        moving = Path(tmp) / "moving.avi"
        cases = []
        if args.only != "crops":
            write_demo_video(subject, one)
            five_face_video(demo, five, args.frames)
            five_face_video(demo, moving, args.frames, moving=True)
            cases += [
                ("640x480 video, one face", [one], 30),
                ("640x480 video, five faces", [five], 15),
                ("  the five faces moving", [moving], 15),
            ]
        if args.only != "videos":
            # every subject: loading amortised
            cases.append(("crops (no detection)", subjects, 1000))
        print(f"model {args.model}, --align {args.align or 'the model default'}")
        load = os.getloadavg()[0]
        for name, sources, target in cases:
            fps, cpu_fps, faces = rate(args.model, sources, args.repeats, args.align)
            print(
                f"{name:28s} {fps:8.1f} frames/s, {cpu_fps:8.1f} per CPU second "
                f"(target >= {target}; {faces} faces found)  load average {load:.2f}",
                flush=True,
            )
            load = os.getloadavg()[0]
        if args.only != "videos":
            stages = crop_stages(args.model, subjects, max(args.repeats, 3))
            print(
                "  a crop's CPU time, ms: "
                + ", ".join(f"{name} {ms:.3f}" for name, ms in stages.items())
                + f"  load average {os.getloadavg()[0]:.2f}"
            )


if __name__ == "__main__":
    main()
