"""Action Units: the names of their columns, the range of their intensities, and what it means
that one occurs.

Every table names an AU's column ``AU01`` ... ``AU26`` (OpenFace's names); an intensity is a
whole number 0-5 (DISFA's scale); an AU *occurs* in a frame when its intensity is at least the
configured occurrence threshold (``occurrence_threshold``, 2 by default, the field's protocol).
"""

from __future__ import annotations

MAX_INTENSITY = 5


def au_column(au: int) -> str:
    """``1`` -> ``"AU01"``: the AU column name used in every table."""
    return f"AU{au:02d}"


def occurs(intensity, threshold: int):
    """Whether an AU occurs: ``intensity`` (a number, an array, a Series or a DataFrame of
    intensities) at or above ``threshold``, element by element, as bools of the same kind."""
    return intensity >= threshold
