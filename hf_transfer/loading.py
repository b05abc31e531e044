"""Reloading what hf_transfer saved: a plain model folder, an hf_transfer-head model, or a LoRA adapter
(and folding an adapter into its base model: ``hf-transfer merge``).

``hf_transfer.load_model(path)`` returns a ready ``torch.nn.Module`` for any of them.
Plain folders also load with ``AutoModelFor*.from_pretrained`` and ``pipeline()``;
folders with ``model_type: hf_transfer`` do after ``import hf_transfer.modeling``;
adapters with a native head load with ``AutoPeftModelFor*`` (see the README).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .errors import HfTransferError
from .outputs import ADAPTER_CONFIG, RECIPE_FILE

logger = logging.getLogger("hf_transfer")


def auto_class_for(config: Any, path: Path) -> type:
    """The Auto class a saved model reloads with: the one of the registered task whose Auto class loads the
    config's architecture, else that of the task recorded in the run's recipe (see ``Task.auto_class_name``)."""
    import transformers

    from .tasks import task_class_for_architectures

    task = task_class_for_architectures(getattr(config, "architectures", None) or [])
    if task is None:
        task = _recorded_task(path)
    if task is None:
        raise HfTransferError(
            f"'{path}': cannot tell which task its model is for (config.json names no architecture a registered "
            f"task loads, and no {RECIPE_FILE} records a task); load it with the transformers AutoModelFor* class "
            "of its task"
        )
    return getattr(transformers, task.auto_class_name)


def _recorded_task(path: Path) -> Any:
    """The registered task class named by the run's recipe in ``path`` (None: none, or not one known here)."""
    import yaml

    from .registry import TASKS

    try:
        recipe = yaml.safe_load((path / RECIPE_FILE).read_text())
    except (OSError, yaml.YAMLError):
        return None
    name = (recipe.get("task") or {}).get("name") if isinstance(recipe, dict) else None
    if not isinstance(name, str) or name not in TASKS:
        return None
    task = TASKS.get(name)
    return task if isinstance(getattr(task, "auto_class_name", None), str) else None


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
    cls = auto_class_for(config, path)
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
    return auto_class_for(config, path).from_pretrained(str(path)).eval()


def merge_adapter(adapter_dir: Path, out_dir: Path) -> Path:
    """Fold a saved peft adapter into its base model and save a plain model folder (with the processor)."""
    model = load_model(adapter_dir).merge_and_unload()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    _copy_processor(adapter_dir, out_dir)
    logger.info("merged adapter %s into %s", adapter_dir, out_dir)
    return out_dir


def _copy_processor(src: Path, dst: Path) -> None:
    import shutil

    names = (
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
        "vocab.json",
        "merges.txt",
        "preprocessor_config.json",
        "spiece.model",
        "sentencepiece.bpe.model",
        "added_tokens.json",
    )
    for name in names:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
