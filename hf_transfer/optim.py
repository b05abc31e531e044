"""Per-parameter learning rates: a separate head learning rate and layer-wise decay.

Only the parameter groups are ours. The optimizer class and its arguments come
from ``Trainer.get_optimizer_cls_and_kwargs(args)`` (so ``training.optim``,
``optim_args``, betas, eps … all work), weight-decay exclusions from
``Trainer.get_decay_parameter_names``, and the scheduler from Trainer as usual.
The optimizer is built inside ``Trainer.create_optimizer`` (see ``hf_transfer.trainer``),
so FSDP and DeepSpeed get it the way they get Trainer's own: on the wrapped model
(FSDP v1), before sharding (FSDP v2), or handed to the DeepSpeed engine.
"""

from __future__ import annotations

import logging
from typing import Any

from .blocks import block_index_of_parameters, find_blocks

logger = logging.getLogger("hf_transfer")

# Prefixes the wrappers put in parameter names (torch FSDP v1, activation checkpointing, DDP/DataParallel).
_WRAPPER_PARTS = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")


def clean_name(name: str) -> str:
    """A parameter name as the unwrapped model spells it."""
    for part in _WRAPPER_PARTS:
        name = name.replace(part, "")
    return name[len("module.") :] if name.startswith("module.") else name


def parameter_learning_rates(
    model: Any, backbone: Any, head_ids: set[int], base_lr: float, options: Any
) -> dict[str, float] | None:
    """Parameter name → learning rate for the trainable parameters, or None when every one uses ``base_lr``."""
    if options.head_learning_rate is None and options.layerwise_lr_decay in (None, 1.0):
        return None
    head_lr = options.head_learning_rate or base_lr
    decay = options.layerwise_lr_decay
    depth: dict[int, int] = {}
    n_blocks = 0
    if decay is not None and decay != 1.0:
        blocks = find_blocks(backbone)
        n_blocks = len(blocks)
        depth = block_index_of_parameters(backbone, blocks)
    rates = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if id(p) in head_ids or ".modules_to_save." in name:
            rates[name] = head_lr
        elif id(p) in depth:
            # top block: decay^0; each block below: one more factor; the stem: below the first block.
            rates[name] = (
                base_lr * decay ** (n_blocks - 1 - depth[id(p)]) if depth[id(p)] >= 0 else base_lr * decay**n_blocks
            )
        else:
            rates[name] = base_lr
    return rates


def parameter_groups(model: Any, rates: dict[str, float], decay_names: set[str], weight_decay: float) -> list[dict]:
    """One optimizer group per (learning rate, weight decay) pair, for ``model``'s trainable parameters."""
    groups: dict[tuple[float, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key = clean_name(name)
        if key not in rates:
            raise RuntimeError(f"no learning rate was planned for trainable parameter {key}")
        groups.setdefault((rates[key], name in decay_names), []).append(p)
    return [
        {"params": params, "lr": lr, "weight_decay": weight_decay if decays else 0.0}
        for (lr, decays), params in sorted(groups.items(), key=lambda kv: kv[0])
    ]
