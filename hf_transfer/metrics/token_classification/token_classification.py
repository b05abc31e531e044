"""Token-classification metrics as an `evaluate` module: entity-level scores with strict span matching.

From word-level tag sequences (predicted and true): entity precision/recall/F1 (micro over every entity, and
macro over entity types), per entity type precision/recall/F1/support, and token accuracy. An entity counts
as found only when a predicted span has exactly the true span's type, start and end (seqeval's
``mode="strict"``). Plain Python, no download (``evaluate.load("seqeval")`` fetches code from the Hub).

Tagging schemes: IOB2 (``B-`` starts every entity), IOB1 (``I-`` starts an entity, ``B-`` only one that
directly follows another of the same type), IOBES (``S-`` single-word entity, ``B-``…``I-``…``E-``).
``scheme=None`` detects it from the true tags (:func:`detect_scheme`); tags without such prefixes (e.g. ``PER``,
``O``) follow no scheme, and then only token accuracy is computed. In strict mode a tag that breaks the scheme
(IOB2: ``I-PER`` after ``O``; IOBES: ``B-`` never closed by ``E-``) starts no entity, in the model's
predictions and in the references alike.
"""

import datasets
import evaluate

_DESCRIPTION = "Entity-level precision/recall/F1 (strict spans, IOB1/IOB2/IOBES), per type, and token accuracy."
_KWARGS = """
Args:
    predictions (list of list of str): predicted tags, one list per sentence (word level).
    references (list of list of str): true tags, same lengths.
    scheme (str, optional): "IOB1", "IOB2" or "IOBES"; detected from the references when not given.
Returns:
    token_accuracy always; with a scheme also precision, recall, f1 (micro over entities), macro_f1 (over
    entity types) and per_type ({type: {precision, recall, f1, support}}); scheme (None without one).
"""
SCHEMES = ("IOB1", "IOB2", "IOBES")
OUTSIDE = "O"


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class TokenClassification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references, scheme=None):
        return scores(predictions, references, scheme)


def _split(tag: str) -> tuple[str, str]:
    """(prefix, type) of a tag: ``B-PER`` → (``B``, ``PER``); ``O`` → (``O``, ``""``)."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if len(tag) > 2 and tag[1] in "-_" and tag[0] in "BIES":
        return tag[0], tag[2:]
    return "", tag  # no scheme prefix


def detect_scheme(sequences) -> str | None:
    """The tagging scheme of true tag sequences: IOBES when ``S-`` or ``E-`` appear; IOB1 when an ``I-`` tag
    starts an entity (after ``O``, another type, or at a sentence start) — IOB2 never does that; IOB2 when
    there are ``B-`` tags; IOB1 for ``I-``-only data (the IO layout); None when the tags carry no prefixes."""
    prefixes: set[str] = set()
    starts_with_i = False
    for seq in sequences:
        previous = (OUTSIDE, "")
        for tag in seq:
            prefix, kind = _split(tag)
            prefixes.add(prefix)
            if prefix == "I" and (previous[0] == OUTSIDE or previous[1] != kind):
                starts_with_i = True
            previous = (prefix, kind)
    if "" in prefixes:
        return None
    if prefixes & {"S", "E"}:
        return "IOBES"
    if starts_with_i or ("I" in prefixes and "B" not in prefixes):
        return "IOB1"
    if "B" in prefixes:
        return "IOB2"
    return None  # only O


def entities(tags, scheme: str) -> set[tuple[str, int, int]]:
    """The well-formed entities of one tag sequence as (type, first word, last word), strict mode."""
    out: set[tuple[str, int, int]] = set()
    current: list | None = None  # [type, start] of the open entity
    tags = list(tags)
    for i, tag in enumerate(tags):
        prefix, kind = _split(tag)
        if scheme == "IOBES":
            if prefix == "S":
                out.add((kind, i, i))
                current = None
            elif prefix == "B":
                current = [kind, i]
            elif prefix == "I":
                if current is None or current[0] != kind:
                    current = None  # an I- outside an open entity of its type: broken, no entity
            elif prefix == "E":
                if current is not None and current[0] == kind:
                    out.add((kind, current[1], i))
                current = None
            else:
                current = None
            continue
        # IOB1 / IOB2: an entity runs until a tag that does not continue it
        continues = prefix == "I" and current is not None and current[0] == kind
        if continues:
            continue
        if current is not None:
            out.add((current[0], current[1], i - 1))
            current = None
        if prefix == "B" or (prefix == "I" and scheme == "IOB1"):
            current = [kind, i]
    if current is not None and scheme != "IOBES":
        out.add((current[0], current[1], len(tags) - 1))
    return out


def _prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def scores(predictions, references, scheme=None) -> dict:
    """The metric's figures in plain Python."""
    predictions, references = [list(p) for p in predictions], [list(r) for r in references]
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predicted sentences for {len(references)} true ones")
    correct = total = 0
    for i, (pred, true) in enumerate(zip(predictions, references)):
        if len(pred) != len(true):
            raise ValueError(f"sentence {i}: {len(pred)} predicted tags for {len(true)} words")
        correct += sum(p == t for p, t in zip(pred, true))
        total += len(true)
    out: dict = {"token_accuracy": correct / total if total else 0.0}
    if scheme is None:
        scheme = detect_scheme(references)
    elif scheme not in SCHEMES:
        raise ValueError(f"unknown tagging scheme '{scheme}'; expected one of {', '.join(SCHEMES)}")
    out["scheme"] = scheme
    if scheme is None:
        return out
    true_sets = [{(k, s, e, n) for k, s, e in entities(r, scheme)} for n, r in enumerate(references)]
    pred_sets = [{(k, s, e, n) for k, s, e in entities(p, scheme)} for n, p in enumerate(predictions)]
    true_all = set().union(*true_sets) if true_sets else set()
    pred_all = set().union(*pred_sets) if pred_sets else set()
    hits = true_all & pred_all
    out["precision"], out["recall"], out["f1"] = _prf(len(hits), len(pred_all), len(true_all))
    per_type = {}
    for kind in sorted({e[0] for e in true_all | pred_all}):
        tp = sum(e[0] == kind for e in hits)
        n_pred = sum(e[0] == kind for e in pred_all)
        n_true = sum(e[0] == kind for e in true_all)
        p, r, f = _prf(tp, n_pred, n_true)
        per_type[kind] = {"precision": p, "recall": r, "f1": f, "support": n_true}
    out["per_type"] = per_type
    with_support = [t["f1"] for t in per_type.values() if t["support"]]
    out["macro_f1"] = sum(with_support) / len(with_support) if with_support else 0.0
    return out
