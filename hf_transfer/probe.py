"""Exact linear probes and whole-batch rows for heads trained on cached features.

A linear head on frozen features is a convex problem: multinomial logistic regression.
Solving it to convergence (full-batch L-BFGS) with the L2 strength chosen on the
validation split is the linear-probe protocol of the representation-learning
literature, and needs no learning rate, epochs or batch size. ``strategy.head_solver:
lbfgs`` runs it (:func:`solve_head`); ``sgd`` keeps the Trainer loop.

For the Trainer loop (mlp heads, ``sgd``) the cached rows are held as one in-memory
tensor and a batch is one indexing operation (:class:`InMemoryRows`), instead of a
per-row Arrow read and collation: the same batches, far more rows per second.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("hf_transfer")

# Penalty 0.5 * l2 * ||W||² on standardised features, added to the mean cross-entropy
# (sklearn's C on the same standardised features is 1 / (l2 * rows)).
L2_GRID = tuple(10.0 ** (-e / 2) for e in range(0, 15))  # 1 … 1e-7, strongest first
IN_MEMORY_LIMIT = 4 * 2**30  # bytes of cached features held in RAM for the Trainer loop


class InMemoryRows:
    """Cached (features, labels) rows as tensors; ``__getitems__`` returns a whole batch (torch's DataLoader
    fetches a batch with it in one call), so collation is one indexing operation, not one per row."""

    def __init__(self, features: Any, labels: Any):
        self.features, self.labels = features, labels  # CPU tensors
        # numpy fancy indexing: single-threaded, so no thread-pool hand-off per batch (torch's index is ~20× slower
        # for a 32-row batch on a busy 2-core machine)
        self._features, self._labels = features.numpy(), labels.numpy()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"features": self.features[index], "labels": self.labels[index]}

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        import numpy as np
        import torch

        index = np.asarray(indices, dtype=np.int64)
        return {"features": torch.from_numpy(self._features[index]), "labels": torch.from_numpy(self._labels[index])}


class TokenRows:
    """Cached per-token rows (a list of labelled-token vectors per example, see :func:`hf_transfer.features._extract`)
    held as one flat (tokens, D) tensor with row offsets; ``__getitems__`` pads a batch to its longest row:
    features (B, L, D) with zeros, labels (B, L) with -100, which the per-token loss and scores ignore."""

    def __init__(self, features: Any, labels: Any, offsets: Any):
        self.features, self.labels, self.offsets = features, labels, offsets  # flat CPU tensors; offsets (N + 1,)
        self._features, self._labels, self._offsets = features.numpy(), labels.numpy(), offsets.numpy()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        import numpy as np
        import torch

        starts, ends = self._offsets[indices], self._offsets[np.asarray(indices) + 1]
        longest = int((ends - starts).max(initial=0))
        feats = np.zeros((len(indices), longest, self._features.shape[1]), dtype=np.float32)
        labels = np.full((len(indices), longest), -100, dtype=np.int64)
        for i, (start, end) in enumerate(zip(starts, ends)):
            feats[i, : end - start] = self._features[start:end]
            labels[i, : end - start] = self._labels[start:end]
        return {"features": torch.from_numpy(feats), "labels": torch.from_numpy(labels)}


def collate_rows(batch: Any) -> dict[str, Any]:
    """The Trainer's collator for :class:`InMemoryRows`: a batch from ``__getitems__`` is already collated."""
    if isinstance(batch, dict):
        return batch
    from transformers import default_data_collator

    return default_data_collator(batch)


def _token_tensors(table: Any) -> tuple[Any, Any, Any]:
    """Per-token rows: (features float32 (tokens, D), labels int64 (tokens,), row offsets int64 (N + 1,))."""
    import numpy as np
    import torch

    features, labels = table.column("features").combine_chunks(), table.column("labels").combine_chunks()
    width = features.type.value_type.list_size
    start = features.offsets[0].as_py()
    offsets = features.offsets.to_numpy().astype(np.int64) - start
    vectors = features.values.slice(start, offsets[-1]).flatten().to_numpy(zero_copy_only=False)
    ids = labels.values.slice(labels.offsets[0].as_py(), offsets[-1]).to_numpy(zero_copy_only=False)
    return (
        torch.from_numpy(np.array(vectors, dtype=np.float32).reshape(-1, width)),  # a writable copy
        torch.from_numpy(ids.astype(np.int64)),
        torch.from_numpy(offsets),
    )


def tensors(dataset: Any) -> tuple[Any, Any]:
    """(features float32 (N, D), labels int64 (N,)) of a cached split (a datasets.Dataset read from its entry);
    per-token rows give every labelled token's row (a per-token head is the same linear map on each)."""
    import numpy as np
    import pyarrow as pa
    import torch

    table = dataset.with_format("arrow")[:]
    if not pa.types.is_fixed_size_list(table.schema.field("features").type):  # a list of vectors per row
        x, y, _ = _token_tensors(table)
        return x, y
    feats = [c.flatten().to_numpy(zero_copy_only=False) for c in table.column("features").chunks]
    width = table.schema.field("features").type.list_size
    x = np.concatenate(feats).reshape(-1, width) if feats else np.zeros((0, width), np.float32)
    column = table.column("labels")
    label_width = getattr(table.schema.field("labels").type, "list_size", None)
    if label_width is not None:  # multi-hot rows (several labels per example)
        parts = [c.flatten().to_numpy(zero_copy_only=False) for c in column.chunks]
        y = np.concatenate(parts).reshape(-1, label_width) if parts else np.zeros((0, label_width), np.float32)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(
            np.ascontiguousarray(y, dtype=np.float32)
        )
    y = column.to_numpy()
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.astype(np.int64))


def in_memory(dataset: Any) -> Any:
    """The split as :class:`InMemoryRows` when its features fit :data:`IN_MEMORY_LIMIT`, else unchanged
    (memory-mapped Arrow rows, read per row)."""
    from .feature_store import feature_width

    if feature_width(dataset.features) != dataset.features["features"].length:
        # per-token rows: padded per batch from one flat tensor (Arrow rows of lists of vectors do not collate)
        return TokenRows(*_token_tensors(dataset.with_format("arrow")[:]))
    width = dataset.features["features"].length
    if len(dataset) * max(width, 1) * 4 > IN_MEMORY_LIMIT:
        logger.info(
            "cached features (%d × %d) exceed %d GiB: the Trainer reads them per row",
            len(dataset),
            width,
            IN_MEMORY_LIMIT >> 30,
        )
        return dataset
    return InMemoryRows(*tensors(dataset))


@dataclass
class ProbeFit:
    """A multinomial logistic regression on raw features: logits = features @ weight.T + bias."""

    weight: Any  # (classes, features)
    bias: Any  # (classes,)
    l2: float
    validation_accuracy: float | None
    train_loss: float
    seconds: float
    sweep: list[dict[str, float]] = field(default_factory=list)


def _accuracy(weight: Any, bias: Any, x: Any, y: Any) -> float:
    return float(((x @ weight.T + bias).argmax(1) == y).float().mean())


def fit_logistic(
    x: Any,
    y: Any,
    num_classes: int,
    x_val: Any = None,
    y_val: Any = None,
    l2_grid: tuple[float, ...] = L2_GRID,
    max_iter: int = 100,
    patience: int = 3,
    class_weights: list[float] | None = None,
    loss_fn: Any = None,
    score_fn: Any = None,
) -> ProbeFit:
    """Full-batch L-BFGS fits over ``l2_grid`` (strongest first, each warm-started from the previous one);
    the fit with the best validation accuracy wins, ties going to the stronger penalty; the sweep stops after
    ``patience`` strengths in a row without a better one (weak penalties are the slow fits). Without validation
    rows the median strength is used. Features are standardised for conditioning (a constant feature is only
    centred) and the result folded back so it reads raw features; the solve runs in float32. ``class_weights``
    (one per class) weight the cross-entropy as :func:`hf_transfer.class_weights.weighted_cross_entropy` does
    (scikit-learn's ``class_weight`` at the same ``C``). ``loss_fn(logits, labels, weights)`` and ``score_fn(logits,
    labels)`` replace the cross-entropy and the validation accuracy (a task's own, e.g. one-vs-rest binary
    cross-entropy and micro F1 for several labels per example; see :meth:`hf_transfer.tasks.Task.batch_loss`)."""
    import torch

    from .class_weights import weighted_cross_entropy

    def cross_entropy(logits: Any) -> Any:
        if loss_fn is not None:
            return loss_fn(logits, y, class_weights)
        if class_weights is None:
            return torch.nn.functional.cross_entropy(logits, y)
        return weighted_cross_entropy(logits, y, class_weights)

    def validation_score(weight: Any, bias: Any) -> float:
        if score_fn is None:
            return _accuracy(weight, bias, zv, y_val)
        return float(score_fn(zv @ weight.T + bias, y_val))

    start = time.perf_counter()
    x = x.float()
    mean = x.mean(0)
    std = x.std(0) if len(x) > 1 else torch.ones_like(mean)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    z = (x - mean) / std
    zv = None if x_val is None or not len(x_val) else (x_val.float() - mean) / std
    grid = list(l2_grid) if zv is not None else [sorted(l2_grid)[len(l2_grid) // 2]]
    weight = torch.zeros(num_classes, x.shape[1], device=x.device, requires_grad=True)
    bias = torch.zeros(num_classes, device=x.device, requires_grad=True)
    best: tuple[float, float, Any, Any, float] | None = None
    sweep = []
    worse = 0
    for l2 in grid:
        optimizer = torch.optim.LBFGS(
            [weight, bias],
            lr=1,
            max_iter=max_iter,
            history_size=20,
            tolerance_grad=1e-5,
            tolerance_change=1e-9,
            line_search_fn="strong_wolfe",
        )

        def closure(optimizer=optimizer, l2=l2):  # bound now: L-BFGS calls it within this iteration only
            optimizer.zero_grad()
            loss = cross_entropy(z @ weight.T + bias) + 0.5 * l2 * weight.pow(2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            loss = float(cross_entropy(z @ weight.T + bias))
            accuracy = validation_score(weight, bias) if zv is not None else float("nan")
        sweep.append({"l2": l2, "validation_accuracy": accuracy, "train_loss": loss})
        if best is None or accuracy > best[0]:
            best = (accuracy, l2, weight.detach().clone(), bias.detach().clone(), loss)
            worse = 0
        else:
            worse += 1
            if worse >= patience:
                break
    accuracy, l2, w, b = best[0], best[1], best[2], best[3]
    # logits = ((x - mean) / std) @ w.T + b  ==  x @ (w / std).T + (b - (w / std) @ mean)
    raw_w = w / std
    raw_b = b - raw_w @ mean
    return ProbeFit(raw_w, raw_b, l2, None if zv is None else accuracy, best[4], time.perf_counter() - start, sweep)


def solve_head(cache: Any, report: Any, class_weights: list[float] | None = None, task: Any = None) -> Any:
    """Fit the cached-feature head (a single ``nn.Linear``) with :func:`fit_logistic`, write it into the head
    copy the Trainer evaluates and the full model's head, and return a ``TrainOutput`` for the run's metrics.

    Under several processes every process fits (the cached rows are whole on each) and the main process's
    result is broadcast, so all hold the same head."""
    import torch
    from accelerate import PartialState
    from transformers.trainer_utils import TrainOutput

    linear = linear_layer(cache.model.head)
    device = linear.weight.device
    x, y = _split_tensors(cache.splits["train"])
    val = cache.splits.get("validation")
    xv, yv = _split_tensors(val) if val is not None else (None, None)
    start = time.time()
    fit = fit_logistic(
        x.to(device),
        y.to(device),
        linear.out_features,
        None if xv is None else xv.to(device),
        None if yv is None else yv.to(device),
        class_weights=class_weights,
        loss_fn=None if task is None else task.batch_loss,
        score_fn=None if task is None else task.probe_score,
        l2_grid=L2_GRID if task is None else task.probe_l2_grid,
    )
    metric = "accuracy" if task is None else task.probe_metric
    state = PartialState()
    weight, bias = fit.weight.to(state.device), fit.bias.to(state.device)
    if state.num_processes > 1:
        from accelerate.utils import broadcast

        weight, bias = broadcast(weight.contiguous()), broadcast(bias.contiguous())
    with torch.no_grad():
        for module in (linear, linear_layer(cache.head)):
            module.weight.copy_(weight.to(module.weight.device, module.weight.dtype))
            module.bias.copy_(bias.to(module.bias.device, module.bias.dtype))
    cache.solved = True
    runtime = time.time() - start
    report.details["head_solver"] = {
        "solver": "lbfgs",
        "l2": fit.l2,
        "sklearn_C": 1.0 / (fit.l2 * len(y)),
        f"validation_{metric}": fit.validation_accuracy,
        "seconds": round(fit.seconds, 3),
        "sweep": [
            {(f"validation_{metric}" if k == "validation_accuracy" else k): round(v, 6) for k, v in s.items()}
            for s in fit.sweep
        ],
    }
    logger.info(
        "lbfgs linear probe: l2 %.3g chosen on validation (%s %.4f) from %d strengths in %.2fs",
        fit.l2,
        metric.replace("_", " "),
        fit.validation_accuracy or float("nan"),
        len(fit.sweep),
        fit.seconds,
    )
    metrics = {
        "train_runtime": round(runtime, 4),
        "train_samples_per_second": round(len(y) / max(runtime, 1e-9), 3),
        "train_loss": fit.train_loss,
    }
    return TrainOutput(0, fit.train_loss, metrics)


def linear_layer(head: Any) -> Any | None:
    """The head's one Linear layer when the head is linear (a Linear, possibly with dropout around it), else None."""
    import torch

    if isinstance(head, torch.nn.Linear):
        return head
    if isinstance(head, torch.nn.Sequential):
        linears = [m for m in head if isinstance(m, torch.nn.Linear)]
        others = [m for m in head if not isinstance(m, (torch.nn.Linear, torch.nn.Dropout, torch.nn.Identity))]
        if len(linears) == 1 and not others:
            return linears[0]
    return None


def _split_tensors(split: Any) -> tuple[Any, Any]:
    if isinstance(split, (InMemoryRows, TokenRows)):
        return split.features, split.labels
    return tensors(split)
