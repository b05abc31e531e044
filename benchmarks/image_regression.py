"""Image-regression evidence (issue #14): ``benchmarks/recipes/fashion_counts.yaml`` (2×2 mosaics of real
Fashion-MNIST items with two count targets, ``items`` 0–4 and ``footwear``, the sandals, sneakers and ankle boots
among them; built by ``scripts/build_fashion_counts.py``) on an image backbone, with strategy full, frozen and
LoRA at their defaults, against two baselines per target: the training mean (R² 0) and ridge regression on the
frozen backbone's pooled features.

    python scripts/build_fashion_counts.py --output-dir /tmp/data/fashion-counts --train 1000 --validation 300 --test 500
    python benchmarks/image_regression.py --backbone /tmp/bb64/efficientnet_lite0 --data-dir /tmp/data/fashion-counts
    python benchmarks/image_regression.py --smoke --backbone B --data-dir D   # a check that the script works

Each variant is the recipe with ``strategy.name`` changed (every other value the task's and strategy's defaults)
and reports the package's own end-of-run test metrics, per target. Ridge: the features the frozen strategy caches
(eval-time preprocessing, pooled), standardised, scikit-learn ``Ridge`` with ``alpha`` picked per target by
validation R² from a grid, targets in the data's units. Results go to
``benchmarks/results/image_regression.{md,json}`` (``--smoke``: a temporary folder).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_variants, variant_arguments  # noqa: E402
from regression import minilm as train_variant  # noqa: E402
from regression import table as regression_table  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RECIPE = HERE / "recipes" / "fashion_counts.yaml"
RESULTS = HERE / "results"
TARGETS = ("items", "footwear")
ALPHAS = (1.0, 10.0, 100.0, 1000.0, 3000.0, 10000.0)
VARIANTS = {
    "full": ({}, "full fine-tuning (the recipe; strategy defaults)"),
    "frozen": ({"strategy.name": "frozen"}, "frozen backbone (cached features, strategy defaults)"),
    "lora": ({"strategy.name": "lora"}, "LoRA (strategy defaults)"),
}
SMOKE = {
    "data.train_split": "train[:16]",
    "data.validation_split": "validation[:8]",
    "data.test_split": "test[:8]",
    "training.max_steps": 2,
    "training.per_device_train_batch_size": 8,
    "training.per_device_eval_batch_size": 8,
}


def split_targets(data_dir: Path, split: str) -> dict[str, list[float]]:
    """The targets of one split, in file order (the image folder's row order: its files sorted by name)."""
    rows = [json.loads(line) for line in (data_dir / split / "metadata.jsonl").read_text().splitlines() if line]
    rows.sort(key=lambda r: r["file_name"])
    return {t: [float(r[t]) for r in rows] for t in TARGETS}


def baselines(backbone: str, data_dir: str, alphas=ALPHAS, smoke: bool = False) -> dict:
    """Per target: the training mean, and ridge on the frozen strategy's cached pooled features (a frozen run
    fills the cache; its rows follow the split's order, so the targets are read from the metadata files)."""
    import numpy as np
    from datasets import Dataset
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    import hf_transfer
    from hf_transfer import features
    from hf_transfer.metrics.regression.regression import target_scores

    out = Path(tempfile.mkdtemp(prefix="ireg-probe-")) / "out"
    overrides = {
        "backbone.name_or_path": backbone,
        "data.data_dir": data_dir,
        **(SMOKE if smoke else {}),
        "strategy.name": "frozen",
        "training.output_dir": str(out),
    }
    hf_transfer.train(str(RECIPE), overrides=overrides)
    report = json.loads((out / "training_report.json").read_text())["strategy"]
    entries = {e["key"]: e for e in features.list_entries()}
    x, y = {}, {}
    for split in ("train", "validation", "test"):
        rows = Dataset.from_file(f"{entries[report['feature_cache'][split]['key']]['path']}/{features.DATA}")
        x[split] = np.asarray(rows.with_format("numpy")["features"], dtype=np.float64)
        targets = split_targets(Path(data_dir), split)
        y[split] = {t: np.asarray(v[: len(rows)]) for t, v in targets.items()}
    scaler = StandardScaler().fit(x["train"])
    xtr, xva, xte = (scaler.transform(x[s]) for s in ("train", "validation", "test"))
    start = time.perf_counter()
    result: dict = {"mean": {}, "ridge": {}}
    for t in TARGETS:
        ytr, yva, yte = y["train"][t], y["validation"][t], y["test"][t]
        result["mean"][t] = target_scores(np.full_like(yte, ytr.mean()), yte)
        by_alpha = {a: target_scores(Ridge(alpha=a).fit(xtr, ytr).predict(xva), yva)["r2"] for a in alphas}
        best = max(by_alpha, key=by_alpha.get)
        result["ridge"][t] = {**target_scores(Ridge(alpha=best).fit(xtr, ytr).predict(xte), yte), "alpha": best}
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["features"] = int(x["train"].shape[1])
    return result


def table(results: dict) -> str:
    return regression_table(results, TARGETS, VARIANTS, "standardised frozen pooled features + ridge")


def main(argv: list[str] | None = None) -> int:
    def extra(parser) -> None:
        parser.add_argument("--backbone", default="/tmp/bb64/efficientnet_lite0", help="the image backbone")
        parser.add_argument("--data-dir", default="/tmp/data/fashion-counts", help="scripts/build_fashion_counts.py")

    args = variant_arguments(__doc__.split("\n\n", 1)[0], VARIANTS, RESULTS, argv, "ireg-smoke-", extra)
    where = {"backbone.name_or_path": args.backbone, "data.data_dir": args.data_dir}

    def run_one(name: str, folder: Path) -> dict:
        if name == "baseline":
            return baselines(args.backbone, args.data_dir, (10.0,) if args.smoke else ALPHAS, args.smoke)
        overrides = {**where, **VARIANTS[name][0], **(SMOKE if args.smoke else {})}
        return train_variant(overrides, folder, RECIPE, TARGETS)

    title = f"Image regression on Fashion-MNIST counts ({Path(args.backbone).name}), test split"
    run_variants("image_regression", title, args.names, run_one, table, args.results_dir, args.append, "ireg-bench-")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
