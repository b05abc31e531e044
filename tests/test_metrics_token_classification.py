"""The token-classification metric module on crafted tag sequences, boundary cases included."""

from __future__ import annotations

import pytest

from hf_transfer.metrics import load_metric
from hf_transfer.metrics.token_classification.token_classification import detect_scheme, entities, scores


def test_entities_of_each_scheme_in_strict_mode():
    iob2 = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "I-ORG", "O", "I-PER"]
    # I-ORG after a LOC and I-PER after O start nothing in IOB2; two adjacent B-LOC are two entities
    assert entities(iob2, "IOB2") == {("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 5)}
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    assert entities(iob1, "IOB1") == {("PER", 0, 1), ("PER", 2, 2), ("LOC", 4, 4), ("ORG", 5, 5)}
    iobes = ["S-PER", "B-LOC", "I-LOC", "E-LOC", "B-ORG", "O", "E-ORG", "B-MISC", "E-MISC", "I-PER", "B-PER"]
    # B-ORG never closed, E-ORG without B-, I-PER outside an entity, B-PER at the end: no entity
    assert entities(iobes, "IOBES") == {("PER", 0, 0), ("LOC", 1, 3), ("MISC", 7, 8)}
    # an entity that runs to the last word is closed there (IOB1/IOB2)
    assert entities(["O", "B-PER", "I-PER"], "IOB2") == {("PER", 1, 2)}


def test_scheme_detection():
    assert detect_scheme([["B-PER", "I-PER", "O"], ["B-LOC"]]) == "IOB2"
    assert detect_scheme([["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]]) == "IOB1"
    assert detect_scheme([["I-PER", "O"]]) == "IOB1"  # the IO layout
    assert detect_scheme([["S-PER", "O", "B-LOC", "E-LOC"]]) == "IOBES"
    assert detect_scheme([["PER", "O", "LOC"]]) is None
    assert detect_scheme([["O", "O"]]) is None


def test_strict_span_scores_by_hand():
    metric = load_metric("token_classification")
    references = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG", "O", "B-PER"]]
    predictions = [
        ["B-PER", "I-PER", "O", "B-ORG"],  # PER right; LOC predicted as ORG (wrong type)
        ["B-ORG", "I-ORG", "O", "O", "I-PER"],  # ORG one word short (wrong span); I-PER after O: no entity
    ]
    out = metric.compute(predictions=predictions, references=references)
    # true: PER(0:0-1) LOC(0:3) ORG(1:0-2) PER(1:4) = 4; predicted: PER(0:0-1) ORG(0:3) ORG(1:0-1) = 3; hits: 1
    assert out["scheme"] == "IOB2"
    assert out["precision"] == pytest.approx(1 / 3) and out["recall"] == pytest.approx(1 / 4)
    assert out["f1"] == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    assert out["per_type"]["PER"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert out["per_type"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert out["per_type"]["LOC"]["support"] == 1 and out["per_type"]["LOC"]["recall"] == 0.0
    assert out["macro_f1"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert out["token_accuracy"] == pytest.approx(6 / 9)


def test_without_a_scheme_only_token_accuracy_and_bad_shapes():
    out = scores([["PER", "O"]], [["PER", "LOC"]])
    assert out == {"token_accuracy": 0.5, "scheme": None}
    assert scores([["B-PER"]], [["B-PER"]], scheme="IOBES")["f1"] == 0.0  # B- never closed in IOBES
    with pytest.raises(ValueError, match="sentence 0: 1 predicted tags for 2 words"):
        scores([["O"]], [["O", "O"]])
    with pytest.raises(ValueError, match="unknown tagging scheme"):
        scores([["O"]], [["O"]], scheme="BILOU")


def test_agrees_with_seqeval_strict_where_installed():
    seqeval = pytest.importorskip("seqeval.metrics")
    import random

    from seqeval.scheme import IOB2, IOBES

    rng = random.Random(0)
    for scheme, cls, prefixes in (("IOB2", IOB2, "BI"), ("IOBES", IOBES, "BIES")):
        tags = ["O"] + [f"{p}-{t}" for p in prefixes for t in ("PER", "LOC")]
        refs = [[rng.choice(tags) for _ in range(rng.randint(1, 9))] for _ in range(300)]
        preds = [[t if rng.random() < 0.7 else rng.choice(tags) for t in r] for r in refs]
        ours = scores(preds, refs, scheme)
        kw = {"mode": "strict", "scheme": cls}
        assert ours["f1"] == pytest.approx(seqeval.f1_score(refs, preds, **kw))
        assert ours["precision"] == pytest.approx(seqeval.precision_score(refs, preds, **kw))
        assert ours["recall"] == pytest.approx(seqeval.recall_score(refs, preds, **kw))
