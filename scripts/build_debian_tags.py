#!/usr/bin/env python3
"""Build the small ``debian_tags`` multi-label text dataset (offline, real data).

What it is
----------
Debian's package index carries, for about half of the packages, hand-assigned
`debtags <https://wiki.debian.org/Debtags>`_ in a ``Tag:`` field: ``facet::value``
tags such as ``role::program, interface::commandline, implemented-in::c``.
Each package gets several of them (or none of a given facet), so "guess the
tags from the one-line description" is a natural multi-label task that every
Debian machine already holds. This script turns ``apt-cache dumpavail`` into
``recipes/data/debian_tags/{train,validation,test}.jsonl`` with rows
``{"text": <synopsis>, "labels": [<tag>, ...]}``.

Which labels, and why
---------------------
Twelve tags from four facets, chosen on a Debian 12 dump (one package per
source, tagged packages only) for support (each 500+ of ~15,900 sources) and
because they are *not* simply spelled out in the synopsis::

    role::program, role::devel-lib, role::shared-lib, role::documentation,
    role::plugin, interface::commandline, interface::graphical,
    interface::daemon, implemented-in::c, implemented-in::c++,
    implemented-in::python, use::gameplaying

* ``role::`` (what kind of package) and ``interface::`` (how it is used) are
  partly readable from the text ("library", "documentation", "daemon",
  "GTK frontend") and partly not (a program's synopsis rarely says
  "command-line");
* ``implemented-in::`` is mostly *not* in the synopsis (few C programs say
  they are written in C), so it makes the task hard in a realistic way;
* ``use::gameplaying`` is an easy, topical label, like most users' data has.

Left out on purpose: ``implemented-in::perl`` / ``devel::lang:perl`` (about a
quarter of the tagged sources are Perl modules whose synopsis names Perl:
trivially easy and it would dominate micro F1), ``interface::x11`` and
``x11::application`` (near-duplicates of ``interface::graphical``),
``devel::library`` (a near-duplicate of the ``role::*-lib`` tags).

A row may have none of the twelve (e.g. a font or a data package): its label
set is empty, a real answer. Packages *without* a ``Tag:`` field are not used:
an untagged package is unannotated, not "no tag applies".

Texts and splits
----------------
* text = the Description synopsis (first line), whitespace-collapsed (the
  container's apt index has no long descriptions; where one is present, its
  first sentence is appended, cut to at most ``MAX_TEXT_CHARS``);
* one package per Debian *source* package (first by name), so ``foo`` and
  ``foo-data`` cannot repeat each other across splits; a synopsis that occurs
  twice (case-insensitive) is dropped entirely;
* the kept packages are sorted by name, shuffled with ``--seed`` and cut into
  train/validation/test (default 2000/500/500); rows are written in that order.
  The output is identical for a given dump and seed.

Regenerate with ``python scripts/build_debian_tags.py`` (runs ``apt-cache
dumpavail``), or ``--input FILE`` for a saved dump. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_debian_sections import iter_stanzas  # noqa: E402 - one dumpavail parser for both Debian datasets

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = REPO_ROOT / "recipes" / "data" / "debian_tags"
SPLITS = ("train", "validation", "test")
DEFAULT_SIZES = {"train": 2000, "validation": 500, "test": 500}
LABELS: tuple[str, ...] = (
    "role::program",
    "role::devel-lib",
    "role::shared-lib",
    "role::documentation",
    "role::plugin",
    "interface::commandline",
    "interface::graphical",
    "interface::daemon",
    "implemented-in::c",
    "implemented-in::c++",
    "implemented-in::python",
    "use::gameplaying",
)
MAX_TEXT_CHARS = 160
MIN_TEXT_CHARS = 8

_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class Package:
    name: str
    source: str
    synopsis: str
    long_description: tuple[str, ...]
    tags: tuple[str, ...]  # empty: the package has no Tag field
    tagged: bool


def parse_tags(field: list[str]) -> tuple[str, ...]:
    """``Tag:`` value and its continuation lines → sorted unique tags (``facet::TODO`` placeholders dropped)."""
    parts = (t.strip() for t in " ".join(field).split(","))
    return tuple(sorted({t for t in parts if t and "::" in t and not t.endswith("::TODO")}))


def parse_packages(lines: Iterable[str]) -> list[Package]:
    """Packages of a dump, first stanza per name, with a Description (tagged or not)."""
    packages, seen = [], set()
    for stanza in iter_stanzas(lines):
        name = (stanza.get("Package") or [""])[0].strip()
        desc = stanza.get("Description")
        if not name or name in seen or not desc or not desc[0].strip():
            continue
        seen.add(name)
        source = (stanza.get("Source") or [name])[0].split() or [name]
        tag = stanza.get("Tag")
        packages.append(
            Package(
                name=name,
                source=source[0],
                synopsis=desc[0].strip(),
                long_description=tuple(desc[1:]),
                tags=parse_tags(tag) if tag else (),
                tagged=tag is not None,
            )
        )
    return packages


def build_text(pkg: Package) -> str:
    """The synopsis, plus the long description's first sentence when there is one; at most MAX_TEXT_CHARS."""
    text = _WS_RE.sub(" ", pkg.synopsis).strip().rstrip(".")
    body = []
    for line in pkg.long_description:
        if line.strip() == ".":
            break
        body.append(line.strip())
    first = re.split(r"(?<=[.!?])\s", _WS_RE.sub(" ", " ".join(body)).strip(), maxsplit=1)[0]
    if first:
        text = f"{text}. {first}"
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return text


def build_rows(packages: Iterable[Package], labels: Iterable[str] = LABELS) -> list[dict]:
    """One row per source package (tagged packages only, first by name), without repeated texts, sorted by name."""
    wanted = set(labels)
    candidates, by_source = [], set()
    for pkg in sorted(packages, key=lambda p: p.name):
        if not pkg.tagged or pkg.source in by_source:
            continue
        text = build_text(pkg)
        if len(text) < MIN_TEXT_CHARS or not re.search(r"[A-Za-z]{3}", text):
            continue
        by_source.add(pkg.source)
        row_labels = [t for t in LABELS if t in wanted and t in pkg.tags]
        candidates.append({"package": pkg.name, "text": text, "labels": row_labels})
    counts = Counter(r["text"].lower() for r in candidates)
    return [r for r in candidates if counts[r["text"].lower()] == 1]


def split_rows(
    rows: list[dict], sizes: dict[str, int], seed: int, keys: tuple[str, ...] = ("text", "labels")
) -> dict[str, list[dict]]:
    """Rows sorted by package name, shuffled with ``seed`` and cut into the splits (keeping ``keys``)."""
    needed = sum(sizes[s] for s in SPLITS)
    if len(rows) < needed:
        sys.exit(f"error: {len(rows)} usable rows, {needed} needed; pass smaller sizes")
    pool = sorted(rows, key=lambda r: r["package"])
    random.Random(seed).shuffle(pool)
    out, start = {}, 0
    for split in SPLITS:
        out[split] = [{k: r[k] for k in keys} for r in pool[start : start + sizes[split]]]
        start += sizes[split]
    return out


def run_dumpavail() -> str:
    try:
        return subprocess.run(
            ["apt-cache", "dumpavail"], check=True, capture_output=True, text=True, encoding="utf-8", errors="replace"
        ).stdout
    except FileNotFoundError:
        sys.exit("error: apt-cache not found; pass --input FILE with a saved `apt-cache dumpavail` output")


def dump_arguments(description: str, output_dir: Path, sizes: dict[str, int], argv: list[str] | None):
    """The command line every Debian dataset script takes: --input, --output-dir, --seed, --<split>-size."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--input", type=Path, help="a saved `apt-cache dumpavail` output")
    parser.add_argument("--output-dir", type=Path, default=output_dir)
    parser.add_argument("--seed", type=int, default=0)
    for split in SPLITS:
        parser.add_argument(f"--{split}-size", type=int, default=sizes[split])
    args = parser.parse_args(argv)
    args.sizes = {s: getattr(args, f"{s}_size") for s in SPLITS}
    return args


def read_dump(args, parse):
    """``parse`` applied to the dump: the --input file, or ``apt-cache dumpavail``."""
    if args.input is not None:
        with args.input.open(encoding="utf-8", errors="replace") as fh:
            return parse(fh)
    return parse(run_dumpavail().splitlines())


def write_splits(output_dir: Path, splits: dict[str, list[dict]]) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with (output_dir / f"{split}.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = dump_arguments(__doc__.split("\n\n", 1)[0], DEFAULT_OUTPUT_DIR, DEFAULT_SIZES, argv)
    packages = read_dump(args, parse_packages)
    rows = build_rows(packages)
    print(f"{len(packages)} packages, {sum(p.tagged for p in packages)} tagged, {len(rows)} usable rows")
    splits = split_rows(rows, args.sizes, args.seed)
    write_splits(args.output_dir, splits)
    for split, split_rows_ in splits.items():
        counts = Counter(t for r in split_rows_ for t in r["labels"])
        empty = sum(1 for r in split_rows_ if not r["labels"])
        print(
            f"{split}: {len(split_rows_)} rows, {empty} without labels; "
            + ", ".join(f"{t} {counts[t]}" for t in LABELS)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
