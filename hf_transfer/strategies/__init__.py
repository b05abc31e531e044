"""Strategies: what trains and how the result is saved.

A strategy is one file in this package that registers a class in ``STRATEGIES``.
:meth:`Strategy.apply` changes the model in place (freezing, wrapping with
adapters, new heads) and returns a :class:`StrategyReport`; :meth:`Strategy.save`
writes the artifact; :meth:`Strategy.load_saved` reloads it for the reload check.
The defaults suit strategies whose result is a plain ``transformers`` model.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass
class StrategyReport:
    """What the model card and logs say about the strategy."""

    strategy: str
    trainable_params: int
    total_params: int
    description: str

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable_params / max(self.total_params, 1)

    def summary(self) -> str:
        return (
            f"strategy {self.strategy}: {self.trainable_params:,} of {self.total_params:,} parameters trainable "
            f"({self.trainable_percent:.2f}%) — {self.description}"
        )


def count_parameters(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


class Strategy(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    def apply(self, model: Any) -> tuple[Any, StrategyReport]:
        """Prepare ``model`` for training; return the model to train and a report."""

    def save(self, trainer: Any, output_dir: Path) -> None:
        """Write the trained model (weights, config, processor) to ``output_dir``."""
        trainer.save_model(str(output_dir))

    def load_saved(self, task: Any, output_dir: Path) -> Any:
        """Reload what :meth:`save` wrote, as users will."""
        return task.auto_model_class().from_pretrained(str(output_dir))
