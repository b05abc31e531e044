"""Token classification in predict, evaluate and export: word tags from each word's first sub-word, entity spans
with the trained tagging scheme, the run's test metrics reproduced, ONNX parity, bad input."""

from __future__ import annotations

import importlib.util
import json

import pytest
from test_token_classification import LOC, OTHER, PER, _sentences

import hf_transfer
from helpers import FAST_TRAINING
from hf_transfer import cli
from hf_transfer.errors import DataError

pytestmark = pytest.mark.slow  # trains and exports: not in the fast subset

HAVE_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime", "onnxscript"))
MAX_LENGTH = 32  # [CLS] + 30 single-token words + [SEP]


@pytest.fixture(scope="module")
def ner_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner_inference")
    files = {}
    for split, n, seed in (("train", 32, 0), ("validation", 8, 1), ("test", 12, 2)):
        files[split] = root / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(r) + "\n" for r in _sentences(n, seed)))
    return files


@pytest.fixture(scope="module")
def ner_models(backbones, ner_data, tmp_path_factory):
    """Trained folders of three artifact kinds: full (plain model), frozen (linear head), LoRA (adapter); fp32
    so that evaluate can reproduce the recorded metrics (auto is bf16 on a CPU with avx512_bf16)."""
    root = tmp_path_factory.mktemp("ner_models")
    out = {}
    for kind in ("full", "frozen", "lora"):
        recipe = {
            "backbone": {"name_or_path": str(backbones["bert"])},
            "data": {"source": "files", **{f"{s}_file": str(p) for s, p in ner_data.items()}},
            "task": {"name": "token-classification", "max_length": MAX_LENGTH},
            "strategy": {"name": kind},
            "training": {**FAST_TRAINING, "max_steps": 12, "precision": "fp32", "output_dir": str(root / kind)},
        }
        hf_transfer.train(recipe)
        out[kind] = root / kind
    return out


def test_scheme_from_tag_names_and_spans_without_a_scheme():
    from hf_transfer.tasks._token_inference import scheme_from_names, spans

    assert scheme_from_names(["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]) == "IOB2"  # sorted names: not IOB1
    assert scheme_from_names(["I-PER", "O"]) == "IOB1" and scheme_from_names(["S-X", "B-X", "E-X", "O"]) == "IOBES"
    assert scheme_from_names(["NOUN", "VERB"]) is None and scheme_from_names(["O"]) is None
    words = ["a", "b", "c", "d"]
    found = spans(["NOUN", "NOUN", "VERB", None], [0.5, 0.7, 0.9, float("nan")], words, None)
    assert found == [
        {"type": "NOUN", "start": 0, "end": 2, "words": ["a", "b"], "score": pytest.approx(0.6)},
        {"type": "VERB", "start": 2, "end": 3, "words": ["c"], "score": pytest.approx(0.9)},
    ]
    strict = spans(["I-PER", "B-LOC", "I-LOC", "O"], [0.1, 0.2, 0.4, 0.3], words, "IOB2")  # a broken I-PER: no span
    assert [(e["type"], e["start"], e["end"]) for e in strict] == [("LOC", 1, 3)]


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _by_hand(model_dir, sentences, windows=None):
    """Tags, first-sub-word probabilities and strict entities from the loaded model's own logits. ``windows``:
    per sentence, None (run whole) or (start, end, from word) triples: ``words[start:end]`` run alone gives the
    tags of its words from ``from word`` on (up to the next triple's)."""
    import torch
    from transformers import AutoTokenizer

    from hf_transfer.metrics.token_classification.token_classification import entities

    model = hf_transfer.load_model(model_dir).float().eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    scheme = config["hf_transfer"]["tagging_scheme"]
    id2label = {int(k): v for k, v in config["id2label"].items()}
    out = []
    for words, parts in zip(sentences, windows or [None] * len(sentences)):
        tags, scores = [], []
        for start, end, take in parts or [(0, len(words), 0)]:
            piece = words[start:end]
            enc = tokenizer(
                piece, is_split_into_words=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
            )
            with torch.no_grad():
                probs = model(**enc).logits[0].float().softmax(-1)
            word_ids = enc.word_ids(0)
            first = [word_ids.index(w) if w in word_ids else None for w in range(len(piece))]
            del tags[take:], scores[take:]
            tags += [None if p is None else id2label[int(probs[p].argmax())] for p in first[take - start :]]
            scores += [None if p is None else float(probs[p].max()) for p in first[take - start :]]
        spans = sorted(entities(["O" if t is None else t for t in tags], scheme), key=lambda e: e[1])
        out.append((tags, scores, spans))
    return out, scheme


@pytest.mark.parametrize("kind", ["full", "frozen", "lora"])
def test_predict_is_the_first_sub_word_of_each_word(kind, ner_models, tmp_path):
    sentences = [
        PER[:2] + OTHER[:1] + LOC[:1],
        ["xyzq", PER[3], "qq", "\u200b", LOC[2], LOC[3]],  # xyzq, qq: several sub-words; \u200b: none
        OTHER[:3],
        (PER + LOC + OTHER + PER)[:40],  # 40 words, 30 fit in 32 tokens: two windows
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"tokens": s}) + "\n" for s in sentences))
    out = tmp_path / "pred.jsonl"
    summary = hf_transfer.predict(ner_models[kind], str(source), out, precision="fp32", batch_size=3, progress=False)
    assert summary.rows == 4 and summary.errors == 0
    assert summary.counts == {
        "words cut by truncation (tag null)": 0,
        "words the tokenizer gave no sub-word (tag null)": 1,
    }
    # the 40 words: windows [0, 30) and [15, 40); words 23-39 are further from a cut edge in the second
    expected, scheme = _by_hand(ner_models[kind], sentences, [None, None, None, [(0, 30, 0), (15, 40, 23)]])
    assert scheme == "IOB2"  # saved at training time
    for row, words, (tags, scores, spans) in zip(_rows(out), sentences, expected):
        assert row["words"] == words and row["tags"] == tags
        assert row["truncated_words"] == 0
        for got, want in zip(row["scores"], scores):
            assert (got is None and want is None) or got == pytest.approx(want, abs=1e-5)
        assert [(e["type"], e["start"], e["end"] - 1) for e in row["entities"]] == spans
        for e in row["entities"]:
            assert e["words"] == words[e["start"] : e["end"]]
            assert e["score"] == pytest.approx(sum(scores[e["start"] : e["end"]]) / (e["end"] - e["start"]), abs=1e-5)
    assert len(expected[3][0]) == 40 and None not in expected[3][0]
    assert expected[1][0][3] is None and None not in expected[1][0][:3] + expected[1][0][4:]


def test_word_tags_equal_the_token_classification_pipeline(ner_models, tmp_path):
    """pipeline(aggregation_strategy="first") tags each word by its first sub-word too. Its words come from the
    tokenizer's pre-tokenizer, which also splits at punctuation ("U.S." → U . S .), so the test sentences are
    words that are single tokens; it also starts a group at an I- tag after O, where the strict spans do not."""
    from transformers import pipeline

    model = ner_models["full"]
    sentences = [PER[:2] + OTHER[:1] + LOC[:2], OTHER[2:4] + PER[4:7], LOC[5:9] + OTHER[5:6] + PER[:1]]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": " ".join(s)}) + "\n" for s in sentences))  # text: split at spaces
    out = tmp_path / "pred.jsonl"
    hf_transfer.predict(model, str(source), out, precision="fp32", progress=False)
    tagger = pipeline("token-classification", model=str(model), aggregation_strategy="first", device="cpu")
    for row, words in zip(_rows(out), sentences):
        text = " ".join(words)
        starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
        theirs, groups = {}, []
        for group in tagger(text):
            inside = [i for i, start in enumerate(starts) if group["start"] <= start < group["end"]]
            theirs.update(dict.fromkeys(inside, group["entity_group"]))
            groups.append((group["entity_group"], inside))
        ours = {i: t[2:] for i, t in enumerate(row["tags"]) if t != "O"}
        assert row["words"] == words and ours == theirs
        tags = ["O", *row["tags"]]
        if all(t[0] != "I" or tags[i][2:] == t[2:] for i, t in enumerate(tags[1:])):  # no broken entity
            assert [(e["type"], list(range(e["start"], e["end"]))) for e in row["entities"]] == groups


def test_conll_and_text_inputs_on_error_and_parquet(ner_models, ner_data, tmp_path, capsys):
    model = ner_models["full"]
    rows = _rows(ner_data["test"])[:3]
    conll = tmp_path / "in.conll"
    conll.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(r["tokens"], r["tags"])) for r in rows))
    from_conll = tmp_path / "conll.jsonl"
    hf_transfer.predict(model, str(conll), from_conll, precision="fp32", progress=False)
    table = tmp_path / "in.jsonl"
    table.write_text("".join(json.dumps({"tokens": r["tokens"]}) + "\n" for r in rows))
    from_table = tmp_path / "table.jsonl"
    hf_transfer.predict(model, str(table), from_table, precision="fp32", progress=False)
    assert [r["tags"] for r in _rows(from_conll)] == [r["tags"] for r in _rows(from_table)]

    # a row with no words: an error field and counted (skip), or the job stops (fail)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"tokens": []}) + "\n" + "".join(json.dumps({"tokens": r["tokens"]}) + "\n" for r in rows)
    )
    out = tmp_path / "bad.parquet"  # the first row is the error row: the nested columns are typed anyway
    summary = hf_transfer.predict(model, str(bad), out, precision="fp32", progress=False)
    assert summary.errors == 1 and summary.rows == 4
    import pyarrow.parquet as pq

    written = pq.read_table(out).to_pylist()
    assert written[0]["error"] == "no words" and written[0]["tags"] is None
    assert [r["tags"] for r in written[1:]] == [r["tags"] for r in _rows(from_table)]
    with pytest.raises(DataError, match="input row 0: no words"):
        hf_transfer.predict(model, str(bad), tmp_path / "fail.jsonl", on_error="fail", progress=False)
    assert not (tmp_path / "fail.jsonl").exists()

    # a sentence longer than the max length: every word tagged, nothing cut, through the CLI too
    long = tmp_path / "long.jsonl"
    long.write_text(json.dumps({"text": " ".join((PER + LOC + OTHER + PER)[:35])}) + "\n")
    argv = ["predict", str(model), str(long), "-o", str(tmp_path / "long_pred.jsonl"), "--precision", "fp32", "--quiet"]
    assert cli.main(argv) == 0
    assert "cut by truncation" not in capsys.readouterr().err
    (written_long,) = _rows(tmp_path / "long_pred.jsonl")
    assert len(written_long["tags"]) == 35 and None not in written_long["tags"] and written_long["truncated_words"] == 0


def test_a_missing_words_column_is_one_message(ner_models, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"sentence": "a b", "id2": 1}) + "\n")
    out = tmp_path / "pred.jsonl"
    code = cli.main(["predict", str(ner_models["full"]), str(source), "-o", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "has no column 'tokens' or 'words' or 'text'" in err and "sentence, id2" in err
    assert not out.exists()


def test_evaluate_reproduces_the_run_test_metrics(ner_models, ner_data, tmp_path):
    model = ner_models["full"]
    recorded = json.loads((model / "training_report.json").read_text())["reports"]["test"]
    result = hf_transfer.evaluate(
        model, str(ner_data["test"]), output_dir=tmp_path / "eval", precision="fp32", progress=False
    )
    assert result.rows == 12 and result.errors == 0
    for key in ("f1", "precision", "recall", "macro_f1", "token_accuracy"):
        assert result.metrics[key] == pytest.approx(recorded[key], abs=1e-12), key
    assert result.per_class == recorded["per_entity_type"]
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert written["metrics"] == result.metrics and written["confusion_matrix"] is None
    predictions = _rows(tmp_path / "eval" / "predictions.jsonl")
    truth = _rows(ner_data["test"])
    assert [p["true_tags"] for p in predictions] == [t["tags"] for t in truth]
    assert all(len(p["tags"]) == len(t["tokens"]) for p, t in zip(predictions, truth))
    assert (tmp_path / "eval" / "per_label_f1.png").is_file()

    # a CoNLL file of the same sentences scores the same; --against resamples sentences, paired
    conll = tmp_path / "test.conll"
    conll.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(r["tokens"], r["tags"])) for r in truth))
    compared = hf_transfer.evaluate(
        model,
        str(conll),
        output_dir=tmp_path / "eval_conll",
        against=str(ner_models["lora"]),
        precision="fp32",
        resamples=50,
        progress=False,
    )
    assert compared.metrics == result.metrics
    lora = json.loads((ner_models["lora"] / "training_report.json").read_text())["reports"]["test"]
    assert compared.against["metrics"]["f1"] == pytest.approx(lora["f1"], abs=1e-12)
    boot = compared.against["paired_bootstrap"]
    assert set(boot) == {"f1", "token_accuracy"} and boot["f1"]["low"] <= boot["f1"]["high"]


def test_evaluate_refuses_unknown_tags_and_miscounted_rows(ner_models, ner_data, tmp_path):
    rows = _rows(ner_data["test"])[:2]
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(
        "".join(json.dumps({"tokens": r["tokens"], "tags": ["B-ORG"] + r["tags"][1:]}) + "\n" for r in rows)
    )
    with pytest.raises(DataError, match=r"does not know: B-ORG; the model's labels are: B-LOC, B-PER, I-LOC"):
        hf_transfer.evaluate(ner_models["full"], str(unknown), output_dir=tmp_path / "e1", progress=False)
    miscounted = tmp_path / "miscounted.jsonl"
    miscounted.write_text(json.dumps({"tokens": ["a", "b"], "tags": ["O"]}) + "\n")
    with pytest.raises(DataError, match="row 0: 2 words but 1 tags"):
        hf_transfer.evaluate(ner_models["full"], str(miscounted), output_dir=tmp_path / "e2", progress=False)
    assert not (tmp_path / "e1").exists() and not (tmp_path / "e2").exists()


@pytest.mark.skipif(not HAVE_ONNX, reason="the onnx extra is not installed (pip install '.[onnx]')")
@pytest.mark.parametrize("kind", ["full", "lora"])
def test_export_parity_and_onnx_tags_equal_pytorch_tags(kind, ner_models, ner_data, tmp_path):
    import onnx

    model = ner_models[kind]
    out = tmp_path / "exported"
    result = hf_transfer.export(model, out, quantize="dynamic-int8" if kind == "full" else None)
    assert result.examples_source == "validation" and result.examples == 8
    assert result.max_abs_diff < 1e-4 and result.label_agreement == 1.0
    assert result.accuracy["onnx"] == result.accuracy["pytorch"]
    if kind == "full":  # int8: every sentence's tags compared with PyTorch's, and with the true tags
        assert 0 <= result.int8["label_agreement"] <= 1 and "onnx_int8" in result.accuracy
    record = json.loads((out / "hf_transfer_export.json").read_text())
    assert record["task"] == "token-classification" and record["output_axes"] == ["batch", "sequence"]
    graph = onnx.load(str(out / "model.onnx")).graph
    (logits,) = graph.output
    dims = [d.dim_param or d.dim_value for d in logits.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and isinstance(dims[1], str) and dims[2] == 5, dims  # batch, sequence dynamic
    torch_out, onnx_out = tmp_path / "torch.jsonl", tmp_path / "onnx.jsonl"
    hf_transfer.predict(model, str(ner_data["test"]), torch_out, precision="fp32", batch_size=5, progress=False)
    summary = hf_transfer.predict(out, str(ner_data["test"]), onnx_out, batch_size=5, progress=False)
    assert summary.precision == "onnx"
    expected, got = _rows(torch_out), _rows(onnx_out)
    assert [r["tags"] for r in got] == [r["tags"] for r in expected]
    for a, b in zip(got, expected):
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-4)


def test_evaluate_on_the_training_recipe_reproduces_the_run_metrics(ner_models, tmp_path, capsys):
    model = ner_models["full"]
    reports = json.loads((model / "training_report.json").read_text())["reports"]
    result = hf_transfer.evaluate(
        model, str(model / "recipe.yaml"), output_dir=tmp_path / "eval", precision="fp32", progress=False
    )
    assert result.rows == 12 and result.errors == 0  # the recipe's test split
    for key in ("f1", "precision", "recall", "macro_f1", "token_accuracy"):
        assert result.metrics[key] == pytest.approx(reports["test"][key], abs=1e-12), key
    assert result.per_class == reports["test"]["per_entity_type"]
    predictions = _rows(tmp_path / "eval" / "predictions.jsonl")
    assert all(len(p["true_tags"]) == len(p["words"]) == len(p["tags"]) for p in predictions)
    # --split validation through the CLI: the run's validation rows, as training read them
    argv = ["evaluate", str(model), str(model / "recipe.yaml"), "--split", "validation", "--precision", "fp32"]
    assert cli.main([*argv, "--output-dir", str(tmp_path / "val"), "--quiet"]) == 0
    written = json.loads((tmp_path / "val" / "metrics.json").read_text())
    assert written["rows"] == 8
    for key in ("f1", "token_accuracy"):
        assert written["metrics"][key] == pytest.approx(reports["eval"][key], abs=1e-12), key
    capsys.readouterr()
    assert cli.main([*argv[:3], "--split", "dev", "--output-dir", str(tmp_path / "dev"), "--quiet"]) != 0
    assert "--split for a recipe is train, validation or test, found 'dev'" in capsys.readouterr().err
    assert cli.main([*argv[:3], "--label-column", "tags", "--output-dir", str(tmp_path / "lc"), "--quiet"]) != 0
    assert "a recipe names its own label column" in capsys.readouterr().err
