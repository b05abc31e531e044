#!/usr/bin/env python3
"""Build ``python-docstrings``: a small, real text-classification dataset with longer texts.

Why this dataset exists
-----------------------
The project's committed dataset (``recipes/data/debian-sections``) holds one-line Debian package
synopses: about 11 tokens each, so with ``padding="max_length"`` at 64 tokens only ~18% of a batch is
real text, and a speed comparison between fixed and dynamic padding on it mostly measures how short
the synopses are. The long Debian descriptions are not in the package index on machines with
``Acquire::Languages "none"`` (Debian container images), so ``apt-cache dumpavail`` cannot give longer
texts. This script builds a second real dataset whose length distribution is close to that of typical
short-text benchmarks (about 40 tokens on average with all-MiniLM-L6-v2's tokenizer, ~65% real tokens
at max_length 64, roughly a quarter of the texts longer than 64 tokens):

    the prose of a public function's or class's docstring  →  the library it comes from

from the Python packages installed next to the running interpreter. The texts are human-written
documentation (nothing is generated); the labels are the six libraries ``networkx`` (graphs),
``numpy`` (arrays), ``pandas`` (data frames), ``sympy`` (symbolic maths), ``torch`` (deep learning) and
``transformers`` (pretrained models), all dependencies of hf_transfer itself (torch pulls in networkx
and sympy, datasets pulls in pandas and numpy).

What a text is
--------------
For every public (not ``_``-prefixed) function, method and class, the docstring's prose before its
first section header (Parameters, Args, Returns, Examples, …), code block, doctest or directive,
whitespace collapsed. Texts of 60–1,000 characters are kept; texts that name one of the six libraries
(``pandas``, ``np.``, ``torch``, …) are dropped so that the task is not a keyword lookup; texts found in
two libraries are dropped. Files under test/vendor folders are skipped. Docstrings are read with
``ast`` from the source files (nothing is imported), file by file in a fixed pseudo-random order until
twice the texts needed are found, so a build takes seconds, not a parse of all of torch.

How to regenerate
-----------------
    python scripts/build_docstrings_dataset.py --output-dir /tmp/python-docstrings

writes ``{train,validation,test}.jsonl`` (``{"text": ..., "label": ...}``, balanced per class) and
``README.md`` (the sizes, the package versions and a SHA-256 of the rows). The output is deterministic
for given installed package versions and ``--seed``; other versions give other rows, which is why the
benchmarks build it at run time into a temporary folder and record the versions and the hash rather
than committing it. Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import random
import re
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

# label → (package folder in site-packages, distribution name for the version)
LIBRARIES: dict[str, tuple[str, str]] = {
    "networkx": ("networkx", "networkx"),
    "numpy": ("numpy", "numpy"),
    "pandas": ("pandas", "pandas"),
    "sympy": ("sympy", "sympy"),
    "torch": ("torch", "torch"),
    "transformers": ("transformers", "transformers"),
}
SKIP_PARTS = {"tests", "test", "testing", "_vendor", "vendor", "vendored", "externals", "benchmarks"}
MIN_CHARS, MAX_CHARS = 60, 1000
SECTION = re.compile(
    r"^\s*(Parameters|Params|Args|Arguments|Returns?|Yields?|Raises|Examples?|Notes?|See Also|Attributes|References|"
    r"Keyword Arguments|Kwargs|Warnings?|Example usage|Usage|Inputs|Outputs|Shape)\s*:?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
CODE = re.compile(r">>>|::|^\s*\.\. |^\s{4,}\S|```|^\s*[-=~]{3,}\s*$", re.MULTILINE)
NAMES = re.compile(
    r"\b(networkx|nx\.|numpy|np\.|ndarray|pandas|pd\.|dataframe|sympy|torch|pytorch|transformers|"
    r"hugging ?face|🤗)",
    re.IGNORECASE,
)


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def prose(docstring: str) -> str:
    """The docstring's prose before its first section header, code block, doctest or directive."""
    head = SECTION.split(docstring, maxsplit=1)[0]
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", head.strip()):
        if CODE.search(paragraph):
            break
        paragraphs.append(re.sub(r"\s+", " ", paragraph).strip())
    return " ".join(p for p in paragraphs if p).strip()


def docstrings(folder: Path, enough: int | None = None) -> set[str]:
    """Usable texts from the package's source files, read in a fixed pseudo-random order (by a hash of the
    file's relative path, so that a partial scan still covers the whole package) until ``enough`` are found."""
    texts: set[str] = set()
    files = [p for p in folder.rglob("*.py") if not SKIP_PARTS & set(p.relative_to(folder).parts)]
    files.sort(key=lambda p: hashlib.sha1(p.relative_to(folder).as_posix().encode()).hexdigest())
    for path in files:
        if enough is not None and len(texts) >= enough:
            break
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="ignore"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith(
                "_"
            ):
                doc = ast.get_docstring(node)
                if not doc:
                    continue
                text = prose(doc)
                if MIN_CHARS <= len(text) <= MAX_CHARS and not NAMES.search(text):
                    texts.add(text)
    return texts


def build(
    output_dir: Path,
    train_per_class: int,
    validation_per_class: int,
    test_per_class: int,
    seed: int,
    root: Path | None = None,
) -> dict:
    root = root or site_packages()
    found: dict[str, set[str]] = {}
    need = train_per_class + validation_per_class + test_per_class
    versions: dict[str, str | None] = {}
    for label, (folder, dist) in LIBRARIES.items():
        path = root / folder
        if not path.is_dir():
            raise SystemExit(
                f"build_docstrings_dataset: package folder {path} not found; install {dist} "
                f"(pip install {dist}) or pass --site-packages DIR"
            )
        found[label] = docstrings(path, enough=2 * need + 200)
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    # A text found in two libraries (copied docstrings) says nothing about the library: drop it everywhere.
    counts: dict[str, int] = {}
    for texts in found.values():
        for t in texts:
            counts[t] = counts.get(t, 0) + 1
    rng = random.Random(seed)
    splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for label, texts in found.items():
        unique = sorted(t for t in texts if counts[t] == 1)
        if len(unique) < need:
            raise SystemExit(
                f"build_docstrings_dataset: only {len(unique)} usable docstrings in {label}, need {need}; "
                "ask for fewer per class"
            )
        rng.shuffle(unique)
        chosen = unique[:need]
        splits["train"] += [{"text": t, "label": label} for t in chosen[:train_per_class]]
        splits["validation"] += [
            {"text": t, "label": label} for t in chosen[train_per_class : train_per_class + validation_per_class]
        ]
        splits["test"] += [{"text": t, "label": label} for t in chosen[train_per_class + validation_per_class :]]
    output_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for name, rows in splits.items():
        rng.shuffle(rows)  # classes interleaved, so that a prefix slice (train[:640]) stays balanced-ish
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        digest.update(text.encode())
        (output_dir / f"{name}.jsonl").write_text(text, encoding="utf-8")
    info = {
        "sizes": {k: len(v) for k, v in splits.items()},
        "labels": sorted(LIBRARIES),
        "scanned_usable": {label: sum(1 for t in texts if counts[t] == 1) for label, texts in found.items()},
        "versions": versions,
        "seed": seed,
        "sha256": digest.hexdigest(),
        "python": sys.version.split()[0],
    }
    (output_dir / "README.md").write_text(
        "# python-docstrings\n\nBuilt by `scripts/build_docstrings_dataset.py` (see its docstring for what a text is).\n\n"
        f"```json\n{json.dumps(info, indent=2)}\n```\n"
    )
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", type=Path, required=True)
    p.add_argument("--train-per-class", type=int, default=334)
    p.add_argument("--validation-per-class", type=int, default=50)
    p.add_argument("--test-per-class", type=int, default=80)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--site-packages", type=Path, default=None, help="where the libraries are (default: this Python's)")
    args = p.parse_args(argv)
    info = build(
        args.output_dir,
        args.train_per_class,
        args.validation_per_class,
        args.test_per_class,
        args.seed,
        args.site_packages,
    )
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
