"""Feature cache for frozen backbones: run the backbone once per example, train the head on its output.

With ``strategy: frozen`` the backbone is a fixed function, so recomputing it every
epoch (what a plain Trainer loop does) wastes nearly all the compute. We capture
the input of the head module (the pooled features) under ``torch.inference_mode``,
write it with ``datasets``' Arrow writer (memory-mapped when read back, so it need
not fit in RAM) and train the head alone with the Trainer on those rows.

A cache entry is keyed by a fingerprint of the backbone (reference + revision, or
a hash of the local folder's files), the preprocessing (task options, processor
settings), the head input (model class, pooling, head modules), the split's data
fingerprint and the number of augmented views. Changing the head, the learning
rate or the epochs reuses it; anything that changes the features misses it.
Entries live in ``$HF_TRANSFER_CACHE`` (default ``~/.cache/hf_transfer``)/features.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("hf_transfer")
META = "meta.json"
DATA = "features.arrow"


def cache_dir() -> Path:
    root = os.environ.get("HF_TRANSFER_CACHE") or Path.home() / ".cache" / "hf_transfer"
    return Path(root) / "features"


def _hash_files(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def backbone_fingerprint(backbone: Any) -> dict[str, Any]:
    if backbone.is_local:
        return {"reference": backbone.reference, "files_sha256": _hash_files(Path(backbone.location))}
    commit = getattr(backbone.config, "_commit_hash", None)
    return {"reference": backbone.reference, "revision": backbone.revision, "commit": commit}


def data_fingerprint(dataset: Any) -> str:
    """A hash of the rows themselves, in order (index mappings from slicing and carving honoured).

    ``Dataset._fingerprint`` would be cheaper, but a split loaded together with other files inherits
    their hash too; hashing the content costs one pass over the Arrow data, far less than the backbone.
    """
    import pyarrow as pa

    digest = hashlib.sha256()
    for batch in dataset.with_format("arrow").iter(batch_size=4096):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_table(batch)
        digest.update(sink.getvalue())
    return digest.hexdigest()


def _processor_settings(processor: Any) -> Any:
    for attr in ("to_dict", "init_kwargs"):
        value = getattr(processor, attr, None)
        if value is not None:
            value = value() if callable(value) else value
            return json.loads(json.dumps(value, default=str, sort_keys=True))
    return type(processor).__name__


@dataclass
class CacheKey:
    parts: dict[str, Any]

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def make_key(backbone_fp: dict, task: Any, processor: Any, bundle: Any, split: str, dataset: Any, views: int) -> CacheKey:
    from .schema import to_dict

    return CacheKey(
        {
            "backbone": backbone_fp,
            "task": {"name": task.name, **to_dict(task)},
            "processor": _processor_settings(processor),
            "head_input": {
                "model": type(bundle.model).__name__,
                "pooling": bundle.pooling,
                "head_modules": bundle.head_module_names,
            },
            "split": split,
            "data": data_fingerprint(dataset),
            "augmented_views": views,
        }
    )


def _head_input_module(bundle: Any) -> Any | None:
    names = bundle.head_module_names
    return bundle.model.get_submodule(names[0]) if len(names) == 1 else None


def _extract(model: Any, head: Any, dataset: Any, collate: Any, batch_size: int, workers: int, passes: int, path: Path, desc: str) -> int | None:
    """Write (features, labels) rows to ``path``, ``passes`` times over ``dataset`` (augmented views differ
    per pass); return the feature width, or None if the head's input is not one vector per example."""
    import torch
    from datasets import Features, Sequence, Value
    from datasets.arrow_writer import ArrowWriter
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    captured: list = []
    hook = head.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
    device = next(model.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate, num_workers=workers)
    writer = None
    width = None
    try:
        model.eval()
        with torch.inference_mode():
            for view in range(passes):
                label = desc + (f" (view {view + 1}/{passes})" if passes > 1 else "")
                for batch in tqdm(loader, desc=label):
                    labels = batch.pop("labels")
                    captured.clear()
                    model(**{k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()})
                    feats = captured[0]
                    if feats.dim() > 2 and feats[0, 0].numel() == 1:  # (B, C, 1, 1) pooled maps
                        feats = feats.flatten(1)
                    if feats.dim() != 2:
                        return None
                    if writer is None:
                        width = int(feats.shape[1])
                        schema = Features({"features": Sequence(Value("float32"), length=width), "labels": Value("int64")})
                        writer = ArrowWriter(features=schema, path=str(path))
                    writer.write_batch({"features": feats.float().cpu().numpy().tolist(), "labels": labels.tolist()})
    finally:
        hook.remove()
        if writer is not None:
            writer.finalize()
            writer.close()
    return width


@dataclass
class CachedSplit:
    dataset: Any  # datasets.Dataset with "features" and "labels", torch format
    key: str
    hit: bool
    rows: int
    seconds: float  # time spent computing the features (0 on a hit)


def cached_split(bundle, task, processor, backbone_fp, split, dataset, collate, batch_size, workers, views=0) -> CachedSplit | None:
    """The cached features of one split, computing them on a miss; None if this head cannot be cached."""
    from datasets import Dataset

    head = _head_input_module(bundle)
    if head is None:
        return None
    key = make_key(backbone_fp, task, processor, bundle, split, dataset, views)
    entry = cache_dir() / key.digest
    if (entry / META).is_file() and (entry / DATA).is_file():
        logger.info("feature cache hit for %s: %s", split, entry)
        ds = Dataset.from_file(str(entry / DATA))
        return CachedSplit(ds.with_format("torch"), key.digest, True, len(ds), 0.0)
    tmp = entry.with_name(entry.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    start = time.perf_counter()
    try:
        width = _extract(
            bundle.model, head, dataset, collate, batch_size, workers, max(views, 1), tmp / DATA, f"caching {split} features"
        )
        if width is None:
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        seconds = time.perf_counter() - start
        rows = len(Dataset.from_file(str(tmp / DATA)))
        meta = {
            "key": key.digest, "parts": key.parts, "rows": rows, "feature_dim": width,
            "seconds": round(seconds, 3), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        (tmp / META).write_text(json.dumps(meta, indent=2, default=str) + "\n")
        if entry.exists():  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.rename(entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("feature cache miss for %s: %d rows of %d features in %.1fs → %s", split, rows, width, seconds, entry)
    ds = Dataset.from_file(str(entry / DATA))
    return CachedSplit(ds.with_format("torch"), key.digest, False, rows, seconds)


def list_entries() -> list[dict[str, Any]]:
    root = cache_dir()
    out = []
    for meta_file in sorted(root.glob(f"*/{META}")):
        meta = json.loads(meta_file.read_text())
        meta["path"] = str(meta_file.parent)
        meta["bytes"] = sum(p.stat().st_size for p in meta_file.parent.rglob("*") if p.is_file())
        out.append(meta)
    return out


def remove_entries(keys: list[str] | None) -> list[str]:
    """Remove the named entries (all when ``keys`` is None); return the removed keys."""
    removed = []
    for entry in list_entries():
        if keys is None or entry["key"] in keys:
            shutil.rmtree(entry["path"])
            removed.append(entry["key"])
    return removed


@dataclass
class CachedTraining:
    """What the Trainer gets instead of the full model and raw data."""

    model: Any  # the head alone, reading cached features
    args: Any
    splits: dict[str, Any]
    info: dict[str, Any]


def head_only_model(head: Any) -> Any:
    """The head as a model the Trainer can train on cached features (it shares the head's parameters)."""
    import torch
    from transformers.modeling_outputs import SequenceClassifierOutput

    class HeadOnFeatures(torch.nn.Module):
        def __init__(self, module: torch.nn.Module):
            super().__init__()
            self.head = module

        def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None):
            logits = self.head(features)
            loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
            return SequenceClassifierOutput(loss=loss, logits=logits)

    return HeadOnFeatures(head)


def prepare_cached_training(bundle, task, processor, backbone, data, collate, args, views: int) -> CachedTraining | None:
    """Cache every split's features and set up head-only training; None when this head cannot be cached."""
    import dataclasses

    splits = task.preprocess(data, processor, backbone.config, augment_train=views > 0)
    fingerprint = backbone_fingerprint(backbone)
    cached: dict[str, CachedSplit] = {}
    for split in ("train", "validation", "test"):
        if splits.get(split) is None:
            continue
        result = cached_split(
            bundle, task, processor, fingerprint, split, splits[split], collate,
            args.per_device_eval_batch_size, args.dataloader_num_workers, views if split == "train" else 0,
        )
        if result is None:
            logger.warning(
                "feature cache unavailable: the head (%s) does not read one feature vector per example; "
                "training it through the frozen backbone instead", ", ".join(bundle.head_module_names),
            )
            return None
        cached[split] = result
    head_args = dataclasses.replace(
        args, train_sampling_strategy="random", dataloader_num_workers=0, dataloader_persistent_workers=False,
        gradient_checkpointing=False,
    )
    preprocessing = f"{views} augmented views per training example" if views else "eval-time preprocessing (no augmentation)"
    info = {
        "preprocessing": preprocessing,
        "seconds": round(sum(c.seconds for c in cached.values()), 3),
        **{split: {"key": c.key, "hit": c.hit, "rows": c.rows, "seconds": round(c.seconds, 3)} for split, c in cached.items()},
    }
    data.notes.append(f"frozen-backbone features cached ({preprocessing})")
    head = bundle.model.get_submodule(bundle.head_module_names[0])
    return CachedTraining(head_only_model(head), head_args, {s: c.dataset for s, c in cached.items()}, info)
