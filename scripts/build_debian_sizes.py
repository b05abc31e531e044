#!/usr/bin/env python3
"""Build the small ``debian_sizes`` text-regression dataset (offline, real data).

What it is
----------
Every Debian package records its ``Installed-Size`` (KiB unpacked) and its ``Depends`` list. "How big is
this package, and how many packages does it pull in, from its description?" is a real two-target regression
task that every Debian machine holds: documentation and small command-line tools are small, data, games and
large libraries big, and the words of the description say much of it (but not all). This script turns
``apt-cache dumpavail`` into ``recipes/data/debian_sizes/{train,validation,test}.jsonl`` with rows::

    {"text": <synopsis[. first sentence]>, "log_size": log10(Installed-Size in KiB), "depends": <count>}

* ``log_size``: base-10 logarithm of Installed-Size (sizes span 1 KiB to GiBs: a log scale makes the error
  relative, as users of size estimates mean it);
* ``depends``: the number of entries in ``Depends:`` (alternatives ``a | b`` count once; 0 without a field).

Texts and splits: as ``scripts/build_debian_tags.py`` (the same parser and text: the synopsis, plus the
long description's first sentence where the index has one); one package per Debian *source* package (first
by name) so that ``foo`` and ``foo-data`` cannot repeat each other across splits; repeated texts dropped;
sorted by name, shuffled with ``--seed`` and cut into train/validation/test (default 2000/500/500). The
output is identical for a given dump and seed.

Regenerate with ``python scripts/build_debian_sizes.py`` (runs ``apt-cache dumpavail``), or ``--input FILE``
for a saved dump. Standard library only.
"""

from __future__ import annotations

import math
import re
import statistics
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_debian_sections import iter_stanzas  # noqa: E402 - one dumpavail parser for every Debian dataset
from build_debian_tags import (  # noqa: E402
    MIN_TEXT_CHARS,
    Package,
    build_text,
    dump_arguments,
    read_dump,
    split_rows,
    write_splits,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = REPO_ROOT / "recipes" / "data" / "debian_sizes"
DEFAULT_SIZES = {"train": 2000, "validation": 500, "test": 500}
TARGETS = ("log_size", "depends")


def parse_packages(lines: Iterable[str]) -> list[tuple[Package, int, int]]:
    """(package, Installed-Size KiB, number of Depends entries) for the first stanza of each name that has a
    Description and a positive Installed-Size."""
    out, seen = [], set()
    for stanza in iter_stanzas(lines):
        name = (stanza.get("Package") or [""])[0].strip()
        desc = stanza.get("Description")
        size = (stanza.get("Installed-Size") or [""])[0].strip()
        if not name or name in seen or not desc or not desc[0].strip() or not size.isdigit() or int(size) <= 0:
            continue
        seen.add(name)
        source = (stanza.get("Source") or [name])[0].split() or [name]
        depends = " ".join(stanza.get("Depends") or [])
        n_depends = len([d for d in depends.split(",") if d.strip()])
        pkg = Package(name, source[0], desc[0].strip(), tuple(desc[1:]), (), False)
        out.append((pkg, int(size), n_depends))
    return out


def build_rows(packages: Iterable[tuple[Package, int, int]]) -> list[dict]:
    """One row per source package (first by name), without repeated texts."""
    candidates, by_source = [], set()
    for pkg, size, depends in sorted(packages, key=lambda p: p[0].name):
        if pkg.source in by_source:
            continue
        text = build_text(pkg)
        if len(text) < MIN_TEXT_CHARS or not re.search(r"[A-Za-z]{3}", text):
            continue
        by_source.add(pkg.source)
        row = {"package": pkg.name, "text": text, "log_size": round(math.log10(size), 4), "depends": depends}
        candidates.append(row)
    counts = Counter(r["text"].lower() for r in candidates)
    return [r for r in candidates if counts[r["text"].lower()] == 1]


def main(argv: list[str] | None = None) -> int:
    args = dump_arguments(__doc__.split("\n\n", 1)[0], DEFAULT_OUTPUT_DIR, DEFAULT_SIZES, argv)
    packages = read_dump(args, parse_packages)
    rows = build_rows(packages)
    print(f"{len(packages)} packages with a size, {len(rows)} usable rows")
    splits = split_rows(rows, args.sizes, args.seed, keys=("text", *TARGETS))
    write_splits(args.output_dir, splits)
    for split, split_rows_ in splits.items():
        summary = ", ".join(
            f"{t} mean {statistics.fmean(r[t] for r in split_rows_):.3f} sd {statistics.pstdev(r[t] for r in split_rows_):.3f}"
            for t in TARGETS
        )
        print(f"{split}: {len(split_rows_)} rows; {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
