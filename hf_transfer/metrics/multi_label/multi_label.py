"""Multi-label classification metrics as an `evaluate` module.

From per-label probabilities (sigmoid outputs), the true multi-hot labels and per-label decision thresholds:
micro/macro/samples F1, subset accuracy (exact match), Hamming loss, mean average precision and per-label
precision/recall/F1/support. Plain numpy, like the single-label module (no Hub download, no scikit-learn).

Conventions (where libraries differ): a row whose true and predicted label sets are both empty scores F1 1 in
``samples_f1`` (an empty set is a real answer); a label never predicted has precision 0 and a label without
positives recall 0 (scikit-learn's ``zero_division=0``); ``mean_average_precision`` averages scikit-learn's
``average_precision_score`` over the labels that have positives.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Micro/macro/samples F1, subset accuracy, Hamming loss, mean average precision, per-label scores."
_KWARGS = """
Args:
    predictions (list of list of float): per-label probabilities, one row per example.
    references (list of list of int): true multi-hot labels (0/1), one row per example.
    thresholds (list of float): a label is predicted when its probability is >= its threshold (default 0.5 each).
Returns:
    micro_f1, micro_precision, micro_recall, macro_f1, samples_f1, subset_accuracy, hamming_loss,
    mean_average_precision (floats); per_label_precision, per_label_recall, per_label_f1, per_label_support,
    per_label_average_precision (lists).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class MultiLabel(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Sequence(datasets.Value("int64")),
                }
            ),
        )

    def _compute(self, predictions, references, thresholds=None):
        return scores(predictions, references, thresholds)


def _divide(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def average_precision(scores_, truth) -> float:
    """scikit-learn's ``average_precision_score`` of one label: sum over score thresholds of
    (recall_n - recall_{n-1}) * precision_n; NaN without positives."""
    s = np.asarray(scores_, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.where(np.diff(s))[0], len(s) - 1]  # the last row of each run of equal scores
    tps = np.cumsum(y)[last]
    fps = last + 1 - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def scores(predictions, references, thresholds=None) -> dict:
    """The metric's figures with plain numpy (also used directly to tune thresholds)."""
    prob = np.asarray(predictions, dtype=np.float64)
    truth = np.asarray(references, dtype=np.int64).astype(bool)
    if prob.ndim == 1:
        prob = prob.reshape(len(prob), -1)
        truth = truth.reshape(len(truth), -1)
    n_labels = prob.shape[1]
    t = np.full(n_labels, 0.5) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    pred = prob >= t
    tp = (pred & truth).sum(0)
    fp = (pred & ~truth).sum(0)
    fn = (~pred & truth).sum(0)
    precision = _divide(tp, tp + fp)
    recall = _divide(tp, tp + fn)
    f1 = _divide(2 * precision * recall, precision + recall)
    micro_p = _divide(tp.sum(), tp.sum() + fp.sum())
    micro_r = _divide(tp.sum(), tp.sum() + fn.sum())
    row_tp = (pred & truth).sum(1)
    row_sizes = pred.sum(1) + truth.sum(1)
    samples = np.where(row_sizes == 0, 1.0, _divide(2 * row_tp, row_sizes))
    ap = np.array([average_precision(prob[:, j], truth[:, j]) for j in range(n_labels)])
    rows = max(len(prob), 1)
    return {
        "micro_f1": float(_divide(2 * tp.sum(), 2 * tp.sum() + fp.sum() + fn.sum())),
        "micro_precision": float(micro_p),
        "micro_recall": float(micro_r),
        "macro_f1": float(f1.mean()) if n_labels else 0.0,
        "samples_f1": float(samples.mean()) if len(prob) else 0.0,
        "subset_accuracy": float((pred == truth).all(1).sum() / rows),
        "hamming_loss": float((pred != truth).sum() / max(pred.size, 1)),
        "mean_average_precision": float(np.nanmean(ap)) if np.isfinite(ap).any() else 0.0,
        "per_label_precision": precision.tolist(),
        "per_label_recall": recall.tolist(),
        "per_label_f1": f1.tolist(),
        "per_label_support": truth.sum(0).astype(int).tolist(),
        "per_label_average_precision": [None if np.isnan(v) else float(v) for v in ap],
    }
