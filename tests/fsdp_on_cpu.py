"""Run hf_transfer's CLI with accelerate's FSDP on CPU processes (tests only).

Accelerate 1.15 switches FSDP on only for GPU process groups: a CPU (gloo) group given an FSDP config
trains as plain DDP without a word. FSDP2 itself runs on CPU, so the tests force accelerate's state to
FSDP here and exercise hf_transfer's FSDP2 paths for real (DTensor parameters, full-state-dict save,
reload, per-parameter learning rates). hf_transfer's own refusal of FSDP on a machine without a GPU
(tested on its own) is switched off for the same reason; its other checks still run.

Usage: accelerate launch --config_file FSDP_CONFIG tests/fsdp_on_cpu.py train RECIPE
"""

import os
import sys

import accelerate.state
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

_init = accelerate.state.AcceleratorState.__init__


def _init_with_fsdp_on_cpu(self, *args, fsdp_plugin=None, **kwargs):
    _init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if self.distributed_type == DistributedType.MULTI_CPU and os.environ.get("ACCELERATE_USE_FSDP") == "true":
        self.distributed_type = DistributedType.FSDP
    # The shared state keeps the first plugin (the Accelerator's), as it does on GPUs; later AcceleratorState()
    # calls (the optimizer wrapper makes one) pass none.
    if self.distributed_type == DistributedType.FSDP and getattr(self, "fsdp_plugin", None) is None:
        self.fsdp_plugin = fsdp_plugin or FullyShardedDataParallelPlugin()


accelerate.state.AcceleratorState.__init__ = _init_with_fsdp_on_cpu

import hf_transfer.launch  # noqa: E402
from hf_transfer.cli import main  # noqa: E402

_check_launch = hf_transfer.launch.check_launch
hf_transfer.launch.check_launch = lambda training, device: _check_launch(
    training, "cuda" if device == "cpu" else device
)
sys.exit(main(sys.argv[1:]))
