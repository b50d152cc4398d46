"""Throughput of the whole extraction path (PNG decode included) and the DISFA extrapolation.

Writes a shard of demo faces (``auflow.demo``, else synthetic PNGs) at ``--size`` px, then for
each extractor times ``extract_shard`` on it:

- in 1 process (best of ``--repeats``), with decode and feature time per image;
- in ``--processes`` processes started together on the same shard, each single-threaded, as
  the pipeline runs one job per core. The combined images/s gives the wall time of a DISFA-sized
  extraction (130,815 frames) on this machine, if nothing else runs on it: the script reports
  how much CPU other programs took meanwhile. The CPU time per image of each process (measured
  while both ran, so with their contention for caches and memory) gives the time with the cores
  to ourselves, and on 16 cores (an estimate: 16 processes may contend more than 2).

Run: ``python bench/extract_throughput.py [--frames 200] [--size 256] [--repeats 2]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one thread per process

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from auflow.features.extract import extract_shard  # noqa: E402
from auflow.io.images import load_faces  # noqa: E402

DISFA_FRAMES = 130_815


def write_shard(folder: Path, frames: int, size: int) -> list[Path]:
    """PNG faces of one subject: the demo dataset's, or synthetic ones if it is unavailable."""
    try:
        from auflow.demo import generate_demo_dataset
    except ImportError:
        generate_demo_dataset = None
    if generate_demo_dataset is not None:
        (subject,) = generate_demo_dataset(folder, n_subjects=1, n_frames=frames, size=size)
        return sorted((folder / "croppedImg" / subject).glob("*.png"))
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    base = 0.25 + 0.5 * np.exp(-((((x - 0.5) / 0.32) ** 2 + ((y - 0.5) / 0.42) ** 2) ** 2))
    out = folder / "croppedImg" / "SN001"
    out.mkdir(parents=True)
    paths = []
    for frame in range(1, frames + 1):
        noise = cv2.GaussianBlur(rng.normal(0, 0.05, (size, size)), (0, 0), 1.0)
        image = np.clip((base + noise) * 255, 0, 255).astype(np.uint8)
        paths.append(out / f"{frame}.png")
        cv2.imwrite(str(paths[-1]), image)
    return paths


def timed_extraction(paths, extractor: str, size: int, start_at: float = 0.0):
    """Warm up, wait until ``start_at`` (time.time()), extract.

    Returns (start, end, cpu): wall-clock start and end (time.time()) and CPU seconds used.
    """
    cv2.setNumThreads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gabor_hist_seed's above-Nyquist frequencies
        extract_shard("SN001", paths[:16], extractor, None, size)  # imports, workspace
        while time.time() < start_at:
            time.sleep(0.001)
        start, cpu = time.time(), time.process_time()
        extract_shard("SN001", paths, extractor, None, size)
        return start, time.time(), time.process_time() - cpu


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=200, help="images in the shard")
    parser.add_argument("--size", type=int, default=256, help="face size (px)")
    parser.add_argument("--repeats", type=int, default=2, help="timings per figure; best kept")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--extractors", nargs="+", default=["gabor_energy", "gabor_hist_seed"], metavar="NAME"
    )
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    print(
        f"# {args.frames} frames at {args.size} px; {os.cpu_count()} cpus; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_shard(Path(tmp), args.frames, args.size)
        load_faces(paths, args.size)  # page cache
        decode = min(_seconds(lambda: load_faces(paths, args.size)) for _ in range(args.repeats))
        decode_ms = decode / len(paths) * 1e3
        for extractor in args.extractors:
            one = min(
                end - start
                for start, end, _ in (
                    timed_extraction(paths, extractor, args.size) for _ in range(args.repeats)
                )
            )
            rate_one = len(paths) / one
            print(
                f"{extractor:<16} 1 process:   {rate_one:6.1f} images/s  "
                f"({one / len(paths) * 1e3:.1f} ms per image: decode {decode_ms:.1f} ms, "
                f"features {one / len(paths) * 1e3 - decode_ms:.1f} ms)",
                flush=True,
            )
            best = None
            for _ in range(args.repeats):
                with context.Pool(args.processes) as pool:
                    start_at = time.time() + 5.0  # after every worker has started and warmed up
                    pending = pool.starmap_async(
                        timed_extraction, [(paths, extractor, args.size, start_at)] * args.processes
                    )
                    time.sleep(max(0.0, start_at - time.time()))
                    busy_before = _busy_cpu_seconds()
                    spans = pending.get()
                    busy = _busy_cpu_seconds() - busy_before
                wall = max(end for _, end, _ in spans) - min(start for start, _, _ in spans)
                if best is None or wall < best[0]:
                    ours = sum(c for _, _, c in spans)
                    best = wall, max(c for _, _, c in spans), max(0.0, busy - ours) / wall
            wall, cpu, others = best
            together = args.processes * len(paths) / wall
            cpu_ms = cpu / len(paths) * 1e3
            print(
                f"{'':<16} {args.processes} processes: {together:6.1f} images/s together "
                f"(wall {wall:.2f} s; other programs used {others:.1f} of the {os.cpu_count()} "
                f"cpus meanwhile)\n"
                f"{'':<16}   DISFA {DISFA_FRAMES:,} frames at {args.size} px from the wall time: "
                f"{DISFA_FRAMES / together / 60:.1f} min on {args.processes} cores\n"
                f"{'':<16}   from the CPU time ({cpu_ms:.1f} ms per image per process, "
                f"cores to ourselves): {DISFA_FRAMES * cpu_ms / 1e3 / args.processes / 60:.1f} min "
                f"on {args.processes} cores, {DISFA_FRAMES * cpu_ms / 1e3 / 16 / 60:.1f} min on 16",
                flush=True,
            )
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


def _busy_cpu_seconds() -> float:
    """CPU seconds all programs have used since boot (Linux /proc/stat; 0 elsewhere)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
