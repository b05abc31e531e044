"""Regression metrics as an `evaluate` module.

From predicted and true values (one column per target): MAE, RMSE, R², Pearson and Spearman correlation, per
target and averaged over the targets. Plain numpy, like the classification modules (no Hub download, no
scikit-learn or scipy at run time).

Conventions (where libraries differ): R² is scikit-learn's ``r2_score`` (1 - SS_res / SS_tot) with its
``force_finite=True`` rule for a constant truth (1 for exact predictions, else 0); Pearson and Spearman are NaN
where either side is constant (scipy's convention); Spearman gives ties their average rank (scipy's
``spearmanr``).
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "MAE, RMSE, R², Pearson and Spearman correlation per target and averaged over targets."
_KWARGS = """
Args:
    predictions (list of list of float): predicted values, one row per example, one column per target.
    references (list of list of float): true values, same shape.
    names (list of str): target names, for the per-target keys (default: target_0, target_1, ...).
Returns:
    mae, rmse, r2, pearson, spearman (floats, the mean over targets) and, with several targets, the same per
    target as ``<metric>_<name>``; ``per_target``: {name: {metric: value}}.
"""
METRICS = ("mae", "rmse", "r2", "pearson", "spearman")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Regression(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("float64")),
                }
            ),
        )

    def _compute(self, predictions, references, names=None):
        return scores(predictions, references, names)


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0  # mean of ranks s+1 … e
    return ranks


def _constant(x: np.ndarray) -> bool:
    """Constant up to float rounding (e.g. values standardised and back)."""
    return float(((x - x.mean()) ** 2).sum()) <= len(x) * (1e-12 * max(1.0, abs(float(x.mean())))) ** 2


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if _constant(a) or _constant(b):
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def target_scores(pred, truth) -> dict[str, float]:
    """The five figures of one target."""
    pred, truth = np.asarray(pred, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    err = pred - truth
    ss_res = float((err * err).sum())
    ss_tot = float(((truth - truth.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if not _constant(truth) else (1.0 if ss_res == 0 else 0.0)
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err * err).mean())),
        "r2": r2,
        "pearson": _pearson(pred, truth),
        "spearman": _pearson(_ranks(pred), _ranks(truth)),
    }


def scores(predictions, references, names=None) -> dict:
    """The metric's figures with plain numpy."""
    pred = np.asarray(predictions, dtype=np.float64)
    truth = np.asarray(references, dtype=np.float64)
    if pred.ndim == 1:
        pred, truth = pred[:, None], truth[:, None]
    if pred.shape != truth.shape:
        raise ValueError(f"predictions {pred.shape} and references {truth.shape} differ in shape")
    names = list(names) if names is not None else [f"target_{j}" for j in range(pred.shape[1])]
    per_target = {name: target_scores(pred[:, j], truth[:, j]) for j, name in enumerate(names)}
    out: dict = {m: float(np.mean([t[m] for t in per_target.values()])) for m in METRICS}
    if len(names) > 1:
        out.update({f"{m}_{name}": t[m] for name, t in per_target.items() for m in METRICS})
    out["per_target"] = per_target
    return out
