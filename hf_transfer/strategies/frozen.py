"""Strategy ``frozen``: the backbone is a fixed feature extractor; only the new head trains.

The classic Keras transfer-learning recipe (GAP → Dense(1024, relu) → softmax on a
frozen ImageNet backbone) is ``strategy: {name: frozen, head: mlp, head_hidden_sizes: [1024]}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..registry import STRATEGIES
from ..schema import field
from . import Default, Strategy, keep_frozen_modules_in_eval, make_report, set_trainable


@STRATEGIES.register("frozen")
@dataclass
class Frozen(Strategy):
    cache_features: bool = field(
        True, help="run the backbone once per example and train the head on cached features (see hf_transfer.features)"
    )
    cache_augmented_views: int = field(
        0, help="cache this many augmented views of each training image instead of one eval-preprocessed view"
    )
    head_solver: Literal["auto", "lbfgs", "sgd"] = field(
        "auto",
        help="how a head on cached features trains: lbfgs (a linear head fitted exactly, L2 strength chosen "
        "on validation; auto's choice for linear heads, see hf_transfer.probe) or sgd (the Trainer loop; mlp heads)",
    )

    auto_text_pooling = "mean"  # the pooler layer stays frozen and may never have been trained for this task
    adapts_backbone = False

    def uses_feature_cache(self) -> bool:
        return self.cache_features

    def training_defaults(self, options, backbone):
        linear = options.head == "linear"
        rate = 1e-2 if linear else 1e-3
        epochs = 30 if self.cache_features else 5
        return {
            "learning_rate": Default(
                rate,
                f"a new {options.head} head on fixed features with AdamW: "
                + (
                    "a linear probe (logistic regression) converges at 1e-2-3e-3"
                    if linear
                    else "an MLP head trains well at ~1e-3"
                ),
            ),
            "num_train_epochs": Default(
                epochs,
                "epochs over cached features cost little: enough to converge"
                if self.cache_features
                else "every epoch runs the frozen backbone again",
            ),
            "warmup_steps": Default(0.0, "a head on fixed features needs no warm-up"),
            "weight_decay": Default(0.01, "light decoupled weight decay (AdamW) on the head"),
        }

    def learning_rate_range(self, options, backbone):
        if self.head_solver == "lbfgs" or (
            self.head_solver == "auto" and options.head == "linear" and self.cache_features
        ):
            return None  # the exact solver uses no learning rate
        return (1e-3, 1e-1) if options.head == "linear" else (1e-4, 3e-2)

    def trained_learning_rate(self, options, learning_rate):
        return options.head_learning_rate or learning_rate

    def validate(self, prefix: str) -> list[str]:
        if self.head_solver == "lbfgs" and not self.cache_features:
            return [
                f"'{prefix}.head_solver' lbfgs fits the head on cached features, but '{prefix}.cache_features' is "
                f"false; set {prefix}.cache_features=true, or {prefix}.head_solver=sgd"
            ]
        if self.cache_augmented_views < 0:
            return [f"'{prefix}.cache_augmented_views' must be 0 or more, found {self.cache_augmented_views}"]
        if self.cache_augmented_views and not self.cache_features:
            return [f"'{prefix}.cache_augmented_views' needs '{prefix}.cache_features: true'"]
        return []

    def apply(self, bundle, options):
        set_trainable(bundle.model, bundle.head_param_names)
        keep_frozen_modules_in_eval(bundle.model)
        return bundle.model, make_report(
            "frozen",
            bundle.model,
            f"backbone frozen (eval mode); {options.head} head trained on {bundle.pooling} pooling",
        )
