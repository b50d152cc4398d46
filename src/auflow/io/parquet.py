"""Parquet tables: written atomically, with provenance in the key-value metadata."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"auflow"


def write_table(table: pd.DataFrame, path: str | Path, metadata: dict | None = None) -> None:
    """Write ``table`` to ``path`` as Parquet, ``metadata`` (JSON-able) stored under ``auflow``.

    The file is written next to its destination and renamed into place, so a failed or
    interrupted job never leaves a half-written table for a re-run to trust.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    if metadata is not None:
        existing = arrow.schema.metadata or {}
        arrow = arrow.replace_schema_metadata(
            {**existing, METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()}
        )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        # our own handle, closed even when the write fails (e.g. a full disk), so that the
        # partial file is gone at once, not when the exception is garbage-collected
        with open(tmp, "wb") as handle:
            pq.write_table(arrow, handle)
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise OSError(
            error.errno,
            f"{path}: {reason} while writing the table; the partial file was removed "
            "(free some space or fix the folder, then re-run)",
        ) from error
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet table written by :func:`write_table` into pandas."""
    return pq.read_table(path, columns=columns).to_pandas()


def read_metadata(path: str | Path) -> dict:
    """The ``auflow`` metadata of a Parquet file ({} if it has none)."""
    raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}
