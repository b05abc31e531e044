"""Token classification with a trained model (predict, evaluate, export): words in, a tag per word out.

A row's output is its words' first sub-word logits (words × tags), the position the tag was trained on. A
sentence longer than the max length runs as overlapping windows of whole words, and each word's tag is read in
the window where it is furthest from a cut edge (:func:`word_windows`, :func:`best_windows`), so every word that
has a sub-word gets a tag; a word longer than a window is a window alone, tagged from its first sub-word. A word
the tokenizer gives no sub-word (e.g. a zero-width character) gets no tag (``None``) and is counted. Entity
spans are read from the word tags with the tagging scheme the model was trained with
(``config.hf_transfer["tagging_scheme"]``, saved at training time; detected from the tag names for older
models), strictly, as the metrics read them: a broken entity (``I-X`` after ``O`` in IOB2) is no span. ``pipeline(..., aggregation_strategy="first")`` takes the same
first sub-word per word, so its tags agree on words it also splits at whitespace only; it starts a group at
such a broken ``I-X`` too, and its own word splitting cuts at punctuation, which ours (whitespace, or the
caller's word lists) does not.
"""

from __future__ import annotations

from typing import Any

from ..errors import DataError
from . import label_name, unknown_labels_error
from .text_classification import TextClassification

OUTSIDE = "O"
WORDS_ROLE = "tokens"  # the input role of the words (a list per row)
ENTITY_METRICS = ("f1", "precision", "recall", "macro_f1", "token_accuracy")


class TokenInference:
    """The Task hooks of predict, evaluate and export for token classification (mixed into the task class,
    whose ``tags``, ``scheme`` and ``max_length`` they read)."""

    tags: list[str]
    scheme: str | None
    max_length: int | None
    label_all_subwords: bool

    def inference_roles(self) -> dict[str, tuple[tuple[str, ...], bool]]:
        return {WORDS_ROLE: (("tokens", "words", "text"), True)}

    def inference_processor(self, folder) -> Any:
        return TextClassification.inference_processor(self, folder)

    def bind_model(self, config: Any) -> None:
        """The tags (``id2label``) and the tagging scheme saved at training time (else read from the tag names)."""
        id2label = {int(k): v for k, v in (getattr(config, "id2label", None) or {}).items()}
        self.tags = [id2label[i] for i in sorted(id2label)]
        saved = getattr(config, "hf_transfer", None) or {}
        self.scheme = saved["tagging_scheme"] if "tagging_scheme" in saved else scheme_from_names(self.tags)

    def encode_for_inference(self, processor, model_config, payloads: list[dict[str, Any]]) -> Any:
        max_length = TextClassification(max_length=self.max_length).resolved_max_length(processor, model_config)
        return encode(processor, payloads, WORDS_ROLE, max_length)

    def inference_lengths(self, processor, model_config, payloads: list[dict[str, Any]]) -> list[int]:
        """Sub-words per sentence, up to the max length (a longer sentence runs as several windows of about that
        length)."""
        max_length = TextClassification(max_length=self.max_length).resolved_max_length(processor, model_config)
        words = [list(p[WORDS_ROLE]) for p in payloads]
        enc = processor(words, is_split_into_words=True, truncation=True, max_length=max_length)
        return [len(ids) for ids in enc["input_ids"]]

    def row_outputs(self, logits: Any, batch: Any) -> list[Any]:
        return first_subword_logits(logits, batch)

    def stack_outputs(self, outputs: list[Any]) -> Any:
        return stack(outputs)

    def decisions(self, logits: Any) -> Any:
        return decisions(logits)

    def decision_targets(self, labels: list[Any]) -> Any:
        return stack([tuple(int(t) for t in row) for row in labels])

    def prediction_fields(self, top_k: int | None) -> list[str]:
        return ["words", "tags", "scores", "entities", "truncated_words"]

    def predictions(self, logits: Any, id2label: dict[int, str], top_k: int | None) -> list[dict[str, Any]]:
        return prediction_rows(logits, None, WORDS_ROLE, id2label, self.scheme)

    def prediction_rows(self, outputs, inputs, id2label, top_k) -> list[dict[str, Any]]:
        return prediction_rows(outputs, inputs, WORDS_ROLE, id2label, self.scheme)

    def prediction_counts(self, row: dict[str, Any]) -> dict[str, int]:
        untagged = sum(t is None for t in row["tags"])
        return {
            "words cut by truncation (tag null)": row["truncated_words"],
            "words the tokenizer gave no sub-word (tag null)": untagged - row["truncated_words"],
        }

    def prediction_arrow_types(self, top_k: int | None, id2label: dict[int, str]) -> dict[str, Any]:
        return arrow_types()

    def prepared_label(self, value: Any, labels: list[str]) -> Any:
        return [labels[int(i)] for i in value]

    def check_labelled_row(self, payload: dict[str, Any], truth: Any) -> str | None:
        return check_row(payload[WORDS_ROLE], truth, self.tags)

    def evaluation_targets(self, values, labels, model, separator=None, column="label", data="the data"):
        return targets(values, labels, model)

    @property
    def summary_metrics(self) -> tuple[str, ...]:  # type: ignore[override]
        return ENTITY_METRICS if self.scheme else ("token_accuracy",)

    @property
    def bootstrap_metrics(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("f1", "token_accuracy") if self.scheme else ("token_accuracy",)

    def evaluation_scores(self, logits: Any, targets: Any) -> dict[str, float]:
        from ..metrics.token_classification.token_classification import scores

        predicted, truth, _ = word_level(logits, targets, self.tags)
        report = scores(predicted, truth, self.scheme)
        return {k: report[k] for k in ENTITY_METRICS if k in report}

    def evaluate_report(self, logits: Any, targets: Any, labels: list[str]) -> dict[str, Any]:
        """The training metrics (``load_metric("token_classification")``, the model's scheme) over the words the
        model saw; ``per_class``: per entity type."""
        from ..metrics import load_metric

        predicted, truth, self._cut_words = word_level(logits, targets, labels)
        report = load_metric("token_classification").compute(
            predictions=predicted, references=truth, scheme=self.scheme
        )
        return {
            "metrics": {k: report[k] for k in ENTITY_METRICS if k in report},
            "per_class": report.get("per_type", {}),
            "confusion_matrix": None,
        }

    def evaluation_chart(self, per_class, confusion_matrix, labels, title, folder) -> Any:
        from ..charts import bars_png

        chart = folder / "per_label_f1.png"
        scores = {name: v["f1"] for name, v in per_class.items()} or {"(no entity types)": 0.0}
        bars_png(scores, f"Entity F1 per type: {title}", chart)
        return chart

    def evaluation_notes(self, per_class, confusion_matrix) -> list[str]:
        weakest = sorted(per_class.items(), key=lambda kv: kv[1]["f1"])[:5]
        notes = (
            [
                "Weakest entity types by F1: "
                + ", ".join(f"{n} {v['f1']:.3f} (support {v['support']})" for n, v in weakest)
            ]
            if weakest
            else [f"No entity types (tagging scheme: {self.scheme}); token accuracy only."]
        )
        cut = getattr(self, "_cut_words", 0)
        if cut:
            notes.append(
                f"{cut} words have no prediction (the tokenizer gave them no sub-word): they are left out of the "
                "scores, as in training"
            )
        return notes

    def decision_code(self, id2label: dict[int, str], config: Any) -> list[str]:
        return [
            f"id2label = {dict(sorted(id2label.items()))!r}",
            "# one tag per sub-word token; a word's tag is its first sub-word's (see batch.word_ids(i))",
            "tags = [[id2label[i] for i in row] for row in logits.argmax(-1)]",
            "# a sentence longer than the max length: `hf-transfer predict` on this folder tags every word",
            "# (overlapping windows of whole words, each word read where it has the most context)",
        ]


class WordBatch(dict):
    """Model inputs (the dict: input_ids, attention_mask, …), one model row per window of words, and as
    attributes what :func:`first_subword_logits` needs after the model: each window's ``word_ids`` (the
    tokenizer's sub-word → word map, window-local), its sentence and first word (``windows``), each sentence's
    word count (``words``) and, per word, the window its tag is read from (``owner``)."""

    word_ids: list[list[int | None]]
    windows: list[tuple[int, int, int]]  # (sentence, first word, end word) per model row
    words: list[int]
    owner: list[list[int]]
    subwords: list[list[int]]  # per sentence, each word's sub-word count (0: the tokenizer gave it none)


def encode(processor: Any, payloads: list[dict[str, Any]], role: str, max_length: int) -> WordBatch:
    """A padded batch of word lists, tokenised as in training (``is_split_into_words``), a sentence longer than
    ``max_length`` sub-words cut into overlapping windows of whole words (:func:`word_windows`); a sentence that
    fits is one window of all its words, tokenised exactly as before striding."""
    words = [list(p[role]) for p in payloads]
    # Sub-words per word, without special tokens or truncation. The tokenizer's own striding
    # (return_overflowing_tokens + stride) cuts windows at sub-words, so a window could start inside a word and
    # its first sub-word there would not be the word's first sub-word (the position the tag was trained on).
    counted = processor(words, is_split_into_words=True, add_special_tokens=False, truncation=False)
    budget = max_length - processor.num_special_tokens_to_add(pair=False)
    windows, owner, subwords = [], [], []
    for row, sentence in enumerate(words):
        counts = [0] * len(sentence)
        for w in counted.word_ids(row):
            if w is not None:
                counts[w] += 1
        spans = word_windows(counts, budget)
        subwords.append(counts)
        owner.append([len(windows) + k for k in best_windows(counts, spans)])
        windows += [(row, start, end) for start, end in spans]
    pieces = [words[row][start:end] for row, start, end in windows]
    enc = processor(
        pieces, is_split_into_words=True, truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )
    batch = WordBatch(enc)
    batch.word_ids = [enc.word_ids(i) for i in range(len(pieces))]
    batch.windows, batch.words, batch.owner, batch.subwords = windows, [len(w) for w in words], owner, subwords
    return batch


def word_windows(counts: list[int], budget: int) -> list[tuple[int, int]]:
    """Windows of whole words (start, end: ``words[start:end]``) of at most ``budget`` sub-words each, covering
    every word; each window after the first starts with the last words of the one before, up to half the budget
    of sub-words (at least one word where the next word fits with it): the overlap that gives a word near a cut
    edge a second, more central window. A word longer than the budget is a window alone (the tokenizer truncates
    it; its first sub-word, the one that carries its tag, is kept). A sentence that fits, or a budget below one
    sub-word, is one window."""
    n = len(counts)
    if sum(counts) <= budget or budget < 1:
        return [(0, n)]
    overlap = budget // 2
    windows, start = [], 0
    while True:
        end, used = start + 1, counts[start]
        while end < n and used + counts[end] <= budget:
            used += counts[end]
            end += 1
        windows.append((start, end))
        if end == n:
            return windows
        begin, tail = end, 0
        while begin - 1 > start and (begin == end or tail + counts[begin - 1] <= overlap):  # one word at least
            begin -= 1
            tail += counts[begin]
        while begin < end and tail + counts[end] > budget:  # a shorter overlap where the next word would not fit
            tail -= counts[begin]
            begin += 1
        start = begin


def best_windows(counts: list[int], windows: list[tuple[int, int]]) -> list[int]:
    """Per word, the index of the window that gives it the most context: the largest of (sub-words before it,
    sub-words after it) at its nearer cut edge (the sentence's own ends are no cut); the first such window on a tie."""
    best: list[tuple[float, int]] = [(-1.0, 0)] * len(counts)
    for k, (start, end) in enumerate(windows):
        before = 0
        inside = sum(counts[start:end])
        for w in range(start, end):
            after = inside - before - counts[w]
            context = min(before if start > 0 else float("inf"), after if end < len(counts) else float("inf"))
            if context > best[w][0]:
                best[w] = (context, k)
            before += counts[w]
    return [k for _, k in best]


def first_subword_logits(logits: Any, batch: WordBatch) -> list[Any]:
    """Per sentence: the logits of each word's first sub-word (words × tags), read in the word's own window
    (``batch.owner``); a word without a row gets -inf when the tokenizer gave it no sub-word at all, NaN when
    truncation cut it (only where ``max_length`` leaves no room for a sub-word: windows keep every other word)."""
    import torch

    out = [torch.full((n, logits.shape[-1]), float("nan"), dtype=logits.dtype) for n in batch.words]
    for k, (row, word_ids, (sentence, start, _)) in enumerate(zip(logits, batch.word_ids, batch.windows)):
        owner = batch.owner[sentence]
        first: dict[int, int] = {}
        for position, w in enumerate(word_ids):
            if w is not None and w + start not in first and owner[w + start] == k:
                first[w + start] = position
        if first:
            out[sentence][torch.tensor(list(first))] = row[torch.tensor(list(first.values()))]
    for values, counts in zip(out, batch.subwords):
        values[[w for w, c in enumerate(counts) if c == 0]] = float("-inf")
    return out


def stack(outputs: list[Any]) -> Any:
    """Rows of different lengths as a 1-d object array (indexable by a list of rows, as evaluate does)."""
    import numpy as np

    stacked = np.empty(len(outputs), dtype=object)
    for i, output in enumerate(outputs):
        stacked[i] = output
    return stacked


def tag_ids(output: Any) -> tuple[Any, Any]:
    """Each word's best tag id and its probability, as numpy arrays; -1 and NaN for a word without logits
    (cut by truncation: NaN logits; no sub-word: -inf logits)."""
    import numpy as np

    values = np.asarray(output, dtype=np.float64)
    cut = ~np.isfinite(values).all(-1)
    safe = np.where(cut[:, None], 0.0, values)
    probs = np.exp(safe - safe.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    ids = np.where(cut, -1, probs.argmax(-1))
    best = np.where(cut, np.nan, probs.max(-1))
    return ids, best


def scheme_from_names(tags: list[str]) -> str | None:
    """The tagging scheme a tag set implies, for a model saved without one: IOBES with S-/E- tags, IOB2 with
    B- tags (IOB1 uses B- only between entities of one type, and cannot be told apart from the names), IOB1
    with I- tags only, None when a tag has no prefix or all are O."""
    from ..metrics.token_classification.token_classification import _split

    prefixes = {_split(t)[0] for t in tags}
    if "" in prefixes:
        return None
    if prefixes & {"S", "E"}:
        return "IOBES"
    if "B" in prefixes:
        return "IOB2"
    return "IOB1" if "I" in prefixes else None


def spans(tags: list[str | None], probs: Any, words: list[str], scheme: str | None) -> list[dict[str, Any]]:
    """Entity spans of one sentence: type, start and end word index (end exclusive: ``words[start:end]``),
    the words, and the mean of their tags' probabilities. No scheme: runs of one tag."""
    from ..metrics.token_classification.token_classification import entities

    read = [OUTSIDE if t is None else t for t in tags]
    if scheme is not None:
        found = sorted(entities(read, scheme), key=lambda e: e[1])
    else:
        found, start = [], 0
        for i in range(1, len(read) + 1):
            if i == len(read) or read[i] != read[start]:
                if read[start] != OUTSIDE:
                    found.append((read[start], start, i - 1))
                start = i
    return [
        {
            "type": kind,
            "start": first,
            "end": last + 1,
            "words": words[first : last + 1],
            "score": float(sum(probs[first : last + 1]) / (last + 1 - first)),
        }
        for kind, first, last in found
    ]


def prediction_rows(
    outputs: Any, payloads: list[dict[str, Any]] | None, role: str, id2label: dict[int, str], scheme: str | None
) -> list[dict[str, Any]]:
    """predict's rows: the words, their tags and probabilities (None for an untagged word), entity spans, and how
    many words truncation cut (NaN logits; with windows, only where ``max_length`` leaves no room for a sub-word)."""
    import numpy as np

    rows = []
    for i, output in enumerate(outputs):
        ids, best = tag_ids(output)
        tags = [None if t < 0 else label_name(id2label, int(t)) for t in ids]
        words = list(payloads[i][role]) if payloads is not None else [str(j) for j in range(len(tags))]
        rows.append(
            {
                "words": words,
                "tags": tags,
                "scores": [None if t is None else float(p) for t, p in zip(tags, best)],
                "entities": spans(tags, best, words, scheme),
                "truncated_words": int(np.isnan(np.asarray(output, dtype=np.float64)).any(-1).sum()),
            }
        )
    return rows


def arrow_types() -> dict[str, Any]:
    import pyarrow as pa

    entity = pa.struct(
        [
            ("type", pa.string()),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("words", pa.list_(pa.string())),
            ("score", pa.float64()),
        ]
    )
    return {
        "words": pa.list_(pa.string()),
        "tags": pa.list_(pa.string()),
        "scores": pa.list_(pa.float64()),
        "entities": pa.list_(entity),
        "truncated_words": pa.int64(),
    }


def tag_list(value: Any) -> list[str] | None:
    """A labelled row's tags: a list, or a text of tags separated by whitespace; None when it is neither."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, (list, tuple)):
        return [str(t) for t in value]
    return None


def check_row(words: list[str], value: Any, names: list[str] | None = None) -> str | None:
    """Why a labelled sentence cannot be scored (None: it can); integer tags without names are one DataError."""
    if isinstance(value, (list, tuple)) and any(isinstance(t, int) for t in value):
        found = ", ".join(str(t) for t in list(value)[:8])
        raise DataError(
            f"the tags are integers ({found}{' …' if len(value) > 8 else ''}) without tag names: expected the "
            f"model's tag names ({', '.join((names or [])[:8])}{' …' if len(names or []) > 8 else ''}), or integer ids "
            "in a column whose datasets features name them (Sequence(ClassLabel), as Hub datasets such as "
            "conll2003 have); fix: write the tags as names, or give the data with its ClassLabel features"
        )
    tags = tag_list(value)
    if tags is None:
        return f"the tags are not a list ({type(value).__name__})"
    if len(tags) != len(words):
        return f"{len(words)} words but {len(tags)} tags; every word needs exactly one tag"
    return None


def targets(values: list[Any], labels: list[str], model: str) -> tuple[Any, list[dict[str, Any]]]:
    """True tag ids per row (an object array of int arrays) and the rows' ``true_tags``; unknown tags: one
    error listing the data's and the model's tags."""
    import numpy as np

    index = {t: i for i, t in enumerate(labels)}
    rows = [tag_list(v) or [] for v in values]
    unknown_labels_error({t for r in rows for t in r if t not in index}, labels, model)
    return stack([np.asarray([index[t] for t in r], dtype=np.int64) for r in rows]), [{"true_tags": r} for r in rows]


def word_level(outputs: Any, truth: Any, labels: list[str]) -> tuple[list[list[str]], list[list[str]], int]:
    """Predicted and true tags per sentence over the words that have a prediction (a word without a sub-word is
    left out of both, as training's metrics leave it out), and how many words were left out."""
    predicted, true, cut = [], [], 0
    for output, ids in zip(outputs, truth):
        pred, _ = tag_ids(output)
        if len(pred) != len(ids):
            raise DataError(f"a sentence has {len(pred)} words and {len(ids)} tags")
        keep = pred >= 0
        cut += int((~keep).sum())
        predicted.append([labels[i] for i in pred[keep]])
        true.append([labels[i] for i in ids[keep]])
    return predicted, true, cut


def decisions(outputs: Any) -> Any:
    """Each row's tag ids as a tuple (-1: a cut word), so that rows compare equal as wholes."""
    return stack([tuple(int(i) for i in tag_ids(o)[0]) for o in outputs])
