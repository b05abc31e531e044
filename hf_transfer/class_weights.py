"""``task.class_weights``: per-class weights in the classification loss.

One definition for every path that computes a loss (the Trainer loop, whatever the head, and the
L-BFGS head fit): the mean over the batch of each example's cross-entropy times its class's weight,

    loss = 1/N · Σ_i w[y_i] · CE(logits_i, y_i)

(scikit-learn's ``sample_weight`` semantics, not torch's ``weight=`` which divides by Σ w[y_i] and so
makes the weights vanish in a batch of one class, e.g. with batch size 1). ``auto`` is scikit-learn's
"balanced" formula on the training split, ``n_samples / (n_classes · count[c])``: the example weights
then average 1 over the training set, so the loss keeps its scale and the learning rate (or the
L-BFGS L2 strength) its meaning. Importing this module does not import torch.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ConfigError
from .registry import did_you_mean
from .schema import describe

AUTO = "auto"
SHOWN = 20  # labels listed in the log line and the card row


def problems(value: Any, key: str) -> list[str]:
    """Recipe-level problems with a ``class_weights`` value (label names are checked against the data later)."""
    if value is None or value == AUTO:
        return []
    if not isinstance(value, dict):
        hint = did_you_mean(value, [AUTO]) if isinstance(value, str) else ""
        return [
            f"'{key}' must be auto or a mapping of label to weight, found {describe(value)}{hint}; "
            f"fix: {key}=auto (inverse class frequency) or {key}={{<label>: 2.0}}"
        ]
    bad = [
        f"{label}: {describe(w)}"
        for label, w in value.items()
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0
    ]
    if bad:
        return [
            f"'{key}' weights must be positive finite numbers, found {', '.join(bad)}; "
            "fix: give each label a weight > 0 such as 2.0 (labels not listed get 1.0)"
        ]
    return []


def resolve(
    value: Any, labels: list[str], train_label_ids: Any, key: str = "task.class_weights"
) -> dict[str, Any] | None:
    """The weights of ``labels`` (in id order) and how they were chosen, or None without class weights.

    ``train_label_ids`` are the training split's label ids (needed for ``auto`` only)."""
    if value is None:
        return None
    if value == AUTO:
        counts = [0] * len(labels)
        for i in train_label_ids:
            counts[int(i)] += 1
        n, k = sum(counts), sum(1 for c in counts if c)
        # a class without training examples adds nothing to the training loss; its weight stays 1
        weights = [n / (k * c) if c else 1.0 for c in counts]
        return {
            "mode": AUTO,
            "formula": "n_samples / (n_classes * count)",
            "weights": dict(zip(labels, weights)),
            "train_counts": dict(zip(labels, counts)),
        }
    given = {str(label): float(w) for label, w in value.items()}
    unknown = [label for label in given if label not in labels]
    if unknown:
        hints = "".join(did_you_mean(label, labels) for label in unknown[:3])
        raise ConfigError(
            [
                f"'{key}' names label(s) the data lacks: {', '.join(unknown)}{hints}; the data's labels are: "
                f"{', '.join(labels)}; fix: use those names (labels not listed get weight 1.0)"
            ]
        )
    return {"mode": "mapping", "weights": {label: given.get(label, 1.0) for label in labels}}


def vector(resolved: dict[str, Any] | None) -> list[float] | None:
    """The weights in label-id order (what the loss takes)."""
    return None if resolved is None else list(resolved["weights"].values())


def describe_weights(resolved: dict[str, Any]) -> str:
    """One line for the log and the model card."""
    how = resolved.get("how") or (
        "auto: n_samples / (n_classes × count) on the training split" if resolved["mode"] == AUTO else "from the recipe"
    )
    shown = [f"{label} {w:.4g}" for label, w in list(resolved["weights"].items())[:SHOWN]]
    more = len(resolved["weights"]) - SHOWN
    return ", ".join(shown) + (f", … ({more} more in training_report.json)" if more > 0 else "") + f" ({how})"


def weighted_cross_entropy(logits: Any, labels: Any, weights: Any, label_smoothing: float = 0.0) -> Any:
    """1/N · Σ_i weights[labels_i] · CE(logits_i, labels_i), computed in float32; ``label_smoothing`` as
    ``training.label_smoothing_factor`` (torch's formula is the one of transformers' LabelSmoother)."""
    import torch

    weights = torch.as_tensor(weights, dtype=torch.float32, device=logits.device)
    per_example = torch.nn.functional.cross_entropy(
        logits.float(), labels, reduction="none", label_smoothing=label_smoothing
    )
    return (per_example * weights[labels]).mean()
