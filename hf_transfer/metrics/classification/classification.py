"""Single-label classification metrics as an `evaluate` module.

Accuracy, macro precision/recall/F1, per-class precision/recall/F1/support and the
confusion matrix, from one pass over predictions. Written with numpy rather than
loading `evaluate`'s accuracy/f1 modules (Hub downloads) or adding scikit-learn
as a dependency for four lines of arithmetic.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Accuracy, macro-averaged precision, recall and F1, per-class scores and the confusion matrix."
_KWARGS = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): true class ids.
    num_labels (int, optional): number of classes (default: 1 + the largest id seen).
Returns:
    accuracy, macro_precision, macro_recall, macro_f1 (floats);
    per_class_precision, per_class_recall, per_class_f1, per_class_support (lists);
    confusion_matrix (list of lists, rows = true class, columns = predicted class).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Classification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, num_labels=None):
        return scores(predictions, references, num_labels)


def scores(predictions, references, num_labels=None) -> dict:
    """The metric's figures from label ids with plain numpy (also used directly where thousands of resamples
    are scored, e.g. the paired bootstrap of ``hf-transfer evaluate --against``)."""
    pred = np.asarray(predictions, dtype=np.int64)
    ref = np.asarray(references, dtype=np.int64)
    n = int(num_labels or (max(pred.max(initial=-1), ref.max(initial=-1)) + 1))
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (ref, pred), 1)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros(n), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(n), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n), where=denom > 0)
    # Macro averages over the classes the data or the predictions hold, as scikit-learn's: a class absent from
    # both has no precision, recall or F1 to average (a 0 there would pull macro F1 down on a small test set
    # that lacks some classes: one row, right, scored 1/6 for 6 classes).
    present = (support > 0) | (predicted > 0)
    if not present.any():
        present = np.ones(n, dtype=bool)
    return {
        "accuracy": float(tp.sum() / max(len(ref), 1)),
        "macro_precision": float(precision[present].mean()) if n else 0.0,
        "macro_recall": float(recall[present].mean()) if n else 0.0,
        "macro_f1": float(f1[present].mean()) if n else 0.0,
        "per_class_precision": precision.tolist(),
        "per_class_recall": recall.tolist(),
        "per_class_f1": f1.tolist(),
        "per_class_support": support.astype(int).tolist(),
        "confusion_matrix": cm.tolist(),
    }
