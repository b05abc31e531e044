"""The Trainer hf_transfer runs: transformers' own, with per-parameter learning rates when the recipe asks.

Overriding ``create_optimizer`` is the extension point Trainer documents; passing a ready
optimizer through ``optimizers=`` would be refused under FSDP and bypass DeepSpeed's
handling, while Trainer calls this method at the right moment for every engine.
"""

from __future__ import annotations

import logging

from transformers import Trainer

from .optim import parameter_groups

logger = logging.getLogger("hf_transfer")


class TransferTrainer(Trainer):
    def __init__(self, *args, learning_rates: dict[str, float] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.learning_rates = learning_rates

    def create_optimizer(self, model=None):
        if self.learning_rates is None or self.optimizer is not None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        decay_names = set(self.get_decay_parameter_names(opt_model))
        groups = parameter_groups(opt_model, self.learning_rates, decay_names, self.args.weight_decay)
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        kwargs.pop("lr", None)
        rates = [g["lr"] for g in groups]
        logger.info("optimizer %s with %d parameter groups, learning rates %.3g … %.3g",
                    optimizer_cls.__name__, len(groups), min(rates), max(rates))
        self.optimizer = optimizer_cls(groups, **kwargs)
        return self.optimizer
