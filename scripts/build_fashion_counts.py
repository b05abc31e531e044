"""Build a small real image-regression set from Fashion-MNIST: 2×2 mosaics of clothing items with two count targets,
``items`` (how many items the mosaic holds, 0–4) and ``footwear`` (how many of them are sandals, sneakers or
ankle boots).

The mosaics are those of :mod:`build_fashion_mosaics` (same options, same source: the Debian package
``dataset-fashion-mnist``; train and validation from disjoint halves of Fashion-MNIST's training file, test from
its test file); each cell holds an item with probability ``--fill`` (default 0.75 here). Counting footwear needs
the model to recognise the items, not only to see them. Writes ``OUTPUT/{train,validation,test}/metadata.jsonl``
(``{"file_name": "00000.png", "items": 3, "footwear": 1}``) next to the images: the layout the regression task
reads with ``data: {source: imagefolder, data_dir: OUTPUT, columns: {label: [items, footwear]}}``.
Deterministic for a ``--seed``.

    python scripts/build_fashion_counts.py --output-dir /tmp/data/fashion-counts --train 800 --validation 300 --test 300
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_fashion_mosaics import make_splits, parser, write_split  # noqa: E402

FOOTWEAR = ("sandal", "sneaker", "ankle_boot")


def targets(items: list[str]) -> dict[str, float]:
    """The regression targets of one mosaic (floats: the task reads float columns)."""
    return {"items": float(len(items)), "footwear": float(sum(item in FOOTWEAR for item in items))}


def main(argv: list[str] | None = None) -> int:
    cli = parser(__doc__.split("\n\n")[0])
    cli.set_defaults(fill=0.75)
    args = cli.parse_args(argv)
    splits = make_splits(args)
    if splits is None:
        return 2
    for split, rows in splits.items():
        write_split(args.output_dir / split, rows, targets)
        footwear = Counter(int(targets(items)["footwear"]) for _, items in rows)
        mean_items = sum(len(items) for _, items in rows) / max(len(rows), 1)
        print(
            f"{split}: {len(rows)} mosaics, {mean_items:.2f} items per image, footwear counts "
            + ", ".join(f"{k}: {footwear[k]}" for k in sorted(footwear))
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
