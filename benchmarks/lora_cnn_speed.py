#!/usr/bin/env python3
"""Does LoRA save time and memory on convolutional backbones? Per-step time and peak memory of full
fine-tuning vs LoRA (the family's default targets, and the same targets restricted to the last N blocks)
for ResNet-50, ConvNeXt-T (transformers) and EfficientNet-Lite0 (timm), on CPU (issue #15).

Random-init weights with the real architectures (timing does not depend on the values). Each (family, variant)
runs in a fresh process: a few warm-up steps, then the median of the timed steps of forward + backward +
AdamW step on a fixed batch; peak memory is the process's high-water mark (VmHWM) reset just before the
first step. LoRA runs as hf_transfer builds it (peft, r=8, dropout 0.1, BatchNorm layers kept in eval mode,
head trained in full).

    python benchmarks/lora_cnn_speed.py --size 128 --batch 16 --steps 5

Results: ``benchmarks/results/lora_cnn_speed.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, child_env, command_line, machine_facts, proc_status_kib, run_child, utc_now, write_json  # noqa: E402

FAMILIES = ("resnet", "convnext", "efficientnet")
VARIANTS = ("full", "lora", "lora-last-2", "lora-last-1")


def build(family: str):
    import torch

    torch.manual_seed(0)
    if family == "efficientnet":
        import timm

        return timm.create_model("efficientnet_lite0", num_classes=10), "timm_wrapper"
    from transformers import AutoModelForImageClassification, ConvNextConfig, ResNetConfig

    config = ResNetConfig(num_labels=10) if family == "resnet" else ConvNextConfig(num_labels=10)
    return AutoModelForImageClassification.from_config(config), config.model_type


def child(args) -> None:
    import statistics

    import torch

    from hf_transfer.blocks import find_blocks
    from hf_transfer.strategies import keep_frozen_modules_in_eval
    from hf_transfer.strategies.lora import PRESETS, _adaptable_modules

    model, model_type = build(args.family)
    head = [n for n in ("classifier", "head") if hasattr(model, n)][:1] or ["classifier"]
    trainable_total = sum(p.numel() for p in model.parameters())
    if args.variant != "full":
        from peft import LoraConfig, get_peft_model

        modules = _adaptable_modules(model, head)
        shorts = set(modules.values())
        wanted = next(p for p in PRESETS[model_type] if set(p) <= shorts)
        targets = sorted(full for full, short in modules.items() if short in wanted)
        if args.variant.startswith("lora-last-"):
            n = int(args.variant.rsplit("-", 1)[1])
            last = [name for name, _ in find_blocks(model)][-n:]
            targets = [t for t in targets if any(t.startswith(b + ".") for b in last)]
        model = get_peft_model(
            model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1, target_modules=targets, modules_to_save=head)
        )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    model.train()
    if args.variant != "full":  # as the lora strategy leaves it: frozen BatchNorm layers in eval mode
        keep_frozen_modules_in_eval(model.base_model.model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 10, (args.batch,))

    def step():
        out = model(x)
        logits = out.logits if hasattr(out, "logits") else out
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = proc_status_kib("VmRSS")["VmRSS"]
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    peak = proc_status_kib("VmHWM")["VmHWM"]
    print(
        json.dumps(
            {
                "family": args.family,
                "variant": args.variant,
                "step_seconds": statistics.median(times),
                "times": times,
                "peak_delta_mib": (peak - before) / 1024,
                "trainable": trainable,
                "total": trainable_total,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--family", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--results-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    if args.family:
        child(args)
        return 0
    work = Path(tempfile.mkdtemp(prefix="lora_cnn_"))
    rows = []
    for family in args.families.split(","):
        for variant in VARIANTS:
            argv = [
                sys.executable,
                __file__,
                "--family",
                family,
                "--variant",
                variant,
                "--size",
                str(args.size),
                "--batch",
                str(args.batch),
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
            ]
            log = work / f"{family}-{variant}.log"
            record = run_child(argv, child_env(work), log, what=f"{family} {variant}")
            line = next(ln for ln in reversed(log.read_text().splitlines()) if ln.startswith("{"))
            rows.append({**json.loads(line), "neighbour_cores": record.get("neighbour_cores")})
            print(
                rows[-1]["family"],
                rows[-1]["variant"],
                f"{rows[-1]['step_seconds']:.3f}s",
                f"{rows[-1]['peak_delta_mib']:.0f} MiB",
                flush=True,
            )
    record = {
        "date": utc_now(),
        "command": command_line(),
        "machine": machine_facts(),
        "size": args.size,
        "batch": args.batch,
        "rows": rows,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.results_dir / "lora_cnn_speed.json", record)
    full = {r["family"]: r for r in rows if r["variant"] == "full"}
    lines = [
        f"# LoRA vs full fine-tuning on CNNs, CPU ({args.size} px, batch {args.batch})",
        "",
        f"Measured {record['date']}: `{record['command']}`",
        "",
        "| family | variant | trainable params | s/step | vs full | peak memory Δ (MiB) | neighbours (cores) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["step_seconds"] / full[r["family"]]["step_seconds"]
        lines.append(
            f"| {r['family']} | {r['variant']} | {r['trainable']:,} | {r['step_seconds']:.3f} | {ratio:.2f}× | "
            f"{r['peak_delta_mib']:.0f} | {r['neighbour_cores'] or 0:.2f} |"
        )
    (args.results_dir / "lora_cnn_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
