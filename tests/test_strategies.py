"""Every registered strategy × every tiny backbone family keeps its promise on the weights.

Driven by the registry: a new strategy gets this whole suite by being registered
(add its required options to STRATEGY_OPTIONS if it has any).
"""

from __future__ import annotations

import json

import pytest
import torch

import hf_transfer
from helpers import IMAGE_BACKBONES, TEXT_BACKBONES, image_recipe, text_recipe
from hf_transfer.registry import STRATEGIES

# The feature cache trains the head alone on cached features (tests/test_feature_cache.py); here the
# frozen strategy runs through the Trainer with the backbone in the loop, so its weights can be watched.
STRATEGY_OPTIONS = {"partial": {"num_blocks": 1}, "lora": {"merge": True}, "frozen": {"cache_features": False}}
VARIANTS = {name: {"name": name, **STRATEGY_OPTIONS.get(name, {})} for name in STRATEGIES.names()}
VARIANTS["frozen-mlp"] = {
    "name": "frozen",
    "head": "mlp",
    "head_hidden_sizes": [16],
    "head_dropout": 0.1,
    "cache_features": False,
}
VARIANTS["lora-mlp"] = {"name": "lora", "head": "mlp", "head_hidden_sizes": [16], "merge": True}
BACKBONES = TEXT_BACKBONES + IMAGE_BACKBONES
BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@pytest.fixture
def recorder(monkeypatch):
    """Patch hf_transfer's Trainer to remember initial weights and which parameters got gradients."""
    import hf_transfer.trainer

    records = []

    class RecordingTrainer(hf_transfer.trainer.TransferTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.initial = {n: p.detach().clone() for n, p in self.model.named_parameters()}
            self.initial_buffers = {n: b.detach().clone() for n, b in self.model.named_buffers()}
            self.trainable = {n for n, p in self.model.named_parameters() if p.requires_grad}
            self.got_grad: set[str] = set()
            records.append(self)

        def training_step(self, model, inputs, num_items_in_batch=None):
            loss = super().training_step(model, inputs, num_items_in_batch)
            self.got_grad |= {
                n for n, p in self.model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0
            }
            return loss

    monkeypatch.setattr(hf_transfer.trainer, "TransferTrainer", RecordingTrainer)
    return records


def _recipe(kind, backbones, text_files, image_folder, out, strategy):
    if kind in TEXT_BACKBONES:
        recipe = text_recipe(backbones[kind], text_files, out)
    else:
        recipe = image_recipe(backbones[kind], image_folder, out)
    recipe["strategy"] = dict(strategy)
    recipe["training"]["learning_rate"] = 5e-3
    return recipe


def _frozen_module_buffers(model) -> list[str]:
    out = []
    for mname, module in model.named_modules():
        params = list(module.parameters(recurse=False))
        for bname, _ in module.named_buffers(recurse=False):
            if bname in BN_BUFFERS and params and not any(p.requires_grad for p in params):
                out.append(f"{mname}.{bname}" if mname else bname)
    return out


def _check_trainable_set(variant, trainer, result):
    names = [n for n, _ in trainer.model.named_parameters()]
    trainable = trainer.trainable
    head_modules = result.strategy.details["head_modules"]
    assert head_modules, "every strategy trains a new head"

    def in_head(n):
        return any(n.startswith(h + ".") or f".{h}." in n for h in head_modules)

    strategy = VARIANTS[variant]["name"]
    if strategy == "full":
        assert trainable == set(names)
    elif strategy == "frozen":
        assert trainable == {n for n in names if in_head(n)}
        assert trainable
    elif strategy == "partial":
        order = [n for n in names if not in_head(n)]
        first = min(order.index(n) for n in trainable if n in order)
        assert set(order[first:]) <= trainable, "everything after the first unfrozen block trains"
        assert not set(order[:first]) & trainable, "everything before it stays frozen"
        assert 0 < len(trainable) < len(names)
        blocks = result.strategy.details["unfrozen_blocks"]
        in_block = [n for n in names if f"{blocks[0]}." in n]
        assert len(blocks) == 1 and in_block and set(in_block) <= trainable
    elif strategy == "lora":
        assert all("lora_" in n or ".modules_to_save." in n for n in trainable), sorted(trainable)[:5]
        assert any("lora_A" in n for n in trainable) and any("lora_B" in n for n in trainable)
        assert any(".modules_to_save." in n for n in trainable)
    report = result.strategy
    assert report.trainable_params == sum(p.numel() for n, p in trainer.model.named_parameters() if n in trainable)


@pytest.mark.parametrize("kind", BACKBONES)
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.slow
def test_strategy_keeps_its_promise(variant, kind, backbones, text_files, image_folder, tmp_path, recorder):
    out = tmp_path / "out"
    result = hf_transfer.train(_recipe(kind, backbones, text_files, image_folder, out, VARIANTS[variant]))
    (trainer,) = recorder
    final = dict(trainer.model.named_parameters())
    for name, before in trainer.initial.items():
        if name in trainer.trainable:
            assert not torch.equal(final[name].detach(), before), f"trainable {name} did not change"
            assert name in trainer.got_grad, f"trainable {name} received no gradient"
        else:
            assert torch.equal(final[name].detach(), before), f"frozen {name} changed"
    buffers = dict(trainer.model.named_buffers())
    for name in _frozen_module_buffers(trainer.model):
        assert torch.equal(buffers[name], trainer.initial_buffers[name]), f"BatchNorm statistic {name} drifted"
    _check_trainable_set(variant, trainer, result)

    report = json.loads((out / "training_report.json").read_text())["strategy"]
    assert report["trainable_params"] == result.strategy.trainable_params
    assert 0 < report["trainable_percent"] <= 100
    config = json.loads((out / "config.json").read_text())
    assert config["hf_transfer"]["head"] == VARIANTS[variant].get("head", "linear")
    if VARIANTS[variant]["name"] == "lora":
        assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
        assert (out / "merged" / "model.safetensors").is_file()


@pytest.mark.parametrize("kind", ["resnet", "timm"])
@pytest.mark.slow
def test_frozen_backbone_batchnorm_statistics_do_not_drift(kind, backbones, image_folder, tmp_path, recorder):
    hf_transfer.train(
        _recipe(kind, backbones, {}, image_folder, tmp_path / "out", {"name": "frozen", "cache_features": False})
    )
    (trainer,) = recorder
    stats = [n for n in trainer.initial_buffers if n.endswith("running_mean")]
    assert stats, "the backbone has BatchNorm layers"
    buffers = dict(trainer.model.named_buffers())
    for name in stats:
        assert torch.equal(buffers[name], trainer.initial_buffers[name]), name


def _block_of(name: str, blocks: list[str]) -> int | None:
    name = name.replace("base_model.model.", "")
    return next((i for i, b in enumerate(blocks) if name.startswith(b + ".")), None)


@pytest.mark.parametrize("kind", ["resnet", "convnext", "timm"])
@pytest.mark.slow
def test_lora_last_blocks_puts_adapters_in_the_last_blocks_only(kind, backbones, image_folder, tmp_path, recorder):
    from hf_transfer.blocks import find_blocks
    from hf_transfer.errors import ConfigError

    result = hf_transfer.train(
        _recipe(kind, backbones, {}, image_folder, tmp_path / "one", {"name": "lora", "last_blocks": 1})
    )
    blocks = [name for name, _ in find_blocks(recorder[0].model.get_base_model())]
    adapted = {n.split(".lora_")[0] for n, _ in recorder[0].model.named_parameters() if ".lora_A." in n}
    assert adapted and {_block_of(n, blocks) for n in adapted} == {len(blocks) - 1}
    assert result.strategy.details["lora"]["blocks"].startswith(f"the last 1 of {len(blocks)} blocks")
    assert f"in the last 1 of {len(blocks)} blocks" in (tmp_path / "one" / "README.md").read_text()

    hf_transfer.train(
        _recipe(kind, backbones, {}, image_folder, tmp_path / "all", {"name": "lora", "last_blocks": "all"})
    )
    every = {n.split(".lora_")[0] for n, _ in recorder[1].model.named_parameters() if ".lora_A." in n}
    assert adapted < every and 0 in {_block_of(n, blocks) for n in every}
    with pytest.raises(ConfigError, match="last_blocks' is 99"):
        hf_transfer.train(
            _recipe(kind, backbones, {}, image_folder, tmp_path / "many", {"name": "lora", "last_blocks": 99})
        )


def test_lora_auto_on_a_convnet_takes_the_last_two_stages_and_every_block_of_a_transformer():
    from transformers import AutoModelForImageClassification, ResNetConfig, ViTConfig

    from hf_transfer.strategies.lora import Lora

    resnet = AutoModelForImageClassification.from_config(
        ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1], num_labels=3)
    )
    lora = Lora()
    targets = lora.resolve_targets(resnet, ["classifier"])
    kept, where = lora._in_last_blocks(resnet, targets)
    assert kept and all(t.startswith(("resnet.encoder.stages.2.", "resnet.encoder.stages.3.")) for t in kept)
    assert set(targets) - set(kept) and "last_blocks auto on a convolutional backbone" in where
    vit = AutoModelForImageClassification.from_config(
        ViTConfig(
            hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=16, image_size=8, patch_size=4
        )
    )
    targets = lora.resolve_targets(vit, ["classifier"])
    assert lora._in_last_blocks(vit, targets) == (targets, None)


# What each vision family's LoRA preset adapts (module short names), transformers classes and timm architectures
# (ViT's attention projections are query/value or q_proj/v_proj depending on the transformers version).
LORA_PRESETS = {
    "vit": ({"query", "value"}, {"q_proj", "v_proj"}),
    "convnext": ({"pwconv1", "pwconv2"},),
    "resnet": ({"convolution"},),
    "timm:test_vit": ({"qkv"},),
    "timm:test_convnext": ({"fc1", "fc2"},),
    "timm:test_resnet": ({"conv1", "conv2", "conv3"},),
    "timm:test_efficientnet": ({"conv_pw", "conv_pwl"},),
}


@pytest.mark.parametrize("family", list(LORA_PRESETS))
@pytest.mark.slow
def test_lora_preset_of_each_vision_family_trains_and_reloads(family, backbones, image_folder, tmp_path, recorder):
    """Defaults only (no target_modules): the family's preset is adapted, its adapters train, and the saved
    adapter and merged model reload with the trained model's predictions."""
    from PIL import Image

    from helpers import build_timm_backbone

    backbone = (
        build_timm_backbone(family.split(":")[1], tmp_path / "bb") if family.startswith("timm:") else backbones[family]
    )
    out = tmp_path / "out"
    recipe = image_recipe(backbone, image_folder, out, strategy={"name": "lora", "last_blocks": "all", "merge": True})
    recipe["training"].update(learning_rate=5e-2, dataloader_num_workers=0, dataloader_persistent_workers=False)
    result = hf_transfer.train(recipe)
    (trainer,) = recorder
    lora = {n for n in trainer.trainable if ".lora_" in n}
    adapted = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in lora}
    assert adapted in LORA_PRESETS[family]
    assert lora <= trainer.got_grad, "every adapter trains"
    assert result.strategy.details["lora"]["target_modules"]

    task = result.recipe.task.options
    from hf_transfer.backbone import resolve

    processor = task.load_processor(resolve(str(backbone)))
    images = [Image.open(p) for p in sorted((image_folder / "validation").rglob("*.png"))[:6]]
    pixels = task.batch_transform(processor, train=False)({"image": images, "label": [0] * len(images)})["pixel_values"]
    trained = trainer.model.eval()
    with torch.no_grad():
        expected = trained(pixel_values=pixels).logits
        for folder in (out, out / "merged"):
            reloaded = hf_transfer.load_model(folder).eval()
            assert torch.allclose(reloaded(pixel_values=pixels).logits, expected, atol=1e-4), folder
