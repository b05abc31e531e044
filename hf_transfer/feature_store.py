"""The feature cache on disk: entry folders, their integrity, listing and removal.

An entry is ``<key>/`` holding ``features.arrow`` and ``meta.json``. A build writes into
``<key>.tmp-<host>-<pid>/`` and renames it into place once complete. meta.json records the data
file's size and SHA-256 when it is written, so a truncated or altered file (a full disk, a copy cut
short, bit rot) is found before its rows reach training, and the entry is recomputed.
"""

from __future__ import annotations

import hashlib
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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_record(entry: Path) -> dict[str, Any]:
    """What meta.json records about the data file when an entry is written."""
    return {"data_bytes": (entry / DATA).stat().st_size, "data_sha256": file_sha256(entry / DATA)}


def check_entry(entry: Path, checksum: bool = True) -> tuple[Any | None, str | None]:
    """``(dataset, None)`` when the entry can be used; ``(None, what is wrong)`` when not.

    Always checked: meta.json, the data file's size, that it reads, its row count and feature width (a
    stat and a memory map: cheap). With ``checksum`` also the data file's SHA-256, one streamed read: about
    0.08 s per 100 MiB on the 2-core CI machine (benchmarks/README.md, "Feature-cache checksum"), against
    minutes of backbone pass for the rows in such a file, so it is checked on every hit. Entries written
    before sizes and checksums were recorded get every check their meta.json allows.
    """
    from datasets import Dataset

    if not (entry / META).is_file():
        return None, "meta.json is missing"
    if not (entry / DATA).is_file():
        return None, f"{DATA} is missing"
    try:
        meta = json.loads((entry / META).read_text())
    except (OSError, ValueError) as e:
        return None, f"meta.json is unreadable ({e})"
    size, expected = (entry / DATA).stat().st_size, meta.get("data_bytes")
    if expected is not None and size != expected:
        return None, f"data file has {size:,} bytes, expected {expected:,}"
    if checksum and meta.get("data_sha256") and file_sha256(entry / DATA) != meta["data_sha256"]:
        return None, f"data file's SHA-256 differs from the one recorded when it was written ({size:,} bytes, as expected)"
    try:
        ds = Dataset.from_file(str(entry / DATA))
        width = ds.features["features"].length
    except Exception as e:  # noqa: BLE001 (pyarrow raises OSError, ArrowInvalid …; whatever it is, the file is unusable)
        return None, f"data file is unreadable ({type(e).__name__}: {e})"
    if len(ds) != meta.get("rows"):
        return None, f"data file has {len(ds):,} rows, expected {meta.get('rows')}"
    if width != meta.get("feature_dim"):
        return None, f"data file has {width} features per row, expected {meta.get('feature_dim')}"
    return ds, None


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
