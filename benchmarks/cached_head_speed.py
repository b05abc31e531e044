"""Rows/s of the Trainer loop on cached features: per-row Arrow reads + collation (before) vs whole-batch
rows from memory (hf_transfer.probe.InMemoryRows, now), same seed, same losses.

    PYTHONPATH=. .venv/bin/python benchmarks/cached_head_speed.py [--rows 10000 --dim 384 --steps 300]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time


def run(train, collate, args, tmp):
    import torch
    from transformers import Trainer, TrainingArguments

    from hf_transfer.features import head_only_model

    torch.manual_seed(0)
    head = torch.nn.Sequential(torch.nn.Linear(args.dim, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, args.classes))
    training = TrainingArguments(
        output_dir=tmp,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch,
        learning_rate=1e-3,
        logging_steps=args.log_every,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=head_only_model(head), args=training, train_dataset=train, data_collator=collate)
    start = time.perf_counter()  # the Trainer's train DataLoader alone: one pass
    loaded = sum(len(batch["labels"]) for batch in trainer.get_train_dataloader())
    loader = round(loaded / (time.perf_counter() - start), 1)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "seconds": round(seconds, 3),
        "rows_per_s": round(args.steps * args.batch / seconds, 1),
        "losses": losses,
        "loader_rows_per_s": loader,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--log-every", type=int, default=10)
    args = parser.parse_args()

    import numpy as np
    import torch
    from datasets import Dataset, Features, Sequence, Value

    from hf_transfer.probe import collate_rows, in_memory

    rng = np.random.default_rng(0)
    schema = Features({"features": Sequence(Value("float32"), length=args.dim), "labels": Value("int64")})
    arrow = Dataset.from_dict(
        {
            "features": rng.standard_normal((args.rows, args.dim), dtype=np.float32),
            "labels": rng.integers(0, args.classes, args.rows),
        },
        features=schema,
    ).with_format("torch")  # what cached_split returns
    with tempfile.TemporaryDirectory() as tmp:
        before = run(arrow, None, args, tmp)  # the Trainer's default collator, row by row
        after = run(in_memory(arrow), collate_rows, args, tmp)
    result = {
        "command": "benchmarks/cached_head_speed.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "before_rows_per_s": before["rows_per_s"],
        "after_rows_per_s": after["rows_per_s"],
        "speedup": round(after["rows_per_s"] / before["rows_per_s"], 2),
        "loader_before_rows_per_s": before["loader_rows_per_s"],
        "loader_after_rows_per_s": after["loader_rows_per_s"],
        "same_losses": before["losses"] == after["losses"],
        "first_losses": after["losses"][:5],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
