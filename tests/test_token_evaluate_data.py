"""evaluate for token classification on data whose tags are ``Sequence(ClassLabel)`` ids (a Hub dataset such as
conll2003, a parquet file written by ``datasets``): read as their names; plain integer tags: one error; long
sentences scored on every word. A random-init tagger, no training: the reference is the same sentences with
tags written as names."""

from __future__ import annotations

import json

import pytest
from test_token_classification import LOC, OTHER, PER, _sentences

import hf_transfer
from helpers import build_tagger
from hf_transfer import cli
from hf_transfer.errors import DataError

# a ClassLabel order unlike the model's (sorted) one: ids must be read by name, not position
NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    return build_tagger(tmp_path_factory.mktemp("tagger32"), 32)


@pytest.fixture(scope="module")
def sentences():
    return _sentences(10, 3)


def _class_label_dataset(sentences):
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=NAMES))})
    rows = {
        "tokens": [s["tokens"] for s in sentences],
        "ner_tags": [[NAMES.index(t) for t in s["tags"]] for s in sentences],
    }
    return Dataset.from_dict(rows, features=features)


def _evaluate(model, data, folder, **kwargs):
    return hf_transfer.evaluate(model, data, output_dir=folder, precision="fp32", progress=False, **kwargs)


def _reference(tagger, sentences, tmp_path):
    named = tmp_path / "named.jsonl"
    named.write_text("".join(json.dumps(s) + "\n" for s in sentences))
    return _evaluate(tagger, str(named), tmp_path / "named")


def test_class_label_ids_in_a_parquet_file_are_read_as_their_names(tagger, sentences, tmp_path):
    reference = _reference(tagger, sentences, tmp_path)
    path = tmp_path / "ids.parquet"
    _class_label_dataset(sentences).to_parquet(str(path))  # the features travel in the parquet metadata
    result = _evaluate(tagger, str(path), tmp_path / "ids")
    assert result.rows == 10 and result.metrics == reference.metrics and result.per_class == reference.per_class
    assert 0 < result.metrics["token_accuracy"] < 1  # a score that the id order would change
    rows = [json.loads(line) for line in (tmp_path / "ids" / "predictions.jsonl").read_text().splitlines()]
    assert [r["true_tags"] for r in rows] == [s["tags"] for s in sentences]


def test_a_hub_split_with_class_label_tags_is_read_as_their_names(tagger, sentences, tmp_path, monkeypatch):
    """The hub: input offline: datasets.load_dataset returns the split a Hub dataset would (streamed, with its
    features), through the same reader as `hub:conll2003:test`."""
    import datasets

    reference = _reference(tagger, sentences, tmp_path)
    calls = []

    def fake_load_dataset(name, config=None, split=None, streaming=False, **kwargs):
        calls.append((name, config, split, streaming))
        return _class_label_dataset(sentences).to_iterable_dataset()

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    result = _evaluate(tagger, "hub:conll2003:test", tmp_path / "hub")
    assert calls[0] == ("conll2003", None, "test", True)
    assert result.metrics == reference.metrics and result.per_class == reference.per_class


def test_plain_integer_tags_are_one_clear_error(tagger, sentences, tmp_path, capsys):
    ids = tmp_path / "ids.jsonl"
    ids.write_text(
        "".join(
            json.dumps({"tokens": s["tokens"], "tags": [NAMES.index(t) for t in s["tags"]]}) + "\n" for s in sentences
        )
    )
    with pytest.raises(
        DataError, match=r"the tags are integers \(.*\) without tag names: expected the model's tag names"
    ):
        _evaluate(tagger, str(ids), tmp_path / "e1")
    code = cli.main(["evaluate", str(tagger), str(ids), "--output-dir", str(tmp_path / "e2"), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "Sequence(ClassLabel)" in err and "B-LOC, B-PER" in err and "Traceback" not in err
    assert not (tmp_path / "e1").exists() and not (tmp_path / "e2").exists()


def test_evaluate_scores_every_word_of_a_long_sentence(tagger, tmp_path):
    """The 16-position model's view: a 60-word sentence runs as windows; evaluate scores all 60 words against
    predict's own tags (accuracy 1), and none is left out."""
    tagger16 = build_tagger(tmp_path / "tagger16", 16)
    words = [(PER + LOC + OTHER)[(7 * i + 3) % 30] for i in range(60)]
    source = tmp_path / "long.jsonl"
    source.write_text(json.dumps({"tokens": words}) + "\n")
    hf_transfer.predict(tagger16, str(source), tmp_path / "pred.jsonl", precision="fp32", progress=False)
    (row,) = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()]
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(json.dumps({"tokens": words, "tags": row["tags"]}) + "\n")
    result = _evaluate(tagger16, str(labelled), tmp_path / "eval")
    assert result.metrics["token_accuracy"] == 1.0
    assert not any("no prediction" in note for note in result.notes)
    wrong = tmp_path / "wrong.jsonl"  # the last word's tag changed: scored, so accuracy drops by one word in 60
    last = "O" if row["tags"][-1] != "O" else "B-PER"
    wrong.write_text(json.dumps({"tokens": words, "tags": row["tags"][:-1] + [last]}) + "\n")
    assert _evaluate(tagger16, str(wrong), tmp_path / "wrong").metrics["token_accuracy"] == pytest.approx(59 / 60)
