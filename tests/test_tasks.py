"""Task preprocessing: what the model sees from each backbone's processor."""

from __future__ import annotations

import random

import pytest
import torch

from helpers import COLORS, image_recipe, make_image
from hf_transfer.backbone import resolve
from hf_transfer.errors import ConfigError
from hf_transfer.tasks.augmentation import output_size
from hf_transfer.tasks.image_classification import ImageClassification
from hf_transfer.tasks.text_classification import TextClassification


def _images(n=4):
    rng = random.Random(1)
    return [make_image(list(COLORS.values())[i % 3], rng, size=40 + 3 * i) for i in range(n)]


@pytest.mark.parametrize("kind", ["vit", "convnext", "resnet", "timm"])
def test_eval_transform_is_the_backbones_own_processor(kind, backbones):
    task = ImageClassification()
    processor = task.load_processor(resolve(str(backbones[kind])))
    batch = {"image": _images(), "label": [0, 1, 2, 0]}
    out = task.batch_transform(processor, train=False)(batch)
    if kind == "timm":
        expected = torch.stack([processor.val_transforms(img) for img in batch["image"]])
    else:
        expected = processor(images=batch["image"], return_tensors="pt")["pixel_values"]
    assert torch.equal(out["pixel_values"], expected)
    assert out["labels"] == [0, 1, 2, 0]
    again = task.batch_transform(processor, train=False)(batch)["pixel_values"]
    assert torch.equal(again, out["pixel_values"])


@pytest.mark.parametrize("kind", ["vit", "convnext", "resnet", "timm"])
def test_train_transform_augments_at_the_backbones_input_size(kind, backbones):
    task = ImageClassification()
    processor = task.load_processor(resolve(str(backbones[kind])))
    batch = {"image": _images(), "label": [0, 1, 2, 0]}
    eval_pixels = task.batch_transform(processor, train=False)(batch)["pixel_values"]
    torch.manual_seed(0)
    a = task.batch_transform(processor, train=True)(batch)["pixel_values"]
    b = task.batch_transform(processor, train=True)(batch)["pixel_values"]
    assert a.shape == eval_pixels.shape == (4, 3, 32, 32)
    assert not torch.equal(a, b), "training images must be augmented at random"


def test_no_augmentation_trains_on_eval_preprocessing(backbones):
    task = ImageClassification(augment=False)
    processor = task.load_processor(resolve(str(backbones["vit"])))
    batch = {"image": _images(), "label": [0, 1, 2, 0]}
    a = task.batch_transform(processor, train=True)(batch)["pixel_values"]
    assert torch.equal(a, task.batch_transform(processor, train=False)(batch)["pixel_values"])


def test_output_size_reads_height_width_and_shortest_edge():
    class P:
        do_center_crop = False
        crop_size = None
        size = {"shortest_edge": 48}

    assert output_size(P()) == (48, 48)
    P.size = {"height": 20, "width": 30}
    assert output_size(P()) == (20, 30)
    P.do_center_crop, P.crop_size = True, {"height": 16, "width": 16}
    assert output_size(P()) == (16, 16)
    P.do_center_crop, P.size = False, None
    assert output_size(P()) is None


def _steps(transform) -> dict[str, object]:
    """A composed transform's steps by class name (timm's crop is RandomResizedCropAndInterpolation)."""
    return {type(t).__name__.replace("AndInterpolation", ""): t for t in transform.transforms}


def _backbone_input(processor) -> tuple[tuple[int, int], str, list[float], list[float]]:
    """Size, interpolation, mean and std as the backbone's own processor states them."""
    if hasattr(processor, "data_config"):
        c = processor.data_config
        return tuple(c["input_size"][1:]), c["interpolation"], list(c["mean"]), list(c["std"])
    from PIL import Image

    size = (
        (processor.size["height"], processor.size["width"])
        if processor.size.get("height")
        else (processor.size["shortest_edge"],) * 2
    )
    return (
        size,
        Image.Resampling(processor.resample).name.lower(),
        list(processor.image_mean),
        list(processor.image_std),
    )


@pytest.mark.parametrize("kind", ["vit", "convnext", "timm"])
@pytest.mark.parametrize("flip, jitter", [(True, 0.0), (False, 0.3)])
def test_recipe_augmentation_reaches_the_composed_transform(kind, flip, jitter, backbones):
    task = ImageClassification(crop_scale=[0.3, 0.9], horizontal_flip=flip, color_jitter=jitter)
    processor = task.load_processor(resolve(str(backbones[kind])))
    steps = _steps(task.train_transform(processor))
    size, interpolation, mean, std = _backbone_input(processor)
    crop = steps["RandomResizedCrop"]
    assert tuple(crop.scale) == (0.3, 0.9), "the recipe's crop_scale, not the library's default"
    assert tuple(crop.size) == size and getattr(crop.interpolation, "value", crop.interpolation) == interpolation
    assert ("RandomHorizontalFlip" in steps) is flip
    if jitter:
        assert [tuple(getattr(steps["ColorJitter"], k)) for k in ("brightness", "contrast", "saturation")] == [
            (0.7, 1.3)
        ] * 3
    else:
        assert "ColorJitter" not in steps, "no colour jitter unless the recipe asks (timm's default 0.4 is not used)"
    normalize = steps["Normalize"]
    assert torch.as_tensor(normalize.mean).tolist() == pytest.approx(mean)
    assert torch.as_tensor(normalize.std).tolist() == pytest.approx(std)
    record = task.augmentation(processor, "bb")
    assert record["augment"] and record["library"] == ("timm" if kind == "timm" else "torchvision")
    assert record["crop_scale"] == (0.3, 0.9) and record["size"] == size and record["horizontal_flip"] is flip
    assert f"RandomResizedCrop {size[0]}×{size[1]} scale [0.3, 0.9] {interpolation}" in record["description"]


@pytest.mark.parametrize("kind", ["vit", "timm"])
def test_no_augmentation_uses_the_eval_transform(kind, backbones):
    task = ImageClassification(augment=False, crop_scale=[0.5, 1.0])
    processor = task.load_processor(resolve(str(backbones[kind])))
    assert task.train_transform(processor) is getattr(processor, "val_transforms", None)
    assert task.augmentation(processor) == {
        "augment": False,
        "description": "none: training images get the evaluation preprocessing",
    }


def test_a_processor_that_does_not_normalise_is_followed():
    class Plain:
        size, do_normalize, resample, image_mean, image_std = {"height": 8, "width": 12}, False, 3, [0.5] * 3, [0.5] * 3

    task = ImageClassification()
    steps = _steps(task.train_transform(Plain()))
    assert "Normalize" not in steps and tuple(steps["RandomResizedCrop"].size) == (8, 12)
    assert task.augmentation(Plain())["description"].endswith(
        "bicubic, horizontal flip, no colour jitter, no normalisation (torchvision)"
    )
    assert tuple(task.train_transform(Plain())(make_image((1, 2, 3), random.Random(0))).shape) == (3, 8, 12)


def test_a_processor_without_input_size_is_a_config_error():
    class SizeLess:
        size, crop_size, image_mean, image_std = None, None, [0.5] * 3, [0.5] * 3

    with pytest.raises(ConfigError) as e:
        ImageClassification().augmentation(SizeLess(), "my/backbone")
    message = str(e.value)
    for fragment in (
        "backbone 'my/backbone'",
        "(SizeLess) gives no input size",
        "found size=None",
        "preprocessor_config.json",
        "task.augment=false",
    ):
        assert fragment in message, message
    assert ImageClassification(augment=False).augmentation(SizeLess())["augment"] is False


def test_text_is_truncated_and_padded_per_batch(backbones):
    from datasets import Dataset

    from hf_transfer.data import PreparedData

    task = TextClassification(max_length=6)
    backbone = resolve(str(backbones["bert"]))
    tokenizer = task.load_processor(backbone)
    texts = ["goal", "goal team match win score league coach stadium ball"]
    ds = Dataset.from_dict({"text": texts, "label": [0, 1]})
    data = PreparedData(
        train=ds, validation=ds, test=None, labels=["a", "b"], columns={"text": "text", "label": "label"}
    )
    from transformers import AutoConfig

    splits = task.preprocess(data, tokenizer, AutoConfig.from_pretrained(backbone.location))
    lengths = [len(x) for x in splits["train"]["input_ids"]]
    assert lengths == [3, 6]  # [CLS] goal [SEP]; truncated to max_length
    batch = task.collator(tokenizer)([splits["train"][0]])
    assert batch["input_ids"].shape == (1, 3), "a batch is padded to its longest example, not to max_length"
    assert set(splits["train"].column_names) == {"input_ids", "token_type_ids", "attention_mask", "labels"}


def test_roberta_max_length_respects_position_offset(backbones):
    from transformers import AutoConfig

    task = TextClassification(max_length=None)
    backbone = resolve(str(backbones["roberta"]))
    config = AutoConfig.from_pretrained(backbone.location)
    tokenizer = task.load_processor(backbone)
    assert task.resolved_max_length(tokenizer, config) == config.max_position_embeddings - config.pad_token_id - 1


def test_length_grouping_raises_the_share_of_real_tokens():
    import random

    from datasets import Dataset
    from transformers import TrainingArguments

    rng = random.Random(0)
    ds = Dataset.from_dict({"input_ids": [[1] * rng.choice([4, 8, 60, 64]) for _ in range(256)]})
    task = TextClassification()
    grouped = TrainingArguments(
        output_dir="unused", per_device_train_batch_size=16, train_sampling_strategy="group_by_length"
    )
    shuffled = TrainingArguments(output_dir="unused", per_device_train_batch_size=16)
    g = task.training_stats(grouped, ds)["train_real_token_fraction"]
    r = task.training_stats(shuffled, ds)["train_real_token_fraction"]
    assert 0 < r < 0.7 < g <= 1.0
    assert task.training_defaults()["train_sampling_strategy"] == "group_by_length"


def test_image_decoding_runs_in_dataloader_workers(monkeypatch):
    import hf_transfer.precision as precision

    monkeypatch.setattr(precision, "cpu_count", lambda: 8)
    defaults = ImageClassification().training_defaults()
    assert defaults["dataloader_num_workers"] == 4 and defaults["dataloader_persistent_workers"]
    monkeypatch.setattr(precision, "cpu_count", lambda: 1)
    assert ImageClassification().training_defaults()["dataloader_num_workers"] == 0


@pytest.mark.slow
def test_a_finished_run_leaves_no_dataloader_workers_behind(backbones, image_folder, tmp_path, monkeypatch):
    # Persistent workers outlive their loader's epoch; freed later by the garbage collector (a Trainer kept
    # alive, as a notebook or a callback does) they made the next run in the process wait 5 s per loader.
    # train() stops them before it returns, even while its Trainer is still referenced.
    import multiprocessing

    import hf_transfer
    import hf_transfer.trainer

    kept = []

    class KeptTrainer(hf_transfer.trainer.TransferTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            kept.append(self)

    monkeypatch.setattr(hf_transfer.trainer, "TransferTrainer", KeptTrainer)
    recipe = image_recipe(backbones["resnet"], image_folder, tmp_path / "out")
    recipe["training"].update(dataloader_num_workers=1, dataloader_persistent_workers=True)
    hf_transfer.train(recipe)
    assert kept, "the run's Trainer is still alive"
    assert multiprocessing.active_children() == []


def test_the_run_logs_records_and_shows_its_augmentation(backbones, image_folder, tmp_path, caplog):
    import json
    import logging

    import hf_transfer

    recipe = image_recipe(
        backbones["timm"],
        image_folder,
        tmp_path / "out",
        task={"crop_scale": [0.5, 1.0], "horizontal_flip": False, "color_jitter": 0.2},
    )
    recipe["training"].update(max_steps=1, dataloader_num_workers=0, dataloader_persistent_workers=False)
    with caplog.at_level(logging.INFO, logger="hf_transfer"):
        hf_transfer.train(recipe)
    expected = "RandomResizedCrop 32×32 scale [0.5, 1.0] bilinear, no flip, colour jitter 0.2, normalise mean [0.5, 0.5, 0.5] std [0.5, 0.5, 0.5] (timm)"
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("augmentation:")] == [
        f"augmentation: {expected}"
    ]
    record = json.loads((tmp_path / "out" / "training_report.json").read_text())["strategy"]["augmentation"]
    assert record["library"] == "timm" and record["crop_scale"] == [0.5, 1.0] and record["description"] == expected
    assert f"| Augmentation | {expected} |" in (tmp_path / "out" / "README.md").read_text()


def test_dry_run_shows_the_augmentation(backbones, image_folder, tmp_path, capsys):
    import yaml

    from hf_transfer import cli

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(image_recipe(backbones["convnext"], image_folder, tmp_path / "out")))
    assert cli.main(["train", str(path), "--dry-run", "task.crop_scale=[0.25, 1]"]) == 0
    assert (
        "  augmentation: RandomResizedCrop 32×32 scale [0.25, 1.0] bicubic, horizontal flip, no colour jitter"
        in capsys.readouterr().out
    )
    assert cli.main(["train", str(path), "--dry-run", "task.augment=false"]) == 0
    assert "  augmentation: none: training images get the evaluation preprocessing" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ defaults chosen from the training-set size


@pytest.mark.parametrize("kind", ["vit", "timm"])
@pytest.mark.parametrize(
    "rows, expected", [(654, (0.35, 1.0)), (4_999, (0.35, 1.0)), (5_000, (0.08, 1.0)), (None, (0.08, 1.0))]
)
def test_auto_crop_scale_follows_the_training_set_size(kind, rows, expected, backbones):
    task = ImageClassification()  # crop_scale: auto
    processor = task.load_processor(resolve(str(backbones[kind])))
    crop = _steps(task.train_transform(processor, rows))["RandomResizedCrop"]
    assert tuple(crop.scale) == expected
    record = task.augmentation(processor, "bb", train_rows=rows)
    assert tuple(record["crop_scale"]) == expected and record["crop_scale_reason"].startswith("auto: ")
    assert ("under 5,000" in record["crop_scale_reason"]) is (expected == (0.35, 1.0))
    # The recipe's own range wins at any size.
    chosen = ImageClassification(crop_scale=[0.3, 0.9])
    assert tuple(_steps(chosen.train_transform(processor, rows))["RandomResizedCrop"].scale) == (0.3, 0.9)
    assert chosen.augmentation(processor, "bb", train_rows=rows)["crop_scale_reason"] == "set in the recipe"


def _plan(strategy: str, rows, **training):
    from types import SimpleNamespace

    from hf_transfer import load_recipe
    from hf_transfer.strategy_defaults import plan_training_defaults

    recipe = load_recipe(
        {
            "backbone": {"name_or_path": "some/backbone"},
            "data": {"source": "imagefolder", "data_dir": "d"},
            "task": {"name": "image-classification"},
            "strategy": {"name": strategy, **({"num_blocks": 2} if strategy == "partial" else {})},
            "training": {"output_dir": "out", "per_device_train_batch_size": 32, **training},
        }
    )
    convnet = SimpleNamespace(model_type="timm_wrapper", config=SimpleNamespace(architecture="efficientnet_lite0"))
    return plan_training_defaults(recipe, convnet, rows).values


@pytest.mark.parametrize("strategy", ["full", "lora", "partial"])
def test_small_image_sets_get_more_fine_tuning_epochs(strategy):
    values = _plan(strategy, 654)  # 21 steps per epoch at batch 32
    assert values["num_train_epochs"]["value"] == 15  # ceil(300 / 21)
    assert "654 training images make 21 steps per epoch at batch 32" in values["num_train_epochs"]["reason"]
    assert _plan(strategy, 100)["num_train_epochs"]["value"] == 20  # capped
    assert "training images" not in _plan(strategy, 20_000)["num_train_epochs"]["reason"]  # the strategy's own
    assert (
        _plan(strategy, None)["num_train_epochs"] == _plan(strategy, 20_000)["num_train_epochs"]
    )  # a stream: unknown size
    # Only where the recipe is silent.
    assert "num_train_epochs" not in _plan(strategy, 654, num_train_epochs=2)
    assert "num_train_epochs" not in _plan(strategy, 654, max_steps=50)
    # The global batch counts accumulation.
    assert _plan(strategy, 654, gradient_accumulation_steps=4)["num_train_epochs"]["value"] == 20  # 6 steps per epoch


def test_a_frozen_backbone_keeps_its_strategys_epochs():
    assert _plan("frozen", 654)["num_train_epochs"]["value"] == 30


def test_dry_run_shows_defaults_chosen_from_the_data_size(backbones, image_folder, tmp_path, capsys):
    import yaml

    from hf_transfer import cli

    recipe = image_recipe(backbones["convnext"], image_folder, tmp_path / "out")
    del recipe["training"]["max_steps"]
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert cli.main(["train", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "scale [0.35, 1.0]" in out and "crop scale auto: 24 training images (under 5,000)" in out
    # 24 images at batch 8: 3 steps per epoch, so the cap of 20 epochs.
    assert "training.num_train_epochs = 20: 24 training images make 3 steps per epoch at batch 8" in out
    assert cli.main(["train", str(path), "--dry-run", "training.num_train_epochs=2", "task.crop_scale=[0.08, 1]"]) == 0
    out = capsys.readouterr().out
    assert "training.num_train_epochs =" not in out and "crop scale auto" not in out and "scale [0.08, 1.0]" in out
