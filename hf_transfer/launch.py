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
    fsdp_config = training.get("fsdp_config") if isinstance(training.get("fsdp_config"), dict) else {}
    version = str(fsdp_config.get("version") or os.environ.get("FSDP_VERSION") or "1")
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


def default_fsdp_wrap(training: dict[str, Any], backbone: Any) -> str | None:
    """Wrap the backbone's blocks with FSDP unless the launch config names the classes itself.

    Accelerate's TRANSFORMER_BASED_WRAP wraps every class in ``model._no_split_modules``; BERT, RoBERTa
    and ViT list their embeddings there too, and FSDP2 then shards ``word_embeddings`` a second time
    inside the already sharded embeddings (``TypeError: Invariant encountered``, accelerate 1.15).
    The repeated blocks are what the policy is meant to wrap; hf_transfer already finds them.
    Returns the class name set, or None when nothing was changed.
    """
    from .blocks import find_blocks

    fsdp_config = training.get("fsdp_config") or {}
    if (
        not fsdp_requested(training)
        or os.environ.get("FSDP_TRANSFORMER_CLS_TO_WRAP")
        or (isinstance(fsdp_config, dict) and fsdp_config.get("transformer_layer_cls_to_wrap"))
    ):
        return None
    try:
        blocks = find_blocks(backbone)
    except BackboneError:
        return None
    name = type(blocks[0][1]).__name__
    os.environ["FSDP_TRANSFORMER_CLS_TO_WRAP"] = name  # read by accelerate's FullyShardedDataParallelPlugin
    logger.info("FSDP wraps each %s (set fsdp_transformer_layer_cls_to_wrap in the launch config to choose)", name)
    return name


def engine(trainer: Any) -> str:
    """The engine that actually runs this training, as accelerate set it up."""
    state = trainer.accelerator.state
    if trainer.is_fsdp_enabled:
        return f"FSDP{getattr(state.fsdp_plugin, 'fsdp_version', 1)}"
    if trainer.is_deepspeed_enabled:
        return f"DeepSpeed ZeRO-{state.deepspeed_plugin.zero_stage}"
    return "DDP" if trainer.args.world_size > 1 else "single process"


@contextmanager
def without_zero3_init():
    """Build or load models plainly while a DeepSpeed ZeRO-3 Trainer configuration is active.

    With one active, ``from_pretrained`` builds the model partitioned across processes (``zero.Init``) and
    broadcasts, a collective. The reload check runs on the main process alone (it would wait forever), and
    a backbone that only computes cached features never enters the engine (its empty partitions cannot
    run a forward pass)."""
    try:
        from transformers.integrations import deepspeed as hf_deepspeed
    except ImportError:
        yield
        return
    active = getattr(hf_deepspeed, "_hf_deepspeed_config_weak_ref", None)
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed._hf_deepspeed_config_weak_ref = active


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
