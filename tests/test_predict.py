"""`hf-transfer predict`: every artifact kind and input kind, input order, output formats, bad rows and inputs."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hf_transfer
from helpers import image_recipe, make_image
from hf_transfer import cli
from hf_transfer.errors import DataError, HfTransferError, OutputError

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))


def _texts(path: Path, n: int = 40) -> list[str]:
    """Texts of very different lengths (so length-sorted batches reorder them), one per JSONL row."""
    rng = random.Random(1)
    words = "alpha beta gamma delta apple banana cherry river stone cloud".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) for _ in range(n)]
    path.write_text("".join(json.dumps({"text": t, "id_in_file": i}) + "\n" for i, t in enumerate(texts)))
    return texts


def _reference(model_dir: Path, texts: list[str]) -> torch.Tensor:
    """Probabilities from hf_transfer.load_model one text at a time (no batching, no sorting)."""
    from transformers import AutoTokenizer

    model = hf_transfer.load_model(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with torch.no_grad():
        return torch.cat(
            [
                model(**tokenizer(t, truncation=True, max_length=32, return_tensors="pt")).logits.softmax(-1)
                for t in texts
            ]
        )


@pytest.mark.parametrize("kind", ["full", "mlp", "lora"])
def test_predict_matches_the_loaded_model_in_input_order_for_every_artifact_kind(kind, text_models, tmp_path):
    texts = _texts(tmp_path / "in.jsonl")
    out = tmp_path / "pred.jsonl"
    summary = hf_transfer.predict(
        text_models[kind],
        str(tmp_path / "in.jsonl"),
        out,
        top_k=None,
        batch_size=4,
        keep_columns=["id_in_file"],
        progress=False,
        precision="fp32",  # the reference runs in fp32; auto means bf16 on a CPU with avx512_bf16
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.rows == len(texts) and summary.errors == 0
    assert [r["id"] for r in rows] == [str(i) for i in range(len(texts))]
    assert [r["id_in_file"] for r in rows] == list(range(len(texts)))
    expected = _reference(text_models[kind], texts)
    config = json.loads((text_models[kind] / "config.json").read_text())
    labels = {int(k): v for k, v in config["id2label"].items()}
    for row, probs in zip(rows, expected):
        assert row["label"] == labels[int(probs.argmax())]
        got = {s["label"]: s["score"] for s in row["scores"]}
        assert set(got) == set(labels.values())
        for i, label in labels.items():
            assert abs(got[label] - float(probs[i])) < 1e-5
        assert row["score"] == max(got.values()) and row["error"] is None


def test_text_batches_are_sorted_by_tokens_and_the_real_token_fraction_is_counted(text_models, tmp_path):
    """Four texts of known words (22-25 characters, 3 tokens + 2 special) and four strings the vocabulary
    spells letter by letter (21-26 characters, one token per letter + 2): sorted by characters the two kinds
    alternate and every batch of 4 pads to its longest spelled string; sorted by tokens, one batch holds the
    four 5-token texts (20 of 20 real) and the other the spelled ones (23 + 25 + 26 + 28 = 102 of 4 x 28)."""
    known = ["stadium experiment guitar", "concert stadium theory", "experiment stadium melody", "guitar concert ball"]
    spelled = ["q" * 21, "qz" * 11 + "q", "q" + "zq" * 11 + "z", "qz" * 13]  # (word-initial 'z' is not in it)
    texts = [t for pair in zip(known, spelled) for t in pair]  # interleaved in the input
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    from transformers import AutoTokenizer

    tokens = [len(ids) for ids in AutoTokenizer.from_pretrained(text_models["full"])(texts)["input_ids"]]
    assert tokens == [5, 23, 5, 25, 5, 26, 5, 28]  # the premise of the hand count
    out = tmp_path / "pred.jsonl"
    summary = hf_transfer.predict(
        text_models["full"], str(tmp_path / "in.jsonl"), out, top_k=None, batch_size=4, progress=False, precision="fp32"
    )
    assert summary.real_token_fraction == pytest.approx((20 + 102) / (20 + 4 * 28))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = _reference(text_models["full"], texts)
    for row, probs in zip(rows, expected):  # back in input order
        got = sorted((s["score"] for s in row["scores"]), reverse=True)
        assert got == pytest.approx(sorted(probs.tolist(), reverse=True), abs=1e-5)
    assert [r["id"] for r in rows] == [str(i) for i in range(len(texts))]


def test_default_batches_hold_similar_length_texts_up_to_a_token_budget(text_models, tmp_path, monkeypatch):
    """batch_size=None (the default) batches length-sorted texts by tokens: every model call holds at most
    BATCH_TOKENS tokens (padding included) unless it is MIN_BATCH_ROWS rows or fewer, short texts share bigger
    batches than long ones, and the predictions equal the unbatched model's, in input order."""
    import hf_transfer.inference as inference

    monkeypatch.setattr(inference, "BATCH_TOKENS", 128)
    monkeypatch.setattr(inference, "MIN_BATCH_ROWS", 2)
    words = ["stadium", "experiment", "guitar", "concert", "theory", "melody", "ball"]  # one token each
    rng = random.Random(3)
    texts = [" ".join(rng.choice(words) for _ in range(rng.choice([1, 2, 3, 25, 28]))) for _ in range(40)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))  # 3-30 tokens
    shapes = []
    forward = inference.Runner.forward

    def recording(self, batch):
        shapes.append(tuple(batch["attention_mask"].shape))
        return forward(self, batch)

    monkeypatch.setattr(inference.Runner, "forward", recording)
    out = tmp_path / "pred.jsonl"
    summary = hf_transfer.predict(
        text_models["full"], str(tmp_path / "in.jsonl"), out, top_k=None, progress=False, precision="fp32"
    )
    assert sum(rows for rows, _ in shapes) == summary.rows == len(texts)
    assert all(rows * width <= 128 or rows <= 2 for rows, width in shapes), shapes
    assert max(rows for rows, width in shapes if width <= 5) > max(rows for rows, width in shapes if width >= 27)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [str(i) for i in range(len(texts))]
    for row, probs in zip(rows, _reference(text_models["full"], texts)):
        got = sorted((s["score"] for s in row["scores"]), reverse=True)
        assert got == pytest.approx(sorted(probs.tolist(), reverse=True), abs=1e-5)


def test_a_batch_wider_than_the_token_budget_runs_in_parts_with_the_same_logits(text_models, monkeypatch):
    """Runner.forward splits a batch that a task encoded into more tokens than BATCH_TOKENS (e.g. windows of long
    sentences) into parts that fit, and gives the logits of the whole batch."""
    import hf_transfer.inference as inference
    from hf_transfer.inference import Runner, open_model

    monkeypatch.setattr(inference, "BATCH_TOKENS", 40)
    monkeypatch.setattr(inference, "MIN_BATCH_ROWS", 2)
    loaded = open_model(text_models["full"])
    texts = [" ".join(["stadium"] * 8)] * 10  # 10 rows of 10 tokens: 4 rows (40 tokens) per call
    batch = dict(loaded.processor(texts, padding=True, return_tensors="pt"))
    assert batch["input_ids"].shape == (10, 10)
    runner = Runner(loaded, precision="fp32")
    calls = []
    runner.net.register_forward_hook(
        lambda module, args, kwargs, out: calls.append(len(kwargs["input_ids"])), with_kwargs=True
    )
    logits = runner.forward(batch)
    assert calls == [4, 4, 2]
    with torch.no_grad():
        expected = hf_transfer.load_model(text_models["full"]).eval()(**batch).logits
    assert torch.allclose(logits, expected, atol=1e-5)


def test_plain_model_matches_transformers_pipeline(text_models, tmp_path):
    from transformers import pipeline

    texts = _texts(tmp_path / "in.jsonl", 12)
    out = tmp_path / "pred.jsonl"
    hf_transfer.predict(
        text_models["full"], str(tmp_path / "in.jsonl"), out, top_k=None, progress=False, precision="fp32"
    )  # pipeline() runs in fp32
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    classify = pipeline(
        "text-classification", model=str(text_models["full"]), top_k=None, truncation=True, max_length=32
    )
    for row, scores in zip(rows, classify(texts)):
        ours = {s["label"]: s["score"] for s in row["scores"]}
        assert {s["label"] for s in scores} == set(ours)
        assert all(abs(ours[s["label"]] - s["score"]) < 1e-5 for s in scores)


def test_a_transformers_folder_without_a_run_recipe_is_read_from_its_architecture(text_models, tmp_path):
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(
        text_models["full"], plain, ignore=shutil.ignore_patterns("recipe.yaml", ".hf_transfer", "*.json.bak")
    )
    short = tmp_path / "in.jsonl"  # shorter than the run's max_length (32), which only its recipe knows
    short.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["alpha beta", "river stone cloud", "apple"]))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    hf_transfer.predict(plain, str(short), a, progress=False)
    hf_transfer.predict(text_models["full"], str(short), b, progress=False)
    assert (
        not (plain / "recipe.yaml").exists() and a.read_text() == b.read_text() and len(a.read_text().splitlines()) == 3
    )


def test_output_formats_round_trip(text_models, tmp_path):
    import pyarrow.parquet as pq

    _texts(tmp_path / "in.jsonl", 10)
    got = {}
    for suffix in ("jsonl", "csv", "tsv", "parquet"):
        out = tmp_path / f"pred.{suffix}"
        hf_transfer.predict(text_models["full"], str(tmp_path / "in.jsonl"), out, top_k=2, progress=False)
        if suffix == "parquet":
            got[suffix] = pq.read_table(out).to_pylist()
        elif suffix == "jsonl":
            got[suffix] = [json.loads(line) for line in out.read_text().splitlines()]
        else:
            import csv

            rows = list(csv.DictReader(out.open(), delimiter="\t" if suffix == "tsv" else ","))
            got[suffix] = [
                {**r, "score": float(r["score"]), "scores": json.loads(r["scores"]), "error": r["error"] or None}
                for r in rows
            ]
    assert got["jsonl"] == got["csv"] == got["tsv"] == got["parquet"]
    assert all(len(r["scores"]) == 2 for r in got["jsonl"])
    assert not list(tmp_path.glob(".pred.*partial*"))


def test_json_lines_that_cannot_be_read_are_rows_with_an_error_and_the_job_goes_on(text_models, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"text": "alpha beta"}\n{"text": "river\n\n{"text": "caf\xe9"}\n{"text": "stone cloud"}\n')
    out = tmp_path / "pred.jsonl"
    summary = hf_transfer.predict(text_models["full"], str(source), out, progress=False, precision="fp32")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.rows == 4 and summary.errors == 2 and [r["id"] for r in rows] == ["0", "1", "2", "3"]
    assert rows[0]["label"] and rows[3]["label"] and rows[0]["error"] is None and rows[3]["error"] is None
    assert rows[1]["error"].startswith("line 2 is not valid JSON") and rows[1]["label"] is None
    assert rows[2]["error"].startswith("line 4 is not UTF-8 text") and rows[2]["label"] is None
    with pytest.raises(DataError, match="input row 1: line 2 is not valid JSON"):
        hf_transfer.predict(text_models["full"], str(source), tmp_path / "p.jsonl", on_error="fail", progress=False)
    assert not (tmp_path / "p.jsonl").exists()


def test_stdin_lines_with_bad_rows_are_written_with_an_error_and_counted(text_models, tmp_path):
    lines = b"alpha beta\n\nriver stone cloud\n\xff\xfe not utf-8\n"
    proc = subprocess.run(
        [sys.executable, "-m", "hf_transfer", "predict", str(text_models["full"]), "-", "--quiet"],
        input=lines,
        capture_output=True,
        env=ENV,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [r["id"] for r in rows] == ["0", "1", "2", "3"]
    assert rows[0]["label"] and rows[2]["label"] and rows[0]["error"] is None
    assert rows[1]["error"] == "empty text" and rows[1]["label"] is None
    assert rows[3]["error"].startswith("not UTF-8 text")
    assert "predicted 4 rows, 2 rows with an error field" in proc.stderr.decode()

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hf_transfer",
            "predict",
            str(text_models["full"]),
            "-",
            "--quiet",
            "--on-error",
            "fail",
            "-o",
            str(tmp_path / "p.jsonl"),
        ],
        input=lines,
        capture_output=True,
        env=ENV,
        timeout=300,
    )
    assert proc.returncode != 0 and "input row 1: empty text" in proc.stderr.decode()
    assert "Traceback" not in proc.stderr.decode()
    assert not list(tmp_path.iterdir())  # neither the output nor a partial file


def test_an_interrupted_job_leaves_no_output_file(text_models, tmp_path, monkeypatch):
    from hf_transfer.tasks.text_classification import TextClassification

    _texts(tmp_path / "in.jsonl", 300)
    calls = []
    original = TextClassification.predictions

    def fail_later(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TextClassification, "predictions", fail_later)
    out = tmp_path / "out" / "pred.csv"
    out.parent.mkdir()
    with pytest.raises(KeyboardInterrupt):
        hf_transfer.predict(text_models["full"], str(tmp_path / "in.jsonl"), out, batch_size=2, progress=False)
    assert not list(out.parent.iterdir())


def test_bad_inputs_are_one_clear_message_and_nothing_is_written(text_models, tmp_path, capsys):
    _texts(tmp_path / "in.jsonl", 4)
    model = str(text_models["full"])
    existing = tmp_path / "old.csv"
    existing.write_text("mine\n")
    cases = [
        (
            [model, str(tmp_path / "in.jsonl"), "--text-column", "body"],
            "has no column 'body' (text); its columns are: text, id_in_file",
        ),
        ([model, str(tmp_path / "in.jsonl"), "--keep-columns", "nope"], "'nope' (--keep-columns)"),
        ([model, str(tmp_path / "in.jsonl"), "-o", str(existing)], "already exists; pass --overwrite"),
        ([model, str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "p.xlsx")], "expected a file ending in .jsonl, .csv"),
        ([model, str(tmp_path / "missing.csv")], "does not exist"),
        ([model, str(tmp_path)], "is a folder, which predict reads as images, but this model takes text"),
        ([str(tmp_path), str(tmp_path / "in.jsonl")], "has no config.json"),
        ([model, str(tmp_path / "in.jsonl"), "--batch-size", "0"], "batch_size must be 1 or more (rows per batch)"),
    ]
    for args, message in cases:
        assert cli.main(["predict", *args, "--quiet"]) != 0
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
    assert existing.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["in.jsonl", "old.csv"]


def test_keep_columns_named_like_a_prediction_column_are_prefixed(text_models, tmp_path, text_files):
    out = tmp_path / "pred.jsonl"
    hf_transfer.predict(text_models["full"], str(text_files["test"]), out, keep_columns=["label"], progress=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    truth = [json.loads(line)["label"] for line in text_files["test"].read_text().splitlines()]
    assert [r["input_label"] for r in rows] == truth and all(r["label"] for r in rows)


def test_a_kept_column_named_like_a_prediction_column_the_job_does_not_write_keeps_its_own_type(text_models, tmp_path):
    """With top_k 1 there is no ``scores`` prediction column: a kept input column of that name is the input's, with
    the type of its values, in parquet too (not forced to the type of the scores predictions would have)."""
    import pyarrow.parquet as pq

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": f"alpha river {i}", "scores": i + 0.5}) + "\n" for i in range(3)))
    out = tmp_path / "pred.parquet"
    hf_transfer.predict(text_models["full"], str(source), out, top_k=1, keep_columns=["scores"], progress=False)
    assert pq.read_table(out).column("scores").to_pylist() == [0.5, 1.5, 2.5]


@pytest.mark.parametrize("kind", ["vit", "timm", "resnet"])  # resnet/timm: convolutions, run in channels-last
def test_image_folder_with_a_damaged_file_in_order_with_workers(kind, backbones, image_folder, tmp_path):
    out_dir = tmp_path / "model"
    recipe = image_recipe(backbones[kind], image_folder, out_dir)
    recipe["training"].update(max_steps=2, precision="fp32", dataloader_num_workers=0)
    hf_transfer.train(recipe)
    photos = tmp_path / "photos"
    rng = random.Random(3)
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    for i in range(11):
        sub = photos / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        make_image(colors[i % 3], rng).save(sub / f"{i:02d}.png")
    (photos / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "pred.jsonl"
    summary = hf_transfer.predict(
        out_dir, str(photos), out, top_k=None, batch_size=2, num_workers=2, progress=False, precision="fp32"
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    files = sorted(str(p.relative_to(photos)) for p in photos.rglob("*.png"))
    assert [r["id"] for r in rows] == files and summary.errors == 1
    broken = next(r for r in rows if r["id"] == "a/broken.png")
    assert broken["error"].startswith("could not read the image") and broken["label"] is None

    from PIL import Image
    from transformers import AutoImageProcessor

    model = hf_transfer.load_model(out_dir)
    processor = AutoImageProcessor.from_pretrained(out_dir)
    for row in rows:
        if row["error"]:
            continue
        image = Image.open(photos / row["id"]).convert("RGB")
        pixels = (
            processor.val_transforms(image)[None]
            if hasattr(processor, "val_transforms")
            else processor(images=[image], return_tensors="pt")["pixel_values"]
        )
        with torch.no_grad():
            probs = model(pixel_values=pixels).logits.softmax(-1)[0]
        got = {s["label"]: s["score"] for s in row["scores"]}
        for i, label in model.config.id2label.items():
            assert abs(got[label] - float(probs[int(i)])) < 1e-5


def test_image_models_run_in_channels_last_and_give_the_same_logits(backbones, image_folder, tmp_path):
    """predict runs a convolutional image model in channels-last layout (faster convolutions); its logits equal
    the model's own in the default layout."""
    import torch

    from hf_transfer.inference import Runner, open_model

    out_dir = tmp_path / "model"
    recipe = image_recipe(backbones["resnet"], image_folder, out_dir)
    recipe["training"].update(max_steps=1, precision="fp32", dataloader_num_workers=0)
    hf_transfer.train(recipe)
    loaded = open_model(out_dir)
    pixels = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = hf_transfer.load_model(out_dir).eval()(pixel_values=pixels).logits
    runner = Runner(loaded, precision="fp32", batch_size=2)
    conv = next(m for m in runner.net.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(runner.forward({"pixel_values": pixels}), expected, atol=1e-5)


def test_unknown_model_kind_and_bad_options_are_refused(tmp_path, text_models):
    with pytest.raises(HfTransferError, match="on_error must be"):
        hf_transfer.predict(text_models["full"], "-", on_error="ignore")
    with pytest.raises(OutputError, match="is a folder"):
        hf_transfer.predict(text_models["full"], "-", tmp_path)
    with pytest.raises(DataError, match="standard input gives lines of text"):
        from hf_transfer.inference.sources import open_source

        open_source("-", {"image": ["image"]}, "image", None)
