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

from helpers import COLORS, image_recipe, make_image, make_texts, text_recipe
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


def refused(
    tmp_path: Path,
    recipe: dict,
    fragments: list[str],
    *,
    user_files: list[Path],
    capsys,
    dry_run: bool = True,
    code: int | None = None,
) -> str:
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
        tmp_path,
        recipe,
        [
            "4 problems",
            "'training.learning_rate' must not be negative, found -0.001",
            "'training.weight_decay'",
            "'training.warmup_steps'",
            "'strategy.head_learning_rate' must be positive",
        ],
        user_files=list(text_files.values()),
        capsys=capsys,
        code=2,
    )
    assert "Invalid learning rate" not in err


def test_negative_learning_rate_from_the_command_line(backbones, text_files, tmp_path, capsys):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    code, _, err = run(tmp_path, recipe, "--dry-run", "training.learning_rate=-3e-5", capsys=capsys)
    assert code == 2 and "'training.learning_rate' must not be negative" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "weights, fragments",
    [
        (
            "balanced",
            [
                "'task.class_weights' must be auto or a mapping of label to weight, found string 'balanced'",
                "fix: task.class_weights=auto",
            ],
        ),
        (
            {"sports": 0, "music": "heavy"},
            [
                "'task.class_weights' weights must be positive finite numbers",
                "sports: integer 0",
                "music: string 'heavy'",
            ],
        ),
    ],
)
def test_class_weights_that_are_not_weights(weights, fragments, backbones, text_files, tmp_path, capsys):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out", task={"class_weights": weights})
    recipe["training"]["early_stopping_patience"] = 2  # collected with the other problems: one message
    refused(
        tmp_path,
        recipe,
        [
            "2 problems",
            *fragments,
            "'training.early_stopping_patience' needs evaluations",
            "set training.eval_strategy=epoch",
        ],
        user_files=list(text_files.values()),
        capsys=capsys,
        code=2,
    )


def test_class_weights_for_a_label_the_data_lacks(backbones, image_folder, tmp_path, capsys):
    recipe = image_recipe(
        backbones["vit"], image_folder, tmp_path / "out", task={"class_weights": {"red": 2, "yellow": 3}}
    )
    refused(
        tmp_path,
        recipe,
        ["'task.class_weights' names label(s) the data lacks: yellow", "the data's labels are: blue, green, red"],
        user_files=[image_folder],
        capsys=capsys,
        code=2,
    )


# ---------------------------------------------------------------- backbones


def test_truncated_safetensors_is_named_before_loading(backbones, text_files, tmp_path, capsys):
    folder = tmp_path / "bert-copy"
    shutil.copytree(backbones["bert"], folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    recipe = text_recipe(folder, text_files, tmp_path / "out")
    refused(
        tmp_path,
        recipe,
        [str(weights), "damaged or truncated", "the file holds", "download the backbone again"],
        user_files=[folder, *text_files.values()],
        capsys=capsys,
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
        tmp_path,
        recipe,
        [
            str(backbones[kind]),
            "is an image model",
            "task 'text-classification' needs a text backbone",
            "task.name=image-classification",
        ],
        user_files=list(text_files.values()),
        capsys=capsys,
        code=2,
    )
    assert "sentencepiece" not in err


def test_text_backbone_for_an_image_task(backbones, image_folder, tmp_path, capsys):
    recipe = image_recipe(backbones["bert"], image_folder, tmp_path / "out")
    refused(
        tmp_path,
        recipe,
        ["is a text model (model_type 'bert')", "task 'image-classification' needs an image backbone"],
        user_files=[image_folder],
        capsys=capsys,
        code=2,
    )


def test_image_processor_without_an_input_size(backbones, image_folder, tmp_path, capsys):
    folder = tmp_path / "vit-copy"
    shutil.copytree(backbones["vit"], folder)
    config = folder / "preprocessor_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "size": None}))
    recipe = image_recipe(folder, image_folder, tmp_path / "out")
    refused(
        tmp_path,
        recipe,
        [
            "1 problem",
            f"backbone '{folder}'",
            "(ViTImageProcessor) gives no input size",
            "found size=None",
            'add "size": {"height": H, "width": W} to the backbone\'s preprocessor_config.json',
            "task.augment=false",
        ],
        user_files=[folder, image_folder],
        capsys=capsys,
        code=2,
    )


@pytest.mark.parametrize("damage", ["no file", "empty size"])
def test_image_processor_that_cannot_be_loaded(damage, backbones, image_folder, tmp_path, capsys):
    folder = tmp_path / "vit-copy"
    shutil.copytree(backbones["vit"], folder)
    config = folder / "preprocessor_config.json"
    if damage == "no file":
        config.unlink()
    else:
        config.write_text(json.dumps({**json.loads(config.read_text()), "size": {}}))
    recipe = image_recipe(folder, image_folder, tmp_path / "out")
    refused(
        tmp_path,
        recipe,
        [
            f"backbone '{folder}': its image processor could not be loaded",
            "preprocessor_config.json" if damage == "no file" else "size must have one of the following set of keys",
            "download the backbone again, or add or repair that file",
        ],
        user_files=[folder, image_folder],
        capsys=capsys,
        code=1,
    )


def test_augmentation_values_out_of_range_are_one_config_error(backbones, image_folder, tmp_path, capsys):
    recipe = image_recipe(
        backbones["vit"], image_folder, tmp_path / "out", task={"crop_scale": [0.0, 1.5], "color_jitter": -0.1}
    )
    refused(
        tmp_path,
        recipe,
        [
            "2 problems",
            "'task.crop_scale' must be auto or [low, high] with 0 < low <= high <= 1",
            "found [0.0, 1.5]",
            "task.crop_scale=[0.08, 1.0], or remove it for auto",
            "'task.color_jitter' must be 0 (none) or more, found -0.1",
            "task.color_jitter=0.4",
        ],
        user_files=[image_folder],
        capsys=capsys,
        code=2,
    )


# ---------------------------------------------------------------- data files


def test_empty_text_cell_in_a_csv(backbones, tmp_path, capsys):
    rows = texts()
    rows[5] = ("", rows[5][1])
    train = write_csv(tmp_path / "data" / "train.csv", rows)
    recipe = files_recipe(backbones, tmp_path, train)
    refused(
        tmp_path,
        recipe,
        ["1 bad example", "train: row 6: empty text", "data.on_bad_example=skip"],
        user_files=[train],
        capsys=capsys,
    )
    code, out, _ = run(tmp_path, recipe, "--dry-run", "data.on_bad_example=skip", capsys=capsys)
    assert code == 0 and "skipped 1 bad example" in out and "row 6: empty text" in out


def test_labels_mixing_integers_and_strings_in_jsonl(backbones, tmp_path, capsys):
    train = tmp_path / "data" / "train.jsonl"
    train.parent.mkdir()
    rows = [{"text": t, "label": (i % 3 if i < 6 else label)} for i, (t, label) in enumerate(texts())]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = files_recipe(backbones, tmp_path, train)
    refused(
        tmp_path,
        recipe,
        ["label column 'label' mixes strings and integers", "integers (0, 1, 2)", "all as strings"],
        user_files=[train],
        capsys=capsys,
    )


def test_csv_that_is_not_utf8(backbones, tmp_path, capsys):
    train = tmp_path / "data" / "train.csv"
    train.parent.mkdir()
    train.write_bytes(("text,label\n" + "".join(f"{t} café,{label}\n" for t, label in texts())).encode("latin1"))
    refused(
        tmp_path,
        files_recipe(backbones, tmp_path, train),
        [str(train), "is not UTF-8", "byte 0xe9 (line 2)", "iconv -f latin1 -t utf-8"],
        user_files=[train],
        capsys=capsys,
    )


def test_jsonl_that_is_not_utf8_names_the_line(backbones, tmp_path, capsys):
    train = tmp_path / "data" / "train.jsonl"
    train.parent.mkdir()
    lines = [json.dumps({"text": t, "label": label}) for t, label in texts()]
    lines[4] = lines[4].replace('"text": "', '"text": "caf\u00e9 ')
    train.write_bytes(
        "\n".join(lines[:4]).encode() + b"\n" + lines[4].encode("latin1") + b"\n" + "\n".join(lines[5:]).encode()
    )
    refused(
        tmp_path,
        files_recipe(backbones, tmp_path, train),
        ["is not UTF-8", "(line 5)", "iconv"],
        user_files=[train],
        capsys=capsys,
    )


def test_csv_with_a_header_and_no_rows(backbones, tmp_path, capsys):
    train = write_csv(tmp_path / "data" / "train.csv", [])
    refused(
        tmp_path,
        files_recipe(backbones, tmp_path, train),
        [str(train), "has a header (text,label) but no data rows"],
        user_files=[train],
        capsys=capsys,
    )


def test_validation_csv_with_a_header_and_no_rows(backbones, tmp_path, capsys):
    train = write_csv(tmp_path / "data" / "train.csv", texts())
    validation = write_csv(tmp_path / "data" / "validation.csv", [])
    refused(
        tmp_path,
        files_recipe(backbones, tmp_path, train, validation),
        ["data.validation_file", "but no data rows"],
        user_files=[train, validation],
        capsys=capsys,
    )


def test_malformed_json_line_is_named_by_its_number(backbones, tmp_path, capsys):
    train = tmp_path / "data" / "train.jsonl"
    train.parent.mkdir()
    lines = [json.dumps({"text": t, "label": label}) for t, label in texts()]
    lines[6] = '{"text": "oops", "label": }'
    train.write_text("\n".join(lines) + "\n")
    refused(
        tmp_path,
        files_recipe(backbones, tmp_path, train),
        ["line 7 of data.train_file", "is not valid JSON", '{"text": "oops", "label": }'],
        user_files=[train],
        capsys=capsys,
    )


def test_directory_where_a_file_is_expected(backbones, tmp_path, capsys):
    folder = tmp_path / "data" / "train.csv"
    folder.mkdir(parents=True)
    err = refused(
        tmp_path,
        files_recipe(backbones, tmp_path, folder),
        [str(folder), "is a directory"],
        user_files=[folder],
        capsys=capsys,
    )
    assert "does not exist" not in err


def test_image_folder_that_is_a_file(backbones, tmp_path, capsys):
    not_a_folder = write_csv(tmp_path / "data" / "images.csv", texts())
    recipe = image_recipe(backbones["vit"], not_a_folder, tmp_path / "out")
    refused(tmp_path, recipe, ["is not a folder but a file"], user_files=[not_a_folder], capsys=capsys)


def test_tab_separated_file_named_csv(backbones, tmp_path, capsys):
    train = write_csv(tmp_path / "data" / "train.csv", texts(), sep="\t")
    refused(
        tmp_path,
        files_recipe(backbones, tmp_path, train),
        ["read as comma-separated", "has tabs and no comma", "rename it to .tsv"],
        user_files=[train],
        capsys=capsys,
    )


def test_comma_separated_file_named_tsv(backbones, tmp_path, capsys):
    train = write_csv(tmp_path / "data" / "train.tsv", texts())
    refused(
        tmp_path,
        files_recipe(backbones, tmp_path, train),
        ["read as tab-separated", "rename it to .csv"],
        user_files=[train],
        capsys=capsys,
    )


# ---------------------------------------------------------------- labels as written


def dry_run_labels(out: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.strip().startswith("labels ("))
    return line.split(":", 1)[1].strip().split(", ")


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_csv_labels_are_kept_as_written(suffix, backbones, tmp_path, capsys):
    classes = ["007", "7", "NA", "null", "10", "2"]
    rows = [(f"text number {i}", classes[i % len(classes)]) for i in range(36)]
    train = write_csv(tmp_path / "data" / f"train{suffix}", rows, sep="\t" if suffix == ".tsv" else ",")
    code, out, err = run(tmp_path, files_recipe(backbones, tmp_path, train), "--dry-run", capsys=capsys)
    assert code == 0, err
    assert dry_run_labels(out) == ["2", "7", "10", "007", "NA", "null"]


def test_integer_labels_in_json_stay_integers(backbones, tmp_path, capsys):
    train = tmp_path / "data" / "train.jsonl"
    train.parent.mkdir()
    train.write_text("".join(json.dumps({"text": f"t {i}", "label": i % 11}) + "\n" for i in range(44)))
    code, out, err = run(tmp_path, files_recipe(backbones, tmp_path, train), "--dry-run", capsys=capsys)
    assert code == 0, err
    assert dry_run_labels(out) == [str(i) for i in range(11)]


def test_label_column_that_looks_like_an_id_is_warned_about(backbones, tmp_path, capsys):
    train = tmp_path / "data" / "train.jsonl"
    train.parent.mkdir()
    rows = [{"text": t, "label": label, "id": f"doc-{i}"} for i, (t, label) in enumerate(texts(6))]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = files_recipe(backbones, tmp_path, train, data={"columns": {"label": "id"}})
    code, out, err = run(tmp_path, recipe, "--dry-run", capsys=capsys)
    assert code == 0, err
    assert "the label column 'id' has 18 classes for 18 training rows" in out
    assert "set data.columns.label=<the column that holds the classes>" in out
    assert "the carved validation split holds 2 classes that train lacks" in out
    code, out, _ = run(tmp_path, files_recipe(backbones, tmp_path, train), "--dry-run", capsys=capsys)
    assert code == 0 and "looks like an id" not in out and "train lacks" not in out


# ---------------------------------------------------------------- images


def small_image_folder(root: Path, per_class: int = 4) -> Path:
    rng = random.Random(0)
    for split, n in (("train", per_class), ("validation", 2)):
        for name, color in COLORS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                make_image(color, rng).save(folder / f"{i}.png")
    return root


def add_bad_images(root: Path) -> list[str]:
    """Five kinds of unreadable image files; their paths relative to ``root``."""
    png = (root / "train" / "red" / "0.png").read_bytes()
    jpeg_path = root / "train" / "red" / "whole.jpg"
    make_image(COLORS["red"], random.Random(1), size=64).save(jpeg_path, quality=90)
    jpeg = jpeg_path.read_bytes()
    jpeg_path.unlink()
    damaged = bytearray(png)
    damaged[len(png) // 2] ^= 0xFF
    bad = {
        "train/red/corrupt.png": bytes(damaged),
        "train/green/truncated.png": png[: len(png) // 2],
        "train/red/truncated.jpg": jpeg[: len(jpeg) // 2],
        "train/blue/notes.png": b"these are my notes, not a picture\n",
        "validation/blue/empty.jpg": b"",
    }
    for name, data in bad.items():
        (root / name).write_bytes(data)
    return list(bad)


def test_unreadable_images_are_all_named_before_training(backbones, tmp_path, capsys):
    root = small_image_folder(tmp_path / "images")
    bad = add_bad_images(root)
    recipe = image_recipe(backbones["vit"], root, tmp_path / "out")
    err = refused(
        tmp_path,
        recipe,
        [
            "5 bad examples",
            "every example of every split was checked",
            "data.on_bad_example=skip",
            "empty file (0 bytes)",
            "not an image file",
            "damaged or truncated",
        ],
        user_files=[root],
        capsys=capsys,
    )
    for name in bad:
        assert str(root / name) in err, name


def test_skip_drops_unreadable_images_and_says_which(backbones, tmp_path, capsys):
    root = small_image_folder(tmp_path / "images")
    bad = add_bad_images(root)
    before = snapshot(root)
    recipe = image_recipe(backbones["vit"], root, tmp_path / "out", data={"on_bad_example": "skip"})
    code, out, err = run(tmp_path, recipe, capsys=capsys)
    assert code == 0, err
    assert snapshot(root) == before
    report = json.loads((tmp_path / "out" / "training_report.json").read_text())
    note = next(n for n in report["data_notes"] if n.startswith("skipped 5 bad examples"))
    assert "train 4, validation 1" in note
    for name in bad:
        assert str(root / name) in note, name
    assert "skipped 5 bad examples" in (tmp_path / "out" / "README.md").read_text()


ODD_MODES = {
    "L": lambda: ("png", __import__("PIL.Image").Image.new("L", (40, 30), 120)),
    "RGBA": lambda: ("png", __import__("PIL.Image").Image.new("RGBA", (40, 30), (10, 200, 30, 128))),
    "CMYK": lambda: ("jpg", __import__("PIL.Image").Image.new("CMYK", (40, 30), (0, 200, 200, 10))),
    "I;16": lambda: ("png", __import__("PIL.Image").Image.new("I;16", (40, 30), 40000)),
    "P": lambda: ("png", _palette_with_transparency()),
    "large": lambda: ("jpg", __import__("PIL.Image").Image.new("RGB", (3000, 2400), (30, 30, 200))),
}


def _palette_with_transparency():
    from PIL import Image

    img = Image.new("P", (40, 30), 1)
    img.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    img.info["transparency"] = 0
    return img


@pytest.mark.parametrize("mode", list(ODD_MODES))
def test_odd_but_valid_images_pass_the_check_and_become_rgb(mode, tmp_path):
    from PIL import Image

    from hf_transfer.data.checks import image_problem
    from hf_transfer.tasks.image_classification import to_rgb

    suffix, img = ODD_MODES[mode]()
    path = tmp_path / f"odd.{suffix}"
    img.save(path)
    assert image_problem({"path": str(path), "bytes": None}) is None
    assert image_problem({"path": None, "bytes": path.read_bytes()}) is None
    with Image.open(path) as opened:
        rgb = to_rgb(opened)
    assert rgb.mode == "RGB" and rgb.size == img.size
    if mode == "I;16":  # scaled to 8 bits, not clipped to white
        assert rgb.getpixel((0, 0)) == (156, 156, 156)


def test_transparency_is_composited_onto_white_as_transformers_processors_do():
    from PIL import Image
    from transformers.image_transforms import convert_to_rgb

    from hf_transfer.tasks.image_classification import to_rgb

    img = Image.new("RGBA", (4, 2), (10, 20, 30, 0))  # invisible dark pixels …
    img.putpixel((0, 0), (200, 0, 0, 255))  # … one opaque red one, one half-transparent blue one
    img.putpixel((1, 0), (0, 0, 200, 128))
    rgb = to_rgb(img)
    assert rgb.getpixel((0, 0)) == (200, 0, 0) and rgb.getpixel((3, 1)) == (255, 255, 255)
    expected = convert_to_rgb(img, return_numpy=True).reshape(-1, 3).tolist()
    assert [list(p) for p in rgb.getdata()] == expected
    grey = Image.new("LA", (2, 1), (0, 0))
    assert to_rgb(grey).getpixel((0, 0)) == (255, 255, 255)


def test_training_on_images_of_every_odd_mode(backbones, tmp_path, capsys):
    root = small_image_folder(tmp_path / "images", per_class=2)
    for i, (mode, make) in enumerate(ODD_MODES.items()):
        suffix, img = make()
        for split in ("train", "validation"):
            img.save(root / split / list(COLORS)[i % 3] / f"odd-{mode.replace(';', '')}.{suffix}")
    recipe = image_recipe(backbones["vit"], root, tmp_path / "out")
    code, out, err = run(tmp_path, recipe, capsys=capsys)
    assert code == 0, err
    assert "bad example" not in out + err
    report = json.loads((tmp_path / "out" / "training_report.json").read_text())
    assert not any("bad example" in n for n in report["data_notes"])


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_cut_off_json_line_reads_once_at(backbones, tmp_path, capsys):
    train = _jsonl(tmp_path / "data" / "train.jsonl", [{"text": t, "label": label} for t, label in texts()])
    train.write_text(train.read_text() + '{"text": "c", "la\n')
    err = refused(
        tmp_path,
        files_recipe(backbones, tmp_path, train),
        ["(Unterminated string starting at column"],
        user_files=[train],
        capsys=capsys,
    )
    assert "at at" not in err


def test_splits_whose_columns_differ_are_named_with_the_columns(backbones, tmp_path, capsys):
    rows = [{"text": t, "label": label} for t, label in texts()]
    train = _jsonl(tmp_path / "data" / "train.jsonl", [{"text": r["text"]} for r in rows])
    validation = _jsonl(tmp_path / "data" / "validation.jsonl", rows[:6])
    refused(
        tmp_path,
        files_recipe(backbones, tmp_path, train, validation),
        ["has the columns text and data.validation_file", "label only in data.validation_file", "same columns"],
        user_files=[train, validation],
        capsys=capsys,
    )
    numbers = _jsonl(
        tmp_path / "data" / "numbers.jsonl", [{"text": i, "label": r["label"]} for i, r in enumerate(rows)]
    )
    refused(
        tmp_path,
        files_recipe(backbones, tmp_path, numbers, validation),
        ["column 'text' holds integers in data.train_file", "but texts in data.validation_file"],
        user_files=[numbers, validation],
        capsys=capsys,
    )
