#!/usr/bin/env python3
"""A frozen hf_transfer run with a cold feature cache against the minimal script that does the same work well
(issue #17): whole process against whole process.

    .venv/bin/python benchmarks/frozen_vs_script.py --pairs 3            # ~3 min on 2 quiet cores
    .venv/bin/python benchmarks/frozen_vs_script.py --pairs 3 --precision auto
    .venv/bin/python benchmarks/frozen_vs_script.py --smoke              # tiny slices: checks the script works

* **ours:** ``hf-transfer train recipes/text/minilm_frozen.yaml`` (the real all-MiniLM-L6-v2, mean pooling, a
  linear head fitted by L-BFGS with its L2 strength chosen on validation) with an empty ``HF_TRANSFER_CACHE``,
  so the backbone's pass over train, validation and test runs in the command; everything the command does
  (start-up, the cache, the head, saving the model and checking the reload, reports, the model card) counts.
* **script:** the script below (``--script``), the least a careful engineer writes for the same result: one
  length-sorted, ``inference_mode`` encoder pass over the same three splits, mean pooling, scikit-learn's
  ``LogisticRegression`` on train, accuracy on test. It saves nothing.

Both run in fresh interpreters, paired (script, ours, script, ours, …) and the figure is the median of the
per-pair ratios, with what other processes did meanwhile. Results:
``benchmarks/results/frozen_vs_script[-<precision>].{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, child_env, command_line, machine_facts, median, run_child, utc_now, write_results  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
RECIPE = REPO / "recipes" / "text" / "minilm_frozen.yaml"
DATA = REPO / "recipes" / "data" / "debian-sections"


def script(data_dir: Path, model: str, max_length: int, batch_size: int, precision: str, rows: int | None) -> None:
    """The minimal script: prints a JSON line with the test accuracy and the encoder pass's seconds."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModel, AutoTokenizer

    def read(split):
        lines = (data_dir / f"{split}.jsonl").read_text().splitlines()[:rows]
        records = [json.loads(line) for line in lines]
        return [r["text"] for r in records], [r["label"] for r in records]

    tokenizer = AutoTokenizer.from_pretrained(model)
    encoder = AutoModel.from_pretrained(model).eval()
    dtype = torch.bfloat16 if precision == "bf16" else None

    def encode(texts):
        ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: -len(ids[i]))
        out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
        with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                batch = tokenizer.pad({"input_ids": [ids[i] for i in chunk]}, return_tensors="pt")
                hidden = encoder(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).float()
                out[chunk] = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
        return out

    t = time.perf_counter()
    (x_train, y_train), _, (x_test, y_test) = [
        (encode(texts), labels) for texts, labels in (read(s) for s in ("train", "validation", "test"))
    ]
    encode_s = time.perf_counter() - t
    clf = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    print(json.dumps({"test_accuracy": float((clf.predict(x_test) == np.array(y_test)).mean()), "encode_s": encode_s}))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument(
        "--precision", choices=("fp32", "auto"), default="fp32", help="of both sides (auto: bf16 if the CPU has it)"
    )
    p.add_argument("--smoke", action="store_true", help="40 rows per split, 1 pair")
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument("--script", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", type=Path, default=DATA, help=argparse.SUPPRESS)
    p.add_argument("--rows", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    recipe_text = RECIPE.read_text()
    import yaml

    recipe = yaml.safe_load(recipe_text)
    max_length = recipe["task"]["max_length"]
    batch = recipe["training"]["per_device_eval_batch_size"]
    from baseline_trainer import model_folder

    model = model_folder(recipe["backbone"]["name_or_path"])
    if args.script:
        from hf_transfer.precision import detect_hardware, resolve_precision

        precision = resolve_precision(args.precision, detect_hardware(use_cpu=True))[0]
        script(args.data_dir, model, max_length, batch, precision, args.rows)
        return
    if args.smoke:
        args.pairs = 1
    rows = 40 if args.smoke else None
    name = "frozen_vs_script" + ("" if args.precision == "fp32" else f"-{args.precision}")
    runs = []
    with tempfile.TemporaryDirectory(prefix="hf-transfer-frozen-script-") as tmp_name:
        tmp = Path(tmp_name)
        env = child_env(tmp)
        data_dir = DATA
        if rows:
            data_dir = tmp / "data"
            data_dir.mkdir()
            for split in ("train", "validation", "test"):
                lines = (DATA / f"{split}.jsonl").read_text().splitlines()[:rows]
                (data_dir / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
        for pair in range(args.pairs):
            for side in ("script", "ours"):
                log = tmp / f"{side}-{pair}.log"
                if side == "script":
                    argv_ = [sys.executable, __file__, "--script", "--precision", args.precision]
                    argv_ += ["--data-dir", str(data_dir)] + (["--rows", str(rows)] if rows else [])
                else:
                    out = tmp / f"ours-{pair}"
                    env["HF_TRANSFER_CACHE"] = str(tmp / f"cache-{pair}")  # empty: a cold cache
                    argv_ = [sys.executable, "-m", "hf_transfer", "train", str(RECIPE), "--overwrite"]
                    argv_ += [f"training.output_dir={out}", f"training.precision={args.precision}"]
                    argv_ += [f"data.{s}_file={data_dir / f'{s}.jsonl'}" for s in ("train", "validation", "test")]
                contention = run_child(argv_, env, log, cwd=REPO, what=side)
                if side == "script":
                    lines = [line for line in log.read_text().splitlines() if line.startswith('{"test_accuracy"')]
                    detail = json.loads(lines[-1])
                else:
                    metrics = json.loads((out / "metrics.json").read_text())
                    detail = {
                        "test_accuracy": metrics.get("test_accuracy"),
                        "encode_s": metrics.get("train_feature_cache_seconds"),
                    }
                runs.append({"pair": pair, "side": side, **contention, **detail})
                print(f"pair {pair} {side}: {contention['wall_s']:.1f} s, {detail}", flush=True)
    ratios = []
    for pair in range(args.pairs):
        by_side = {r["side"]: r for r in runs if r["pair"] == pair}
        ratios.append(by_side["ours"]["wall_s"] / by_side["script"]["wall_s"])
    result = {
        "measured": utc_now(),
        "command": command_line(),
        "machine": machine_facts(),
        "precision": args.precision,
        "runs": runs,
        "ratios": ratios,
        "median_ratio": median(ratios),
    }

    def cells(side, key, fmt):
        return ", ".join(fmt.format(r[key]) if r.get(key) is not None else "–" for r in runs if r["side"] == side)

    busy = max(r.get("neighbour_cores") or 0 for r in runs)
    body = (
        "| | whole process (s) | encoder passes (s) | test accuracy |\n|---|---|---|---|\n"
        f"| minimal script | {cells('script', 'wall_s', '{:.1f}')} | {cells('script', 'encode_s', '{:.1f}')} "
        f"| {cells('script', 'test_accuracy', '{:.3f}')} |\n"
        f"| `hf-transfer train` (frozen, cold cache) | {cells('ours', 'wall_s', '{:.1f}')} "
        f"| {cells('ours', 'encode_s', '{:.1f}')} | {cells('ours', 'test_accuracy', '{:.3f}')} |\n\n"
        f"Median ratio (ours / script, paired): **{result['median_ratio']:.2f}×** (target ≤ 1.3×)."
    )
    title = f"Frozen run with a cold cache vs a minimal script ({args.precision})"
    note = f"; other processes used at most {busy:.2f} cores during a run."
    write_results(args.results_dir, name, result, title, body, note)


if __name__ == "__main__":
    main()
