"""Strategy ``full``: every parameter of backbone and head trains."""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import STRATEGIES
from . import Strategy, StrategyReport, count_parameters


@STRATEGIES.register("full")
@dataclass
class Full(Strategy):
    def apply(self, model):
        for p in model.parameters():
            p.requires_grad_(True)
        trainable, total = count_parameters(model)
        return model, StrategyReport("full", trainable, total, "backbone and new head fine-tuned together")
