import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from auflow.evaluation.metrics import (
    INTENSITY_METRICS,
    OCCURRENCE_METRICS,
    icc_3_1,
    intensity_metrics,
    occurrence_metrics,
    score_predictions,
)

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)


def as_dict(table):
    return dict(zip(table["metric"], table["value"], strict=True))


def notes(table):
    return dict(zip(table["metric"], table["note"], strict=True))


def test_occurrence_metrics_match_hand_counts_and_sklearn():
    occurrence = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    predicted = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.4, 0.05])
    table = occurrence_metrics(occurrence, predicted, scores)
    values = as_dict(table)
    # TP=2, FP=1, FN=1, TN=4
    assert list(table["metric"]) == list(OCCURRENCE_METRICS)
    assert values["precision"] == pytest.approx(2 / 3)
    assert values["recall"] == pytest.approx(2 / 3)
    assert values["f1"] == pytest.approx(f1_score(occurrence, predicted)) == pytest.approx(2 / 3)
    assert values["accuracy"] == pytest.approx(6 / 8)
    assert values["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert values["roc_auc"] == pytest.approx(roc_auc_score(occurrence, scores))
    assert values["pr_auc"] == pytest.approx(average_precision_score(occurrence, scores))
    assert values["base_rate"] == pytest.approx(3 / 8)
    assert set(table["note"]) == {""}
    assert (table["n_pos"] == 3).all() and (table["n"] == 8).all()


def test_f1_is_for_the_positive_class_not_a_macro_average():
    occurrence = np.array([0] * 9 + [1])
    predicted = np.zeros(10, dtype=int)
    values = as_dict(occurrence_metrics(occurrence, predicted))
    assert values["f1"] == 0.0  # macro over classes would report ~0.47
    assert values["accuracy"] == pytest.approx(0.9)


def test_false_alarms_on_a_fold_without_the_au_count_as_f1_zero():
    # No positive frame, one false alarm: 2TP / (2TP + FP + FN) = 0 / 1 = 0, not undefined.
    table = occurrence_metrics(np.zeros(6, dtype=int), np.array([0, 1, 0, 0, 0, 0]), np.arange(6))
    values, why = as_dict(table), notes(table)
    assert values["f1"] == 0.0 and values["precision"] == 0.0 and values["recall"] == 0.0
    assert "frames predicted positive" in why["f1"]
    for metric in ("roc_auc", "pr_auc", "balanced_accuracy"):
        assert np.isnan(values[metric])
        assert "no positive frames" in why[metric]
    assert values["accuracy"] == pytest.approx(5 / 6)
    assert values["base_rate"] == 0.0


def test_a_fold_with_neither_positives_nor_alarms_leaves_f1_undefined():
    table = occurrence_metrics(np.zeros(5, dtype=int), np.zeros(5, dtype=int))
    values, why = as_dict(table), notes(table)
    for metric in ("f1", "precision", "recall"):
        assert np.isnan(values[metric])
        assert why[metric] == "no positive frames and none predicted"
    assert values["accuracy"] == 1.0


def test_missed_positives_with_nothing_predicted_count_as_zero():
    # TP 0, FP 0, FN 2: F1 = 0 / 2 = 0; precision 0/0 counted as 0 because the AU was there.
    table = occurrence_metrics(np.array([1, 0, 1, 0]), np.zeros(4, dtype=int))
    values = as_dict(table)
    assert values["f1"] == 0.0 and values["precision"] == 0.0 and values["recall"] == 0.0
    assert notes(table)["precision"] == "no frame predicted positive: counted as 0"


@pytest.mark.parametrize(
    ("occurrence", "predicted", "expected"),
    [
        # TP 2, FP 1, FN 1: P 2/3, R 2/3, F1 4/6
        ([1, 1, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0], (4 / 6, 2 / 3, 2 / 3)),
        # TP 1, FP 3, FN 0: P 1/4, R 1, F1 2/5
        ([1, 0, 0, 0, 0], [1, 1, 1, 1, 0], (2 / 5, 1 / 4, 1.0)),
        # TP 0, FP 2, FN 0 (no positives): all 0
        ([0, 0, 0, 0], [1, 0, 1, 0], (0.0, 0.0, 0.0)),
    ],
)
def test_f1_precision_recall_hand_counts(occurrence, predicted, expected):
    values = as_dict(occurrence_metrics(np.array(occurrence), np.array(predicted)))
    assert (values["f1"], values["precision"], values["recall"]) == pytest.approx(expected)


def test_missing_scores_leave_ranking_metrics_undefined():
    table = occurrence_metrics(np.array([1, 0, 1, 0]), np.array([1, 0, 0, 0]))
    assert np.isnan(as_dict(table)["roc_auc"]) and notes(table)["roc_auc"] == "no scores"
    assert np.isnan(as_dict(table)["pr_auc"]) and notes(table)["pr_auc"] == "no scores"


def test_icc_3_1_reproduces_shrout_and_fleiss():
    assert icc_3_1(SHROUT_FLEISS) == pytest.approx(0.71, abs=0.005)


def test_icc_3_1_ignores_a_constant_offset_between_raters():
    truth = np.array([0.0, 1, 3, 2, 5, 4])
    assert icc_3_1(np.column_stack([truth, truth + 1.5])) == pytest.approx(1.0)


def test_intensity_metrics_values():
    intensity = np.array([0, 1, 2, 3, 4, 5])
    predicted = np.array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5])
    table = intensity_metrics(intensity, predicted)
    values = as_dict(table)
    assert list(table["metric"]) == list(INTENSITY_METRICS)
    assert values["icc3_1"] == pytest.approx(1.0)
    assert values["pearson_r"] == pytest.approx(1.0)
    assert values["mae"] == pytest.approx(0.5)
    assert (table["n_pos"] == 4).all()


def test_pearson_of_constant_predictions_is_nan_with_a_reason():
    table = intensity_metrics(np.array([0, 1, 2, 3]), np.full(4, 1.0))
    assert np.isnan(as_dict(table)["pearson_r"])
    assert notes(table)["pearson_r"] == "predicted intensity constant in this fold"
    assert as_dict(table)["mae"] == pytest.approx(1.0)


@pytest.fixture
def scored():
    labels = pd.DataFrame(
        {
            "subject": ["a"] * 4 + ["b"] * 4,
            "frame": [1, 2, 3, 4] * 2,
            "AU01": [0, 3, 2, 1, 0, 0, 4, 5],
            "AU02": [0, 0, 0, 1, 0, 1, 0, 0],  # never reaches the threshold of 2
        }
    )
    predictions = pd.DataFrame(
        {
            "subject": ["b"] * 4 + ["a"] * 4,  # row order differs from labels: joined on keys
            "frame": [1, 2, 3, 4] * 2,
            "AU01_c": [0, 1, 1, 1, 0, 1, 0, 0],
            "AU01_r": [0.0, 0, 4, 5, 0, 3, 2, 1],
            "AU02_c": [0, 0, 0, 0, 0, 0, 0, 1],
            "AU02_p": [0.1, 0.2, 0.1, 0.2, 0.1, 0.3, 0.2, 0.9],
        }
    )
    return score_predictions(predictions, labels, aus=[1, 2], threshold=2)


def test_score_predictions_per_au_values(scored):
    au1 = scored[scored["au"] == 1].set_index("metric")
    # AU01 occurrence, frames a1..a4 b1..b4: true 0 1 1 0 0 0 1 1; predicted 0 1 0 0 0 1 1 1
    assert au1.loc["precision", "value"] == pytest.approx(3 / 4)
    assert au1.loc["recall", "value"] == pytest.approx(3 / 4)
    assert au1.loc["f1", "value"] == pytest.approx(3 / 4)
    assert au1.loc["mae", "value"] == pytest.approx(0.0)
    assert au1.loc["icc3_1", "value"] == pytest.approx(1.0)
    assert (au1["n_pos"] == 4).all() and (au1["n"] == 8).all()
    assert np.isnan(au1.loc["roc_auc", "value"])  # no AU01_p column
    au2 = scored[scored["au"] == 2].set_index("metric")
    # AU02 never occurs, but frame a4 was predicted: a false alarm, F1 = 0
    assert au2.loc["f1", "value"] == 0.0
    assert "frames predicted positive" in au2.loc["f1", "note"]
    assert "mae" not in au2.index  # no AU02_r column


def test_score_predictions_columns(scored):
    assert list(scored.columns) == ["au", "metric", "value", "n_pos", "n", "note"]
    assert scored["au"].dtype == np.int64
    assert scored.groupby("au").size().to_dict() == {0: 11, 1: 11, 2: 8}


def test_macro_average_row_averages_the_defined_values(scored):
    macro = scored[scored["au"] == 0].set_index("metric")
    assert macro.loc["accuracy", "value"] == pytest.approx((6 / 8 + 7 / 8) / 2)
    assert macro.loc["accuracy", "note"] == "mean over 2 of 2 AUs"
    # AU02's false alarm counts: (3/4 + 0) / 2; its undefined ROC-AUC is left out
    assert macro.loc["f1", "value"] == pytest.approx(3 / 8)
    assert macro.loc["f1", "note"] == "mean over 2 of 2 AUs"
    assert macro.loc["roc_auc", "note"] == "undefined for every one of the 2 AUs"
    assert macro.loc["mae", "note"] == "mean over 1 of 1 AUs"


def test_score_predictions_rejects_frames_without_labels():
    labels = pd.DataFrame({"subject": ["a"], "frame": [1], "AU01": [3]})
    predictions = pd.DataFrame({"subject": ["a", "a"], "frame": [1, 2], "AU01_c": [1, 0]})
    with pytest.raises(ValueError, match="a frame 2"):
        score_predictions(predictions, labels, aus=[1])
