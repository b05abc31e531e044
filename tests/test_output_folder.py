"""The output folder: hf_transfer clears only what it wrote, one run at a time, and says what it would do.

Each test runs the CLI as a user does and compares the folder's files before and after.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import text_recipe
from hf_transfer import cli
from hf_transfer.rundir import MANIFEST, RUN_DIR, read_manifest
from hf_transfer.runlock import LOCK

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text(errors="replace") if p.is_file() else "/"
        for p in sorted(folder.rglob("*"))
        if RUN_DIR not in p.parts
    }


def _train(tmp_path: Path, recipe: dict, *args: str, capsys) -> tuple[int, str, str]:
    path = tmp_path / "recipe-under-test.yaml"
    path.write_text(yaml.safe_dump(recipe))
    capsys.readouterr()
    code = cli.main(["train", str(path), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error(err: str) -> None:
    assert err.count("hf-transfer: error:") == 1 and "Traceback" not in err, err


@pytest.fixture
def recipe(backbones, text_files, tmp_path) -> dict:
    return text_recipe(backbones["bert"], text_files, tmp_path / "out")


def test_overwrite_never_clears_a_folder_holding_the_users_own_recipe_and_notes(recipe, tmp_path, capsys):
    work = tmp_path / "out"
    work.mkdir()
    (work / "recipe.yaml").write_text("my own recipe")
    (work / "notes.md").write_text("my notes")
    (work / "checkpoint-ideas").mkdir()
    (work / "checkpoint-ideas" / "plan.txt").write_text("ideas")
    before = _tree(work)
    for args in ((), ("--overwrite",), ("--overwrite", "--dry-run")):
        code, _, err = _train(tmp_path, recipe, *args, capsys=capsys)
        assert code != 0
        _one_error(err)
        assert "does not clear" in err or "not an hf_transfer run" in err
        assert _tree(work) == before
        assert not (work / RUN_DIR).exists()


def test_rerunning_the_same_recipe_into_a_finished_run_is_refused_and_clears_nothing(recipe, tmp_path, capsys):
    assert _train(tmp_path, recipe, capsys=capsys)[0] == 0
    out = tmp_path / "out"
    (out / "my_eval.csv").write_text("id,score\n1,0.9\n")
    before = _tree(out)
    code, _, err = _train(tmp_path, recipe, capsys=capsys)
    assert code != 0
    _one_error(err)
    assert "finished run of this same recipe" in err and "--overwrite" in err
    assert _tree(out) == before
    code, out_text, err = _train(tmp_path, recipe, "--dry-run", capsys=capsys)
    assert code != 0 and "finished run of this same recipe" in err


def test_overwrite_replaces_only_what_the_previous_run_wrote(recipe, tmp_path, capsys, caplog):
    assert _train(tmp_path, recipe, capsys=capsys)[0] == 0
    out = tmp_path / "out"
    first = read_manifest(out)
    (out / "my_eval.csv").write_text("id,score\n1,0.9\n")
    (out / "analysis").mkdir()
    (out / "analysis" / "plot.png").write_bytes(b"png")

    code, printed, _ = _train(tmp_path, recipe, "training.max_steps=2", "--overwrite", "--dry-run", capsys=capsys)
    assert code == 0
    assert (
        "replace the previous run" in printed
        and "keep 2 entries hf_transfer did not write: analysis, my_eval.csv" in printed
    )
    assert read_manifest(out) == first  # a dry run changes nothing

    caplog.clear()
    code, _, _ = _train(tmp_path, recipe, "training.max_steps=2", "--overwrite", capsys=capsys)
    assert code == 0
    assert (out / "my_eval.csv").read_text() == "id,score\n1,0.9\n" and (
        out / "analysis" / "plot.png"
    ).read_bytes() == b"png"
    assert "kept 2 entries that hf_transfer did not write: analysis, my_eval.csv" in caplog.text
    second = read_manifest(out)
    assert second["run_id"] != first["run_id"] and second["status"] == "finished"
    assert set(second["preexisting"]) == {"analysis", "my_eval.csv"}
    assert yaml.safe_load((out / "recipe.yaml").read_text())["training"]["max_steps"] == 2


def test_a_different_recipe_is_refused_without_overwrite(recipe, tmp_path, capsys):
    assert _train(tmp_path, recipe, capsys=capsys)[0] == 0
    before = _tree(tmp_path / "out")
    code, _, err = _train(tmp_path, recipe, "training.max_steps=2", capsys=capsys)
    assert code != 0
    _one_error(err)
    assert "already holds a different run" in err and "--overwrite" in err
    assert _tree(tmp_path / "out") == before


def test_a_folder_held_by_a_live_run_is_refused_at_once(recipe, tmp_path, capsys):
    out = tmp_path / "out"
    (out / RUN_DIR).mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / RUN_DIR / LOCK).write_text(
            json.dumps({"pid": holder.pid, "host": socket.gethostname(), "started": "now"})
        )
        for args in ((), ("--overwrite",), ("--dry-run",)):
            code, _, err = _train(tmp_path, recipe, *args, capsys=capsys)
            assert code != 0
            _one_error(err)
            assert f"in use by a running hf-transfer run (pid {holder.pid}" in err and str(out / RUN_DIR / LOCK) in err
        assert sorted(p.name for p in out.iterdir()) == [RUN_DIR] and read_manifest(out) is None
    finally:
        holder.kill()
        holder.wait()
    # Once that process is gone its lock is stale: the next run takes the folder.
    code, _, _ = _train(tmp_path, recipe, capsys=capsys)
    assert code == 0 and read_manifest(out)["status"] == "finished"
    assert not (out / RUN_DIR / LOCK).exists()


def test_a_lock_from_another_host_with_a_recent_heartbeat_is_respected(recipe, tmp_path, capsys):
    out = tmp_path / "out"
    (out / RUN_DIR).mkdir(parents=True)
    lock = out / RUN_DIR / LOCK
    lock.write_text(json.dumps({"pid": 1, "host": "some-other-node", "started": "now"}))
    code, _, err = _train(tmp_path, recipe, capsys=capsys)
    assert code != 0 and "on host some-other-node" in err
    old = lock.stat().st_mtime - 3600
    os.utime(lock, (old, old))  # its heartbeat stopped an hour ago: that run is gone
    assert _train(tmp_path, recipe, capsys=capsys)[0] == 0


def test_two_runs_into_one_folder_one_is_refused(recipe, tmp_path, capsys):
    """Two real processes started together: exactly one trains, the other is refused and changes nothing."""
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "HF_TRANSFER_TEST_DELAY": "0.3", "PYTHONPATH": str(Path(__file__).parent.parent)}
    slow = Path(__file__).with_name("slow_cli.py")
    procs = [
        subprocess.Popen(
            [sys.executable, str(slow), "train", str(path)],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and codes[1] != 0, results
    refused = next(err for code, err in results if code != 0)
    assert "in use by a running hf-transfer run" in refused and "Traceback" not in refused
    assert read_manifest(tmp_path / "out")["status"] == "finished"


def test_an_output_folder_that_cannot_be_created_is_reported_before_anything_runs(recipe, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    recipe["training"]["output_dir"] = str(blocker / "out")
    for args in ((), ("--dry-run",)):
        code, _, err = _train(tmp_path, recipe, *args, capsys=capsys)
        assert code != 0
        _one_error(err)
        assert "is a file" in err and "training.output_dir" in err
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_location_is_reported(recipe, tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    recipe["training"]["output_dir"] = str(parent / "out")
    try:
        code, _, err = _train(tmp_path, recipe, "--dry-run", capsys=capsys)
        assert code != 0 and "is not writable" in err
    finally:
        parent.chmod(0o755)


def test_a_failed_start_leaves_no_folder_behind(recipe, tmp_path, capsys, monkeypatch):
    from hf_transfer import pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("the model could not be built")

    monkeypatch.setattr(pipeline, "_model_and_strategy", broken)
    with pytest.raises(RuntimeError):
        _train(tmp_path, recipe, capsys=capsys)
    assert not (tmp_path / "out").exists()


def test_the_manifest_lists_what_the_run_wrote(recipe, tmp_path, capsys):
    recipe["training"].update(save_strategy="steps", save_steps=2)
    assert _train(tmp_path, recipe, capsys=capsys)[0] == 0
    out = tmp_path / "out"
    manifest = json.loads((out / RUN_DIR / MANIFEST).read_text())
    assert manifest["status"] == "finished" and manifest["preexisting"] == []
    assert manifest["checkpoints"] == ["checkpoint-2", "checkpoint-3"]
    on_disk = sorted(p.name for p in out.iterdir() if p.name != RUN_DIR)
    assert sorted(manifest["written"] + manifest["checkpoints"]) == on_disk
    assert {"model.safetensors", "README.md", "recipe.yaml", "metrics.json"} <= set(manifest["written"])


def test_the_manifest_lists_each_folders_files_and_no_checkpoint_is_left_pending(recipe, tmp_path, capsys):
    recipe["training"].update(save_strategy="steps", save_steps=2)
    assert _train(tmp_path, recipe, capsys=capsys)[0] == 0
    out = tmp_path / "out"
    manifest = read_manifest(out)
    for name in manifest["checkpoints"]:
        assert manifest["files"][name] == sorted(
            str(p.relative_to(out / name)) for p in (out / name).rglob("*") if p.is_file()
        )
        assert "trainer_state.json" in manifest["files"][name]
    assert "pending_checkpoint" not in manifest  # recorded before each save, cleared once the save is complete


def test_overwrite_keeps_a_checkpoint_folder_the_run_did_not_write_and_the_users_files_inside_its_own(
    recipe, tmp_path, capsys
):
    recipe["training"].update(save_strategy="steps", save_steps=2)
    assert _train(tmp_path, recipe, capsys=capsys)[0] == 0
    out = tmp_path / "out"
    (out / "checkpoint-99").mkdir()
    (out / "checkpoint-99" / "x.txt").write_text("keep")
    (out / "checkpoint-2" / "MINE.txt").write_text("mine")
    before = _tree(out)
    for extra in ("--overwrite", "--resume"):
        if extra == "--resume":
            manifest = read_manifest(out)
            manifest["status"] = "interrupted"
            (out / RUN_DIR / MANIFEST).write_text(json.dumps(manifest))
            before = _tree(out)
        code, _, err = _train(tmp_path, recipe, extra, capsys=capsys)
        assert code != 0 and "Traceback" not in err
        _one_error(err)
        assert "checkpoint-99" in err and "checkpoint-2/MINE.txt" in err and "move them out" in err
        assert _tree(out) == before  # nothing removed, nothing written

    # moved away, the same --overwrite removes exactly the previous run's files
    (out / "checkpoint-2" / "MINE.txt").unlink()
    shutil.rmtree(out / "checkpoint-99")
    manifest = read_manifest(out)
    manifest["status"] = "finished"
    (out / RUN_DIR / MANIFEST).write_text(json.dumps(manifest))
    assert _train(tmp_path, recipe, "--overwrite", capsys=capsys)[0] == 0


def test_overwrite_removes_the_checkpoint_a_killed_run_was_writing(recipe, tmp_path, capsys):
    recipe["training"].update(save_strategy="steps", save_steps=2)
    assert _train(tmp_path, recipe, capsys=capsys)[0] == 0
    out = tmp_path / "out"
    manifest = read_manifest(out)
    # as if killed while Trainer wrote checkpoint-4: named before the save, files not recorded
    (out / "checkpoint-4").mkdir()
    (out / "checkpoint-4" / "model.safetensors").write_bytes(b"half")
    manifest.update(status="interrupted", pending_checkpoint="checkpoint-4")
    (out / RUN_DIR / MANIFEST).write_text(json.dumps(manifest))
    assert _train(tmp_path, recipe, "training.max_steps=1", "--overwrite", capsys=capsys)[0] == 0
    assert not (out / "checkpoint-4").exists()
