"""Task preprocessing: what the model sees from each backbone's processor."""

from __future__ import annotations

import random

import pytest
import torch
from conftest import COLORS, image_recipe, make_image

from hf_transfer.backbone import resolve
from hf_transfer.tasks.image_classification import ImageClassification, _output_size
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

    assert _output_size(P()) == (48, 48)
    P.size = {"height": 20, "width": 30}
    assert _output_size(P()) == (20, 30)
    P.do_center_crop, P.crop_size = True, {"height": 16, "width": 16}
    assert _output_size(P()) == (16, 16)


def test_text_is_truncated_and_padded_per_batch(backbones):
    from datasets import Dataset

    from hf_transfer.data import PreparedData

    task = TextClassification(max_length=6)
    backbone = resolve(str(backbones["bert"]))
    tokenizer = task.load_processor(backbone)
    texts = ["goal", "goal team match win score league coach stadium ball"]
    ds = Dataset.from_dict({"text": texts, "label": [0, 1]})
    data = PreparedData(train=ds, validation=ds, test=None, labels=["a", "b"], columns={"text": "text", "label": "label"})
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
    from datasets import Dataset
    from transformers import TrainingArguments

    import random

    rng = random.Random(0)
    ds = Dataset.from_dict({"input_ids": [[1] * rng.choice([4, 8, 60, 64]) for _ in range(256)]})
    task = TextClassification()
    grouped = TrainingArguments(output_dir="unused", per_device_train_batch_size=16, train_sampling_strategy="group_by_length")
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
