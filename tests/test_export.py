"""`hf-transfer export --format onnx`: parity for every artifact kind, predict through onnxruntime, int8, bad input."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

import hf_transfer
from helpers import image_recipe
from hf_transfer import cli

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


HAVE_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime", "onnxscript"))
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="the onnx extra is not installed (pip install '.[onnx]')")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _same_predictions(model_dir: Path, export_dir: Path, inputs: str, tmp_path: Path, **kwargs) -> None:
    torch_out, onnx_out = tmp_path / "torch.jsonl", tmp_path / "onnx.jsonl"
    # fp32 as the export: auto would mean bf16 on a CPU with avx512_bf16
    hf_transfer.predict(model_dir, inputs, torch_out, top_k=None, progress=False, precision="fp32", **kwargs)
    summary = hf_transfer.predict(export_dir, inputs, onnx_out, top_k=None, progress=False, **kwargs)
    assert summary.precision == "onnx" and summary.device == "cpu"
    expected, got = _rows(torch_out), _rows(onnx_out)
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    for a, b in zip(got, expected):
        scores = {s["label"]: s["score"] for s in b["scores"]}
        assert all(abs(s["score"] - scores[s["label"]]) < 1e-4 for s in a["scores"])


@needs_onnx
@pytest.mark.parametrize("kind", ["full", "mlp", "lora"])
def test_text_export_matches_pytorch_for_every_artifact_kind(kind, text_models, text_files, tmp_path):
    out = tmp_path / "exported"
    quantize = "dynamic-int8" if kind == "full" else None
    result = hf_transfer.export(text_models[kind], out, quantize=quantize)
    assert result.examples_source == "validation" and result.examples == 12  # the run's validation split
    assert result.max_abs_diff < 1e-4 and result.label_agreement == 1.0
    assert result.inputs == ["input_ids", "token_type_ids", "attention_mask"]
    names = {p.name for p in out.iterdir()}
    assert {"model.onnx", "config.json", "hf_transfer_export.json", "README.md", "tokenizer.json"} <= names
    assert not list(tmp_path.glob(".exported*"))  # no temporary folder left behind
    assert ("model.int8.onnx" in names) == (quantize is not None)
    record = json.loads((out / "hf_transfer_export.json").read_text())
    assert record["task"] == "text-classification" and record["inputs"] == result.inputs
    assert record["dynamic_axes"]["input_ids"] == ["batch", "sequence"] and record["opset"] >= 18
    assert record["parity"]["max_abs_diff"] == result.max_abs_diff and record["source"] == str(
        text_models[kind].resolve()
    )
    config = json.loads((out / "config.json").read_text())
    assert set(config["id2label"].values()) == {"sports", "science", "music"}
    card = (out / "README.md").read_text()
    assert "ort.InferenceSession" in card and "hf-transfer predict exported" in card and "{" not in card.split("```")[0]

    import onnx

    graph = onnx.load(str(out / "model.onnx")).graph
    assert [o.name for o in graph.output] == ["logits"]
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert all(isinstance(d[0], str) and isinstance(d[1], str) for d in dims.values()), dims  # batch, sequence dynamic

    if quantize:
        assert record["parity"]["int8"]["file"] == "model.int8.onnx"
        assert 0 <= result.int8["label_agreement"] <= 1 and "accuracy_change" in result.int8
        assert set(result.accuracy) == {"pytorch", "onnx", "onnx_int8"}
    _same_predictions(text_models[kind], out, str(text_files["test"]), tmp_path, batch_size=3)
    if kind == "full":  # evaluate runs an export too, and --against compares it with its source on the same rows
        scored = hf_transfer.evaluate(
            out, str(text_files["test"]), output_dir=tmp_path / "eval", against=str(text_models[kind]), precision="fp32"
        )
        assert scored.rows == 12 and scored.against["metrics"]["accuracy"] == scored.metrics["accuracy"]


@needs_onnx
def test_image_export_matches_pytorch(backbones, image_folder, tmp_path):
    model_dir = tmp_path / "vit"
    recipe = image_recipe(backbones["vit"], image_folder, model_dir)
    recipe["training"].update(max_steps=2, precision="fp32", dataloader_num_workers=0)
    hf_transfer.train(recipe)
    out = tmp_path / "vit-onnx"
    assert cli.main(["export", str(model_dir), "--quantize", "dynamic-int8"]) == 0  # default: <model>-onnx
    record = json.loads((out / "hf_transfer_export.json").read_text())
    assert record["inputs"] == ["pixel_values"] and record["dynamic_axes"] == {"pixel_values": ["batch"]}
    assert record["parity"]["examples_source"] == "validation" and record["parity"]["examples"] == 9
    assert record["parity"]["max_abs_diff"] < 1e-4 and (out / "model.int8.onnx").is_file()
    assert (out / "preprocessor_config.json").is_file()
    _same_predictions(model_dir, out, str(image_folder / "validation"), tmp_path, batch_size=4, num_workers=0)


@needs_onnx
def test_without_the_run_recipe_synthetic_inputs_are_used(text_models, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(text_models["full"], plain)
    (plain / "recipe.yaml").unlink()
    result = hf_transfer.export(plain, tmp_path / "out", max_examples=5)
    assert result.examples_source.startswith("synthetic (no recipe.yaml") and result.examples == 5
    assert result.max_abs_diff < 1e-4


@needs_onnx
def test_a_parity_failure_leaves_no_export_folder(text_models, tmp_path, monkeypatch, capsys):
    import hf_transfer.onnx_export as export_module

    real = export_module._onnx_logits
    monkeypatch.setattr(export_module, "_onnx_logits", lambda path, batches: [b + 0.01 for b in real(path, batches)])
    out = tmp_path / "out"
    assert cli.main(["export", str(text_models["full"]), "--output-dir", str(out)]) != 0
    err = capsys.readouterr().err
    assert "differ from the PyTorch model's by up to 0.01" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir()) or sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


@needs_onnx
def test_an_existing_export_is_replaced_only_with_overwrite(text_models, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert cli.main(["export", str(text_models["full"]), "--output-dir", str(out)]) != 0
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    # --overwrite replaces an earlier export, never a folder of other files
    assert cli.main(["export", str(text_models["full"]), "--output-dir", str(out), "--overwrite"]) != 0
    assert "is not an hf-transfer export" in capsys.readouterr().err and (out / "mine.txt").read_text() == "keep"
    (out / "mine.txt").unlink()
    assert cli.main(["export", str(text_models["full"]), "--output-dir", str(out), "--max-examples", "3"]) == 0
    first = (out / "hf_transfer_export.json").read_text()
    assert cli.main(["export", str(text_models["full"]), "--output-dir", str(out), "--overwrite"]) == 0
    assert (out / "hf_transfer_export.json").read_text() != first and (out / "model.onnx").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["out"]
    # an export folder is not a source for another export
    assert cli.main(["export", str(out), "--output-dir", str(tmp_path / "again")]) != 0
    assert "is already an ONNX export" in capsys.readouterr().err


def test_bad_input_is_one_clear_message_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    (not_a_model / "a.txt").write_text("hello")
    if HAVE_ONNX:
        assert cli.main(["export", str(not_a_model), "--output-dir", str(tmp_path / "o1")]) != 0
        err = capsys.readouterr().err
        assert "has no config.json" in err and "Traceback" not in err
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime → ImportError
    (not_a_model / "config.json").write_text("{}")
    assert cli.main(["export", str(not_a_model), "--output-dir", str(tmp_path / "o2")]) != 0
    err = capsys.readouterr().err
    assert "pip install 'hf-transfer-learning[onnx]'" in err and "onnxruntime" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["notes"]
