"""Where ``hf-transfer predict`` writes: JSONL (standard output by default), CSV/TSV or parquet.

Rows are written as they come (constant memory). A file output is written under a temporary name next to
the target and renamed only when every row is written, so an interrupted job never leaves a file that looks
complete; the target is never replaced unless the caller asked to overwrite it. A temporary file left by a job
that was killed outright (``kill -9``, a power cut: no chance to clean up) is removed by the next job writing
the same output, once its process is gone.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..runlock import process_runs

FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
logger = logging.getLogger(__name__)


def partial_name(path: Path, pid: int) -> Path:
    """The temporary file a job (process ``pid``) writes ``path`` under until every row is written."""
    return path.with_name(f".{path.name}.partial-{pid}")


def _lock(handle: Any) -> bool | None:
    """Try to take an exclusive lock on an open file, held for as long as it stays open: True when had, False
    when another process holds it, None where no locks can be had (Windows, some network folders)."""
    try:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except (ImportError, OSError):
        return None
    return True


def _hold(partial: Path, path: Path) -> Any:
    """Create (or take over) ``partial`` and hold it locked; it is emptied only once the lock is had, so a job
    of the same process id elsewhere (another container sharing the folder) that holds it keeps its rows.
    Without locks, the process id alone keeps jobs apart."""
    handle = os.fdopen(os.open(partial, os.O_RDWR | os.O_CREAT, 0o666), "r+b")
    if _lock(handle) is False:
        handle.close()
        raise OutputError(
            f"another job is writing {path} right now (it holds {partial.name} locked); wait for it to finish, "
            "or choose another output name"
        )
    handle.truncate(0)
    return handle


def remove_stale_partials(path: Path) -> list[Path]:
    """Remove the temporary files of ``path`` (exactly ``.NAME.partial-PID``) left by jobs that were killed
    outright and could not remove their own: only a plain file whose process does not run here *and* that no
    process holds locked (a running job, even in another container or on another host sharing the folder, holds
    the lock on its file for as long as it runs). Anything in doubt stays. POSIX only; never raises."""
    if os.name != "posix":
        return []
    pattern = re.compile(re.escape(f".{path.name}.partial-") + r"([1-9][0-9]{0,9})", re.ASCII)
    removed = []
    try:
        candidates = [f for f in path.parent.iterdir() if pattern.fullmatch(f.name)]
    except OSError:
        return []
    for found in candidates:
        pid = int(pattern.fullmatch(found.name).group(1))
        try:
            if pid == os.getpid() or process_runs(pid) or found.is_symlink() or not found.is_file():
                continue
            with open(found, "rb") as handle:
                if _lock(handle) is not True:
                    continue  # a live job holds it (or locks cannot be had here: in doubt, keep it)
                found.unlink()
        except (OSError, ValueError, OverflowError):
            continue
        removed.append(found)
        logger.info("removed %s, left by an earlier job on %s that was killed (process %s)", found, path.name, pid)
    return removed


def is_same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: the same resolved path, or (both existing) the same inode, so a symlink
    or a hard link to a file counts as that file."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, ValueError):
        return False


def _via(a: Path, b: str | Path) -> str:
    """How two paths that name one file are linked, for a message."""
    if Path(a).is_symlink() or Path(b).is_symlink():
        return " (through a symbolic link)"
    if Path(a).resolve() != Path(b).resolve():
        return " (a hard link to it)"
    return ""


def check_output(path: str | Path | None, overwrite: bool, inputs: tuple[str | Path, ...] = ()) -> Path | None:
    """Refuse an output before any work: unknown format, an existing file without ``overwrite``, a folder, or a
    file among ``inputs`` (the files the job reads), which is refused even with ``overwrite``."""
    if path is None or str(path) == "-":
        return None
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output '{path}' is a folder; give a file name such as {path / 'predictions.jsonl'}")
    if path.suffix.lower() not in FORMATS:
        raise OutputError(
            f"output '{path}': expected a file ending in {', '.join(FORMATS)} (the format follows the "
            f"suffix), found {path.suffix or 'no suffix'!r}; fix: rename it, or omit --output for JSONL "
            "on standard output"
        )
    for source in inputs:
        if is_same_file(path, source):
            raise OutputError(
                f"output '{path}' is the input file '{source}'{_via(path, source)}; writing it would replace the "
                "data being read, so it is refused even with --overwrite; fix: choose another output name"
            )
    if path.exists() and not overwrite:
        raise OutputError(f"output '{path}' already exists; pass --overwrite to replace it, or choose another name")
    if not path.parent.is_dir():
        raise OutputError(f"the folder of output '{path}' does not exist; create {path.parent} first")
    return path


def _keys_beyond(type_: Any, values: list[Any], prefix: str = "") -> list[str]:
    """Keys of dict values, at any depth of structs and lists, that the Arrow type has no field for (dotted
    paths, sorted); a key whose value is None loses nothing and is not counted."""
    import pyarrow as pa

    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        return _keys_beyond(type_.value_type, [x for v in values if isinstance(v, list) for x in v], prefix)
    if not pa.types.is_struct(type_):
        return []
    dicts = [v for v in values if isinstance(v, dict)]
    fields = {type_.field(i).name: type_.field(i).type for i in range(type_.num_fields)}
    found = {f"{prefix}{k}" for v in dicts for k, x in v.items() if k not in fields and x is not None}
    for name, field_type in fields.items():
        found.update(_keys_beyond(field_type, [v.get(name) for v in dicts], f"{prefix}{name}."))
    return sorted(found)


class Sink:
    """Writes prediction rows (dicts) to ``path`` or standard output; ``close(ok)`` publishes or discards."""

    def __init__(self, path: Path | None, types: dict[str, Any] | None = None):
        self.path = path
        self.types = types or {}  # column → Arrow type, for columns empty in the first rows (parquet)
        self.format = "jsonl" if path is None else FORMATS[path.suffix.lower()]
        self.partial = None if path is None else partial_name(path, os.getpid())
        self._held: Any = None  # the partial file, open and locked while the job runs (see remove_stale_partials)
        if path is not None:
            remove_stale_partials(path)
            self._held = _hold(self.partial, path)
        self._closed = False
        self._file: Any = None
        self._writer: Any = None
        self._rows = 0  # rows written so far

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.format == "parquet":
            self._write_parquet(rows)
            return
        if self._file is None:
            self._file = sys.stdout if self.path is None else open(self.partial, "w", newline="", encoding="utf-8")
        if self.format == "jsonl":
            self._file.write("".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows))
            return
        flat = [
            {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v for k, v in row.items()}
            for row in rows
        ]
        if self._writer is None:
            self._writer = csv.DictWriter(
                self._file, fieldnames=list(flat[0]), delimiter="\t" if self.format == "tsv" else ","
            )
            self._writer.writeheader()
        self._writer.writerows(flat)

    def _write_parquet(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            schema = self._first_schema(rows)
            # Columns that are empty in the first rows (no error yet) must still take text later.
            # Columns the task types (nested lists, whose first values may be empty) take its types.
            schema = pa.schema(
                [
                    pa.field(f.name, self.types[f.name])
                    if f.name in self.types
                    else pa.field(f.name, pa.string())
                    if pa.types.is_null(f.type)
                    else f
                    for f in schema
                ]
            )
            self._writer = pq.ParquetWriter(self.partial, schema)
        self._writer.write_table(self._conform(rows, self._writer.schema))
        self._rows += len(rows)

    def _conform(self, rows: list[dict[str, Any]], schema: Any) -> Any:
        """The rows as a table of the file's schema (fixed by the first rows: a parquet file holds one type per
        column). A value that does not convert is one clear error naming its column, not a traceback; nor is a
        float with a fraction written into an int column, which pyarrow would silently truncate (2.5 as 2)."""
        import pyarrow as pa

        arrays = []
        for f in schema:
            values = [row.get(f.name) for row in rows]
            try:
                arrays.append(pa.array(values, type=f.type))
            except (pa.ArrowException, OverflowError, TypeError, ValueError):
                raise self._changed(f.name, f.type, values) from None
            if pa.types.is_integer(f.type) and any(isinstance(v, float) and not v.is_integer() for v in values):
                raise self._changed(f.name, f.type, values)
            extra = _keys_beyond(f.type, values)
            if extra:  # pyarrow would drop them silently
                raise OutputError(
                    f"column {f.name!r} holds the key(s) {', '.join(map(repr, extra))} after the first {self._rows} "
                    f"rows, which its parquet type ({f.type}) has no field for, and converting would drop them; fix: "
                    f"{self._fix(f.name)}"
                )
        return pa.Table.from_arrays(arrays, schema=schema)

    def _first_schema(self, rows: list[dict[str, Any]]) -> Any:
        import pyarrow as pa

        try:
            return pa.Table.from_pylist(rows).schema
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            for name in rows[0]:
                values = [row.get(name) for row in rows]
                try:
                    pa.array(values)
                except (pa.ArrowException, OverflowError, TypeError, ValueError):
                    kinds = sorted({type(v).__name__ for v in values if v is not None})
                    raise OutputError(
                        f"column {name!r} cannot be written to parquet: its first rows hold {', '.join(kinds)} "
                        "values together (or integers beyond 64 bits), and a parquet column has one type; fix: "
                        "write .jsonl or .csv, or leave that column out of --keep-columns"
                    ) from None
            raise

    def _changed(self, name: str, type_: Any, values: list[Any]) -> OutputError:
        kinds = sorted({type(v).__name__ for v in values if v is not None})
        return OutputError(
            f"column {name!r} changes type after the first {self._rows} rows ({type_} there, "
            f"{', '.join(kinds)} values now): a parquet file holds one type per column, and converting would "
            f"change values; fix: {self._fix(name)}"
        )

    def _fix(self, name: str) -> str:
        if name in self.types:  # a prediction column: the model's outputs do not match its config
            return "write .jsonl or .csv (check the model's config: its id2label should name every output)"
        return "write .jsonl or .csv, or leave that column out of --keep-columns"

    def close(self, ok: bool) -> None:
        """Publish the output (``ok``) or discard it. Whatever fails on the way, the temporary file is removed
        unless it became the output, and its lock is released."""
        if self._closed:
            return
        self._closed = True
        discard = True  # the temporary file, unless it became the output (or is no longer this job's)
        try:
            if self.format == "parquet" and self._writer is not None:
                self._writer.close()
            elif self._file is not None and self._file is not sys.stdout:
                self._file.close()
            elif self._file is sys.stdout:
                sys.stdout.flush()
            if self.partial is None or not ok:
                return
            if not self.partial.exists():
                discard = False  # (whatever has that name now is not this job's)
                raise OutputError(
                    f"the temporary output {self.partial} was removed while the job ran (by another process), so "
                    f"nothing was written to {self.path}; run the job again"
                )
            if self.format == "parquet" and self._writer is None:  # no rows at all: an empty table, not 0 bytes
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.table({"id": pa.array([], pa.string())}), self.partial)
            if os.name != "posix":  # (Windows renames no open file; elsewhere the lock holds until the rename)
                self._held.close()
            os.replace(self.partial, self.path)
            discard = False
        finally:
            if self._held is not None:
                self._held.close()
            if self.partial is not None and discard:
                try:
                    self.partial.unlink(missing_ok=True)
                except OSError:
                    pass  # (a later job removes it: remove_stale_partials)
