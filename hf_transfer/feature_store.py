"""The feature cache on disk: entry folders, listing and removal.

An entry is ``<key>/`` holding ``features.arrow`` and ``meta.json``. A build writes into
``<key>.tmp-<host>-<pid>/`` and renames it into place once complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

META = "meta.json"
DATA = "features.arrow"


def cache_dir() -> Path:
    root = os.environ.get("HF_TRANSFER_CACHE") or Path.home() / ".cache" / "hf_transfer"
    return Path(root) / "features"


def complete(entry: Path) -> bool:
    return (entry / META).is_file() and (entry / DATA).is_file()


def list_entries() -> list[dict[str, Any]]:
    root = cache_dir()
    out = []
    for meta_file in sorted(root.glob(f"*/{META}")):
        meta = json.loads(meta_file.read_text())
        meta["path"] = str(meta_file.parent)
        meta["bytes"] = sum(p.stat().st_size for p in meta_file.parent.rglob("*") if p.is_file())
        out.append(meta)
    return out


def remove_entries(keys: list[str] | None) -> list[str]:
    """Remove the named entries (all when ``keys`` is None); return the removed keys."""
    removed = []
    for entry in list_entries():
        if keys is None or entry["key"] in keys:
            shutil.rmtree(entry["path"])
            removed.append(entry["key"])
    if keys is None:  # also what killed runs left half-written
        for leftover in cache_dir().glob("*.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
    return removed
