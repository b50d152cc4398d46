"""What Snakemake prints and logs, read back: each failed job's own message (for the end of a
run's output, from an ``onerror`` handler) and the job counts of its plan (read by the tests and
the benchmarks)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|error)\b[^:\s]*: ")
_MAX_JOBS = 5


def failed_jobs_summary(snakemake_log, width: int = 100) -> str:
    """What each failed job said, in a few short lines, for the end of Snakemake's output.

    Snakemake prints a failed job's inputs whole and only points at its log; run as plainly as
    ``snakemake --cores 16``, a user would then not see the message at all. This reads the
    ``Error in rule`` blocks of Snakemake's own log file (``snakemake_log``) and, for each failed
    job, the error at the end of the job's log file. ``snakemake_log`` is what Snakemake
    hands an ``onerror`` handler: a path, or a list of paths.

    Returns
    -------
    str
        Lines of at most ``width`` characters (longer single words, such as a path, excepted),
        or "" when the log names no failed job.
    """
    paths = [snakemake_log] if isinstance(snakemake_log, str | Path) else snakemake_log or []
    lines = []
    for path in paths:
        try:
            lines += Path(path).read_text(errors="replace").splitlines()
        except OSError:
            continue
    jobs: list[dict] = []
    for line in lines:
        if line.startswith("Error in rule "):
            jobs.append({"rule": line.removeprefix("Error in rule ").rstrip(":"), "logs": []})
        elif jobs and line.startswith("    output: ") and "output" not in jobs[-1]:
            jobs[-1]["output"] = line.removeprefix("    output: ")
        elif jobs and line.startswith("    log: ") and not jobs[-1]["logs"]:
            logs = line.removeprefix("    log: ").split(" (check log file")[0]
            jobs[-1]["logs"] = [p for p in logs.split(", ") if p]
    if not jobs:
        return ""  # failed before any job ran: Snakemake's own message is already last
    out = [f"auflow: {len(jobs)} job(s) failed; what each said (whole logs in the files named):"]
    for job in jobs[:_MAX_JOBS]:
        where = job.get("output", "")
        out.append(f"  rule {job['rule']}" + (f", {where}" if len(where) < width else "") + ":")
        for log_path in job["logs"]:
            out.append(f"    {log_path}:")
            for message in _job_error(log_path):
                out += textwrap.wrap(
                    message,
                    width,
                    initial_indent="      ",
                    subsequent_indent="        ",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
    if len(jobs) > _MAX_JOBS:
        out.append(f"  ... and {len(jobs) - _MAX_JOBS} more; their logs are named above")
    return "\n".join(out)


def _job_error(log_path: str, max_lines: int = 4) -> list[str]:
    """The exception at the end of a job's log (the last line when there is none)."""
    try:
        lines = [line.rstrip() for line in Path(log_path).read_text(errors="replace").splitlines()]
    except OSError:
        return ["(no log file)"]
    lines = [line for line in lines if line.strip()]
    if not lines:
        return ["(the log is empty)"]
    for start in range(len(lines) - 1, -1, -1):
        if _ERROR_LINE.match(lines[start]):
            return lines[start : start + max_lines]
    return [lines[-1]]


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints before it runs (or with ``--dry-run``): rule ->
    number of jobs, without the total; empty when there is no table (nothing to do)."""
    if "Job stats:" not in output:
        return {}
    counts = {}
    for line in output.split("Job stats:", 1)[1].splitlines()[3:]:
        match = re.fullmatch(r"\s*(\w+)\s+(\d+)\s*", line)
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    counts.pop("total", None)
    return counts
