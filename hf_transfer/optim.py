"""Per-parameter learning rates: a separate head learning rate and layer-wise decay.

Only the parameter groups are ours. The optimizer class and its arguments come
from ``Trainer.get_optimizer_cls_and_kwargs(args)`` (so ``training.optim``,
``optim_args``, betas, eps … all work), weight-decay exclusions from
``Trainer.get_decay_parameter_names``, and the scheduler from Trainer as usual.
"""

from __future__ import annotations

import logging
from typing import Any

from .blocks import block_index_of_parameters, find_blocks

logger = logging.getLogger("hf_transfer")


def parameter_learning_rates(model: Any, backbone: Any, head_ids: set[int], base_lr: float, options: Any) -> dict[int, float]:
    """id(parameter) → learning rate, for trainable parameters."""
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
            rates[id(p)] = head_lr
        elif id(p) in depth:
            # top block: decay^0; each block below: one more factor; the stem: below the first block.
            rates[id(p)] = base_lr * decay ** (n_blocks - 1 - depth[id(p)]) if depth[id(p)] >= 0 else base_lr * decay**n_blocks
        else:
            rates[id(p)] = base_lr
    return rates


def build_optimizer(model: Any, args: Any, backbone: Any, head_ids: set[int], options: Any) -> Any | None:
    """An optimizer with per-group learning rates, or None to let Trainer build its default one."""
    if options.head_learning_rate is None and options.layerwise_lr_decay in (None, 1.0):
        return None
    from transformers import Trainer

    rates = parameter_learning_rates(model, backbone, head_ids, args.learning_rate, options)
    decay_names = set(Trainer.get_decay_parameter_names(None, model))
    groups: dict[tuple[float, bool], list] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups.setdefault((rates[id(p)], name in decay_names), []).append(p)
    param_groups = [
        {"params": params, "lr": lr, "weight_decay": args.weight_decay if decays else 0.0}
        for (lr, decays), params in sorted(groups.items(), key=lambda kv: kv[0])
    ]
    optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    kwargs.pop("lr", None)
    logger.info("optimizer %s with %d parameter groups, learning rates %.3g … %.3g", optimizer_cls.__name__, len(param_groups),
                min(rates.values()), max(rates.values()))
    return optimizer_cls(param_groups, **kwargs)
