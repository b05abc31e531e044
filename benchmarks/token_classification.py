"""Token-classification evidence (issue #14): the offline recipe ``text/minilm_code_spans`` (all-MiniLM-L6-v2
finding the code marked in the standard library's docstrings, B-CODE/I-CODE/O, 900 / 200 / 200 sentences) with
strategy full, frozen and LoRA at their defaults, against the most-frequent-tag-per-word baseline.

    python benchmarks/token_classification.py                        # every variant
    python benchmarks/token_classification.py --only baseline frozen # some of them
    python benchmarks/token_classification.py --smoke                # a check that the script works

Each MiniLM variant is the recipe with ``strategy.name`` changed and reports the package's own end-of-run test
metrics: strict entity precision/recall/F1 and token accuracy. Baseline: each word gets the tag it has most
often in train (``O`` for a word train never has), scored by the same metric module. Results go to
``benchmarks/results/token_classification.{md,json}`` (``--smoke``: a temporary folder).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_variants, variant_arguments  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RECIPE = REPO / "recipes" / "text" / "minilm_code_spans.yaml"
DATA = REPO / "recipes" / "data" / "docstring_code"
RESULTS = HERE / "results"
METRICS = ("f1", "precision", "recall", "token_accuracy")
VARIANTS = {
    "full": ({}, "full fine-tuning (the recipe; strategy defaults)"),
    "frozen": ({"strategy.name": "frozen"}, "frozen backbone (strategy defaults)"),
    "lora": ({"strategy.name": "lora"}, "LoRA (strategy defaults)"),
}
SMOKE = {
    "data.train_split": "train[:32]",
    "data.validation_split": "validation[:8]",
    "data.test_split": "test[:8]",
    "training.max_steps": 2,
    "training.eval_strategy": "no",
}


def read_split(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text().splitlines() if line.strip()]


def baseline() -> dict:
    """Most frequent training tag per word; O for unseen words."""
    sys.path.insert(0, str(REPO))
    from hf_transfer.metrics.token_classification.token_classification import scores

    start = time.perf_counter()
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in read_split("train"):
        for word, tag in zip(row["tokens"], row["tags"]):
            counts[word][tag] += 1
    test = read_split("test")
    predicted = [[counts[w].most_common(1)[0][0] if w in counts else "O" for w in r["tokens"]] for r in test]
    report = scores(predicted, [r["tags"] for r in test])
    return {**{k: report[k] for k in METRICS}, "seconds": round(time.perf_counter() - start, 1)}


def minilm(overrides: dict, out: Path) -> dict:
    import hf_transfer

    start = time.perf_counter()
    result = hf_transfer.train(str(RECIPE), overrides={**overrides, "training.output_dir": str(out)})
    record = {k: float(result.metrics[f"test_{k}"]) for k in METRICS if f"test_{k}" in result.metrics}
    return {
        **record,
        "train_epoch": result.metrics.get("train_epoch"),
        "seconds": round(time.perf_counter() - start, 1),
    }


def table(results: dict) -> str:
    lines = [
        "| variant | what | entity F1 | precision | recall | token accuracy | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        what = "most frequent training tag per word (O if unseen)" if name == "baseline" else VARIANTS[name][1]
        lines.append(
            f"| {name} | {what} | "
            + " | ".join(f"{r[k]:.3f}" if k in r else "" for k in METRICS)
            + f" | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = variant_arguments(__doc__.split("\n\n", 1)[0], VARIANTS, RESULTS, argv, "tok-smoke-")

    def run_one(name: str, folder: Path) -> dict:
        if name == "baseline":
            return baseline()
        return minilm({**VARIANTS[name][0], **(SMOKE if args.smoke else {})}, folder)

    title = "Token classification on docstring code spans, test split"
    run_variants("token_classification", title, args.names, run_one, table, args.results_dir, args.append, "tok-bench-")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
