#!/usr/bin/env python3
"""Where a training step's time goes, and how near the machine's matmul peak it runs (issue #17).

    .venv/bin/python benchmarks/profile_step.py                 # ~6 min on 2 quiet CPU cores
    .venv/bin/python benchmarks/profile_step.py --smoke         # tiny run that checks the script works

For each run (a fresh interpreter each, on the real all-MiniLM-L6-v2 and the python-docstrings data that
``benchmarks/speed.py`` builds):

* ``baseline-full``: the plain Trainer script (``benchmarks/baseline_trainer.py``: ``padding="max_length"``,
  fp32, the optimizer transformers picks);
* ``full`` / ``full-bf16``: ``hf_transfer.train`` with full fine-tuning, its defaults, in fp32 and with
  ``precision: auto`` (bf16 where the CPU has it);
* ``lora`` / ``lora-bf16``: the LoRA strategy's defaults, fp32 and auto;
* ``…-torch-dropout``: the same with ``training.cpu_dropout: torch`` (torch's own ``bernoulli_`` masks), against
  the default fast masks (:mod:`hf_transfer.dropout`); ``…-system-heap``: with ``HF_TRANSFER_KEEP_HEAP=0``
  (glibc's malloc as configured, against :mod:`hf_transfer.cpu_heap`); ``…-before``: both, as hf_transfer
  trained before 2026-12-05;
* ablations, timed like the rest (the profiler inflates memory-bound operators: under it, the 47 MB
  word-embedding gradient's zero-fill took 63–75 ms per step instead of 3.5 ms): ``…-no-dropout`` sets every
  dropout probability to 0 (what dropout costs); ``full-bf16-no-dropout-fused`` also sets
  ``training.cpu_dropout: torch``, so attention takes torch's fused CPU kernel rather than the math path
  (``benchmarks/cpu_attention.py``); ``full-no-clip`` sets ``training.max_grad_norm: 0``;
* ``…-transformers-order``: the training order of transformers' ``LengthGroupedSampler`` (megabatches of
  ``min(n // (4 · batch), 50)`` batches: 4 on these 512 texts) instead of hf_transfer's
  (``benchmarks/length_grouping.py``);
* ``cache`` / ``cache-bf16``: the frozen strategy's feature-cache pass (the backbone's forward pass over
  every split, no training).

The training runs first take ``--warmup`` steps, then time ``--timed`` steps without a profiler (the step
time, achieved FLOP/s and MFU come from these), then profile ``--profiled`` more steps with
``torch.profiler`` and split their wall time into: GEMMs (``aten::mm``/``addmm``/``bmm``), attention
kernels, the optimizer step, gradient zeroing, data loading (the DataLoader's ``__next__``: collation
and padding), other torch operators (element-wise, norms, dropout, losses, autograd bookkeeping) and time
outside any torch operator (Python: the Trainer loop, callbacks, hooks, logging).

FLOPs are counted from the model config and the real tokens of every batch (read from its
``attention_mask`` by a forward pre-hook), per encoder layer and sequence of ``s`` tokens:
``2·s·(4·d² + 2·d·f)`` for the projections and feed-forward plus ``4·s²·d`` for the attention scores and
their weighted sum (``d`` hidden size, ``f`` intermediate size); embeddings, pooling and the head are left
out. Training counts 3× the forward pass for full fine-tuning (forward, input and weight gradients) and
2× for LoRA (the frozen weights need no weight gradient) plus 3× the adapters' own
``2·r·(d_in + d_out)`` per token and adapted layer; the cache pass counts 1×. "HFU" counts the padded
tokens too (what the hardware computed). The peak is the best square GEMM (2048³, 4096³) measured in the
same invocation, in fp32 and bf16.

Results: ``benchmarks/results/profile_step.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    child_env,
    command_line,
    machine_facts,
    run_child,
    utc_now,
    wait_for_quiet,
    write_json,
    write_results,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

GEMM_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addmv", "aten::mv"}
RUNS = {
    "baseline-full": "plain Trainer script, full fine-tuning, fp32, padding=max_length",
    "full": "hf_transfer full fine-tuning, defaults, fp32",
    "full-bf16": "hf_transfer full fine-tuning, defaults, precision: auto",
    "full-torch-dropout": "hf_transfer full fine-tuning, fp32, training.cpu_dropout: torch (torch's bernoulli_ masks)",
    "full-bf16-torch-dropout": "hf_transfer full fine-tuning, precision: auto, training.cpu_dropout: torch",
    "full-system-heap": "hf_transfer full fine-tuning, fp32, HF_TRANSFER_KEEP_HEAP=0 (glibc's malloc as configured)",
    "full-bf16-system-heap": "hf_transfer full fine-tuning, precision: auto, HF_TRANSFER_KEEP_HEAP=0",
    "full-before": "hf_transfer full fine-tuning, fp32, torch dropout masks and glibc's malloc (before 2026-12-05)",
    "full-bf16-before": "hf_transfer full fine-tuning, precision: auto, torch dropout masks and glibc's malloc",
    "full-no-dropout": "hf_transfer full fine-tuning, fp32, every dropout probability set to 0 (what dropout costs)",
    "full-bf16-no-dropout": "hf_transfer full fine-tuning, precision: auto, every dropout probability set to 0",
    "full-bf16-no-dropout-fused": "the same with training.cpu_dropout: torch (torch's fused CPU attention kernel)",
    "full-no-clip": "hf_transfer full fine-tuning, fp32, training.max_grad_norm: 0 (what gradient clipping costs)",
    "full-transformers-order": "hf_transfer full fine-tuning, fp32, transformers' LengthGroupedSampler order (before 2026-12-05 evening)",
    "full-bf16-transformers-order": "hf_transfer full fine-tuning, precision: auto, transformers' LengthGroupedSampler order",
    "full-compile": "hf_transfer full fine-tuning, fp32, training.torch_compile: true (inductor; torch's dropout)",
    "full-bf16-compile": "hf_transfer full fine-tuning, precision: auto, training.torch_compile: true",
    "lora": "hf_transfer LoRA, defaults, fp32",
    "lora-bf16": "hf_transfer LoRA, defaults, precision: auto",
    "lora-before": "hf_transfer LoRA, fp32, torch dropout masks and glibc's malloc (before 2026-12-05)",
    "cache": "hf_transfer frozen: feature-cache pass over every split, fp32",
    "cache-bf16": "hf_transfer frozen: feature-cache pass over every split, precision: auto",
    "cache-system-heap": "hf_transfer frozen: feature-cache pass, fp32, HF_TRANSFER_KEEP_HEAP=0",
}


# ================================================================================================ FLOP counting


def encoder_forward_flops(config, lengths) -> float:
    """Forward FLOPs of a BERT-like encoder's layers over sequences of these lengths (see the module doc)."""
    d, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return float(sum(layers * (2 * s * (4 * d * d + 2 * d * f) + 4 * s * s * d) for s in lengths))


def adapter_flops_per_token(model) -> float:
    """Forward FLOPs per token of every LoRA adapter in ``model``: 2·r·(d_in + d_out) per adapted linear layer."""
    total = 0.0
    for name, module in model.named_modules():
        if name.endswith("lora_A.default") and hasattr(module, "in_features"):
            total += 2 * module.out_features * module.in_features
        elif name.endswith("lora_B.default") and hasattr(module, "out_features"):
            total += 2 * module.in_features * module.out_features
    return total


def base_config(model):
    """The transformers config of the encoder, through peft and hf_transfer wrappers."""
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    config = model.config
    if hasattr(config, "backbone_config"):  # the hf_transfer head type keeps the backbone's config inside
        config = config.backbone_config()
    return getattr(config, "text_config", None) or config


# ================================================================================================ child side


CATEGORIES = (
    "forward: GEMM",
    "forward: other ops",
    "backward: GEMM",
    "backward: other ops",
    "LoRA adapters (forward)",
    "optimizer step",
    "zero_grad",
    "data loading",
    "outside torch ops",
)
ADAPTER_MARK = "lora adapter"


def _categories(prof, wall_us: float) -> dict[str, float]:
    """Microseconds per category over the profiled window (a partition of the window's wall time): each
    operator's own (self) time goes to the first of its enclosing regions that names a category (the optimizer
    step, gradient zeroing, the DataLoader's ``__next__``, a LoRA adapter's forward, autograd's backward
    functions), else to forward; GEMMs (``aten::mm``/``addmm``/``bmm``/SDPA kernels) apart from other operators.
    What no operator covers is Python around them."""
    out = dict.fromkeys(CATEGORIES, 0.0)
    for event in prof.events():
        owner, backward = None, False
        parent = event
        while parent is not None:
            name = parent.name
            if name.startswith("Optimizer.step"):
                owner = "optimizer step"
            elif name.startswith("Optimizer.zero_grad"):
                owner = "zero_grad"
            elif name.startswith("enumerate(DataLoader)"):
                owner = "data loading"
            elif name == ADAPTER_MARK:
                owner = "LoRA adapters (forward)"
            elif name.startswith("autograd::engine::evaluate_function"):
                backward = True
            if owner:
                break
            parent = parent.cpu_parent
        if owner is None:
            name = event.name.lower()
            gemm = event.name in GEMM_OPS or name.startswith("aten::") and ("attention" in name or "sdpa" in name)
            owner = f"{'backward' if backward else 'forward'}: {'GEMM' if gemm else 'other ops'}"
        out[owner] += event.self_cpu_time_total
    out["outside torch ops"] = max(0.0, wall_us - sum(v for k, v in out.items() if k != "outside torch ops"))
    return out


def _mark_adapters(model) -> list:
    """Wrap each LoRA adapter module's forward (dropout, A, B) in a profiler region; returns the hook handles."""
    import torch

    handles = []
    for name, module in model.named_modules():
        if any(f"{part}.default" in name for part in ("lora_A", "lora_B", "lora_dropout")) and not list(
            module.children()
        ):

            def enter(m, args):
                m._profile_region = torch.autograd.profiler.record_function(ADAPTER_MARK)
                m._profile_region.__enter__()

            def leave(m, args, output):
                m._profile_region.__exit__(None, None, None)

            handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    return handles


def _step_profiler(warmup: int, timed: int, profiled: int, shapes: bool = False, no_dropout: bool = False):
    """A TrainerCallback: step times and real/padded tokens of every step; torch.profiler over the last steps."""
    import torch
    from transformers import TrainerCallback

    class StepProfiler(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []
            self.tokens: list[list[int]] = []  # real tokens of each sequence, per step
            self.padded: list[int] = []  # tokens computed (padding included), per step
            self.prof = None
            self.window = None

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.model = model
            if no_dropout:  # an ablation timed without the profiler (which inflates memory-bound operators)
                for module in model.modules():
                    if isinstance(module, torch.nn.Dropout):
                        module.p = 0.0
            self.config = base_config(model)
            self.adapter_per_token = adapter_flops_per_token(model)
            self.lora = self.adapter_per_token > 0

            def hook(module, args_, kwargs_):
                mask = kwargs_.get("attention_mask")
                if mask is not None and module.training:
                    self._real.extend(int(x) for x in mask.sum(dim=1).tolist())
                    self._padded += int(mask.numel())

            self._handle = model.register_forward_pre_hook(hook, with_kwargs=True)
            self._real, self._padded = [], 0
            self.ends.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())
            self.tokens.append(self._real)
            self.padded.append(self._padded)
            self._real, self._padded = [], 0
            done = len(self.ends) - 1
            if done == warmup + timed:
                self.marks = _mark_adapters(self.model)
                self.prof = torch.profiler.profile(
                    activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=shapes
                )
                self.prof.__enter__()
            elif done == warmup + timed + profiled and self.prof is not None:
                self.prof.__exit__(None, None, None)
                for handle in self.marks:
                    handle.remove()
                wall = (self.ends[-1] - self.ends[warmup + timed]) * 1e6
                self.window = {
                    "steps": profiled,
                    "wall_s": wall / 1e6,
                    "categories_s": {k: v / 1e6 for k, v in _categories(self.prof, wall).items()},
                    "top_ops": self.prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12),
                }
                if shapes:
                    self.window["top_ops_by_shape"] = self.prof.key_averages(group_by_input_shape=True).table(
                        sort_by="self_cpu_time_total",
                        row_limit=40,
                        max_name_column_width=40,
                        max_shapes_column_width=90,
                    )
                control.should_training_stop = True

        def on_train_end(self, args, state, control, **kwargs):
            self._handle.remove()

        def result(self) -> dict:
            lo, hi = warmup, warmup + timed
            if len(self.ends) <= hi:
                raise RuntimeError(f"only {len(self.ends) - 1} steps ran; need {hi} (--warmup + --timed)")
            span = self.ends[hi] - self.ends[lo]
            real = [s for step in self.tokens[lo:hi] for s in step]
            fwd = encoder_forward_flops(self.config, real)
            padded_fwd = sum(
                encoder_forward_flops(self.config, [p // max(len(t), 1)] * len(t))
                for p, t in zip(self.padded[lo:hi], self.tokens[lo:hi])
            )
            factor = 2 if self.lora else 3
            adapters = 3 * self.adapter_per_token * sum(real)
            return {
                "timed_steps": timed,
                "step_s": span / timed,
                "real_tokens_per_s": sum(real) / span,
                "real_token_fraction": sum(real) / max(sum(self.padded[lo:hi]), 1),
                "model_flops_per_s": (factor * fwd + adapters) / span,
                "hardware_flops_per_s": (factor * padded_fwd + adapters) / span,
                "adapter_share_of_flops": adapters / (factor * fwd + adapters),
                "dropout_max_p": max(
                    (m.p for m in self.model.modules() if isinstance(m, torch.nn.Dropout)), default=0.0
                ),
                "profile": self.window,
            }

    return StepProfiler()


def worker_train(spec: dict) -> dict:
    import transformers.trainer

    probe = _step_profiler(
        spec["warmup"], spec["timed"], spec["profiled"], spec.get("shapes", False), spec.get("no_dropout", False)
    )
    transformers.trainer.DEFAULT_CALLBACKS.append(probe)
    try:
        if spec["kind"] == "baseline":
            import baseline_trainer

            baseline_trainer.main(spec["argv"])
        else:
            import hf_transfer

            if spec.get("transformers_order"):
                from length_grouping import transformers_order

                import hf_transfer.trainer

                hf_transfer.trainer.LengthGroupedBatches = transformers_order()
            hf_transfer.train(spec["recipe"], overwrite=True)
    finally:
        transformers.trainer.DEFAULT_CALLBACKS.remove(probe)
    return probe.result()


def worker_cache(spec: dict) -> dict:
    """A frozen run with an empty cache; times each split's encoder pass (hf_transfer.features._extract)."""
    import inspect
    import os

    import hf_transfer
    import hf_transfer.features as features

    os.environ["HF_TRANSFER_CACHE"] = spec["cache_dir"]
    passes: list[dict] = []
    original = features._extract

    signature = inspect.signature(original)

    def timed(*a, **kw):
        bound = signature.bind(*a, **kw)
        bound.apply_defaults()
        arg = bound.arguments
        t = time.perf_counter()
        out = original(*a, **kw)
        seconds = time.perf_counter() - t
        lengths, dataset, views = arg["lengths"], arg["dataset"], arg["passes"]
        config = base_config(arg["model"])
        batches = [b for w in features.pass_batches(lengths, len(dataset), arg["batch_size"]) for b in w]
        padded = [max(lengths[i] for i in b) for b in batches for _ in b] if lengths else []
        passes.append(
            {
                "split": arg["desc"],
                "rows": len(dataset),
                "seconds": seconds,
                "precision": arg["precision"],
                "real_tokens": sum(lengths or []) * views,
                "real_token_fraction": features.real_token_fraction(lengths, batches),
                "model_flops": encoder_forward_flops(config, lengths or []) * views,
                "hardware_flops": encoder_forward_flops(config, padded) * views,
            }
        )
        return out

    features._extract = timed
    try:
        hf_transfer.train(spec["recipe"], overwrite=True)
    finally:
        features._extract = original
    seconds = sum(p["seconds"] for p in passes)
    return {
        "passes": passes,
        "seconds": seconds,
        "real_tokens_per_s": sum(p["real_tokens"] for p in passes) / seconds,
        "real_token_fraction": sum(p["real_tokens"] for p in passes)
        / max(sum(p["real_tokens"] / p["real_token_fraction"] for p in passes), 1),
        "model_flops_per_s": sum(p["model_flops"] for p in passes) / seconds,
        "hardware_flops_per_s": sum(p["hardware_flops"] for p in passes) / seconds,
    }


def worker_peak(spec: dict) -> dict:
    from speed import worker_peak as peak

    return peak(spec)


WORKERS = {"train": worker_train, "cache": worker_cache, "peak": worker_peak}


# ================================================================================================ parent side


def specs(args, data_dir: Path, tmp: Path) -> list[dict]:
    from speed import LEARNING_RATES, NORMAL, SMOKE, baseline_argv, ours_recipe

    sizes = dict(SMOKE if args.smoke else NORMAL)
    steps = args.warmup + args.timed + args.profiled
    sizes["max_steps"] = steps + 2  # the profiler callback stops the run after its window
    rows = sizes["full_train"]
    out = [{"name": "peak", "worker": "peak", "sizes": [256] if args.smoke else [2048, 4096], "repeats": 3}]
    for name in args.only or list(RUNS):
        run_dir = tmp / name
        spec = {"name": name, "worker": "train", "kind": "ours", "run_dir": str(run_dir)}
        spec.update(warmup=args.warmup, timed=args.timed, profiled=args.profiled, shapes=args.shapes)
        precision = "auto" if "-bf16" in name else "fp32"
        if name == "baseline-full":
            spec.update(kind="baseline")
            spec["argv"] = baseline_argv(data_dir, run_dir, sizes, "full", rows, 100, LEARNING_RATES["full"])
        elif name.startswith("cache"):
            frozen = {"name": "frozen", "cache_features": True}
            spec.update(worker="cache", cache_dir=str(run_dir / "cache"))
            spec["recipe"] = ours_recipe(
                data_dir, run_dir, {**sizes, "max_steps": None}, frozen, rows, 1, LEARNING_RATES["frozen"], precision
            )
        else:
            strategy = {"name": name.split("-")[0]}
            lr = LEARNING_RATES[strategy["name"]]
            spec["recipe"] = ours_recipe(data_dir, run_dir, sizes, strategy, rows, 100, lr, precision)
            spec["recipe"]["training"]["logging_steps"] = 50  # ours_recipe logs every step when max_steps is set
            if name.endswith(("-torch-dropout", "-before", "-fused")):
                spec["recipe"]["training"]["cpu_dropout"] = "torch"
            if name.endswith("-compile"):
                spec["recipe"]["training"]["torch_compile"] = True
            if name.endswith("-no-clip"):
                spec["recipe"]["training"]["max_grad_norm"] = 0.0
            spec["no_dropout"] = "-no-dropout" in name
            spec["transformers_order"] = name.endswith("-transformers-order")
        if name.endswith(("-system-heap", "-before")):
            spec["env"] = {"HF_TRANSFER_KEEP_HEAP": "0"}
        out.append(spec)
    return out


def _f(x, fmt="{:.1f}"):
    return "–" if x is None else fmt.format(x)


def tables(result: dict) -> str:
    peak = result["peak"]
    lines = [
        "| run | precision | real tokens | step (ms) | real tokens/s | achieved GFLOP/s | matmul peak (GFLOP/s) | MFU | HFU (padding counted) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["runs"].items():
        bf16 = "-bf16" in name and result["machine"]["cpu_bf16_flags"]
        p = peak["bf16_gflops"] if bf16 else peak["fp32_gflops"]
        step = _f(1000 * r["step_s"], "{:.0f}") if "step_s" in r else "–"
        lines.append(
            f"| {name} | {'bf16' if bf16 else 'fp32'} | {r['real_token_fraction']:.0%} | {step} "
            f"| {r['real_tokens_per_s']:,.0f} | {r['model_flops_per_s'] / 1e9:.1f} | {p:.0f} "
            f"| **{r['model_flops_per_s'] / 1e9 / p:.0%}** | {r['hardware_flops_per_s'] / 1e9 / p:.0%} |"
        )
    cats = None
    rows = []
    for name, r in result["runs"].items():
        window = r.get("profile")
        if not window:
            continue
        cats = cats or list(window["categories_s"])
        per_step = {k: 1000 * v / window["steps"] for k, v in window["categories_s"].items()}
        total = sum(per_step.values())
        cells = " | ".join(f"{per_step[c]:.0f} ({per_step[c] / total:.0%})" for c in cats)
        rows.append(f"| {name} | {total:.0f} | {cells} |")
    if cats:
        lines += [
            "",
            "Per step, in ms (share of the step), from `torch.profiler` over the profiled steps:",
            "",
            "| run | step | " + " | ".join(cats) + " |",
            "|---|---|" + "---|" * len(cats),
            *rows,
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script works")
    p.add_argument("--only", nargs="+", choices=list(RUNS), help="these runs only")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--timed", type=int, default=30)
    p.add_argument("--profiled", type=int, default=10)
    p.add_argument(
        "--shapes", action="store_true", help="also record operators' input shapes (top_ops_by_shape in the JSON)"
    )
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument("--name", default="profile_step")
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker.read_text())
        write_json(Path(spec["result_file"]), WORKERS[spec["worker"]](spec))
        return
    if args.smoke:
        args.warmup, args.timed, args.profiled = 1, 2, 1
    from speed import NORMAL, SMOKE, build_text_data

    with tempfile.TemporaryDirectory(prefix="hf-transfer-profile-") as tmp_name:
        tmp = Path(tmp_name)
        data_dir, data = build_text_data(
            argparse.Namespace(text_data="python-docstrings"), tmp, SMOKE if args.smoke else NORMAL
        )
        env = child_env(tmp)
        result = {
            "measured": utc_now(),
            "command": command_line(),
            "machine": machine_facts(),
            "data": data,
            "method": __doc__,
            "runs": {},
        }
        for spec in specs(args, data_dir, tmp):
            spec["result_file"] = str(tmp / f"{spec['name']}.json")
            job = tmp / f"{spec['name']}.job.json"
            write_json(job, spec)
            if not args.smoke:
                wait_for_quiet(60)
            contention = run_child(
                [sys.executable, str(Path(__file__).resolve()), "--worker", str(job)],
                {**env, **spec.get("env", {})},
                tmp / f"{spec['name']}.log",
                what=spec["name"],
            )
            out = json.loads(Path(spec["result_file"]).read_text())
            out["neighbour_cores"] = contention.get("neighbour_cores")
            if spec["name"] == "peak":
                result["peak"] = out
            else:
                result["runs"][spec["name"]] = out
            print(f"{spec['name']}: done in {contention['wall_s']:.0f} s", flush=True)
    busy = max((r.get("neighbour_cores") or 0) for r in result["runs"].values()) if result["runs"] else 0
    note = f"; other processes used at most {busy:.2f} cores during a run."
    write_results(args.results_dir, args.name, result, "Training step profile and MFU", tables(result), note)


if __name__ == "__main__":
    main()
