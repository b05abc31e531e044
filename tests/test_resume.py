"""Interrupted runs continue where they stopped: SIGKILL, SIGTERM, SIGINT, a full disk.

Real subprocesses (tests/slow_cli.py: the CLI with each step slowed down) are killed at a known point;
the resumed run must end with the same weights as a run that was never interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import text_recipe
from hf_transfer import cli
from hf_transfer.rundir import MANIFEST, RUN_DIR, read_manifest

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


SLOW_CLI = Path(__file__).with_name("slow_cli.py")
# 48 training rows in batches of 8: 6 steps an epoch, so the second checkpoint (step 8) falls inside epoch 2,
# whose data order must not depend on the random state the process happened to have.
CHECKPOINTING = {"max_steps": 12, "save_strategy": "steps", "save_steps": 4, "logging_steps": 1}
STRATEGIES = {
    "full": {"name": "full"},
    "lora": {"name": "lora", "r": 4, "alpha": 8},
    "frozen": {"name": "frozen", "head": "mlp", "head_hidden_sizes": [16]},
}


def _recipe_file(tmp_path: Path, recipe: dict, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(recipe))
    return path


def _recipe(backbones, text_files, out: Path, strategy: str = "full") -> dict:
    recipe = text_recipe(backbones["bert"], text_files, out, strategy=STRATEGIES[strategy])
    recipe["training"].update(CHECKPOINTING)
    return recipe


def _start(args: list[str], tmp_path: Path, delay: float = 0.5) -> subprocess.Popen:
    env = {**os.environ, "HF_TRANSFER_TEST_DELAY": str(delay), "PYTHONPATH": str(Path(__file__).parent.parent)}
    log = open(tmp_path / f"log-{time.monotonic_ns()}.txt", "w+")
    proc = subprocess.Popen([sys.executable, str(SLOW_CLI), *args], stdout=log, stderr=subprocess.STDOUT, env=env)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _output(proc: subprocess.Popen) -> str:
    proc.log.seek(0)  # type: ignore[attr-defined]
    return proc.log.read()  # type: ignore[attr-defined]


def _wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 180.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}:\n{_output(proc)[-3000:]}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}:\n{_output(proc)[-3000:]}")
        time.sleep(0.05)


def _checkpoints(out: Path) -> list[str]:
    return (read_manifest(out) or {}).get("checkpoints", [])


def _weights(out: Path) -> dict:
    from safetensors.torch import load_file

    tensors = {}
    for path in sorted(out.glob("*.safetensors")):
        tensors.update({f"{path.name}:{k}": v for k, v in load_file(str(path)).items()})
    assert tensors, f"no weights in {out}"
    return tensors


def _assert_same_weights(a: Path, b: Path, atol: float = 1e-5) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    worst = max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa)
    assert worst <= atol, f"resumed weights differ from the uninterrupted run's by {worst}"


@pytest.mark.parametrize("strategy", ["full", "lora"])
def test_sigkill_after_the_second_checkpoint_then_resume_gives_the_uninterrupted_weights(
    strategy, backbones, text_files, tmp_path, capsys, caplog
):
    reference = _recipe_file(
        tmp_path, _recipe(backbones, text_files, tmp_path / "reference", strategy), "reference.yaml"
    )
    assert cli.main(["train", str(reference)]) == 0

    out = tmp_path / "out"
    recipe = _recipe_file(tmp_path, _recipe(backbones, text_files, out, strategy))
    proc = _start(["train", str(recipe)], tmp_path)
    _wait_for(lambda: len(_checkpoints(out)) >= 2, proc, "the second checkpoint")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert read_manifest(out)["status"] == "running"  # what a killed process leaves
    assert not (out / "model.safetensors").exists() and not (out / "README.md").exists()

    # Without --resume the folder is refused (it is not cleared), with the command that resumes it.
    capsys.readouterr()
    assert cli.main(["train", str(recipe)]) != 0
    err = capsys.readouterr().err
    assert "interrupted run of this same recipe" in err and "--resume" in err

    assert cli.main(["train", str(recipe), "--resume"]) == 0
    assert f"resuming from {out / _checkpoints(out)[1]}" in caplog.text
    assert read_manifest(out)["status"] == "finished"
    _assert_same_weights(reference.parent / "reference", out)


def test_a_frozen_run_killed_while_caching_features_resumes(backbones, text_files, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    reference = _recipe_file(
        tmp_path, _recipe(backbones, text_files, tmp_path / "reference", "frozen"), "reference.yaml"
    )
    assert cli.main(["train", str(reference)]) == 0
    for entry in (tmp_path / "cache").iterdir():  # the killed run must build its features itself
        import shutil

        shutil.rmtree(entry)

    out = tmp_path / "out"
    recipe = _recipe_file(tmp_path, _recipe(backbones, text_files, out, "frozen"))
    proc = _start(["train", str(recipe)], tmp_path, delay=0.4)
    _wait_for(lambda: any((tmp_path / "cache").rglob("*.tmp-*")), proc, "the feature cache build")
    time.sleep(1.0)  # a few batches into it
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any((tmp_path / "cache").rglob("*.tmp-*")), "the cache build was not half-way when killed"

    assert cli.main(["train", str(recipe), "--resume"]) == 0
    assert read_manifest(out)["status"] == "finished"
    _assert_same_weights(tmp_path / "reference", out)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_save_a_checkpoint_and_say_how_to_resume(signum, backbones, text_files, tmp_path, capsys):
    out = tmp_path / "out"
    recipe = _recipe(backbones, text_files, out)
    recipe["training"].update(save_strategy="no")  # the checkpoint comes from the signal alone
    path = _recipe_file(tmp_path, recipe)
    proc = _start(["train", str(path), "training.logging_steps=1"], tmp_path)
    _wait_for(lambda: "'loss'" in _output(proc), proc, "the first training step")
    proc.send_signal(signum)
    assert proc.wait(timeout=120) == 128 + signum
    said = _output(proc)
    assert "Traceback" not in said
    manifest = read_manifest(out)
    assert manifest["status"] == "interrupted" and manifest["interrupted"]["signal"] == signal.Signals(signum).name
    step = int(manifest["checkpoints"][-1].split("-")[1])
    assert 0 < step < 12
    assert f"interrupted by {signal.Signals(signum).name} at step {step} of 12" in said
    assert str(out / f"checkpoint-{step}") in said
    assert f"hf-transfer train {path} training.logging_steps=1 --resume" in said

    reference = _recipe_file(
        tmp_path, {**recipe, "training": {**recipe["training"], "output_dir": str(tmp_path / "ref")}}, "reference.yaml"
    )
    assert cli.main(["train", str(reference)]) == 0
    # training.resume_from_checkpoint=true on the command line is the same as --resume
    assert cli.main(["train", str(path), "training.resume_from_checkpoint=true"]) == 0
    _assert_same_weights(tmp_path / "ref", out)


def test_resume_refuses_a_changed_recipe_and_lists_the_differences(backbones, text_files, tmp_path, capsys):
    out = tmp_path / "out"
    recipe = _recipe(backbones, text_files, out)
    path = _recipe_file(tmp_path, recipe)
    assert cli.main(["train", str(path)]) == 0
    manifest = read_manifest(out)
    manifest["status"] = "interrupted"
    (out / RUN_DIR / MANIFEST).write_text(json.dumps(manifest))
    before = sorted(p.name for p in out.iterdir())
    capsys.readouterr()
    code = cli.main(["train", str(path), "training.learning_rate=0.5", "training.logging_steps=3", "--resume"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert "differs from the interrupted run's in 1 key" in err and "training.learning_rate: 0.001 → 0.5" in err
    assert "logging_steps" not in err  # logging cannot change what a run computes
    assert sorted(p.name for p in out.iterdir()) == before


def test_resume_skips_a_checkpoint_that_was_being_written(backbones, text_files, tmp_path, capsys, caplog):
    import shutil

    out = tmp_path / "out"
    path = _recipe_file(tmp_path, _recipe(backbones, text_files, out))
    assert cli.main(["train", str(path)]) == 0
    (tmp_path / "ref").mkdir()
    shutil.copy(out / "model.safetensors", tmp_path / "ref")
    # As if killed while Trainer wrote checkpoint-12: weights there, no trainer_state.json, not in the manifest.
    manifest = read_manifest(out)
    for name in manifest["written"]:
        (out / name).unlink()
    manifest.update(
        status="interrupted",
        written=[],
        checkpoints=["checkpoint-4", "checkpoint-8"],
        pending_checkpoint="checkpoint-12",
    )
    (out / RUN_DIR / MANIFEST).write_text(json.dumps(manifest))
    for name in manifest["checkpoints"] + ["checkpoint-12"]:
        assert (out / name / "trainer_state.json").is_file()
    (out / "checkpoint-12" / "trainer_state.json").unlink()
    caplog.clear()
    assert cli.main(["train", str(path), "--resume"]) == 0
    assert "skipping checkpoint-12" in caplog.text and f"resuming from {out / 'checkpoint-8'}" in caplog.text
    _assert_same_weights(tmp_path / "ref", out)


def test_resume_of_a_finished_run_is_refused(backbones, text_files, tmp_path, capsys):
    out = tmp_path / "out"
    path = _recipe_file(tmp_path, _recipe(backbones, text_files, out))
    assert cli.main(["train", str(path)]) == 0
    capsys.readouterr()
    assert cli.main(["train", str(path), "--resume"]) != 0
    err = capsys.readouterr().err
    assert "holds a finished run" in err and "nothing to resume" in err and "--overwrite" in err


def test_a_full_disk_while_saving_leaves_no_complete_looking_folder_and_keeps_the_checkpoint(
    backbones, text_files, tmp_path, monkeypatch, capsys
):
    import errno

    from hf_transfer import artifacts

    out = tmp_path / "out"
    path = _recipe_file(tmp_path, _recipe(backbones, text_files, out))
    real = artifacts.write_run_files

    def disk_full(staging, *args, **kwargs):
        (staging / "metrics.json").write_text("{")  # half written when the disk filled up
        raise OSError(errno.ENOSPC, "No space left on device", str(staging / "training_report.json"))

    monkeypatch.setattr(artifacts, "write_run_files", disk_full)
    capsys.readouterr()
    assert cli.main(["train", str(path)]) != 0
    err = capsys.readouterr().err
    assert err.count("hf-transfer: error:") == 1 and "Traceback" not in err
    assert "the disk is full" in err and "MiB" in err and "checkpoint-12" in err and "--resume" in err
    assert sorted(p.name for p in out.iterdir()) == [RUN_DIR, "checkpoint-12", "checkpoint-4", "checkpoint-8"]
    assert not (out / RUN_DIR / "staging").exists()
    assert read_manifest(out)["status"] == "failed"

    monkeypatch.setattr(artifacts, "write_run_files", real)
    assert cli.main(["train", str(path), "--resume"]) == 0
    assert (out / "README.md").is_file() and read_manifest(out)["status"] == "finished"


@pytest.mark.parametrize("damage", ["model.safetensors", "optimizer.pt", "trainer_state.json"])
def test_resume_passes_over_a_damaged_newest_checkpoint_to_the_last_intact_one(
    damage, backbones, text_files, tmp_path, capsys, caplog
):
    import shutil

    out = tmp_path / "out"
    path = _recipe_file(tmp_path, _recipe(backbones, text_files, out))
    assert cli.main(["train", str(path)]) == 0
    (tmp_path / "ref").mkdir()
    shutil.copy(out / "model.safetensors", tmp_path / "ref")
    manifest = read_manifest(out)
    for name in manifest["written"]:
        (out / name).unlink()
    manifest.update(status="interrupted", written=[])
    (out / RUN_DIR / MANIFEST).write_text(json.dumps(manifest))
    newest = out / manifest["checkpoints"][-1]
    with open(newest / damage, "r+b") as f:  # cut short, as a full disk or a bad copy leaves it
        f.truncate(100)
    # an explicit checkpoint that is damaged is one clear message
    capsys.readouterr()
    assert cli.main(["train", str(path), f"training.resume_from_checkpoint={newest}"]) != 0
    err = capsys.readouterr().err
    assert f"cannot resume from '{newest}': {damage}" in err and "Traceback" not in err
    caplog.clear()
    assert cli.main(["train", str(path), "--resume"]) == 0
    previous = manifest["checkpoints"][-2]
    assert f"skipping {newest.name}: {damage}" in caplog.text and f"resuming from {out / previous}" in caplog.text
    _assert_same_weights(tmp_path / "ref", out)
