"""Task ``token-classification``: word/sub-word alignment, strict entity metrics, every strategy, pipeline()."""

from __future__ import annotations

import json
import random

import pytest

import hf_transfer
from helpers import FAST_TRAINING, TEXT_CLASSES
from hf_transfer.errors import ConfigError, DataError

# entity words from the fixture tokenizer's vocabulary: sports words are PER, music words LOC
PER, LOC = TEXT_CLASSES["sports"].split(), TEXT_CLASSES["music"].split()
OTHER = TEXT_CLASSES["science"].split()


def _sentences(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(2, 5)):
            kind = rng.choice(["PER", "LOC", "O", "O"])
            words = {"PER": PER, "LOC": LOC, "O": OTHER}[kind]
            span = rng.randint(1, 2) if kind != "O" else 1
            for j in range(span):
                tokens.append(rng.choice(words))
                tags.append("O" if kind == "O" else f"{'B' if j == 0 else 'I'}-{kind}")
        rows.append({"tokens": tokens, "tags": tags})
    return rows


@pytest.fixture(scope="module")
def ner_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner")
    files = {}
    for split, n, seed in (("train", 24, 0), ("validation", 8, 1), ("test", 8, 2)):
        files[split] = root / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(r) + "\n" for r in _sentences(n, seed)))
    return files


def _recipe(backbones, files, out, **strategy):
    return {
        "backbone": {"name_or_path": str(backbones["bert"])},
        "data": {
            "source": "files",
            "train_file": str(files["train"]),
            "validation_file": str(files["validation"]),
            "test_file": str(files["test"]),
        },
        "task": {"name": "token-classification", "max_length": 32},
        "strategy": {"name": "full", **strategy},
        "training": {**FAST_TRAINING, "max_steps": 4, "output_dir": str(out)},
    }


def test_alignment_first_subword_and_all_subwords():
    from hf_transfer.tasks.token_classification import _inside_ids, align

    tags = ["B-PER", "I-PER", "O"]
    inside = _inside_ids(tags)
    assert inside == {0: 1}
    # [CLS] w0 w0 w1 w2 w2 [SEP]: word 0 (B-PER) and word 2 (O) split into two sub-words
    word_ids = [None, 0, 0, 1, 2, 2, None]
    assert align(word_ids, [0, 1, 2], False, inside) == [-100, 0, -100, 1, 2, -100, -100]
    assert align(word_ids, [0, 1, 2], True, inside) == [-100, 0, 1, 1, 2, 2, -100]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", [{"name": "full"}, {"name": "frozen"}, {"name": "lora"}])
def test_trains_and_pipeline_returns_entity_spans(backbones, ner_files, tmp_path, strategy):
    from transformers import pipeline

    out = tmp_path / "out"
    result = hf_transfer.train(_recipe(backbones, ner_files, out, **strategy))
    for key in ("eval_f1", "eval_precision", "eval_recall", "eval_token_accuracy", "test_f1"):
        assert 0.0 <= result.metrics[key] <= 1.0, key
    report = json.loads((out / "training_report.json").read_text())
    assert report["reports"]["test"]["scheme"] == "IOB2"
    assert set(report["reports"]["test"]["per_entity_type"]) <= {"PER", "LOC"}
    card = (out / "README.md").read_text()
    assert "### Per-entity results (test; IOB2 tags, strict span match)" in card
    assert 'aggregation_strategy="simple"' in card and "| split | examples | entity F1 |" in card
    config = json.loads(((out / "merged") if (out / "merged").is_dir() else out).joinpath("config.json").read_text())
    assert set(config["id2label"].values()) == {"B-LOC", "B-PER", "I-LOC", "I-PER", "O"}
    if (out / "model.safetensors").is_file():
        ner = pipeline("token-classification", model=str(out), aggregation_strategy="simple", device="cpu")
        spans = ner(" ".join(PER[:2] + OTHER[:1] + LOC[:1]))
        assert all(s["entity_group"] in {"PER", "LOC"} for s in spans)  # spans named by the saved tags


def _split_words(rows):
    """The sentences with every other entity word spelled as letters the fixture vocabulary splits into
    sub-words (``goal`` → ``g ##o ##a ##l`` after a suffix makes it unknown)."""
    out = []
    for row in rows:
        tokens = [w + "x" if i % 2 == 0 and t != "O" else w for i, (w, t) in enumerate(zip(row["tokens"], row["tags"]))]
        out.append({"tokens": tokens, "tags": row["tags"]})
    return out


def test_label_all_subwords_trains_on_every_sub_word_and_scores_words_as_evaluate_does(backbones, ner_files, tmp_path):
    files = {}
    for split, path in ner_files.items():
        rows = _split_words([json.loads(line) for line in path.read_text().splitlines()])
        files[split] = tmp_path / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    recipe = _recipe(backbones, files, out)
    recipe["task"]["label_all_subwords"] = True
    recipe["training"].update(learning_rate=5e-2, precision="fp32")
    result = hf_transfer.train(recipe)
    recorded = json.loads((out / "metrics.json").read_text())
    evaluated = hf_transfer.evaluate(out, str(out / "recipe.yaml"), output_dir=tmp_path / "eval", progress=False)
    for key in ("f1", "precision", "recall", "token_accuracy"):
        assert evaluated.metrics[key] == pytest.approx(recorded[f"test_{key}"], abs=1e-9), key
    assert result.metrics["test_token_accuracy"] == recorded["test_token_accuracy"]


@pytest.mark.slow
def test_conll_files_and_truncation_is_reported(backbones, ner_files, tmp_path):
    conll = {}
    for split, path in ner_files.items():
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        conll[split] = tmp_path / f"{split}.conll"
        conll[split].write_text(
            "\n\n".join("\n".join(f"{w} {t}" for w, t in zip(r["tokens"], r["tags"])) for r in rows)
        )
    recipe = _recipe(backbones, conll, tmp_path / "out")
    recipe["task"]["max_length"] = 4  # [CLS] + 2 words + [SEP]: longer sentences lose words
    result = hf_transfer.train(recipe)
    notes = json.loads((tmp_path / "out" / "training_report.json").read_text())["data_notes"]
    assert any("truncation at 4 tokens cut" in n for n in notes)
    assert result.data_sizes["train"] == 24


@pytest.mark.parametrize(
    "row, message",
    [
        ({"tokens": ["a", "b"], "tags": ["O"]}, "2 words but 1 tags"),
        ({"tokens": [], "tags": []}, "an empty sentence"),
    ],
)
def test_bad_sentences_get_one_clear_message(backbones, ner_files, tmp_path, row, message):
    train = tmp_path / "train.jsonl"
    rows = [json.loads(line) for line in ner_files["train"].read_text().splitlines()]
    bad = rows[:3] + [row]
    train.write_text("".join(json.dumps(r) + "\n" for r in bad))
    out = tmp_path / "out"
    with pytest.raises(DataError, match=message):
        hf_transfer.train(_recipe(backbones, {**ner_files, "train": train}, out))
    assert not out.exists()


def test_a_sentence_that_is_not_word_lists_is_named():
    from hf_transfer.tasks.token_classification import _checked_rows

    with pytest.raises(DataError, match="split 'train', row 1: token classification needs a list of words"):
        _checked_rows([["a"], "a b"], [["O"], "O O"], "train", "tags", None)
    assert _checked_rows([["a", "b"]], [[1, 0]], "train", "ner_tags", ["O", "B-PER"]) == [["B-PER", "O"]]


def test_recipe_mistakes(backbones, ner_files, tmp_path):
    recipe = _recipe(backbones, ner_files, tmp_path / "out", head="mlp", pooling="mean")
    with pytest.raises(ConfigError) as err:
        hf_transfer.train(recipe)
    assert "strategy.head=linear" in str(err.value) and "remove strategy.pooling" in str(err.value)
    recipe = _recipe(backbones, ner_files, tmp_path / "out")
    recipe["backbone"]["name_or_path"] = str(backbones["vit"])
    with pytest.raises(Exception, match="image"):
        hf_transfer.train(recipe)
    assert not (tmp_path / "out").exists()


def test_token_rows_pad_each_batch_to_its_longest_row():
    import torch

    from hf_transfer.probe import TokenRows

    feats = torch.arange(12, dtype=torch.float32).reshape(6, 2)  # 6 labelled tokens, 2 features each
    rows = TokenRows(feats, torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([0, 1, 4, 6]))  # rows of 1, 3, 2 tokens
    assert len(rows) == 3
    batch = rows.__getitems__([2, 0])
    assert batch["features"].shape == (2, 2, 2)
    assert batch["features"][0].tolist() == [[8, 9], [10, 11]] and batch["features"][1].tolist() == [[0, 1], [0, 0]]
    assert batch["labels"].tolist() == [[1, 2], [0, -100]]


def _frozen_run(backbones, ner_files, out, **strategy):
    recipe = _recipe(backbones, ner_files, out, name="frozen", **strategy)
    recipe["training"].pop("max_steps")
    recipe["training"]["num_train_epochs"] = 2
    # fp32: the test compares cached vectors with an fp32 forward pass (auto is bf16 on a CPU with avx512_bf16)
    recipe["training"]["precision"] = "fp32"
    return recipe


def test_frozen_caches_the_labelled_tokens_and_the_head_trains_without_the_backbone(
    backbones, ner_files, tmp_path, monkeypatch
):
    """The frozen strategy caches one vector per word (its first sub-word's hidden state), fits the per-token
    head on them (lbfgs), and the saved model — run on raw text through the backbone — scores exactly what the
    head scored on the cached features."""
    import torch
    from datasets import Dataset
    from safetensors.torch import load_file
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from hf_transfer.features import DATA, cache_dir

    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    result = hf_transfer.train(_frozen_run(backbones, ner_files, out))
    report = json.loads((out / "training_report.json").read_text())
    cache = report["strategy"]["feature_cache"]
    assert not cache["train"]["hit"] and cache["train"]["rows"] == 24
    assert report["strategy"]["head_solver"]["solver"] == "lbfgs"
    # the backbone did not change, bit for bit
    saved = load_file(out / "model.safetensors")
    original = load_file(backbones["bert"] / "model.safetensors")
    for name, tensor in original.items():
        key = name if name in saved else f"bert.{name.removeprefix('bert.')}"
        if key in saved and not name.startswith(("cls.", "pooler", "bert.pooler")):
            assert torch.equal(saved[key], tensor), name
    # the cached train entry holds each word's first sub-word vector, with its tag
    entry = cache_dir() / cache["train"]["key"]
    rows = Dataset.from_file(str(entry / DATA))
    words = [json.loads(line) for line in ner_files["train"].read_text().splitlines()]
    assert [len(r) for r in rows["labels"]] == [len(w["tokens"]) for w in words]
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForTokenClassification.from_pretrained(out).eval()
    enc = tokenizer(words[0]["tokens"], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.base_model(**enc).last_hidden_state[0]
    first = [enc.word_ids(0).index(w) for w in range(len(words[0]["tokens"]))]
    torch.testing.assert_close(torch.tensor(rows[0]["features"]), hidden[first], rtol=1e-4, atol=1e-5)
    tags = [model.config.id2label[i] for i in rows[0]["labels"]]
    assert tags == words[0]["tags"]
    # the test metrics (head on cached features) are those of the saved model run end to end on the test file
    test = [json.loads(line) for line in ner_files["test"].read_text().splitlines()]
    predicted = []
    for row in test:
        enc = tokenizer(row["tokens"], is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            ids = model(**enc).logits[0].argmax(-1).tolist()
        firsts = [enc.word_ids(0).index(w) for w in range(len(row["tokens"]))]
        predicted.append([model.config.id2label[ids[i]] for i in firsts])
    correct = sum(p == t for row, pred in zip(test, predicted) for p, t in zip(pred, row["tags"]))
    total = sum(len(row["tags"]) for row in test)
    assert result.metrics["test_token_accuracy"] == pytest.approx(correct / total)
    # a second run reuses every entry
    again = tmp_path / "again"
    hf_transfer.train(_frozen_run(backbones, ner_files, again))
    cache = json.loads((again / "training_report.json").read_text())["strategy"]["feature_cache"]
    assert cache["train"]["hit"] and cache["validation"]["hit"] and cache["test"]["hit"]


def test_frozen_sgd_head_trains_on_padded_token_batches(backbones, ner_files, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    result = hf_transfer.train(_frozen_run(backbones, ner_files, out, head_solver="sgd"))
    report = json.loads((out / "training_report.json").read_text())
    assert report["strategy"]["head_solver"]["solver"] == "sgd" and "feature_cache" in report["strategy"]
    assert 0.0 <= result.metrics["test_f1"] <= 1.0 and result.metrics["train_loss"] > 0


def test_a_tag_outside_the_declared_tags_is_named(backbones, ner_files, tmp_path):
    recipe = _recipe(backbones, ner_files, tmp_path / "out")
    recipe["data"]["labels"] = ["O", "B-PER", "I-PER"]  # no LOC tags
    with pytest.raises(DataError, match="split 'train' has tags that data.labels does not have: B-LOC, I-LOC"):
        hf_transfer.train(recipe)
    assert not (tmp_path / "out").exists()


def test_the_lbfgs_head_is_chosen_by_entity_tag_f1_not_token_accuracy():
    """Mostly-O data: a head that tags nothing has high token accuracy but scores 0; padding (-100) is out."""
    import torch

    from hf_transfer.tasks.token_classification import TokenClassification

    task = TokenClassification()
    task.tags, task.scheme = ["B-X", "I-X", "O"], "IOB2"
    assert task.probe_metric == "tag_f1"
    labels = torch.tensor([2, 2, 2, 2, 2, 2, 2, 0, 1, -100])
    nothing = torch.nn.functional.one_hot(torch.full((10,), 2), 3).float()
    assert task.probe_score(nothing, labels) == 0.0
    some = nothing.clone()
    some[7] = torch.tensor([1.0, 0, 0])  # the B-X found, the I-X missed, one O wrongly tagged
    some[0] = torch.tensor([0, 1.0, 0])
    assert task.probe_score(some, labels) == pytest.approx(2 * 1 / (2 + 2))
    task.scheme = None  # no scheme: token accuracy
    assert task.probe_metric == "token_accuracy"
    assert task.probe_score(nothing, labels) == pytest.approx(7 / 9)


def test_compare_ranks_token_runs_by_entity_f1(backbones, ner_files, tmp_path):
    """The task's primary metric is the entity F1 its runs record (eval_f1), not the classification accuracy."""
    board = hf_transfer.compare(_recipe(backbones, ner_files, tmp_path / "out"), strategies=["full"], dry_run=True)
    assert board.metric == "f1"
