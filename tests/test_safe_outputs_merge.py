"""`hf-transfer merge`: the merged model's folder is written whole and replaces only an earlier merge's files.

Every refusal leaves the user's files byte for byte, exits non-zero with one message and no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hf_transfer
from helpers import build_text_backbone, text_recipe
from hf_transfer import cli

MERGE_RECORD = ".hf_transfer_merge.json"  # what a merge records it wrote (hf_transfer.loading.MERGE_RECORD)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``folder``: relative path → bytes (None for a folder)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, text_files) -> Path:
    """A LoRA run's output folder (the adapter), trained for one step on a tiny BERT."""
    root = tmp_path_factory.mktemp("merge_adapter")
    backbone = build_text_backbone("bert", root / "bert")
    recipe = text_recipe(backbone, text_files, root / "lora", strategy={"name": "lora", "r": 4})
    recipe["training"].update(max_steps=1, precision="fp32")
    hf_transfer.train(recipe)
    return root / "lora"


def _merge(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["merge", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _no_temporary_folders(parent: Path) -> None:
    assert not [p.name for p in parent.iterdir() if ".building-" in p.name or ".old-" in p.name]


def test_overwrite_never_touches_a_users_own_files(adapter, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.json").write_text('{"my": "config"}')
    (out / "model.safetensors").write_bytes(b"my weights")
    (out / "my_notes.txt").write_text("notes")
    before = snapshot(out)
    code, err = _merge(capsys, str(adapter), str(out), "--overwrite")
    assert code == 1 and "is not an hf-transfer merge output" in err and MERGE_RECORD in err
    assert snapshot(out) == before
    _no_temporary_folders(tmp_path)


def test_a_training_run_folder_is_refused(adapter, tmp_path, capsys):
    other_run = tmp_path / "other_run"
    (other_run / ".hf_transfer").mkdir(parents=True)
    (other_run / ".hf_transfer" / "run.json").write_text('{"status": "finished"}')
    (other_run / "model.safetensors").write_bytes(b"another run's weights")
    (other_run / "config.json").write_text("{}")
    before = snapshot(other_run)
    code, err = _merge(capsys, str(adapter), str(other_run), "--overwrite")
    assert code == 1 and "holds an hf_transfer training run" in err
    assert snapshot(other_run) == before


def test_the_adapter_folder_itself_inside_it_or_around_it_is_refused(adapter, tmp_path, capsys):
    before = snapshot(adapter)
    code, err = _merge(capsys, str(adapter), str(adapter), "--overwrite")
    assert code == 1 and "is the adapter folder itself" in err
    code, err = _merge(capsys, str(adapter), str(adapter / "sub"), "--overwrite")
    assert code == 1 and "is inside the adapter folder" in err
    code, err = _merge(capsys, str(adapter), str(adapter.parent), "--overwrite")
    assert code == 1 and "holds the adapter folder" in err
    assert snapshot(adapter) == before


def test_a_file_as_the_output_is_refused(adapter, tmp_path, capsys):
    target = tmp_path / "merged"
    target.write_text("a file of mine")
    code, err = _merge(capsys, str(adapter), str(target), "--overwrite")
    assert code == 1 and "is a file, not a folder" in err
    assert target.read_text() == "a file of mine"


def test_a_merge_is_replaced_only_with_overwrite_and_only_its_own_files(adapter, tmp_path, capsys):
    out = tmp_path / "merged"
    code, _ = _merge(capsys, str(adapter), str(out))
    assert code == 0
    record = json.loads((out / MERGE_RECORD).read_text())
    assert set(record["written"]) == {p.name for p in out.iterdir()} - {MERGE_RECORD}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(record["written"])
    _no_temporary_folders(tmp_path)
    first = snapshot(out)

    code, err = _merge(capsys, str(adapter), str(out))
    assert code == 1 and "already exists" in err and "--overwrite" in err
    assert snapshot(out) == first

    code, _ = _merge(capsys, str(adapter), str(out), "--overwrite")
    assert code == 0 and set(snapshot(out)) == set(first)
    _no_temporary_folders(tmp_path)

    (out / "my_notes.txt").write_text("mine")
    (out / "mydata").mkdir()
    (out / "mydata" / "rows.csv").write_text("a,b\n")
    before = snapshot(out)
    code, err = _merge(capsys, str(adapter), str(out), "--overwrite")
    assert code == 1 and "my_notes.txt" in err and "mydata" in err and "never removed" in err
    assert snapshot(out) == before


def test_a_failed_merge_leaves_the_earlier_one_and_nothing_that_looks_complete(adapter, tmp_path, capsys, monkeypatch):
    import hf_transfer.loading

    out = tmp_path / "merged"
    assert _merge(capsys, str(adapter), str(out))[0] == 0
    before = snapshot(out)

    def fail(src, dst):  # the weights are written by now; the disk fills up on the tokenizer
        raise OSError("No space left on device")

    monkeypatch.setattr(hf_transfer.loading, "_copy_processor", fail)
    with pytest.raises(OSError, match="No space left"):
        cli.main(["merge", str(adapter), str(out), "--overwrite"])
    assert snapshot(out) == before
    with pytest.raises(OSError, match="No space left"):
        cli.main(["merge", str(adapter), str(tmp_path / "new")])
    assert not (tmp_path / "new").exists()
    _no_temporary_folders(tmp_path)


def test_the_runs_own_merged_folder_is_allowed(adapter, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(adapter, copy)
    before = snapshot(copy)
    assert _merge(capsys, str(copy), str(copy / "merged"))[0] == 0
    assert (copy / "merged" / "model.safetensors").is_file()
    after = snapshot(copy)
    assert {k: v for k, v in after.items() if not k.startswith("merged")} == before
    _no_temporary_folders(copy)


def test_inside_a_runs_own_folder_or_under_a_file_is_refused_and_a_kept_old_folder_survives(adapter, tmp_path, capsys):
    run = tmp_path / "run"
    (run / ".hf_transfer").mkdir(parents=True)
    code, err = _merge(capsys, str(adapter), str(run / ".hf_transfer" / "merged"))
    assert code != 0 and "inside a training run's own .hf_transfer/ folder" in err
    (tmp_path / "afile").write_text("mine")
    code, err = _merge(capsys, str(adapter), str(tmp_path / "afile" / "sub"))
    assert code != 0 and "'afile' is a file" in err.replace(str(tmp_path) + "/", "")
    assert (tmp_path / "afile").read_text() == "mine"
    # files someone added while an output was replaced were kept in ".NAME.old-HOST-PID", as the warning said:
    # a later merge does not remove them, even when that process is gone
    import socket

    old = tmp_path / f".m.old-{socket.gethostname()}-999999"
    old.mkdir()
    (old / "user_log.txt").write_text("kept")
    assert _merge(capsys, str(adapter), str(tmp_path / "m"))[0] == 0
    assert (old / "user_log.txt").read_text() == "kept"


def test_a_damaged_adapter_config_is_one_message(adapter, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(adapter, broken)
    for text in ("{not json", "[1]", '{"r": 8}'):
        (broken / "adapter_config.json").write_text(text)
        code, err = _merge(capsys, str(broken), str(tmp_path / "out"))
        assert code != 0 and "Traceback" not in err and "adapter_config.json" in err, err
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tmp_path / "moved" / "backbone")
    (broken / "adapter_config.json").write_text(json.dumps(config))
    code, err = _merge(capsys, str(broken), str(tmp_path / "out"))
    assert code != 0 and "neither a folder here nor a Hub id" in err
