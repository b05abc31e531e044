"""``training.early_stopping_patience`` / ``early_stopping_threshold``: transformers' ``EarlyStoppingCallback``.

Neither key is a TrainingArguments option: they are validated with the recipe (:func:`problems`) and
taken out before TrainingArguments is built (:func:`fill_training_kwargs`), which also fills in what the
callback needs unless the recipe says otherwise: ``load_best_model_at_end: true`` (early stopping runs
``patience`` evaluations past the best one, so the last model is a worse one by construction) and a
``save_strategy`` (and ``save_steps``) matching the evaluation. ``metric_for_best_model`` is
transformers' default, ``loss``, unless set. Evaluation itself is never switched on silently: a recipe
without ``eval_strategy`` is an error that names the keys. Importing this module does not import torch.
"""

from __future__ import annotations

from typing import Any

KEYS = {"early_stopping_patience": int, "early_stopping_threshold": float}
THRESHOLD_DEFAULT = 0.0


def problems(training: dict[str, Any]) -> list[str]:
    """What keeps a recipe's early stopping from working, each with its fix (values already typed)."""
    patience, threshold = training.get("early_stopping_patience"), training.get("early_stopping_threshold")
    if patience is None:
        if threshold is not None:
            return [
                "'training.early_stopping_threshold' is set but 'training.early_stopping_patience' is not; fix: "
                "set training.early_stopping_patience=<evaluations without improvement before stopping>, e.g. 3"
            ]
        return []
    out = []
    if patience < 1:
        out.append(f"'training.early_stopping_patience' must be at least 1, found {patience}")
    if threshold is not None and threshold < 0:
        out.append(f"'training.early_stopping_threshold' must not be negative, found {threshold}; e.g. 0.001, or 0")
    evaluation = training.get("eval_strategy") or "no"
    if evaluation == "no":
        out.append(
            "'training.early_stopping_patience' needs evaluations to stop on, found training.eval_strategy: no "
            "(the default); fix: set training.eval_strategy=epoch (or steps with training.eval_steps=N)"
        )
        return out
    if training.get("load_best_model_at_end") is False:
        out.append(
            "'training.early_stopping_patience' keeps the best model, found training.load_best_model_at_end: "
            "false (the last model is patience evaluations past the best); fix: remove it or set it to true"
        )
    save = training.get("save_strategy")
    if save is not None and save not in (evaluation, "best"):
        out.append(
            f"'training.early_stopping_patience' keeps the best checkpoint, so training.save_strategy must "
            f"match training.eval_strategy ({evaluation}), found {save}; fix: set training.save_strategy="
            f"{evaluation} (or remove it)"
        )
    return out


def fill_training_kwargs(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """Take the early-stopping keys out of the TrainingArguments keywords and fill in what the callback needs;
    the callback's arguments, or None without early stopping."""
    patience = kwargs.pop("early_stopping_patience", None)
    threshold = kwargs.pop("early_stopping_threshold", None)
    if patience is None:
        return None
    kwargs.setdefault("load_best_model_at_end", True)
    kwargs.setdefault("save_strategy", kwargs["eval_strategy"])
    if kwargs["save_strategy"] == "steps" and "save_steps" not in kwargs and kwargs.get("eval_steps"):
        kwargs["save_steps"] = kwargs["eval_steps"]
    return {
        "early_stopping_patience": patience,
        "early_stopping_threshold": THRESHOLD_DEFAULT if threshold is None else threshold,
    }


def callback(training: dict[str, Any]) -> Any:
    """transformers' EarlyStoppingCallback for the recipe's ``training`` section, or None."""
    if training.get("early_stopping_patience") is None:
        return None
    from transformers import EarlyStoppingCallback

    return EarlyStoppingCallback(**fill_training_kwargs(dict(training)))


def record(state: Any, args: Any, stopper: Any) -> dict[str, Any]:
    """Where the run stopped and what it kept, from the Trainer's state (for training_report.json and the CLI)."""
    import os

    best = state.best_model_checkpoint
    return {
        "patience": stopper.early_stopping_patience,
        "threshold": stopper.early_stopping_threshold,
        "metric": args.metric_for_best_model,
        "greater_is_better": args.greater_is_better,
        "stopped_early": state.global_step < state.max_steps,
        "epoch": state.epoch,
        "step": state.global_step,
        "max_steps": state.max_steps,
        "best_metric": state.best_metric,
        "best_checkpoint": os.path.basename(best) if best else None,
        "best_step": state.best_global_step,
    }


def summary(record: dict[str, Any]) -> str:
    """One line for the log and the CLI summary."""
    where = f"epoch {record['epoch']:g}, step {record['step']} of {record['max_steps']}"
    stopped = f"stopped early at {where}" if record["stopped_early"] else f"ran to the end ({where})"
    best = (
        f"; kept {record['best_checkpoint']} ({record['metric']} {record['best_metric']:.4g})"
        if record.get("best_checkpoint") and record.get("best_metric") is not None
        else ""
    )
    return f"early stopping (patience {record['patience']}): {stopped}{best}"
