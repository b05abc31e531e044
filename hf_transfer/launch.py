"""What ``accelerate launch`` asked for (DDP, FSDP, DeepSpeed), checked and completed before training.

Accelerate and Trainer do the distributing; this module only refuses what cannot run,
fills one default accelerate gets wrong for Hub backbones, and names the engine that
actually ran (for the logs, ``training_report.json`` and the card).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any

from .errors import BackboneError, ConfigError

logger = logging.getLogger("hf_transfer")
WRAP_ENV = "FSDP_TRANSFORMER_CLS_TO_WRAP"  # read by accelerate's FullyShardedDataParallelPlugin
EFFICIENT_ENV = "FSDP_CPU_RAM_EFFICIENT_LOADING"  # read by transformers' from_pretrained


def fsdp_requested(training: dict[str, Any]) -> bool:
    """FSDP from ``accelerate launch`` (environment) or from ``training.fsdp`` in the recipe."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" or bool(training.get("fsdp"))


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def check_launch(training: dict[str, Any], device: str) -> None:
    """Refuse launches that cannot run or would train wrongly, before any model is loaded."""
    if not fsdp_requested(training):
        return
    problems = []
    if device == "cpu":
        # On CPU processes accelerate drops FSDP silently and trains as DDP (and with
        # fsdp_cpu_ram_efficient_loading the other processes then hold empty weights).
        problems.append(
            "FSDP was requested (accelerate launch config or training.fsdp) but this machine has no GPU, and "
            "accelerate runs FSDP only on GPUs; for several CPU processes launch with "
            "`accelerate launch --multi_gpu --num_processes N -m hf_transfer train RECIPE` (DDP), or run on GPUs"
        )
    fsdp_config = _fsdp_config(training)
    # transformers defaults training.fsdp to version 2; accelerate launch sets FSDP_VERSION (1 if unset there)
    default_version = "2" if training.get("fsdp") else os.environ.get("FSDP_VERSION", "1")
    version = str(fsdp_config.get("version") or default_version)
    efficient = fsdp_config.get("cpu_ram_efficient_loading", os.environ.get("FSDP_CPU_RAM_EFFICIENT_LOADING", "false"))
    if version == "2" and _flag(efficient):
        # Seen with accelerate 1.15 / transformers 5.24: the other processes still hold some parameters on the
        # meta device when Trainer builds the optimizer (before sharding, as FSDP2 requires); accelerate maps
        # optimizer entries to shards by data pointer, meta tensors share pointer 0, and one parameter's shard
        # is then stepped twice and another's never. Training runs and silently diverges.
        problems.append(
            "fsdp_cpu_ram_efficient_loading is true with FSDP version 2: with this accelerate/transformers the "
            "optimizer then updates the wrong parameter shards on the processes other than the first (training "
            "silently diverges); set fsdp_cpu_ram_efficient_loading: false in the launch config (as "
            "recipes/accelerate/fsdp.yaml does)"
        )
    if problems:
        raise ConfigError(problems)


def _fsdp_config(training: dict[str, Any]) -> dict[str, Any]:
    """``training.fsdp_config`` with the optional ``fsdp_`` key prefix removed, as TrainingArguments reads it."""
    config = training.get("fsdp_config")
    if not isinstance(config, dict):
        return {}
    return {k[len("fsdp_") :] if k.startswith("fsdp_") else k: v for k, v in config.items()}


def uses_deepspeed(args: Any) -> bool:
    """Whether the Trainer will run under DeepSpeed (the recipe's training.deepspeed, or accelerate launch's config)."""
    return bool(getattr(args, "deepspeed", None)) or os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"


def _deepspeed_config(args: Any) -> dict[str, Any]:
    """The DeepSpeed JSON config in use, if any: training.deepspeed, or accelerate's deepspeed_config_file."""
    import json

    source = getattr(args, "deepspeed", None) or os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    if isinstance(source, dict):
        return source
    if isinstance(source, str) and source.endswith(".json") and os.path.isfile(source):
        with open(source) as f:
            return json.load(f)
    return {}


def check_optimizer(args: Any, model: Any, learning_rates: dict[str, float] | None) -> None:
    """Per-parameter learning rates need an optimizer that takes parameter groups and keeps their rates;
    found before the output folder is touched (the optimizer itself is built inside Trainer.train)."""
    if learning_rates is None:
        return
    from transformers import Trainer
    from transformers.trainer_optimizer import is_optimizer_factory

    problems = []
    ds = _deepspeed_config(args)
    for section in ("optimizer", "scheduler"):
        if section in ds:
            problems.append(
                f"strategy.head_learning_rate / layerwise_lr_decay need Trainer's optimizer and scheduler, but the "
                f"DeepSpeed config has an '{section}' section (DeepSpeed would {'replace the optimizer' if section == 'optimizer' else 'give every parameter group one learning rate'}); "
                f"remove '{section}' from the DeepSpeed config (training.optim / lr_scheduler_type choose them) or drop "
                "the per-parameter learning rates"
            )
    optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    if is_optimizer_factory(optimizer_cls) or {"params", "model", "optimizer_dict"} & set(kwargs):
        problems.append(
            f"training.optim={args.optim} builds its own parameter groups, so strategy.head_learning_rate / "
            "layerwise_lr_decay cannot apply; use an optimizer such as adamw_torch, or drop the per-parameter rates"
        )
    if problems:
        raise ConfigError(problems)


def default_fsdp_wrap(training: dict[str, Any], backbone: Any) -> str | None:
    """Wrap the backbone's blocks with FSDP unless the launch config names the classes itself.

    Accelerate's TRANSFORMER_BASED_WRAP wraps every class in ``model._no_split_modules``; BERT, RoBERTa
    and ViT list their embeddings there too, and FSDP2 then shards ``word_embeddings`` a second time
    inside the already sharded embeddings (``TypeError: Invariant encountered``, accelerate 1.15).
    The repeated blocks are what the policy is meant to wrap; hf_transfer already finds them.
    Returns the class name set, or None when nothing was changed.
    """
    from .blocks import find_blocks

    if (
        not fsdp_requested(training)
        or os.environ.get(WRAP_ENV)
        or _fsdp_config(training).get("transformer_layer_cls_to_wrap")
    ):
        return None
    try:
        blocks = find_blocks(backbone)
    except BackboneError:
        return None
    name = type(blocks[0][1]).__name__
    os.environ[WRAP_ENV] = name
    logger.info("FSDP wraps each %s (set fsdp_transformer_layer_cls_to_wrap in the launch config to choose)", name)
    return name


@contextmanager
def fsdp_wrap(training: dict[str, Any], backbone: Any | None):
    """Around building the Trainer (its Accelerator reads the wrap classes then): the backbone's blocks by
    default (see ``default_fsdp_wrap``), or none when ``backbone`` is None because the engine gets a copy
    of the head alone (feature cache) and has no block classes to find. The environment is restored after,
    so a second ``train()`` in the same process starts clean."""
    saved = os.environ.get(WRAP_ENV)
    try:
        if backbone is None:
            os.environ.pop(WRAP_ENV, None)
        else:
            default_fsdp_wrap(training, backbone)
        yield
    finally:
        if saved is None:
            os.environ.pop(WRAP_ENV, None)
        else:
            os.environ[WRAP_ENV] = saved


def engine(trainer: Any) -> str:
    """The engine that actually runs this training, as accelerate set it up."""
    state = trainer.accelerator.state
    if trainer.is_fsdp_enabled:
        return f"FSDP{getattr(state.fsdp_plugin, 'fsdp_version', 1)}"
    if trainer.is_deepspeed_enabled:
        return f"DeepSpeed ZeRO-{state.deepspeed_plugin.zero_stage}"
    return "DDP" if trainer.args.world_size > 1 else "single process"


@contextmanager
def plain_loading():
    """Build or load a whole model on this process, whatever the launch shards.

    With a DeepSpeed ZeRO-3 Trainer configuration active, ``from_pretrained`` builds the model partitioned
    across processes (``zero.Init``) and broadcasts, a collective; with FSDP's cpu-RAM-efficient loading,
    processes other than each machine's first get empty (meta) weights. The reload check runs on the main
    process alone (a collective would wait forever), and a backbone that only computes cached features
    never enters the engine (it needs its real weights on every process)."""
    try:
        from transformers.integrations import deepspeed as hf_deepspeed
    except ImportError:
        yield
        return
    active = getattr(hf_deepspeed, "_hf_deepspeed_config_weak_ref", None)
    efficient = os.environ.get(EFFICIENT_ENV)
    hf_deepspeed.unset_hf_deepspeed_config()
    os.environ[EFFICIENT_ENV] = "false"
    try:
        yield
    finally:
        hf_deepspeed._hf_deepspeed_config_weak_ref = active
        if efficient is None:
            os.environ.pop(EFFICIENT_ENV, None)
        else:
            os.environ[EFFICIENT_ENV] = efficient


def quiet_other_processes(args: Any, training: dict[str, Any]) -> None:
    """Progress bars and library warnings from the logging process only (``args.should_log``: the main
    process, or each machine's with ``log_on_each_node``), not once per process. Trainer does this for its
    own bars and logs once it exists; model loading and data preparation come before it.
    ``training.log_level_replica`` still sets what the other processes log."""
    if args.should_log:
        return
    import datasets
    import huggingface_hub
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    huggingface_hub.utils.disable_progress_bars()
    if "log_level_replica" not in training:
        transformers.utils.logging.set_verbosity_error()
        datasets.logging.set_verbosity_error()
