"""Token classification on sentences longer than the model's max length: overlapping windows of whole words,
each word tagged from the window that gives it the most context; short sentences as before. A random-init
tagger with 16 positions (no training): its logits depend on each word's context, so a word read from the
wrong window gets other scores."""

from __future__ import annotations

import importlib.util
import json

import pytest
from test_token_classification import LOC, OTHER, PER

import hf_transfer
from helpers import TAGS, build_tagger

MAX_LENGTH = 16  # [CLS] + 14 sub-words + [SEP]
LONG_WORD = "xyzq" * 4  # x ##y ##z ##q …: 16 sub-words, more than a window holds
HAVE_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime", "onnxscript"))


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    """A transformers token-classification folder (no run recipe): 16 positions, so nothing longer can run."""
    return build_tagger(tmp_path_factory.mktemp("tagger16"), MAX_LENGTH)


def _long_sentence(n=60):
    vocab = PER + LOC + OTHER
    return [vocab[(7 * i + 3) % len(vocab)] for i in range(n)]


def _alone(folder, words):
    """The model's tag probabilities at each word's first sub-word, the words run alone as one input."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForTokenClassification.from_pretrained(folder).eval()
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    with torch.no_grad():
        probs = model(**enc).logits[0].softmax(-1)
    word_ids = enc.word_ids(0)
    return [probs[word_ids.index(w)] for w in range(len(words))]


def _hand_windows(n, size=14, step=7):
    """The windows of a sentence of single-sub-word words: 14 words, each starting 7 words after the one
    before, the last one ending at the sentence's end."""
    windows, start = [], 0
    while True:
        windows.append((start, min(start + size, n)))
        if start + size >= n:
            return windows
        start += step


def _predict(folder, sentences, tmp_path, name="pred.jsonl", **kwargs):
    source = tmp_path / f"{name}.in.jsonl"
    source.write_text("".join(json.dumps({"tokens": s}) + "\n" for s in sentences))
    out = tmp_path / name
    summary = hf_transfer.predict(folder, str(source), out, precision="fp32", progress=False, **kwargs)
    return summary, [json.loads(line) for line in out.read_text().splitlines()]


def test_word_windows_cover_every_word_with_overlap():
    from hf_transfer.tasks._token_inference import best_windows, word_windows

    assert word_windows([1] * 10, 14) == [(0, 10)]  # fits: one window
    assert word_windows([1] * 60, 14) == _hand_windows(60)
    assert word_windows([1, 16, 1], 14) == [(0, 1), (1, 2), (2, 3)]  # a word longer than the budget: alone
    assert word_windows([3, 3, 3], 0) == [(0, 3)]  # no room at all: one (truncated) window, as before
    windows = word_windows([2, 1, 3, 1, 1, 2, 4, 1, 1, 2, 3, 1, 1], 6)
    assert windows[0][0] == 0 and windows[-1][1] == 13
    assert all(b[0] < a[1] for a, b in zip(windows, windows[1:]))  # each overlaps the one before
    # words 0-2 are nearer the cut end of window (0, 4) … 3-5 nearer window (2, 6)'s cut start: the other one
    assert best_windows([1] * 6, [(0, 4), (2, 6)]) == [0, 0, 0, 1, 1, 1]


def test_every_word_of_a_long_sentence_is_tagged_from_its_most_central_window(tagger, tmp_path):
    words = _long_sentence(60)
    summary, (row,) = _predict(tagger, [words], tmp_path, batch_size=4)
    assert summary.counts == {
        "words cut by truncation (tag null)": 0,
        "words the tokenizer gave no sub-word (tag null)": 0,
    }
    assert row["words"] == words and row["truncated_words"] == 0 and None not in row["tags"]
    # by hand: each word from the window where its nearer cut edge (not the sentence's end) is furthest
    windows = _hand_windows(len(words))
    inf = float("inf")
    runs = {w: _alone(tagger, words[w[0] : w[1]]) for w in windows}
    moved = 0
    for i, (tag, score) in enumerate(zip(row["tags"], row["scores"])):
        candidates = [(s, e) for s, e in windows if s <= i < e]
        best = max(candidates, key=lambda w: min(i - w[0] if w[0] > 0 else inf, w[1] - 1 - i if w[1] < 60 else inf))
        probs = runs[best][i - best[0]]
        assert tag == TAGS[int(probs.argmax())] and score == pytest.approx(float(probs.max()), abs=1e-5), i
        others = [runs[w][i - w[0]] for w in candidates if w != best]
        moved += any(abs(float(p.max()) - score) > 1e-4 for p in others)
    assert moved > 20  # the window matters: the same word's scores differ in its other window


def test_a_word_longer_than_the_max_length_is_tagged_from_its_first_sub_word(tagger, tmp_path):
    words = [PER[0], LONG_WORD, LOC[0]]
    _, (row,) = _predict(tagger, [words], tmp_path)
    assert None not in row["tags"] and row["truncated_words"] == 0
    for i, word in enumerate(words):
        (probs,) = _alone(tagger, [word])  # each word is a window alone: truncated to its first 14 sub-words
        assert row["tags"][i] == TAGS[int(probs.argmax())] and row["scores"][i] == pytest.approx(float(probs.max()))


def test_short_sentences_are_one_window_as_before_and_rows_stay_in_order(tagger, tmp_path):
    short = [PER[:3] + LOC[:2], OTHER[:14], ["xyzq", PER[1], "\u200b"]]  # 14 words: exactly the budget
    long = _long_sentence(37)
    sentences = [short[0], long, short[1], short[2]]
    summary, rows = _predict(tagger, sentences, tmp_path, batch_size=2)
    assert summary.rows == 4 and [r["words"] for r in rows] == sentences
    for row, words in zip([rows[0], rows[2], rows[3]], short):
        kept = [w for w in words if w != "\u200b"]
        probs = iter(_alone(tagger, kept))
        for word, tag, score in zip(words, row["tags"], row["scores"]):
            if word == "\u200b":  # no sub-word at all: no tag, and not counted as cut
                assert tag is None and score is None
                continue
            p = next(probs)
            assert tag == TAGS[int(p.argmax())] and score == pytest.approx(float(p.max()), abs=1e-6)
    assert [r["truncated_words"] for r in rows] == [0, 0, 0, 0]  # a word without sub-words is not a cut word
    assert None not in rows[1]["tags"]
    assert summary.counts == {
        "words cut by truncation (tag null)": 0,
        "words the tokenizer gave no sub-word (tag null)": 1,
    }


@pytest.mark.skipif(not HAVE_ONNX, reason="the onnx extra is not installed (pip install '.[onnx]')")
def test_an_onnx_export_strides_the_same_way(tagger, tmp_path):
    exported = tmp_path / "exported"
    hf_transfer.export(tagger, exported)
    assert "`hf-transfer predict` on this folder tags every word" in (exported / "README.md").read_text()
    sentences = [_long_sentence(60), PER[:3] + [LONG_WORD] + LOC[:2], OTHER[:5]]
    _, torch_rows = _predict(tagger, sentences, tmp_path, "torch.jsonl")
    summary, onnx_rows = _predict(exported, sentences, tmp_path, "onnx.jsonl")
    assert summary.precision == "onnx"
    assert [r["tags"] for r in onnx_rows] == [r["tags"] for r in torch_rows]
    assert all(None not in r["tags"] for r in onnx_rows)
    for a, b in zip(onnx_rows, torch_rows):
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-4)


def test_by_default_a_long_sentences_windows_run_within_the_token_budget(tagger, tmp_path, monkeypatch):
    """With the default batch size, the windows a task encodes from long sentences run in model calls of at most
    BATCH_TOKENS tokens, and every word gets the tag and score it gets in batches of 4 sentences."""
    import hf_transfer.inference as inference

    sentences = [_long_sentence(60), _long_sentence(23), PER[:3], _long_sentence(41)]
    _, expected = _predict(tagger, sentences, tmp_path, name="four.jsonl", batch_size=4)
    monkeypatch.setattr(inference, "BATCH_TOKENS", 2 * MAX_LENGTH)
    monkeypatch.setattr(inference, "MIN_BATCH_ROWS", 1)
    calls = []
    init = inference.Runner.__init__

    def recording(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.net.register_forward_pre_hook(
            lambda module, args_, kwargs_: calls.append(tuple(kwargs_["input_ids"].shape)), with_kwargs=True
        )

    monkeypatch.setattr(inference.Runner, "__init__", recording)
    summary, rows = _predict(tagger, sentences, tmp_path, name="default.jsonl")
    assert summary.rows == 4 and [r["words"] for r in rows] == sentences
    assert all(n * width <= 2 * MAX_LENGTH for n, width in calls), calls
    assert sum(n for n, _ in calls) > len(sentences)  # windows: more model rows than sentences
    for got, want in zip(rows, expected):
        assert got["tags"] == want["tags"]
        assert got["scores"] == pytest.approx(want["scores"], abs=1e-5)
