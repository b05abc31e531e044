#!/usr/bin/env python3
"""``hf-transfer predict`` against a plain ``transformers.pipeline(..., batch_size=32)`` loop: rows/s on the
same model and data, and the same predicted labels (issue #13).

Each side runs in a fresh interpreter (``_common.run_child``), paired A, B, A, B …; the figure is the median of
the per-pair ratios (FACTS.md: a neighbour process changes CPU throughput several-fold). What other processes
did during each run is recorded next to it.

    python benchmarks/predict_speed.py --name quickstart --model outputs/quickstart \\
        --data recipes/data/debian-sections/test.jsonl --pairs 3
    python benchmarks/predict_speed.py --name icons-effnet --model OUT --data ICONS/test --pairs 3

Results: ``benchmarks/results/predict_<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, child_env, command_line, machine_facts, median, run_child, utc_now, write_json  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def _inputs(data: Path) -> tuple[str, list]:
    """('text', texts) for a JSONL/CSV file, ('image', paths) for a folder of images (sorted, recursive)."""
    from hf_transfer.inference.sources import IMAGE_SUFFIXES

    if data.is_dir():
        return "image", sorted(str(p) for p in data.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if data.suffix == ".jsonl":
        return "text", [json.loads(line)["text"] for line in data.read_text().splitlines()]
    import csv

    return "text", [row["text"] for row in csv.DictReader(data.open())]


def child(args) -> None:
    """One measured run in this fresh process: prints a JSON line with rows/s and the labels."""
    import torch

    data = Path(args.data)
    kind, inputs = _inputs(data)
    start = time.perf_counter()
    if args.side == "pipeline":
        from transformers import pipeline

        import hf_transfer.modeling  # noqa: F401  registers model_type hf_transfer (as the README says)

        kwargs = {}
        if kind == "text":
            run = pipeline("text-classification", model=args.model, device="cpu")
            # the same truncation as the run trained with (its recipe's task.max_length), as predict does
            from hf_transfer.inference import open_model

            loaded_model = open_model(args.model)
            kwargs = {
                "truncation": True,
                "max_length": loaded_model.task.resolved_max_length(loaded_model.processor, loaded_model.model.config),
            }
            del loaded_model
        else:
            run = pipeline("image-classification", model=args.model, device="cpu")
        loaded = time.perf_counter()
        out = run(inputs, batch_size=args.batch_size, **kwargs)
        labels = [o["label"] if isinstance(o, dict) else o[0]["label"] for o in out]
    else:
        import hf_transfer

        out_file = Path(tempfile.mkdtemp()) / "pred.jsonl"
        from hf_transfer.inference import open_model

        model = open_model(args.model)
        loaded = time.perf_counter()
        hf_transfer.predict(
            model, str(data), out_file, batch_size=args.predict_batch_size, progress=False, precision=args.precision
        )
        rows = [json.loads(line) for line in out_file.read_text().splitlines()]
        if kind == "image":  # the folder's ids are relative paths in the same sorted order
            rows.sort(key=lambda r: r["id"])
        labels = [r["label"] for r in rows]
    end = time.perf_counter()
    print(
        json.dumps(
            {
                "side": args.side,
                "rows": len(inputs),
                "seconds": end - loaded,
                "load_seconds": loaded - start,
                "rows_per_second": len(inputs) / (end - loaded),
                "labels": labels,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="pipeline()'s batch size")
    parser.add_argument(
        "--predict-batch-size",
        type=int,
        help="predict's batch size (default: predict's own default, batches of similar-length texts by tokens)",
    )
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "auto", "bf16"),
        help="predict's precision (pipeline() runs in fp32; auto: predict's default, bf16 on a CPU with avx512_bf16)",
    )
    parser.add_argument("--side", choices=("pipeline", "predict"), help=argparse.SUPPRESS)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.side:
        child(args)
        return 0
    work = Path(tempfile.mkdtemp(prefix="predict_speed_"))
    runs = []
    for i in range(args.pairs):
        for side in ("pipeline", "predict"):
            argv = [
                sys.executable,
                __file__,
                "--name",
                args.name,
                "--model",
                args.model,
                "--data",
                args.data,
                "--batch-size",
                str(args.batch_size),
                *(
                    ["--predict-batch-size", str(args.predict_batch_size)]
                    if args.predict_batch_size is not None
                    else []
                ),
                "--precision",
                args.precision,
                "--side",
                side,
            ]
            log = work / f"{side}-{i}.log"
            record = run_child(argv, child_env(work), log, what=side)
            line = next(ln for ln in reversed(log.read_text().splitlines()) if ln.startswith("{"))
            runs.append({**json.loads(line), **{k: v for k, v in record.items() if k != "returncode"}})
    pipe = [r for r in runs if r["side"] == "pipeline"]
    ours = [r for r in runs if r["side"] == "predict"]
    ratios = [b["rows_per_second"] / a["rows_per_second"] for a, b in zip(pipe, ours)]
    same = all(a["labels"] == b["labels"] for a, b in zip(pipe, ours))
    agree = sum(x == y for x, y in zip(pipe[0]["labels"], ours[0]["labels"])) / max(len(pipe[0]["labels"]), 1)
    record = {
        "name": args.name,
        "date": utc_now(),
        "command": command_line(),
        "machine": machine_facts(),
        "model": args.model,
        "data": args.data,
        "batch_size": args.batch_size,
        "predict_batch_size": "default" if args.predict_batch_size is None else args.predict_batch_size,
        "precision": args.precision,
        "pipeline_rows_per_second": [round(r["rows_per_second"], 1) for r in pipe],
        "predict_rows_per_second": [round(r["rows_per_second"], 1) for r in ours],
        "median_ratio": median(ratios),
        "ratios": ratios,
        "same_labels": same,
        "label_agreement": agree,
        "runs": [{k: v for k, v in r.items() if k != "labels"} for r in runs],
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.results_dir / f"predict_{args.name}.json", record)
    batch_flag = f" `--batch-size {args.predict_batch_size}`" if args.predict_batch_size is not None else ""
    lines = [
        f"# predict vs pipeline: {args.name}",
        "",
        f"Measured {record['date']}: `{record['command']}`",
        "",
        "| | rows/s (each run) |",
        "|---|---|",
        f"| `pipeline(..., batch_size={args.batch_size})` | {', '.join(map(str, record['pipeline_rows_per_second']))} |",
        f"| `hf-transfer predict` (`--precision {args.precision}`{batch_flag}) | "
        f"{', '.join(map(str, record['predict_rows_per_second']))} |",
        "",
        f"Median ratio (predict / pipeline, paired): **{record['median_ratio']:.2f}×**; same labels: {same} "
        f"(agreement {agree:.4f}).",
    ]
    (args.results_dir / f"predict_{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
