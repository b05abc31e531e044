"""Build a small real multi-label image set from Fashion-MNIST: 2×2 mosaics of clothing items, labels = the classes
present.

Source: the Debian package ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``; idx files in
/usr/share/datasets/fashion-mnist, read as :mod:`build_fashion_mnist` does). Each mosaic is a 56×56 greyscale PNG
of four 28×28 cells; each cell holds a Fashion-MNIST item with probability ``--fill`` (else it stays black), so an
image has between none and four items and its label set is the set of their classes (a class drawn twice counts
once). Training and validation mosaics take items from Fashion-MNIST's training file (disjoint ranges), test
mosaics from its test file. Writes ``OUTPUT/{train,validation,test}/metadata.jsonl`` (``{"file_name": "00000.png",
"labels": ["bag", "sneaker"]}``) next to the images: the image-folder layout the multi-label task reads with
``data: {source: imagefolder, data_dir: OUTPUT, columns: {label: labels}}``. Deterministic for a ``--seed``.

    python scripts/build_fashion_mosaics.py --output-dir /tmp/data/fashion-mosaics --train 800 --validation 300 --test 300
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_fashion_mnist import CLASSES, SOURCE, idx_files, read_idx  # noqa: E402

CELL = 28


def mosaics(images, labels, count: int, fill: float, rng):
    """``count`` 2×2 mosaics (uint8 arrays), each with the classes of its items in cell order (a class drawn twice
    appears twice), each source item used at most once."""
    import numpy as np

    order = rng.permutation(len(images))
    used = 0
    out = []
    for _ in range(count):
        canvas = np.zeros((2 * CELL, 2 * CELL), np.uint8)
        present = []
        for cell in range(4):
            if rng.random() >= fill:
                continue
            if used >= len(order):
                raise ValueError("not enough source images for this many mosaics")
            i = order[used]
            used += 1
            r, c = divmod(cell, 2)
            canvas[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL] = images[i]
            present.append(CLASSES[int(labels[i])])
        out.append((canvas, present))
    return out


def label_set(items: list[str]) -> list[str]:
    """The distinct classes of a mosaic's items, in Fashion-MNIST's class order."""
    return sorted(set(items), key=CLASSES.index)


def parser(description: str) -> argparse.ArgumentParser:
    """The options every mosaic-based builder takes (this one and :mod:`build_fashion_counts`)."""
    out = argparse.ArgumentParser(description=description)
    out.add_argument("--source", type=Path, default=SOURCE)
    out.add_argument("--output-dir", type=Path, required=True)
    out.add_argument("--train", type=int, default=800)
    out.add_argument("--validation", type=int, default=300)
    out.add_argument("--test", type=int, default=300)
    out.add_argument("--fill", type=float, default=0.5, help="probability that a cell holds an item")
    out.add_argument("--seed", type=int, default=0)
    return out


def make_splits(args: argparse.Namespace) -> dict[str, list] | None:
    """train/validation/test mosaics for the parsed options, or None after printing why not (missing source,
    bad --fill, too many mosaics, a non-empty output folder)."""
    files = idx_files(args.source)
    if files is None:
        return None
    if not 0 < args.fill <= 1:
        print("error: --fill must be in (0, 1]", file=sys.stderr)
        return None
    if 4 * (args.train + args.validation) > 60000 or 4 * args.test > 10000:
        print("error: too many mosaics for Fashion-MNIST's 60,000 training / 10,000 test images", file=sys.stderr)
        return None
    if args.output_dir.exists() and any(args.output_dir.iterdir()):
        print(f"error: {args.output_dir} is not empty; choose an empty or new folder", file=sys.stderr)
        return None
    import numpy as np

    rng = np.random.default_rng(args.seed)
    images, labels = read_idx(files["train-images-idx3"]), read_idx(files["train-labels-idx1"])
    test_images, test_labels = read_idx(files["t10k-images-idx3"]), read_idx(files["t10k-labels-idx1"])
    half = len(images) // 2  # train mosaics from the first half of the training file, validation from the second
    return {
        "train": mosaics(images[:half], labels[:half], args.train, args.fill, rng),
        "validation": mosaics(images[half:], labels[half:], args.validation, args.fill, rng),
        "test": mosaics(test_images, test_labels, args.test, args.fill, rng),
    }


def write_split(folder: Path, rows: list, metadata) -> None:
    """PNGs ``00000.png`` … and ``metadata.jsonl`` with ``{"file_name": …, **metadata(items)}`` per mosaic."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "metadata.jsonl").open("w") as meta:
        for i, (canvas, items) in enumerate(rows):
            name = f"{i:05d}.png"
            Image.fromarray(canvas, mode="L").save(folder / name)
            meta.write(json.dumps({"file_name": name, **metadata(items)}) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n\n")[0]).parse_args(argv)
    splits = make_splits(args)
    if splits is None:
        return 2
    for split, rows in splits.items():
        write_split(args.output_dir / split, rows, lambda items: {"labels": label_set(items)})
        per_image = sum(len(label_set(p)) for _, p in rows) / max(len(rows), 1)
        empty = sum(1 for _, p in rows if not p)
        print(f"{split}: {len(rows)} mosaics, {per_image:.2f} labels per image, {empty} without any")
    return 0


if __name__ == "__main__":
    sys.exit(main())
