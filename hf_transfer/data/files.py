"""Data source ``files``: local CSV, TSV, JSON, JSON Lines or Parquet files.

CSV/TSV cells are read as the strings they are: a label ``007`` stays ``007`` (not 7) and ``NA`` or an
empty cell stay ``NA`` and "" (pandas would make them missing values), because labels are class names.
When ``datasets`` cannot read a file, :func:`explain` looks at the file itself to say why (encoding, a
broken JSON line, a missing header row) instead of passing on a builder's generic error.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import DataError
from ..registry import DATA_SOURCES
from ..schema import field
from . import DataSource, LoadContext

# file suffix → `datasets` packaged builder
FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet", ".conll": "conll"}
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
TEXT_FORMATS = ("csv", "json")


@DATA_SOURCES.register("files")
@dataclass
class FilesSource(DataSource):
    train_file: str = field(help="training data: a .csv, .tsv, .json, .jsonl or .parquet file", path=True)
    validation_file: str | None = field(None, help="validation data (default: carved from train)", path=True)
    test_file: str | None = field(None, help="test data evaluated once at the end", path=True)
    format: Literal["auto", "conll"] = field(
        "auto",
        help="auto: from the file suffix; conll: 'word tag' lines, a blank line between sentences (token "
        "classification; .conll files are read so anyway)",
    )

    def files(self) -> dict[str, str]:
        named = {"train": self.train_file, "validation": self.validation_file, "test": self.test_file}
        return {split: path for split, path in named.items() if path}

    def validate(self, prefix: str) -> list[str]:
        problems = []
        suffixes = set()
        for split, path in self.files().items():
            suffix = Path(path).suffix.lower()
            suffixes.add("conll" if self.format == "conll" else FORMATS.get(suffix))
            if suffix not in FORMATS and self.format != "conll":
                problems.append(f"'{prefix}.{split}_file' must end in {', '.join(FORMATS)}, found '{Path(path).name}'")
        if len(suffixes) > 1:
            problems.append(f"'{prefix}' files must all have one format, found {', '.join(sorted(map(str, suffixes)))}")
        return problems

    def file_problems(self) -> list[str]:
        """Files that are missing, folders or empty (paths resolved): reported with the recipe's other problems."""
        problems = []
        for split, path in self.files().items():
            if "://" not in str(path):
                try:
                    check_path(split, Path(path))
                except DataError as e:
                    problems.append(str(e))
        return problems

    def load(self, ctx: LoadContext):
        import datasets

        files = self.files()
        for split, path in files.items():
            check_path(split, Path(path))
        suffix = Path(self.train_file).suffix.lower()
        fmt = "conll" if self.format == "conll" else FORMATS[suffix]
        if fmt == "conll":
            return _load_conll(files, ctx.streaming)
        kwargs: dict = {}
        if fmt == "csv":
            delimiter = "\t" if suffix == ".tsv" else ","
            columns = [c for split, path in files.items() for c in csv_header(split, Path(path), delimiter)]
            # Every cell as written: no number parsing, no "NA"/"null"/"" → missing.
            kwargs = {"delimiter": delimiter, "keep_default_na": False, "converters": {c: str for c in columns}}
        elif fmt == "json":  # pyarrow's JSON reader keeps invalid UTF-8 bytes; they would fail far later
            for split, path in files.items():
                if problem := _utf8_problem(split, Path(path)):
                    raise problem
        # The builders log their own error with a traceback before raising; explain() says it better.
        builders = logging.getLogger("datasets.packaged_modules")
        level = builders.level
        builders.setLevel(logging.CRITICAL)
        try:
            return datasets.load_dataset(fmt, data_files=files, streaming=ctx.streaming, **kwargs)
        except Exception as e:  # the builders raise many types for unreadable files
            raise explain(files, fmt, e) from None
        finally:
            builders.setLevel(level)


def _load_conll(files: dict[str, str], streaming: bool):
    """CoNLL-style files (``hf_transfer.data._conll``) as ``tokens`` + ``tags`` list columns."""
    import datasets

    from ._conll import read_conll

    if streaming:
        raise DataError("CoNLL files are read whole; set data.streaming=false (they are small enough)")
    return datasets.DatasetDict({split: datasets.Dataset.from_list(read_conll(path)) for split, path in files.items()})


def check_path(split: str, path: Path) -> None:
    key = f"data.{split}_file"
    if path.is_dir():
        raise DataError(f"{key} '{path}' is a directory, expected a data file; give the path of the file inside it")
    if not path.is_file():
        raise DataError(
            f"{key} '{path}' does not exist; check the path (relative paths in a recipe are relative to the recipe file)"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{key} '{path}' is empty (0 bytes); it needs a header row and data rows")


def csv_header(split: str, path: Path, delimiter: str) -> list[str]:
    """The column names of a CSV/TSV file, after checking that its first line uses ``delimiter``."""
    with path.open("rb") as f:
        first = f.readline()
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise not_utf8(split, path, first, e) from None
    counts = {d: line.count(d) for d in DELIMITERS}
    if counts[delimiter] == 0:
        found = max(counts, key=counts.get)
        if counts[found]:
            fix = (
                "rename it to .tsv"
                if found == "\t"
                else "rename it to .csv"
                if found == ","
                else "save it comma-separated (.csv) or tab-separated (.tsv)"
            )
            raise DataError(
                f"data.{split}_file '{path}' is read as {DELIMITERS[delimiter]}-separated (its suffix is {path.suffix}), but its "
                f"first line has {DELIMITERS[found]}s and no {DELIMITERS[delimiter]}: {line.strip()[:80]!r}; {fix}"
            )
    return next(csv.reader([line], delimiter=delimiter), [])


def not_utf8(split: str, path: Path, chunk: bytes, error: UnicodeDecodeError, line: int | None = None) -> DataError:
    bad = chunk[error.start : error.start + 1].hex()
    where = f" (line {line})" if line else ""
    return DataError(
        f"data.{split}_file '{path}' is not UTF-8 text: byte 0x{bad}{where} is not valid UTF-8; "
        f"re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 '{path}' > '{path.with_stem(path.stem + '-utf8')}'` "
        "(use -f cp1252 for files saved by Excel on Windows)"
    )


def _utf8_problem(split: str, path: Path) -> DataError | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                return not_utf8(split, path, chunk, e, line + chunk[: e.start].count(b"\n"))
            line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:
        return not_utf8(split, path, b"?", e)
    return None


def _json_problem(split: str, path: Path) -> DataError | None:
    """The first line that is not a JSON object (JSON Lines), or where a whole-file JSON breaks."""
    text = path.read_text(encoding="utf-8")
    key = f"data.{split}_file '{path}'"
    if path.suffix.lower() == ".json" and text.lstrip()[:1] == "[":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            return DataError(
                f"{key} is not valid JSON: {e.msg.removesuffix(' at')} at line {e.lineno}, column {e.colno}; fix the file "
                "there"
            )
        return DataError(f"{key} holds no rows (an empty list); add rows") if not rows else None
    rows = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            return DataError(
                f"line {number} of {key} is not valid JSON ({e.msg.removesuffix(' at')} at column {e.colno}): "
                f"{line.strip()[:80]!r}; "
                'each line must be one JSON object such as {"text": "…", "label": "…"}'
            )
        if not isinstance(row, dict):
            return DataError(
                f"line {number} of {key} is a JSON {type(row).__name__}, expected an object: {line.strip()[:80]!r}"
            )
        rows += 1
    return None if rows else DataError(f"{key} holds no rows; add one JSON object per line")


def _csv_problem(split: str, path: Path) -> DataError | None:
    with path.open(encoding="utf-8-sig", newline="") as f:
        lines = [line for line in (f.readline(), f.readline()) if line.strip()]
    if len(lines) == 1:
        return DataError(
            f"data.{split}_file '{path}' has a header ({lines[0].strip()[:80]}) but no data rows; add rows below the header"
        )
    return None


def explain(files: dict[str, str], fmt: str, error: Exception) -> DataError:
    """Why ``datasets`` could not read the files, found by looking at each file; else the deepest cause."""
    for split, name in files.items():
        path = Path(name)
        if fmt in TEXT_FORMATS:
            problem = _utf8_problem(split, path) or (_json_problem if fmt == "json" else _csv_problem)(split, path)
            if problem:
                return problem
    if len(files) > 1 and fmt == "json":
        if mismatch := _split_mismatch(files):
            return mismatch
    cause: BaseException = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return DataError(f"could not read {', '.join(files.values())} as {fmt}: {message}")


def _split_mismatch(files: dict[str, str]) -> DataError | None:
    """``datasets`` reads every split with the first split's columns and types; where that fails (a column missing
    from one file, numbers in one file where another has text), name the files and columns that differ."""
    import datasets

    features = {}
    for split, name in files.items():
        try:
            features[split] = datasets.load_dataset("json", data_files={split: name}, split=split).features
        except Exception:  # this file alone cannot be read either: the deepest cause says more
            return None
    first, *others = features
    for split in others:
        a, b = features[first], features[split]
        if set(a) != set(b):
            only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
            what = "; ".join(
                part
                for part in (
                    f"{', '.join(only_a)} only in data.{first}_file" if only_a else "",
                    f"{', '.join(only_b)} only in data.{split}_file" if only_b else "",
                )
                if part
            )
            return DataError(
                f"data.{first}_file '{files[first]}' has the columns {', '.join(a)} and data.{split}_file "
                f"'{files[split]}' has {', '.join(b)} ({what}); every split needs the same columns: add the missing "
                "ones (a label column in every split), or leave the extra ones out"
            )
        for column in a:
            if str(a[column]) != str(b[column]):
                return DataError(
                    f"column {column!r} holds {_kind(a[column])} in data.{first}_file '{files[first]}' but "
                    f"{_kind(b[column])} in data.{split}_file '{files[split]}'; every split needs the same kind of "
                    'values in a column: write them the same way in every file (texts as JSON strings, "5" not 5)'
                )
    return None


def _kind(feature) -> str:
    dtype = getattr(feature, "dtype", None)
    if dtype in ("string", "large_string"):
        return "texts"
    if dtype is not None and dtype.startswith(("int", "uint")):
        return "integers"
    if dtype is not None and dtype.startswith("float"):
        return "numbers"
    if dtype == "bool":
        return "booleans"
    return f"values of type {feature}"
