"""The dataset table: features joined with labels on (subject, frame)."""

from __future__ import annotations

import pandas as pd

from auflow.io.parquet import read_table

KEY = ["subject", "frame"]


def concat_tables(paths) -> pd.DataFrame:
    """Concatenate Parquet tables that share a layout, sorted by (subject, frame)."""
    tables = [read_table(p) for p in paths]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=KEY)
    return table.sort_values(KEY, kind="stable").reset_index(drop=True)


def join_features_labels(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per frame: ``subject``, ``frame``, the AU columns, then the feature columns.

    Every frame must have both features and labels; anything else is an error naming the first
    frames that lack one or the other (a missing shard or a label file out of step).
    """
    for name, table in (("features", features), ("labels", labels)):
        duplicated = table.duplicated(KEY)
        if duplicated.any():
            first = table.loc[duplicated, KEY].iloc[0].tolist()
            raise ValueError(f"{name}: frame {first} appears more than once")
    joined = labels.merge(features, on=KEY, how="outer", indicator=True, validate="one_to_one")
    for side, missing in (("left_only", "features"), ("right_only", "labels")):
        lacking = joined.loc[joined["_merge"] == side, KEY]
        if len(lacking):
            examples = ", ".join(f"{s}/{f}" for s, f in lacking.head(5).itertuples(index=False))
            raise ValueError(f"{len(lacking)} frames have no {missing}, e.g. {examples}")
    joined = joined.drop(columns="_merge")
    return joined.sort_values(KEY, kind="stable").reset_index(drop=True)


def au_columns(table: pd.DataFrame) -> list[str]:
    """The label columns ``AU01`` ... of a dataset table, in table order."""
    return [c for c in table.columns if len(c) == 4 and c.startswith("AU") and c[2:].isdigit()]
