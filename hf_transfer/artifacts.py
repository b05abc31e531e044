"""What a run leaves in its output folder, and the proof that it reloads.

Besides the weights, config and processor that the strategy saves, a run writes
``metrics.json`` (final scalar metrics), ``training_report.json`` (labels,
per-class scores, confusion matrices, data sizes, trainable parameters),
``recipe.yaml`` (the fully resolved recipe) and ``README.md`` (the model card).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ArtifactError
from .launch import plain_loading
from .outputs import METRICS_FILE, RECIPE_FILE, REPORT_FILE, strict_json

if TYPE_CHECKING:
    from .run import Run

logger = logging.getLogger("hf_transfer")
RELOAD_EXAMPLES = 8
RELOAD_ATOL = 1e-4


def classification_report(prediction: Any, labels: list[str]) -> dict[str, Any]:
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return report_from_predictions(logits.argmax(-1), prediction.label_ids, labels)


def report_from_predictions(predicted: Any, references: Any, labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix (rows: true label)."""
    from .metrics import load_metric

    report = load_metric().compute(predictions=predicted, references=references, num_labels=len(labels))
    per_class = {
        name: {
            "precision": report["per_class_precision"][i],
            "recall": report["per_class_recall"][i],
            "f1": report["per_class_f1"][i],
            "support": report["per_class_support"][i],
        }
        for i, name in enumerate(labels)
    }
    return {
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "per_class": per_class,
        "confusion_matrix": report["confusion_matrix"],
    }


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("transformers", "torch", "datasets", "accelerate", "peft", "evaluate", "huggingface_hub", "timm"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def write_run_files(out: Path, run: Run) -> None:
    """The run's own files in ``out``: metrics, training report, resolved recipe, then the model card from them."""
    from . import __version__
    from .hub import write_model_card

    data, defaults = run.data, run.defaults
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS_FILE).write_text(json.dumps(strict_json(run.metrics), indent=2, sort_keys=True) + "\n")
    report = {
        "hf_transfer_version": __version__,
        "backbone": run.backbone.reference,
        "task": run.task.name,
        "pipeline_tag": run.task.pipeline_tag,  # what transformers' pipeline() loads the model as
        "labels": data.labels,
        "columns": data.columns,
        "data_sizes": data.sizes(),
        "data_notes": data.notes,
        "strategy": run.strategy_report.as_dict(),
        "reports": run.reports,
        "precision": run.precision or {},
        "global_batch_size": run.global_batch_size or {},
        "defaults": defaults.values if defaults else {},  # training values the strategy supplied, with reasons
        "warnings": defaults.warnings if defaults else [],
        "class_weights": run.class_weights,  # task.class_weights resolved (None: unweighted loss)
        "early_stopping": run.early_stopping,  # where training stopped and the checkpoint it kept (None: not asked)
        "log_history": run.trainer.state.log_history or [],
        "versions": _versions(),
    }
    (out / REPORT_FILE).write_text(json.dumps(strict_json(report), indent=2) + "\n")
    (out / RECIPE_FILE).write_text(run.recipe.to_yaml())
    write_model_card(out)


def save_model(model: Any, processor: Any, out: Path) -> None:
    """What ``Trainer.save_model`` writes, for a model the Trainer did not train whole (the feature cache)."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    processor.save_pretrained(str(out))


def _to_device(batch: dict, device) -> dict:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}


def reference_logits(model: Any, eval_dataset: Any, collate: Any) -> tuple[dict, Any]:
    """The in-memory model's logits on the first validation examples.

    Called on every process: a sharded model (FSDP, DeepSpeed ZeRO-3) needs all of them for a forward pass.
    """
    import torch

    n = min(RELOAD_EXAMPLES, len(eval_dataset))
    batch = collate([eval_dataset[i] for i in range(n)])
    batch.pop("labels", None)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        expected = model(**_to_device(batch, device)).logits.float().cpu()
    model.train(was_training)
    return batch, expected


def reload_check(batch: dict, expected: Any, load: Any, out: Path, decision: dict | None = None) -> float:
    """Reload a saved artifact with ``load()`` and require the in-memory model's logits (main process), and
    the decision settings the task saved with it (``decision``: the trained config's ``hf_transfer`` section)."""
    import torch

    with torch.no_grad(), plain_loading():
        loaded = load().eval()
        got = loaded(**batch).logits.float().cpu()
    if decision:
        saved = getattr(loaded.config, "hf_transfer", None) or {}
        wrong = [key for key, value in decision.items() if saved.get(key) != value]
        if wrong:
            raise ArtifactError(
                f"the model saved in '{out}' lacks the decision settings it was evaluated with ({', '.join(wrong)} in "
                "config.json under hf_transfer); the saved files are unreliable"
            )
    diff = (expected - got).abs().max().item()
    if not torch.allclose(expected, got, atol=RELOAD_ATOL, rtol=RELOAD_ATOL):
        raise ArtifactError(
            f"the model saved in '{out}' does not reproduce the trained model: max logit difference {diff:.3g} "
            f"(tolerance {RELOAD_ATOL}) on {len(expected)} validation examples; the saved files are unreliable"
        )
    logger.info("reload check passed for %s: %d examples, max logit difference %.2e", out, len(expected), diff)
    return diff
