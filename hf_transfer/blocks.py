"""Finding a backbone's blocks, for partial unfreezing and layer-wise learning-rate decay.

A block is a child of the outermost container (``nn.ModuleList``/``nn.Sequential``)
whose children are all composite modules of one class: the transformer layers of
BERT/RoBERTa/DistilBERT/DeBERTa/ViT/DeiT (``encoder.layer``, ``blocks``), and the
stages of hierarchical backbones (ConvNeXt and ResNet ``encoder.stages``, Swin
``encoder.layers``, timm ``stages`` or ``layer1``…``layer4``). Parameters are
ordered as registered, which for these families is the order of the forward pass:
everything before the first block is the stem (embeddings), everything after the
last block (final norm, pooler) goes with the last block.
"""

from __future__ import annotations

from typing import Any

from .errors import BackboneError


def _is_block_container(module: Any) -> bool:
    import torch.nn as nn

    if not isinstance(module, (nn.ModuleList, nn.Sequential)):
        return False
    children = list(module.children())
    if not children or len({type(c) for c in children}) != 1:
        return False
    # Composite blocks only: a list of bare Linear/Conv layers is not a list of blocks.
    return all(any(True for _ in c.children()) and any(True for _ in c.parameters()) for c in children)


def find_blocks(backbone: Any) -> list[tuple[str, Any]]:
    """The backbone's blocks in forward order, as (qualified name, module)."""
    containers: list[str] = []
    for name, module in backbone.named_modules():
        if any(name.startswith(outer + ".") for outer in containers):
            continue
        if _is_block_container(module):
            containers.append(name)
    modules = dict(backbone.named_modules())
    blocks: list[tuple[str, Any]] = []
    for container in containers:
        for child_name, child in modules[container].named_children():
            blocks.append((f"{container}.{child_name}" if container else child_name, child))
    if not blocks:
        raise BackboneError(
            f"cannot split the {type(backbone).__name__} backbone into blocks: it has no list of repeated layers or "
            "stages; use strategy.name=frozen or strategy.name=full for this architecture"
        )
    return blocks


def block_index_of_parameters(backbone: Any, blocks: list[tuple[str, Any]]) -> dict[int, int]:
    """id(parameter) → block position: -1 for the stem; a parameter outside any block after the
    first one (a final norm, a pooler) goes with the block before it."""
    owner: dict[int, int] = {}
    for i, (_, block) in enumerate(blocks):
        for p in block.parameters():
            owner[id(p)] = i
    out: dict[int, int] = {}
    current = -1
    for p in backbone.parameters():
        if id(p) in owner:
            current = owner[id(p)]
            out[id(p)] = current
        else:
            out[id(p)] = current
    return out
