"""The shipped accelerate launch configs parse with accelerate's own loader."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "recipes" / "accelerate").glob("*.yaml"))


def test_every_launch_setup_is_shipped():
    names = {p.stem for p in CONFIGS}
    assert {"single_gpu", "multi_gpu_ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3", "multi_node"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_launch_config_loads(path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))
    assert config.mixed_precision == "no", "precision comes from the recipe (training.precision)"
    assert config.num_processes >= 1 and config.num_machines >= 1
    if path.stem.startswith("deepspeed"):
        assert config.deepspeed_config["zero_stage"] == int(path.stem[-1])
    if path.stem == "fsdp":
        assert config.fsdp_config["fsdp_use_orig_params"] is True
