"""The scripts that build the offline real-data fixtures parse a dump as documented."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _script(name: str):
    """scripts/<name>.py as a module (they run apt-cache only from main())."""
    sys.path.insert(0, str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


SIZES_DUMP = """\
Package: zeta-game
Source: zeta (1.0-1)
Installed-Size: 1000
Depends: libc6 (>= 2.34), libsdl2-2.0-0, zeta-data | zeta-data-lite
Description: Galaga-like arcade game

Package: zeta-data
Source: zeta
Installed-Size: 52000
Description: data files for zeta

Package: alpha-doc
Installed-Size: 10
Description: documentation for alpha
 This long description's first sentence is kept. Not this one.

Package: nosize
Description: a package without a size

Package: twin
Installed-Size: 5
Description: Documentation for alpha
"""


def test_build_debian_sizes_rows_targets_and_splits(tmp_path):
    mod = _script("build_debian_sizes")
    packages = mod.parse_packages(SIZES_DUMP.splitlines(keepends=True))
    assert [p.name for p, _, _ in packages] == ["zeta-game", "zeta-data", "alpha-doc", "twin"]  # nosize: dropped
    rows = mod.build_rows(packages)
    # zeta-data shares zeta-game's source (zeta-data comes first by name); twin's text repeats alpha-doc's
    # synopsis only without the long description, so both stay
    assert [r["package"] for r in rows] == ["alpha-doc", "twin", "zeta-data"]
    by_name = {r["package"]: r for r in rows}
    assert by_name["alpha-doc"]["text"] == "documentation for alpha. This long description's first sentence is kept."
    assert by_name["zeta-data"]["log_size"] == round(math.log10(52000), 4) and by_name["zeta-data"]["depends"] == 0
    game = mod.build_rows([p for p in packages if p[0].name == "zeta-game"])[0]
    assert game["log_size"] == 3.0 and game["depends"] == 3  # an alternative a | b counts once

    mod.main(["--input", str(_write(tmp_path, SIZES_DUMP)), "--output-dir", str(tmp_path / "out"),
              "--train-size", "1", "--validation-size", "1", "--test-size", "1"])  # fmt: skip
    written = [
        json.loads(line) for s in ("train", "validation", "test") for line in (tmp_path / "out" / f"{s}.jsonl").open()
    ]
    assert sorted(r["text"] for r in written) == sorted(r["text"] for r in rows)
    assert all(set(r) == {"text", "log_size", "depends"} for r in written)


def _write(tmp_path, text):
    path = tmp_path / "dump.txt"
    path.write_text(text)
    return path


def test_build_docstring_code_spans_tags_the_marked_code(tmp_path):
    mod = _script("build_docstring_code_spans")
    tokens, tags = mod.tag_sentence("Call :func:`~os.path.join` (or ``a + b``) on `x`, then stop.")
    assert tokens == ["Call", "os.path.join", "(", "or", "a", "+", "b", ")", "on", "x", ",", "then", "stop", "."]
    assert tags == ["O", "B-CODE", "O", "O", "B-CODE", "I-CODE", "I-CODE", "O", "O", "B-CODE", "O", "O", "O", "O"]
    assert mod.tag_sentence("See :class:`the dict <dict>` here")[0] == ["See", "the", "dict", "here"]
    doc = "First sentence uses ``x``. Second one too.\n\nExample::\n\n    >>> x = 1\n\nLast paragraph."
    assert mod.sentences_of(doc) == ["First sentence uses ``x``.", "Second one too.", "Last paragraph."]
    lib = tmp_path / "lib"
    (lib / "test").mkdir(parents=True)
    (lib / "mod.py").write_text('def f():\n    """Return ``None`` when the value is missing here."""\n')
    (lib / "test" / "t.py").write_text('def g():\n    """Skipped ``test`` folder sentence is here."""\n')
    (lib / "plain.py").write_text('def h():\n    """No markup at all in this docstring here."""\n')
    rows = mod.build_rows(mod.stdlib_files(lib))
    assert rows == [
        {"tokens": ["Return", "None", "when", "the", "value", "is", "missing", "here", "."],
         "tags": ["O", "B-CODE", "O", "O", "O", "O", "O", "O", "O"]}
    ]  # fmt: skip


def _fake_fashion_mnist(folder: Path, train: int, test: int) -> None:
    """Tiny idx files in Fashion-MNIST's layout: item i of class c is a 28×28 square of value 10 + 20·c."""
    import gzip

    import numpy as np

    folder.mkdir(parents=True)
    for prefix, n in (("train", train), ("t10k", test)):
        labels = (np.arange(n) * 7 % 10).astype(np.uint8)
        images = np.repeat((10 + 20 * labels)[:, None, None], 28, 1).repeat(28, 2).astype(np.uint8)
        for name, magic, array in (("images-idx3", 3, images), ("labels-idx1", 1, labels)):
            header = bytes([0, 0, 8, magic]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
            with gzip.open(folder / f"{prefix}-{name}-ubyte.gz", "wb") as f:
                f.write(header + array.tobytes())


def test_build_fashion_counts_targets_count_the_items_drawn_in_each_mosaic(tmp_path):
    """Each mosaic's ``items`` and ``footwear`` equal what its pixels show: filled cells, and cells whose class is a
    sandal, sneaker or ankle boot (read back from the cell's grey level)."""
    import numpy as np
    from PIL import Image

    mod = _script("build_fashion_counts")
    assert mod.targets([]) == {"items": 0.0, "footwear": 0.0}
    assert mod.targets(["sandal", "bag", "ankle_boot", "sandal"]) == {"items": 4.0, "footwear": 3.0}
    source, out = tmp_path / "idx", tmp_path / "out"
    _fake_fashion_mnist(source, train=200, test=60)
    args = ["--source", str(source), "--output-dir", str(out), "--train", "12", "--validation", "8", "--test", "6"]
    assert mod.main(args) == 0
    classes = _script("build_fashion_mnist").CLASSES
    seen_footwear = 0
    for split, n in (("train", 12), ("validation", 8), ("test", 6)):
        rows = [json.loads(line) for line in (out / split / "metadata.jsonl").open()]
        assert len(rows) == n and all(set(r) == {"file_name", "items", "footwear"} for r in rows)
        for row in rows:
            pixels = np.asarray(Image.open(out / split / row["file_name"]))
            cells = [int(pixels[r * 28 + 14, c * 28 + 14]) for r in (0, 1) for c in (0, 1)]
            drawn = [classes[(v - 10) // 20] for v in cells if v]
            footwear = sum(name in ("sandal", "sneaker", "ankle_boot") for name in drawn)
            assert (row["items"], row["footwear"]) == (float(len(drawn)), float(footwear))
            seen_footwear += footwear
    assert seen_footwear > 0  # the check above saw both kinds of item
    assert mod.main(args) == 2  # a non-empty output folder is refused, nothing overwritten
