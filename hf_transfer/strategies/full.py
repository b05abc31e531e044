"""Strategy ``full``: every parameter of backbone and head trains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..registry import STRATEGIES
from . import Default, Strategy, is_convnet, make_report


def fine_tuning_defaults(backbone: Any, what: str) -> dict[str, Default]:
    """Defaults for training pretrained backbone weights with AdamW (full and partial fine-tuning)."""
    if is_convnet(backbone):
        return {
            "learning_rate": Default(
                1e-3,
                f"{what} of a convolutional backbone with AdamW: BatchNorm convnets take "
                "~10-20x a transformer's rate (fastai's fine_tune uses Adam at 1e-3-2e-3)",
            ),
            "num_train_epochs": Default(5, f"{what} of a convnet: a few epochs over the new data"),
            "warmup_steps": Default(0.1, "10% linear warm-up keeps the first updates from wrecking pretrained weights"),
            "weight_decay": Default(0.01, "light decoupled weight decay (AdamW), as in BERT/timm fine-tuning"),
        }
    return {
        "learning_rate": Default(
            5e-5,
            f"{what} of a transformer with AdamW: the BERT paper's range is 2e-5-5e-5; "
            "the upper end suits small data and few epochs",
        ),
        "num_train_epochs": Default(3, f"{what} of a transformer: the BERT paper's 2-4 epochs"),
        "warmup_steps": Default(0.1, "10% linear warm-up (BERT, RoBERTa fine-tuning)"),
        "weight_decay": Default(0.01, "decoupled weight decay 0.01 (BERT, RoBERTa fine-tuning)"),
    }


def fine_tuning_range(backbone: Any) -> tuple[float, float]:
    return (1e-5, 1e-2) if is_convnet(backbone) else (5e-6, 3e-4)


@STRATEGIES.register("full")
@dataclass
class Full(Strategy):
    def training_defaults(self, options, backbone):
        return fine_tuning_defaults(backbone, "full fine-tuning")

    def learning_rate_range(self, options, backbone):
        return fine_tuning_range(backbone)

    def apply(self, bundle, options):
        for p in bundle.model.parameters():
            p.requires_grad_(True)
        return bundle.model, make_report("full", bundle.model, "backbone and new head fine-tuned together")
