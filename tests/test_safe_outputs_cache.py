"""`hf-transfer cache rm`: only what the feature cache wrote is removed; other folders are listed and left alone."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hf_transfer import cli, feature_store


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    root = feature_store.cache_dir()
    root.mkdir(parents=True)
    return root


def _entry(folder: Path) -> Path:
    folder.mkdir()
    (folder / feature_store.DATA).write_bytes(b"\0" * 64)
    (folder / feature_store.META).write_text(json.dumps({"key": folder.name, "rows": 1, "feature_dim": 4}))
    return folder


def test_rm_all_removes_only_what_the_cache_wrote(cache, capsys):
    entry = _entry(cache / ("a" * 24))
    no_meta = cache / ("b" * 24)  # an entry whose meta.json was lost: still the cache's own file
    no_meta.mkdir()
    (no_meta / feature_store.DATA).write_bytes(b"\0" * 8)
    killed = cache / f"{'c' * 24}.tmp-{socket.gethostname()}-{_dead_pid()}"
    killed.mkdir()
    (killed / feature_store.DATA).write_bytes(b"\0" * 8)

    users = cache / "my_features"  # not a key
    users.mkdir()
    (users / "meta.json").write_text("{}")
    (users / "notes.txt").write_text("mine")
    keylike = cache / ("d" * 24)  # a key's name, but files the cache never writes
    keylike.mkdir()
    (keylike / "results.csv").write_text("a,b\n")
    backup = cache / f"{'e' * 24}.tmp-backup"  # not how a build is named
    backup.mkdir()
    (backup / feature_store.DATA).write_bytes(b"x")
    loose = cache / "README.txt"
    loose.write_text("a file of mine")
    kept = {p: snapshot(p) if p.is_dir() else p.read_bytes() for p in (users, keylike, backup, loose)}

    assert cli.main(["cache", "ls"]) == 0
    listing = capsys.readouterr().out
    assert "(2 entries, 1 left by unfinished builds)" in listing and "4 not cache entries, left alone" in listing
    assert "my_features  (its name is not a cache key" in listing
    assert f"{keylike.name}  (holds files a cache entry never has (results.csv))" in listing

    assert cli.main(["cache", "rm", "--all"]) == 0
    out = capsys.readouterr().out
    assert "removed 2 cache entries and 1 left by unfinished builds" in out
    assert "4 not cache entries, left alone" in out and "my_features" in out
    assert not entry.exists() and not no_meta.exists() and not killed.exists()
    for path, before in kept.items():
        assert (snapshot(path) if path.is_dir() else path.read_bytes()) == before
    assert sorted(p.name for p in cache.iterdir()) == sorted(p.name for p in kept)


def test_rm_of_a_folder_that_is_not_an_entry_is_refused(cache, capsys):
    users = cache / "my_features"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    entry = _entry(cache / ("a" * 24))
    assert cli.main(["cache", "rm", "my_features", entry.name]) == 1
    err = capsys.readouterr().err
    assert "not a cache entry, left alone: my_features" in err and "Traceback" not in err
    assert (users / "notes.txt").read_text() == "mine" and entry.exists()  # nothing removed
    assert feature_store.remove_entries(["my_features"]) == [] and users.exists()


def test_ls_lists_an_entry_whose_meta_holds_odd_types(cache, capsys):
    entry = _entry(cache / ("f" * 24))
    (entry / feature_store.META).write_text(json.dumps({"key": entry.name, "feature_dim": None, "parts": "x"}))
    capsys.readouterr()
    assert cli.main(["cache", "ls"]) == 0
    captured = capsys.readouterr()
    assert "f" * 24 in captured.out + captured.err and "Traceback" not in captured.err
