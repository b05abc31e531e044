"""Each task end to end on each tiny backbone family: train a few steps, save, reload, predict."""

from __future__ import annotations

import json

import pytest
from conftest import IMAGE_BACKBONES, TEXT_BACKBONES, image_recipe, text_recipe

import hf_transfer

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
