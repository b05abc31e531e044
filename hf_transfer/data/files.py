"""Data source ``files``: local CSV, TSV, JSON, JSON Lines or Parquet files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..registry import DATA_SOURCES
from ..schema import field
from . import DataSource, LoadContext

# file suffix → `datasets` packaged builder
FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


@DATA_SOURCES.register("files")
@dataclass
class FilesSource(DataSource):
    train_file: str = field(help="training data: a .csv, .tsv, .json, .jsonl or .parquet file", path=True)
    validation_file: str | None = field(None, help="validation data (default: carved from train)", path=True)
    test_file: str | None = field(None, help="test data evaluated once at the end", path=True)

    def files(self) -> dict[str, str]:
        named = {"train": self.train_file, "validation": self.validation_file, "test": self.test_file}
        return {split: path for split, path in named.items() if path}

    def validate(self, prefix: str) -> list[str]:
        problems = []
        suffixes = set()
        for split, path in self.files().items():
            suffix = Path(path).suffix.lower()
            suffixes.add(FORMATS.get(suffix))
            if suffix not in FORMATS:
                problems.append(
                    f"'{prefix}.{split}_file' must end in {', '.join(FORMATS)}, found '{Path(path).name}'"
                )
        if len(suffixes) > 1:
            problems.append(f"'{prefix}' files must all have one format, found {', '.join(sorted(map(str, suffixes)))}")
        return problems

    def load(self, ctx: LoadContext):
        import datasets

        files = self.files()
        for split, path in files.items():
            if not Path(path).is_file():
                raise DataError(f"data.{split}_file '{path}' does not exist; check the path (relative paths in a recipe are relative to the recipe file)")
        suffix = Path(self.train_file).suffix.lower()
        kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
        try:
            return datasets.load_dataset(FORMATS[suffix], data_files=files, streaming=ctx.streaming, **kwargs)
        except Exception as e:  # the builders raise many types for unreadable files
            raise DataError(f"could not read {', '.join(files.values())} as {FORMATS[suffix]}: {str(e).splitlines()[0]}") from None
