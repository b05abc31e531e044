"""Checks on the examples themselves, run by :func:`~hf_transfer.data.prepare` before anything trains.

A damaged image or an empty text otherwise surfaces mid-run, in a DataLoader worker or a
tokenizer, as a traceback that names neither the file nor the row. Here every example of every
split is looked at once, up front: with ``data.on_bad_example: error`` one message names them all,
with ``skip`` they are dropped and listed in the run's notes. Images are checked from their headers
(PIL ``verify``), plus a draft-mode decode for formats whose ``verify`` checks nothing, so a large
dataset is not decoded twice.
"""

from __future__ import annotations

import io
import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import DataError

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)
TEXT_ROLES = ("text", "text_pair")
LISTED = 20  # bad examples named in a note (an error names them all)
BATCH = 256


def image_problem(item: dict[str, Any] | None) -> str | None:
    """Why an undecoded image (``{"path", "bytes"}``) cannot be read, or None if it can."""
    from PIL import Image, UnidentifiedImageError

    if item is None:
        return "no image"
    data, path = item.get("bytes"), item.get("path")
    if data is None and path is None:
        return "no image"
    if (len(data) if data is not None else os.path.getsize(path)) == 0:
        return "empty file (0 bytes)"

    def source() -> Any:
        return io.BytesIO(data) if data is not None else path

    try:
        with Image.open(source()) as img:
            fmt = img.format
            img.verify()  # PNG: every chunk's CRC up to IEND; truncation shows here
        if fmt != "PNG":  # JPEG, GIF, BMP, WebP, TIFF: verify() reads little, so decode (JPEG at 1/8 scale)
            with Image.open(source()) as img:
                if fmt == "JPEG":
                    img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
                img.load()
    except UnidentifiedImageError:
        return "not an image file PIL can read"
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        return f"damaged or truncated: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    return None


def _image_problems(ds: Dataset) -> list[tuple[int, str, str]]:
    """(row, name, problem) for each unreadable image of a split."""
    from datasets import Image

    if not isinstance(ds.features.get("image"), Image):
        return []
    raw = ds.select_columns(["image"]).cast_column("image", Image(decode=False))
    found = []
    # PIL releases the GIL while it reads and decodes, so threads check several files at once.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for start, batch in enumerate(raw.iter(batch_size=BATCH)):
            for offset, (item, problem) in enumerate(zip(batch["image"], pool.map(image_problem, batch["image"]))):
                if problem:
                    row = start * BATCH + offset
                    found.append((row, (item or {}).get("path") or f"row {row + 1}", problem))
    return found


def _text_problems(ds: Dataset) -> list[tuple[int, str, str]]:
    found = []
    for role in (r for r in TEXT_ROLES if r in ds.column_names):
        for row, value in enumerate(ds[role]):
            if value is None or (isinstance(value, str) and not value.strip()):
                found.append((row, f"row {row + 1}", f"empty {role}"))
            elif not isinstance(value, str):
                found.append((row, f"row {row + 1}", f"{role} is {type(value).__name__} {value!r}, not text"))
    return found


def check_examples(splits: dict[str, Dataset], policy: str) -> tuple[dict[str, Dataset], list[str]]:
    """Drop (``skip``) or report (``error``) unreadable images and empty texts in every split."""
    bad = {name: _image_problems(ds) + _text_problems(ds) for name, ds in splits.items()}
    bad = {name: found for name, found in bad.items() if found}
    if not bad:
        return splits, []
    total = sum(len(found) for found in bad.values())
    lines = [f"{name}: {what}: {problem}" for name, found in bad.items() for _, what, problem in found]
    if policy != "skip":
        raise DataError(
            f"{total} bad example{'s' if total > 1 else ''} found (every example of every split was checked):\n    "
            + "\n    ".join(lines)
            + "\n  fix or remove them (texts count rows from 1, after any header), or set data.on_bad_example=skip "
            "to train without them"
        )
    out = dict(splits)
    for name, found in bad.items():
        drop = {row for row, _, _ in found}
        out[name] = splits[name].select([i for i in range(len(splits[name])) if i not in drop])
        if len(out[name]) == 0:
            raise DataError(f"split '{name}' has no usable examples: all {len(drop)} are bad ({lines[0]}, …)")
    per_split = ", ".join(f"{name} {len(found)}" for name, found in bad.items())
    more = f"; and {total - LISTED} more" if total > LISTED else ""
    note = f"skipped {total} bad example{'s' if total > 1 else ''} (data.on_bad_example=skip; {per_split}): {'; '.join(lines[:LISTED])}{more}"
    logger.warning(note)
    return out, [note]


def label_column_notes(train: Dataset, label_col: str) -> list[str]:
    """A warning when the label column looks like an id or free-text column: mostly one-off classes."""
    counts = Counter(train["label"])
    rows, singletons = len(train), sum(1 for c in counts.values() if c == 1)
    if rows < 10 or singletons <= rows / 2:
        return []
    note = (
        f"the label column '{label_col}' has {len(counts):,} classes for {rows:,} training rows, {singletons:,} of them "
        "with a single example: it looks like an id or free-text column rather than class labels; if so, set "
        "data.columns.label=<the column that holds the classes>"
    )
    logger.warning(note)
    return [note]


def carved_validation_notes(train: Dataset, validation: Dataset, labels: list[str]) -> list[str]:
    """A warning when carving left classes in validation that train no longer has."""
    lacking = sorted(set(validation.unique("label")) - set(train.unique("label")))
    if not lacking:
        return []
    names = ", ".join(labels[i] for i in lacking[:10]) + (", …" if len(lacking) > 10 else "")
    note = (
        f"the carved validation split holds {len(lacking)} class{'es' if len(lacking) > 1 else ''} that train lacks after "
        f"carving ({names}): too few examples to split, so the model never sees them and scores 0 on them; add "
        "examples of those classes, or give a validation split (data.validation_file or data.validation_split)"
    )
    logger.warning(note)
    return [note]
