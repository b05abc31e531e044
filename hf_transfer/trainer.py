"""The Trainer hf_transfer runs: transformers' own, with per-parameter learning rates and class weights when
the recipe asks.

Overriding ``create_optimizer`` is the extension point Trainer documents; passing a ready
optimizer through ``optimizers=`` would be refused under FSDP and bypass DeepSpeed's
handling, while Trainer calls this method at the right moment for every engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from .class_weights import weighted_cross_entropy
from .optim import parameter_groups

logger = logging.getLogger("hf_transfer")


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """Trainer's length-grouped training order, drawn from ``seed + epoch`` instead of the global random state.

    transformers builds the training ``LengthGroupedSampler`` without a generator, so each epoch's order
    depends on how much randomness the run had consumed (dropout, augmentation) by then: a run resumed in
    epoch 2 or later saw a different order than the run it continues, skipped the wrong batches and
    ended with different weights. Trainer calls ``set_epoch`` on the sampler before every epoch.
    """

    def __init__(self, batch_size: int, lengths: list[int], seed: int):
        super().__init__(batch_size, lengths=lengths)
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator = torch.Generator().manual_seed(self.seed + int(epoch))


class TransferTrainer(Trainer):
    def __init__(
        self,
        *args,
        learning_rates: dict[str, float] | None = None,
        class_weights: list[float] | None = None,
        loss: Callable[..., Any] | None = None,
        always_task_loss: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.learning_rates = learning_rates
        self.class_weights = class_weights
        self.loss = loss
        self.always_task_loss = always_task_loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """With ``task.class_weights``, the task's weighted loss (``Task.batch_loss(logits, labels, weights,
        label_smoothing)``; the weighted cross-entropy of :mod:`hf_transfer.class_weights` unless the task says
        otherwise) on the model's logits, whatever the head (a transformers head, an hf_transfer head, a head on
        cached features); the loss the model computes itself otherwise, unless the task's loss is one no model computes
        (``always_task_loss``, e.g. regression's Huber loss on standardised targets). A batch mean, like the models' own loss
        (Trainer divides it by the accumulation steps: ``compute_loss_func`` would make it assume a token-count loss)."""
        if (self.class_weights is None and not self.always_task_loss) or "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss_fn = self.loss or weighted_cross_entropy
        loss = loss_fn(outputs["logits"], labels, self.class_weights, self.args.label_smoothing_factor)
        return (loss, outputs) if return_outputs else loss

    def _get_train_sampler(self, train_dataset=None):
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler and sampler.generator is None:
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return EpochSeededLengthGroupedSampler(sampler.batch_size, sampler.lengths, seed)
        return sampler

    def create_optimizer(self, model=None):
        if self.learning_rates is None or self.optimizer is not None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        decay_names = set(self.get_decay_parameter_names(opt_model))
        groups = parameter_groups(opt_model, self.learning_rates, decay_names, self.args.weight_decay)
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        kwargs.pop("lr", None)
        rates = [g["lr"] for g in groups]
        logger.info(
            "optimizer %s with %d parameter groups, learning rates %.3g … %.3g",
            optimizer_cls.__name__,
            len(groups),
            min(rates),
            max(rates),
        )
        self.optimizer = optimizer_cls(groups, **kwargs)
        return self.optimizer

    def close_dataloader_workers(self) -> None:
        """Stop the worker processes that ``dataloader_persistent_workers`` keeps alive, now.

        torch stops them only when their loader is freed. When a finished Trainer is freed by the garbage
        collector (a reference cycle: a notebook, a test session, a second ``train()`` in one process), the
        queues that tell the workers to stop are finalised first, so every loader then waits out its
        5-second join timeout before killing its workers: a second run stalled ~10 s. torch has no public
        close, so this runs the iterator's own shutdown (what freeing it runs) while the queues still work.
        """
        for loader in getattr(self.accelerator, "_dataloaders", []):  # Trainer prepares every loader it builds
            loader = getattr(loader, "base_dataloader", loader)  # accelerate's wrappers hold the torch loader
            iterator = getattr(loader, "_iterator", None)
            if iterator is not None and hasattr(iterator, "_shutdown_workers"):
                iterator._shutdown_workers()
                loader._iterator = None
