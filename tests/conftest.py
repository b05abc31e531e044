"""Shared fixtures: tiny random-init backbones and tiny datasets, built locally.

No test touches the network: HF_HUB_OFFLINE is set before anything imports
huggingface_hub, and every backbone is a folder written here by save_pretrained.

Tests that compare numbers pin fp32 (``training.precision``, ``precision=`` / ``--precision`` of predict and
evaluate): ``auto`` resolves to bf16 on a CPU with avx512_bf16, so their results would depend on the machine.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ["HF_TRANSFER_CACHE"] = tempfile.mkdtemp(prefix="hf_transfer_cache_")  # never the user's cache
atexit.register(shutil.rmtree, os.environ["HF_TRANSFER_CACHE"], True)  # nor a folder left in /tmp per session

import pytest  # noqa: E402

from helpers import (  # noqa: E402
    COLORS,
    IMAGE_BACKBONES,
    TEXT_BACKBONES,
    build_image_backbone,
    build_text_backbone,
    make_image,
    make_texts,
    text_recipe,
)


@pytest.fixture(scope="session")
def backbones(tmp_path_factory) -> dict[str, Path]:
    """Every tiny backbone, built once per session: name → folder."""
    root = tmp_path_factory.mktemp("backbones")
    out = {kind: build_text_backbone(kind, root / kind) for kind in TEXT_BACKBONES}
    out.update({kind: build_image_backbone(kind, root / kind) for kind in IMAGE_BACKBONES})
    return out


@pytest.fixture(scope="session")
def text_files(tmp_path_factory) -> dict[str, Path]:
    """train/validation/test JSONL files with text + string labels."""
    root = tmp_path_factory.mktemp("text_data")
    out = {}
    for split, n, seed in (("train", 16, 0), ("validation", 4, 1), ("test", 4, 2)):
        path = root / f"{split}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in make_texts(n, seed)))
        out[split] = path
    return out


@pytest.fixture(scope="session")
def text_models(backbones, text_files, tmp_path_factory) -> dict[str, Path]:
    """Trained output folders of three artifact kinds, for the tests that use a finished model (predict,
    evaluate, export): a plain transformers model (full), an hf_transfer head (frozen, mlp head), a LoRA adapter."""
    import hf_transfer

    root = tmp_path_factory.mktemp("text_models")
    runs = {
        "full": {"name": "full"},
        "mlp": {"name": "frozen", "head": "mlp", "head_hidden_sizes": [16]},
        "lora": {"name": "lora"},
    }
    out = {}
    for name, strategy in runs.items():
        recipe = text_recipe(backbones["bert"], text_files, root / name, strategy=strategy)
        recipe["training"].update(max_steps=3, learning_rate=5e-2, precision="fp32")
        hf_transfer.train(recipe)
        out[name] = root / name
    return out


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """imagefolder layout: train/<class>/*.png and validation/<class>/*.png."""
    root = tmp_path_factory.mktemp("image_data")
    rng = random.Random(0)
    for split, n in (("train", 8), ("validation", 3)):
        for name, color in COLORS.items():
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(n):
                make_image(color, rng).save(d / f"{i}.png")
    return root


@pytest.fixture
def chdir_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path
