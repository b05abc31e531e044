#!/usr/bin/env python3
"""Build the small ``debian-sections`` text-classification dataset.

Why this dataset exists
-----------------------
``hf_transfer`` needs a *real* (not synthetic) text-classification dataset that
is small enough to commit to the repository, so that the quickstart recipes and
the test-suite can run fully offline.  Every Debian machine already carries
one: the package index.  Each binary package has a human-written one-line
``Description`` synopsis (and, when the index includes it, a longer
paragraph) and is filed by the Debian archive under a ``Section`` such as
``games`` or ``sound``.  This script turns that index into a balanced
"guess the Section from the description" task.

How to regenerate
-----------------
On a Debian/Ubuntu machine with populated apt lists::

    python scripts/build_debian_sections.py

This runs ``apt-cache dumpavail`` itself and writes
``recipes/data/debian-sections/{train,validation,test}.jsonl``.  A saved dump
can be used instead with ``--input FILE`` (``apt-cache dumpavail > FILE``).
The output is deterministic for a given dump and ``--seed``; a different apt
snapshot (release, point release, enabled components) gives different rows.

The long description is used when the dump contains it (text = synopsis +
". " + first paragraph).  Many apt setups -- including Debian container images
with ``Acquire::Languages "none"`` -- only ship the one-line synopsis in the
package index, in which case each text is just the synopsis.

Each output line is a JSON object ``{"text": ..., "label": ...}`` where
``label`` is the Section name (area prefix such as ``contrib/`` stripped).

Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = REPO_ROOT / "recipes" / "data" / "debian-sections"

# Six well-populated sections (each has 400+ usable packages after
# de-duplication) covering distinct topics, with no near-duplicate pairs such
# as libs/libdevel.  Some overlap is real (python-vs-science, games-vs-sound),
# which keeps a bag-of-words baseline around 85% rather than 100%.
DEFAULT_SECTIONS: tuple[str, ...] = (
    "python",
    "fonts",
    "games",
    "science",
    "sound",
    "doc",
)

SPLITS: tuple[str, ...] = ("train", "validation", "test")

MAX_TEXT_CHARS = 400
MIN_TEXT_CHARS = 10

_FIELD_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*):[ \t]?(.*)$")
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class Package:
    """The parts of one package stanza that the dataset uses."""

    name: str
    source: str
    section: str
    synopsis: str
    long_description: tuple[str, ...]


@dataclass(frozen=True)
class Example:
    package: str
    source: str
    text: str
    label: str


# --------------------------------------------------------------------------
# Reading and parsing the package index
# --------------------------------------------------------------------------


def run_dumpavail() -> str:
    """Return the output of ``apt-cache dumpavail``."""
    try:
        proc = subprocess.run(
            ["apt-cache", "dumpavail"],
            check=True,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except FileNotFoundError:
        sys.exit("error: apt-cache not found; pass --input FILE with a saved dump")
    except subprocess.CalledProcessError as exc:
        sys.exit(f"error: apt-cache dumpavail failed:\n{exc.stderr}")
    return proc.stdout


def iter_stanzas(lines: Iterable[str]) -> Iterator[dict[str, list[str]]]:
    """Yield RFC 822-style stanzas as ``{field: [first line, continuation...]}``.

    Stanzas are separated by blank lines.  Continuation lines (starting with a
    space or tab) are attached to the preceding field.  Malformed lines are
    ignored rather than aborting the whole parse.
    """
    stanza: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            if stanza:
                yield stanza
            stanza, current = {}, None
            continue
        if line[0] in " \t":
            if current is not None:
                current.append(line)
            continue
        match = _FIELD_RE.match(line)
        if match is None:
            current = None
            continue
        field, value = match.group(1), match.group(2)
        # Keep the first occurrence of a repeated field within a stanza.
        if field in stanza:
            current = None
            continue
        current = [value]
        stanza[field] = current
    if stanza:
        yield stanza


def normalise_section(section: str) -> str:
    """``contrib/games`` -> ``games``; ``non-free/sound`` -> ``sound``."""
    return section.strip().rsplit("/", 1)[-1].lower()


def parse_packages(lines: Iterable[str]) -> list[Package]:
    """Parse a dump into packages: first stanza per name, with Section and Description."""
    packages: list[Package] = []
    seen: set[str] = set()
    for stanza in iter_stanzas(lines):
        name_field = stanza.get("Package")
        if not name_field or not name_field[0].strip():
            continue
        name = name_field[0].strip()
        if name in seen:
            continue
        seen.add(name)
        section_field = stanza.get("Section")
        desc_field = stanza.get("Description")
        if not section_field or not desc_field:
            continue
        section = normalise_section(section_field[0])
        synopsis = desc_field[0].strip()
        if not section or not synopsis:
            continue
        source_field = stanza.get("Source")
        # "Source: foo (1.2-3)" -> "foo"
        source = source_field[0].split()[0] if source_field and source_field[0].strip() else name
        packages.append(
            Package(
                name=name,
                source=source,
                section=section,
                synopsis=synopsis,
                long_description=tuple(desc_field[1:]),
            )
        )
    return packages


# --------------------------------------------------------------------------
# Text construction
# --------------------------------------------------------------------------


def first_paragraph(long_description: Iterable[str]) -> str:
    """First paragraph of a Debian long description (up to the first `` .`` line)."""
    parts: list[str] = []
    for line in long_description:
        stripped = line.strip()
        if stripped == ".":
            if parts:
                break
            continue
        parts.append(stripped)
    return " ".join(parts)


def truncate_at_word(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    else:
        cut = cut[:limit]
    return cut.rstrip(" ,;:-")


def collapse(text: str) -> str:
    return _WS_RE.sub(" ", text).strip()


def build_text(pkg: Package) -> str:
    synopsis = collapse(pkg.synopsis).rstrip(".")
    body = collapse(first_paragraph(pkg.long_description))
    text = f"{synopsis}. {body}" if body else synopsis
    return truncate_at_word(text)


def is_degenerate(text: str) -> bool:
    """Too short or without any letters to carry information."""
    return len(text) < MIN_TEXT_CHARS or not re.search(r"[A-Za-z]{3}", text)


def build_examples(packages: Iterable[Package], sections: Iterable[str]) -> list[Example]:
    """Examples for the wanted sections, with duplicates and ambiguities removed.

    * exact duplicate texts are dropped; a text that occurs under two
      different sections is dropped entirely (it cannot be labelled);
    * only one package per Debian *source* package is kept, so that e.g.
      ``foo`` and ``foo-data`` neither duplicate each other nor end up in
      different splits.
    """
    wanted = set(sections)
    candidates: list[Example] = []
    for pkg in sorted(packages, key=lambda p: p.name):
        if pkg.section not in wanted:
            continue
        text = build_text(pkg)
        if is_degenerate(text):
            continue
        candidates.append(Example(pkg.name, pkg.source, text, pkg.section))

    labels_by_text: dict[str, set[str]] = defaultdict(set)
    for ex in candidates:
        labels_by_text[ex.text.lower()].add(ex.label)

    examples: list[Example] = []
    seen_texts: set[str] = set()
    seen_sources: set[str] = set()
    for ex in candidates:
        key = ex.text.lower()
        if len(labels_by_text[key]) > 1 or key in seen_texts or ex.source in seen_sources:
            continue
        seen_texts.add(key)
        seen_sources.add(ex.source)
        examples.append(ex)
    return examples


# --------------------------------------------------------------------------
# Sampling and writing
# --------------------------------------------------------------------------


def sample_splits(
    examples: list[Example],
    sections: list[str],
    sizes: dict[str, int],
    seed: int,
) -> dict[str, list[Example]]:
    """Balanced, deterministic split: ``sizes[split]`` examples per section.

    Each package (and each source package) is used at most once, so no
    package can appear in two splits.
    """
    rng = random.Random(seed)
    by_section: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        by_section[ex.label].append(ex)

    needed = sum(sizes[s] for s in SPLITS)
    splits: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for section in sections:
        pool = sorted(by_section.get(section, []), key=lambda e: e.package)
        if len(pool) < needed:
            sys.exit(
                f"error: section {section!r} has only {len(pool)} usable examples, "
                f"{needed} needed; pick another section or smaller sizes"
            )
        rng.shuffle(pool)
        start = 0
        for split in SPLITS:
            splits[split].extend(pool[start : start + sizes[split]])
            start += sizes[split]

    for split in SPLITS:
        rows = sorted(splits[split], key=lambda e: (e.label, e.package))
        rng.shuffle(rows)
        splits[split] = rows
    return splits


def write_jsonl(path: Path, rows: list[Example]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for ex in rows:
            fh.write(json.dumps({"text": ex.text, "label": ex.label}, ensure_ascii=False))
            fh.write("\n")


def print_report(
    splits: dict[str, list[Example]],
    sections: list[str],
    out_dir: Path,
) -> None:
    width = max(len(s) for s in sections + ["section"])
    header = f"{'section':<{width}}  " + "  ".join(f"{s:>10}" for s in SPLITS)
    print(header)
    print("-" * len(header))
    counts = {split: Counter(ex.label for ex in rows) for split, rows in splits.items()}
    for section in sections:
        print(f"{section:<{width}}  " + "  ".join(f"{counts[s][section]:>10}" for s in SPLITS))
    print("-" * len(header))
    print(f"{'total':<{width}}  " + "  ".join(f"{len(splits[s]):>10}" for s in SPLITS))
    total_bytes = 0
    for split in SPLITS:
        path = out_dir / f"{split}.jsonl"
        size = path.stat().st_size
        total_bytes += size
        print(f"wrote {path} ({size:,} bytes)")
    print(f"total {total_bytes:,} bytes")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    parser.add_argument(
        "--input",
        type=Path,
        help="read a saved `apt-cache dumpavail` output instead of running apt-cache",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help="directory for train/validation/test.jsonl (default: %(default)s)",
    )
    parser.add_argument(
        "--sections",
        default=",".join(DEFAULT_SECTIONS),
        help="comma-separated Debian sections to use as labels (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: %(default)s)")
    parser.add_argument("--train-per-section", type=int, default=250)
    parser.add_argument("--validation-per-section", type=int, default=50)
    parser.add_argument("--test-per-section", type=int, default=50)
    parser.add_argument(
        "--list-sections",
        action="store_true",
        help="print usable example counts for every section and exit",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    if args.input is not None:
        with args.input.open(encoding="utf-8", errors="replace") as fh:
            packages = parse_packages(fh)
    else:
        packages = parse_packages(run_dumpavail().splitlines())
    print(f"parsed {len(packages)} packages with Section and Description", file=sys.stderr)

    if args.list_sections:
        all_sections = sorted({p.section for p in packages})
        usable = Counter(ex.label for ex in build_examples(packages, all_sections))
        for section, count in usable.most_common():
            print(f"{section}\t{count}")
        return 0

    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    sections = [normalise_section(s) for s in sections]
    if len(set(sections)) != len(sections) or len(sections) < 2:
        sys.exit("error: --sections needs at least two distinct section names")

    sizes = {
        "train": args.train_per_section,
        "validation": args.validation_per_section,
        "test": args.test_per_section,
    }
    if any(n < 0 for n in sizes.values()):
        sys.exit("error: split sizes must be non-negative")

    examples = build_examples(packages, sections)
    splits = sample_splits(examples, sections, sizes, args.seed)

    args.output_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        write_jsonl(args.output_dir / f"{split}.jsonl", splits[split])
    print_report(splits, sections, args.output_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
