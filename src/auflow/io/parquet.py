"""Parquet tables: written atomically, with provenance in the key-value metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from auflow.io.atomic import replaced_atomically

METADATA_KEY = b"auflow"


def write_table(table: pd.DataFrame, path: str | Path, metadata: dict | None = None) -> None:
    """Write ``table`` to ``path`` as Parquet, ``metadata`` (JSON-able) stored under ``auflow``.

    The file is written next to its destination and renamed into place, so a failed or
    interrupted job never leaves a half-written table for a re-run to trust.
    """
    path = Path(path)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    if metadata is not None:
        existing = arrow.schema.metadata or {}
        arrow = arrow.replace_schema_metadata(
            {**existing, METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()}
        )
    try:
        with replaced_atomically(path) as tmp, open(tmp, "wb") as handle:
            # our own handle, closed even when the write fails (e.g. a full disk), so that the
            # partial file is gone at once, not when the exception is garbage-collected
            pq.write_table(arrow, handle)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise OSError(
            error.errno,
            f"{path}: {reason} while writing the table; the partial file was removed "
            "(free some space or fix the folder, then re-run)",
        ) from error


COLUMNS_AT_ONCE = 64


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet table written by :func:`write_table` into pandas.

    The float32 columns (the features of a dataset table: hundreds of columns) are read a few
    dozen columns at a time into one array that the frame keeps as it is, so reading holds the
    table's size about once; Arrow's whole-table conversion held it three times (1.7 GB for a
    0.46 GB table), and so does reading it in batches of rows (a row group is decoded whole).
    """
    parquet = pq.ParquetFile(path)
    names = list(columns) if columns is not None else parquet.schema_arrow.names
    floats = _float_columns(parquet, names)
    if len(floats) < 2:
        return parquet.read(columns=names).to_pandas()
    rest = _other_columns(parquet, names, floats)
    block = np.empty((len(floats), parquet.metadata.num_rows), np.float32)
    for first, values in _float_slices(parquet, floats):
        block[first : first + values.shape[1]] = values.T
    return with_float_block(block.T, floats, rest, names)


def read_table_parts(
    path: str | Path, parts: list[np.ndarray], transform=None
) -> list[pd.DataFrame]:
    """:func:`read_table` of ``path`` cut into row subsets, without ever holding the whole table.

    Each few dozen float32 columns are read for every row, passed through ``transform`` (e.g. a
    normalisation by subject, which needs all of a subject's rows), and their rows copied into
    each part's own block; the whole table's features are never in memory at once, only the
    parts' and one slice of columns.

    Parameters
    ----------
    parts : boolean masks over the table's rows, one per part (they may overlap or leave rows
        out).
    transform : optional ``callable(values, rest) -> values``: ``values`` (n_rows, n_columns)
        float32 of some float columns, ``rest`` the table's other columns (pandas, every row).

    Returns
    -------
    One frame per mask, its rows in table order, default index, columns as :func:`read_table`.
    """
    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    floats = _float_columns(parquet, names)
    rest = _other_columns(parquet, names, floats)
    blocks = [np.empty((len(floats), int(np.count_nonzero(mask))), np.float32) for mask in parts]
    for first, values in _float_slices(parquet, floats):
        if transform is not None:
            values = transform(values, rest)
        for block, mask in zip(blocks, parts, strict=True):
            block[first : first + values.shape[1]] = values[mask].T
    return [
        with_float_block(block.T, floats, rest.loc[mask].reset_index(drop=True), names)
        for block, mask in zip(blocks, parts, strict=True)
    ]


def _float_columns(parquet: pq.ParquetFile, names: list[str]) -> list[str]:
    """The float32 columns among ``names`` (the features of a dataset table)."""
    schema = parquet.schema_arrow
    return [name for name in names if schema.field(name).type == pa.float32()]


def _other_columns(parquet: pq.ParquetFile, names: list[str], floats: list[str]) -> pd.DataFrame:
    """The columns of ``names`` that are not in ``floats``, in pandas (keys and labels: small)."""
    others = [name for name in names if name not in set(floats)]
    return parquet.read(columns=others).to_pandas() if others else pd.DataFrame()


def _float_slices(parquet: pq.ParquetFile, floats: list[str]):
    """``(first, values)`` for each :data:`COLUMNS_AT_ONCE` of the columns ``floats``:
    ``values`` (n_rows, n_columns) float32 of the columns from position ``first`` on."""
    for first in range(0, len(floats), COLUMNS_AT_ONCE):
        part = parquet.read(columns=floats[first : first + COLUMNS_AT_ONCE])
        yield first, np.column_stack([column.to_numpy() for column in part.columns])
        del part
    # Arrow's allocator keeps what the slices' decoding used (0.16 GB after DISFA's HOG table)
    # for reuse; a job reads its tables once, so it goes back to the system
    pa.default_memory_pool().release_unused()


def with_float_block(
    block: np.ndarray, names: list[str], rest: pd.DataFrame, order
) -> pd.DataFrame:
    """A frame of the columns of ``rest`` and the float32 columns ``names`` of ``block``, in
    ``order``, with ``block`` kept as pandas' one block of those columns, uncopied.

    Parameters
    ----------
    block : (n_rows, len(names)) float32, Fortran order (each column contiguous), as pandas
        stores a block; a C-order array is copied once.
    rest : the other columns, ``n_rows`` rows, default index.
    order : every column name, in the order the frame should have them.
    """
    frame = pd.DataFrame(np.asfortranarray(block), columns=names, copy=False)
    for position, name in enumerate(order):
        if name in rest.columns:
            frame.insert(position, name, rest[name].to_numpy())
    return frame


def read_metadata(path: str | Path) -> dict:
    """The ``auflow`` metadata of a Parquet file ({} if it has none)."""
    raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}
