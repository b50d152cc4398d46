"""Files are replaced whole or not at all, with the permissions an ordinary write gives them."""

import os
import signal
import stat
import subprocess
import sys

import pandas as pd
import pytest

from auflow.io.atomic import replaced_atomically
from auflow.io.parquet import read_table, write_table


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_written_table_is_readable_by_group_and_others_as_the_umask_allows(tmp_path, umask_022):
    path = tmp_path / "results" / "table.parquet"
    write_table(pd.DataFrame({"subject": ["SN001"], "frame": [1]}), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert read_table(path)["frame"].tolist() == [1]
    assert [p.name for p in path.parent.iterdir()] == ["table.parquet"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with replaced_atomically(path) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_the_new_content_replaces_the_old_only_when_the_block_ends(tmp_path):
    path = tmp_path / "model.skops"
    path.write_bytes(b"old")
    with replaced_atomically(path) as tmp:
        tmp.write_bytes(b"new")
        assert path.read_bytes() == b"old"
    assert path.read_bytes() == b"new"


# A writer that stops in the middle of its table, says so, and waits to be killed.
HALF_WRITTEN = """
import sys, time
import pyarrow as pa, pyarrow.parquet as pq
from auflow.io.atomic import replaced_atomically
with replaced_atomically(sys.argv[1]) as tmp, open(tmp, "wb") as handle:
    writer = pq.ParquetWriter(handle, pa.schema([("frame", pa.int64())]))
    writer.write_table(pa.table({"frame": list(range(1000))}))
    handle.flush()
    print("half written", flush=True)
    time.sleep(600)
"""


def kill_mid_write(path) -> None:
    """Start a real writer of ``path`` and SIGKILL it once it is half-way through its table."""
    writer = subprocess.Popen(
        [sys.executable, "-c", HALF_WRITTEN, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline() == "half written\n"
    finally:
        writer.kill()
        writer.wait()
    assert writer.returncode == -signal.SIGKILL


def test_a_writer_killed_mid_write_leaves_one_hidden_file_that_the_rewrite_takes_away(
    tmp_path, umask_022
):
    path = tmp_path / "results" / "labels.parquet"
    kill_mid_write(path)
    assert [p.name for p in path.parent.iterdir()] == [".labels.parquet.tmp"]
    assert (path.parent / ".labels.parquet.tmp").stat().st_size > 0
    kill_mid_write(path)  # killed again: still that one file
    assert [p.name for p in path.parent.iterdir()] == [".labels.parquet.tmp"]

    write_table(pd.DataFrame({"subject": ["SN001"], "frame": [7]}), path)

    assert [p.name for p in path.parent.iterdir()] == ["labels.parquet"]
    assert read_table(path)["frame"].tolist() == [7]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_second_writer_of_a_file_waits_for_the_first_instead_of_sharing_its_temporary_file(
    tmp_path,
):
    path = tmp_path / "best.json"
    first = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom auflow.io.atomic import replaced_atomically\n"
            "with replaced_atomically(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('first')\n    print('writing', flush=True)\n    time.sleep(1)\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert first.stdout.readline() == "writing\n"
    with replaced_atomically(path) as tmp:
        # only once the first writer has renamed its file into place
        assert path.read_text() == "first"
        tmp.write_text("second")
    assert first.wait() == 0
    assert path.read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["best.json"]
