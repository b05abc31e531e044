"""The run in progress: one object the conductor's stops fill in, in order.

:func:`hf_transfer.pipeline.train` builds a :class:`Run` from what it checked before the first write (recipe,
data, backbone, processor, output plan); each stop after that takes the run and adds its part — config adds the
training arguments and the process group, the model stop the model and its strategy report, the Trainer stop the
Trainer, the artifacts stop the metrics. A field is ``None`` until its stop has run. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accelerate import PartialState
    from transformers import EarlyStoppingCallback, TrainerCallback, TrainingArguments
    from transformers.trainer_utils import TrainOutput

    from .backbone import Backbone
    from .config import Recipe
    from .data import PreparedData
    from .features import CachedTraining
    from .interrupt import Interruption
    from .model import ModelBundle
    from .rundir import OutputFolder, OutputPlan
    from .strategies import StrategyReport
    from .strategy_defaults import TrainingDefaults
    from .tasks import Task
    from .trainer import TransferTrainer


@dataclass
class TrainerInputs:
    """What the Trainer trains on: the model and raw splits, or the head alone on cached features."""

    model: Any
    args: TrainingArguments
    splits: dict[str, Any]
    collate: Any
    processor: Any
    cache: CachedTraining | None = None  # when the frozen strategy's feature cache is used


@dataclass
class Run:
    """Everything one run knows, stop by stop. The first fields are what ``--dry-run`` checks too."""

    # Before the first write (pipeline.train): the recipe checked, the data loaded, the backbone found.
    recipe: Recipe
    task: Task
    data: PreparedData
    backbone: Backbone
    processor: Any
    plan: OutputPlan | None  # None on the other processes until the config stop shares the main process's
    resume_hint: str  # the command that resumes this run, for messages
    defaults: TrainingDefaults  # training values the strategy supplies, with reasons
    class_weights: dict[str, Any] | None  # task.class_weights resolved (None: unweighted loss)
    callbacks: list[TrainerCallback] = field(default_factory=list)  # the caller's, after hf_transfer's own

    # config: how this process trains and where it writes.
    args: TrainingArguments | None = None
    precision: dict[str, str] = field(default_factory=dict)  # requested, resolved, reason
    state: PartialState | None = None
    folder: OutputFolder | None = None  # the main process's: lock, manifest, staging (None elsewhere)
    interruption: Interruption | None = None
    global_batch_size: dict[str, Any] = field(default_factory=dict)  # global = per device × processes × accumulation

    # data, preprocessed for the task.
    splits: dict[str, Any] = field(default_factory=dict)
    collate: Any = None

    # model + strategy.
    bundle: ModelBundle | None = None
    model: Any = None  # the bundle's model as the strategy prepared it (a PeftModel for LoRA)
    strategy_report: StrategyReport | None = None
    head_ids: set[int] = field(default_factory=set)  # id() of the parameters the head learning rate applies to
    backbone_module: Any = None

    # Trainer.
    inputs: TrainerInputs | None = None
    solved: TrainOutput | None = None  # the L-BFGS head fit, which replaces the Trainer loop
    learning_rates: Any = None  # optimizer parameter groups (hf_transfer.optim)
    stopper: EarlyStoppingCallback | None = None
    trainer: TransferTrainer | None = None

    # artifacts + hub.
    train_output: TrainOutput | None = None
    early_stopping: dict[str, Any] | None = None  # where early stopping stopped and what it kept
    metrics: dict[str, float] = field(default_factory=dict)
    reports: dict[str, dict] = field(default_factory=dict)  # per-class report per split prefix (eval, test)
    hub_url: str | None = None

    @property
    def out(self) -> Path:
        """The output folder, as TrainingArguments has it."""
        return Path(self.args.output_dir)

    @property
    def cache(self) -> CachedTraining | None:
        """The feature cache the head trains on, or None when the Trainer sees the whole model."""
        return self.inputs.cache if self.inputs is not None else None
