"""What keys the recipe's ``training:`` section accepts, without importing torch.

The section is passed straight to ``transformers.TrainingArguments``. To check it
(and give "did you mean" on a typo) while validating a recipe in well under a
second, we keep a snapshot of the dataclass fields and their kinds in
``training_args_schema.json``. The snapshot is used only when the installed
transformers is the version it was taken from. With any other version (a user who
upgraded transformers after installing us) the fields are read from
``TrainingArguments`` itself once (slower: it imports torch) and kept in
``$HF_TRANSFER_CACHE/training_args/transformers-<version>.json``, so every later
validation with that version is fast again. Regenerate the shipped snapshot with
``python -m hf_transfer.training_args``.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.metadata
import json
import math
import os
import tempfile
import types
from functools import lru_cache
from pathlib import Path
from typing import Any, Union, get_args, get_origin

SNAPSHOT = Path(__file__).with_name("training_args_schema.json")
_SCALARS = {int: "int", float: "float", bool: "bool", str: "str"}


def _kind(tp: Any, default: Any) -> str:
    """'int', 'float', 'bool', 'str' or 'any'; a trailing '?' means null is allowed."""
    args = get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)
    nullable = type(None) in args or default is None
    kinds = set()
    for a in args:
        if a is type(None):
            continue
        if isinstance(a, type) and issubclass(a, enum.Enum):
            kinds.add("str")
        else:
            kinds.add(_SCALARS.get(a, "any"))
    if kinds == {"int", "float"}:
        kinds = {"float"}
    kind = kinds.pop() if len(kinds) == 1 else "any"
    return kind + ("?" if nullable and kind != "any" else "")


def introspect() -> dict[str, str]:
    from transformers import TrainingArguments

    return {
        f.name: _kind(f.type, f.default)
        for f in dataclasses.fields(TrainingArguments)
        if f.init and not f.name.startswith("_")
    }


def version_cache_file(version: str) -> Path:
    """Where the fields introspected from one transformers version are kept (same root as the feature cache)."""
    root = os.environ.get("HF_TRANSFER_CACHE") or Path.home() / ".cache" / "hf_transfer"
    safe = "".join(c if c.isalnum() or c in ".-+" else "_" for c in version)
    return Path(root) / "training_args" / f"transformers-{safe}.json"


def _read_fields(path: Path, version: str | None) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("transformers") != version:
        return None
    fields = data.get("fields")
    return fields if isinstance(fields, dict) and "learning_rate" in fields else None


def _write_fields(path: Path, version: str, fields: dict[str, str]) -> None:
    """Best effort, atomic (several processes of one launch may write it at once); a read-only home only
    means the next validation introspects again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({"transformers": version, "fields": fields}, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass


@lru_cache(maxsize=1)
def training_fields() -> dict[str, str]:
    try:
        installed = importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a broken install
        installed = None
    snapshot = _read_fields(SNAPSHOT, installed)
    if snapshot is not None:
        return snapshot
    if installed is None:  # pragma: no cover - a broken install: importing transformers will say what is wrong
        return introspect()
    cached = _read_fields(version_cache_file(installed), installed)
    if cached is not None:
        return cached
    fields = introspect()
    _write_fields(version_cache_file(installed), installed, fields)
    return fields


# Numeric TrainingArguments that Trainer (or torch's optimizer) rejects only once training starts.
NON_NEGATIVE_TRAINING_KEYS = {
    "learning_rate": "e.g. 5e-5 for full fine-tuning, 1e-3 for a frozen backbone",
    "weight_decay": "e.g. 0.01, or 0 for none",
    "warmup_steps": "a step count, or a fraction of the training steps below 1, e.g. 0.1",
    "num_train_epochs": "e.g. 3",
}
AT_LEAST_ONE_TRAINING_KEYS = (
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
)


# report_to integrations → the package each needs (transformers raises only once Trainer is built; checked by
# name here so that validating a recipe imports nothing)
REPORT_TO_PACKAGES = {
    "wandb": ("wandb",),
    "tensorboard": ("tensorboard", "tensorboardX"),
    "mlflow": ("mlflow",),
    "comet_ml": ("comet_ml",),
    "clearml": ("clearml",),
    "neptune": ("neptune",),
    "codecarbon": ("codecarbon",),
    "dvclive": ("dvclive",),
    "azure_ml": ("azureml",),
    "dagshub": ("dagshub",),
    "flyte": ("flytekit",),
    "swanlab": ("swanlab",),
    "trackio": ("trackio",),
}


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def value_problems(values: dict[str, Any]) -> list[str]:
    """Values TrainingArguments accepts but training cannot use (torch's optimizer rejects a negative or NaN
    learning rate, transformers a negative seed or a missing report_to package, only once the run has started):
    found while the recipe is validated."""
    problems = []
    for key, value in values.items():
        if isinstance(value, float) and math.isnan(value):
            problems.append(f"'training.{key}' is NaN; give a number")
    for key, example in NON_NEGATIVE_TRAINING_KEYS.items():
        value = values.get(key)
        if isinstance(value, (int, float)) and value < 0:
            problems.append(f"'training.{key}' must not be negative, found {value}; {example}")
        elif isinstance(value, float) and math.isinf(value):
            problems.append(f"'training.{key}' must be finite, found {value}; {example}")
    for key in ("seed", "data_seed"):
        value = values.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value < 2**32:
            problems.append(f"'training.{key}' must be between 0 and 2**32 - 1, found {value}")
    steps = values.get("max_steps")
    if isinstance(steps, int) and not isinstance(steps, bool) and steps < -1:
        problems.append(
            f"'training.max_steps' must be a positive step count, or -1 to train for num_train_epochs, found {steps}"
        )
    deepspeed = values.get("deepspeed")
    if isinstance(deepspeed, str) and deepspeed.lower().endswith(".json") and not Path(deepspeed).is_file():
        problems.append(
            f"'training.deepspeed' names the config file '{deepspeed}', which does not exist; give the path of a "
            "DeepSpeed JSON config (relative to the folder you run in), or remove training.deepspeed"
        )
    report_to = values.get("report_to")
    for name in [report_to] if isinstance(report_to, str) else report_to if isinstance(report_to, list) else []:
        needs = REPORT_TO_PACKAGES.get(name) if isinstance(name, str) else None
        if needs and not any(_installed(m) for m in needs):
            problems.append(
                f"'training.report_to' names {name!r}, but its package is not installed; install it "
                f"(pip install {needs[0]}) or leave {name!r} out of training.report_to"
            )
    for key in AT_LEAST_ONE_TRAINING_KEYS:
        if isinstance(values.get(key), int) and values[key] < 1:
            problems.append(f"'training.{key}' must be at least 1, found {values[key]}")
    return problems


def write_snapshot() -> None:
    data = {"transformers": importlib.metadata.version("transformers"), "fields": introspect()}
    SNAPSHOT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_snapshot()
    print(f"wrote {SNAPSHOT}")
