"""Training values a strategy supplies where the recipe is silent, and warnings for unusual rates.

A frozen head, LoRA adapters and full fine-tuning want learning rates orders of magnitude
apart: a recipe that switches only ``strategy.name`` must not keep the wrong one silently.
Each strategy states its own defaults (:meth:`Strategy.training_defaults`); only keys the
recipe's ``training`` section does not hold are filled (TrainingArguments' own defaults do
not count as set). Importing this module does not import torch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("hf_transfer")
WARMUP_KEYS = ("warmup_steps", "warmup_ratio")


@dataclass
class TrainingDefaults:
    """What the strategy filled in (key → value and reason) and what it warns about."""

    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def training_kwargs(self) -> dict[str, Any]:
        return {key: d["value"] for key, d in self.values.items()}


def _is_set(key: str, training: dict[str, Any]) -> bool:
    if key in WARMUP_KEYS:
        return any(k in training for k in WARMUP_KEYS)
    if key == "num_train_epochs" and (training.get("max_steps") or -1) > 0:
        return True  # max_steps decides the length of training
    return key in training


def global_batch_size(training: dict[str, Any]) -> int:
    """Examples per optimizer step as the recipe sets it up (TrainingArguments' own defaults underneath)."""
    import os

    per_device = int(training.get("per_device_train_batch_size") or 8)
    accumulation = int(training.get("gradient_accumulation_steps") or 1)
    return per_device * accumulation * max(int(os.environ.get("WORLD_SIZE", "1") or 1), 1)


def plan_training_defaults(recipe: Any, backbone: Any, train_rows: int | None = None) -> TrainingDefaults:
    """The strategy's defaults for the keys ``recipe.training`` leaves unset, then the task's defaults chosen
    from the training-set size (``train_rows``; None: unknown) over them, and learning-rate warnings."""
    strategy, options = recipe.strategy.options, recipe.strategy
    out = TrainingDefaults()
    planned = strategy.training_defaults(options, backbone)
    sized = recipe.task.options.size_defaults(
        train_rows, global_batch_size(recipe.training), planned, strategy.adapts_backbone
    )
    for key, default in {**planned, **sized}.items():
        if not _is_set(key, recipe.training):
            out.values[key] = {"value": default.value, "reason": default.reason}
            source = f"task {recipe.task.name}, from the data size" if key in sized else f"strategy {options.name}"
            logger.info("training.%s = %s (default of %s: %s)", key, default.value, source, default.reason)
    optimizer = optimizer_default(recipe.training)
    if optimizer is not None and not _is_set("optim", recipe.training):
        out.values["optim"] = {"value": optimizer.value, "reason": optimizer.reason}
        logger.info("training.optim = %s (default: %s)", optimizer.value, optimizer.reason)
    warning = learning_rate_warning(recipe, backbone)
    if warning:
        logger.warning(warning)
        out.warnings.append(warning)
    return out


def optimizer_default(training: dict[str, Any]) -> Any:
    """TrainingArguments' AdamW, fused (``adamw_torch_fused``), where torch has fused kernels for the device that
    trains: the same update as ``adamw_torch`` in one kernel per step over all parameters instead of several per
    tensor. None where the device has none (the recipe's or Trainer's own choice stands)."""
    import torch

    from .strategies import Default

    device = "cuda" if torch.cuda.is_available() and not training.get("use_cpu") else "cpu"
    try:  # a private helper, but the list torch.optim itself checks `fused=True` against
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        supported = device in _get_fused_kernels_supported_devices()
    except ImportError:
        supported = device == "cuda"
    if not supported:
        return None
    return Default(
        "adamw_torch_fused",
        "fused AdamW, the same update as adamw_torch with fewer kernel launches per step (benchmarks/README.md)",
    )


def learning_rate_warning(recipe: Any, backbone: Any) -> str | None:
    """A warning when the recipe's own learning rate is outside its strategy's usual AdamW range."""
    strategy, options, training = recipe.strategy.options, recipe.strategy, recipe.training
    if "learning_rate" not in training and options.head_learning_rate is None:
        return None
    optim = str(training.get("optim") or "adamw")
    usual = strategy.learning_rate_range(options, backbone)
    if usual is None or "adam" not in optim.lower():  # the ranges are for Adam-type optimizers
        return None
    rate = strategy.trained_learning_rate(options, float(training.get("learning_rate", 5e-5)))
    low, high = usual
    if low <= rate <= high:
        return None
    key = "strategy.head_learning_rate" if rate == options.head_learning_rate else "training.learning_rate"
    default = strategy.training_defaults(options, backbone).get("learning_rate")
    side = "below" if rate < low else "above"
    fix = f"remove it to use the strategy's default {default.value:g}" if default and key.startswith("training") else ""
    return (
        f"{key} {rate:g} is far {side} the usual range for strategy '{options.name}' (expected {low:g}-{high:g} with "
        f"AdamW, found {rate:g}): "
        + ("training may barely move" if rate < low else "training may diverge")
        + "; fix: "
        + (fix + ", or set one in that range" if fix else "set one in that range")
    )
