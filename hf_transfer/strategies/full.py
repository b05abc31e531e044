"""Strategy ``full``: every parameter of backbone and head trains."""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import STRATEGIES
from . import Strategy, make_report


@STRATEGIES.register("full")
@dataclass
class Full(Strategy):
    def apply(self, bundle, options):
        for p in bundle.model.parameters():
            p.requires_grad_(True)
        return bundle.model, make_report("full", bundle.model, "backbone and new head fine-tuned together")
