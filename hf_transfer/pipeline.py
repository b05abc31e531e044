"""The conductor: recipe → data → task → model → strategy → Trainer → artifacts → hub.

This is the only module that knows the whole order. Every user mistake is found
before the first byte is written to the output folder.
"""

from __future__ import annotations

import logging
import shutil
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import class_weights as class_weighting
from . import early_stopping, launch
from .config import Recipe, load_recipe
from .data import LoadContext, PreparedData, prepare
from .errors import ConfigError, OutputError, RunInterrupted
from .outputs import RECIPE_FILE  # noqa: F401 (where it was before outputs.py)
from .run import Run, TrainerInputs
from .rundir import RUN_DIR, STAGING

logger = logging.getLogger("hf_transfer")


@dataclass
class TrainResult:
    """What :func:`train` returns: where the model is and how well it did."""

    output_dir: Path
    metrics: dict[str, float]
    recipe: Recipe
    labels: list[str] = field(default_factory=list)
    strategy: Any = None  # StrategyReport
    dry_run: bool = False
    data_sizes: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    hub_url: str | None = None
    output_plan: list[str] = field(default_factory=list)  # what the run does with its output folder
    training_defaults: dict[str, dict] = field(default_factory=dict)  # key → value and reason, from the strategy
    warnings: list[str] = field(default_factory=list)  # e.g. a learning rate far outside the strategy's range
    augmentation: dict[str, Any] | None = None  # what training images get (Task.augmentation)
    class_weights: dict[str, Any] | None = None  # task.class_weights resolved: mode and weight per label
    early_stopping: dict[str, Any] | None = None  # where early stopping stopped and what it kept


def recipe_record(recipe: Recipe) -> dict[str, Any]:
    """The resolved recipe as the run manifest keeps it (how to resume is not part of what a run is)."""
    record = recipe.to_dict()
    record["training"].pop("resume_from_checkpoint", None)
    return record


def check_output_dir(recipe: Recipe, overwrite: bool, resume: bool | str = False, resume_hint: str = "--resume"):
    """What the run will do with its output folder (an :class:`~hf_transfer.rundir.OutputPlan`); raises
    OutputError when it must not touch it. Writes nothing: ``--dry-run`` runs it too."""
    from .rundir import plan_output

    return plan_output(recipe.output_dir, recipe_record(recipe), overwrite, resume, resume_hint)


def _main_process() -> bool:
    """The launch's main process, from the environment torchrun / accelerate launch set (before any group exists)."""
    import os

    return int(os.environ.get("RANK", "0") or 0) == 0


def _resume_request(recipe: Recipe, resume: bool) -> bool | str:
    """``--resume`` or ``training.resume_from_checkpoint``: True (the newest complete checkpoint), a path, or False."""
    from .config import RESUME_LAST

    value = recipe.training.get("resume_from_checkpoint")
    if value is None or value == RESUME_LAST:
        return resume or value == RESUME_LAST
    path = Path(value)
    if not (path / "trainer_state.json").is_file():
        raise OutputError(
            f"training.resume_from_checkpoint '{value}' is not a complete Trainer checkpoint (no trainer_state.json "
            "in it); give a checkpoint-N folder of this run, or true to take the newest complete one"
        )
    return str(path)


def _resume_hint(source: Any, overrides: Any) -> str:
    """The command that resumes this run, for messages."""
    if not isinstance(source, (str, Path)):
        return "hf_transfer.train(..., resume=True)"
    items = [f"{k}={v}" for k, v in overrides.items()] if isinstance(overrides, dict) else list(overrides or [])
    items = [i for i in items if not i.startswith("training.resume_from_checkpoint=")]
    return " ".join(["hf-transfer train", str(source), *items, "--resume"])


def load_data(recipe: Recipe, dataset: Any = None) -> PreparedData:
    if dataset is not None and recipe.data.source != "memory":
        raise ConfigError(
            [f"a dataset was passed to train() but data.source is '{recipe.data.source}'; set data.source=memory"]
        )
    source = recipe.data.options
    task = recipe.task.options
    dsdict = source.load(LoadContext(dataset=dataset, streaming=recipe.data.streaming))
    seed = int(recipe.training.get("seed", 42))
    return prepare(dsdict, recipe.data, task.roles, seed, task.label_encoder())


def _training_arguments(
    recipe: Recipe, task: Any, strategy_defaults: dict[str, Any] | None = None
) -> tuple[Any, dict[str, str]]:
    """TrainingArguments from the recipe (task and strategy defaults underneath) and the precision decision."""
    from transformers import TrainingArguments

    from .precision import detect_hardware, precision_flags, resolve_precision

    defaults = task.training_defaults()
    if recipe.data.streaming:
        # Length grouping needs lengths; each process reads its own shard (no dispatching from rank 0).
        defaults.update(train_sampling_strategy="random", accelerator_config={"dispatch_batches": False})
    kwargs = {**defaults, **(strategy_defaults or {}), **recipe.training}
    if not kwargs.get("dataloader_num_workers") and "dataloader_persistent_workers" not in recipe.training:
        kwargs.pop("dataloader_persistent_workers", None)  # the task's default is for its own worker count
    requested = kwargs.pop("precision", None)
    # Ours, not TrainingArguments': the run decides where to resume from (see rundir.plan_output).
    kwargs.pop("save_on_interrupt", None)
    kwargs.pop("cpu_dropout", None)  # read by the Trainer (run.recipe.training), see hf_transfer.dropout
    kwargs.pop("resume_from_checkpoint", None)
    early_stopping.fill_training_kwargs(kwargs)
    hardware = detect_hardware(use_cpu=bool(kwargs.get("use_cpu")))
    if kwargs.get("bf16") or kwargs.get("fp16"):
        resolved = "bf16" if kwargs.get("bf16") else "fp16"
        precision = {"requested": resolved, "resolved": resolved, "reason": "training.bf16/fp16 set in the recipe"}
    else:
        requested = requested or "auto"
        resolved, reason = resolve_precision(requested, hardware)
        kwargs.update(precision_flags(resolved))
        precision = {"requested": requested, "resolved": resolved, "reason": reason}
    launch.check_launch(kwargs, hardware.device)
    if hardware.device == "cpu":
        # No accelerator: say so. TrainingArguments then accepts bf16, and under `accelerate launch` the
        # processes form a gloo group (without it each CPU process would train alone).
        kwargs["use_cpu"] = True
    if kwargs.get("gradient_checkpointing") and not kwargs.get("gradient_checkpointing_kwargs"):
        # Non-reentrant checkpointing gives gradients to trainable layers above frozen ones (and to LoRA).
        kwargs["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    try:
        return TrainingArguments(**kwargs), precision
    except (ValueError, TypeError) as e:
        raise ConfigError([f"training: {e}"]) from None


def train(
    recipe: str | Path | dict | Recipe,
    *,
    dataset: Any = None,
    overwrite: bool = False,
    resume: bool = False,
    dry_run: bool = False,
    overrides: list[str] | dict | None = None,
    callbacks: list[Any] | None = None,
    **kw_overrides: Any,
) -> TrainResult:
    """Train a recipe; see the README. Overrides: ``train(r, **{"training.learning_rate": 3e-5})``
    or ``train(r, training={"learning_rate": 3e-5})``. ``callbacks``: extra ``transformers.TrainerCallback``
    objects for the Trainer (after hf_transfer's own)."""
    all_overrides = dict(kw_overrides)
    if isinstance(overrides, dict):
        all_overrides = {**overrides, **all_overrides}
    elif overrides:
        all_overrides = (
            overrides if not all_overrides else list(overrides) + [f"{k}={v}" for k, v in all_overrides.items()]
        )
    if dataset is not None and isinstance(recipe, dict) and "data" not in recipe:
        recipe = {**recipe, "data": {"source": "memory"}}
    source = recipe
    recipe = load_recipe(recipe, all_overrides or None)

    resume_hint = _resume_hint(source, all_overrides)
    # The main process decides what happens to the output folder and tells the others once they are a group
    # (in _configure); another process checking on its own could see the main process's lock and manifest.
    plan = (
        check_output_dir(recipe, overwrite, _resume_request(recipe, resume), resume_hint) if _main_process() else None
    )
    task = recipe.task.options
    data = load_data(recipe, dataset)
    weights = task.resolve_class_weights(data)  # a label the data lacks: found here, --dry-run included
    from .backbone import resolve

    backbone = resolve(recipe.backbone.name_or_path, recipe.backbone.revision, recipe.backbone.trust_remote_code)
    task.check_backbone(backbone)  # a Hub backbone of the wrong modality: found here, --dry-run included
    task.check_data(data)
    processor = task.load_processor(backbone)
    # A processor that cannot take the recipe's augmentation: found here too.
    augmentation = _augmentation(
        recipe, task, processor, data.train_rows, cached=recipe.strategy.options.uses_feature_cache()
    )
    from .strategy_defaults import plan_training_defaults

    defaults = plan_training_defaults(recipe, backbone, data.train_rows)
    run = Run(recipe, task, data, backbone, processor, plan, resume_hint, defaults, weights, list(callbacks or []))
    if dry_run:
        return TrainResult(
            output_dir=recipe.output_dir,
            metrics={},
            recipe=recipe,
            labels=data.labels,
            dry_run=True,
            data_sizes=data.sizes(),
            notes=data.notes,
            output_plan=plan.describe() if plan else [],
            training_defaults=run.defaults.values,
            warnings=run.defaults.warnings,
            augmentation=augmentation,
            class_weights=weights,
        )
    return _run(run)


def _augmentation(
    recipe: Recipe, task: Any, processor: Any, train_rows: int | None, cached: bool
) -> dict[str, Any] | None:
    """What training images get: the task's augmentation, unless the frozen strategy's feature cache keeps one
    eval-preprocessed view of each (``cache_augmented_views: 0``). ConfigError when the backbone cannot take it."""
    views = getattr(recipe.strategy.options, "cache_augmented_views", 0)
    return task.augmentation(
        processor, recipe.backbone.name_or_path, augment_train=not cached or views > 0, train_rows=train_rows
    )


def _run(run: Run) -> TrainResult:
    """The run from the config stop on; the output folder records how it ended."""
    from .interrupt import signals_handled

    _configure(run)
    try:
        with signals_handled(run.interruption):
            return _train_in_folder(run)
    except RunInterrupted as error:
        if run.folder:
            run.folder.finish("interrupted", interrupted={"signal": run.interruption.name, "message": str(error)})
        raise
    except BaseException as error:
        if run.folder:
            run.folder.finish("failed", error=f"{type(error).__name__}: {error}"[:1000])
        raise


def _configure(run: Run) -> None:
    """config stop, per process: adds the TrainingArguments and precision, the process state, the main process's
    output plan (shared with the others), the locked output folder (main process) and the interruption watch."""
    from accelerate import PartialState

    from .interrupt import Interruption

    run.args, run.precision = _training_arguments(run.recipe, run.task, run.defaults.training_kwargs())
    run.state = PartialState()
    if run.state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        run.plan = broadcast_object_list([run.plan])[0]
    if run.state.is_main_process:  # the main process owns the output folder: lock, manifest, clearing
        from .rundir import OutputFolder

        run.folder = OutputFolder(run.plan, recipe_record(run.recipe)).lock_folder()
    run.interruption = Interruption(bool(run.recipe.training.get("save_on_interrupt", True)))


def _train_in_folder(run: Run) -> TrainResult:
    """The run once its output folder is locked: data, model, strategy, Trainer, artifacts, push."""
    from .cpu_heap import kept_heap

    _start_process(run)
    with kept_heap(run.args.device.type):  # a CPU run reuses its heap for big tensors (see hf_transfer.cpu_heap)
        _train_on_device(run)
    if run.folder:
        run.folder.finish("finished")
    run.state.wait_for_everyone()
    _push(run)
    return TrainResult(
        output_dir=run.out,
        metrics=run.metrics,
        recipe=run.recipe,
        labels=run.data.labels,
        strategy=run.strategy_report,
        data_sizes=run.data.sizes(),
        notes=run.data.notes,
        hub_url=run.hub_url,
        training_defaults=run.defaults.values,
        warnings=run.defaults.warnings,
        class_weights=run.class_weights,
        early_stopping=run.early_stopping,
    )


def _train_on_device(run: Run) -> None:
    """Data, model, strategy, Trainer, training, metrics, and the artifacts saved and checked."""
    _preprocess(run)
    _model_and_strategy(run)
    _trainer_inputs(run)
    _record_augmentation(run)
    _solve_head(run)
    _optimizer_groups(run)
    if run.folder:
        run.folder.start()
    run.state.wait_for_everyone()
    _build_trainer(run)
    try:
        _fit(run)
        _metrics(run)
        # The final artifacts are written aside and renamed into place: a crash or a full disk never leaves a
        # folder that looks complete.
        staging = run.folder.staging if run.folder else run.out / RUN_DIR / STAGING
        try:
            _save_and_check(run, staging)
            if run.folder:
                run.folder.publish()
        except OSError as error:
            raise _save_failed(error, run) from None
    finally:
        try:
            run.trainer.close_dataloader_workers()
        except Exception as error:  # never hide the run's own error behind a clean-up one
            logger.warning("could not stop the DataLoader workers: %s", error)


def _start_process(run: Run) -> None:
    """Adds the global batch figures; logs precision, batch size and class weights, and seeds this process."""
    from transformers import set_seed

    launch.quiet_other_processes(run.args, run.recipe.training)
    batch = run.global_batch_size = global_batch_size(run.args)
    logger.info("precision: %s (%s)", run.precision["resolved"], run.precision["reason"])
    logger.info(
        "global batch size %d = %d per device × %d processes × %d accumulation steps",
        batch["global"],
        batch["per_device"],
        batch["processes"],
        batch["accumulation_steps"],
    )
    if run.class_weights is not None:
        logger.info("class weights: %s", class_weighting.describe_weights(run.class_weights))
    set_seed(run.args.seed)


def _preprocess(run: Run) -> None:
    """data stop, for the task: adds the preprocessed splits (a streamed train split shared out between the
    processes) and the collator."""
    run.splits = run.task.preprocess(run.data, run.processor, run.backbone.config)
    run.collate = run.task.collator(run.processor)
    if run.data.streamed:
        from datasets.distributed import split_dataset_by_node

        # Each process reads its own share of the stream, so every example is seen once per pass.
        run.splits["train"] = split_dataset_by_node(
            run.splits["train"], rank=run.args.process_index, world_size=run.args.world_size
        )


def _model_and_strategy(run: Run) -> None:
    """model stop + strategy stop: adds the model bundle (the backbone with its new head), the model as the
    strategy prepared it, the strategy report, the head's parameter ids and the backbone module."""
    from .model import build_model

    first = next(iter(run.splits["train"])) if run.data.streamed else run.splits["train"][0]
    example = run.collate([first])
    example.pop("labels", None)
    options = run.recipe.strategy
    # With the feature cache the backbone computes features on every process; only a copy of the head is sharded.
    cached = options.options.uses_feature_cache()
    with launch.plain_loading() if cached else nullcontext():
        bundle = run.bundle = build_model(run.task, run.backbone, run.data, options, example)
    head_init = run.task.init_head(bundle, run.data)
    run.head_ids = {id(p) for n, p in bundle.model.named_parameters() if n in bundle.head_param_names}
    run.backbone_module = bundle.model.get_submodule(bundle.model.base_model_prefix)
    head_modules = bundle.head_module_names
    run.model, run.strategy_report = options.options.apply(bundle, options)
    run.strategy_report.details.update(pooling=bundle.pooling, head=_head_summary(options), head_modules=head_modules)
    if head_init:
        run.strategy_report.details["head_init"] = head_init
    logger.info(run.strategy_report.summary())


def _trainer_inputs(run: Run) -> None:
    """Adds what the Trainer trains on: the model on the preprocessed splits, or — the frozen strategy's feature
    cache — the head alone on the backbone's cached features (and then the head's copy's parameter ids)."""
    from .features import prepare_cached_training

    strategy = run.recipe.strategy.options
    run.inputs = TrainerInputs(run.model, run.args, run.splits, run.collate, run.processor)
    if strategy.uses_feature_cache():
        cache = prepare_cached_training(
            run.bundle,
            run.task,
            run.processor,
            run.backbone,
            run.data,
            run.collate,
            run.args,
            strategy.cache_augmented_views,
        )
        if cache is not None:
            run.strategy_report.details["feature_cache"] = cache.info
            from .probe import collate_rows

            run.inputs = TrainerInputs(cache.model, cache.args, cache.splits, collate_rows, None, cache)
            run.head_ids = {id(p) for p in cache.model.parameters()}  # the engine gets a copy of the head alone


def _record_augmentation(run: Run) -> None:
    """Logs what training images get and adds it to the strategy report (for the card)."""
    augmentation = _augmentation(run.recipe, run.task, run.processor, run.data.train_rows, cached=run.cache is not None)
    if augmentation is not None:
        from .tasks.augmentation import summary

        logger.info("augmentation: %s", summary(augmentation))
        run.strategy_report.details["augmentation"] = augmentation


def _solve_head(run: Run) -> None:
    """``head_solver`` lbfgs (auto's choice for a linear head on cached features): fit the head exactly
    (hf_transfer.probe) instead of the Trainer loop. Adds its TrainOutput, or leaves None when the Trainer trains."""
    from .probe import linear_layer, solve_head

    solver = getattr(run.recipe.strategy.options, "head_solver", "sgd")
    report = run.strategy_report
    if run.cache is None:
        if solver == "lbfgs":
            logger.warning(
                "head_solver lbfgs needs the feature cache, unavailable for this head; the Trainer loop trains it"
            )
        return
    if solver == "sgd" or run.recipe.strategy.head != "linear":
        report.details["head_solver"] = {"solver": "sgd"}
        return
    if launch.uses_deepspeed(run.inputs.args):
        # DeepSpeed evaluates only a model its engine prepared, and only Trainer.train prepares it (ZeRO-1/2).
        logger.warning("head_solver lbfgs is not available under DeepSpeed; the Trainer loop trains the head")
        report.details["head_solver"] = {"solver": "sgd"}
        return
    if linear_layer(run.cache.model.head) is None:
        logger.warning(
            "head_solver lbfgs: the head (%s) is not one Linear layer; the Trainer loop trains it",
            type(run.cache.model.head).__name__,
        )
        report.details["head_solver"] = {"solver": "sgd"}
        return
    if run.plan.checkpoint is not None:
        logger.info("head_solver lbfgs fits the head in seconds: no checkpoint to resume from, fitting it again")
    run.solved = solve_head(run.cache, report, class_weighting.vector(run.class_weights), run.task)


def _optimizer_groups(run: Run) -> None:
    """Adds the optimizer's parameter groups (backbone and head learning rates), checked against the launch."""
    from .optim import parameter_learning_rates

    run.learning_rates = parameter_learning_rates(
        run.inputs.model, run.backbone_module, run.head_ids, run.inputs.args.learning_rate, run.recipe.strategy
    )
    launch.check_optimizer(run.inputs.args, run.inputs.model, run.learning_rates)


def _build_trainer(run: Run) -> None:
    """Trainer stop: adds the early-stopping callback and the Trainer; records the engine it runs on."""
    from .interrupt import InterruptCallback, ManifestCallback
    from .trainer import TransferTrainer

    recipe, inputs = run.recipe, run.inputs
    run.stopper = None if run.solved else early_stopping.callback(recipe.training)
    if run.solved and recipe.training.get("early_stopping_patience") is not None:
        logger.warning("early stopping does not apply: the L-BFGS head fit (head_solver lbfgs) runs no training loop")
    with launch.fsdp_wrap(recipe.training, run.backbone_module if run.cache is None else None):
        run.trainer = TransferTrainer(
            model=inputs.model,
            args=inputs.args,
            train_dataset=inputs.splits["train"],
            eval_dataset=inputs.splits["validation"],
            data_collator=inputs.collate,
            processing_class=inputs.processor,
            compute_metrics=run.task.compute_metrics(len(run.data.labels)),
            learning_rates=run.learning_rates,
            class_weights=class_weighting.vector(run.class_weights),
            loss=run.task.batch_loss,
            always_task_loss=not run.task.model_computes_loss,
            input_lengths=run.task.input_lengths,
            fast_cpu_dropout=recipe.training.get("cpu_dropout", "fast") == "fast",
            callbacks=[InterruptCallback(run.interruption)]
            + ([ManifestCallback(run.folder)] if run.folder else [])
            + ([run.stopper] if run.stopper else [])
            + run.callbacks,
        )
    batch = run.global_batch_size
    batch["engine"] = launch.engine(run.trainer)
    logger.info("engine: %s%s", batch["engine"], f" ({batch['processes']} processes)" if batch["processes"] > 1 else "")
    if run.plan.checkpoint is not None:
        logger.info("resuming from %s", run.plan.checkpoint)


def _fit(run: Run) -> None:
    """Trains (or takes the head fit), from the plan's checkpoint; adds the TrainOutput and where early stopping
    stopped. RunInterrupted when a signal stopped it."""
    checkpoint = run.plan.checkpoint
    run.train_output = run.solved or run.trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if run.interruption.signum is not None:
        raise _interrupted(run)
    if run.stopper:
        run.early_stopping = early_stopping.record(run.trainer.state, run.trainer.args, run.stopper)
    if run.early_stopping:
        logger.info(early_stopping.summary(run.early_stopping))


def _metrics(run: Run) -> None:
    """Adds the final training figures, and metrics + per-class reports on validation and test."""

    inputs = run.inputs
    metrics = {k if k.startswith("train_") else f"train_{k}": v for k, v in run.train_output.metrics.items()}
    metrics["train_global_batch_size"] = run.global_batch_size["global"]
    if inputs.cache is not None:  # Trainer timed the head alone; the backbone's pass over the data counts too
        metrics["train_feature_cache_seconds"] = inputs.cache.info["seconds"]
    elif not run.data.streamed:
        metrics.update(run.task.training_stats(run.args, run.splits["train"]))
    reports: dict[str, dict] = {}
    labels = run.data.labels
    for split, prefix in (("validation", "eval"), ("test", "test")):
        if inputs.splits.get(split) is not None:
            prediction = run.trainer.predict(inputs.splits[split], metric_key_prefix=prefix)
            if split == "validation" and run.task.calibrate(prediction, labels) is not None:
                # decision settings fitted on validation (e.g. tuned thresholds): score with them
                prediction = run.trainer.predict(inputs.splits[split], metric_key_prefix=prefix)
            metrics.update(prediction.metrics)
            reports[prefix] = run.task.classification_report(prediction, labels)
    decision = run.task.decision_config(labels)
    if decision:  # saved with the model (config.json, under hf_transfer) so that loaders predict alike
        run.bundle.model.config.hf_transfer = {**run.bundle.model.config.hf_transfer, **decision}
    run.metrics, run.reports = metrics, reports


def _save_and_check(run: Run, out: Path) -> None:
    """artifacts stop: save into ``out``, write the run's files and card, reload every artifact and compare."""
    from accelerate.utils import extract_model_from_parallel

    from . import artifacts

    strategy, trainer, inputs = run.recipe.strategy.options, run.trainer, run.inputs
    if inputs.cache is not None:
        inputs.cache.restore_head(trainer)
        trained = run.model.to(inputs.args.device)  # the full model: frozen backbone + the head trained on features
        run.task.finalize_model(trained, run.strategy_report.details["head_modules"])
        if trainer.is_world_process_zero():
            artifacts.save_model(trained, run.processor, out)
    else:
        head_modules = run.strategy_report.details["head_modules"]  # named before a strategy wrapped the model
        run.task.finalize_model(extract_model_from_parallel(trainer.model, keep_fp32_wrapper=False), head_modules)
        strategy.save(trainer, out)
        # Compare in full precision: drop the autocast wrapper mixed-precision training put on forward().
        trained = extract_model_from_parallel(trainer.model, keep_fp32_wrapper=False)
    checked_batch, expected = artifacts.reference_logits(trained, run.splits["validation"], run.collate)
    if trainer.is_world_process_zero():
        artifacts.write_run_files(out, run)
        decision = run.task.decision_config(run.data.labels)
        for path, load in strategy.artifacts(run.task, out):
            artifacts.reload_check(checked_batch, expected, load, path, decision)


def _push(run: Run) -> None:
    """hub stop (``hub.push``, main process): adds the pushed repository's URL."""
    if run.recipe.hub.push and run.state.is_main_process:
        from .push import push_output

        run.hub_url = push_output(run.out)  # settings come from the recipe.yaml just written


def _interrupted(run: Run) -> RunInterrupted:
    interruption, trainer = run.interruption, run.trainer
    step, total = trainer.state.global_step, trainer.state.max_steps
    kept = run.out / f"checkpoint-{step}"
    what = f"a checkpoint was saved in {kept}" if kept.is_dir() else "no checkpoint could be saved"
    return RunInterrupted(
        f"interrupted by {interruption.name} at step {step} of {total}: {what}; resume with: {run.resume_hint}",
        interruption.signum,
    )


def _save_failed(error: OSError, run: Run) -> OutputError:
    """The final artifacts could not be written (a full disk, a quota): nothing half-written is left in place."""
    import errno

    from .rundir import complete_checkpoints

    out, folder = run.out, run.folder
    needed = sum(p.numel() * p.element_size() for p in run.trainer.model.parameters())
    try:
        free = shutil.disk_usage(out).free
    except OSError:
        free = None
    space = f"it needs about {needed / 2**20:,.0f} MiB" + (
        f" and {free / 2**20:,.0f} MiB are free" if free is not None else ""
    )
    checkpoints = complete_checkpoints(out, folder.manifest) if folder else []
    kept = (
        f"the trained weights are still in {checkpoints[-1]} (kept)"
        if checkpoints
        else "no checkpoint holds the trained weights (training.save_strategy is 'no')"
    )
    cause = "the disk is full" if error.errno in (errno.ENOSPC, errno.EDQUOT) else f"{error.strerror or error}"
    return OutputError(
        f"could not write the final model to '{out}': {cause} ({error.filename or out}); {space}; {kept}. "
        "Nothing of the final model was left in the folder; free some space and run the same command with --resume"
    )


def global_batch_size(args: Any) -> dict[str, int]:
    per_device, processes, accumulation = (
        args.per_device_train_batch_size,
        args.world_size,
        args.gradient_accumulation_steps,
    )
    return {
        "global": per_device * processes * accumulation,
        "per_device": per_device,
        "processes": processes,
        "accumulation_steps": accumulation,
    }


def _head_summary(options: Any) -> str:
    if options.head == "linear":
        return "linear"
    sizes = " → ".join(str(h) for h in options.head_hidden_sizes)
    return f"mlp ({sizes}, {options.head_activation}, dropout {options.head_dropout})"
