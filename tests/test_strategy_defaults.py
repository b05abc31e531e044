"""Each strategy fills the training values a recipe leaves unset, warns about unusual learning rates,
and picks a pooling that suits what it trains."""

from __future__ import annotations

import json
import logging

import pytest

import hf_transfer
from helpers import text_recipe
from hf_transfer.pipeline import _training_arguments


def _recipe(backbones, text_files, out, strategy: str, **training):
    recipe = text_recipe(backbones["bert"], text_files, out, strategy={"name": strategy})
    recipe["training"].pop("learning_rate")
    recipe["training"].update(training)
    return recipe


def test_defaults_fill_only_what_the_recipe_leaves_unset(backbones, text_files, tmp_path):
    silent = hf_transfer.train(_recipe(backbones, text_files, tmp_path / "a", "frozen"), dry_run=True)
    assert silent.training_defaults["learning_rate"]["value"] == 1e-2
    assert "linear probe" in silent.training_defaults["learning_rate"]["reason"]
    assert "num_train_epochs" not in silent.training_defaults, "max_steps decides the length of training"
    args, _ = _training_arguments(
        silent.recipe, silent.recipe.task.options, {k: d["value"] for k, d in silent.training_defaults.items()}
    )
    assert args.learning_rate == 1e-2 and args.weight_decay == 0.01

    chosen = hf_transfer.train(
        _recipe(
            backbones,
            text_files,
            tmp_path / "b",
            "frozen",
            learning_rate=3e-3,
            warmup_steps=2,
            max_steps=-1,
            num_train_epochs=1,
        ),
        dry_run=True,
    )
    assert "learning_rate" not in chosen.training_defaults and "warmup_steps" not in chosen.training_defaults
    assert "num_train_epochs" not in chosen.training_defaults
    assert chosen.training_defaults["weight_decay"]["value"] == 0.01

    full = hf_transfer.train(_recipe(backbones, text_files, tmp_path / "c", "full", max_steps=-1), dry_run=True)
    assert full.training_defaults["learning_rate"]["value"] == 5e-5
    assert full.training_defaults["num_train_epochs"]["value"] == 3
    lora = hf_transfer.train(_recipe(backbones, text_files, tmp_path / "d", "lora"), dry_run=True)
    assert lora.training_defaults["learning_rate"]["value"] == 1e-3


def test_fused_adamw_is_the_default_only_where_the_recipe_is_silent(backbones, text_files, tmp_path, monkeypatch):
    import torch
    from transformers import Trainer

    from hf_transfer import strategy_defaults

    silent = hf_transfer.train(_recipe(backbones, text_files, tmp_path / "a", "full"), dry_run=True)
    assert silent.training_defaults["optim"]["value"] == "adamw_torch_fused"
    args, _ = _training_arguments(
        silent.recipe, silent.recipe.task.options, {k: d["value"] for k, d in silent.training_defaults.items()}
    )
    optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
    assert optimizer_cls is torch.optim.AdamW and kwargs["fused"] is True
    for optim in ("adamw_torch", "sgd"):  # the recipe's own choice stands
        chosen = hf_transfer.train(_recipe(backbones, text_files, tmp_path / optim, "full", optim=optim), dry_run=True)
        assert "optim" not in chosen.training_defaults
    # a device torch has no fused kernels for keeps Trainer's own default
    monkeypatch.setattr("torch.utils._foreach_utils._get_fused_kernels_supported_devices", lambda: ["cuda"])
    assert strategy_defaults.optimizer_default({"use_cpu": True}) is None


@pytest.mark.parametrize("kind", ["resnet", "convnext"])
def test_lora_on_a_convnet_defaults_to_a_higher_rate(kind, backbones, image_folder, tmp_path):
    from helpers import image_recipe

    recipe = image_recipe(backbones[kind], image_folder, tmp_path / "out", strategy={"name": "lora"})
    recipe["training"].pop("learning_rate")
    result = hf_transfer.train(recipe, dry_run=True)
    assert result.training_defaults["learning_rate"]["value"] == 3e-3
    assert "convolutional" in result.training_defaults["learning_rate"]["reason"] and result.warnings == []


def test_an_unusual_learning_rate_is_warned_about_once(backbones, text_files, tmp_path, caplog):
    # The exact solver (the default for a linear head on cached features) uses no rate: never warned about.
    solved = hf_transfer.train(
        _recipe(backbones, text_files, tmp_path / "s", "frozen", learning_rate=1e-4), dry_run=True
    )
    assert solved.warnings == []
    sgd = {"strategy.head_solver": "sgd"}  # the frozen cases below train the head with the Trainer loop
    with caplog.at_level(logging.WARNING, logger="hf_transfer"):
        low = hf_transfer.train(
            _recipe(backbones, text_files, tmp_path / "a", "frozen", learning_rate=1e-4), dry_run=True, **sgd
        )
    (warning,) = low.warnings
    assert (
        "training.learning_rate 0.0001 is far below" in warning and "0.001-0.1" in warning and "default 0.01" in warning
    )
    assert sum("usual range" in r.getMessage() for r in caplog.records) == 1
    high = hf_transfer.train(_recipe(backbones, text_files, tmp_path / "b", "full", learning_rate=1e-2), dry_run=True)
    assert len(high.warnings) == 1 and "far above" in high.warnings[0]
    for strategy, rate in (("frozen", 1e-2), ("full", 1e-4), ("lora", 1e-3)):
        usual = hf_transfer.train(
            _recipe(backbones, text_files, tmp_path / strategy, strategy, learning_rate=rate),
            dry_run=True,
            **(sgd if strategy == "frozen" else {}),
        )
        assert usual.warnings == [], (strategy, usual.warnings)
    head = hf_transfer.train(
        _recipe(backbones, text_files, tmp_path / "h", "frozen", learning_rate=1e-5),
        **{"strategy.head_learning_rate": 1e-2},
        **sgd,
        dry_run=True,
    )
    assert head.warnings == [], "the frozen strategy trains the head: its own rate is what counts"


@pytest.mark.parametrize(("strategy", "pooling"), [("frozen", "mean"), ("lora", "mean"), ("full", "native")])
@pytest.mark.slow
def test_auto_pooling_suits_what_the_strategy_trains(strategy, pooling, backbones, text_files, tmp_path):
    out = tmp_path / "out"
    result = hf_transfer.train(_recipe(backbones, text_files, out, strategy))  # the run's reload check passes
    report = json.loads((out / "training_report.json").read_text())
    assert report["strategy"]["pooling"] == pooling == result.strategy.details["pooling"]
    assert report["defaults"]["learning_rate"]["value"] == result.training_defaults["learning_rate"]["value"]
    assert report["defaults"]["learning_rate"]["reason"]
    config = json.loads((out / "config.json").read_text())
    assert config["hf_transfer"]["pooling"] == pooling
    assert "Strategy defaults" in (out / "README.md").read_text()
