"""The classification metric module against scikit-learn, and its macro averages on data that lacks classes."""

from __future__ import annotations

import numpy as np
import pytest

from hf_transfer.metrics.classification.classification import scores


def test_macro_averages_match_scikit_learn_over_the_classes_present():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 4, 200)  # classes 0-3 in the data, 4-5 neither there nor predicted
    pred = np.where(rng.random(200) < 0.7, ref, rng.integers(0, 5, 200))  # 4 predicted but absent: F1 0, counted
    out = scores(pred, ref, num_labels=6)
    for name, fn in (
        ("precision", metrics.precision_score),
        ("recall", metrics.recall_score),
        ("f1", metrics.f1_score),
    ):
        assert out[f"macro_{name}"] == pytest.approx(fn(ref, pred, average="macro", zero_division=0))
    assert out["accuracy"] == pytest.approx(metrics.accuracy_score(ref, pred))
    assert len(out["per_class_f1"]) == 6 and out["per_class_support"][4:] == [0, 0]


def test_one_right_row_of_six_classes_scores_one_not_one_sixth():
    out = scores([2], [2], num_labels=6)
    assert out["accuracy"] == 1.0 and out["macro_f1"] == 1.0 and out["macro_precision"] == 1.0


def test_evaluation_notes_leave_out_classes_neither_in_the_data_nor_predicted():
    from hf_transfer.tasks.text_classification import TextClassification

    per_class = {
        "a": {"f1": 0.5, "support": 4},
        "b": {"f1": 0.9, "support": 6},
        "c": {"f1": 0.0, "support": 0},  # predicted once: a real false positive, kept among the weakest
        "d": {"f1": 0.0, "support": 0},  # absent from both
    }
    matrix = [[2, 1, 1, 0], [0, 6, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    weakest, absent = TextClassification().evaluation_notes(per_class, matrix)
    assert weakest.startswith("Weakest classes by F1: c 0.000 (support 0), a 0.500") and " d " not in weakest
    assert absent == "1 class neither in this data nor predicted, left out of the macro averages: d"
