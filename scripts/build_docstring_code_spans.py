#!/usr/bin/env python3
"""Build ``docstring_code``: a small, real token-classification dataset (offline): code in English prose.

What it is
----------
Authors of Python's standard library mark code inside their prose: ``double backquotes``, `single
backquotes` and reST roles such as :func:`os.path.join` or :class:`~collections.OrderedDict`. This script
takes the docstrings of the standard library that use such markup, removes the markup and keeps, per word,
whether it was inside a marked span: ``B-CODE`` / ``I-CODE`` (IOB2) or ``O``. The task — find the code in a
sentence of documentation, as an editor would mark it — is word tagging on human annotations (the authors'
own markup), with the usual difficulties: names that are also English words (``open``, ``list``, ``type``),
spans of several words (``None`` vs ``x is None``), and unmarked code (a docstring that marks some code does
not always mark all; that noise is real and stays).

Rows: ``{"tokens": [...], "tags": [...]}``, one sentence each:

* from the ``.py`` files of the running interpreter's standard library (``sysconfig`` "stdlib"), test,
  ``idlelib``, ``lib2to3`` and ``site-packages`` folders skipped, read with ``ast`` (nothing is imported);
* only docstrings that use the markup at least once; per paragraph (doctest lines ``>>>``, indented blocks
  and reST directives dropped), whitespace collapsed, cut into sentences at ``. `` boundaries;
* words are split at whitespace, with leading/trailing punctuation ``()[],.;:!?"'`` as tokens of their own
  outside a span; inside a span the words keep their characters (``os.path.join(a,``);
* sentences of 5-40 tokens, unique (case-sensitive), sorted, shuffled with ``--seed``, cut into
  train/validation/test (default 900/200/200: the standard library has about 1,300 such sentences). The output is identical for a given Python version and seed.

Regenerate with ``python scripts/build_docstring_code_spans.py``. Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import sys
import sysconfig
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = REPO_ROOT / "recipes" / "data" / "docstring_code"
SPLITS = ("train", "validation", "test")
DEFAULT_SIZES = {"train": 900, "validation": 200, "test": 200}
SKIP_PARTS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "__pycache__", "turtledemo"}
# ``code``, :role:`code` (role and ~ dropped, "text <target>" → text), `code`
SPAN = re.compile(r"``(?P<a>[^`]+?)``|:[\w:.-]+:`(?P<b>[^`]+?)`|(?<![`\w])`(?P<c>[^`\s][^`]*?)`(?![`\w])")
PUNCT = "()[],.;:!?\"'"
MIN_TOKENS, MAX_TOKENS = 5, 40


def _role_text(text: str) -> str:
    text = text.strip().lstrip("~!")
    match = re.match(r"^(.*?)\s*<[^>]+>$", text)
    return (match.group(1) if match and match.group(1) else text).strip()


def _plain_tokens(text: str) -> list[str]:
    out = []
    for word in text.split():
        lead = []
        while word and word[0] in PUNCT:
            lead.append(word[0])
            word = word[1:]
        trail = []
        while word and word[-1] in PUNCT:
            trail.append(word[-1])
            word = word[:-1]
        out += lead + ([word] if word else []) + trail[::-1]
    return out


def tag_sentence(sentence: str) -> tuple[list[str], list[str]]:
    """Words and IOB2 tags of one marked-up sentence (markup removed)."""
    tokens: list[str] = []
    tags: list[str] = []
    position = 0
    for match in SPAN.finditer(sentence):
        before = _plain_tokens(sentence[position : match.start()])
        tokens += before
        tags += ["O"] * len(before)
        code = match.group("a") or match.group("c") or _role_text(match.group("b") or "")
        words = code.split()
        tokens += words
        tags += [("B-CODE" if i == 0 else "I-CODE") for i in range(len(words))]
        position = match.end()
    rest = _plain_tokens(sentence[position:])
    return tokens + rest, tags + ["O"] * len(rest)


def sentences_of(docstring: str) -> list[str]:
    out = []
    for paragraph in re.split(r"\n\s*\n", docstring):
        lines = paragraph.splitlines()
        if not lines or any(line.lstrip().startswith((">>>", "..", "...")) for line in lines):
            continue
        if lines[0].startswith((" ", "\t")) or lines[-1].rstrip().endswith("::"):
            continue  # an indented (code) block, or the line that introduces one
        text = " ".join(line.strip() for line in lines)
        out += [s.strip() for s in re.split(r"(?<=[a-z)`'\"]\.)\s+(?=[A-Z`(])", text) if s.strip()]
    return out


def stdlib_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if not (set(p.relative_to(root).parts[:-1]) & SKIP_PARTS))


def build_rows(files: list[Path]) -> list[dict]:
    seen, rows = set(), []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node, clean=True)
            if not doc or not SPAN.search(doc):
                continue
            for sentence in sentences_of(doc):
                tokens, tags = tag_sentence(sentence)
                key = " ".join(tokens)
                if MIN_TOKENS <= len(tokens) <= MAX_TOKENS and key not in seen:
                    seen.add(key)
                    rows.append({"tokens": tokens, "tags": tags})
    return sorted(rows, key=lambda r: " ".join(r["tokens"]))


def split_rows(rows: list[dict], sizes: dict[str, int], seed: int) -> dict[str, list[dict]]:
    needed = sum(sizes.values())
    if len(rows) < needed:
        sys.exit(f"error: {len(rows)} usable sentences, {needed} needed; pass smaller sizes")
    pool = list(rows)
    random.Random(seed).shuffle(pool)
    out, start = {}, 0
    for split in SPLITS:
        out[split] = pool[start : start + sizes[split]]
        start += sizes[split]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--stdlib", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--seed", type=int, default=0)
    for split in SPLITS:
        parser.add_argument(f"--{split}-size", type=int, default=DEFAULT_SIZES[split])
    args = parser.parse_args(argv)
    rows = build_rows(stdlib_files(args.stdlib))
    print(f"{len(rows)} sentences from the docstrings of {args.stdlib} (Python {sys.version.split()[0]})")
    splits = split_rows(rows, {s: getattr(args, f"{s}_size") for s in SPLITS}, args.seed)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for split, split_rows_ in splits.items():
        with (args.output_dir / f"{split}.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
            for row in split_rows_:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts = Counter(t for r in split_rows_ for t in r["tags"])
        spans = counts["B-CODE"]
        with_code = sum(1 for r in split_rows_ if "B-CODE" in r["tags"])
        print(
            f"{split}: {len(split_rows_)} sentences, {sum(counts.values())} words, {spans} code spans, {with_code} with code"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
