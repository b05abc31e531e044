#!/usr/bin/env python3
"""How fast this CPU runs the matmuls of a MiniLM training step, against its square-GEMM peak (issue #17).

MFU counts a training step's FLOPs against the matmul peak measured at 2048³ and 4096³. If the model's own matmul
shapes could not reach that peak, no amount of work outside the GEMMs would bring MFU to a target; this script
says how close they come, so the rest of the gap is known to be everything that is not a GEMM.

Each of one encoder layer's 18 linear-layer training matmuls (attention's QKᵀ and attn·V are not timed) (forward: Q, K, V, output, FFN up and down; backward: the input
gradient of each and the weight gradient of each, the latter as ``X.T @ dY`` from row-major tensors as autograd
has them) is timed alone (median of ``--repeats``) at M = batch × tokens rows; the layer's rate is its FLOPs over
the sum of the times.

    python benchmarks/gemm_ceiling.py                 # all-MiniLM-L6-v2's shapes, 32 × 45 tokens, fp32 and bf16
    python benchmarks/gemm_ceiling.py --tokens 2048

Results: ``benchmarks/results/gemm_ceiling.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, command_line, machine_facts, utc_now, write_results  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def _rate(fn, flops: int, repeats: int) -> float:
    """GFLOP/s of ``fn`` (median time over ``repeats`` calls after 3 warm-up calls)."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return flops / times[len(times) // 2] / 1e9


def layer_matmuls(m: int, d: int, f: int) -> list[tuple[str, int, int, int, bool]]:
    """(name, rows, inner, cols, weight_gradient) for one encoder layer's training step."""
    forward = [("q/k/v/out", m, d, d, False)] * 4 + [("ffn up", m, d, f, False), ("ffn down", m, f, d, False)]
    inputs = [("dX q/k/v/out", m, d, d, False)] * 4 + [("dX ffn up", m, f, d, False), ("dX ffn down", m, d, f, False)]
    weights = [("dW q/k/v/out", d, m, d, True)] * 4 + [("dW ffn up", d, m, f, True), ("dW ffn down", f, m, d, True)]
    return forward + inputs + weights


def measure(dtype_name: str, m: int, d: int, f: int, repeats: int, peak_sizes: tuple[int, ...]) -> dict:
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    peak = 0.0
    for n in peak_sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        peak = max(peak, _rate(lambda a=a, b=b: a @ b, 2 * n**3, max(3, repeats // 4)))
    rates: dict[str, float] = {}
    total_flops = total_seconds = 0.0
    for name, rows, inner, cols, weight_gradient in layer_matmuls(m, d, f):
        if name not in rates:
            if weight_gradient:  # X.T @ dY: X is (tokens, rows), dY (tokens, cols), both row-major
                x, dy = torch.randn(inner, rows, dtype=dtype), torch.randn(inner, cols, dtype=dtype)
                fn = lambda x=x, dy=dy: x.t() @ dy  # noqa: E731
            else:
                x, w = torch.randn(rows, inner, dtype=dtype), torch.randn(inner, cols, dtype=dtype)
                fn = lambda x=x, w=w: x @ w  # noqa: E731
            rates[name] = _rate(fn, 2 * rows * inner * cols, repeats)
        flops = 2 * rows * inner * cols
        total_flops += flops
        total_seconds += flops / (rates[name] * 1e9)
    layer = total_flops / total_seconds / 1e9
    return {"peak_gflops": peak, "rates_gflops": rates, "layer_gflops": layer, "layer_share_of_peak": layer / peak}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=32 * 45, help="rows of each matmul: batch × tokens per text")
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--intermediate", type=int, default=1536)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script works")
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument("--name", default="gemm_ceiling")
    args = p.parse_args()
    if args.smoke:
        args.tokens, args.hidden, args.intermediate, args.repeats = 64, 32, 64, 3
    peak_sizes = (256,) if args.smoke else (2048, 4096)
    runs = {
        dt: measure(dt, args.tokens, args.hidden, args.intermediate, args.repeats, peak_sizes) for dt in args.dtypes
    }
    record = {
        "measured": utc_now(),
        "command": command_line(),
        "machine": machine_facts(),
        "shape": {"tokens": args.tokens, "hidden": args.hidden, "intermediate": args.intermediate},
        "runs": runs,
    }
    names = list(next(iter(runs.values()))["rates_gflops"])
    lines = [
        f"M = {args.tokens} rows, d = {args.hidden}, FFN {args.intermediate}; GFLOP/s, each matmul alone (median of "
        f"{args.repeats}); the layer's rate is its training matmuls' FLOPs over the sum of their times.",
        "",
        "| dtype | peak (square) | " + " | ".join(names) + " | one layer's training matmuls | share of peak |",
        "|---" * (len(names) + 4) + "|",
    ]
    for dt, run in runs.items():
        cells = " | ".join(f"{run['rates_gflops'][n]:,.0f}" for n in names)
        lines.append(
            f"| {dt} | {run['peak_gflops']:,.0f} | {cells} | {run['layer_gflops']:,.0f} | "
            f"**{run['layer_share_of_peak']:.0%}** |"
        )
    title = "Matmul rates at a MiniLM layer's training shapes vs the square-GEMM peak"
    write_results(args.results_dir, args.name, record, title, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
