"""Multi-label evidence (issue #12) on two real datasets, each with strategy full, frozen and LoRA at the task's and
strategies' defaults, next to a simple baseline:

- ``--dataset debtags`` (default): the offline recipe ``text/minilm_multilabel`` (all-MiniLM-L6-v2 on the
  Debian-tags data, 12 debtags, 2,000 / 500 / 500 rows); baseline: TF-IDF + one-vs-rest logistic regression.
- ``--dataset mosaics``: ``benchmarks/recipes/fashion_mosaics.yaml`` (2×2 mosaics of Fashion-MNIST items, labels =
  the classes present, built by ``scripts/build_fashion_mosaics.py``) on an ImageNet EfficientNet-Lite0 folder
  (``--backbone``, ``--data-dir``); baseline: one-vs-rest logistic regression on the frozen backbone's pooled
  features (the very features the frozen strategy cached).

    python benchmarks/multi_label.py                       # every text variant, one after another (~30 min, 2 cores)
    python benchmarks/multi_label.py --only baseline full  # some of them
    python benchmarks/multi_label.py --dataset mosaics --backbone /tmp/bb64/efficientnet_lite0 \\
        --data-dir /tmp/data/fashion-mosaics
    python benchmarks/multi_label.py --smoke               # a check that the script works (~1 min; tiny slices)

Each variant is the recipe with a few overrides (task and strategy defaults otherwise) and reports the package's
own end-of-run test metrics (thresholds tuned on validation where ``threshold: tune``, the task's default). The
text baseline: word 1-2-gram TF-IDF (sublinear tf, fitted on train), scikit-learn
``OneVsRestClassifier(LogisticRegression)``, ``C`` (liblinear) picked by validation micro F1 from a grid, threshold
0.5; the image baseline: the same classifier on standardised frozen features. The ``*-before`` variants restore
the task's defaults before issue #12's change (head bias zero, no class weights, threshold 0.5, the strategy's
epochs). Results go to ``benchmarks/results/multi_label.{md,json}`` (``multi_label_mosaics.*`` for the images),
rewritten after every variant; training outputs to a temporary folder (``--smoke``: the results too, unless
``--results-dir``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine_facts  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RECIPE = REPO / "recipes" / "text" / "minilm_multilabel.yaml"
DATA = REPO / "recipes" / "data" / "debian_tags"
RESULTS = HERE / "results"
C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)

MOSAICS_RECIPE = HERE / "recipes" / "fashion_mosaics.yaml"
# The multi-label task's defaults before issue #12's change: a zero-started head bias, no class weights, threshold
# 0.5, and the strategy's own number of epochs (``epochs`` below: 3 for full, 5 for LoRA).
BEFORE = {"task.head_bias": "zero", "task.class_weights": None, "task.threshold": 0.5}

# name → (recipe overrides, what it shows); the recipes set only the strategy (full): everything else is the task's
# and the strategy's defaults. Threshold 0.5 needs no run of its own for a full or frozen text model: the same
# trained model is scored again on test with 0.5 for every label (rows "… @0.5").
VARIANTS: dict[str, tuple[dict, str]] = {
    "full": ({}, "full fine-tuning, defaults"),
    "frozen": ({"strategy.name": "frozen"}, "frozen backbone (cached features, exact linear probe), defaults"),
    "lora": ({"strategy.name": "lora"}, "LoRA, defaults"),
    "full-before": ({**BEFORE, "training.num_train_epochs": 3}, "full, the task's defaults before #12"),
    "full-before-tune": (
        {**BEFORE, "task.threshold": "tune", "training.num_train_epochs": 3},
        "full, the defaults before #12 but threshold tune (the recipe's setting then)",
    ),
    "full-zero-bias": ({"task.head_bias": "zero"}, "full, defaults but the head bias started at zero"),
    "full-no-cw": ({"task.class_weights": None}, "full, defaults but no class weights"),
    "full-3ep": ({"training.num_train_epochs": 3}, "full, defaults but 3 epochs (the strategy's)"),
    "lora-before": ({**BEFORE, "training.num_train_epochs": 5}, "LoRA, the task's defaults before #12"),
    "lora-zero-bias": ({"task.head_bias": "zero"}, "LoRA, defaults but the head bias started at zero"),
    "frozen-cw": ({"strategy.name": "frozen", "task.class_weights": "auto"}, "frozen, defaults + class_weights auto"),
    "frozen-before": ({**BEFORE, "strategy.name": "frozen"}, "frozen, the task's defaults before #12"),
}
DATASETS = ("debtags", "mosaics")


def read_split(name: str) -> tuple[list[str], list[list[str]]]:
    rows = [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text().splitlines() if line.strip()]
    return [r["text"] for r in rows], [r["labels"] for r in rows]


SMOKE = {
    "data.train_split": "train[:400]",  # enough rows for every label that the small validation/test slices hold
    "data.validation_split": "validation[:32]",
    "data.test_split": "test[:32]",
    "training.max_steps": 2,
    "training.eval_strategy": "no",
}


def baseline(grid: tuple[float, ...] = C_GRID) -> dict:
    """TF-IDF + one-vs-rest logistic regression, C chosen on validation (micro F1), threshold 0.5."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    (xtr, ytr), (xva, yva), (xte, yte) = (read_split(s) for s in ("train", "validation", "test"))
    binarizer = MultiLabelBinarizer().fit(ytr)
    ytr, yva, yte = (binarizer.transform(y) for y in (ytr, yva, yte))
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1).fit(xtr)
    xtr, xva, xte = (vectorizer.transform(x) for x in (xtr, xva, xte))
    start = time.perf_counter()
    scores = {}
    for c in grid:
        model = OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear")).fit(xtr, ytr)
        scores[c] = f1_score(yva, model.predict(xva), average="micro", zero_division=0)
    best = max(scores, key=scores.get)
    model = OneVsRestClassifier(LogisticRegression(C=best, solver="liblinear")).fit(xtr, ytr)
    pred = model.predict(xte)
    return {
        "test_micro_f1": float(f1_score(yte, pred, average="micro", zero_division=0)),
        "test_macro_f1": float(f1_score(yte, pred, average="macro", zero_division=0)),
        "eval_micro_f1": float(scores[best]),
        "C": best,
        "validation_micro_f1_by_C": {str(c): round(float(s), 4) for c, s in scores.items()},
        "seconds": round(time.perf_counter() - start, 1),
    }


def rescore(out: Path, threshold: float) -> dict:
    """The saved model's test micro/macro F1 with ``threshold`` for every label, and with its saved thresholds."""
    import numpy as np
    import torch
    from sklearn.metrics import f1_score
    from transformers import AutoTokenizer

    import hf_transfer

    model = hf_transfer.load_model(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    texts, sets = read_split("test")
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    truth = np.array([[n in s for n in names] for s in sets], dtype=int)
    probs = []
    with torch.no_grad():
        for i in range(0, len(texts), 128):
            batch = tokenizer(texts[i : i + 128], truncation=True, max_length=64, padding=True, return_tensors="pt")
            probs.append(model(**batch).logits.float().sigmoid().numpy())
    probs = np.concatenate(probs)
    saved = model.config.hf_transfer["thresholds"]
    out_ = {}
    for tag, t in ((str(threshold), np.full(len(names), threshold)), ("saved", np.array([saved[n] for n in names]))):
        pred = (probs >= t).astype(int)
        out_[tag] = {
            "test_micro_f1": float(f1_score(truth, pred, average="micro", zero_division=0)),
            "test_macro_f1": float(f1_score(truth, pred, average="macro", zero_division=0)),
        }
    return out_


def image_baseline(backbone: str, data_dir: str, grid: tuple[float, ...] = C_GRID, smoke: bool = False) -> dict:
    """One-vs-rest logistic regression on the frozen backbone's pooled features (the frozen strategy's feature
    cache for train, validation and test: eval-time preprocessing), standardised, C chosen on validation micro F1,
    threshold 0.5."""
    import numpy as np
    from datasets import Dataset
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import StandardScaler

    import hf_transfer
    from hf_transfer import features

    out = Path(tempfile.mkdtemp(prefix="mlr-probe-")) / "out"
    overrides = {
        **image_overrides(backbone, data_dir),
        **(SMOKE if smoke else {}),
        "strategy.name": "frozen",
        "training.output_dir": str(out),
        "training.eval_strategy": "no",
    }
    hf_transfer.train(str(MOSAICS_RECIPE), overrides=overrides)
    report = json.loads((out / "training_report.json").read_text())["strategy"]
    entries = {e["key"]: e for e in features.list_entries()}
    arrays = {}
    for split in ("train", "validation", "test"):
        rows = Dataset.from_file(f"{entries[report['feature_cache'][split]['key']]['path']}/{features.DATA}")
        rows = rows.with_format("numpy")[:]
        arrays[split] = (rows["features"].astype("float32"), (np.asarray(rows["labels"]) > 0.5).astype(int))
    scaler = StandardScaler().fit(arrays["train"][0])
    (xtr, ytr), (xva, yva), (xte, yte) = ((scaler.transform(x), y) for x, y in arrays.values())
    start = time.perf_counter()
    scores = {}
    for c in grid:
        model = OneVsRestClassifier(LogisticRegression(C=c, max_iter=2000)).fit(xtr, ytr)
        scores[c] = f1_score(yva, model.predict(xva), average="micro", zero_division=0)
    best = max(scores, key=scores.get)
    model = OneVsRestClassifier(LogisticRegression(C=best, max_iter=2000)).fit(xtr, ytr)
    pred = model.predict(xte)
    return {
        "test_micro_f1": float(f1_score(yte, pred, average="micro", zero_division=0)),
        "test_macro_f1": float(f1_score(yte, pred, average="macro", zero_division=0)),
        "eval_micro_f1": float(scores[best]),
        "C": best,
        "validation_micro_f1_by_C": {str(c): round(float(s), 4) for c, s in scores.items()},
        "seconds": round(time.perf_counter() - start, 1),
    }


def image_overrides(backbone: str, data_dir: str) -> dict:
    return {"backbone.name_or_path": backbone, "data.data_dir": data_dir}


def minilm(overrides: dict, out: Path, recipe: Path = RECIPE) -> dict:
    import hf_transfer

    start = time.perf_counter()
    result = hf_transfer.train(str(recipe), overrides={**overrides, "training.output_dir": str(out)})
    seconds = round(time.perf_counter() - start, 1)
    m = result.metrics
    keys = ("test_micro_f1", "test_macro_f1", "eval_micro_f1", "eval_macro_f1", "test_samples_f1", "train_epoch")
    record = {k: float(m[k]) for k in keys if k in m}
    record["seconds"] = seconds
    record["threshold"] = result.recipe.to_dict()["task"].get("threshold")
    record["defaults"] = {k: v["value"] for k, v in (result.training_defaults or {}).items()}
    record["class_weights"] = (result.class_weights or {}).get("mode")
    if recipe == RECIPE and (out / "config.json").is_file() and not (out / "adapter_config.json").is_file():
        try:
            record["rescored"] = rescore(out, 0.5)
        except Exception as e:  # keep the run's own figures
            record["rescore_error"] = f"{type(e).__name__}: {e}"
    return record


def table(results: dict, dataset: str = "debtags") -> str:
    lines = [
        "| variant | what | test micro F1 | test macro F1 | validation micro F1 | time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        features = "TF-IDF (1-2-grams)" if dataset == "debtags" else "frozen pooled features (standardised)"
        what = f"{features} + one-vs-rest logistic regression, C={r.get('C')} (validation), threshold 0.5"
        what = what if name == "baseline" else VARIANTS[name][1] if name in VARIANTS else name
        lines.append(
            f"| {name} | {what} | {r['test_micro_f1']:.3f} | {r['test_macro_f1']:.3f} | "
            f"{r.get('eval_micro_f1', float('nan')):.3f} | {r['seconds']:.0f} |"
        )
        at_half = r.get("rescored", {}).get("0.5")
        if at_half:
            lines.append(
                f"| {name} @0.5 | the same model, threshold 0.5 for every label | {at_half['test_micro_f1']:.3f} | "
                f"{at_half['test_macro_f1']:.3f} | | |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--only", nargs="+", choices=["baseline", *VARIANTS], help="run only these variants")
    parser.add_argument("--results-dir", type=Path, default=None, help=f"default: {RESULTS}")
    parser.add_argument("--append", action="store_true", help="add to the results already in --results-dir")
    parser.add_argument("--smoke", action="store_true", help="tiny slices, 2 steps: checks that the script works")
    parser.add_argument("--dataset", choices=DATASETS, default="debtags")
    parser.add_argument("--backbone", default="/tmp/bb64/efficientnet_lite0", help="mosaics: the image backbone")
    parser.add_argument("--data-dir", default="/tmp/data/fashion-mosaics", help="mosaics: the data folder")
    args = parser.parse_args(argv)
    stem = "multi_label" if args.dataset == "debtags" else "multi_label_mosaics"
    title = (
        "Multi-label on Debian tags"
        if args.dataset == "debtags"
        else f"Multi-label on Fashion-MNIST mosaics ({Path(args.backbone).name})"
    )
    names = args.only or (["baseline", "frozen"] if args.smoke else ["baseline", *VARIANTS])
    smoke_dir = tempfile.TemporaryDirectory(prefix="mlr-smoke-") if args.smoke else None
    args.results_dir = args.results_dir or (Path(smoke_dir.name) if smoke_dir else RESULTS)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "machine": machine_facts(),
        "avx512": "avx512f" in Path("/proc/cpuinfo").read_text(),
        "results": {},
    }
    previous = args.results_dir / f"{stem}.json"
    if args.append and previous.is_file():
        old = json.loads(previous.read_text())
        record["results"] = old["results"]
        record["date"] = f"{old['date']} (+ {', '.join(names)}: {record['date']})"
        record["command"] = f"{old['command']}; {record['command']}"
    with tempfile.TemporaryDirectory(prefix="mlr-bench-") as tmp:
        os.environ.setdefault("HF_TRANSFER_CACHE", str(Path(tmp) / "cache"))
        for name in names:
            print(f"--- {name}", flush=True)
            grid = (10.0,) if args.smoke else C_GRID
            smoke = SMOKE if args.smoke else {}
            if name == "baseline" and args.dataset == "debtags":
                r = baseline(grid)
            elif name == "baseline":
                r = image_baseline(args.backbone, args.data_dir, grid, args.smoke)
            elif args.dataset == "debtags":
                r = minilm({**VARIANTS[name][0], **smoke}, Path(tmp) / name)
            else:
                overrides = {**image_overrides(args.backbone, args.data_dir), **VARIANTS[name][0], **smoke}
                r = minilm(overrides, Path(tmp) / name, MOSAICS_RECIPE)
            record["results"][name] = r
            print(json.dumps(r), flush=True)
            (args.results_dir / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
            (args.results_dir / f"{stem}.md").write_text(
                f"{title} ({record['date']}; {record['machine']['cpu_model']})\n\n"
                + table(record["results"], args.dataset)
                + "\n"
            )
    print(table(record["results"], args.dataset))
    print(f"results: {args.results_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
