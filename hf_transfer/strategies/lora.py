"""Strategy ``lora``: low-rank adapters (peft) on the backbone; the new head trains in full.

Saved: the adapter (adapter config + weights, the head included through
``modules_to_save``), the run's ``config.json`` (labels, head shape) and the
processor; with ``merge: true`` also ``merged/``, a plain model with the adapters
folded in (``hf-transfer merge ADAPTER_DIR OUT_DIR`` does the same later).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ..outputs import MERGED_DIR
from ..registry import STRATEGIES, did_you_mean
from ..schema import field
from . import CONVNET_TYPES, Default, Strategy, keep_frozen_modules_in_eval, make_report

logger = logging.getLogger("hf_transfer")

# Module-name suffixes to adapt, per backbone family (model_type): the first alternative whose names all
# exist is used (module names differ between transformers versions, e.g. ViT's query/value vs q_proj/v_proj).
ATTENTION = (["query", "value"], ["q_proj", "v_proj"])
PRESETS: dict[str, tuple[list[str], ...]] = {
    **{
        t: ATTENTION
        for t in (
            "bert",
            "roberta",
            "xlm-roberta",
            "camembert",
            "electra",
            "mpnet",
            "vit",
            "deit",
            "vit_msn",
            "dinov2",
            "swin",
            "swinv2",
            "beit",
            "data2vec-vision",
        )
    },
    "distilbert": (["q_lin", "v_lin"],),
    "deberta": (["in_proj"],),
    "deberta-v2": (["query_proj", "value_proj"],),
    "convnext": (["pwconv1", "pwconv2"],),
    "convnextv2": (["pwconv1", "pwconv2"],),
    "resnet": (["convolution"],),
    # timm models: attention qkv (ViT, Swin, EVA…), MLP fc1/fc2 (ConvNeXt), 1x1/3x3 convs (ResNet), EfficientNet pw convs.
    "timm_wrapper": (["qkv"], ["fc1", "fc2"], ["conv1", "conv2", "conv3"], ["conv_pw", "conv_pwl"]),
}


def _adaptable_modules(model: Any, head_modules: list[str]) -> dict[str, str]:
    """Full name → short name of every module LoRA can wrap, excluding the head."""
    import torch.nn as nn
    from transformers.pytorch_utils import Conv1D

    out = {}
    for name, module in model.named_modules():
        if any(name == h or name.startswith(h + ".") for h in head_modules):
            continue
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, Conv1D)):
            out[name] = name.rsplit(".", 1)[-1]
    return out


def _model_type(model: Any) -> str:
    config = model.config
    if getattr(config, "model_type", "") == "hf_transfer":
        return config.backbone.get("model_type", "")
    return getattr(config, "model_type", "")


def _architecture(model: Any) -> str:
    """The backbone's model type, or for timm backbones its architecture (efficientnet_lite0, resnet50 …)."""
    model_type = _model_type(model)
    if model_type != "timm_wrapper":
        return model_type
    config = model.config
    backbone = getattr(config, "backbone", None)
    return str(
        (backbone or {}).get("architecture", "") if isinstance(backbone, dict) else getattr(config, "architecture", "")
    )


@STRATEGIES.register("lora")
@dataclass
class Lora(Strategy):
    r: int = field(8, help="adapter rank")
    alpha: float = field(16, help="LoRA scaling numerator (lora_alpha)")
    dropout: float = field(0.1, help="dropout on the adapter input")
    target_modules: list[str] | str | None = field(
        None,
        help="module names to adapt; default: the backbone family's preset; 'all-linear' for every linear layer but the head",
    )
    last_blocks: int | Literal["auto", "all"] = field(
        "auto",
        help="adapt only target modules in the backbone's last N blocks (stages); auto: the last 2 stages of a "
        "convolutional backbone (LoRA in every stage of a CNN is slower than full fine-tuning), every block otherwise",
    )
    use_rslora: bool = field(False, help="rank-stabilised scaling alpha/sqrt(r)")
    use_dora: bool = field(False, help="weight-decomposed LoRA (DoRA)")
    merge: bool = field(False, help="also save merged/: a plain model with the adapters folded in")

    auto_text_pooling = "mean"  # the backbone's pooler layer stays frozen: pool the token states it adapts
    # Known gap: a LoRA model with our own pooling head fails its first forward under ZeRO-3 ("'weight'
    # must be 2-D", the embedding still partitioned); the backbone's own class works there.
    native_pooling_under_zero3 = True

    @classmethod
    def card_rows(cls, report):
        lora = report.get("lora")
        if not isinstance(lora, dict):
            return []
        targets = ", ".join(f"`{t}`" for t in lora.get("target_modules", []))
        flags = [name for key, name in (("use_rslora", "rsLoRA"), ("use_dora", "DoRA")) if lora.get(key)]
        where = f" in {lora['blocks'].split(' (')[0]}" if lora.get("blocks") else ""
        return [
            (
                "LoRA",
                f"r={lora.get('r')}, alpha={lora.get('alpha')}, dropout={lora.get('dropout')} on {targets}"
                + where
                + (f"; {', '.join(flags)}" if flags else ""),
            )
        ]

    def training_defaults(self, options, backbone):
        from . import is_convnet

        if is_convnet(backbone):
            rate = Default(
                3e-3,
                "LoRA on a convolutional backbone with AdamW: 3x full fine-tuning's convnet rate; "
                "measured on two real image sets (EfficientNet-Lite0), 3e-3 beat 1e-3 by 4 points",
            )
        else:
            rate = Default(
                1e-3,
                "LoRA with AdamW: the adapters start at zero and want ~10x the full fine-tuning rate "
                "(LoRA paper: 4e-4-5e-4 over 30+ epochs; fewer epochs here)",
            )
        return {
            "learning_rate": rate,
            "num_train_epochs": Default(5, "LoRA learns more slowly per step than full fine-tuning: a few more epochs"),
            "warmup_steps": Default(0.06, "6% linear warm-up, as in the LoRA paper"),
            "weight_decay": Default(0.01, "light decoupled weight decay (AdamW)"),
        }

    def learning_rate_range(self, options, backbone):
        return 5e-5, 5e-3

    def validate(self, prefix: str) -> list[str]:
        problems = []
        if self.r < 1:
            problems.append(f"'{prefix}.r' must be at least 1, found {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"'{prefix}.dropout' must be in [0, 1), found {self.dropout}")
        if isinstance(self.last_blocks, int) and self.last_blocks < 1:
            problems.append(
                f"'{prefix}.last_blocks' must be auto, all or a number of blocks (1 or more), found {self.last_blocks}"
            )
        return problems

    def _in_last_blocks(self, model: Any, targets: list[str]) -> tuple[list[str], str | None]:
        """``targets`` restricted to the backbone's last blocks (``last_blocks``), and what was chosen, in words.

        Measured (benchmarks/README.md, "LoRA on convolutional backbones"): peft's LoRA in every stage of a
        ResNet, ConvNeXt or EfficientNet costs 1.05-1.2x the time and more memory than full fine-tuning on CPU
        (backward still runs through every stage, plus the adapters' own convolutions); in the last 2 stages
        only, 0.36-0.61x the time and 0.2-0.5x the memory, because backward stops where the first adapter is."""
        from ..blocks import find_blocks

        wanted = self.last_blocks
        convnet = _architecture(model).startswith(CONVNET_TYPES)
        if wanted == "all" or (wanted == "auto" and not convnet):
            return targets, None
        count = 2 if wanted == "auto" else int(wanted)
        try:
            blocks = [name for name, _ in find_blocks(model)]
        except Exception:  # no block structure found: adapt every target (and say so)
            return targets, "every target module (no block structure found for last_blocks)"
        if count >= len(blocks):
            if count > len(blocks) and wanted != "auto":
                raise ConfigError(
                    [
                        f"'strategy.last_blocks' is {count}, but the backbone has {len(blocks)} blocks "
                        f"({blocks[0]} … {blocks[-1]}); use at most {len(blocks)}, or all"
                    ]
                )
            return targets, None
        last = blocks[-count:]
        kept = [t for t in targets if any(t == b or t.startswith(b + ".") for b in last)]
        if not kept:
            return targets, None
        why = (
            " (last_blocks auto on a convolutional backbone: LoRA in every stage is slower than full fine-tuning; "
            "strategy.last_blocks=all adapts every stage)"
            if wanted == "auto"
            else ""
        )
        return kept, f"the last {count} of {len(blocks)} blocks ({', '.join(last)}){why}"

    def resolve_targets(self, model: Any, head_modules: list[str]) -> list[str]:
        modules = _adaptable_modules(model, head_modules)
        short_names = sorted(set(modules.values()))
        wanted = self.target_modules
        if wanted == "all-linear":
            import torch.nn as nn

            all_modules = dict(model.named_modules())
            return sorted(
                n for n in modules if isinstance(all_modules[n], nn.Linear) or type(all_modules[n]).__name__ == "Conv1D"
            )
        if isinstance(wanted, str):
            wanted = [wanted]
        if wanted is None:
            model_type = _model_type(model)
            wanted = next((p for p in PRESETS.get(model_type, ()) if set(p) <= set(short_names)), None)
            if wanted is None:
                raise ConfigError(
                    [
                        f"no LoRA target preset for backbone type '{model_type}'; set strategy.target_modules to some "
                        f"of its module names ({', '.join(short_names)}) or to all-linear"
                    ]
                )
        missing = [
            t
            for t in wanted
            if not any(full == t or short == t or full.endswith("." + t) for full, short in modules.items())
        ]
        if missing:
            raise ConfigError(
                [
                    f"'strategy.target_modules': {', '.join(repr(m) for m in missing)} not found in the model"
                    f"{did_you_mean(missing[0], short_names)}; modules LoRA can adapt: {', '.join(short_names)}"
                ]
            )
        return sorted(
            full
            for full, short in modules.items()
            if short in wanted or full in wanted or any(full.endswith("." + t) for t in wanted)
        )

    def apply(self, bundle, options):
        from peft import LoraConfig, TaskType, get_peft_model

        from ..tasks import declared

        model = bundle.model
        head_modules = bundle.head_module_names
        targets, where = self._in_last_blocks(model, self.resolve_targets(model, head_modules))
        if where:
            logger.info("LoRA adapters in %s", where)
        peft_task_type = declared(bundle.task, "peft_task_type")
        config = LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=targets,
            modules_to_save=head_modules,
            use_rslora=self.use_rslora,
            use_dora=self.use_dora,
            task_type=getattr(TaskType, peft_task_type) if peft_task_type and not bundle.custom else None,
        )
        peft_model = get_peft_model(model, config)
        keep_frozen_modules_in_eval(peft_model.base_model.model)
        short = sorted({t.rsplit(".", 1)[-1] for t in targets})
        report = make_report(
            "lora",
            peft_model,
            f"LoRA r={self.r}, alpha={self.alpha} on {', '.join(short)} ({len(targets)} modules); head trained in full",
            lora={
                "r": self.r,
                "alpha": self.alpha,
                "dropout": self.dropout,
                "target_modules": short,
                "blocks": where,
                "use_rslora": self.use_rslora,
                "use_dora": self.use_dora,
            },
        )
        return peft_model, report

    def save(self, trainer: Any, output_dir: Path) -> None:
        trainer.save_model(str(output_dir))
        if trainer.is_world_process_zero():
            # The run's config (labels, head shape) next to the adapter, so that it reloads by itself.
            base = trainer.model.get_base_model()
            base.config.architectures = [type(base).__name__]
            base.config.save_pretrained(str(output_dir))
            if self.merge:
                from ..loading import merge_adapter

                merge_adapter(output_dir, output_dir / MERGED_DIR)

    def artifacts(self, task, output_dir: Path):
        from ..loading import load_model

        out = [(output_dir, lambda: load_model(output_dir))]
        if self.merge:
            out.append((output_dir / MERGED_DIR, lambda: load_model(output_dir / MERGED_DIR)))
        return out
