"""Task ``token-classification``: a tag for every word (named entities, parts of speech, …), text backbones.

Data: word-level ``tokens`` and ``tags`` list columns (JSON/JSONL/parquet, a Hub dataset such as CoNLL-2003 or
WikiANN with ``Sequence(ClassLabel)`` tags), or CoNLL-style files (``word tag`` lines; ``data.format: conll`` or
a ``.conll`` file). Tags are discovered in sorted order (a ``ClassLabel``'s own order on the Hub) or declared
with ``data.labels``.

Alignment: the words go to the tokenizer as they are (``is_split_into_words``); the first sub-word of each word
carries its tag and the others are ignored by the loss (-100), or with ``task.label_all_subwords`` carry it too
(``B-X`` becoming ``I-X`` after the first; training split only: validation and test label each word once, so
their scores count words as ``evaluate`` does). Words cut by truncation are counted and logged, never silently
lost; predictions are scored per word (the first sub-word's tag).

Metrics (:mod:`hf_transfer.metrics.token_classification`): strict entity-level precision/recall/F1 per entity
type when the tags follow a scheme (IOB1, IOB2 or IOBES, detected and logged), and token accuracy always.
``metric_for_best_model`` is the entity F1 (token accuracy for tags without a scheme).

The head reads every token, so ``strategy.pooling`` and the mlp head do not apply (a linear layer per token,
the backbone's own ``*ForTokenClassification`` class). The frozen strategy's feature cache holds, per sentence,
the vectors of its labelled tokens (``pools_features = False``; see :mod:`hf_transfer.features`), so the head
trains without the backbone — by default fitted exactly as a multinomial logistic regression over tokens
(``head_solver: auto`` → lbfgs, the L2 strength chosen on the validation split's micro F1 over the entity tags;
see :meth:`TokenClassification.probe_score`).

predict, evaluate and export (:mod:`._token_inference`): input rows are word lists (a ``tokens``/``words`` list
column, a text split at whitespace, or a ``.conll`` file); a row's output is each word's tag from its first
sub-word (a sentence longer than ``max_length``: in overlapping windows of words, each word from the window
where it has the most context, so no word is cut), with entity spans read with the tagging scheme saved in ``config.hf_transfer["tagging_scheme"]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..errors import DataError
from ..registry import TASKS
from ..schema import field
from . import Task
from ._token_inference import ENTITY_METRICS, TokenInference
from .text_classification import TextClassification

logger = logging.getLogger("hf_transfer")
IGNORE = -100


@TASKS.register("token-classification")
@dataclass
class TokenClassification(TokenInference, Task):
    max_length: int | None = field(
        None, help="truncate inputs to this many sub-word tokens (default: the backbone's limit, at most 512)"
    )
    label_all_subwords: bool = field(
        False, help="every sub-word of a word carries its tag (B- becomes I- after the first); default: the first only"
    )

    pipeline_tag = "token-classification"
    modality = "text"
    # compare's default ranking metric: the entity F1 (tags without a scheme have none: rank with
    # --metric token_accuracy)
    primary_metric = "f1"
    auto_class_name = "AutoModelForTokenClassification"
    head_model_class = "HfTransferForSequenceClassification"  # unused: the head is always the native per-token one
    peft_task_type = "TOKEN_CLS"
    card_example = '"Ada Lovelace was born in London."'
    processor_argument = "tokenizer"
    processor_auto_class = "AutoTokenizer"
    peft_auto_class = "AutoPeftModelForTokenClassification"
    pools_features = False
    takes_word_lists = True
    output_axes = ("batch", "sequence")
    accuracy_name = "sentences tagged right"  # every word's tag (the ONNX export's parity table)
    roles = {"tokens": (("tokens", "words"), True), "label": (("tags", "ner_tags", "labels", "label"), True)}
    card_scalars = (
        ("f1", "entity F1"),
        ("precision", "entity precision"),
        ("recall", "entity recall"),
        ("token_accuracy", "token accuracy"),
        ("loss", "loss"),
    )
    card_index_metrics = (
        ("f1", "f1", "Entity F1 (strict)", None),
        ("precision", "precision", "Entity precision (strict)", None),
        ("recall", "recall", "Entity recall (strict)", None),
        ("token_accuracy", "accuracy", "Token accuracy", None),
    )

    @classmethod
    def card_report_sections(cls, report, split, images) -> list[str] | None:
        """Per entity type: strict precision, recall, F1 and support."""
        per_type = report.get("per_entity_type")
        if per_type is None:
            return None
        if not per_type:
            return [f"### Per-entity results ({split})\n\nNo tagging scheme (token accuracy only)."]
        table = ["| entity type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        table += [
            f"| {name} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
            for name, r in per_type.items()
        ]
        scheme = report.get("scheme")
        return [f"### Per-entity results ({split}; {scheme} tags, strict span match)\n\n" + "\n".join(table)]

    @classmethod
    def card_usage_notes(cls, usage) -> str:
        lines = [
            *usage.setup,
            "from transformers import pipeline",
            "",
            f'tagger = pipeline("{usage.pipeline_tag}", model="{usage.ref}", aggregation_strategy="simple")',
            f"print(tagger({usage.example}))  # entity spans: entity_group, score, word, start, end",
        ]
        return (
            'This is a token-classification model: it tags every word; `aggregation_strategy="simple"` joins '
            "the sub-words and B-/I- tags of one entity into a span:\n\n" + usage.code(lines)
        )

    def __post_init__(self) -> None:
        self.tags: list[str] = []
        self.scheme: str | None = None

    def validate(self, prefix: str) -> list[str]:
        if self.max_length is not None and self.max_length < 2:
            return [f"'{prefix}.max_length' must be at least 2, found {self.max_length}"]
        return []

    # --- tags -----------------------------------------------------------------------------------------------

    def label_encoder(self):
        return self.encode_tags

    def encode_tags(self, splits: dict[str, Any], cfg: Any, column: str):
        """Tag lists → tag ids (``label``: a list of ints per sentence); the tag names and notes."""
        from datasets import ClassLabel, Sequence, Value

        from ..metrics.token_classification.token_classification import detect_scheme

        feature = splits["train"].features["label"]
        inner = getattr(feature, "feature", None)
        declared = list(inner.names) if isinstance(inner, ClassLabel) else None
        rows = {}
        for split, ds in splits.items():
            rows[split] = _checked_rows(ds["tokens"], ds["label"], split, column, declared)
        seen = {split: {t for tags in r for t in tags} for split, r in rows.items()}
        if cfg.labels:
            names = [str(t) for t in cfg.labels]
        elif declared is not None:
            names = declared
        else:
            names = sorted(seen["train"])
        for split, found in seen.items():
            unknown = sorted(found - set(names))
            if unknown:
                where = "data.labels" if cfg.labels else "train"
                raise DataError(
                    f"split '{split}' has tags that {where} does not have: {', '.join(unknown[:10])}; tags: "
                    f"{', '.join(names[:30])}; {'add them to data.labels' if cfg.labels else 'every tag needs training examples'}"
                )
        index = {t: i for i, t in enumerate(names)}
        out = {}
        for split, ds in splits.items():
            ids = [[index[t] for t in tags] for tags in rows[split]]
            ds = ds.remove_columns("label").add_column("label", ids, feature=Sequence(Value("int64")))
            out[split] = ds
        self.tags = names
        self.scheme = detect_scheme([r for split_rows in rows.values() for r in split_rows])
        notes = [
            f"{len(names)} tags; "
            + (
                f"tagging scheme {self.scheme} (entity-level scores)"
                if self.scheme
                else "no tagging scheme (token accuracy)"
            )
        ]
        logger.info(notes[0])
        return out, names, notes

    # --- preprocessing ----------------------------------------------------------------------------------------

    def auto_model_class(self) -> type:
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification

    def load_processor(self, backbone) -> Any:
        tokenizer = TextClassification.load_processor(self, backbone)
        if not getattr(tokenizer, "is_fast", False):
            from ..errors import BackboneError

            raise BackboneError(
                f"backbone '{backbone.reference}': token classification needs a fast tokenizer (it maps sub-words "
                "back to words), and this one has none (no tokenizer.json); use a backbone that ships one"
            )
        return tokenizer

    def preprocess(self, data, processor, model_config, augment_train: bool = True) -> dict[str, Any]:
        max_length = TextClassification(max_length=self.max_length).resolved_max_length(processor, model_config)
        inside = _inside_ids(self.tags)
        out, cut_words, cut_sentences, words = {}, 0, 0, 0
        for split in ("train", "validation", "test"):
            ds = getattr(data, split)
            if ds is None:
                out[split] = None
                continue

            # label_all_subwords is a training signal: validation and test label each word once, at its first
            # sub-word, so that their scores count words as predict and evaluate do
            all_subwords = self.label_all_subwords and split == "train"

            def tokenize(batch, all_subwords=all_subwords):
                enc = processor(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
                labels, cut = [], []
                for i, tags in enumerate(batch["label"]):
                    word_ids = enc.word_ids(i)
                    labels.append(align(word_ids, tags, all_subwords, inside))
                    kept = {w for w in word_ids if w is not None}
                    cut.append(len(tags) - len(kept))
                enc["labels"] = labels
                enc["words_cut"] = cut
                return enc

            ds = ds.map(tokenize, batched=True, remove_columns=ds.column_names, desc=f"tokenizing {split}")
            cut = ds["words_cut"]
            cut_words += sum(cut)
            cut_sentences += sum(1 for c in cut if c)
            words += sum(len(t) for t in getattr(data, split)["label"])
            out[split] = ds.remove_columns("words_cut")
        if cut_words:
            note = (
                f"truncation at {max_length} tokens cut {cut_words:,} of {words:,} words in {cut_sentences:,} sentences "
                "(training does not see them and its validation/test scores leave them out; predict and evaluate "
                "read long sentences in overlapping windows and tag them); raise task.max_length to train on them"
            )
            logger.warning(note)
            data.notes.append(note)
        return out

    def collator(self, processor) -> Any:
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(processor)

    def training_defaults(self) -> dict[str, Any]:
        return {
            "train_sampling_strategy": "group_by_length",
            "metric_for_best_model": "f1" if self.scheme else "token_accuracy",
        }

    def input_lengths(self, dataset) -> list[int]:
        return TextClassification.input_lengths(self, dataset)

    def training_stats(self, args, train_dataset) -> dict[str, float]:
        return TextClassification.training_stats(self, args, train_dataset)

    # --- loss, metrics --------------------------------------------------------------------------------------

    def batch_loss(self, logits, labels, weights=None, label_smoothing: float = 0.0) -> Any:
        import torch

        return torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE,
            label_smoothing=label_smoothing,
        )  # fmt: skip

    @property
    def probe_metric(self) -> str:  # type: ignore[override]
        return "tag_f1" if self._outside_id() is not None else "token_accuracy"

    def _outside_id(self) -> int | None:
        return self.tags.index("O") if self.scheme and "O" in self.tags else None

    def probe_score(self, logits, labels) -> float:
        """The L-BFGS head's L2 strength is chosen by micro F1 over the entity tags (every tag but ``O``), not
        token accuracy: with most words ``O``, accuracy favours a head that rarely tags anything (measured on the
        docstring code spans: validation-accuracy selection gave test entity F1 0.09, tag F1 selection 0.3+).
        Token-level, as the cached rows are flat tokens; without a scheme (or no ``O`` tag) it is token accuracy."""
        keep = labels != IGNORE
        predicted, truth = logits.argmax(-1)[keep], labels[keep]
        outside = self._outside_id()
        if outside is None:
            return float((predicted == truth).float().mean())
        hits = float(((predicted == truth) & (truth != outside)).sum())
        tagged, relevant = float((predicted != outside).sum()), float((truth != outside).sum())
        return 2 * hits / (tagged + relevant) if tagged + relevant else 0.0

    def word_tags(self, predictions: Any, label_ids: Any) -> tuple[list[list[str]], list[list[str]]]:
        """Predicted and true tags per sentence, at the words' first sub-words (positions labelled -100 out)."""
        import numpy as np

        logits = predictions[0] if isinstance(predictions, tuple) else predictions
        pred = np.asarray(logits).argmax(-1)
        labels = np.asarray(label_ids)
        predicted, truth = [], []
        for p_row, l_row in zip(pred, labels):
            keep = l_row != IGNORE
            predicted.append([self.tags[i] for i in p_row[keep]])
            truth.append([self.tags[i] for i in l_row[keep]])
        return predicted, truth

    def _scores(self, predictions, label_ids) -> dict[str, Any]:
        from ..metrics import load_metric

        predicted, truth = self.word_tags(predictions, label_ids)
        return load_metric("token_classification").compute(predictions=predicted, references=truth, scheme=self.scheme)

    def compute_metrics(self, num_labels: int):
        def compute(eval_pred) -> dict[str, float]:
            report = self._scores(eval_pred.predictions, eval_pred.label_ids)
            return {k: report[k] for k in ENTITY_METRICS if k in report}

        return compute

    def classification_report(self, prediction: Any, labels: list[str]) -> dict[str, Any]:
        report = self._scores(prediction.predictions, prediction.label_ids)
        return {
            **{k: report[k] for k in ENTITY_METRICS if k in report},
            "scheme": self.scheme,
            "per_entity_type": report.get("per_type", {}),
        }

    def decision_config(self, labels: list[str]) -> dict[str, Any]:
        """The tagging scheme the tags were read with, so that predict groups entity spans the same way."""
        return {"tagging_scheme": self.scheme}


def _checked_rows(tokens, tags, split: str, column: str, names: list[str] | None) -> list[list[str]]:
    """Each sentence's tags as strings, after checking the shapes: lists of equal length, no empty sentence."""
    out = []
    for i, (words, row) in enumerate(zip(tokens, tags)):
        if not isinstance(words, (list, tuple)) or not isinstance(row, (list, tuple)):
            raise DataError(
                f"split '{split}', row {i}: token classification needs a list of words (tokens) and a list of tags "
                f"('{column}') per sentence, found {type(words).__name__} and {type(row).__name__}; CoNLL-style files "
                "work too (data.format: conll)"
            )
        if not words:
            raise DataError(f"split '{split}', row {i}: an empty sentence (no words); remove it")
        if len(words) != len(row):
            raise DataError(
                f"split '{split}', row {i}: {len(words)} words but {len(row)} tags; every word needs exactly one tag"
            )
        out.append([names[t] if names is not None and isinstance(t, int) else str(t) for t in row])
    return out


def _inside_ids(tags: list[str]) -> dict[int, int]:
    """tag id of ``B-X`` → id of ``I-X`` (for ``label_all_subwords``), where both exist."""
    index = {t: i for i, t in enumerate(tags)}
    return {i: index[f"I-{t[2:]}"] for t, i in index.items() if t.startswith("B-") and f"I-{t[2:]}" in index}


def align(word_ids: list[int | None], tags: list[int], all_subwords: bool, inside: dict[int, int]) -> list[int]:
    """Per sub-word token: the tag id of its word at the word's first sub-word, -100 elsewhere (special
    tokens, later sub-words); with ``all_subwords`` later sub-words carry the tag (B- turned to I-)."""
    out, previous = [], None
    for w in word_ids:
        if w is None:
            out.append(IGNORE)
        elif w != previous:
            out.append(tags[w])
        else:
            out.append(inside.get(tags[w], tags[w]) if all_subwords else IGNORE)
        previous = w
    return out
