"""Tasks: what a model predicts, how inputs are preprocessed, collated and scored.

A task is one file in this package that registers a class in ``TASKS``. It owns
its ``AutoModelFor*`` class, its processor, preprocessing, collator and metrics;
the conductor (``pipeline.py``) calls these in order and knows nothing of text or
images.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .. import class_weights
from ..errors import BackboneError, DataError
from ..schema import field

if TYPE_CHECKING:
    from ..backbone import Backbone
    from ..data import PreparedData

SCALAR_METRICS = ("accuracy", "macro_f1", "macro_precision", "macro_recall")


class Task(abc.ABC):
    """Base for task plugins (a dataclass of options plus these hooks)."""

    name: ClassVar[str]
    pipeline_tag: ClassVar[str]
    # role → (default column names, required); ``label`` is always required.
    roles: ClassVar[dict[str, tuple[tuple[str, ...], bool]]]
    # What kind of backbone the task needs ("text" or "image"); recipes are checked against it.
    modality: ClassVar[str | None] = None
    # Part of the feature-cache key: raise it when the task's preprocessing changes what a backbone sees.
    preprocessing_version: ClassVar[int] = 1
    # transformers' ``config.problem_type`` for the task's models (None: transformers infers it); it picks the loss
    # the backbone's own classes compute and what ``pipeline()`` applies to the logits (softmax or sigmoid).
    problem_type: ClassVar[str | None] = None
    # Whether a row may carry several labels (a list, or a string split at ``data.label_separator``).
    takes_label_lists: ClassVar[bool] = False
    # Options that act only after the backbone (on the decision from the logits): not part of the feature-cache
    # key, so changing them reuses the cached backbone features.
    decision_options: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def auto_model_class(self) -> type:
        """The transformers Auto class for this task."""

    @abc.abstractmethod
    def load_processor(self, backbone: Backbone) -> Any:
        """Tokenizer or image processor of the backbone."""

    @abc.abstractmethod
    def preprocess(
        self, data: PreparedData, processor: Any, model_config: Any, augment_train: bool = True
    ) -> dict[str, Any]:
        """Model-ready train/validation/test datasets (``test`` may be None); ``augment_train=False``
        preprocesses training examples like evaluation ones."""

    @abc.abstractmethod
    def collator(self, processor: Any) -> Any:
        """Batches model-ready examples."""

    def training_defaults(self) -> dict[str, Any]:
        """TrainingArguments this task needs unless the recipe says otherwise."""
        return {}

    def size_defaults(
        self, train_rows: int | None, global_batch: int, planned: dict[str, Any], adapts_backbone: bool
    ) -> dict[str, Any]:
        """Training values (key → :class:`~hf_transfer.strategies.Default`) chosen from the training-set size
        (None: a stream), over the strategy's ``planned`` ones; only keys the recipe leaves unset are used."""
        return {}

    def augmentation(
        self, processor: Any, backbone: str = "", augment_train: bool = True, train_rows: int | None = None
    ) -> dict[str, Any] | None:
        """The train-time augmentation as the run logs and records it (``description`` is the log line);
        None for a task without any. Raises ConfigError when the backbone's processor cannot take the
        recipe's augmentation, so ``train()`` calls it before anything is written. ``train_rows``: the
        training-set size, for options chosen from it (None: unknown, a stream)."""
        return None

    def training_stats(self, args: Any, train_dataset: Any) -> dict[str, float]:
        """Task-specific figures about the training input (e.g. padding efficiency) for the results."""
        return {}

    def check_backbone(self, backbone: Backbone) -> None:
        """Refuse a backbone of the wrong modality before a processor is loaded: the recipe check reads
        only local folders, and the Auto classes' own errors point elsewhere (e.g. at sentencepiece)."""
        from ..backbone import config_modality, mismatch_message

        config = backbone.config.to_dict() if backbone.config is not None else {}
        found = config_modality(config)
        if self.modality and found and found != self.modality:
            raise BackboneError(
                mismatch_message(backbone.reference, backbone.model_type, found, self.name, self.modality)
            )

    def inapplicable_options(self) -> set[str]:
        """Option names that do not apply to this run (e.g. image augmentation with a text backbone): the resolved
        recipe written to ``recipe.yaml`` and shown by ``--dry-run`` leaves them out."""
        return set()

    def check_data(self, data: PreparedData) -> None:
        """Refuse data the task cannot use, once the backbone is known (before anything is written)."""
        return None

    def label_encoder(self) -> Any:
        """How :func:`hf_transfer.data.prepare` turns the label column into model targets: None for one class
        per row (a ``ClassLabel``), else ``encode(splits, data_config) -> (splits, label names, notes)``."""
        return None

    def load_model(self, backbone: Backbone, data: PreparedData, **kwargs: Any) -> Any:
        """The backbone's own classification class with a new head sized to the labels."""
        auto = self.auto_model_class()
        if self.problem_type:
            kwargs.setdefault("problem_type", self.problem_type)
        try:
            return auto.from_pretrained(
                backbone.location,
                num_labels=len(data.labels),
                id2label=data.id2label,
                label2id=data.label2id,
                ignore_mismatched_sizes=True,
                **backbone.load_kwargs(),
                **kwargs,
            )
        except Exception as e:  # safetensors and torch raise their own types for damaged weight files
            if "safetensor" not in type(e).__name__.lower() and not isinstance(e, (OSError, EOFError)):
                raise
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BackboneError(
                f"the weights of backbone '{backbone.reference}' could not be loaded ({first}); if a download was "
                "interrupted the files are damaged or truncated: download the backbone again"
            ) from None

    def resolve_class_weights(self, data: PreparedData) -> dict[str, Any] | None:
        """Per-class loss weights for this data (classification tasks: ``task.class_weights``); None: unweighted."""
        return None

    def loss(self, logits: Any, labels: Any, weights: list[float] | None = None, label_smoothing: float = 0.0) -> Any:
        """The training loss of a batch (a mean over its examples), with the resolved class weights if any: one
        definition for every path that computes one (the Trainer loop, a head on cached features, the L-BFGS fit)."""
        import torch

        if weights is None:
            return torch.nn.functional.cross_entropy(logits, labels, label_smoothing=label_smoothing)
        return class_weights.weighted_cross_entropy(logits, labels, weights, label_smoothing)

    # The validation score the L-BFGS head fit picks its L2 strength by (hf_transfer.probe): name and function.
    probe_metric: ClassVar[str] = "accuracy"
    # The metric that says which of several runs is best (compare's leaderboard) unless the user names another;
    # also the first row of an evaluation's summary.
    primary_metric: ClassVar[str] = "accuracy"
    # The scalar metrics an evaluation reports (report.md rows) and compares with --against (paired bootstrap).
    summary_metrics: ClassVar[tuple[str, ...]] = SCALAR_METRICS
    bootstrap_metrics: ClassVar[tuple[str, ...]] = ("accuracy", "macro_f1")
    # What the share of examples predicted exactly right is called (the ONNX export's parity table).
    accuracy_name: ClassVar[str] = "accuracy"
    # predict's top_k when the caller gives none: 1 (the best label and its score); None: every label's score.
    default_top_k: ClassVar[int | None] = 1

    def probe_score(self, logits: Any, labels: Any) -> float:
        return float((logits.argmax(1) == labels).float().mean())

    def classification_report(self, prediction: Any, labels: list[str]) -> dict[str, Any]:
        """Per-class scores of a ``Trainer.predict`` result for ``training_report.json`` and the card."""
        from ..artifacts import classification_report

        return classification_report(prediction, labels)

    def calibrate(self, prediction: Any, labels: list[str]) -> dict[str, Any] | None:
        """Decision settings fitted on the validation predictions after training (None: the task has none);
        the metrics are then computed again with them."""
        return None

    def decision_config(self, labels: list[str]) -> dict[str, Any]:
        """What the model's config must carry besides the weights to turn logits into predictions (saved under
        ``config.hf_transfer``), e.g. decision thresholds."""
        return {}

    def compute_metrics(self, num_labels: int):
        """A Trainer ``compute_metrics`` function returning scalar metrics."""
        from ..metrics import load_metric

        metric = load_metric()

        def compute(eval_pred) -> dict[str, float]:
            logits, labels = eval_pred.predictions, eval_pred.label_ids
            if isinstance(logits, tuple):
                logits = logits[0]
            report = metric.compute(predictions=logits.argmax(-1), references=labels, num_labels=num_labels)
            return {k: report[k] for k in SCALAR_METRICS}

        return compute

    # --- using a trained model (hf_transfer.inference): how inputs are encoded, what a prediction holds ---

    def evaluation_targets(
        self,
        values: list[Any],
        labels: list[str],
        model: str,
        separator: str | None = None,
        column: str = "label",
        data: str = "the data",
    ) -> tuple[Any, list[dict[str, Any]]]:
        """The true labels of labelled data as the metrics take them (here class ids), and per row the fields
        ``predictions.jsonl`` writes for the truth; a label the model does not know is a DataError listing them.
        ``separator``: the character between labels in a delimited cell (tasks with label sets); ``column`` and
        ``data``: where the values come from, for messages."""
        import numpy as np

        label2id = {name: i for i, name in enumerate(labels)}

        def known(value: Any) -> str | None:
            for candidate in (value, str(value)):
                if isinstance(candidate, str) and candidate in label2id:
                    return candidate
            return None

        unknown_labels_error({str(v) for v in values if known(v) is None}, labels, model)
        return np.asarray([label2id[known(v)] for v in values], dtype=np.int64), [
            {"true_label": str(v)} for v in values
        ]

    def decisions(self, logits: Any) -> Any:
        """What the model predicts from a numpy array of logits (n × labels), as an array with one row per
        example: here the class id. Two models agree on an example when their rows are equal."""
        import numpy as np

        return np.asarray(logits).argmax(-1)

    def evaluation_scores(self, logits: Any, targets: Any) -> dict[str, float]:
        """The scalar metrics of numpy logits against :meth:`evaluation_targets`' targets."""
        import numpy as np

        from ..metrics.classification.classification import scores

        report = scores(self.decisions(logits), targets, np.shape(logits)[-1])
        return {k: v for k, v in report.items() if not isinstance(v, list)}

    def evaluate_report(self, logits: Any, targets: Any, labels: list[str]) -> dict[str, Any]:
        """``metrics`` (scalars), ``per_class`` ({label: precision, recall, f1, support, …}) and ``confusion_matrix``
        (rows: true label; None for a task without one) of numpy logits against the targets."""
        from ..artifacts import report_from_predictions

        report = report_from_predictions(self.decisions(logits), targets, labels)
        return {
            "metrics": self.evaluation_scores(logits, targets),
            "per_class": report["per_class"],
            "confusion_matrix": report["confusion_matrix"],
        }

    def decision_code(self, id2label: dict[int, str], config: Any) -> list[str]:
        """Python lines that turn a numpy ``logits`` array into label names (the ONNX export's model card)."""
        return [f"labels = [{dict(sorted(id2label.items()))!r}[i] for i in logits.argmax(-1)]"]

    def inference_processor(self, folder: Any) -> Any:
        """The tokenizer or image processor saved with a trained model in ``folder``."""
        from ..errors import HfTransferError

        raise HfTransferError(
            f"models of task '{self.name}' cannot be used by predict, evaluate or export yet; "
            "load them with hf_transfer.load_model(FOLDER) and run them yourself"
        )

    def prediction_fields(self, top_k: int | None) -> list[str]:
        """The columns of a prediction row (a row whose input failed has them all empty)."""
        return ["label", "score"] + ([] if top_k == 1 else ["scores"])

    def predictions(self, logits: Any, id2label: dict[int, str], top_k: int | None) -> list[dict[str, Any]]:
        """Prediction rows for a batch of logits: the best label and its probability; with ``top_k`` other
        than 1 also ``scores``, the ``top_k`` best labels (every label when None) with their probabilities."""
        probs = logits.float().softmax(-1)
        k = probs.shape[-1] if top_k is None else min(top_k, probs.shape[-1])
        values, indices = probs.topk(k, dim=-1)
        rows = []
        for vals, idx in zip(values.tolist(), indices.tolist()):
            row: dict[str, Any] = {"label": id2label.get(idx[0], str(idx[0])), "score": vals[0]}
            if top_k != 1:
                row["scores"] = [{"label": id2label.get(i, str(i)), "score": v} for i, v in zip(idx, vals)]
            rows.append(row)
        return rows


def unknown_labels_error(unknown: set[str], labels: list[str], model: str) -> None:
    """One DataError listing the data's labels that the model does not know (nothing when there are none)."""
    if not unknown:
        return
    shown = sorted(unknown)
    raise DataError(
        f"the data has labels that model '{model}' does not know: {', '.join(shown[:20])}"
        f"{' …' if len(shown) > 20 else ''}; the model's labels are: {', '.join(labels)}; "
        "evaluate a model trained on these labels, or choose the label column with --label-column"
    )


@dataclass
class ClassificationTask(Task):
    """Keys every single-label classification task takes (text and image alike)."""

    class_weights: Any = field(
        None,
        help="weights in the loss: auto (n_samples / (n_classes * count) on the training split) or {label: weight}",
    )

    def validate(self, prefix: str) -> list[str]:
        return class_weights.problems(self.class_weights, f"{prefix}.class_weights")

    def resolve_class_weights(self, data: PreparedData) -> dict[str, Any] | None:
        """The weights of ``data.labels`` (see :mod:`hf_transfer.class_weights`); a label the data lacks is a
        ConfigError."""
        if self.class_weights is None:
            return None
        ids = data.train.with_format("numpy")["label"] if self.class_weights == class_weights.AUTO else ()
        return class_weights.resolve(self.class_weights, data.labels, ids)
