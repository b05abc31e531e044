"""Strategy ``partial``: the last ``num_blocks`` blocks of the backbone (and what follows them) train with the head."""

from __future__ import annotations

from dataclasses import dataclass

from ..blocks import find_blocks
from ..errors import ConfigError
from ..registry import STRATEGIES
from ..schema import field
from . import Strategy, keep_frozen_modules_in_eval, make_report, set_trainable
from .full import fine_tuning_defaults, fine_tuning_range


@STRATEGIES.register("partial")
@dataclass
class Partial(Strategy):
    num_blocks: int = field(help="how many of the backbone's last blocks to fine-tune (transformer layers, or stages)")

    def validate(self, prefix: str) -> list[str]:
        if self.num_blocks < 1:
            return [
                f"'{prefix}.num_blocks' must be at least 1, found {self.num_blocks}; use strategy.name=frozen to train only the head"
            ]
        return []

    def training_defaults(self, options, backbone):
        return fine_tuning_defaults(backbone, f"fine-tuning the last {self.num_blocks} blocks")

    def learning_rate_range(self, options, backbone):
        low, high = fine_tuning_range(backbone)
        return low, high * 3  # fewer pretrained weights move: a somewhat higher rate is still stable

    def apply(self, bundle, options):
        model = bundle.model
        backbone = model.get_submodule(model.base_model_prefix)
        blocks = find_blocks(backbone)
        if self.num_blocks > len(blocks):
            raise ConfigError(
                [
                    f"'strategy.num_blocks' is {self.num_blocks}, but the backbone has {len(blocks)} blocks "
                    f"({blocks[0][0]} … {blocks[-1][0]}); use at most {len(blocks)}, or strategy.name=full"
                ]
            )
        first = blocks[len(blocks) - self.num_blocks][1]
        first_param = next(first.parameters())
        trainable = set(bundle.head_param_names)
        seen = False
        prefix = model.base_model_prefix + "."
        for name, p in model.named_parameters():
            seen = seen or p is first_param
            if seen and name.startswith(prefix):
                trainable.add(name)
        set_trainable(model, trainable)
        keep_frozen_modules_in_eval(model)
        unfrozen = [name for name, _ in blocks[len(blocks) - self.num_blocks :]]
        return model, make_report(
            "partial",
            model,
            f"last {self.num_blocks} of {len(blocks)} backbone blocks and the head trained",
            unfrozen_blocks=unfrozen,
            total_blocks=len(blocks),
        )
