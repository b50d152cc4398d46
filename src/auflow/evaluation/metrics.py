"""Per-AU occurrence and intensity metrics, with undefined values reported as such.

Occurrence metrics are for the positive class (the AU is present), never macro-averaged over
classes: with AUs absent in most frames, averaging in the easy "absent" class hides a detector that
misses the AU.

F1, precision and recall are counted as the field counts them: a fold without the AU in which the
detector fired scores F1 = 0 (its false alarms are real errors), and only a fold with neither
positives nor predicted positives leaves them undefined. An undefined metric (e.g. ROC-AUC with
one class present) is NaN with the reason in ``note``, so it can be told apart from a real 0 and
left out of averages. Scores pooled over every test frame of every fold
(:func:`score_predictions` on the concatenated predictions) are the headline; fold means show the
spread.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import pearsonr
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    roc_auc_score,
)

from auflow.aus import au_column, occurs

# The metric the summary's headline, the best model per AU, the figures and the studies rank
# models by: F1 of the positive class (the AU occurs), as the field reports it.
HEADLINE_METRIC = "f1"
OCCURRENCE_METRICS = (
    HEADLINE_METRIC,
    "precision",
    "recall",
    "accuracy",
    "balanced_accuracy",
    "roc_auc",
    "pr_auc",
    "base_rate",
)
INTENSITY_METRICS = ("icc3_1", "pearson_r", "mae")
COLUMNS = ("metric", "value", "n_pos", "n", "note")

NO_POSITIVES = "no positive frames in this fold"
NO_NEGATIVES = "no negative frames in this fold"
NO_PREDICTED_POSITIVES = "no frame predicted positive: counted as 0"
NO_POSITIVES_BUT_FIRED = (
    "no positive frames in this fold, but frames predicted positive: counted as 0"
)
NOTHING_TO_DETECT = "no positive frames and none predicted"
NO_SCORES = "no scores"
NO_FRAMES = "no frames"
NEVER_LABELLED = "never labelled in this dataset (no frame's labels name it): not scored"


def _binary(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must have shape (n,), got {values.shape}")
    if not np.isin(values, (0, 1)).all():
        bad = values[~np.isin(values, (0, 1))][0]
        raise ValueError(f"{name} must be 0/1, found {bad!r}")
    return values.astype(np.int8)


def _real(name: str, values: np.ndarray, n: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return values


def _table(rows: list[tuple[str, float, str]], n_pos: int, n: int) -> pd.DataFrame:
    metric, value, note = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "metric": list(metric),
            "value": np.array(value, dtype=np.float64),
            "n_pos": np.int64(n_pos),
            "n": np.int64(n),
            "note": list(note),
        }
    )


def _positive_class_scores(occurrence: np.ndarray, predicted: np.ndarray):
    """F1, precision and recall of the positive class as (value, note) pairs.

    As the field counts them over a test fold: F1 = 2TP / (2TP + FP + FN), precision = TP / (TP +
    FP), recall = TP / (TP + FN). A zero denominator is 0, not undefined, as long as the fold had
    positives or the detector fired: false alarms on a subject without the AU are a real failure
    and must pull the mean down. Only a fold with neither positives nor predicted positives (every
    count but TN zero) leaves all three undefined (NaN), since it says nothing about detection.
    """
    tp = int(((occurrence == 1) & (predicted == 1)).sum())
    fp = int(((occurrence == 0) & (predicted == 1)).sum())
    fn = int(((occurrence == 1) & (predicted == 0)).sum())
    if tp + fp + fn == 0:
        undefined = (np.nan, NOTHING_TO_DETECT)
        return undefined, undefined, undefined
    note_pos = NO_POSITIVES_BUT_FIRED if tp + fn == 0 else ""
    note_pred = NO_PREDICTED_POSITIVES if tp + fp == 0 else ""
    f1 = (2 * tp / (2 * tp + fp + fn), note_pos)
    precision = (tp / (tp + fp) if tp + fp else 0.0, note_pred)
    recall = (tp / (tp + fn) if tp + fn else 0.0, note_pos)
    return f1, precision, recall


def occurrence_metrics(
    occurrence: np.ndarray, predicted: np.ndarray, scores: np.ndarray | None = None
) -> pd.DataFrame:
    """Occurrence metrics of one AU in one fold.

    Parameters
    ----------
    occurrence : ndarray, shape (n,)
        True occurrence, 0/1.
    predicted : ndarray, shape (n,)
        Predicted occurrence, 0/1.
    scores : ndarray, shape (n,), optional
        Real-valued scores or probabilities, higher = more likely present; needed for ``roc_auc``
        and ``pr_auc`` (NaN with note "no scores" otherwise).

    Returns
    -------
    DataFrame
        Columns ``metric`` (str, one row per ``OCCURRENCE_METRICS`` entry, in that order),
        ``value`` (float64, NaN when undefined), ``n_pos`` (int64, frames with the AU present),
        ``n`` (int64, frames), ``note`` (str, "" when defined, else why not).
    """
    occurrence = _binary("occurrence", occurrence)
    predicted = _binary("predicted", predicted)
    if predicted.shape != occurrence.shape:
        raise ValueError(f"predicted has shape {predicted.shape}, occurrence {occurrence.shape}")
    n = len(occurrence)
    if scores is not None:
        scores = _real("scores", scores, n)
    n_pos = int(occurrence.sum())
    if n == 0:
        return _table([(m, np.nan, NO_FRAMES) for m in OCCURRENCE_METRICS], 0, 0)

    no_pos = n_pos == 0
    one_class = n_pos in (0, n)
    one_class_note = NO_POSITIVES if no_pos else NO_NEGATIVES
    f1, precision, recall = _positive_class_scores(occurrence, predicted)
    # Balanced accuracy is the mean of sensitivity and specificity; with one class present sklearn
    # would silently average over that class only.
    balanced = (
        (np.nan, one_class_note)
        if one_class
        else (balanced_accuracy_score(occurrence, predicted), "")
    )
    if scores is None:
        roc_auc = pr_auc = (np.nan, NO_SCORES)
    else:
        roc_auc = (np.nan, one_class_note) if one_class else (roc_auc_score(occurrence, scores), "")
        pr_auc = (
            (np.nan, NO_POSITIVES) if no_pos else (average_precision_score(occurrence, scores), "")
        )
    values = {
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "accuracy": (accuracy_score(occurrence, predicted), ""),
        "balanced_accuracy": balanced,
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "base_rate": (n_pos / n, ""),
    }
    return _table([(m, float(values[m][0]), values[m][1]) for m in OCCURRENCE_METRICS], n_pos, n)


def icc_3_1(ratings: np.ndarray) -> float:
    """ICC(3,1): two-way mixed, consistency, single rater (Shrout & Fleiss, 1979).

    ``(BMS - EMS) / (BMS + (k - 1) EMS)`` from the two-way ANOVA mean squares between targets
    (BMS) and residual (EMS). Consistency means a constant offset between raters (e.g. a detector
    that is biased but tracks intensity changes) does not lower it.

    Parameters
    ----------
    ratings : ndarray, shape (n_targets, n_raters)
        Real-valued ratings, at least 2 targets and 2 raters.

    Returns
    -------
    float
        ICC(3,1) in (-inf, 1]; NaN when every rating is identical (0/0).
    """
    ratings = np.asarray(ratings, dtype=np.float64)
    if ratings.ndim != 2 or ratings.shape[0] < 2 or ratings.shape[1] < 2:
        raise ValueError(
            f"ratings must have shape (n_targets >= 2, n_raters >= 2), got {ratings.shape}"
        )
    n, k = ratings.shape
    grand_mean = ratings.mean()
    ss_total = ((ratings - grand_mean) ** 2).sum()
    ss_targets = k * ((ratings.mean(axis=1) - grand_mean) ** 2).sum()
    ss_raters = n * ((ratings.mean(axis=0) - grand_mean) ** 2).sum()
    bms = ss_targets / (n - 1)
    ems = (ss_total - ss_targets - ss_raters) / ((n - 1) * (k - 1))
    denominator = bms + (k - 1) * ems
    if np.isclose(denominator, 0.0, rtol=0.0, atol=1e-12 * max(1.0, ss_total)):
        return float("nan")
    return float((bms - ems) / denominator)


def intensity_metrics(
    intensity: np.ndarray, predicted_intensity: np.ndarray, threshold: int = 2
) -> pd.DataFrame:
    """Intensity metrics of one AU in one fold.

    Parameters
    ----------
    intensity : ndarray, shape (n,)
        True intensity (0-5).
    predicted_intensity : ndarray, shape (n,)
        Predicted intensity, real-valued.
    threshold : int
        Only used to count ``n_pos`` (frames with ``intensity >= threshold``), so the rows line up
        with the occurrence rows of the same AU.

    Returns
    -------
    DataFrame
        Same columns as ``occurrence_metrics``; rows ``icc3_1``, ``pearson_r``, ``mae``.
    """
    intensity = np.asarray(intensity, dtype=np.float64)
    if intensity.ndim != 1:
        raise ValueError(f"intensity must have shape (n,), got {intensity.shape}")
    n = len(intensity)
    predicted_intensity = _real("predicted_intensity", predicted_intensity, n)
    if not np.isfinite(intensity).all():
        raise ValueError("intensity contains NaN or infinite values")
    n_pos = int(occurs(intensity, threshold).sum())
    if n < 2:
        note = NO_FRAMES if n == 0 else "a single frame"
        values = {"icc3_1": (np.nan, note), "pearson_r": (np.nan, note)}
    else:
        icc = icc_3_1(np.column_stack([intensity, predicted_intensity]))
        constant = [
            name
            for name, values in (("true", intensity), ("predicted", predicted_intensity))
            if np.ptp(values) == 0
        ]
        constant_note = " and ".join(constant) + " intensity constant in this fold"
        values = {
            "icc3_1": (icc, constant_note if np.isnan(icc) else ""),
            "pearson_r": (
                (np.nan, constant_note)
                if constant
                else (pearsonr(intensity, predicted_intensity).statistic, "")
            ),
        }
    values["mae"] = (
        (np.nan, NO_FRAMES) if n == 0 else (np.abs(intensity - predicted_intensity).mean(), "")
    )
    return _table([(m, float(values[m][0]), values[m][1]) for m in INTENSITY_METRICS], n_pos, n)


def _join(predictions: pd.DataFrame, labels: pd.DataFrame, aus: list[int]) -> pd.DataFrame:
    """Predictions with the true intensities (columns ``AU01``..) of their frames."""
    for name, table, columns in (
        ("predictions", predictions, [f"{au_column(au)}_c" for au in aus]),
        ("labels", labels, [au_column(au) for au in aus]),
    ):
        missing = [c for c in ("subject", "frame", *columns) if c not in table.columns]
        if missing:
            raise ValueError(f"{name} lack column(s) {', '.join(missing)}")
    keys = ["subject", "frame"]
    label_columns = [au_column(au) for au in aus]
    labels = labels[keys + label_columns].astype({"subject": str, "frame": "int64"})
    if labels.duplicated(keys).any():
        first = labels[labels.duplicated(keys)].iloc[0]
        raise ValueError(f"labels: frame {first['frame']} of subject {first['subject']} twice")
    prediction_columns = [
        c for c in predictions.columns if c not in keys and c.split("_")[0] in label_columns
    ]
    predictions = predictions[keys + prediction_columns].astype({"subject": str, "frame": "int64"})
    if predictions.duplicated(keys).any():
        first = predictions[predictions.duplicated(keys)].iloc[0]
        raise ValueError(f"predictions: frame {first['frame']} of subject {first['subject']} twice")
    joined = predictions.merge(labels, on=keys, how="left", indicator=True)
    unlabelled = joined[joined["_merge"] == "left_only"]
    if len(unlabelled):
        examples = ", ".join(
            f"{s} frame {f}" for s, f in unlabelled[keys].head(3).itertuples(index=False)
        )
        raise ValueError(f"{len(unlabelled)} predicted frame(s) have no label, e.g. {examples}")
    return joined.drop(columns="_merge")


def _macro_average(per_au: pd.DataFrame) -> pd.DataFrame:
    """One row per metric with au = 0: the mean over AUs of the defined values."""
    rows = []
    for metric, group in per_au.groupby("metric", sort=False):
        defined = group[group["value"].notna()]
        if defined.empty:
            note = f"undefined for every one of the {len(group)} AUs"
        else:
            note = f"mean over {len(defined)} of {len(group)} AUs"
            undefined = group.loc[group["value"].isna(), "au"]
            if len(undefined):
                note += "; undefined for " + ", ".join(au_column(au) for au in undefined)
        rows.append(
            {
                "au": 0,
                "metric": metric,
                "value": defined["value"].mean() if len(defined) else np.nan,
                "n_pos": int(defined["n_pos"].sum()),
                "n": int(group["n"].max()),
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def score_predictions(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    aus: list[int],
    threshold: int = 2,
    unlabelled=(),
) -> pd.DataFrame:
    """Score predicted occurrence (and intensity, where predicted) of every AU.

    Parameters
    ----------
    predictions : DataFrame
        Columns ``subject`` (str), ``frame`` (int), and per AU ``AU01_c`` (0/1 predicted
        occurrence), optionally ``AU01_p`` (score or probability) and ``AU01_r`` (predicted
        intensity). Every (subject, frame) must have a label.
    labels : DataFrame
        Columns ``subject``, ``frame``, ``AU01``.. (int intensities 0-5). Extra frames are ignored.
    aus : list of int
        AU numbers to score, e.g. [1, 2, 4].
    threshold : int
        Occurrence is ``intensity >= threshold``.
    unlabelled : AUs of ``aus`` that the labels never give (e.g. a cross dataset whose label
        files lack the AU, read as intensity 0): every metric of such an AU is NaN with the note
        :data:`NEVER_LABELLED`, so it is neither scored as all-negative nor averaged.

    Returns
    -------
    DataFrame
        Columns ``au`` (int64; 0 = macro average over AUs), ``metric``, ``value``, ``n_pos``,
        ``n``, ``note``. Per AU, one row per ``OCCURRENCE_METRICS`` entry, then the
        ``INTENSITY_METRICS`` rows if an ``_r`` column was given; then the macro-average rows.
        For au = 0, ``n_pos`` sums the positives of the averaged AUs and ``note`` says which AUs
        were averaged.
    """
    if not aus:
        raise ValueError("no AUs to score")
    joined = _join(predictions, labels, aus)
    tables = []
    for au in aus:
        column = au_column(au)
        intensity = joined[column].to_numpy()
        if not np.isin(intensity, np.arange(6)).all():
            raise ValueError(f"labels: {column} must be integer intensities 0-5")
        if au in unlabelled:
            names = list(OCCURRENCE_METRICS)
            names += list(INTENSITY_METRICS) if f"{column}_r" in joined else []
            table = _table([(name, np.nan, NEVER_LABELLED) for name in names], 0, len(joined))
            tables.append(table.assign(au=np.int64(au)))
            continue
        scores = joined[f"{column}_p"].to_numpy() if f"{column}_p" in joined else None
        table = occurrence_metrics(
            occurs(intensity, threshold).astype(np.int8), joined[f"{column}_c"].to_numpy(), scores
        )
        if f"{column}_r" in joined:
            table = pd.concat(
                [table, intensity_metrics(intensity, joined[f"{column}_r"].to_numpy(), threshold)],
                ignore_index=True,
            )
        tables.append(table.assign(au=np.int64(au)))
    per_au = pd.concat(tables, ignore_index=True)
    scored = pd.concat([per_au, _macro_average(per_au)], ignore_index=True)
    return scored.astype({"au": "int64", "value": "float64", "n_pos": "int64", "n": "int64"})[
        ["au", *COLUMNS]
    ]
