"""Strategies: what trains, and what is saved.

A strategy is one file in this package that registers a class in ``STRATEGIES``.
:meth:`Strategy.apply` takes the :class:`~hf_transfer.model.ModelBundle` (model +
which parameters are the new head) and the recipe's strategy section, freezes or
wraps the model, and returns the model to train with a :class:`StrategyReport`.
:meth:`Strategy.save` writes the artifacts and :meth:`Strategy.artifacts` says how
each one reloads, for the end-of-training reload check. The defaults suit
strategies whose result is one plain transformers model.

A strategy also knows how it likes to be trained: :meth:`Strategy.training_defaults`
fills the training keys a recipe leaves unset (learning rate, epochs, warm-up, weight
decay), :meth:`Strategy.learning_rate_range` says which rates are usual (a recipe far
outside gets a warning), and ``auto_text_pooling`` is what ``pooling: auto`` picks for a
text backbone that declares no pooling of its own.
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


@dataclass(frozen=True)
class Default:
    """A training value a strategy supplies because the recipe left it unset, and why."""

    value: Any
    reason: str


# Convolutional backbone families (transformers model_type, or the timm architecture's prefix): they
# fine-tune well at rates ~10-20x a transformer's (BatchNorm, no attention logits to blow up).
CONVNET_TYPES = (
    "resnet",
    "convnext",
    "convnextv2",
    "regnet",
    "efficientnet",
    "mobilenet_v1",
    "mobilenet_v2",
    "bit",
    "mobilenetv3",
    "mobilenetv4",
    "efficientnet_lite",
    "tf_efficientnet",
    "resnext",
    "rexnet",
    "densenet",
)


def is_convnet(backbone: Any) -> bool:
    """True for a convolutional backbone (ResNet, ConvNeXt, EfficientNet, timm convnets …)."""
    model_type = getattr(backbone, "model_type", None) or ""
    if model_type == "timm_wrapper":
        config = getattr(backbone, "config", None)
        model_type = str(getattr(config, "architecture", "") or "")
    return model_type.startswith(CONVNET_TYPES)


# What a recipe without ``strategy.name`` trains with, and what ``hf-transfer rank`` scores backbones with (the
# backbone fixed, its features cached).
DEFAULT_STRATEGY = "full"
FEATURE_EXTRACTION_STRATEGY = "frozen"


class Strategy(abc.ABC):
    name: ClassVar[str]
    # What ``pooling: auto`` gives a text backbone without a declared pooling: "native" (its own
    # classification head's, e.g. BERT's pooler) suits training that reaches that layer; "mean" suits a
    # backbone whose pooler stays frozen (it may never have been trained on this objective).
    auto_text_pooling: ClassVar[str] = "native"
    # Whether backbone weights (or adapters inside the backbone) train: defaults chosen from the data size
    # (e.g. more epochs on a small image set) are for those strategies.
    adapts_backbone: ClassVar[bool] = True
    # Whether ``pooling: auto`` must fall back to the backbone's own classification pooling under DeepSpeed
    # ZeRO-3 (a strategy whose wrapped model cannot run our own pooling head there).
    native_pooling_under_zero3: ClassVar[bool] = False

    def uses_feature_cache(self) -> bool:
        """Whether the head trains on the backbone's cached features (see :mod:`hf_transfer.features`): the
        backbone then runs once per example, and the data must be indexable (not streamed)."""
        return False

    def training_defaults(self, options: Any, backbone: Any) -> dict[str, Default]:
        """TrainingArguments values this strategy needs where the recipe is silent (``options``: the strategy section)."""
        return {}

    def learning_rate_range(self, options: Any, backbone: Any) -> tuple[float, float] | None:
        """The usual (low, high) AdamW learning rate for this strategy; None when any rate is fine."""
        return None

    def trained_learning_rate(self, options: Any, learning_rate: float) -> float:
        """The rate of what mostly trains, the one :meth:`learning_rate_range` is about."""
        return learning_rate

    @classmethod
    def card_rows(cls, report: dict[str, Any]) -> list[tuple[str, str]]:
        """Rows the model card's details table adds for this strategy, read from its saved report (the
        ``strategy`` section of ``training_report.json``: what :meth:`apply` reported)."""
        return []

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
