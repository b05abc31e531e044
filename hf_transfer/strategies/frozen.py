"""Strategy ``frozen``: the backbone is a fixed feature extractor; only the new head trains.

The classic Keras transfer-learning recipe (GAP → Dense(1024, relu) → softmax on a
frozen ImageNet backbone) is ``strategy: {name: frozen, head: mlp, head_hidden_sizes: [1024]}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import STRATEGIES
from . import Strategy, keep_frozen_modules_in_eval, make_report, set_trainable


@STRATEGIES.register("frozen")
@dataclass
class Frozen(Strategy):
    def apply(self, bundle, options):
        set_trainable(bundle.model, bundle.head_param_names)
        keep_frozen_modules_in_eval(bundle.model)
        return bundle.model, make_report(
            "frozen", bundle.model, f"backbone frozen (eval mode); {options.head} head trained on {bundle.pooling} pooling"
        )
