"""`hf-transfer compare`: a grid of runs, its leaderboard, resuming, and grids refused before any cell trains."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

import hf_transfer
from helpers import text_recipe
from hf_transfer import cli
from hf_transfer.errors import ConfigError

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def recipe_file(backbones, text_files, tmp_path):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["training"].update(max_steps=2, learning_rate=5e-2)
    recipe["data"]["test_file"] = str(text_files["test"])
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_two_backbones_by_two_strategies_give_a_leaderboard_and_resume(recipe_file, backbones, tmp_path, capsys):
    args = [
        "compare",
        str(recipe_file),
        "--strategies",
        "full,frozen",
        "--backbones",
        f"{backbones['bert']},{backbones['distilbert']}",
    ]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    root = tmp_path / "out" / "compare"
    board = json.loads((root / "leaderboard.json").read_text())
    names = {r["cell"] for r in board["rows"]}
    assert names == {"full__bert", "full__distilbert", "frozen__bert", "frozen__distilbert"}
    assert all(r["state"] == "trained" and r["metric"] is not None and r["seconds"] > 0 for r in board["rows"])
    metrics = [r["metric"] for r in board["rows"]]
    assert metrics == sorted(metrics, reverse=True)
    params = {r["cell"]: r["trainable_params"] for r in board["rows"]}
    assert params["frozen__bert"] < params["full__bert"]
    # test metrics for the chosen cell only
    assert board["rows"][0]["test"] and "test_accuracy" in board["rows"][0]["test"]
    assert all(not r["test"] for r in board["rows"][1:])
    assert (root / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert board["best"] in out and board["command"] in out and "hf-transfer train" in board["command"]
    assert f"training.output_dir={root / board['best']}" in board["command"]
    md = (root / "leaderboard.md").read_text()
    assert md.count("test_accuracy") == 1

    # one cell removed: only that one trains again, the others are read back unchanged
    before = {r["cell"]: r for r in board["rows"]}
    shutil.rmtree(root / "frozen__bert")
    result = hf_transfer.compare(
        str(recipe_file),
        strategies=["full", "frozen"],
        backbones=[str(backbones["bert"]), str(backbones["distilbert"])],
    )
    states = {r.cell: r.state for r in result.rows}
    assert states == {
        "full__bert": "finished",
        "full__distilbert": "finished",
        "frozen__bert": "trained",
        "frozen__distilbert": "finished",
    }
    for row in result.rows:
        if row.state == "finished":
            assert row.metric == before[row.cell]["metric"]
    # the frozen cell trained again on the features cached the first time
    report = json.loads((root / "frozen__bert" / "training_report.json").read_text())
    assert report["strategy"]["feature_cache"]["train"]["hit"]


def test_an_interrupted_cell_is_resumed(recipe_file, backbones, tmp_path):
    from hf_transfer.rundir import read_manifest, write_manifest

    hf_transfer.compare(
        str(recipe_file), ["training.save_strategy=steps", "training.save_steps=1"], strategies=["full"]
    )
    cell = tmp_path / "out" / "compare" / "full"
    manifest = read_manifest(cell)
    manifest["status"] = "interrupted"
    write_manifest(cell, manifest)
    board = hf_transfer.compare(
        str(recipe_file), ["training.save_strategy=steps", "training.save_steps=1"], strategies=["full"]
    )
    assert [r.state for r in board.rows] == ["resumed"]
    assert read_manifest(cell)["status"] == "finished"


def test_bad_grid_is_refused_before_any_cell_with_every_problem(recipe_file, backbones, image_folder, tmp_path):
    with pytest.raises(ConfigError) as info:
        hf_transfer.compare(
            str(recipe_file),
            strategies=["full", "frozn"],
            backbones=[str(backbones["bert"]), str(backbones["vit"]), str(tmp_path / "nowhere")],
            grid={"training.learning_rat": ["1e-3"]},
        )
    text = str(info.value)
    assert "nowhere" in text  # a backbone that cannot be found is named even though its cells fail on other keys
    assert "frozn" in text and "learning_rat" in text and "vit" in text
    assert "cells full__vit__learning_rat=1e-3, frozn__vit__learning_rat=1e-3:" in text  # modality: its cells
    assert text.count("learning_rat'") == 1  # a problem every cell shares is listed once
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


def test_dry_run_plans_without_training(recipe_file, tmp_path, capsys):
    args = [
        "compare",
        str(recipe_file),
        "--strategies",
        "full,frozen",
        "--grid",
        "training.learning_rate=1e-3,3e-3",
        "--dry-run",
    ]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "4 cells" in out and "frozen__learning_rate=3e-3" in out
    assert not (tmp_path / "out").exists()
    assert cli.main(["compare", str(recipe_file), "--grid", "training.learning_rate"]) == 2
    assert "must look like" in capsys.readouterr().err


def test_help_does_not_import_torch():
    code = (
        "import sys; from hf_transfer import cli\n"
        "for c in ('compare', 'rank'):\n"
        "    try: cli.main([c, '--help'])\n"
        "    except SystemExit: pass\n"
        "assert 'torch' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--max-examples" in proc.stdout and "--strategies" in proc.stdout


def test_duplicate_conflicting_or_empty_axes_are_refused_together(recipe_file, tmp_path, capsys):
    args = ["compare", str(recipe_file), "--strategies", "full,full", "--grid", "strategy.name=frozen", "--dry-run"]
    assert cli.main(args + ["--grid", "training.seed=1,2", "--grid", "training.seed=3"]) != 0
    err = capsys.readouterr().err
    assert "--grid names 'training.seed' twice; give all its values once: --grid training.seed=1,2,3" in err
    assert cli.main(args + ["--grid", "training.learning_rate=1e-4,1e-4"]) != 0
    err = capsys.readouterr().err
    assert "strategy.name is given both by --strategies and by --grid" in err
    assert "--strategies lists 'full' more than once" in err
    assert "--grid training.learning_rate lists '1e-4' more than once" in err
    assert "Traceback" not in err
    assert cli.main(["compare", str(recipe_file), "--strategies", ",", "--dry-run"]) != 0
    assert "--strategies lists nothing" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_rank_refuses_a_backbone_listed_twice(recipe_file, backbones, capsys):
    bert = str(backbones["bert"])
    assert cli.main(["rank", str(recipe_file), "--backbones", f"{bert},{bert}"]) != 0
    assert "--backbones lists" in capsys.readouterr().err


def test_a_cell_folder_that_is_a_file_is_refused_by_the_dry_run(recipe_file, tmp_path, capsys):
    out = tmp_path / "grid"
    out.mkdir()
    (out / "frozen").write_text("mine")
    assert cli.main(["compare", str(recipe_file), "--strategies", "frozen", "--output-dir", str(out), "--dry-run"]) != 0
    err = capsys.readouterr().err
    assert "cell frozen" in err and "is a file" in err and (out / "frozen").read_text() == "mine"
