"""AU facts: column names and occurrence, the same wherever they are used."""

from __future__ import annotations

import numpy as np
import pandas as pd

from auflow.aus import MAX_INTENSITY, au_column, occurs
from auflow.io import disfa_txt, labels


def test_an_au_occurs_at_the_threshold_and_above_not_below():
    intensity = np.arange(MAX_INTENSITY + 1)
    assert occurs(intensity, 2).tolist() == [False, False, True, True, True, True]


def test_occurrence_keeps_the_kind_of_what_it_is_given():
    table = pd.DataFrame({au_column(1): [0, 3], au_column(12): [2, 1]})
    occurred = occurs(table, 2)
    assert isinstance(occurred, pd.DataFrame)
    assert occurred.to_dict("list") == {"AU01": [False, True], "AU12": [True, False]}
    assert occurs(table["AU01"], 3).tolist() == [False, True]


def test_both_label_readers_use_the_same_au_names_and_scale():
    assert au_column(1) == "AU01" and au_column(26) == "AU26"
    assert labels.au_column is au_column is disfa_txt.au_column
    assert labels.MAX_INTENSITY == disfa_txt.MAX_INTENSITY == 5
