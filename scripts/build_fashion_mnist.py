"""Build a small real image-classification set from Fashion-MNIST, in the ``imagefolder`` layout.

Source: the Debian package ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``), which puts
the original idx files in /usr/share/datasets/fashion-mnist. Writes ``OUTPUT/{train,validation,test}/<class>/
<index>.png`` (28×28 greyscale PNGs, class names as Zalando published them), taking the first ``--train``
images of the training file, the next ``--validation`` images of it, and the first ``--test`` images of the
test file (the files are already in random order), so a recipe uses it with
``data: {source: imagefolder, path: OUTPUT}``.

    python scripts/build_fashion_mnist.py --output-dir data/fashion-mnist --train 2000 --validation 1000 --test 1000
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

CLASSES = ("t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot")
SOURCE = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path):
    """An idx file (the MNIST format: magic, dimension sizes big-endian, then uint8 data) as a numpy array."""
    import numpy as np

    data = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def idx_files(source: Path) -> dict[str, Path] | None:
    """The four Fashion-MNIST idx files under ``source`` by name; None (after saying what to do) if any is missing."""
    files = {
        name: source / f"{name}-ubyte.gz"
        for name in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")
    }
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        print(
            f"error: Fashion-MNIST idx files not found: {', '.join(missing)}. "
            "Fix: apt-get install dataset-fashion-mnist, or pass --source DIR",
            file=sys.stderr,
        )
        return None
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--validation", type=int, default=1000)
    parser.add_argument("--test", type=int, default=1000)
    args = parser.parse_args(argv)
    files = idx_files(args.source)
    if files is None:
        return 2
    if args.train + args.validation > 60000 or args.test > 10000:
        print("error: Fashion-MNIST has 60,000 training and 10,000 test images", file=sys.stderr)
        return 2
    if args.output_dir.exists() and any(args.output_dir.iterdir()):
        print(f"error: {args.output_dir} is not empty; choose an empty or new folder", file=sys.stderr)
        return 2
    from PIL import Image

    images, labels = read_idx(files["train-images-idx3"]), read_idx(files["train-labels-idx1"])
    test_images, test_labels = read_idx(files["t10k-images-idx3"]), read_idx(files["t10k-labels-idx1"])
    n, m = args.train, args.validation
    splits = {
        "train": (images[:n], labels[:n], 0),
        "validation": (images[n : n + m], labels[n : n + m], n),
        "test": (test_images[: args.test], test_labels[: args.test], 0),
    }
    for split, (x, y, offset) in splits.items():
        for name in CLASSES:
            (args.output_dir / split / name).mkdir(parents=True, exist_ok=True)
        for i, (image, label) in enumerate(zip(x, y)):
            Image.fromarray(image, mode="L").save(args.output_dir / split / CLASSES[label] / f"{offset + i:05d}.png")
        print(f"{split}: {len(x)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
