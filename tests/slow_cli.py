"""``hf-transfer`` with every training step and feature-cache batch slowed down, for the kill/resume tests.

A real process that a test can kill at a known point: ``python tests/slow_cli.py train RECIPE ...``. The delay
(seconds, ``HF_TRANSFER_TEST_DELAY``) changes no computation.
"""

from __future__ import annotations

import os
import sys
import time

DELAY = float(os.environ.get("HF_TRANSFER_TEST_DELAY", "0.5"))


def main() -> int:
    from hf_transfer import cli, features
    from hf_transfer.trainer import TransferTrainer

    step, head_input = TransferTrainer.training_step, features._head_input

    def slow_step(self, *args, **kwargs):
        time.sleep(DELAY)
        return step(self, *args, **kwargs)

    def slow_head_input(*args, **kwargs):
        time.sleep(DELAY)
        return head_input(*args, **kwargs)

    TransferTrainer.training_step = slow_step
    features._head_input = slow_head_input
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
