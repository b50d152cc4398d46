"""The dataset table: feature shards joined with the labels, holding the features once."""

import numpy as np
import pandas as pd
import pytest

from auflow.io.dataset import concat_tables, join_feature_shards, join_features_labels
from auflow.io.parquet import read_table, write_table


def shards_and_labels(tmp_path, seed=0, float_only=True):
    """Three shards of two subjects (frames out of order within and across shards) and the
    labels of every frame, subjects and frames in another order."""
    rng = np.random.default_rng(seed)
    frames = [("S2", f) for f in range(30)] + [("S1", f) for f in range(1, 41)]
    order = rng.permutation(len(frames))
    paths = []
    for index, rows in enumerate(np.array_split(order, 3)):
        shard = pd.DataFrame([frames[r] for r in rows], columns=["subject", "frame"])
        for name in ("gabor_a", "gabor_b", "gabor_c"):
            shard[name] = rng.normal(size=len(shard)).astype(np.float32)
        if not float_only:
            shard["quality"] = rng.integers(0, 3, len(shard))
        path = tmp_path / f"shard{index}.parquet"
        write_table(shard, path)
        paths.append(path)
    labels = pd.DataFrame(frames[::-1], columns=["subject", "frame"])
    for au in ("AU01", "AU12"):
        labels[au] = rng.integers(0, 6, len(labels)).astype(np.int8)
    return paths, labels


@pytest.mark.parametrize("float_only", [True, False])
def test_the_shards_join_as_the_whole_feature_table_does(tmp_path, float_only):
    paths, labels = shards_and_labels(tmp_path, float_only=float_only)
    joined = join_feature_shards(paths, labels)
    expected = join_features_labels(concat_tables(paths), labels)
    pd.testing.assert_frame_equal(joined, expected)
    assert list(joined.columns[:4]) == ["subject", "frame", "AU01", "AU12"]
    assert joined["subject"].tolist() == ["S1"] * 40 + ["S2"] * 30
    # every feature value is the one its shard holds for that frame
    whole = concat_tables(paths).set_index(["subject", "frame"])
    np.testing.assert_array_equal(
        joined.set_index(["subject", "frame"])["gabor_b"],
        whole.loc[joined.set_index(["subject", "frame"]).index, "gabor_b"],
    )
    # written and read back, as the join_dataset job does
    write_table(joined, tmp_path / "dataset.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "dataset.parquet"), expected)


def test_frames_missing_on_either_side_or_twice_are_named(tmp_path):
    paths, labels = shards_and_labels(tmp_path)
    with pytest.raises(ValueError, match="1 frames have no features, e.g. S3/0"):
        join_feature_shards(
            paths, pd.concat([labels, labels.iloc[:1].assign(subject="S3", frame=0)])
        )
    with pytest.raises(ValueError, match="2 frames have no labels"):
        join_feature_shards(paths, labels.iloc[2:])
    with pytest.raises(ValueError, match="features: frame .* appears more than once"):
        join_feature_shards([*paths, paths[0]], labels)
