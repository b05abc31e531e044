"""`hf-transfer export --overwrite` replaces only what an earlier export wrote; bad --tolerance and --opset are
refused with one message before (or instead of) a folder that looks complete."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from helpers import build_text_backbone
from hf_transfer import cli

HAVE_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime", "onnxscript"))
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="the onnx extra is not installed (pip install '.[onnx]')")


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A transformers text-classification folder (no run recipe: the export checks it on synthetic texts)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    root = tmp_path_factory.mktemp("export_model")
    backbone = build_text_backbone("bert", root / "bert")
    folder = root / "model"
    AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=2).save_pretrained(folder)
    AutoTokenizer.from_pretrained(backbone).save_pretrained(folder)
    return folder


def _export(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["export", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _earlier_export_with_user_files(out: Path) -> None:
    """What an export of an earlier version leaves (its record lists no files), plus the user's own files."""
    out.mkdir()
    (out / "hf_transfer_export.json").write_text(json.dumps({"format": "onnx", "task": "text-classification"}))
    (out / "model.onnx").write_bytes(b"onnx bytes")
    (out / "config.json").write_text("{}")
    (out / "my_notes.txt").write_text("my notes")
    (out / "mydata").mkdir()
    (out / "mydata" / "rows.csv").write_text("a,b\n1,2\n")


def test_overwrite_refuses_a_folder_with_the_users_files_next_to_an_earlier_export(model, tmp_path, capsys):
    out = tmp_path / "out"
    _earlier_export_with_user_files(out)
    before = snapshot(out)
    code, err = _export(capsys, str(model), "--output-dir", str(out), "--overwrite")
    assert code == 1 and "my_notes.txt" in err and "mydata" in err and "never removed" in err
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder either


@pytest.mark.parametrize("tolerance", ["-1", "nan", "inf"])
def test_a_tolerance_that_is_not_a_finite_number_of_0_or_more_is_refused_up_front(model, tmp_path, capsys, tolerance):
    out = tmp_path / "out"
    code, err = _export(capsys, str(model), "--output-dir", str(out), f"--tolerance={tolerance}")
    assert code == 1 and "--tolerance" in err and "0 or more" in err and "backbone" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_an_opset_newer_than_onnx_knows_is_refused_up_front(model, tmp_path, capsys):
    if not HAVE_ONNX:
        pytest.skip("needs onnx")
    out = tmp_path / "out"
    code, err = _export(capsys, str(model), "--output-dir", str(out), "--opset", "999")
    assert code == 1 and "--opset 999" in err and not out.exists()


@pytest.mark.slow
@needs_onnx
def test_an_opset_the_exporter_cannot_write_is_refused_not_raised_silently(model, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _export(capsys, str(model), "--output-dir", str(out), "--opset", "9", "--max-examples", "2")
    assert code == 1 and "--opset 9 was asked for" in err and "nothing was written" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@needs_onnx
def test_overwrite_replaces_only_the_files_the_earlier_export_wrote(model, tmp_path, capsys):
    out = tmp_path / "out"
    assert _export(capsys, str(model), "--output-dir", str(out), "--max-examples", "2")[0] == 0
    record = json.loads((out / "hf_transfer_export.json").read_text())
    assert set(record["written"]) == {p.name for p in out.iterdir()} - {"hf_transfer_export.json"}
    assert {"model.onnx", "config.json", "README.md"} <= set(record["written"])

    # a file of the earlier export's that the new one does not write is removed; the user's are a refusal
    (out / "model.int8.onnx").write_bytes(b"earlier int8")
    record["written"].append("model.int8.onnx")
    st = (out / "model.int8.onnx").stat()
    record["fingerprints"]["model.int8.onnx"] = [st.st_size, st.st_mtime_ns]  # as the export records its files
    (out / "hf_transfer_export.json").write_text(json.dumps(record))
    (out / "my_notes.txt").write_text("my notes")
    before = snapshot(out)
    code, err = _export(capsys, str(model), "--output-dir", str(out), "--overwrite", "--max-examples", "2")
    assert code == 1 and "my_notes.txt" in err
    assert snapshot(out) == before

    (out / "my_notes.txt").unlink()
    assert _export(capsys, str(model), "--output-dir", str(out), "--overwrite", "--max-examples", "2")[0] == 0
    assert not (out / "model.int8.onnx").exists() and (out / "model.onnx").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary or old folder left


def test_a_recorded_name_without_its_fingerprint_or_a_file_changed_since_is_the_users(model, tmp_path, capsys):
    out = tmp_path / "out"
    assert _export(capsys, str(model), "--output-dir", str(out), "--max-examples", "2")[0] == 0
    record = json.loads((out / "hf_transfer_export.json").read_text())
    (out / "my_notes.txt").write_text("my notes")
    record["written"].append("my_notes.txt")  # a hand-edited record claims a user's file
    (out / "hf_transfer_export.json").write_text(json.dumps(record))
    (out / "README.md").write_text("# my edited card")  # changed since the export wrote it
    before = snapshot(out)
    code, err = _export(capsys, str(model), "--output-dir", str(out), "--overwrite", "--max-examples", "2")
    assert code == 1 and "my_notes.txt" in err and "README.md" in err
    assert snapshot(out) == before

    legacy = tmp_path / "legacy"  # a record without the list of what it wrote owns nothing
    legacy.mkdir()
    (legacy / "README.md").write_text("# my project readme")
    (legacy / "hf_transfer_export.json").write_text("{}")
    code, err = _export(capsys, str(model), "--output-dir", str(legacy), "--overwrite", "--max-examples", "2")
    assert code == 1 and "README.md" in err and (legacy / "README.md").read_text() == "# my project readme"
