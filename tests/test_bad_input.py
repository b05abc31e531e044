"""A user's mistake in the recipe, the backbone or the data is one message, never a traceback.

Every case runs the CLI as a user does and checks: the exit code, exactly one ``hf-transfer: error:``
line and no traceback, the message's key words, that no output folder was created and that the
user's files were left as they were. Mistakes that can be known before a model is loaded are also
found by ``--dry-run``.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import COLORS, image_recipe, make_image, make_texts, text_recipe

from hf_transfer import cli

# ---------------------------------------------------------------- helpers


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` → a digest of its bytes."""
    out = {}
    for root in roots:
        for path in sorted(p for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()):
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run(tmp_path: Path, recipe: dict, *args: str, capsys) -> tuple[int, str, str]:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    code = cli.main(["train", str(path), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(tmp_path: Path, recipe: dict, fragments: list[str], *, user_files: list[Path], capsys, dry_run: bool = True,
            code: int | None = None) -> str:
    """Run the recipe (and its --dry-run): one clear error, nothing written, the user's files untouched."""
    before = snapshot(*user_files)
    modes = [("--dry-run",), ()] if dry_run else [()]
    err = ""
    for args in modes:
        status, _, err = run(tmp_path, recipe, *args, capsys=capsys)
        assert status != 0 and (code is None or status == code), (args, status, err)
        assert err.count("hf-transfer: error:") == 1, err
        assert "Traceback" not in err, err
        message = err[err.index("hf-transfer: error:") :]
        for fragment in fragments:
            assert fragment in message, (args, fragment, message)
        assert not Path(recipe["training"]["output_dir"]).exists(), args
        assert snapshot(*user_files) == before, "the user's files were changed"
    return err


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "text,label", sep: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header.replace(",", sep) + "\n" + "".join(f"{t}{sep}{label}\n" for t, label in rows))
    return path


def texts(n_per_class: int = 4, seed: int = 0) -> list[tuple[str, str]]:
    return [(r["text"], r["label"]) for r in make_texts(n_per_class, seed)]


def files_recipe(backbones, tmp_path: Path, train: Path, validation: Path | None = None, **extra) -> dict:
    recipe = text_recipe(backbones["bert"], {"train": train, "validation": validation}, tmp_path / "out", **extra)
    if validation is None:
        recipe["data"].pop("validation_file")
    return recipe


# ---------------------------------------------------------------- recipe values


def test_negative_learning_rates_and_friends_are_one_config_error(backbones, text_files, tmp_path, capsys):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["training"].update(learning_rate=-1e-3, weight_decay=-0.1, warmup_steps=-5)
    recipe["strategy"]["head_learning_rate"] = -0.01
    err = refused(
        tmp_path, recipe,
        ["4 problems", "'training.learning_rate' must not be negative, found -0.001", "'training.weight_decay'",
         "'training.warmup_steps'", "'strategy.head_learning_rate' must be positive"],
        user_files=list(text_files.values()), capsys=capsys, code=2,
    )
    assert "Invalid learning rate" not in err


def test_negative_learning_rate_from_the_command_line(backbones, text_files, tmp_path, capsys):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    code, _, err = run(tmp_path, recipe, "--dry-run", "training.learning_rate=-3e-5", capsys=capsys)
    assert code == 2 and "'training.learning_rate' must not be negative" in err and "Traceback" not in err


# ---------------------------------------------------------------- backbones


def test_truncated_safetensors_is_named_before_loading(backbones, text_files, tmp_path, capsys):
    folder = tmp_path / "bert-copy"
    shutil.copytree(backbones["bert"], folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    recipe = text_recipe(folder, text_files, tmp_path / "out")
    refused(
        tmp_path, recipe, [str(weights), "damaged or truncated", "the file holds", "download the backbone again"],
        user_files=[folder, *text_files.values()], capsys=capsys,
    )


def test_zero_byte_safetensors(backbones, text_files, tmp_path, capsys):
    folder = tmp_path / "bert-copy"
    shutil.copytree(backbones["bert"], folder)
    (folder / "model.safetensors").write_bytes(b"")
    recipe = text_recipe(folder, text_files, tmp_path / "out")
    refused(tmp_path, recipe, ["model.safetensors", "damaged or truncated"], user_files=[folder], capsys=capsys)


@pytest.mark.parametrize("kind", ["vit", "timm"])
def test_image_backbone_for_a_text_task(kind, backbones, text_files, tmp_path, capsys):
    recipe = text_recipe(backbones[kind], text_files, tmp_path / "out")
    err = refused(
        tmp_path, recipe,
        [str(backbones[kind]), "is an image model", "task 'text-classification' needs a text backbone",
         "task.name=image-classification"],
        user_files=list(text_files.values()), capsys=capsys, code=2,
    )
    assert "sentencepiece" not in err


def test_text_backbone_for_an_image_task(backbones, image_folder, tmp_path, capsys):
    recipe = image_recipe(backbones["bert"], image_folder, tmp_path / "out")
    refused(
        tmp_path, recipe,
        ["is a text model (model_type 'bert')", "task 'image-classification' needs an image backbone"],
        user_files=[image_folder], capsys=capsys, code=2,
    )
