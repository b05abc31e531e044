"""`hf-transfer compare`: a user's leaderboard files are never replaced, an earlier compare's always are, and a
--metric no cell has is an error (refused before training when the task's metrics are known)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import build_text_backbone, text_recipe
from hf_transfer import cli


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
    return build_text_backbone("bert", tmp_path_factory.mktemp("compare_bert") / "bert")


@pytest.fixture
def recipe_file(bert, text_files, tmp_path) -> Path:
    recipe = text_recipe(bert, text_files, tmp_path / "out")
    recipe["training"].update(max_steps=1)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _compare(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["compare", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_the_users_leaderboard_files_are_refused_before_anything_trains(recipe_file, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "leaderboard.md").write_text("# my own leaderboard\n")
    (folder / "leaderboard.json").write_text('{"mine": true}\n')
    before = snapshot(folder)
    code, err = _compare(capsys, str(recipe_file), "--strategies", "full", "--output-dir", str(folder))
    assert code == 1 and "leaderboard.md" in err and "leaderboard.json" in err and "--output-dir" in err
    assert snapshot(folder) == before  # no cell folder either: nothing trained


def test_a_rerun_replaces_the_earlier_leaderboard_and_keeps_other_files(recipe_file, tmp_path, capsys):
    folder = tmp_path / "cmp"
    args = [str(recipe_file), "--strategies", "full", "--output-dir", str(folder)]
    assert _compare(capsys, *args)[0] == 0
    board = json.loads((folder / "leaderboard.json").read_text())
    assert board["written_by"] == "hf-transfer compare" and "leaderboard.md" in board["files"]
    (folder / "leaderboard.csv").write_text("mine\n")  # a name compare never writes
    (folder / "leaderboard.md").write_text("stale")
    assert _compare(capsys, *args)[0] == 0  # the finished cell is read back
    assert (folder / "leaderboard.md").read_text().startswith("# Comparison")
    assert (folder / "leaderboard.csv").read_text() == "mine\n"
    assert not [p.name for p in folder.iterdir() if ".partial-" in p.name]

    # a leaderboard.json written before compare recorded its files is recognised as compare's
    legacy = {k: board[k] for k in ("metric", "best", "command", "rows")}
    (folder / "leaderboard.json").write_text(json.dumps(legacy))
    assert _compare(capsys, *args)[0] == 0

    # a user's chart under compare's name, next to compare's record that does not list it, is refused
    board = json.loads((folder / "leaderboard.json").read_text())
    board["files"] = ["leaderboard.md", "leaderboard.json"]
    (folder / "leaderboard.json").write_text(json.dumps(board))
    (folder / "leaderboard.png").write_bytes(b"my chart")
    before = snapshot(folder)
    code, err = _compare(capsys, *args)
    assert code == 1 and "leaderboard.png" in err
    assert snapshot(folder) == before


def test_an_unknown_metric_is_refused_before_anything_trains(recipe_file, tmp_path, capsys):
    code, err = _compare(capsys, str(recipe_file), "--strategies", "full", "--metric", "nonsense")
    assert code == 1 and "--metric 'nonsense'" in err and "accuracy" in err and "macro_f1" in err
    assert not (tmp_path / "out").exists()
    code, err = _compare(capsys, str(recipe_file), "--strategies", "full", "--metric", "acuracy", "--dry-run")
    assert code == 1 and "did you mean 'accuracy'" in err


def test_a_metric_no_cell_reports_is_an_error_listing_those_they_do(recipe_file, tmp_path, capsys):
    # passes the up-front check (a per-target form, as regression tasks report them) but no cell has it
    folder = tmp_path / "cmp"
    args = [str(recipe_file), "--strategies", "full", "--output-dir", str(folder), "--metric", "accuracy_price"]
    code, err = _compare(capsys, *args)
    assert code == 1 and "no cell reports the validation metric 'accuracy_price'" in err
    assert "accuracy" in err and "macro_f1" in err and "--metric NAME" in err
    assert not list(folder.glob("leaderboard*"))
