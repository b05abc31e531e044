"""Reloading what hf_transfer saved: a plain model folder, an hf_transfer-head model, or a LoRA adapter.

``hf_transfer.load_model(path)`` returns a ready ``torch.nn.Module`` for any of them.
Plain folders also load with ``AutoModelFor*.from_pretrained`` and ``pipeline()``;
folders with ``model_type: hf_transfer`` do after ``import hf_transfer.modeling``;
adapters with a native head load with ``AutoPeftModelFor*`` (see the README).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import HfTransferError
from .outputs import ADAPTER_CONFIG


def auto_class_for(config: Any) -> type:
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith("ForImageClassification") for a in architectures):
        return AutoModelForImageClassification
    return AutoModelForSequenceClassification


def _config(path: Path) -> Any:
    from transformers import AutoConfig

    from . import modeling  # noqa: F401  registers model_type "hf_transfer"

    return AutoConfig.from_pretrained(str(path))


def base_model_for_adapter(path: Path) -> Any:
    """The un-adapted model an adapter in ``path`` applies to, with the run's labels and head shape."""
    from transformers import AutoModel

    from .modeling import HfTransferConfig

    adapter = json.loads((path / ADAPTER_CONFIG).read_text())
    base_path = adapter["base_model_name_or_path"]
    revision = adapter.get("revision")
    config = _config(path)
    cls = auto_class_for(config)
    if isinstance(config, HfTransferConfig):
        model = cls._model_mapping[type(config)](config)
        model.backbone = AutoModel.from_pretrained(base_path, revision=revision)
        return model
    # The head comes from the adapter (modules_to_save); a base checkpoint with its own head must not clash.
    return cls.from_pretrained(base_path, config=config, revision=revision, ignore_mismatched_sizes=True)


def load_model(path: str | Path) -> Any:
    """Load any hf_transfer output folder as a model ready for inference."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise HfTransferError(f"'{path}' is not an hf_transfer model folder: it has no config.json")
    if (path / ADAPTER_CONFIG).is_file():
        from peft import PeftModel

        return PeftModel.from_pretrained(base_model_for_adapter(path), str(path)).eval()
    config = _config(path)
    return auto_class_for(config).from_pretrained(str(path)).eval()
