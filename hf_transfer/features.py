"""Feature cache for frozen backbones: run the backbone once per example, train the head on its output.

With ``strategy: frozen`` the backbone is a fixed function, so recomputing it every
epoch (what a plain Trainer loop does) wastes nearly all the compute. We capture
the input of the head module (the pooled features) under ``torch.inference_mode``,
write it with ``datasets``' Arrow writer (memory-mapped when read back, so it need
not fit in RAM) and train the head alone with the Trainer on those rows.

A cache entry is keyed by a fingerprint of the backbone (reference + revision, or
a hash of the local folder's files), the preprocessing (task options, processor
settings), the head input (model class, pooling, head modules), the split's data
fingerprint, the number of augmented views and the precision the backbone ran in
(a bf16/fp16 run computes its features under autocast, as its Trainer would run the
backbone). Changing the head, the learning rate or the epochs reuses an entry;
anything that changes the features misses it.
Entries live in ``$HF_TRANSFER_CACHE`` (default ``~/.cache/hf_transfer``)/features.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .feature_store import DATA, META, cache_dir, check_entry, data_record, list_entries, remove_entries  # noqa: F401 (the cache's API)

logger = logging.getLogger("hf_transfer")
IGNORE_INDEX = -100  # the label of a position no loss reads (transformers' and torch's convention)


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


def make_key(
    backbone_fp: dict,
    task: Any,
    processor: Any,
    bundle: Any,
    split: str,
    dataset: Any,
    views: int,
    precision: str = "fp32",
) -> CacheKey:
    from .schema import to_dict

    options = {k: v for k, v in to_dict(task).items() if k not in task.decision_options}
    return CacheKey(
        {
            "backbone": backbone_fp,
            "task": {"name": task.name, "preprocessing_version": task.preprocessing_version, **options},
            "processor": _processor_settings(processor),
            "head_input": {
                "model": type(bundle.model).__name__,
                "pooling": bundle.pooling,
                "head_modules": bundle.head_module_names,
            },
            "split": split,
            "data": data_fingerprint(dataset),
            "augmented_views": views,
            "precision": precision,
        }
    )


def _head_input_module(bundle: Any) -> Any | None:
    names = bundle.head_module_names
    return bundle.model.get_submodule(names[0]) if len(names) == 1 else None


def _head_input(model: Any, head: Any, batch: dict, device: Any, per_token: bool = False) -> Any:
    """The head module's input for one collated batch (labels removed): (B, D), or with ``per_token`` (a head
    on every token) (B, T, D); None if it is not that shape."""
    captured: list = []
    hook = head.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
    try:
        model(**{k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()})
    finally:
        hook.remove()
    feats = captured[0]
    if per_token:
        return feats if feats.dim() == 3 else None
    if feats.dim() > 2 and feats[0, 0].numel() == 1:  # (B, C, 1, 1) pooled maps
        feats = feats.flatten(1)
    return feats if feats.dim() == 2 else None


def _labelled_tokens(feats: Any, labels: Any) -> list[tuple[Any, Any]]:
    """Per row of a (B, T, D) batch: the features and labels of its labelled tokens (label not -100), in order.
    Only these reach the loss and the scores, so only they are cached (e.g. a word's first sub-word)."""
    out = []
    for f, y in zip(feats.cpu().numpy(), labels.cpu().numpy()):
        keep = y != IGNORE_INDEX
        out.append((f[keep], y[keep]))
    return out


def _token_table(rows: list[tuple[Any, Any]], width: int) -> Any:
    """Per-token rows as an Arrow table: ``features`` a list of ``width``-wide vectors, ``labels`` a list of ids."""
    import numpy as np
    import pyarrow as pa

    sizes = np.asarray([len(y) for _, y in rows], dtype=np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32))
    flat = np.concatenate([f for f, _ in rows]) if rows else np.zeros((0, width), np.float32)
    labels = np.concatenate([y for _, y in rows]) if rows else np.zeros(0, np.int64)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(flat.astype(np.float32).reshape(-1)), width)
    return pa.table(
        {
            "features": pa.ListArray.from_arrays(offsets, vectors),
            "labels": pa.ListArray.from_arrays(offsets, pa.array(labels.astype(np.int64))),
        }
    )


# Rows per sorting window of the cache pass: long enough that sorting by length leaves little padding,
# short enough that a window's features (rows × width float32, e.g. 8,192 × 768 = 25 MB) stay small.
SORT_WINDOW_BATCHES = 64
# Share of a batch's tokens that must be real in a length-sorted pass: a batch ends before a row shorter than this
# share of its longest (a few more, smaller batches; no batch pads more than 10%).
MIN_FILL = 0.9


def pass_batches(lengths: list[int] | None, n_rows: int, batch_size: int) -> list[list[list[int]]]:
    """The batches of one encoder pass, grouped in windows of consecutive rows: within a window the rows are
    sorted by length (longest first, ties in dataset order) and a batch also ends before a row shorter than
    ``MIN_FILL`` of its first (longest) one, so that at least that share of what a batch computes is real tokens
    (the last batches of a window would otherwise mix what is left); without lengths (e.g. images, every input
    the same size) batches of ``batch_size`` in dataset order. Each window is written back in dataset order."""
    window = batch_size * SORT_WINDOW_BATCHES
    out = []
    for start in range(0, n_rows, window):
        rows = list(range(start, min(start + window, n_rows)))
        if lengths is None:
            out.append([rows[s : s + batch_size] for s in range(0, len(rows), batch_size)])
            continue
        rows.sort(key=lambda i: -lengths[i])
        batches: list[list[int]] = []
        for i in rows:
            if not batches or len(batches[-1]) == batch_size or lengths[i] < MIN_FILL * lengths[batches[-1][0]]:
                batches.append([])
            batches[-1].append(i)
        out.append(batches)
    return out


def real_token_fraction(lengths: list[int] | None, batches: list[list[int]]) -> float | None:
    """The share of the tokens an encoder pass computes that are real (not padding), for these batches."""
    if lengths is None:
        return None
    real = padded = 0
    for batch in batches:
        sizes = [lengths[i] for i in batch]
        real += sum(sizes)
        padded += max(sizes, default=0) * len(sizes)
    return real / max(padded, 1)


def _extract(
    model: Any,
    head: Any,
    dataset: Any,
    collate: Any,
    batch_size: int,
    workers: int,
    passes: int,
    path: Path,
    desc: str,
    precision: str = "fp32",
    lengths: list[int] | None = None,
    per_token: bool = False,
) -> int | None:
    """Write (features, labels) rows to ``path``, ``passes`` times over ``dataset`` (augmented views differ
    per pass); return the feature width, or None if the head's input is not one vector per example.

    ``lengths`` (tokens per example; None for inputs of one size): the rows are batched by length within
    windows of consecutive rows (:func:`pass_batches`), so that batches pad little, and each window's
    features are written back in dataset order. A window is buffered in memory, never the whole split.

    Under N processes a window's batches are dealt round-robin (process r computes batches r, r + N, …);
    after each step the features are gathered and the local main process of each node places them, so the
    entry is the same as a single process would write and the backbone pass is N times shorter. Every
    process takes part in every step (an empty batch where it has none left), so the collectives always
    match. With ``precision`` bf16/fp16 the backbone runs under autocast, as the Trainer runs it in such a
    run; the features are stored as float32.

    ``per_token`` (a task whose head reads every token, e.g. token classification): each row holds the vectors
    of its labelled tokens only (label not -100: a word's first sub-word), with their labels — variable-length
    lists, padded per batch when the head trains (:class:`hf_transfer.probe.TokenRows`).
    """
    import numpy as np
    import torch
    from accelerate import PartialState
    from accelerate.utils import gather, pad_across_processes
    from datasets import Features, Sequence, Value
    from datasets.arrow_writer import ArrowWriter
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    state = PartialState()
    n_proc, rank = state.num_processes, state.process_index
    device = next(model.parameters()).device
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    autocast = torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None)
    model.eval()
    with torch.inference_mode(), autocast:
        # One example first, on every process: whether this head can be cached and the feature width.
        probe = collate([dataset[0]])
        probe_labels = probe.pop("labels", None)
        first = _head_input(model, head, probe, device, per_token)
    if first is None:
        return None
    width = int(first.shape[-1])
    # class ids, or multi-hot float rows (several labels per example); per token: a list of ids per row
    label_width = (
        int(probe_labels.shape[1]) if not per_token and probe_labels is not None and probe_labels.dim() == 2 else None
    )
    label_feature = Value("int64") if label_width is None else Sequence(Value("float32"), length=label_width)
    vector = Sequence(Value("float32"), length=width)
    if per_token:
        vector, label_feature = Sequence(vector), Sequence(Value("int64"))
    windows = pass_batches(lengths, len(dataset), batch_size)
    fraction = real_token_fraction(lengths, [b for w in windows for b in w])
    if fraction is not None:
        in_order = [list(range(s, min(s + batch_size, len(dataset)))) for s in range(0, len(dataset), batch_size)]
        logger.info(
            "%s: %.0f%% of the tokens computed are real (batched by length; %.0f%% in dataset order)",
            desc,
            100 * fraction,
            100 * real_token_fraction(lengths, in_order),
        )
    mine = [b for w in windows for b in w[rank::n_proc]]
    steps = sum(-(-len(w) // n_proc) for w in windows)
    writer = None
    if state.is_local_main_process:
        schema = Features({"features": vector, "labels": label_feature})
        writer = ArrowWriter(features=schema, path=str(path))
    empty_labels = torch.zeros(0, dtype=torch.long) if label_width is None else torch.zeros(0, label_width)
    if per_token:
        empty_labels = torch.zeros(0, 1, dtype=torch.long)
    try:
        with torch.inference_mode(), autocast, _own_randomness(rank):
            for view in range(passes):
                label = desc + (f" (view {view + 1}/{passes})" if passes > 1 else "")
                loader = iter(DataLoader(dataset, batch_sampler=mine, collate_fn=collate, num_workers=workers))
                bar = tqdm(total=steps, desc=label, disable=not state.is_local_main_process)
                for batches in windows:
                    first_row = min(min(b) for b in batches)  # a window holds consecutive rows
                    n_rows = sum(len(b) for b in batches)
                    buffer_f = buffer_l = None
                    if writer is not None and per_token:
                        buffer_f = [None] * n_rows  # (features, labels) of each row's labelled tokens
                    elif writer is not None:
                        buffer_f = np.empty((n_rows, width), dtype=np.float32)
                        buffer_l = np.empty((n_rows, *empty_labels.shape[1:]), dtype=empty_labels.numpy().dtype)
                    for step in range(-(-len(batches) // n_proc)):
                        if step * n_proc + rank < len(batches):
                            batch = next(loader)
                            labels = batch.pop("labels").to(device)
                            feats = _head_input(model, head, batch, device, per_token).float()
                        else:
                            labels = empty_labels.to(device)
                            feats = torch.zeros(0, *([1] if per_token else []), width, device=device)
                        if n_proc > 1:
                            if per_token:  # sequence lengths differ between processes too
                                feats = pad_across_processes(feats, dim=1)
                                labels = pad_across_processes(labels, dim=1, pad_index=IGNORE_INDEX)
                            sizes = gather(torch.tensor([len(labels)], device=device)).tolist()
                            feats = gather(pad_across_processes(feats, dim=0)).reshape(n_proc, -1, *feats.shape[1:])
                            labels = gather(pad_across_processes(labels, dim=0)).reshape(n_proc, -1, *labels.shape[1:])
                            feats = torch.cat([feats[r, :size] for r, size in enumerate(sizes)])
                            labels = torch.cat([labels[r, :size] for r, size in enumerate(sizes)])
                        if buffer_f is not None:
                            done = batches[step * n_proc : (step + 1) * n_proc]
                            rows = np.asarray([i for b in done for i in b], dtype=np.int64) - first_row
                            if per_token:
                                for row, pair in zip(rows, _labelled_tokens(feats, labels)):
                                    buffer_f[row] = pair
                            else:
                                buffer_f[rows] = feats.cpu().numpy()
                                buffer_l[rows] = labels.cpu().numpy()
                        bar.update(1)
                    if writer is not None and per_token:
                        writer.write_table(_token_table(buffer_f, width))
                    elif writer is not None:
                        # numpy arrays, not lists: 15× faster writes (benchmarks/cache_writer.py)
                        writer.write_batch({"features": buffer_f, "labels": buffer_l})
                bar.close()
    finally:
        if writer is not None:
            writer.finalize()
            writer.close()
    return width


@contextmanager
def _own_randomness(rank: int):
    """Process ``rank`` draws its own augmentations: every process was seeded alike, so without this the
    example at one position of batch kN + r would get the same crop and flip on every process. The
    random state of the run is restored afterwards (training then goes on as it would have)."""
    import random

    import numpy as np
    import torch

    if rank == 0:
        yield
        return
    saved = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        seed = (torch.initial_seed() + 1_000_003 * rank) % 2**32
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])


@dataclass
class CachedSplit:
    dataset: Any  # datasets.Dataset with "features" and "labels", torch format
    key: str
    hit: bool
    rows: int
    seconds: float  # time spent computing the features (0 on a hit)


def _usable_entry(entry: Path, local_main: bool) -> Any | None:
    """The entry's rows if it exists and passes :func:`check_entry`; a damaged one is reported (then recomputed
    and replaced by the caller). Under N processes the local main process of each node runs every check and
    reports, the others check size, rows and width only (one checksum read per node, not N); every process
    then takes the verdict of all (``_everywhere``), so all recompute if any finds damage."""
    if not entry.exists():
        return None
    ds, problem = check_entry(entry, checksum=local_main)
    if problem and local_main:
        logger.warning("feature cache entry %s is damaged: %s; recomputing", entry.name, problem)
    return ds


def _everywhere(flag: bool) -> bool:
    """True when ``flag`` holds on every process (a cache entry may exist on one node's disk and not another's)."""
    from accelerate import PartialState

    state = PartialState()
    if state.num_processes == 1:
        return flag
    import torch
    from accelerate.utils import gather

    return bool(gather(torch.tensor([int(flag)], device=state.device)).min().item())


def cached_split(
    bundle, task, processor, backbone_fp, split, dataset, collate, batch_size, workers, views=0, precision="fp32"
) -> CachedSplit | None:
    """The cached features of one split, computing them on a miss; None if this head cannot be cached.

    Every process calls this; on a miss they share the backbone pass and the local main process of each
    node writes the entry (see ``_extract``)."""
    import socket

    from accelerate import PartialState
    from datasets import Dataset

    head = _head_input_module(bundle)
    if head is None:
        return None
    state = PartialState()
    key = make_key(backbone_fp, task, processor, bundle, split, dataset, views, precision)
    entry = cache_dir() / key.digest
    ds = _usable_entry(entry, state.is_local_main_process)
    if _everywhere(ds is not None):
        logger.info("feature cache hit for %s: %s", split, entry)
        return CachedSplit(ds.with_format("torch"), key.digest, True, len(ds), 0.0)
    tmp = entry.with_name(f"{entry.name}.tmp-{socket.gethostname()}-{os.getpid()}")
    writes = state.is_local_main_process
    if writes:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    start = time.perf_counter()
    try:
        width = _extract(
            bundle.model,
            head,
            dataset,
            collate,
            batch_size,
            workers,
            max(views, 1),
            tmp / DATA,
            f"caching {split} features",
            precision,
            task.input_lengths(dataset),
            not task.pools_features,
        )
        seconds = time.perf_counter() - start
        if writes and width is not None:
            rows = len(Dataset.from_file(str(tmp / DATA)))
            meta = {
                "key": key.digest,
                "parts": key.parts,
                "rows": rows,
                "feature_dim": width,
                "seconds": round(seconds, 3),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                **data_record(tmp),
            }
            (tmp / META).write_text(json.dumps(meta, indent=2, default=str) + "\n")
            # A damaged entry is replaced (checked again: another node sharing this disk may have replaced it).
            if entry.exists() and check_entry(entry)[1] is not None:
                shutil.rmtree(entry, ignore_errors=True)
            try:
                tmp.rename(entry)
            except OSError:  # another run (or another node sharing this disk) finished it first
                if check_entry(entry)[1] is not None:
                    raise
    finally:
        if writes:
            shutil.rmtree(tmp, ignore_errors=True)
    state.wait_for_everyone()  # the entry is complete on every node before anyone reads it
    if width is None:
        return None
    ds = Dataset.from_file(str(entry / DATA))
    logger.info(
        "feature cache miss for %s: %d rows of %d features in %.1fs → %s", split, len(ds), width, seconds, entry
    )
    return CachedSplit(ds.with_format("torch"), key.digest, False, len(ds), seconds)


@dataclass
class CachedTraining:
    """What the Trainer gets instead of the full model and raw data."""

    model: Any  # a copy of the head, reading cached features
    args: Any
    splits: dict[str, Any]
    info: dict[str, Any]
    head: Any  # the full model's head module
    solved: bool = False  # the head was fitted by hf_transfer.probe (already in place), not by the Trainer

    def restore_head(self, trainer: Any) -> None:
        """Put the trained head weights into the full model. Every process calls this: gathering them from
        FSDP shards or DeepSpeed ZeRO-3 partitions is collective (the main process receives them)."""
        if self.solved:
            return
        if trainer.is_deepspeed_enabled:
            # The engine's module holds bf16/fp16 weights in a mixed-precision run; the optimizer's fp32 master
            # copy is the trained head (gathering a ZeRO-3 partition is collective: every process calls this).
            from deepspeed.utils import safe_get_full_fp32_param

            module = trainer.model_wrapped.module
            state = {name: safe_get_full_fp32_param(p).cpu() for name, p in module.named_parameters()}
        else:
            state = trainer.accelerator.get_state_dict(trainer.model_wrapped)
        if state:
            self.head.load_state_dict({k[len("head.") :]: v for k, v in state.items() if k.startswith("head.")})


def head_only_model(head: Any, loss: Any = None) -> Any:
    """A copy of the head as a model the Trainer can train on cached features; ``loss(logits, labels)`` is the
    task's loss (:meth:`hf_transfer.tasks.Task.batch_loss`; default: cross-entropy).

    A copy, so that the engine (DDP, FSDP, DeepSpeed) may wrap, shard or partition it freely; the trained
    weights go back into the full model with :meth:`CachedTraining.restore_head`."""
    import copy

    import torch
    from transformers.modeling_outputs import SequenceClassifierOutput

    class HeadOnFeatures(torch.nn.Module):
        def __init__(self, module: torch.nn.Module):
            super().__init__()
            self.head = copy.deepcopy(module)

        def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None):
            logits = self.head(features)
            if labels is None:
                return SequenceClassifierOutput(loss=None, logits=logits)
            value = loss(logits, labels) if loss is not None else torch.nn.functional.cross_entropy(logits, labels)
            return SequenceClassifierOutput(loss=value, logits=logits)

    return HeadOnFeatures(head)


def prepare_cached_training(
    bundle, task, processor, backbone, data, collate, args, views: int
) -> CachedTraining | None:
    """Cache every split's features and set up head-only training; None when this head cannot be cached."""
    import dataclasses

    from .probe import in_memory

    splits = task.preprocess(data, processor, backbone.config, augment_train=views > 0)
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"  # the backbone pass, as training would run it
    fingerprint = backbone_fingerprint(backbone)
    bundle.model.to(args.device)  # the backbone pass runs on this process's accelerator, not where the model was built
    cached: dict[str, CachedSplit] = {}
    for split in ("train", "validation", "test"):
        if splits.get(split) is None:
            continue
        result = cached_split(
            bundle,
            task,
            processor,
            fingerprint,
            split,
            splits[split],
            collate,
            args.per_device_eval_batch_size,
            args.dataloader_num_workers,
            views if split == "train" else 0,
            precision,
        )
        if result is None:
            logger.warning(
                "feature cache unavailable: the head (%s) does not read one feature vector per example; "
                "training it through the frozen backbone instead",
                ", ".join(bundle.head_module_names),
            )
            return None
        cached[split] = result
    head_args = dataclasses.replace(
        args,
        train_sampling_strategy="random",
        dataloader_num_workers=0,
        dataloader_persistent_workers=False,
        gradient_checkpointing=False,
        remove_unused_columns=False,  # rows are features + labels only
    )
    # FSDP wrap classes named in the recipe are the backbone's; the head copy has none of them.
    if head_args.fsdp_config:
        head_args.fsdp_config = {k: v for k, v in head_args.fsdp_config.items() if k != "transformer_layer_cls_to_wrap"}
    if getattr(head_args, "fsdp_plugin_args", None):
        head_args.fsdp_plugin_args = {
            k: v for k, v in head_args.fsdp_plugin_args.items() if k != "transformer_cls_names_to_wrap"
        }
    preprocessing = (
        f"{views} augmented views per training example" if views else "eval-time preprocessing (no augmentation)"
    )
    info = {
        "preprocessing": preprocessing,
        "seconds": round(sum(c.seconds for c in cached.values()), 3),
        **{
            split: {"key": c.key, "hit": c.hit, "rows": c.rows, "seconds": round(c.seconds, 3)}
            for split, c in cached.items()
        },
    }
    data.notes.append(f"frozen-backbone features cached ({preprocessing})")
    head = bundle.model.get_submodule(bundle.head_module_names[0])
    # Whole-batch rows from memory (hf_transfer.probe.InMemoryRows; collate with probe.collate_rows).
    rows = {s: in_memory(c.dataset) for s, c in cached.items()}
    return CachedTraining(head_only_model(head, task.batch_loss), head_args, rows, info, head)
