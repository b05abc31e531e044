"""Tasks: what a model predicts, how inputs are preprocessed, collated and scored.

A task is one file in this package that registers a class in ``TASKS``. It owns
its ``AutoModelFor*`` class, its processor, preprocessing, collator and metrics;
the conductor (``pipeline.py``) calls these in order and knows nothing of text or
images.

Besides its hooks a task *declares* what it is, as class attributes: ``pipeline_tag`` (what ``pipeline()``
loads its models as, and the model card's task type), ``modality``, ``problem_type``, ``auto_class_name``
(how :func:`hf_transfer.load_model` rebuilds a saved model), ``head_model_class`` (the
:mod:`hf_transfer.modeling` class for an hf_transfer head), ``peft_task_type`` (the ``peft.TaskType`` of its
LoRA adapters), and what the model card's loading snippet needs (``card_example``, ``processor_argument``,
``processor_auto_class``, ``peft_auto_class``). Core modules read these and never name a task. The
declarations that follow a backbone's modality have no value here: a task that takes its preprocessing from
another one (``multi-label-classification``) forwards them; read them with :func:`declared`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .. import class_weights
from ..errors import BackboneError, DataError
from ..probe import L2_GRID
from ..schema import field

if TYPE_CHECKING:
    from ..backbone import Backbone
    from ..data import PreparedData

SCALAR_METRICS = ("accuracy", "macro_f1", "macro_precision", "macro_recall")
# The model card's results table: (metric, column name); a split with the first one gets a row.
CARD_SCALARS = (
    ("accuracy", "accuracy"),
    ("macro_f1", "macro F1"),
    ("macro_precision", "macro precision"),
    ("macro_recall", "macro recall"),
    ("loss", "loss"),
)
# The model card's model-index entries: (metric, Hub metric id, display name, metric args).
CARD_INDEX_METRICS = (
    ("accuracy", "accuracy", "Accuracy", None),
    ("macro_f1", "f1", "Macro F1", {"average": "macro"}),
    ("macro_precision", "precision", "Macro Precision", {"average": "macro"}),
    ("macro_recall", "recall", "Macro Recall", {"average": "macro"}),
)


@dataclass(frozen=True)
class CardUsage:
    """What a task's own paragraph in the card's usage section may show (see ``Task.card_usage_notes``)."""

    pipeline_tag: str  # what pipeline() loads the model as
    ref: str  # the model's Hub id or folder, as the card's snippets load it
    options: dict[str, Any]  # the run's ``task:`` recipe section
    setup: list[str]  # lines a snippet starts with (e.g. ``import hf_transfer.modeling`` for hf_transfer heads)
    example: str  # an input to classify, as Python source (``card_example``)

    @staticmethod
    def code(lines: list[str]) -> str:
        return "```python\n" + "\n".join(lines) + "\n```"


def label_name(id2label: dict[int, Any], index: int) -> str:
    """Output ``index``'s name in predictions: its ``id2label`` entry as text (a hand-written config may hold
    numbers), else the index as text."""
    return str(id2label.get(index, index))


def scored_label_type() -> Any:
    """The Arrow type of one ``{"label": ..., "score": ...}`` entry of a prediction's ``scores`` list."""
    import pyarrow as pa

    return pa.struct([("label", pa.string()), ("score", pa.float64())])


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
    # Whether the models' own loss (transformers' ``problem_type`` loss) is the task's: False makes training call
    # :meth:`batch_loss` on every batch (e.g. regression's Huber or L1 loss on standardised targets).
    model_computes_loss: ClassVar[bool] = True
    # Whether the head reads one pooled vector per example (``strategy.pooling`` and mlp heads apply); False: the
    # backbone's own per-token head (token classification).
    pools_features: ClassVar[bool] = True
    # Recipe keys other tasks take that this one refuses, with the reason (the recipe check says it instead of
    # "unknown key"), e.g. regression: class_weights.
    refused_keys: ClassVar[dict[str, str]] = {}
    # Whether ``data.columns.label`` may list several columns (read as one list per row, e.g. regression targets).
    takes_label_columns: ClassVar[bool] = False
    # Whether a row may carry several labels (a list, or a string split at ``data.label_separator``).
    takes_label_lists: ClassVar[bool] = False
    # Options that act only after the backbone (on the decision from the logits): not part of the feature-cache
    # key, so changing them reuses the cached backbone features.
    decision_options: ClassVar[tuple[str, ...]] = ()

    # The model card's metrics (hf_transfer.hub): results table columns and model-index entries (see above).
    card_scalars: ClassVar[tuple[tuple[str, str], ...]] = CARD_SCALARS
    card_index_metrics: ClassVar[tuple[tuple[str, str, str, dict[str, str] | None], ...]] = CARD_INDEX_METRICS

    @classmethod
    def card_report_sections(cls, report: dict[str, Any], split: str, images: dict[str, str]) -> list[str] | None:
        """Markdown sections of the card's results for one split's report (``training_report.json``'s
        ``reports``, from :meth:`classification_report`); None: the per-class table (and confusion matrix)."""
        return None

    @classmethod
    def card_charts(cls, report: dict[str, Any], split: str, dest: Any) -> dict[str, str]:
        """PNG charts of one split's report written into ``dest``: image key → file name (for
        :meth:`card_report_sections`); the per-class confusion matrix is drawn by the card itself."""
        return {}

    @classmethod
    def card_usage_notes(cls, usage: CardUsage) -> str | None:
        """A Markdown paragraph the model card's usage section adds after the loading snippets (e.g. how to
        apply saved decision thresholds); None: nothing to add."""
        return None

    # --- declarations that follow the modality (no default: see the module docstring and ``declared``) ---
    # The transformers Auto class of the task's models, by name (e.g. "AutoModelForSequenceClassification"); a
    # saved model whose architecture ends like it (…ForSequenceClassification) reloads with it.
    auto_class_name: ClassVar[str]
    # The hf_transfer.modeling class (by name) of a model with an hf_transfer head (mlp head, chosen pooling).
    head_model_class: ClassVar[str]
    # peft's ``TaskType`` name for LoRA on the backbone's own class (None: peft's generic wrapper).
    peft_task_type: ClassVar[str | None]
    # The model card's loading snippet: an input to classify (Python source), the ``pipeline()`` keyword and the
    # Auto class of the processor, and peft's ``AutoPeftModelFor*`` class for an adapter (None: peft has none).
    card_example: ClassVar[str]
    processor_argument: ClassVar[str]
    processor_auto_class: ClassVar[str]
    peft_auto_class: ClassVar[str | None]
    # Extra keywords of the snippet's ``pipeline()`` call (Python source after ``model=…``): a task whose outputs
    # pipeline()'s default post-processing would squash (regression) asks for the raw ones.
    pipeline_call_arguments: ClassVar[str] = ""

    def auto_model_class(self) -> type:
        """The transformers Auto class for this task (``auto_class_name``)."""
        import transformers

        return getattr(transformers, self.auto_class_name)

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

    def input_lengths(self, dataset: Any) -> list[int] | None:
        """Tokens per example of a preprocessed split, for passes that batch by length (the feature cache);
        None when every input has the same size (e.g. images)."""
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

    def init_head(self, bundle: Any, data: PreparedData) -> dict[str, Any] | None:
        """Adjust the new head's starting weights for this data, once the model is built and before the strategy
        applies (so every strategy, LoRA's copy of the head and the frozen strategy's cached-feature copy start
        from them). Returns what it did, for the log and the strategy report; None: the head is left as built."""
        return None

    def resolve_class_weights(self, data: PreparedData) -> dict[str, Any] | None:
        """Per-class loss weights for this data (classification tasks: ``task.class_weights``); None: unweighted."""
        return None

    def batch_loss(
        self, logits: Any, labels: Any, weights: list[float] | None = None, label_smoothing: float = 0.0
    ) -> Any:
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
    # Why the task's outputs need fp32 (None: they do not): predict and evaluate then resolve ``precision: auto`` to
    # fp32 for its models instead of bf16/fp16, e.g. regression, whose outputs are the values themselves (bf16
    # keeps 8 significant bits: 252,608 comes out as 251,904).
    fp32_outputs: ClassVar[str | None] = None
    # predict's top_k when the caller gives none: 1 (the best label and its score); None: every label's score.
    default_top_k: ClassVar[int | None] = 1
    # Whether an input row is a list of words (a word-list column, or a text split at whitespace) rather than a text.
    takes_word_lists: ClassVar[bool] = False
    # The axes of the model's ``logits`` output that vary with the input (the ONNX export's record): one row of
    # logits per example by default; a per-token task adds the sequence axis.
    output_axes: ClassVar[tuple[str, ...]] = ("batch",)

    # The L2 strengths the L-BFGS head fit tries, strongest first (hf_transfer.probe.L2_GRID: 1 … 1e-7).
    probe_l2_grid: ClassVar[tuple[float, ...]] = L2_GRID

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

    def finalize_model(self, model: Any, head_module_names: list[str]) -> None:
        """Adjust the trained model in place before it is saved (after the final metrics), e.g. regression folds
        its target standardisation into the head so that the saved model predicts in the data's units."""
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

    def evaluation_chart(
        self, per_class: dict[str, Any], confusion_matrix: Any, labels: list[str], title: str, folder: Any
    ) -> Any:
        """Draw the evaluation's chart into ``folder`` and return its path: the confusion matrix, or each label's
        F1 for label sets (no confusion matrix)."""
        from ..charts import bars_png, confusion_matrix_png

        if confusion_matrix is not None:
            chart = folder / "confusion_matrix.png"
            confusion_matrix_png(confusion_matrix, labels, title, chart)
        else:
            chart = folder / "per_label_f1.png"
            bars_png({name: v["f1"] for name, v in per_class.items()}, f"F1 per label: {title}", chart)
        return chart

    def evaluation_notes(self, per_class: dict[str, Any], confusion_matrix: Any) -> list[str]:
        """Lines of the evaluation summary after the metrics: the weakest classes (labels) by F1."""
        import numpy as np

        kind = "labels" if confusion_matrix is None else "classes"
        absent = [n for n, v in per_class.items() if not v.get("support")]
        if confusion_matrix is not None:  # a class the data lacks but the model predicted has an F1 of 0: weak
            predicted = np.asarray(confusion_matrix).sum(axis=0)
            names = list(per_class)
            absent = [n for n in absent if n in names and not predicted[names.index(n)]]
        scored = [(n, v) for n, v in per_class.items() if n not in absent]
        weakest = sorted(scored, key=lambda kv: kv[1]["f1"])[:5]
        lines = (
            [f"Weakest {kind} by F1: " + ", ".join(f"{n} {v['f1']:.3f} (support {v['support']})" for n, v in weakest)]
            if weakest
            else []
        )
        if absent:
            shown = ", ".join(absent[:10]) + (", …" if len(absent) > 10 else "")
            lines.append(
                f"{len(absent)} {kind if len(absent) > 1 else {'classes': 'class', 'labels': 'label'}[kind]} neither "
                f"in this data nor predicted, left out of the macro averages: {shown}"
            )
        return lines

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
            row: dict[str, Any] = {"label": label_name(id2label, idx[0]), "score": vals[0]}
            if top_k != 1:
                row["scores"] = [{"label": label_name(id2label, i), "score": v} for i, v in zip(idx, vals)]
            rows.append(row)
        return rows

    # --- inference hooks where an output is not one row per example (defaults: one row of logits per example) ---

    def inference_lengths(self, processor: Any, model_config: Any, payloads: list[dict[str, Any]]) -> list[int]:
        """Each example's length, the key predict and evaluate sort text rows by so that a batch pads little.
        Default: its characters; a task with a tokenizer returns the model tokens the example encodes to (a
        character count sorts badly: on short package descriptions, batches of similar character length were
        only 67% real tokens, 95% when sorted by tokens)."""
        return [sum(len(v) for v in p.values()) for p in payloads]

    def inference_roles(self) -> dict[str, tuple[tuple[str, ...], bool]]:
        """The input roles predict reads (role → (candidate columns, required)): the task's roles but the label."""
        return {role: spec for role, spec in self.roles.items() if role != "label"}

    def bind_model(self, config: Any) -> None:
        """Read what the hooks below need from a trained model's config before predicting (e.g. tag names and
        the tagging scheme); the task object was rebuilt from the run's recipe and knows no data."""
        return None

    def row_outputs(self, logits: Any, batch: Any) -> list[Any]:
        """A batch's model output (``logits``, a tensor) cut into one output per example; ``batch`` is what
        :meth:`encode_for_inference` returned for it. Default: one row of logits per example."""
        return list(logits)

    def stack_outputs(self, outputs: list[Any]) -> Any:
        """Per-example outputs (tensors or numpy arrays) as one array, the form :meth:`predictions`,
        :meth:`decisions` and the metrics take; rows of variable length need another container (an object array)."""
        import numpy as np

        if hasattr(outputs[0], "numpy"):
            import torch

            return torch.stack(outputs)
        return np.stack(outputs)

    def prediction_rows(
        self, outputs: Any, inputs: list[dict[str, Any]], id2label: dict[int, str], top_k: int | None
    ) -> list[dict[str, Any]]:
        """predict's rows for stacked outputs (:meth:`stack_outputs`) and each row's input payload (role → value),
        for a task whose rows name parts of the input (e.g. the words of an entity); default :meth:`predictions`."""
        return self.predictions(outputs, id2label, top_k)

    def decision_targets(self, labels: list[Any]) -> Any:
        """The training data's encoded labels (``label`` column values) as :meth:`decisions` rows, to compare
        with them (the ONNX export's accuracy)."""
        import numpy as np

        return np.asarray(labels)

    def prepared_label(self, value: Any, labels: list[str]) -> Any:
        """A prepared split's label (what :meth:`label_encoder` made of the data's label; ``labels``: the names it
        returned) back in the form evaluate reads from a file: here the class name of a class id. Evaluate on a
        recipe reads the recipe's own split this way, so a label means what it meant in training."""
        return labels[int(value)]

    def check_labelled_row(self, payload: dict[str, Any], truth: Any) -> str | None:
        """Why one labelled row cannot be scored (e.g. a tag count that is not the word count); None: it can."""
        return None

    def label_problem(self, value: Any) -> str | None:
        """Why a row's true label, as read from the data, is no label at all (evaluate says "row N <this>" and
        refuses the file before the model runs), e.g. "has no label"; None: it is one (it may still be unknown
        to the model, which :meth:`evaluation_targets` reports with the model's labels)."""
        return None

    def prediction_counts(self, row: dict[str, Any]) -> dict[str, int]:
        """Counts predict adds up over its rows and reports in its summary (e.g. words cut by truncation)."""
        return {}

    def prediction_arrow_types(self, top_k: int | None, id2label: dict[int, str]) -> dict[str, Any]:
        """Arrow types of every prediction column (a parquet output's schema): fixed before a row with values has
        been seen, so a column that is empty (error rows) or an empty list in the first rows still takes the
        task's values later. Here: ``label``, ``score`` and the ``scores`` list of :meth:`predictions`."""
        import pyarrow as pa

        types = {"label": pa.string(), "score": pa.float64()}
        if top_k != 1:
            types["scores"] = pa.list_(scored_label_type())
        return types


# What a declaration reads as where a task does not make it (see ``declared``).
DECLARATION_DEFAULTS: dict[str, Any] = {
    "peft_task_type": None,
    "card_example": "...",
    "auto_class_name": "AutoModel",
    "processor_argument": "processor",
    "processor_auto_class": "AutoProcessor",
    "peft_auto_class": None,
}


def declared(task: Task | type[Task] | None, name: str) -> Any:
    """A task's (or task class's) declaration ``name``, else its default in ``DECLARATION_DEFAULTS`` (None for
    one without). A task class that forwards its modality declarations (multi-label) has them once bound."""
    value = getattr(task, name, None) if task is not None else None
    if value is None or isinstance(value, property):
        return DECLARATION_DEFAULTS.get(name)
    return value


def task_class_for_pipeline_tag(pipeline_tag: str | None) -> type[Task] | None:
    """The first registered task (by name) whose models ``pipeline()`` loads as ``pipeline_tag`` (a task whose
    tag follows the backbone declares none)."""
    from ..registry import TASKS

    for name in TASKS.names():
        if getattr(TASKS.get(name), "pipeline_tag", None) == pipeline_tag:
            return TASKS.get(name)
    return None


def task_class_for_architectures(architectures: list[str] | tuple[str, ...]) -> type[Task] | None:
    """The first registered task (by name) whose Auto class loads a model of one of ``architectures`` (a
    config's ``architectures``: "BertForSequenceClassification" → ``AutoModelForSequenceClassification``)."""
    from ..registry import TASKS

    for name in TASKS.names():
        auto = getattr(TASKS.get(name), "auto_class_name", None)
        if isinstance(auto, str) and any(a.endswith(auto.removeprefix("AutoModel")) for a in architectures):
            return TASKS.get(name)
    return None


def tasks_declaring(**declarations: Any) -> list[str]:
    """Names of the registered tasks whose classes declare these values, e.g. ``modality="image"`` (a task whose
    modality follows the backbone declares none), ``takes_label_lists=True``: what an error message suggests."""
    from ..registry import TASKS

    return [n for n in TASKS.names() if all(getattr(TASKS.get(n), k, None) == v for k, v in declarations.items())]


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

    def label_problem(self, value: Any) -> str | None:
        """One class per row: a missing label (null, a missing key, an empty cell), a bool, a list or an
        object is no class name (``str(value)`` would read None as the label "None")."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return "has no label (null, a missing key or an empty cell)"
        if isinstance(value, bool):
            return f"has a bool label ({value}), not a class name"
        if isinstance(value, float) and value != value:
            return "has no label (NaN)"
        if isinstance(value, (list, tuple, dict)):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            return f"has a {type(value).__name__} label ({shown}), not one class name"
        return None

    def resolve_class_weights(self, data: PreparedData) -> dict[str, Any] | None:
        """The weights of ``data.labels`` (see :mod:`hf_transfer.class_weights`); a label the data lacks is a
        ConfigError."""
        if self.class_weights is None:
            return None
        ids = data.train.with_format("numpy")["label"] if self.class_weights == class_weights.AUTO else ()
        return class_weights.resolve(self.class_weights, data.labels, ids)
