"""Bad input: one clear message, non-zero exit, no traceback, and no output folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import text_recipe
from hf_transfer import cli


def _recipe(backbones, text_files, tmp_path) -> dict:
    return text_recipe(backbones["bert"], text_files, tmp_path / "out")


def _run(tmp_path: Path, recipe: dict | str, *args: str, capsys) -> tuple[int, str]:
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe if isinstance(recipe, str) else yaml.safe_dump(recipe))
    code = cli.main(["train", str(path), *args])
    err = capsys.readouterr().err
    return code, err


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


CASES = {
    "unknown key": (
        lambda r, t: r["backbone"].update(nme="x"),
        ["unknown key 'backbone.nme'", "did you mean 'name_or_path'"],
    ),
    "wrong type": (
        lambda r, t: r["training"].update(num_train_epochs="many"),
        ["'training.num_train_epochs' must be a number", "'many'"],
    ),
    "missing required key": (
        lambda r, t: r["backbone"].pop("name_or_path"),
        ["missing required key 'backbone.name_or_path'"],
    ),
    "missing section": (lambda r, t: r.pop("task"), ["missing required section 'task'"]),
    "unknown source": (
        lambda r, t: r["data"].update(source="fils"),
        ["unknown data source 'fils'", "did you mean 'files'"],
    ),
    "unknown task": (
        lambda r, t: r["task"].update(name="text-clasification"),
        ["unknown task", "did you mean 'text-classification'"],
    ),
    "unknown strategy": (
        lambda r, t: r["strategy"].update(name="ful"),
        ["unknown strategy 'ful'", "did you mean 'full'"],
    ),
    "data path missing": (
        lambda r, t: r["data"].update(train_file=str(t / "nope.jsonl")),
        ["nope.jsonl", "does not exist"],
    ),
    "column missing": (
        lambda r, t: r["data"].update(columns={"text": "body"}),
        ["'data.columns.text' is 'body'", "has columns: text, label"],
    ),
    "no label column": (
        lambda r, t: r["data"].update(
            train_file=_jsonl(t / "nolabel.jsonl", [{"text": "a b", "category": "x"}] * 4), validation_file=None
        ),
        ["no label column found", "category", "data.columns.label"],
    ),
    "single class": (
        lambda r, t: r["data"].update(
            train_file=_jsonl(t / "one.jsonl", [{"text": "a b", "label": "x"}] * 6), validation_file=None
        ),
        ["single class", "x"],
    ),
    "backbone not reachable": (
        lambda r, t: r["backbone"].update(name_or_path="some-org/not-a-model"),
        ["'some-org/not-a-model' could not be found or reached", "--local-dir", "backbone.name_or_path=DIR"],
    ),
    "backbone folder missing": (
        lambda r, t: r["backbone"].update(name_or_path=str(t / "no" / "such" / "model")),
        ["is not a folder", "backbone.name_or_path"],
    ),
    "backbone folder not a model": (
        lambda r, t: r["backbone"].update(name_or_path=str(t)),
        ["is not a usable model folder", "config.json"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_recipe_gets_one_clear_message(case, backbones, text_files, tmp_path, capsys):
    mutate, fragments = CASES[case]
    recipe = _recipe(backbones, text_files, tmp_path)
    mutate(recipe, tmp_path)
    code, err = _run(tmp_path, recipe, capsys=capsys)
    assert code != 0
    assert err.count("hf-transfer: error:") == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not (tmp_path / "out").exists()


def test_missing_recipe_file(tmp_path, capsys):
    assert cli.main(["train", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert "missing.yaml' does not exist" in err and "hf-transfer recipes" in err


def test_recipe_not_yaml_names_the_line(tmp_path, capsys):
    code, err = _run(tmp_path, "backbone:\n  name_or_path: x\ndata: [unclosed\ntask: {}\n", capsys=capsys)
    assert code == 2 and "not valid YAML at line" in err and "Traceback" not in err


def test_all_config_problems_reported_together(backbones, text_files, tmp_path, capsys):
    recipe = _recipe(backbones, text_files, tmp_path)
    recipe["backbone"]["nme"] = 1
    recipe["training"]["learning_rat"] = 1e-3
    recipe["strategy"]["name"] = "ful"
    code, err = _run(tmp_path, recipe, "hub.push=maybe", capsys=capsys)
    assert code == 2
    assert "4 problems" in err
    for fragment in ("backbone.nme", "training.learning_rat", "'ful'", "'hub.push' must be true or false"):
        assert fragment in err


@pytest.mark.slow
def test_output_folder_with_different_run_is_refused_unless_overwrite(backbones, text_files, tmp_path, capsys):
    recipe = _recipe(backbones, text_files, tmp_path)
    code, _ = _run(tmp_path, recipe, "training.max_steps=1", capsys=capsys)
    assert code == 0
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    code, err = _run(tmp_path, recipe, "training.max_steps=2", capsys=capsys)
    assert code != 0 and "already holds a different run" in err and "--overwrite" in err
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == before
    code, _ = _run(tmp_path, recipe, "training.max_steps=2", "--overwrite", capsys=capsys)
    assert code == 0
    assert yaml.safe_load((tmp_path / "out" / "recipe.yaml").read_text())["training"]["max_steps"] == 2


def test_output_folder_with_foreign_files_is_never_cleared(backbones, text_files, tmp_path, capsys):
    recipe = _recipe(backbones, text_files, tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("precious")
    code, err = _run(tmp_path, recipe, "--overwrite", capsys=capsys)
    assert code != 0 and "not an hf_transfer run" in err
    assert (tmp_path / "out" / "thesis.tex").read_text() == "precious"


def test_card_of_a_file_says_it_is_a_file(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert cli.main(["card", str(notes)]) != 0
    err = capsys.readouterr().err
    assert "found a file, not a folder" in err and "Traceback" not in err and notes.read_text() == "mine"
