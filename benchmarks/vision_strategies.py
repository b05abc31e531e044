"""Every strategy with its defaults on one image recipe: test accuracy next to a scikit-learn probe, speed, memory.

Each run is its own process (``hf_transfer.train`` on the recipe with ``strategy.name`` switched), so the
peak resident memory it reports is that run's alone (``getrusage``: the training process, and separately the
largest DataLoader worker). The scikit-learn probe is `linear_probe.py recipe`: logistic regression (C chosen on
validation) on the very features the frozen strategy cached for that recipe.

    PYTHONPATH=. python benchmarks/vision_strategies.py benchmarks/recipes/debian_icons.yaml \\
        --set backbone.name_or_path=/tmp/bb128/efficientnet_lite0 --set data.data_dir=/tmp/data/debian-icons

``--variant NAME=KEY=VALUE[;KEY=VALUE…]`` adds runs of each strategy with those overrides (to compare a default
with an alternative); the plain defaults are the variant ``defaults``. Writes ``vision_strategies-<label>.json``
and ``.md`` under ``--results-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
import hf_transfer
recipe, overrides = sys.argv[1], json.loads(sys.argv[2])
start = time.perf_counter()
result = hf_transfer.train(recipe, overrides=overrides, overwrite=True)
wall = time.perf_counter() - start
report = json.loads((result.output_dir / "training_report.json").read_text())
m = result.metrics
print("RESULT " + json.dumps({
    "test_accuracy": m.get("test_accuracy"), "eval_accuracy": m.get("eval_accuracy"),
    "train_runtime_s": m.get("train_runtime"), "train_samples_per_second": m.get("train_samples_per_second"),
    "wall_s": wall, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "peak_worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    "training_defaults": {k: v["value"] for k, v in (report.get("defaults") or {}).items()},
    "augmentation": (report["strategy"].get("augmentation") or {}).get("description"),
    "trainable_percent": report.get("strategy", {}).get("trainable_percent"),
}))
"""


def run(recipe: str, overrides: list[str], env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, recipe, json.dumps(overrides)], capture_output=True, text=True, env=env, cwd=REPO
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"run failed ({' '.join(overrides)}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def probe(recipe: str, overrides: list[str], env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "linear_probe.py"), "recipe", recipe, *overrides],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise SystemExit(f"probe failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout[proc.stdout.index("{") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--strategies", nargs="*", default=["frozen", "full", "lora"])
    parser.add_argument("--set", action="append", default=[], help="recipe override for every run")
    parser.add_argument("--variant", action="append", default=[], help="NAME=KEY=VALUE[;KEY=VALUE…]")
    parser.add_argument("--no-defaults", action="store_true", help="only the --variant runs")
    parser.add_argument("--no-probe", action="store_true")
    parser.add_argument("--label", default="run")
    parser.add_argument("--results-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()

    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "HF_TRANSFER_CACHE": os.environ.get("HF_TRANSFER_CACHE") or tempfile.mkdtemp(prefix="hf_transfer_cache_"),
    }
    variants = {} if args.no_defaults else {"defaults": []}
    for spec in args.variant:
        name, _, sets = spec.partition("=")
        variants[name] = [s for s in sets.split(";") if s]
    work = Path(tempfile.mkdtemp(prefix="vision_strategies_"))
    rows = []
    probe_result = None if args.no_probe else probe(args.recipe, args.set, env)
    if probe_result:
        print(f"scikit-learn probe: test accuracy {probe_result['sklearn']['test_accuracy']}", flush=True)
    for name, extra in variants.items():
        for strategy in args.strategies:
            out = work / f"{name}-{strategy}"
            overrides = [
                *args.set,
                f"strategy.name={strategy}",
                *extra,
                f"training.output_dir={out}",
                "training.disable_tqdm=true",
                "training.report_to=none",
            ]
            t = time.strftime("%H:%M:%S")
            row = {
                "variant": name,
                "strategy": strategy,
                "overrides": extra,
                "started": t,
                **run(args.recipe, overrides, env),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    sk = probe_result["sklearn"]["test_accuracy"] if probe_result else None
    md = [
        "| variant | strategy | test accuracy | vs scikit-learn probe | train samples/s | train s | peak RSS (MiB) "
        "| largest worker (MiB) | defaults |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        delta = f"{100 * (r['test_accuracy'] - sk):+.1f} pts" if sk is not None else "–"
        defaults = ", ".join(f"{k} {v}" for k, v in r["training_defaults"].items())
        md.append(
            f"| {r['variant']} | {r['strategy']} | {r['test_accuracy']:.3f} | {delta} | "
            f"{r['train_samples_per_second']:.1f} | {r['train_runtime_s']:.0f} | {r['peak_rss_mib']:.0f} | "
            f"{r['peak_worker_rss_mib']:.0f} | {defaults} |"
        )
    if sk is not None:
        md.append(f"| | scikit-learn logistic regression on the frozen features | {sk:.3f} | | | | | | |")
    text = "\n".join(md)
    print(text)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stem = args.results_dir / f"vision_strategies-{args.label}"
    stem.with_suffix(".json").write_text(
        json.dumps(
            {"recipe": args.recipe, "set": args.set, "probe": probe_result, "rows": rows, "cpu": os.cpu_count()},
            indent=1,
        )
    )
    stem.with_suffix(".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
