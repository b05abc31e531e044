"""Build a small real image-classification set from a Debian icon theme: each icon labelled by its context.

Icon themes sort their icons by context (``apps``, ``devices``, ``mimetypes``, ``places``, ``status``,
``actions`` …), which makes a real 6-class image task from a domain far from ImageNet (flat-shaded,
transparent artwork). Source: the Debian package ``oxygen-icon-theme`` (``apt-get install oxygen-icon-theme``;
PNGs in /usr/share/icons/oxygen/base/<size>/<context>/).

Each icon appears once, at the largest size the theme has for it (48 px at least), composited onto white
(the icons are RGBA; dropping the alpha channel instead would leave the colours of invisible pixels).
Aliases (symbolic links) and byte-identical copies are skipped, so no image is in two splits. Icons are
assigned to train/validation/test by a hash of their name (stable across runs and machines).

    python scripts/build_debian_icons.py --output-dir data/debian-icons
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

SOURCE = Path("/usr/share/icons/oxygen/base")
CONTEXTS = ("actions", "apps", "devices", "mimetypes", "places", "status")
SIZES = ("256x256", "128x128", "64x64", "48x48")


def split_of(name: str, validation: float, test: float) -> str:
    """A stable split for an icon name: its SHA-1 as a number in [0, 1)."""
    u = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 2**32
    return "test" if u < test else "validation" if u < test + validation else "train"


def icons(source: Path) -> dict[str, dict[str, Path]]:
    """context → icon name → the largest real (not linked) PNG of it."""
    found: dict[str, dict[str, Path]] = {c: {} for c in CONTEXTS}
    for size in SIZES:  # largest first: the first size seen for a name wins
        for context in CONTEXTS:
            folder = source / size / context
            for path in sorted(folder.glob("*.png")) if folder.is_dir() else []:
                if not path.is_symlink():
                    found[context].setdefault(path.stem, path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--validation", type=float, default=0.2)
    parser.add_argument("--test", type=float, default=0.2)
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(
            f"error: icon theme not found at {args.source}. Fix: apt-get install oxygen-icon-theme, or pass "
            "--source <theme>/base",
            file=sys.stderr,
        )
        return 2
    if args.output_dir.exists() and any(args.output_dir.iterdir()):
        print(f"error: {args.output_dir} is not empty; choose an empty or new folder", file=sys.stderr)
        return 2
    from PIL import Image

    seen: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    for context, named in icons(args.source).items():
        for name, path in sorted(named.items()):
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            split = split_of(name, args.validation, args.test)
            image = Image.open(path).convert("RGBA")
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            out = args.output_dir / split / context / f"{name}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.alpha_composite(white, image).convert("RGB").save(out)
            counts.setdefault(split, {}).setdefault(context, 0)
            counts[split][context] += 1
    for split in ("train", "validation", "test"):
        per = counts.get(split, {})
        print(f"{split}: {sum(per.values())} images ({', '.join(f'{c} {n}' for c, n in sorted(per.items()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
