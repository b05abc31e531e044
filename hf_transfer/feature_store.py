"""The feature cache on disk: entry folders, their integrity, listing and removal.

An entry is ``<key>/`` holding ``features.arrow`` and ``meta.json``. A build writes into
``<key>.tmp-<host>-<pid>/`` and renames it into place once complete. meta.json records the data
file's size and SHA-256 when it is written, so a truncated or altered file (a full disk, a copy cut
short, bit rot) is found before its rows reach training, and the entry is recomputed. Only folders of
those names holding only those files are the cache's: anything else there is listed and never removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any

from .runlock import process_runs

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


def feature_width(features: Any) -> int:
    """The width of an entry's feature vectors: one vector per row (pooled), or a list of them per row (one per
    labelled token, for a head on every token)."""
    column = features["features"]
    return column.length if column.length != -1 else column.feature.length


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
        return (
            None,
            f"data file's SHA-256 differs from the one recorded when it was written ({size:,} bytes, as expected)",
        )
    try:
        ds = Dataset.from_file(str(entry / DATA))
        width = feature_width(ds.features)
    except Exception as e:  # noqa: BLE001 (pyarrow raises OSError, ArrowInvalid …; whatever it is, the file is unusable)
        return None, f"data file is unreadable ({type(e).__name__}: {e})"
    if len(ds) != meta.get("rows"):
        return None, f"data file has {len(ds):,} rows, expected {meta.get('rows')}"
    if width != meta.get("feature_dim"):
        return None, f"data file has {width} features per row, expected {meta.get('feature_dim')}"
    return ds, None


def list_entries(verify: bool = False) -> list[dict[str, Any]]:
    """Every entry in the cache and what unfinished builds left (folders of other names: :func:`not_entries`).

    An entry is its meta.json plus ``key`` (the folder name, what ``cache rm`` takes), ``path``, ``bytes``,
    ``kind: "entry"`` and ``damage`` (None, or what is wrong). Without ``verify`` only what a stat shows
    (meta.json or data file missing, wrong size); with it every check of a hit (:func:`check_entry`: reads
    every data file). A leftover ``<key>.tmp-<host>-<pid>`` has ``kind: "leftover"``, ``host``, ``pid``,
    ``build`` and ``status`` (the same in words). ``build`` is "running" (this host, the process is alive:
    :func:`remove_entries` keeps it), "killed" (this host, no such process) or "unknown" (another host:
    another machine sharing this disk, or this one under an earlier hostname, as a container gets a new
    one each start; removed, since otherwise nothing would ever remove a killed container's leftovers).
    """
    out = []
    for folder in _folders():
        if _foreign(folder) is not None:
            continue
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        leftover = _LEFTOVER.fullmatch(folder.name)
        if leftover:
            host, pid = leftover["host"], int(leftover["pid"])
            build = _build_state(host, pid)
            out.append(
                {
                    "key": folder.name,
                    "path": str(folder),
                    "bytes": size,
                    "kind": "leftover",
                    "host": host,
                    "pid": pid,
                    "build": build,
                    "status": _BUILD_WORDS[build].format(pid=pid, host=host),
                }
            )
            continue
        try:
            meta = json.loads((folder / META).read_text())
        except (OSError, ValueError):
            meta = {}
        meta = meta if isinstance(meta, dict) else {}
        damage = check_entry(folder)[1] if verify else _visible_damage(folder, meta)
        out.append({**meta, "key": folder.name, "path": str(folder), "bytes": size, "kind": "entry", "damage": damage})
    return out


def not_entries() -> list[dict[str, str]]:
    """What lies in the cache folder that hf_transfer did not write there (``name``, ``path``, ``why``): never
    listed as an entry, never removed (a folder put there by hand, or by another tool sharing the path)."""
    root = cache_dir()
    items = sorted(root.iterdir()) if root.is_dir() else []
    out = []
    for p in items:
        why = _foreign(p)
        if why is not None:
            out.append({"name": p.name, "path": str(p), "why": why})
    return out


def _folders() -> list[Path]:
    root = cache_dir()
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()) if root.is_dir() else []


_KEY = re.compile(r"[0-9a-f]{24}")  # features.CacheKey.digest
_LEFTOVER = re.compile(r"(?P<key>[0-9a-f]{24})\.tmp-(?P<host>.+)-(?P<pid>\d+)")  # features.cached_split's build
_OWN_FILES = {META, DATA}  # all an entry, or a build of one, ever holds


def _foreign(path: Path) -> str | None:
    """Why ``path`` is not a cache entry or a leftover build of one; None when it is one."""
    if path.is_symlink() or not path.is_dir():
        return "not a folder"
    if not (_KEY.fullmatch(path.name) or _LEFTOVER.fullmatch(path.name)):
        return "its name is not a cache key (24 hexadecimal digits)"
    other = sorted(p.name for p in path.iterdir() if p.name not in _OWN_FILES or not p.is_file() or p.is_symlink())
    if other:
        shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5 else "")
        return f"holds files a cache entry never has ({shown})"
    return None


_BUILD_WORDS = {
    "running": "build in progress, pid {pid} on host {host}",
    "killed": "killed build, pid {pid} on host {host}",
    "unknown": "unfinished build, pid {pid} on host {host}: another host, cannot tell whether it still runs",
}


def _build_state(host: str, pid: int) -> str:
    if host != socket.gethostname() or pid <= 0:
        return "unknown"
    return "running" if process_runs(pid) else "killed"


def _visible_damage(entry: Path, meta: dict) -> str | None:
    if not meta:
        return "meta.json is missing or unreadable"
    if not (entry / DATA).is_file():
        return f"{DATA} is missing"
    size, expected = (entry / DATA).stat().st_size, meta.get("data_bytes")
    return f"data file has {size:,} bytes, expected {expected:,}" if expected is not None and size != expected else None


def remove_entries(keys: list[str] | None) -> list[str]:
    """Remove the named entries and leftovers of unfinished builds (every one when ``keys`` is None); return
    the names removed. Only what :func:`list_entries` lists is touched: a folder the cache did not write
    (:func:`not_entries`) is left alone. A leftover of a build still running on this host is kept: removing it
    would fail that build (:func:`list_entries` says which)."""
    removed = []
    for item in list_entries():
        if (keys is not None and item["key"] not in keys) or item.get("build") == "running":
            continue
        # A leftover of another host's build may be renamed into place meanwhile: not an error.
        shutil.rmtree(item["path"], ignore_errors=item["kind"] == "leftover")
        removed.append(item["key"])
    return removed
