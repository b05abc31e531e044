"""What tests share besides fixtures: tiny data and backbone builders, and recipe templates.

Imported as ``from helpers import …`` (pytest puts tests/ on the path through conftest.py); the fixtures
that build these once per session live in conftest.py.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

TEXT_CLASSES = {
    "sports": "match goal team player score league coach stadium ball win",
    "science": "atom cell energy theory experiment physics gene orbit data lab",
    "music": "song guitar album band melody concert drum singer chord tune",
}
FILLER = "the a of and in on with for is very new old big small".split()
TEXT_BACKBONES = ("bert", "roberta", "distilbert")
IMAGE_BACKBONES = ("vit", "convnext", "resnet", "timm")
COLORS = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}


def make_texts(n_per_class: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for label, words in TEXT_CLASSES.items():
        vocab = words.split()
        for _ in range(n_per_class):
            tokens = rng.sample(vocab, 3) + rng.sample(FILLER, 3)
            rng.shuffle(tokens)
            rows.append({"text": " ".join(tokens), "label": label})
    rng.shuffle(rows)
    return rows


def make_image(color: tuple[int, int, int], rng: random.Random, size: int = 36):
    from PIL import Image

    img = Image.new("RGB", (size, size), color)
    px = img.load()
    for _ in range(60):
        x, y = rng.randrange(size), rng.randrange(size)
        px[x, y] = tuple(rng.randrange(256) for _ in range(3))
    return img


def _vocab() -> list[str]:
    words = sorted({w for ws in TEXT_CLASSES.values() for w in ws.split()} | set(FILLER))
    return (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        + words
        + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
        + list("abcdefghijklmnopqrstuvwxyz")
    )


def build_text_backbone(kind: str, folder: Path) -> Path:
    import torch
    from transformers import (
        BertConfig,
        BertModel,
        BertTokenizerFast,
        DistilBertConfig,
        DistilBertModel,
        RobertaConfig,
        RobertaModel,
        RobertaTokenizerFast,
    )

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)  # the same weights in every session and xdist worker, whichever test builds them first
    if kind == "roberta":
        from tokenizers import ByteLevelBPETokenizer

        bpe = ByteLevelBPETokenizer()
        corpus = [r["text"] for r in make_texts(20, seed=1)]
        bpe.train_from_iterator(
            corpus, vocab_size=400, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        )
        bpe.save_model(str(folder))
        tokenizer = RobertaTokenizerFast(
            vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), model_max_length=64
        )
        config = RobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=66,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=0,
            eos_token_id=2,
        )
        model = RobertaModel(config)
    else:
        vocab_file = folder / "vocab.txt"
        vocab_file.write_text("\n".join(_vocab()) + "\n")
        tokenizer = BertTokenizerFast(vocab=str(vocab_file), model_max_length=64)
        if kind == "bert":
            config = BertConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=37,
                max_position_embeddings=64,
            )
            model = BertModel(config)
        elif kind == "distilbert":
            config = DistilBertConfig(
                vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=37, max_position_embeddings=64
            )
            model = DistilBertModel(config)
        else:
            raise ValueError(kind)
    assert tokenizer.unk_token_id not in tokenizer("goal team atom")["input_ids"], (
        "fixture tokenizer lost its vocabulary"
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_timm_backbone(architecture: str, folder: Path) -> Path:
    """A timm test architecture (``timm.list_models("test_*")``) as a Hub-style timm_wrapper folder, 32 px."""
    import timm
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model_args = {"img_size": 32} if "vit" in architecture else {}
    model = timm.create_model(architecture, pretrained=False, **model_args)
    # Look like a trained network: timm zero-initialises each residual branch's last BatchNorm
    # scale, which would leave those branches (and adapters in them) without gradients.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    cfg = {k: v for k, v in model.pretrained_cfg.items() if k not in ("test_input_size", "hf_hub_id", "url")}
    cfg.update(input_size=[3, 32, 32], crop_pct=1.0)
    config = {
        "architecture": architecture,
        "model_type": "timm_wrapper",
        "num_classes": model.num_classes,
        "pretrained_cfg": cfg,
    }
    if model_args:
        config["model_args"] = model_args
    (folder / "config.json").write_text(json.dumps(config))
    save_file(model.state_dict(), str(folder / "model.safetensors"))
    return folder


def build_image_backbone(kind: str, folder: Path) -> Path:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    if kind == "timm":
        return build_timm_backbone("test_resnet", folder)
    from transformers import (
        ConvNextConfig,
        ConvNextImageProcessor,
        ConvNextModel,
        ResNetConfig,
        ResNetModel,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )

    if kind == "vit":
        config = ViTConfig(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
        )
        model, processor = ViTModel(config), ViTImageProcessor(size={"height": 32, "width": 32})
    elif kind == "convnext":
        config = ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)
        model, processor = ConvNextModel(config), ConvNextImageProcessor(size={"shortest_edge": 32})
    elif kind == "resnet":
        config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
        model, processor = ResNetModel(config), ConvNextImageProcessor(size={"shortest_edge": 32})
    else:
        raise ValueError(kind)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


FAST_TRAINING = {
    "max_steps": 3,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "learning_rate": 1e-3,
    "save_strategy": "no",
    "eval_strategy": "no",
    "logging_steps": 1,
    "use_cpu": True,
    "disable_tqdm": True,
    "seed": 0,
}


def text_recipe(backbone: Path, files: dict[str, Path], out: Path, **extra) -> dict:
    recipe = {
        "backbone": {"name_or_path": str(backbone)},
        "data": {"source": "files", "train_file": str(files["train"]), "validation_file": str(files["validation"])},
        "task": {"name": "text-classification", "max_length": 32},
        "strategy": {"name": "full"},
        "training": {**FAST_TRAINING, "output_dir": str(out)},
    }
    for section, values in extra.items():
        recipe.setdefault(section, {}).update(values)
    return recipe


def image_recipe(backbone: Path, folder: Path, out: Path, **extra) -> dict:
    recipe = {
        "backbone": {"name_or_path": str(backbone)},
        "data": {"source": "imagefolder", "data_dir": str(folder)},
        "task": {"name": "image-classification"},
        "strategy": {"name": "full"},
        "training": {**FAST_TRAINING, "output_dir": str(out)},
    }
    for section, values in extra.items():
        recipe.setdefault(section, {}).update(values)
    return recipe


TAGS = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]


def build_tagger(folder: Path, max_length: int) -> Path:
    """A random-init transformers token-classification folder (no run recipe) with IOB2 tags and only
    ``max_length`` positions, so nothing longer can run; its classifier is scaled up so that tags differ from
    word to word and context to context."""
    import torch
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(_vocab()) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), model_max_length=max_length)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=max_length,
        id2label=dict(enumerate(TAGS)),
        label2id={t: i for i, t in enumerate(TAGS)},
    )
    model = BertForTokenClassification(config)
    torch.nn.init.normal_(model.classifier.weight, std=1.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
