"""Multi-label evidence (issue #12): the offline recipe ``text/minilm_multilabel`` (all-MiniLM-L6-v2 on the
Debian-tags data, 12 debtags, 2,000 / 500 / 500 rows) with strategy full, frozen and LoRA, ``task.threshold``
tune vs 0.5, ``task.class_weights: auto``, against a TF-IDF + one-vs-rest logistic regression baseline.

    python benchmarks/multi_label.py                       # every variant, one after another (~15 min, 2 cores)
    python benchmarks/multi_label.py --only baseline full  # some of them
    python benchmarks/multi_label.py --smoke               # a check that the script works (~1 min; tiny slices)

Each MiniLM variant is the recipe with a few overrides (strategy defaults otherwise) and reports the package's
own end-of-run test metrics (thresholds tuned on validation where ``threshold: tune``). The baseline: word
1-2-gram TF-IDF (sublinear tf, fitted on train), scikit-learn ``OneVsRestClassifier(LogisticRegression)``,
``C`` (liblinear) picked by validation micro F1 from a grid, threshold 0.5. Results go to
``benchmarks/results/multi_label.{md,json}``, rewritten after every variant; training outputs to a
temporary folder (``--smoke``: the results too, unless ``--results-dir``).
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

# name → (recipe overrides, what it shows); the recipe itself is full + threshold: tune. Threshold 0.5 needs no
# run of its own: the same trained model is scored again on test with 0.5 for every label (rows "… @0.5").
VARIANTS: dict[str, tuple[dict, str]] = {
    "full": ({}, "the recipe: full fine-tuning, threshold tune"),
    "full-cw": ({"task.class_weights": "auto"}, "full, class_weights auto, threshold tune"),
    "frozen": ({"strategy.name": "frozen"}, "frozen backbone (cached features, strategy defaults), threshold tune"),
    "lora": ({"strategy.name": "lora"}, "LoRA (strategy defaults), threshold tune"),
    "full-lr2e-4": ({"training.learning_rate": 2e-4}, "full, learning rate 2e-4 (default 5e-5), threshold tune"),
}


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


def minilm(overrides: dict, out: Path) -> dict:
    import hf_transfer

    start = time.perf_counter()
    result = hf_transfer.train(str(RECIPE), overrides={**overrides, "training.output_dir": str(out)})
    seconds = round(time.perf_counter() - start, 1)
    m = result.metrics
    keys = ("test_micro_f1", "test_macro_f1", "eval_micro_f1", "eval_macro_f1", "test_samples_f1", "train_epoch")
    record = {k: float(m[k]) for k in keys if k in m}
    record["seconds"] = seconds
    record["thresholds"] = result.recipe.to_dict()["task"].get("threshold")
    if (out / "config.json").is_file() and not (out / "adapter_config.json").is_file():
        try:
            record["rescored"] = rescore(out, 0.5)
        except Exception as e:  # keep the run's own figures
            record["rescore_error"] = f"{type(e).__name__}: {e}"
    return record


def table(results: dict) -> str:
    lines = [
        "| variant | what | test micro F1 | test macro F1 | validation micro F1 | time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        what = f"TF-IDF (1-2-grams) + one-vs-rest logistic regression, C={r.get('C')} (validation), threshold 0.5"
        what = what if name == "baseline" else VARIANTS[name][1]
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
    args = parser.parse_args(argv)
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
    previous = args.results_dir / "multi_label.json"
    if args.append and previous.is_file():
        old = json.loads(previous.read_text())
        record["results"] = old["results"]
        record["date"] = f"{old['date']} (+ {', '.join(names)}: {record['date']})"
        record["command"] = f"{old['command']}; {record['command']}"
    with tempfile.TemporaryDirectory(prefix="mlr-bench-") as tmp:
        os.environ.setdefault("HF_TRANSFER_CACHE", str(Path(tmp) / "cache"))
        for name in names:
            print(f"--- {name}", flush=True)
            if name == "baseline":
                r = baseline((10.0,) if args.smoke else C_GRID)
            else:
                r = minilm({**VARIANTS[name][0], **(SMOKE if args.smoke else {})}, Path(tmp) / name)
            record["results"][name] = r
            print(json.dumps(r), flush=True)
            (args.results_dir / "multi_label.json").write_text(json.dumps(record, indent=2) + "\n")
            (args.results_dir / "multi_label.md").write_text(
                f"Multi-label on Debian tags ({record['date']}; {record['machine']['cpu_model']})\n\n"
                + table(record["results"])
                + "\n"
            )
    print(table(record["results"]))
    print(f"results: {args.results_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
