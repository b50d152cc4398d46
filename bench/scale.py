"""The pipeline at DISFA size (27 subjects x 4,845 frames), measured through Snakemake.

Five measurements, each printed with its figures and ratios, in one run:

1. **extraction**: a DISFA-shaped dataset of ``--subjects`` of the 27 subjects (4,845 frames
   each, 256 px images, ``features.face_size: 256`` or with ``--face-size shipped`` the shipped
   one, the shipped ``config.yaml`` otherwise) goes through
   the real DAG up to the dataset tables (extraction of every extractor, labels, join) with
   ``--cores 2``: wall time, frames/s, and per kind of job its count, summed job time and peak
   RSS (column max_rss of Snakemake's ``benchmark:`` files). Extrapolated to 27 subjects on this
   machine (wall x 27 / subjects) and on 16 cores (the summed job time / 16, with the same share
   of time between jobs as measured here).
2. **incremental**: one more subject added to that tree; the dry run's jobs and time.
3. **dag**: a full-size tree (27 x 4,845 frames of 32 px: only the listing matters) and the time
   and peak RSS of ``snakemake -n`` on it, twice (the first run writes the frame manifests).
4. **learn**: a DISFA-shaped tree of all 27 subjects with the largest of ``--fractions`` x 4,845
   frames each, generated at the shipped ``face_size`` and extracted through the DAG (real
   features of 27 different faces); each fraction's table is the first frames of every subject.
   Per default model, one fold of group k-fold exactly as its ``classify_<name>`` job runs it
   (normalisation, threshold tuning, prediction), and one study trial per studied model, each in
   its own process (time and peak RSS). From two fractions, each model's growth exponent; its
   time at the full size; and the whole learning stage on 2 cores, counting the jobs the shipped
   configuration runs (folds of both splits, final fits, study trials).

5. **stage** (only when asked, ``--steps stage``: about 40 minutes): the whole learning stage
   of the shipped configuration on the full-size tree of **learn**, run by Snakemake on 2 cores
   as a user runs it: wall time, and per model its jobs' minutes, share and peak RSS
   (``lstm``: ``classify_lstm`` and ``fit_final_lstm``; ``optuna_lstm``: its study's jobs).

Heavy: wrap it in ``flock /tmp/heavy.lock`` on a shared machine. Run:
``python bench/scale.py --work /tmp/auflow-scale [--subjects 3] [--fractions 0.0625 0.125]
[--steps extraction incremental dag learn]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from auflow.snakemake_output import job_counts

REPO = Path(__file__).resolve().parents[1]
DISFA_SUBJECTS = 27
DISFA_FRAMES = 4845
IMAGE_SIZE = 256  # the generated images; the faces are resized to --face-size (256 by default)
CORES = 2
CPU_SECONDS: list[float] = []


def run(command: list[str], cwd: Path, log: Path | None = None) -> tuple[float, float, str]:
    """Run ``command``; (wall seconds, peak RSS in MB of the process tree's largest, stdout).
    Its CPU seconds (its own and its waited-for children's) go to ``CPU_SECONDS[-1]``."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    CPU_SECONDS.append(usage.ru_utime + usage.ru_stime)
    if log:
        log.write_text(output)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{output[-4000:]}")
    return wall, usage.ru_maxrss / 1024, output


def snakemake_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), *args]


def write_config(work: Path, face_size: int | None, **overrides) -> dict:
    """The shipped config.yaml, on the dataset under ``work/data``, its faces resized to
    ``face_size`` px (None: the shipped ``features.face_size``)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["dataset"]["root"] = "data"
    if face_size is not None:
        config["features"]["face_size"] = face_size
    config.update(overrides)
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    return config


def generate(folder: Path, subjects: int, size: int, seed: int = 0) -> float:
    from auflow.demo import generate_demo_dataset

    start = time.perf_counter()
    if not (folder / "json").exists():
        generate_demo_dataset(folder, subjects, DISFA_FRAMES, size, seed)
    return time.perf_counter() - start


def dataset_targets(config: dict) -> list[str]:
    extractors = list(config["features"]["extractors"])
    if config["baseline"]["enabled"] and config["baseline"]["extractor"] not in extractors:
        extractors.append(config["baseline"]["extractor"])
    return [f"results/dataset/{extractor}.parquet" for extractor in extractors]


def benchmarks(work: Path) -> dict[str, dict]:
    """Per rule (the first folder under benchmarks/): jobs, summed seconds, largest max_rss."""
    rules: dict[str, dict] = {}
    for path in sorted((work / "benchmarks").rglob("*.tsv")):
        rule = path.relative_to(work / "benchmarks").parts[0].removesuffix(".tsv")
        with path.open() as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        entry = rules.setdefault(rule, {"jobs": 0, "seconds": 0.0, "max_rss_mb": 0.0})
        entry["jobs"] += 1
        entry["seconds"] += float(row["s"])
        rss = row["max_rss"]
        entry["max_rss_mb"] = max(entry["max_rss_mb"], float(rss) if rss != "NA" else 0.0)
    return rules


def extraction(work: Path, subjects: int, face_size: int | None) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    generated = generate(work / "data", subjects, IMAGE_SIZE)
    config = write_config(work, face_size)
    size = config["features"]["face_size"]
    frames = subjects * DISFA_FRAMES
    wall, _, _ = run(
        snakemake_command("--cores", str(CORES), *dataset_targets(config)),
        work,
        work / "extraction.log",
    )
    cpu_run = CPU_SECONDS[-1]
    rules = benchmarks(work)
    job_seconds = sum(r["seconds"] for r in rules.values())
    between = 1 - job_seconds / (CORES * wall)
    scale = DISFA_SUBJECTS / subjects
    full_16 = job_seconds * scale / 16 / (1 - between)
    print(
        f"\n== extraction: {subjects} subjects x {DISFA_FRAMES} frames of {IMAGE_SIZE} px, "
        f"face_size {size} =="
    )
    print(f"generating the images: {generated:.0f} s (not part of the run)")
    print(f"snakemake --cores {CORES} {' '.join(dataset_targets(config))}")
    print(f"wall {wall:.1f} s, {frames / wall:.1f} frames/s through the DAG")
    # (the benchmark files' cpu_time is sampled, and undercounts: the run's CPU time is below)
    print(f"{'rule':18} {'jobs':>5} {'job s':>8} {'frames/job-s':>13} {'peak RSS MB':>12}")
    for rule, r in rules.items():
        rate = f"{frames * r['jobs'] / r['seconds']:.1f}" if rule == "extract_features" else ""
        print(f"{rule:18} {r['jobs']:5d} {r['seconds']:8.1f} {rate:>13} {r['max_rss_mb']:12.0f}")
    print(
        f"CPU time of the whole run (Snakemake and every job): {cpu_run:.0f} s, "
        f"{cpu_run / frames * 1000:.1f} ms a frame; with {CORES} cores to itself at least "
        f"{cpu_run / CORES:.0f} s, so {cpu_run * scale / CORES / 60:.1f} min at full size; "
        f"load average at the end: {os.getloadavg()[0]:.1f}"
    )
    print(
        f"summed job time {job_seconds:.1f} s = {job_seconds / (CORES * wall):.0%} of "
        f"{CORES} cores x wall; {between:.0%} of the wall goes between jobs"
    )
    print(
        f"full size ({DISFA_SUBJECTS * DISFA_FRAMES} frames): {wall * scale / 60:.1f} min on "
        f"{CORES} cores (measured x {scale:.1f}), {full_16 / 60:.1f} min on 16 cores"
    )
    return {
        "wall_s": wall,
        "rules": rules,
        "frames": frames,
        "face_size": size,
        "cpu_s": cpu_run,
        "full_2_min": wall * scale / 60,
    }


def incremental(work: Path, subjects: int) -> dict:
    """A subject more on the extracted tree: what a dry run schedules, and how long it takes."""
    from auflow.demo import generate_demo_dataset

    extra = work / "extra"
    if not extra.exists():
        # the generator numbers subjects from SN001: a one-subject set, renamed
        generate_demo_dataset(extra, 1, DISFA_FRAMES, IMAGE_SIZE, seed=9)
        new = f"SN{subjects + 1:03d}"
        (extra / "croppedImg/SN001").rename(extra / "croppedImg" / new)
        (extra / "json/SN001.json").rename(extra / "json" / f"{new}.json")
    new = f"SN{subjects + 1:03d}"
    images = work / "data/croppedImg" / new
    if not images.exists():
        shutil.copytree(extra / "croppedImg" / new, images)
        shutil.copy2(extra / "json" / f"{new}.json", work / "data/json" / f"{new}.json")
    config = yaml.safe_load((work / "config.yaml").read_text())
    wall, rss, output = run(snakemake_command("-n", *dataset_targets(config)), work)
    counts = job_counts(output)
    scheduled = re.findall(r"output: (results/(?:features|labels)/\S+?\.parquet)", output)
    only_new = all(f"/{new}" in path for path in scheduled)
    print(f"\n== incremental: subject {new} added to the {subjects}-subject tree ==")
    print(f"dry run of the dataset tables: {wall:.1f} s, peak RSS {rss:.0f} MB")
    print(f"jobs: {counts}; per-subject outputs all of {new}: {only_new}")
    return {"dry_run_s": wall, "jobs": counts, "only_new": only_new}


def dag(work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    generated = generate(work / "data", DISFA_SUBJECTS, 32)
    write_config(work, face_size=None)
    print(f"\n== DAG of a full-size tree: {DISFA_SUBJECTS} x {DISFA_FRAMES} frames ==")
    print(f"generating {DISFA_SUBJECTS * DISFA_FRAMES} 32 px images: {generated:.0f} s")
    results = []
    for attempt in ("first (writes the manifests)", "second"):
        wall, rss, output = run(snakemake_command("-n"), work)
        counts = job_counts(output)
        results.append(wall)
        print(
            f"snakemake -n, {attempt}: {wall:.1f} s, peak RSS {rss:.0f} MB, "
            f"{sum(counts.values())} jobs ({counts.get('extract_features', 0)} extraction), "
            f"{len(output) / 1e6:.2f} MB printed"
        )
    return {"dry_run_s": results}


# -- learning stage -------------------------------------------------------------------------


def learning_tree(work: Path, fraction: float) -> Path:
    """A DISFA-shaped tree of all 27 subjects, ``fraction`` x 4,845 frames each, at the shipped
    ``face_size`` (the learners see as many features at any face size), with its dataset tables
    extracted through the DAG. Made once for the largest fraction; smaller ones are cut from it."""
    tree = work / "learn"
    tree.mkdir(parents=True, exist_ok=True)
    frames = round(fraction * DISFA_FRAMES)
    marker = tree / f".extracted_{frames}"
    if not marker.exists():
        shutil.rmtree(tree / "data", ignore_errors=True)
        shutil.rmtree(tree / "results", ignore_errors=True)
        from auflow.demo import generate_demo_dataset

        size = yaml.safe_load((REPO / "config.yaml").read_text())["features"]["face_size"]
        generate_demo_dataset(tree / "data", DISFA_SUBJECTS, frames, size, 0)
        config = write_config(tree, face_size=None)
        run(snakemake_command("--cores", str(CORES), *dataset_targets(config)), tree)
        marker.touch()
    return tree


def learning_table(tree: Path, name: str, destination: Path, fraction: float) -> int:
    """The first ``fraction`` x 4,845 frames of every subject of ``tree``'s table ``name``."""
    from auflow.io.parquet import read_table, write_table

    frames = round(fraction * DISFA_FRAMES)
    table = read_table(tree / f"results/dataset/{name}.parquet")
    table = table[table["frame"].isin(np.sort(table["frame"].unique())[:frames])]
    write_table(table.reset_index(drop=True), destination)
    return len(table)


def child(args) -> None:
    """One job's work in this process: a classify fold, a final fit, or one study trial."""
    from snakemake.utils import validate
    from threadpoolctl import threadpool_limits

    from auflow.evaluation.folds import load_fold
    from auflow.evaluation.splits import make_folds
    from auflow.io.parquet import read_table
    from auflow.models import make_detector
    from auflow.models.train import fit_detector, load_dataset, predict_frames
    from auflow.settings import EvaluationSettings
    from auflow.study import run_study
    from auflow.workflow import use_malloc_settings

    use_malloc_settings(args.child)  # as the job's script does (the LSTM's)
    # one BLAS thread, as a job of threads: 1 (learn_threads), two of them on two cores
    threadpool_limits(1)
    config = yaml.safe_load(Path(args.config).read_text())

    validate(config, str(REPO / "schemas/config.schema.yaml"), set_default=True)
    model, kind = args.child, args.kind
    baseline = model == "baseline"
    settings = EvaluationSettings.from_config(config)
    if baseline:
        settings = settings.replace(normalise="none", smoothing=(1,))
        classifier, params = "logistic_regression", config["baseline"]["params"]
    else:
        classifier, params = model, config["classifiers"][model]["params"]
    keys = read_table(args.table, columns=["subject", "frame"])
    folds = make_folds(keys, "group_kfold", 3, 0, False)
    if kind == "final":
        # as the fit_final job: every subject's frames, the model fitted with its tuning
        dataset = load_dataset(args.table, settings.normalise)
        start = time.perf_counter()
        detector = make_detector(classifier, params, settings, 1)
        fit_detector(detector, dataset)
    elif kind == "fold":
        # as the classify job reads them: the two parts, never the whole table's features
        train, test = load_fold(args.table, folds, 0, settings.normalise)
        start = time.perf_counter()
        detector = make_detector(classifier, params, settings, 1)
        fit_detector(detector, train)
        predict_frames(detector, test, 0)
    else:
        # as the study jobs read it: the fold's training frames only
        dataset, _ = load_fold(args.table, folds, 0, settings.normalise, with_test=False)
        start = time.perf_counter()
        # a new journal, beside nothing of the table's (its folder may be another run's)
        journal = Path(tempfile.mkdtemp(prefix="auflow-trial-")) / f"{model}.journal"
        inner_parts = config["study"]["inner_parts_per_model"].get(model)
        run_study(
            dataset,
            folds,
            0,
            model,
            settings,
            1,
            journal,
            "bench",
            None,
            1,
            params,
            inner_parts=inner_parts,
        )
        shutil.rmtree(journal.parent)
    print(f"learning seconds: {time.perf_counter() - start}")
    # this process's own peak: wait4's ru_maxrss would also count the parent's memory before exec
    peak = re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)
    print(f"peak RSS kB: {peak}")


def learn(work: Path, fractions: list[float]) -> dict:
    tree = learning_tree(work, max(fractions))
    config = yaml.safe_load((tree / "config.yaml").read_text())
    models = ["baseline"] if config["baseline"]["enabled"] else []
    models += [name for name, c in config["classifiers"].items() if c["enabled"]]
    studied = config["study"]["models"] if config["study"]["enabled"] else []
    extractor = config["features"]["extractors"][0]
    hog = config["baseline"]["extractor"]
    print("\n== learning stage: one fold (and one study trial) per model ==")
    measured: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for fraction in fractions:
        tables = {}
        for name in dict.fromkeys([extractor, hog]):
            tables[name] = tree / f"learn_{name}_{fraction}.parquet"
            rows = learning_table(tree, name, tables[name], fraction)
        jobs = [(m, "fold") for m in models] + [(m, "trial") for m in studied]
        for model, kind in jobs:
            table = tables[hog if model == "baseline" else extractor]
            command = [
                sys.executable,
                __file__,
                "--child",
                model,
                "--kind",
                kind,
                "--table",
                str(table),
                "--config",
                str(tree / "config.yaml"),
            ]
            wall, _, output = run(command, tree)
            learning = float(re.search(r"learning seconds: (\S+)", output).group(1))
            rss = int(re.search(r"peak RSS kB: (\d+)", output).group(1)) / 1024
            measured.setdefault((model, kind), []).append((rows, wall, learning, rss))
            print(
                f"{rows:7d} frames  {model:16} {kind:5}  {wall:7.1f} s "
                f"(learning {learning:7.1f} s)  {rss:6.0f} MB"
            )
    full = DISFA_SUBJECTS * DISFA_FRAMES
    # The learning time grows as frames**exponent, measured; the rest of a job (start-up,
    # imports, reading the table) is counted as growing linearly, which overstates it.
    print(f"\nextrapolated to {full} frames (exponent from the two sizes, kept within 1..2):")
    estimate = {}
    for (model, kind), points in measured.items():
        (n1, _, l1, r1), (n2, t2, l2, r2) = points[0], points[-1]
        exponent = min(max(math.log(l2 / l1) / math.log(n2 / n1), 1.0), 2.0)
        seconds = l2 * (full / n2) ** exponent + (t2 - l2) * full / n2
        rss = r2 + (r2 - r1) * (full - n2) / (n2 - n1)
        estimate[(model, kind)] = seconds
        print(
            f"{model:16} {kind:5} exponent {exponent:.2f}: {seconds / 60:7.1f} min, "
            f"peak RSS ~{rss:.0f} MB (linear in frames)"
        )
    # The jobs the shipped configuration runs: every model on each fold of the configured split
    # and (not the LSTM) of the random-frame split, a final fit on every subject (1.5 folds of
    # training frames: counted as 1.5 folds), and per studied model and fold its trials, then a
    # fit of the best parameters (a fold).
    k = config["evaluation"]["k"]
    compare = config["evaluation"]["leakage_comparison"]
    total = 0.0
    print("\nthe learning stage at full size, per kind of job (job time, summed over its jobs):")
    for model in models:
        folds = k * (2 if compare and model != "lstm" else 1)
        seconds = estimate[(model, "fold")] * (folds + 1.5)
        total += seconds
        print(f"classify + fit_final {model:16} {folds} folds + final: {seconds / 60:7.1f} min")
    for model in studied:
        trials = config["study"]["n_trials_per_model"].get(model, config["study"]["n_trials"])
        seconds = k * (trials * estimate[(model, "trial")] + estimate[(model, "fold")])
        total += seconds
        print(f"study {model:16} {k} folds x {trials} trials + fits: {seconds / 60:7.1f} min")
    print(
        f"total {total / 60:.0f} job-minutes: {total / 60 / CORES:.0f} min on {CORES} cores, "
        f"{total / 60 / 16:.0f} min on 16 (if the jobs divide evenly; the longest job bounds it)"
    )
    return {"job_minutes": total / 60}


LEARNING_OUTPUTS = (
    "predictions",
    "metrics",
    "models",
    "study",
    "stack",
    "plots",
    "provenance.json",
)


def job_minutes_by_model(work: Path) -> dict[str, dict]:
    """Per model: its learning jobs (classify, fit_final, study and its workers) from the
    ``benchmark:`` files of ``work``: jobs, summed minutes, largest max_rss (MB)."""
    models: dict[str, dict] = {}
    for path in sorted((work / "benchmarks").rglob("*.tsv")):
        parts = path.relative_to(work / "benchmarks").parts
        if parts[0] == "classify":
            model = parts[3]
        elif parts[0] == "study":  # the study of a model, scored as optuna_<model>
            model = f"optuna_{parts[3]}"
        elif parts[0] == "fit_final":
            model = parts[2].removesuffix(".tsv")
        else:
            continue
        with path.open() as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        entry = models.setdefault(model, {"jobs": 0, "minutes": 0.0, "max_rss_mb": 0.0})
        entry["jobs"] += 1
        entry["minutes"] += float(row["s"]) / 60
        rss = row["max_rss"]
        entry["max_rss_mb"] = max(entry["max_rss_mb"], float(rss) if rss != "NA" else 0.0)
    return models


def stage(work: Path) -> dict:
    """The whole learning stage at full size, as a user runs it: every learning job of the
    shipped configuration (folds of both splits, studies, final fits, then the tables and
    figures) on the full-size tree of ``learn``, through Snakemake on 2 cores. Its dataset
    tables are kept (``--rerun-triggers mtime``: extraction is ``extraction``'s business)."""
    tree = learning_tree(work, 1.0)
    write_config(tree, face_size=None)  # today's config.yaml
    for name in LEARNING_OUTPUTS:
        target = tree / "results" / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    for rule in ("classify", "fit_final", "study"):
        shutil.rmtree(tree / "benchmarks" / rule, ignore_errors=True)
    print("\n== the learning stage at full size through Snakemake ==")
    wall, _, _ = run(
        snakemake_command("--cores", str(CORES), "--rerun-triggers", "mtime"),
        tree,
        log=work / "stage.log",
    )
    models = job_minutes_by_model(tree)
    total = sum(m["minutes"] for m in models.values())
    print(f"wall {wall / 60:.1f} min on {CORES} cores; learning jobs {total:.1f} job-minutes")
    print(f"{'model':20} {'jobs':>4} {'job-min':>8} {'share':>6} {'peak RSS MB':>11}")
    for name, entry in sorted(models.items(), key=lambda item: -item[1]["minutes"]):
        print(
            f"{name:20} {entry['jobs']:4d} {entry['minutes']:8.1f} "
            f"{entry['minutes'] / total:6.1%} {entry['max_rss_mb']:11.0f}"
        )
    sequence = {"lstm", "optuna_lstm"}
    share = sum(m["minutes"] for n, m in models.items() if n in sequence) / total
    print(f"the LSTM and its study: {share:.1%} of the learning jobs' minutes")
    return {"wall_s": wall, "job_minutes": total, "models": models, "lstm_share": share}


def main() -> None:
    global DISFA_FRAMES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/auflow-scale"))
    parser.add_argument("--subjects", type=int, default=3, help="of the 27 (3 at least)")
    parser.add_argument("--fractions", type=float, nargs=2, default=[0.0625, 0.125])
    parser.add_argument("--steps", nargs="+", default=["extraction", "incremental", "dag", "learn"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument(
        "--frames", type=int, default=DISFA_FRAMES, help="per subject; fewer only to try it"
    )
    parser.add_argument(
        "--face-size",
        default="256",
        help="px the extraction resizes the faces to: 256 (issue #11's goal) or 'shipped' "
        "(config.yaml's features.face_size)",
    )
    args = parser.parse_args()
    DISFA_FRAMES = args.frames
    if args.child:
        child(args)
        return
    results = {}
    tree = args.work / "extraction"
    if "extraction" in args.steps:
        face_size = None if args.face_size == "shipped" else int(args.face_size)
        results["extraction"] = extraction(tree, args.subjects, face_size)
    if "learn" in args.steps:
        results["learn"] = learn(args.work, args.fractions)
    if "stage" in args.steps:
        results["stage"] = stage(args.work)
    if "incremental" in args.steps:
        results["incremental"] = incremental(tree, args.subjects)
    if "dag" in args.steps:
        results["dag"] = dag(args.work / "dag")
    (args.work / "scale.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
