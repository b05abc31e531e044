"""SIGTERM and SIGINT during training: save a checkpoint at the next step boundary, then stop.

Slurm, Kubernetes and ``docker stop`` send SIGTERM and wait a while before SIGKILL; Ctrl-C sends SIGINT.
While the Trainer runs, the first signal only sets a flag; a callback turns it into Trainer's own
``should_save`` + ``should_training_stop`` at the end of the current step, so the checkpoint is a normal
Trainer checkpoint that ``--resume`` continues from. Under several processes the flag is reduced across
them every step, so all of them save and stop at the same step. A second signal stops at once.
Outside training (loading, caching features) a signal stops the run at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from transformers import TrainerCallback

from .errors import RunInterrupted

logger = logging.getLogger("hf_transfer")
SIGNALS = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}


class Interruption:
    """The signal received, if any, and whether the Trainer is running to handle it at a step boundary."""

    def __init__(self, save_on_interrupt: bool):
        self.save_on_interrupt = save_on_interrupt
        self.signum: int | None = None
        self.training = False

    @property
    def name(self) -> str:
        return SIGNALS.get(self.signum, str(self.signum))

    def handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None or not self.training or not self.save_on_interrupt:
            when = (
                "during training (a second signal: no checkpoint was saved)"
                if self.signum is not None
                else "during training (training.save_on_interrupt is false: no checkpoint was saved)"
                if self.training
                else "before training began (nothing to resume from yet)"
            )
            self.signum = signum
            raise RunInterrupted(f"stopped by {SIGNALS.get(signum, signum)} {when}", signum)
        self.signum = signum
        logger.warning(
            "%s received: saving a checkpoint at the end of this step, then stopping (send it again to stop at once)",
            self.name,
        )


@contextmanager
def signals_handled(interruption: Interruption) -> Iterator[Interruption]:
    """Route SIGTERM/SIGINT to ``interruption`` (main thread only; elsewhere signals keep their handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield interruption
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, interruption.handle)
    try:
        yield interruption
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class InterruptCallback(TrainerCallback):
    """At each step's end: if any process got a signal, save a checkpoint (Trainer's own) and stop."""

    def __init__(self, interruption: Interruption):
        self.interruption = interruption

    def on_train_begin(self, args, state, control, **kwargs):
        self.interruption.training = True

    def on_train_end(self, args, state, control, **kwargs):
        self.interruption.training = False

    def on_step_end(self, args, state, control, **kwargs):
        requested = self.interruption.signum is not None
        if args.world_size > 1:
            requested = _any_process(requested, args.device)
        if requested:
            control.should_save = True
            control.should_training_stop = True
            self.interruption.signum = self.interruption.signum or signal.SIGTERM
        return control


def _any_process(flag: bool, device: Any) -> bool:
    import torch
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


class ManifestCallback(TrainerCallback):
    """Record each checkpoint in the run manifest: its name before Trainer writes it (a process killed meanwhile
    leaves a half-written folder that is the run's own), and its files once Trainer has written it (main process).
    Trainer decides to save in ``on_step_end``/``on_epoch_end`` (this callback runs after its flow callback and the
    interrupt callback) or, for ``save_strategy: best``, right after ``on_evaluate``."""

    def __init__(self, folder: Any):
        self.folder = folder

    def _pending(self, state, control, evaluated: bool = False) -> None:
        if state.is_world_process_zero and (control.should_save or evaluated):
            self.folder.record_pending_checkpoint(f"checkpoint-{state.global_step}")

    def on_step_end(self, args, state, control, **kwargs):
        self._pending(state, control)
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        self._pending(state, control)
        return control

    def on_evaluate(self, args, state, control, **kwargs):
        self._pending(state, control, evaluated=getattr(args.save_strategy, "value", args.save_strategy) == "best")
        return control

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.folder.record_checkpoint(f"checkpoint-{state.global_step}")
        return control
