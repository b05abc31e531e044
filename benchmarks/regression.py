"""Regression evidence (issue #14): the offline recipe ``text/minilm_regression`` (all-MiniLM-L6-v2 on the
Debian-sizes data: log10 installed size and the number of dependencies from a package's synopsis, 2,000 / 500 /
500 rows) with strategy full, frozen and LoRA at their defaults, against two baselines per target: the training
mean (R² 0) and ridge regression on TF-IDF.

    python benchmarks/regression.py                        # every variant (~15 min on 2 cores)
    python benchmarks/regression.py --only baseline frozen # some of them
    python benchmarks/regression.py --smoke                # a check that the script works (tiny slices)

Each MiniLM variant is the recipe with ``strategy.name`` changed (every other value the task's and strategy's
defaults) and reports the package's own end-of-run test metrics, per target. Ridge: word 1-2-gram TF-IDF
(sublinear tf, fitted on train), scikit-learn ``Ridge``, ``alpha`` picked per target by validation R² from a
grid. Results go to ``benchmarks/results/regression.{md,json}`` (``--smoke``: a temporary folder).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_variants, variant_arguments  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RECIPE = REPO / "recipes" / "text" / "minilm_regression.yaml"
DATA = REPO / "recipes" / "data" / "debian_sizes"
RESULTS = HERE / "results"
TARGETS = ("log_size", "depends")
ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
VARIANTS = {
    "full": ({}, "full fine-tuning (the recipe; strategy defaults)"),
    "frozen": ({"strategy.name": "frozen"}, "frozen backbone (cached features, strategy defaults)"),
    "lora": ({"strategy.name": "lora"}, "LoRA (strategy defaults)"),
}
SMOKE = {
    "data.train_split": "train[:64]",
    "data.validation_split": "validation[:16]",
    "data.test_split": "test[:16]",
    "training.max_steps": 2,
    "training.eval_strategy": "no",
}


def read_split(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text().splitlines() if line.strip()]


def baselines(alphas=ALPHAS) -> dict:
    """Per target: the training mean, and TF-IDF ridge with alpha chosen by validation R²."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    sys.path.insert(0, str(REPO))
    from hf_transfer.metrics.regression.regression import target_scores

    tr, va, te = (read_split(s) for s in ("train", "validation", "test"))
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit([r["text"] for r in tr])
    xtr, xva, xte = (vectorizer.transform([r["text"] for r in rows]) for rows in (tr, va, te))
    start = time.perf_counter()
    out: dict = {"mean": {}, "ridge": {}}
    for t in TARGETS:
        ytr, yva, yte = (np.array([r[t] for r in rows], dtype=float) for rows in (tr, va, te))
        out["mean"][t] = target_scores(np.full_like(yte, ytr.mean()), yte)
        by_alpha = {a: target_scores(Ridge(alpha=a).fit(xtr, ytr).predict(xva), yva)["r2"] for a in alphas}
        best = max(by_alpha, key=by_alpha.get)
        out["ridge"][t] = {**target_scores(Ridge(alpha=best).fit(xtr, ytr).predict(xte), yte), "alpha": best}
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def minilm(overrides: dict, out: Path, recipe: Path = RECIPE, targets: tuple[str, ...] = TARGETS) -> dict:
    """One training run of ``recipe`` with ``overrides``: the package's own end-of-run test metrics per target."""
    import hf_transfer

    start = time.perf_counter()
    result = hf_transfer.train(str(recipe), overrides={**overrides, "training.output_dir": str(out)})
    m = result.metrics
    per_target = {t: {k: float(m[f"test_{k}_{t}"]) for k in ("mae", "rmse", "r2", "spearman")} for t in targets}
    return {
        "per_target": per_target,
        "train_epoch": m.get("train_epoch"),
        "seconds": round(time.perf_counter() - start, 1),
    }


def table(
    results: dict,
    targets: tuple[str, ...] = TARGETS,
    variants: dict = VARIANTS,
    ridge: str = "TF-IDF (1-2-grams) + ridge",
) -> str:
    """The markdown table of a regression benchmark: R², MAE and Spearman per target for every variant, the
    baseline as two rows (the training mean, and ``ridge`` with its alphas)."""
    lines = [
        "| variant | what | " + " | ".join(f"{t} R² | {t} MAE | {t} Spearman" for t in targets) + " | time (s) |",
        "|---|---|" + "---|" * (3 * len(targets)) + "---|",
    ]

    def number(value: float) -> str:
        return "n/a" if value != value else f"{value:.3f}"  # NaN: Spearman of a constant prediction

    def cells(per_target):
        return " | ".join(" | ".join(number(per_target[t][k]) for k in ("r2", "mae", "spearman")) for t in targets)

    for name, r in results.items():
        if name == "baseline":
            lines.append(f"| mean | the training mean | {cells(r['mean'])} | |")
            alphas = ", ".join(f"{t} {r['ridge'][t]['alpha']:g}" for t in targets)
            lines.append(
                f"| ridge | {ridge}, alpha by validation R² ({alphas}) | {cells(r['ridge'])} | {r['seconds']:.0f} |"
            )
        else:
            lines.append(f"| {name} | {variants[name][1]} | {cells(r['per_target'])} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = variant_arguments(__doc__.split("\n\n", 1)[0], VARIANTS, RESULTS, argv, "reg-smoke-")

    def run_one(name: str, folder: Path) -> dict:
        if name == "baseline":
            return baselines((1.0,) if args.smoke else ALPHAS)
        return minilm({**VARIANTS[name][0], **(SMOKE if args.smoke else {})}, folder)

    title = "Regression on Debian sizes, test split"
    run_variants("regression", title, args.names, run_one, table, args.results_dir, args.append, "reg-bench-")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
