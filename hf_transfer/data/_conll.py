"""CoNLL-style token-classification files: one ``word tag`` line per word, a blank line between sentences.

The layouts users bring: two columns (``word tag``, WikiANN/NER exports), or CoNLL-2003's four
(``word POS chunk NER``), separated by spaces or tabs; the tag is the last column unless ``tag_column`` says
otherwise. ``-DOCSTART-`` lines (document boundaries in CoNLL-2003) are skipped. Read by hand because no
library we depend on parses it (``datasets`` has no CoNLL builder; ``conllu`` reads CoNLL-U, a different,
10-column format).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError

DOCSTART = "-DOCSTART-"


def read_conll(path: str | Path, tag_column: int = -1) -> list[dict[str, list[str]]]:
    """Sentences of a CoNLL-style file as rows ``{"tokens": [...], "tags": [...]}``.

    A malformed line (a single column, or fewer columns than ``tag_column`` needs) is a DataError naming the
    file and line number; so is a file without any sentence, or one that is not UTF-8."""
    path = Path(path)
    rows: list[dict[str, list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []

    def close() -> None:
        if tokens:
            rows.append({"tokens": list(tokens), "tags": list(tags)})
            tokens.clear()
            tags.clear()

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}); save the CoNLL file as UTF-8") from None
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            close()
            continue
        if parts[0] == DOCSTART:
            close()
            continue
        needed = tag_column + 1 if tag_column >= 0 else -tag_column + 1
        if len(parts) < max(2, needed):
            raise DataError(
                f"{path}, line {number}: expected 'word tag' (columns separated by spaces or tabs, a blank line "
                f"between sentences), found {line.strip()!r}; fix the line or remove it"
            )
        tokens.append(parts[0])
        tags.append(parts[tag_column])
    close()
    if not rows:
        raise DataError(f"{path}: no sentence found; a CoNLL file has one 'word tag' line per word")
    return rows
