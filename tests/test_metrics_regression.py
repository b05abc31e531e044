"""The regression metric module against values computed by hand (and scikit-learn/scipy where installed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hf_transfer.metrics import load_metric


@pytest.fixture(scope="module")
def metric():
    return load_metric("regression")


def test_one_target_by_hand(metric):
    # err = [0, -1, 1, -1]; truth mean 2.75, SS_tot = 8.75; centred pred [-1.5, -.5, .5, 1.5], truth
    # [-1.75, .25, -.75, 2.25]: covariance sum 5.5; ranks of truth [1, 3, 2, 4]
    out = metric.compute(predictions=[[1.0], [2.0], [3.0], [4.0]], references=[[1.0], [3.0], [2.0], [5.0]])
    assert out["mae"] == pytest.approx(0.75)
    assert out["rmse"] == pytest.approx(math.sqrt(0.75))
    assert out["r2"] == pytest.approx(1 - 3 / 8.75)
    assert out["pearson"] == pytest.approx(5.5 / math.sqrt(5 * 8.75))
    assert out["spearman"] == pytest.approx(4 / 5)
    assert set(out["per_target"]) == {"target_0"} and "mae_target_0" not in out


def test_ties_constant_sides_and_several_targets(metric):
    from hf_transfer.metrics.regression.regression import _ranks, scores

    assert _ranks(np.array([3.0, 1.0, 1.0, 2.0])).tolist() == [4.0, 1.5, 1.5, 3.0]
    constant = scores([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert constant["r2"] == 0.0 and math.isnan(constant["pearson"]) and math.isnan(constant["spearman"])
    assert scores([2.0, 2.0], [2.0, 2.0])["r2"] == 1.0
    rounded = scores([0.5, 0.7, 0.6], [0.06, 0.06 + 1e-17, 0.06 - 1e-17])  # constant up to float rounding
    assert rounded["r2"] == 0.0 and math.isnan(rounded["pearson"])
    out = metric.compute(
        predictions=[[1.0, 10.0], [2.0, 20.0], [3.0, 31.0]],
        references=[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]],
        names=["valence", "arousal"],
    )
    assert out["mae_valence"] == 0.0 and out["mae_arousal"] == pytest.approx(1 / 3)
    assert out["mae"] == pytest.approx(1 / 6)  # the mean over targets
    assert out["per_target"]["arousal"]["rmse"] == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match="differ in shape"):
        scores([[1.0, 2.0]], [[1.0]])


def test_agrees_with_scikit_learn_and_scipy():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    stats = pytest.importorskip("scipy.stats")
    from hf_transfer.metrics.regression.regression import scores

    rng = np.random.default_rng(0)
    truth = rng.normal(size=(200, 2))
    pred = truth + rng.normal(size=(200, 2)) * 0.7
    pred[:20, 0] = pred[0, 0]  # ties
    out = scores(pred, truth, ["a", "b"])
    for j, name in enumerate("ab"):
        assert out[f"r2_{name}"] == pytest.approx(sklearn_metrics.r2_score(truth[:, j], pred[:, j]))
        assert out[f"mae_{name}"] == pytest.approx(sklearn_metrics.mean_absolute_error(truth[:, j], pred[:, j]))
        assert out[f"pearson_{name}"] == pytest.approx(stats.pearsonr(pred[:, j], truth[:, j])[0])
        assert out[f"spearman_{name}"] == pytest.approx(stats.spearmanr(pred[:, j], truth[:, j])[0])
