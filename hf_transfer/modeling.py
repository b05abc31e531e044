"""Backbone + configurable pooling + MLP/linear head, as a transformers model.

Used when the backbone's own ``*ForSequenceClassification`` /
``*ForImageClassification`` class cannot express the recipe's head: an ``mlp``
head, or a pooling other than the backbone's own (mean pooling on a
sentence-transformers backbone, say). Saved folders hold ordinary safetensors
weights and a ``config.json`` with ``model_type: hf_transfer``; importing this
module registers the classes with transformers' Auto classes, so

    import hf_transfer.modeling  # noqa: F401  (registers model_type "hf_transfer")
    from transformers import pipeline
    clf = pipeline("text-classification", model="outputs/my-run")

works with no ``trust_remote_code``.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn
from transformers import (
    CONFIG_MAPPING,
    AutoConfig,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import ImageClassifierOutput, SequenceClassifierOutput

MODEL_TYPE = "hf_transfer"
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


class HfTransferConfig(PretrainedConfig):
    """Config of a backbone with an hf_transfer head; ``backbone`` is the backbone's own config as a dict."""

    model_type = MODEL_TYPE

    def __init__(
        self,
        backbone: dict[str, Any] | None = None,
        pooling: str = "cls",
        head_hidden_sizes: list[int] | None = None,
        head_activation: str = "relu",
        head_dropout: float = 0.0,
        head_in_features: int | None = None,
        **kwargs: Any,
    ):
        self.backbone = backbone or {}
        self.pooling = pooling
        self.head_hidden_sizes = list(head_hidden_sizes or [])
        self.head_activation = head_activation
        self.head_dropout = head_dropout
        self.head_in_features = head_in_features
        if self.backbone.get("model_type") == "timm_wrapper":
            # TimmWrapperImageProcessor reads its settings from config.json: give it what it looks for there.
            kwargs.setdefault("pretrained_cfg", self.backbone.get("pretrained_cfg"))
            kwargs.setdefault("architecture", self.backbone.get("architecture"))
            kwargs.setdefault("image_processor_type", "TimmWrapperImageProcessor")
        super().__init__(**kwargs)

    def backbone_config(self) -> PretrainedConfig:
        data = dict(self.backbone)
        return CONFIG_MAPPING[data.pop("model_type")].from_dict(data)


def build_head(config: HfTransferConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = config.head_in_features
    for hidden in config.head_hidden_sizes:
        layers += [nn.Linear(width, hidden), ACTIVATIONS[config.head_activation]()]
        if config.head_dropout:
            layers.append(nn.Dropout(config.head_dropout))
        width = hidden
    if config.head_dropout and not config.head_hidden_sizes:
        layers.append(nn.Dropout(config.head_dropout))
    layers.append(nn.Linear(width, config.num_labels))
    return nn.Sequential(*layers)


def drop_unused_pooler(backbone: nn.Module, pooling: str) -> nn.Module:
    """Remove a pooler layer (BERT's, ViT's dense+tanh) the head does not read: it would sit untrained."""
    pooler = getattr(backbone, "pooler", None)
    if pooling in ("cls", "mean") and isinstance(pooler, nn.Module) and any(True for _ in pooler.parameters()):
        backbone.pooler = None
    return backbone


def pool(outputs: Any, mode: str, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Turn backbone outputs into one feature vector per example."""
    if mode == "pooler":
        pooled = getattr(outputs, "pooler_output", None)
        if pooled is None:
            raise ValueError("pooling 'pooler' needs a backbone with a pooler output; use 'cls' or 'mean'")
        return pooled.flatten(1)
    hidden = outputs.last_hidden_state
    if hidden.dim() == 4:  # convolutional feature map (B, C, H, W): global average pooling
        return hidden.mean(dim=(2, 3))
    if mode == "cls":
        return hidden[:, 0]
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


class _HfTransferModel(PreTrainedModel):
    config_class = HfTransferConfig
    base_model_prefix = "backbone"
    supports_gradient_checkpointing = True
    _output_class: type = SequenceClassifierOutput

    def __init__(self, config: HfTransferConfig, backbone: nn.Module | None = None):
        super().__init__(config)
        backbone = backbone if backbone is not None else AutoModel.from_config(config.backbone_config())
        self.backbone = drop_unused_pooler(backbone, config.pooling)
        self.head = build_head(config)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear) and any(module is m for m in self.head.modules()):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None, **kwargs: Any) -> None:
        """Checkpoint the backbone's layers (the head is too small to bother)."""
        kwargs = {"gradient_checkpointing_kwargs": gradient_checkpointing_kwargs or {"use_reentrant": False}, **kwargs}
        self.backbone.gradient_checkpointing_enable(**kwargs)

    def gradient_checkpointing_disable(self) -> None:
        self.backbone.gradient_checkpointing_disable()

    @property
    def is_gradient_checkpointing(self) -> bool:
        return getattr(self.backbone, "is_gradient_checkpointing", False)

    def features(self, **inputs: Any) -> torch.Tensor:
        """Pooled backbone features (what the head sees)."""
        accepted = inspect.signature(self.backbone.forward).parameters
        outputs = self.backbone(**{k: v for k, v in inputs.items() if v is not None and k in accepted})
        return pool(outputs, self.config.pooling, inputs.get("attention_mask"))

    def _classify(self, features: torch.Tensor, labels: torch.Tensor | None) -> Any:
        from types import SimpleNamespace

        from transformers.loss.loss_utils import ForSequenceClassificationLoss

        logits = self.head(features)
        loss = None
        if labels is not None:
            # transformers' own loss of its *ForSequenceClassification heads: config.problem_type picks it (and
            # pipeline()'s softmax, sigmoid or none). A namespace, not the config: it would write the type it infers.
            view = SimpleNamespace(num_labels=self.config.num_labels, problem_type=self.config.problem_type)
            loss = ForSequenceClassificationLoss(labels, logits, view)
        return self._output_class(loss=loss, logits=logits)


class HfTransferForSequenceClassification(_HfTransferModel):
    main_input_name = "input_ids"

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        feats = self.features(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return self._classify(feats, labels)


class HfTransferForImageClassification(_HfTransferModel):
    main_input_name = "pixel_values"
    _output_class = ImageClassifierOutput

    def forward(self, pixel_values=None, labels=None, **kwargs):
        return self._classify(self.features(pixel_values=pixel_values), labels)


AutoConfig.register(MODEL_TYPE, HfTransferConfig, exist_ok=True)
AutoModelForSequenceClassification.register(HfTransferConfig, HfTransferForSequenceClassification, exist_ok=True)
AutoModelForImageClassification.register(HfTransferConfig, HfTransferForImageClassification, exist_ok=True)
