"""Task ``multi-label-classification``: any number of labels per example (none included), text or images.

The modality follows the backbone: a text backbone gets ``text-classification``'s preprocessing, an image
backbone ``image-classification``'s (augmentation included); this task delegates to them and adds what
several labels per example change: labels are multi-hot float vectors, the model's ``problem_type`` is
``multi_label_classification`` (transformers then computes BCE-with-logits and ``pipeline()`` applies a
sigmoid), metrics are the multi-label ones (:mod:`hf_transfer.metrics.multi_label`), and a label is predicted
when its probability reaches its decision threshold. The thresholds (``task.threshold``: one for every label,
or ``tune``: per label, the one with the best F1 on the validation split after training) are saved in the
model's ``config.json`` under ``hf_transfer.thresholds`` ({label: threshold}); :func:`predicted_labels` applies them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from .. import class_weights as class_weighting
from ..errors import DataError
from ..registry import TASKS
from ..schema import field
from . import ClassificationTask, label_name, scored_label_type
from ._modality import FollowsBackbone
from .image_classification import ImageClassification

logger = logging.getLogger("hf_transfer")
TUNE = "tune"
PRIOR = "prior"
HEAD_BIASES = (PRIOR, "zero")
DEFAULT_THRESHOLD = 0.5
LIKELY_SEPARATORS = (";", "|", ",", "/")
SCALAR_METRICS = (
    "micro_f1",
    "macro_f1",
    "samples_f1",
    "subset_accuracy",
    "hamming_loss",
    "mean_average_precision",
    "micro_precision",
    "micro_recall",
)
# Why the task's defaults are what they are (issue #12; benchmarks/README.md, "Multi-label"), for the run's record.
DEFAULTS_REASON = {
    "threshold": "tune is the multi-label task's default (task.threshold: 0.5 for one fixed threshold): per-label "
    "thresholds raised macro F1 in every measured run (rare labels rarely reach 0.5)",
}


def predicted_labels(config: Any, logits: Any) -> list[list[str]]:
    """The label sets a multi-label model predicts for a batch of logits, with the thresholds saved in its
    ``config.hf_transfer`` (0.5 for a label without one)."""
    import torch

    thresholds = _saved_thresholds(config)
    probs = torch.as_tensor(logits).float().sigmoid()
    names = [config.id2label[i] for i in range(probs.shape[-1])]
    t = torch.tensor([thresholds.get(n, DEFAULT_THRESHOLD) for n in names])
    return [[n for n, hit in zip(names, row) if hit] for row in (probs >= t).tolist()]


def output_layer(model: Any, head_param_names: set[str], num_labels: int) -> Any | None:
    """The head's last Linear layer with ``num_labels`` outputs and a bias (the logits), or None."""
    import torch

    found = None
    for name, module in model.named_modules():
        if (
            isinstance(module, torch.nn.Linear)
            and module.out_features == num_labels
            and module.bias is not None
            and f"{name}.bias" in head_param_names
        ):
            found = module
    return found


def _saved_thresholds(config: Any) -> dict[str, float]:
    section = config.get("hf_transfer") if isinstance(config, dict) else getattr(config, "hf_transfer", None)
    return dict((section or {}).get("thresholds") or {})


def tune_thresholds(probs: Any, truth: Any, default: float = DEFAULT_THRESHOLD) -> list[float]:
    """Per label, the threshold with the best F1 on (probabilities, multi-hot truth): the midpoint between the
    last probability predicted positive and the next one (ties broken towards fewer positives); ``default``
    for a label without positives."""
    import numpy as np

    probs, truth = np.asarray(probs, dtype=np.float64), np.asarray(truth) > 0.5
    out = []
    for j in range(probs.shape[1]):
        s, y = probs[:, j], truth[:, j]
        if not y.any():
            out.append(default)
            continue
        order = np.argsort(-s, kind="mergesort")
        s, y = s[order], y[order]
        last = np.r_[np.where(np.diff(s))[0], len(s) - 1]  # cut only between distinct probabilities
        tp = np.cumsum(y)[last]
        f1 = 2 * tp / (last + 1 + y.sum())
        k = int(last[int(np.argmax(f1))])
        below = s[k + 1] if k + 1 < len(s) else 0.0
        out.append(float((s[k] + below) / 2))
    return out


@TASKS.register("multi-label-classification")
@dataclass
class MultiLabelClassification(FollowsBackbone, ClassificationTask):
    threshold: float | Literal["tune"] = field(
        TUNE,
        help="a label is predicted when its probability reaches this (0 < t < 1), or tune (default): per label, the "
        "threshold with the best F1 on the validation split (saved with the model)",
    )
    max_length: int | None = field(
        None, help="text backbones: truncate inputs to this many tokens (default: the backbone's limit, at most 512)"
    )
    augment: bool = field(
        True, help="image backbones: random resized crop (and flip, colour jitter) on training images"
    )
    crop_scale: list[float] | Literal["auto"] = field(
        "auto", help="image backbones: area range of the random resized crop (see image-classification)"
    )
    horizontal_flip: bool = field(True, help="image backbones: flip training images left-right at random")
    color_jitter: float = field(0.0, help="image backbones: random brightness, contrast and saturation change")
    head_bias: Literal["prior", "zero"] = field(
        PRIOR,
        help="the new head's starting bias: prior (each label's log-odds on the training split, so training starts "
        "from the label frequencies instead of p=0.5 everywhere) or zero (the head's own initialisation)",
    )

    problem_type = "multi_label_classification"
    takes_label_lists = True
    probe_metric = "micro_f1"
    primary_metric = "micro_f1"
    summary_metrics = SCALAR_METRICS
    bootstrap_metrics = ("micro_f1", "macro_f1", "samples_f1")
    default_top_k = None  # predict writes every label's sigmoid score
    accuracy_name = "subset accuracy"  # the whole label set right
    decision_options = ("threshold",)  # applied to the logits after training: the feature cache stays valid
    preprocessing_version: ClassVar[int] = ImageClassification.preprocessing_version

    def __post_init__(self) -> None:
        FollowsBackbone.__post_init__(self)
        self._thresholds: list[float] | None = None  # tuned on validation (threshold: tune), in label-id order

    # --- options ------------------------------------------------------------------------------------------

    def validate(self, prefix: str) -> list[str]:
        problems = super().validate(prefix)
        t = self.threshold
        if t != TUNE and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1 or math.isnan(t)):
            problems.append(
                f"'{prefix}.threshold' must be a probability strictly between 0 and 1, or tune, found {t!r}; "
                f"fix: {prefix}.threshold=0.5, or {prefix}.threshold=tune (per label, best F1 on validation)"
            )
        return problems + self.modality_problems(prefix)

    def init_head(self, bundle: Any, data) -> dict[str, Any] | None:
        """``head_bias: prior``: the output layer's bias starts at each label's log-odds on the training split
        (smoothed: (positives + 0.5) / (rows + 1)), as RetinaNet's prior initialisation. A fresh head predicts p=0.5
        for every label; with labels present in a few percent of rows the first epoch then goes into learning the
        label frequencies (the model predicts nothing for a while). Not for a stream (its labels are not read
        ahead)."""
        if self.head_bias != PRIOR or data.streamed:
            return None
        import numpy as np
        import torch

        layer = output_layer(bundle.model, bundle.head_param_names, len(data.labels))
        if layer is None:
            logger.warning("head_bias prior: no output layer with a bias found in the head; keeping its initialisation")
            return None
        y = np.asarray(data.train.with_format("numpy")["label"], dtype=np.float64).reshape(len(data.train), -1)
        p = (y.sum(0) + 0.5) / (len(y) + 1.0)
        bias = np.log(p / (1 - p))
        with torch.no_grad():
            layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype))
        logger.info(
            "head bias started at the training label priors' log-odds (head_bias prior): %s",
            ", ".join(f"{n} {b:+.2f}" for n, b in list(zip(data.labels, bias))[:20]),
        )
        return {
            "head_bias": PRIOR,
            "reason": "each label's log-odds on the training split ((positives + 0.5) / (rows + 1)): training starts "
            "from the label frequencies instead of p=0.5 for every label",
            "bias": {n: round(float(b), 4) for n, b in zip(data.labels, bias)},
        }

    def thresholds(self, num_labels: int) -> list[float]:
        """The decision thresholds now in force, in label-id order."""
        if self._thresholds is not None and len(self._thresholds) == num_labels:
            return list(self._thresholds)
        return [DEFAULT_THRESHOLD if self.threshold == TUNE else float(self.threshold)] * num_labels

    # --- labels -------------------------------------------------------------------------------------------

    def label_encoder(self):
        return encode_label_sets

    def resolve_class_weights(self, data) -> dict[str, Any] | None:
        """BCE ``pos_weight`` per label: auto = negatives / positives on the training split (1 for a label without
        positives); a mapping gives a label's pos_weight (labels not listed: 1)."""
        if self.class_weights is None:
            return None
        if self.class_weights != class_weighting.AUTO:
            resolved = class_weighting.resolve(self.class_weights, data.labels, ())
            resolved["how"] = "BCE pos_weight per label, from the recipe (labels not listed: 1)"
            return resolved
        import numpy as np

        y = np.asarray(data.train.with_format("numpy")["label"]).reshape(len(data.train), -1)
        positives = y.sum(0)
        negatives = len(y) - positives
        weights = [float(n / p) if p else 1.0 for p, n in zip(positives, negatives)]
        return {
            "mode": class_weighting.AUTO,
            "formula": "negatives / positives per label (BCE pos_weight)",
            "how": "auto: BCE pos_weight = negatives / positives per label on the training split",
            "weights": dict(zip(data.labels, weights)),
            "train_counts": dict(zip(data.labels, positives.astype(int).tolist())),
        }

    def batch_loss(
        self, logits: Any, labels: Any, weights: list[float] | None = None, label_smoothing: float = 0.0
    ) -> Any:
        """Mean binary cross-entropy with logits over every (example, label); ``weights`` are the per-label
        ``pos_weight`` (a positive of label j counts weights[j] times), as torch's ``BCEWithLogitsLoss``."""
        import torch

        pos_weight = None
        if weights is not None:
            pos_weight = torch.as_tensor(weights, dtype=torch.float32, device=logits.device)
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits.float(), labels.float(), pos_weight=pos_weight
        )

    def probe_score(self, logits: Any, labels: Any) -> float:
        """Micro F1 at the global threshold (the L-BFGS fit's L2 strength is picked by it)."""
        pred = logits.float().sigmoid() >= self.thresholds(logits.shape[1])[0]
        truth = labels > 0.5
        tp = (pred & truth).sum().item()
        denominator = pred.sum().item() + truth.sum().item()
        return 2 * tp / denominator if denominator else 1.0

    def training_defaults(self) -> dict[str, Any]:
        return {**self.delegate.training_defaults(), "metric_for_best_model": "micro_f1"}

    # --- metrics and decisions -----------------------------------------------------------------------------

    def _scores(self, logits: Any, label_ids: Any) -> dict[str, Any]:
        import numpy as np

        from ..metrics import load_metric

        logits = np.asarray(logits[0] if isinstance(logits, tuple) else logits, dtype=np.float64)
        probs = 1 / (1 + np.exp(-logits))
        references = (np.asarray(label_ids) > 0.5).astype(np.int64)
        return load_metric("multi_label").compute(
            predictions=probs, references=references, thresholds=self.thresholds(probs.shape[1])
        )

    def compute_metrics(self, num_labels: int):
        def compute(eval_pred) -> dict[str, float]:
            report = self._scores(eval_pred.predictions, eval_pred.label_ids)
            return {k: report[k] for k in SCALAR_METRICS}

        return compute

    def classification_report(self, prediction: Any, labels: list[str]) -> dict[str, Any]:
        report = self._scores(prediction.predictions, prediction.label_ids)
        thresholds = self.thresholds(len(labels))
        per_class = {
            name: {
                "precision": report["per_label_precision"][i],
                "recall": report["per_label_recall"][i],
                "f1": report["per_label_f1"][i],
                "support": report["per_label_support"][i],
                "average_precision": report["per_label_average_precision"][i],
                "threshold": thresholds[i],
            }
            for i, name in enumerate(labels)
        }
        return {**{k: report[k] for k in SCALAR_METRICS}, "per_class": per_class}

    def calibrate(self, prediction: Any, labels: list[str]) -> dict[str, Any] | None:
        """``threshold: tune``: per-label thresholds with the best F1 on these (validation) predictions."""
        if self.threshold != TUNE:
            return None
        import numpy as np

        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        probs = 1 / (1 + np.exp(-np.asarray(logits, dtype=np.float64)))
        self._thresholds = tune_thresholds(probs, prediction.label_ids)
        shown = ", ".join(f"{n} {t:.3f}" for n, t in list(zip(labels, self._thresholds))[:20])
        logger.info("decision thresholds tuned on validation (best F1 per label): %s", shown)
        return {
            "threshold": TUNE,
            "reason": DEFAULTS_REASON["threshold"],
            "thresholds": dict(zip(labels, self._thresholds)),
        }

    def decision_config(self, labels: list[str]) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "thresholds": dict(zip(labels, self.thresholds(len(labels)))),
        }

    # --- using a trained model ---------------------------------------------------------------------------

    def inference_processor(self, folder) -> Any:
        """The delegate's processor (bound from the saved architecture), and the saved thresholds in force."""
        import json
        from pathlib import Path

        processor = FollowsBackbone.inference_processor(self, folder)
        config = json.loads((Path(folder) / "config.json").read_text())
        saved = _saved_thresholds(config)
        id2label = {int(k): v for k, v in (config.get("id2label") or {}).items()}
        if saved:
            self._thresholds = [saved.get(id2label[i], DEFAULT_THRESHOLD) for i in sorted(id2label)]
        return processor

    def prediction_fields(self, top_k: int | None) -> list[str]:
        return ["labels", "scores"]

    def prediction_arrow_types(self, top_k: int | None, id2label: dict[int, str]) -> dict[str, Any]:
        import pyarrow as pa

        return {"labels": pa.list_(pa.string()), "scores": pa.list_(scored_label_type())}

    def prepared_label(self, value: Any, labels: list[str]) -> Any:
        return [name for name, v in zip(labels, value) if v >= 0.5]  # the multi-hot vector's label set

    def label_problem(self, value: Any) -> str | None:
        """A label set per row: a missing one (null, a missing key, a cell a short CSV row lacks) is not the empty
        set, which is written ``[]`` (an empty list) or, in a column of delimited labels, as an empty string (an
        empty CSV cell), as training reads it."""
        if value is None or (isinstance(value, float) and value != value):
            return (
                "has no labels value (null or a missing key); a row with no labels holds an empty list, [], or an "
                "empty string where the labels are delimited"
            )
        if isinstance(value, bool):
            return f"has a bool label ({value}), not a list of labels"
        return None

    def evaluation_targets(self, values, labels, model, separator=None, column="label", data="the data"):
        """Each row's label set (a list, or a string split at ``separator``) as a multi-hot vector; the truth
        written per row is ``true_labels``, the list."""
        import numpy as np

        from . import unknown_labels_error

        # "[]" in a CSV cell (as predict writes lists into CSV): the explicit empty set
        values = [[] if isinstance(v, str) and v.strip() == "[]" else v for v in values]
        try:
            sets = _label_sets(list(values), data, column, separator, None, "files")
        except DataError as e:  # the same parsing as training, but evaluate takes the separator as an option
            raise DataError(str(e).replace("set data.label_separator=", "pass --label-separator ")) from None
        unknown_labels_error({label for row in sets for label in row} - set(labels), labels, model)
        index = {name: i for i, name in enumerate(labels)}
        targets = np.zeros((len(sets), len(labels)), dtype=np.int64)
        for r, row in enumerate(sets):
            targets[r, [index[label] for label in row]] = 1
        return targets, [{"true_labels": row} for row in sets]

    def decisions(self, logits: Any) -> Any:
        """Multi-hot predicted label sets: a label where its sigmoid probability reaches its threshold."""
        import numpy as np

        logits = np.asarray(logits, dtype=np.float64)
        return (1 / (1 + np.exp(-logits)) >= np.asarray(self.thresholds(logits.shape[-1]))).astype(np.int64)

    def evaluation_scores(self, logits: Any, targets: Any) -> dict[str, float]:
        """The metric module's figures without its ``evaluate`` wrapper (a paired bootstrap calls this thousands
        of times)."""
        import numpy as np

        from ..metrics.multi_label.multi_label import scores

        probs = 1 / (1 + np.exp(-np.asarray(logits, dtype=np.float64)))
        report = scores(probs, (np.asarray(targets) > 0.5).astype(np.int64), self.thresholds(probs.shape[1]))
        return {k: report[k] for k in SCALAR_METRICS}

    def evaluate_report(self, logits: Any, targets: Any, labels: list[str]) -> dict[str, Any]:
        from types import SimpleNamespace

        report = self.classification_report(SimpleNamespace(predictions=logits, label_ids=targets), labels)
        return {
            "metrics": {k: report[k] for k in SCALAR_METRICS},
            "per_class": report["per_class"],
            "confusion_matrix": None,
        }

    def decision_code(self, id2label: dict[int, str], config: Any) -> list[str]:
        names = [id2label[i] for i in sorted(id2label)]
        thresholds = self.thresholds(len(names))
        return [
            "import numpy as np",
            f"names = {names!r}",
            f"thresholds = np.array({[round(t, 6) for t in thresholds]!r})  # config.json hf_transfer.thresholds",
            "probs = 1 / (1 + np.exp(-logits))  # a sigmoid per label",
            "labels = [[n for n, hit in zip(names, row) if hit] for row in probs >= thresholds]",
        ]

    def predictions(self, logits: Any, id2label: dict[int, str], top_k: int | None) -> list[dict[str, Any]]:
        """Per row: ``labels``, the predicted label set (probability >= the label's saved threshold), and
        ``scores``, the ``top_k`` most probable labels (every label when None) with their sigmoid probabilities."""
        import torch

        probs = logits.float().sigmoid()
        t = torch.tensor(self.thresholds(probs.shape[-1]))
        k = probs.shape[-1] if top_k is None else min(top_k, probs.shape[-1])
        values, indices = probs.topk(k, dim=-1)
        rows = []
        for hits, vals, idx in zip((probs >= t).tolist(), values.tolist(), indices.tolist()):
            rows.append(
                {
                    "labels": [label_name(id2label, i) for i, hit in enumerate(hits) if hit],
                    "scores": [{"label": label_name(id2label, i), "score": v} for i, v in zip(idx, vals)],
                }
            )
        return rows

    # --- the model card (hf_transfer.hub) --------------------------------------------------------------------

    card_scalars = (
        ("micro_f1", "micro F1"),
        ("macro_f1", "macro F1"),
        ("samples_f1", "samples F1"),
        ("subset_accuracy", "subset accuracy"),
        ("hamming_loss", "Hamming loss"),
        ("mean_average_precision", "mAP"),
        ("loss", "loss"),
    )
    card_index_metrics = (
        ("micro_f1", "f1", "Micro F1", {"average": "micro"}),
        ("macro_f1", "f1", "Macro F1", {"average": "macro"}),
        ("samples_f1", "f1", "Samples F1", {"average": "samples"}),
        ("subset_accuracy", "accuracy", "Subset accuracy (exact match)", None),
        ("hamming_loss", "hamming_loss", "Hamming loss", None),
        ("mean_average_precision", "mean_average_precision", "Mean average precision", {"average": "macro"}),
    )

    @classmethod
    def card_usage_notes(cls, usage) -> str:
        """Every label gets a sigmoid score; a label is predicted when it reaches its saved threshold."""
        how = (
            "tuned per label on the validation split (best F1)"
            if usage.options.get("threshold") == TUNE
            else "the recipe's `task.threshold`"
        )
        lines = [
            *usage.setup,
            "from transformers import AutoConfig, pipeline",
            "",
            f'thresholds = AutoConfig.from_pretrained("{usage.ref}").hf_transfer["thresholds"]  # label -> threshold',
            f'classifier = pipeline("{usage.pipeline_tag}", model="{usage.ref}", top_k=None)  # a sigmoid score for every label',
            f"scores = classifier({usage.example})",
            'print([s["label"] for s in scores if s["score"] >= thresholds[s["label"]]])',
        ]
        return (
            "This is a multi-label model: each label gets its own sigmoid score (they need not sum to 1), and a label "
            f"is predicted when its score reaches its decision threshold ({how}), saved in `config.json` under "
            "`hf_transfer.thresholds`. `hf-transfer predict` and `hf_transfer.tasks.multi_label_classification."
            "predicted_labels(model.config, logits)` apply them for you:\n\n" + usage.code(lines)
        )


# --- labels: a list per row, or a delimited string -------------------------------------------------------------


def _supported(source: str) -> str:
    return (
        "several labels per example come from a list-valued label column (JSON/JSONL/parquet files, a Hub dataset "
        "with Sequence(ClassLabel) or Sequence(Value('string')), an in-memory dataset), or a CSV/TSV column of "
        "delimited labels with data.label_separator (e.g. ';')"
        + (
            "; for images: an image folder with a metadata.jsonl holding file_name and a list of labels per image "
            '(e.g. {"file_name": "a.png", "labels": ["cat", "dog"]}), a Hub dataset or an in-memory dataset'
            if source in ("imagefolder", "hub", "memory")
            else ""
        )
    )


def _label_sets(
    values: list[Any], split: str, column: str, separator: str | None, names: list[str] | None, source: str
):
    """Each row's labels as a list of strings (an empty list for no label)."""
    strings = [v for v in values if isinstance(v, str) and v.strip()]
    if separator is None and strings:
        found = next((s for s in strings if any(sep in s for sep in LIKELY_SEPARATORS)), None)
        if found is not None:
            sep = next(sep for sep in LIKELY_SEPARATORS if sep in found)
            raise DataError(
                f"the label column '{column}' holds strings such as {found!r} in split '{split}', not lists of labels; "
                f"to read them as label sets split at {sep!r}: set data.label_separator='{sep}'"
            )
        raise DataError(
            f"the label column '{column}' holds one string per row (e.g. {strings[0]!r} in split '{split}'), neither a "
            f"list of labels nor a delimited string; {_supported(source)}; for one class per row use "
            "task.name=text-classification or image-classification"
        )
    out = []
    for row, value in enumerate(values):
        if value is None or (isinstance(value, str) and not value.strip()):
            out.append([])
        elif isinstance(value, str):
            out.append(list(dict.fromkeys(p.strip() for p in value.split(separator) if p.strip())))
        elif isinstance(value, (list, tuple)):
            items = []
            for v in value:
                if v is None:
                    continue
                if names is not None and isinstance(v, int) and not isinstance(v, bool):
                    v = names[v]
                if isinstance(v, bool) or not isinstance(v, (str, int)):
                    raise DataError(
                        f"row {row + 1} of split '{split}': the labels in column '{column}' must be names (strings) "
                        f"or ids (integers), found {type(v).__name__} {v!r}; write each row as a list of label names"
                    )
                items.append(str(v))
            out.append(list(dict.fromkeys(items)))
        else:
            raise DataError(
                f"the label column '{column}' holds {type(value).__name__} values (e.g. {value!r} in split '{split}'), "
                f"neither a list of labels nor a delimited string; {_supported(source)}"
            )
    return out


def encode_label_sets(splits: dict[str, Any], cfg: Any, column: str) -> tuple[dict[str, Any], list[str], list[str]]:
    """Label sets → multi-hot float32 vectors (the ``label`` column); the label names (``data.labels``, else every
    label in train, sorted) and notes on rows without labels."""
    from datasets import ClassLabel, Sequence, Value

    from ..data import _class_order

    feature = splits["train"].features["label"]
    if isinstance(feature, ClassLabel) or (isinstance(feature, Value) and feature.dtype.startswith("int")):
        layout = (
            "the class sub-folders of an image folder give one class per image"
            if cfg.source == "imagefolder"
            else "it holds one class per row"
        )
        raise DataError(
            f"task multi-label-classification needs a set of labels per example, but the label column '{column}' "
            f"is a single class ({layout}); {_supported(cfg.source)}"
        )
    inner = getattr(feature, "feature", None)
    names = list(inner.names) if isinstance(inner, ClassLabel) else None
    sep = cfg.label_separator
    sets = {name: _label_sets(ds["label"], name, column, sep, names, cfg.source) for name, ds in splits.items()}
    seen = {name: {label for row in rows for label in row} for name, rows in sets.items()}
    if cfg.labels:
        labels = [str(label) for label in cfg.labels]
        for name, found in seen.items():
            unknown = sorted(found - set(labels))
            if unknown:
                raise DataError(
                    f"split '{name}' has labels that data.labels does not list: {', '.join(unknown[:10])}; "
                    f"data.labels is {labels}; add them there, or remove data.labels to use every label in train"
                )
    else:
        labels = sorted(seen["train"], key=_class_order)
    for name, found in seen.items():
        unseen = sorted(found - seen["train"])
        if name != "train" and unseen:
            raise DataError(
                f"split '{name}' has labels that never occur in train: {', '.join(unseen[:10])}; every label must "
                "have training examples: add some, or drop those labels from that split"
            )
    if not labels:
        raise DataError(
            f"the label column '{column}' has no labels at all in train (every row is empty); check data.columns.label"
        )
    index = {label: i for i, label in enumerate(labels)}
    vector_feature = Sequence(Value("float32"), length=len(labels))
    out, notes = {}, []
    for name, ds in splits.items():
        vectors = []
        for row in sets[name]:
            v = [0.0] * len(labels)
            for label in row:
                v[index[label]] = 1.0
            vectors.append(v)
        out[name] = ds.remove_columns(["label"]).add_column("label", vectors, feature=vector_feature)
        empty = sum(1 for row in sets[name] if not row)
        if empty:
            notes.append(
                f"{empty} of {len(ds)} {name} rows have no label (an empty label set: the model learns to predict none)"
            )
    absent = [label for label in labels if label not in seen["train"]]
    if absent:
        notes.append(f"labels in data.labels without training examples: {', '.join(absent[:10])}")
    mean = sum(len(r) for r in sets["train"]) / max(len(sets["train"]), 1)
    notes.append(f"multi-label: {len(labels)} labels, {mean:.2f} per training example on average")
    for note in notes:
        logger.info(note)
    return out, labels, notes
