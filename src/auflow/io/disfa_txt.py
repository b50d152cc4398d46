"""DISFA's native label files: one text file per subject and AU, lines ``frame,intensity``.

Files are found as ``<labels_dir>/SN001/SN001_au1.txt`` (the layout DISFA ships) or
``<labels_dir>/SN001_au1.txt``. Frame numbers are kept as written (DISFA starts at 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from auflow.aus import MAX_INTENSITY, au_column


def label_file(labels_dir: str | Path, subject: str, au: int) -> Path:
    """Path of the label file of ``subject`` and ``au``, in either accepted layout.

    Raises FileNotFoundError naming both places looked at, and ValueError if both exist as
    different files (which one is right cannot be guessed).
    """
    name = f"{subject}_au{au}.txt"
    candidates = [Path(labels_dir) / subject / name, Path(labels_dir) / name]
    found = [p for p in candidates if p.is_file()]
    if not found:
        raise FileNotFoundError(
            f"no label file for subject {subject}, AU{au}: neither {candidates[0]} nor "
            f"{candidates[1]} exists"
        )
    if len(found) == 2 and not found[0].samefile(found[1]):
        raise ValueError(f"two label files for subject {subject}, AU{au}: {found[0]}, {found[1]}")
    return found[0]


def _parse_line(path: Path, line_number: int, line: str) -> tuple[int, int]:
    line = line.strip()
    fields = [f.strip() for f in line.split(",")]
    if len(fields) != 2:
        raise ValueError(f"{path}, line {line_number}: expected 'frame,intensity', got {line!r}")
    try:
        frame, intensity = int(fields[0]), int(fields[1])
    except ValueError:
        raise ValueError(
            f"{path}, line {line_number}: frame and intensity must be integers, got {line!r}"
        ) from None
    if frame < 0:
        raise ValueError(f"{path}, line {line_number}: negative frame number {frame}")
    if not 0 <= intensity <= MAX_INTENSITY:
        raise ValueError(
            f"{path}, line {line_number}: intensity {intensity} outside 0-{MAX_INTENSITY}"
        )
    return frame, intensity


def read_au_file(path: str | Path) -> pd.Series:
    """Intensities of one DISFA label file.

    Parameters
    ----------
    path : str or Path
        Text file of ``frame,intensity`` lines; blank lines are ignored.

    Returns
    -------
    Series
        int8 intensities indexed by frame (int64), sorted, covering consecutive frames. Raises
        ValueError naming the file and line for malformed lines, out-of-range intensities,
        duplicate frames and gaps in the frame numbers.
    """
    path = Path(path)
    line_of: dict[int, int] = {}
    intensity_of: dict[int, int] = {}
    with path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            frame, intensity = _parse_line(path, line_number, line)
            if frame in line_of:
                raise ValueError(
                    f"{path}, line {line_number}: frame {frame} already labelled on line "
                    f"{line_of[frame]}"
                )
            line_of[frame] = line_number
            intensity_of[frame] = intensity
    if not line_of:
        raise ValueError(f"{path}: no label lines")
    frames = np.array(sorted(line_of), dtype=np.int64)
    gaps = np.flatnonzero(np.diff(frames) != 1)
    if len(gaps):
        before, after = frames[gaps[0]], frames[gaps[0] + 1]
        raise ValueError(
            f"{path}, line {line_of[after]}: frame {after} follows frame {before} "
            f"(line {line_of[before]}); frames {before + 1}-{after - 1} have no label"
        )
    return pd.Series(
        np.array([intensity_of[f] for f in frames], dtype=np.int8),
        index=pd.Index(frames, name="frame"),
    )


def read_disfa_txt_labels(labels_dir: str | Path, subject: str, aus: list[int]) -> pd.DataFrame:
    """Intensity labels of one subject from DISFA's per-AU text files.

    Parameters
    ----------
    labels_dir : str or Path
        Folder holding ``<subject>/<subject>_au<N>.txt`` or ``<subject>_au<N>.txt``.
    subject : str
        Subject name, e.g. ``"SN001"``.
    aus : list of int
        AU numbers to read, e.g. [1, 2, 4].

    Returns
    -------
    DataFrame
        Columns ``frame`` (int64) and ``AU01``.. (int8, 0-5) in the order of ``aus``, one row per
        frame, sorted by frame. All AU files must cover the same frames (ValueError naming both
        files otherwise).
    """
    if not aus:
        raise ValueError("no AUs requested")
    if len(set(aus)) != len(aus):
        raise ValueError(f"AUs requested more than once: {aus}")
    columns: dict[str, pd.Series] = {}
    first_path: Path | None = None
    first_frames: pd.Index | None = None
    for au in aus:
        path = label_file(labels_dir, subject, au)
        intensity = read_au_file(path)
        if first_frames is None:
            first_path, first_frames = path, intensity.index
        elif not intensity.index.equals(first_frames):
            raise ValueError(
                f"{path} labels frames {intensity.index[0]}-{intensity.index[-1]} but "
                f"{first_path} labels frames {first_frames[0]}-{first_frames[-1]}; every AU of "
                f"subject {subject} must cover the same frames"
            )
        columns[au_column(au)] = intensity.to_numpy()
    return pd.DataFrame({"frame": first_frames.to_numpy(dtype=np.int64), **columns})
