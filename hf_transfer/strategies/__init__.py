"""Strategies: what trains, and what is saved.

A strategy is one file in this package that registers a class in ``STRATEGIES``.
:meth:`Strategy.apply` takes the :class:`~hf_transfer.model.ModelBundle` (model +
which parameters are the new head) and the recipe's strategy section, freezes or
wraps the model, and returns the model to train with a :class:`StrategyReport`.
:meth:`Strategy.save` writes the artifacts and :meth:`Strategy.artifacts` says how
each one reloads, for the end-of-training reload check. The defaults suit
strategies whose result is one plain transformers model.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar


@dataclass
class StrategyReport:
    """What the logs, results and model card say about the strategy."""

    strategy: str
    trainable_params: int
    total_params: int
    description: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable_params / max(self.total_params, 1)

    def summary(self) -> str:
        return (
            f"strategy {self.strategy}: {self.trainable_params:,} of {self.total_params:,} parameters trainable "
            f"({self.trainable_percent:.2f}%) — {self.description}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.strategy,
            "trainable_params": self.trainable_params,
            "total_params": self.total_params,
            "trainable_percent": self.trainable_percent,
            "description": self.description,
            **self.details,
        }


def make_report(name: str, model: Any, description: str, **details: Any) -> StrategyReport:
    # ds_numel: under DeepSpeed ZeRO-3 the model is built partitioned and each parameter holds an empty shard.
    trainable = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters() if p.requires_grad)
    total = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())
    return StrategyReport(name, trainable, total, description, details)


def set_trainable(model: Any, trainable: set[str]) -> None:
    for name, p in model.named_parameters():
        p.requires_grad_(name in trainable)


def keep_frozen_modules_in_eval(model: Any) -> list[str]:
    """Keep every fully frozen sub-module in eval mode, even when Trainer calls ``model.train()``.

    BatchNorm running statistics then stay those of the pretrained backbone, and
    dropout in frozen layers is off (frozen features are a fixed function).
    Returns the names of the modules held in eval mode.
    """
    frozen: list[tuple[str, Any]] = []
    for name, module in model.named_modules():
        if any(name.startswith(f + ".") for f, _ in frozen) or module is model:
            continue
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            frozen.append((name, module))
    original = model.train

    def train(mode: bool = True):
        original(mode)
        for _, module in frozen:
            module.eval()
        return model

    model.train = train
    model.train(model.training)
    return [name for name, _ in frozen]


class Strategy(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    def apply(self, bundle: Any, options: Any) -> tuple[Any, StrategyReport]:
        """Prepare ``bundle.model`` for training; return the model to train and a report."""

    def save(self, trainer: Any, output_dir: Path) -> None:
        """Write the trained model (weights, config, processor) to ``output_dir``."""
        trainer.save_model(str(output_dir))

    def artifacts(self, task: Any, output_dir: Path) -> list[tuple[Path, Callable[[], Any]]]:
        """Each saved artifact and how users reload it."""
        from ..loading import load_model

        return [(output_dir, lambda: load_model(output_dir))]
