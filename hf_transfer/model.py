"""The model stop: a backbone with a new head sized to the labels.

With a ``linear`` head on the backbone's ``native`` pooling, the model is the
backbone's own ``AutoModelFor*Classification`` class (a standard folder that
``pipeline()`` loads). Anything else (an ``mlp`` head, ``mean``/``cls``/``pooler``
pooling that differs from the native one) uses :mod:`hf_transfer.modeling`.
``pooling: auto`` picks what the backbone was trained with: the pooling a
sentence-transformers folder declares, else the native one, except where the strategy
keeps the native pooler frozen (frozen, LoRA): a text backbone then gets mean pooling.
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("hf_transfer")
VIT_LIKE = ("vit", "deit", "vit_msn", "vit_mae", "dinov2")


@dataclass
class ModelBundle:
    """The model, which parameters form the new head, and how it was built."""

    model: Any
    head_param_names: set[str]
    pooling: str  # native, cls, mean or pooler
    custom: bool
    task: Any = None  # the task plugin the model is for (strategies read its declarations, e.g. peft_task_type)
    notes: list[str] = field(default_factory=list)

    @property
    def head_module_names(self) -> list[str]:
        """The outermost modules made only of head parameters (what LoRA's modules_to_save needs)."""
        chosen: list[str] = []
        for name, module in self.model.named_modules():
            if not name or any(name.startswith(c + ".") for c in chosen):
                continue
            params = [f"{name}.{n}" for n, _ in module.named_parameters()]
            if params and all(p in self.head_param_names for p in params):
                chosen.append(name)
        return chosen

    def backbone_parameters(self) -> list[tuple[str, Any]]:
        return [(n, p) for n, p in self.model.named_parameters() if n not in self.head_param_names]


def sentence_transformers_pooling(backbone: Any) -> str | None:
    """'mean' or 'cls' if the backbone is a sentence-transformers folder that declares it."""

    def read(name: str) -> Path | None:
        if backbone.is_local:
            path = Path(backbone.location) / name
            return path if path.is_file() else None
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(backbone.location, name, revision=backbone.revision))
        except Exception:  # not a sentence-transformers repo, or offline: fall back to native pooling
            return None

    modules_file = read("modules.json")
    if modules_file is None:
        return None
    for module in json.loads(modules_file.read_text()):
        if module.get("type", "").endswith("Pooling"):
            cfg_file = read(f"{module.get('path', '1_Pooling')}/config.json")
            if cfg_file is None:
                return None
            cfg = json.loads(cfg_file.read_text())
            if cfg.get("pooling_mode_mean_tokens"):
                return "mean"
            if cfg.get("pooling_mode_cls_token"):
                return "cls"
    return None


def resolve_pooling(requested: str, backbone: Any, strategy: Any = None, text: bool = False) -> tuple[str, str]:
    """The pooling to build, and why; ``strategy``: the registered strategy (its ``auto_text_pooling``)."""
    if requested != "auto":
        return requested, "set in the recipe"
    declared = sentence_transformers_pooling(backbone)
    if declared:
        return declared, "declared by the backbone's sentence-transformers pooling config"
    preferred = getattr(strategy, "auto_text_pooling", "native") if text else "native"
    if preferred != "native" and getattr(strategy, "native_pooling_under_zero3", False) and _zero3():
        return "native", f"strategy '{strategy.name}' under DeepSpeed ZeRO-3: the backbone's own classification pooling"
    if preferred != "native":
        return preferred, (
            f"text backbone without a declared pooling, strategy '{strategy.name}' keeps its pooler "
            f"frozen (possibly never trained for this): {preferred} pooling over the token states"
        )
    return "native", "the backbone's own classification pooling"


def _zero3() -> bool:
    from transformers.integrations import is_deepspeed_zero3_enabled

    return is_deepspeed_zero3_enabled()


def _native_feature_pooling(backbone_model: Any, modality: str) -> str:
    """The pooling the backbone's own classification class uses, for our own head."""
    model_type = getattr(backbone_model.config, "model_type", "")
    if modality == "image":
        return "cls" if model_type in VIT_LIKE else "pooler"
    return "pooler" if getattr(backbone_model, "pooler", None) is not None else "cls"


def _reinit_loaded_head(model: Any, head_names: set[str], new: set[str]) -> None:
    """A checkpoint that already had a same-shaped head: start that head afresh for the new labels."""
    stale = head_names - new
    if not stale:
        return
    modules = dict(model.named_modules())
    for name in {n.rsplit(".", 1)[0] for n in stale}:
        module = modules[name]
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    logger.info("re-initialised the checkpoint's own head for the new labels: %s", ", ".join(sorted(stale)))


def _native(task: Any, backbone: Any, data: Any) -> ModelBundle:
    model, info = task.load_model(backbone, data, output_loading_info=True)
    new = set(info.get("missing_keys", [])) | {
        k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys", [])
    }
    names = {n for n, _ in model.named_parameters()}
    prefix = model.base_model_prefix
    head = {n for n in names if not n.startswith(prefix + ".")}
    if getattr(model.config, "model_type", "") == "timm_wrapper":
        classifier = (
            model.config.pretrained_cfg.get("classifier", "head")
            if getattr(model.config, "pretrained_cfg", None)
            else "head"
        )
        head |= {n for n in names if n.startswith(f"{prefix}.{classifier}.")}
    head |= new & names
    _reinit_loaded_head(model, head, new)
    return ModelBundle(model=model, head_param_names=head, pooling="native", custom=False, task=task)


def _custom(task: Any, backbone: Any, data: Any, options: Any, pooling: str, example: dict[str, Any]) -> ModelBundle:
    import torch
    from transformers import AutoModel

    from . import modeling
    from .modeling import HfTransferConfig, drop_unused_pooler, pool

    base = AutoModel.from_pretrained(backbone.location, **backbone.load_kwargs())
    if pooling == "native":
        pooling = _native_feature_pooling(base, task.modality)
    drop_unused_pooler(base, pooling)
    base.eval()
    with torch.no_grad():
        accepted = set(inspect.signature(base.forward).parameters)
        outputs = base(**{k: v for k, v in example.items() if k in accepted})
        try:
            in_features = pool(outputs, pooling, example.get("attention_mask")).shape[-1]
        except ValueError as e:
            from .errors import ConfigError

            raise ConfigError([f"'strategy.pooling': {e}"]) from None
    config = HfTransferConfig(
        backbone=base.config.to_dict(),
        pooling=pooling,
        head_hidden_sizes=options.head_hidden_sizes if options.head == "mlp" else [],
        head_activation=options.head_activation,
        head_dropout=options.head_dropout,
        head_in_features=int(in_features),
        num_labels=len(data.labels),
        id2label=data.id2label,
        label2id=data.label2id,
    )
    cls = getattr(modeling, task.head_model_class)
    config._name_or_path = backbone.location  # where the backbone's weights come from (LoRA adapters record it)
    config.architectures = [cls.__name__]
    model = cls(config)
    model.backbone = base
    head = {n for n, _ in model.named_parameters() if n.startswith("head.")}
    return ModelBundle(model=model, head_param_names=head, pooling=pooling, custom=True, task=task)


def build_model(task: Any, backbone: Any, data: Any, options: Any, example: dict[str, Any]) -> ModelBundle:
    """Backbone + new head for ``data.labels``; ``options`` is the recipe's strategy section."""
    if task.pools_features:
        pooling, reason = resolve_pooling(options.pooling, backbone, options.options, text=task.modality == "text")
    else:  # a head on every token: the backbone's own class (the recipe check refused other heads and poolings)
        pooling, reason = "native", f"task '{task.name}' classifies every token"
    logger.info("pooling: %s (%s)", pooling, reason)
    if options.head == "linear" and pooling == "native":
        bundle = _native(task, backbone, data)
    else:
        bundle = _custom(task, backbone, data, options, pooling, example)
    bundle.model.config.hf_transfer = {"pooling": bundle.pooling, "head": options.head}
    if task.problem_type:  # the loss and pipeline()'s activation follow it (hf_transfer heads included)
        bundle.model.config.problem_type = task.problem_type
    # Classification losses are means over the batch. Telling Trainer so makes it divide by the gradient
    # accumulation steps and not rescale by the process count, as it does for token-count losses.
    bundle.model.accepts_loss_kwargs = False
    logger.info(
        "model: %s (pooling %s, %s head: %s)",
        type(bundle.model).__name__,
        bundle.pooling,
        options.head,
        ", ".join(bundle.head_module_names),
    )
    return bundle
