"""What ``hf-transfer predict`` reads: tables, images, a folder of images, a Hub split, or lines on stdin.

Every source yields :class:`Item` rows in input order, one at a time, so inputs larger than memory stream
through. A row that cannot be read (an empty text, an image that does not decode) is an item with an
``error`` instead of a payload: the caller decides whether that stops the job.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
CONLL_SUFFIX = ".conll"  # read for models that take word lists: one 'word tag' line per word
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


@dataclass
class Item:
    id: str
    payload: dict[str, Any] | None  # role → raw input (a text, or an image: a PIL image, path or bytes)
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # the input's other columns (--keep-columns)
    unreadable: bool = False  # the row itself could not be read (e.g. a line that is not JSON): no columns at all


class _NotJsonLines(DataError):
    """No line among a .jsonl file's first is a JSON object: read it as JSON (datasets) instead."""


@dataclass
class _BadLine:
    """A line of a JSON Lines file that is not a row: why (with its line number)."""

    message: str


@dataclass
class Source:
    describe: str
    rows: Any  # a callable giving a fresh iterator of Items
    total: int | None = None
    features: Any = None  # a table's ``datasets`` features (column → feature) where its reader knows them

    def __iter__(self) -> Iterator[Item]:
        return self.rows()


def open_source(
    spec: str, columns: dict[str, list[str]], modality: str, keep: list[str] | None, words: bool = False
) -> Source:
    """``spec``: '-' (stdin lines), 'hub:<dataset>[:<config>]:<split>', an image file, a folder of images,
    a CSV/TSV/JSON/JSONL/parquet file, or (``words``) a CoNLL-style file. ``columns``: input role → candidate
    column names, first found wins. ``words``: the model takes word lists (a list column, or a text split at
    whitespace); a CoNLL file's rows have ``tokens`` and ``tags`` columns."""
    if spec == "-":
        if modality != "text":
            raise DataError(
                "standard input gives lines of text, but this model takes images; give an image, "
                "a folder of images or a table with an image column"
            )
        return Source("standard input", lambda: _stdin_rows(next(iter(columns)), words))
    if spec.startswith("hub:"):
        return _hub_source(spec, columns, modality, keep, words)
    path = Path(spec)
    if path.is_dir():
        if modality != "image":
            raise DataError(
                f"'{spec}' is a folder, which predict reads as images, but this model takes text; give "
                f"a {', '.join(sorted(TABLE_SUFFIXES))} file or '-' for lines on standard input"
            )
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"no images under '{spec}' (looked for {', '.join(IMAGE_SUFFIXES)} files, recursively)")
        role = next(iter(columns))
        return Source(
            f"{len(files)} images under {spec}",
            lambda: (_image_item(str(p.relative_to(path)), role, p) for p in files),
            len(files),
        )
    if not path.is_file():
        raise DataError(
            f"input '{spec}' does not exist; expected a table file ({', '.join(sorted(TABLE_SUFFIXES))}), "
            "an image, a folder of images, 'hub:<dataset>[:<config>]:<split>' or '-' for standard input"
        )
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if modality != "image":
            raise DataError(f"'{spec}' is an image, but this model takes text")
        role = next(iter(columns))
        return Source(spec, lambda: iter([_image_item(path.name, role, path)]), 1)
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if words and path.suffix.lower() == CONLL_SUFFIX:
        from ..data._conll import read_conll

        sentences = read_conll(path)
        return _table_source(spec, lambda: iter(sentences), columns, modality, keep, None, words)
    if kind is None:
        raise DataError(
            f"cannot read '{spec}': expected a table ({', '.join(sorted(TABLE_SUFFIXES))}), an image "
            f"({', '.join(IMAGE_SUFFIXES)}), a folder of images, a Hub split or '-'; found suffix {path.suffix!r}"
        )
    if path.suffix.lower() == ".jsonl":
        try:
            return _table_source(spec, lambda: _json_lines(path), columns, modality, keep, path.parent, words, 1000)
        except _NotJsonLines:
            pass  # e.g. a JSON array or pretty-printed objects under a .jsonl name: datasets' JSON reader takes them
    if kind == "csv":
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        header = csv_header(path, delimiter)
        return _table_source(
            spec, lambda: _csv_rows(path, delimiter, header), columns, modality, keep, path.parent, words, header=header
        )
    import datasets

    def load():
        return datasets.load_dataset(kind, data_files=str(path), split="train", streaming=True)

    return _table_source(spec, load, columns, modality, keep, path.parent, words)


def _hub_source(
    spec: str, columns: dict[str, list[str]], modality: str, keep: list[str] | None, words: bool = False
) -> Source:
    parts = spec[len("hub:") :].split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise DataError(
            f"'{spec}': a Hub input is hub:<dataset>:<split> or hub:<dataset>:<config>:<split>, e.g. hub:imdb:test"
        )
    name, config, split = (parts[0], None, parts[1]) if len(parts) == 2 else parts
    import datasets

    def load():
        try:
            return datasets.load_dataset(name, config, split=split, streaming=True)
        except Exception as e:  # offline, unknown dataset or split: one line, not a traceback
            raise DataError(
                f"could not open Hub dataset {name!r} (config {config!r}, split {split!r}): "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
            ) from None

    return _table_source(spec, load, columns, modality, keep, None, words)


def open_rows(
    describe: str, rows: Any, columns: dict[str, list[str]], modality: str, keep: list[str], words: bool = False
) -> Source:
    """A source over rows already in memory (``rows``: a callable giving a fresh iterator of dicts), read as a
    table's rows are (e.g. a recipe's split for evaluate)."""
    return _table_source(describe, rows, columns, modality, keep, None, words)


def _json_lines(path: Path) -> Iterator[dict[str, Any] | _BadLine]:
    """The rows of a JSON Lines file, one per line that is not blank, read with the standard library.

    Why not datasets' JSON loader, which reads the other tables: (1) importing datasets and building its
    streaming reader cost ~0.8 s per call, a fifth of predicting 2,100 short texts on a CPU; (2) it parses
    blocks of lines with pyarrow, so one bad line (a truncated object, a byte that is not UTF-8, a text that is a
    number where the lines before had strings) fails the whole file, or ends in a traceback in the middle of
    a job, where predict should write that row with an error and go on. What it does that is kept here: blank
    lines are not rows, a UTF-8 byte-order mark is ignored, a column a row lacks is None (the caller's
    ``row.get``). Values keep their JSON types (datasets turns a column of ints with one float into floats)."""
    import json

    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.rstrip(b"\r\n").decode("utf-8"))  # (a cut-off line: its own error)
            except UnicodeDecodeError as e:
                yield _BadLine(f"line {number} is not UTF-8 text ({e.reason} at byte {e.start})")
                continue
            except json.JSONDecodeError as e:
                yield _BadLine(f"line {number} is not valid JSON ({e.msg.removesuffix(' at')} at column {e.colno})")
                continue
            except (ValueError, RecursionError) as e:  # an integer of thousands of digits, nesting too deep
                yield _BadLine(f"line {number} is not JSON that can be read ({type(e).__name__}: {str(e)[:80]})")
                continue
            if not isinstance(value, dict):
                yield _BadLine(f"line {number} is a JSON {type(value).__name__}, not an object of column values")
                continue
            yield value


def csv_header(path: Path, delimiter: str) -> list[str]:
    """The column names of a CSV/TSV file; a header that names a column twice, or that has the other delimiter
    and not this one (a tab-separated file named .csv), is a DataError."""
    import csv

    name = "tab" if delimiter == "\t" else "comma"
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f, delimiter=delimiter), None)
    except UnicodeDecodeError as e:
        raise DataError(
            f"'{path}' is not UTF-8 text ({e.reason} at byte {e.start} of its header); re-encode it as UTF-8"
        ) from None
    except csv.Error as e:
        raise DataError(f"could not read the header of '{path}': {e}") from None
    if not header:
        raise DataError(f"'{path}' has no header line (the column names); its first line is empty")
    other = "," if delimiter == "\t" else "\t"
    if len(header) == 1 and other in header[0]:
        raise DataError(
            f"'{path}' is read as {name}-separated (its suffix is {path.suffix}), but its header has "
            f"{'commas' if other == ',' else 'tabs'} and no {name}: {header[0][:80]!r}; fix: rename it to "
            f"{'.csv' if other == ',' else '.tsv'}"
        )
    seen: set[str] = set()
    twice = [c for c in header if c and (c in seen or seen.add(c))]
    if twice:
        raise DataError(
            f"'{path}' names the column{'s' if len(set(twice)) > 1 else ''} {', '.join(map(repr, dict.fromkeys(twice)))} "
            f"more than once in its header ({delimiter.join(header)[:120]!r}); which one holds the data is "
            "ambiguous; fix: rename the columns so that each name is used once"
        )
    return header


def _csv_rows(path: Path, delimiter: str, header: list[str]) -> Iterator[dict[str, Any] | _BadLine]:
    """The rows of a CSV/TSV file, every cell the text it is, as training reads a CSV (no number parsing: ``007``
    stays ``007``; ``NA``/``null``/``None`` stay text; an empty cell is the empty text: an empty text or image
    cell is a row's error, an empty cell of delimited labels the empty set); a cell a short row lacks is missing
    (None). Blank lines are not rows. A row with more cells than the header is a bad row (a field with the
    delimiter in it that is not quoted), never shifted into other columns.

    Why not datasets' CSV loader (pandas): it guesses types per block (``5`` → 5.0, ``NA`` → missing), reads a
    first row with one field too many as an index column (every column shifts), and stops the whole file at a
    bad row further on."""
    import csv

    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # long texts in one cell
    width = len(header)
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        next(reader, None)
        start = reader.line_num + 1
        for cells in reader:
            first, start = start, reader.line_num + 1
            if not cells:
                continue
            if len(cells) > width:
                extra = delimiter.join(cells[width:])
                yield _BadLine(
                    f"line {first} has {len(cells)} fields and the header {width} (one too many: "
                    f"{extra[:40]!r}{'...' if len(extra) > 40 else ''} past the last column); a field holding the "
                    "delimiter must be quoted"
                    if len(cells) == width + 1
                    else f"line {first} has {len(cells)} fields and the header {width}; a field holding the "
                    "delimiter must be quoted"
                )
                continue
            row: dict[str, Any] = dict(zip(header, cells))
            for column in header[len(cells) :]:
                row.setdefault(column, None)
            yield row


def _table_source(
    spec: str,
    load: Any,
    columns: dict[str, list[str]],
    modality: str,
    keep: list[str] | None,
    base: Path | None,
    words: bool = False,
    scan: int = 1,
    header: list[str] | None = None,
) -> Source:
    """``scan``: the rows whose columns together are the table's (1 where the reader has a schema, as datasets'
    readers do; more for JSON Lines, whose rows may each name other columns). ``header``: the columns, where the
    file names them (CSV/TSV): a bad row counts as a row then."""
    found: dict[str, None] = dict.fromkeys(header or [])
    rows_seen = 0
    bad: _BadLine | None = None
    try:
        with quiet_readers():
            table = load()
            features = getattr(table, "features", None)
            for row in table:
                if isinstance(row, _BadLine):
                    bad = bad or row
                    if header is None:
                        continue
                else:
                    found.update(dict.fromkeys(row))
                rows_seen += 1
                if rows_seen >= scan:
                    break
    except DataError:
        raise
    except Exception as e:  # a malformed file: the reader's first line says what is wrong
        raise DataError(
            f"could not read '{spec}': {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
        ) from None
    if not rows_seen:
        if bad is not None:
            raise _NotJsonLines(
                f"could not read '{spec}': {bad.message}, and no line is a JSON object of column values"
            )
        raise DataError(f"'{spec}' has no rows")
    # role → the first of its candidate columns this table has (a flag names one; else the recipe's or defaults)
    wanted = {role: next((c for c in candidates if c in found), candidates[0]) for role, candidates in columns.items()}
    missing = [
        f"{' or '.join(map(repr, columns[role]))} ({role})" for role, column in wanted.items() if column not in found
    ]
    missing += [f"{column!r} (--keep-columns)" for column in keep or [] if column not in found]
    if missing:
        flag = "--image-column" if modality == "image" else "--text-column"
        raise DataError(
            f"'{spec}' has no column {', '.join(missing)}; its columns are: {', '.join(found)}; "
            f"fix: choose the input column with {flag}"
        )

    def rows() -> Iterator[Item]:
        for i, row in enumerate(_read_on(load(), spec)):
            if isinstance(row, _BadLine):
                yield Item(str(i), None, row.message, dict.fromkeys(keep or []), unreadable=True)
                continue
            extra = {k: row.get(k) for k in keep or []}
            if modality == "image":
                ((role, column),) = wanted.items()
                item = _image_item(str(i), role, row.get(column), base)
                item.extra = extra
                yield item
            else:
                yield _text_item(str(i), {role: row.get(column) for role, column in wanted.items()}, extra, words)

    return Source(spec, rows, features=features)


def _read_on(table: Any, spec: str) -> Iterator[Any]:
    """The table's rows; a reader's failure after the first rows (e.g. a block further on that does not
    parse) is one clear error that names the row, not a traceback."""
    rows = iter(table)
    done = 0
    with quiet_readers():
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except Exception as e:
                text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise DataError(
                    f"could not read '{spec}' after its first {done} rows: {text}; fix that part of the file "
                    "(for a row-by-row error field instead of a stop, give the rows as JSON Lines, .jsonl)"
                ) from None
            done += 1
            yield row


_QUIET = logging.getLogger("datasets.packaged_modules")
_quiet_depth = [0, logging.NOTSET]  # readers open now, and the level to restore when none is


@contextmanager
def quiet_readers() -> Iterator[None]:
    """Silence ``datasets``' file readers while a table is read: they log "Failed to read file ..." (with the
    exception) before they raise, and the caller turns the exception into the tool's one message. Counted, so
    readers that are open at the same time (a generator not yet finished) restore the level once, at the end."""
    if _quiet_depth[0] == 0:
        _quiet_depth[1] = _QUIET.level
        _QUIET.setLevel(logging.CRITICAL)
    _quiet_depth[0] += 1
    try:
        yield
    finally:
        _quiet_depth[0] -= 1
        if _quiet_depth[0] == 0:
            _QUIET.setLevel(_quiet_depth[1])


def _text_item(id_: str, values: dict[str, Any], extra: dict[str, Any] | None = None, words: bool = False) -> Item:
    if words:
        return _words_item(id_, values, extra or {})
    for role, value in values.items():
        if value is None:
            return Item(id_, None, f"no {role}", extra or {})
        if isinstance(value, (list, tuple, dict)):  # its Python repr is no text to predict on
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            return Item(id_, None, f"{role} is a {type(value).__name__} ({shown}), not text", extra or {})
        if not isinstance(value, str):  # a number (or bool): its digits, as a CSV table gives them
            value = values[role] = str(value)
        if role == "text" and not value.strip():
            return Item(id_, None, "empty text", extra or {})
    return Item(id_, values, None, extra or {})


def _words_item(id_: str, values: dict[str, Any], extra: dict[str, Any]) -> Item:
    """A row of a model that takes word lists: a list of words as it is, a text split at whitespace."""
    for role, value in values.items():
        if isinstance(value, str):
            value = value.split()
        elif isinstance(value, (list, tuple)):
            if any(w is None for w in value):
                return Item(id_, None, f"a missing word in {role}", extra)
            value = [str(w) for w in value]
        elif value is not None:
            return Item(id_, None, f"{role} is neither a list of words nor a text ({type(value).__name__})", extra)
        if not value:
            return Item(id_, None, "no words", extra)
        values[role] = value
    return Item(id_, values, None, extra)


def _stdin_rows(role: str, words: bool = False) -> Iterator[Item]:
    for i, raw in enumerate(sys.stdin.buffer):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as e:
            yield Item(str(i), None, f"not UTF-8 text ({e.reason} at byte {e.start})")
            continue
        yield _text_item(str(i), {role: line}, None, words)


def _image_item(id_: str, role: str, value: Any, base: Path | None = None) -> Item:
    """An image as PIL (decoded lazily later): a path, a datasets Image dict, bytes or a PIL image."""
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if value is None or (isinstance(value, str) and not value.strip()):  # (an empty CSV cell: "")
        return Item(id_, None, "no image")
    if isinstance(value, str) and base is not None and not Path(value).is_absolute():
        value = base / value
    return Item(id_, {role: value})


def decode_image(value: Any) -> Any:
    """A PIL image, fully decoded, from a path, bytes or a PIL image (raises on a damaged file)."""
    import io

    from PIL import Image

    if isinstance(value, (bytes, bytearray)):
        value = io.BytesIO(value)
    image = value if isinstance(value, Image.Image) else Image.open(value)
    image.load()
    return image
