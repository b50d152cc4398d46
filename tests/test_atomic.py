"""Files are replaced whole or not at all, with the permissions an ordinary write gives them."""

import os
import stat

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
