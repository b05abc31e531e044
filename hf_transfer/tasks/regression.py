"""Task ``regression``: one or several real-valued targets per example, text or images.

The modality follows the backbone, as for ``multi-label-classification``: a text backbone gets
``text-classification``'s preprocessing, an image backbone ``image-classification``'s (augmentation
included); this task delegates to them and adds what real-valued targets change:

* targets: one float column (``data.columns.label: score``) or several (``label: [valence, arousal]``), read as
  numbers (a value that is not one, NaN or infinity is an error naming the first rows);
* ``task.normalize_targets`` (default true): each target is standardised with the training split's mean and
  standard deviation for the loss, so that one learning rate suits targets in any unit. After training, the
  standardisation is folded into the head's last linear layer (weight × std, bias × std + mean), so the saved
  model predicts in the data's units with no code of ours: ``pipeline(..., function_to_apply="none")``,
  ``AutoModelFor*`` and ``hf_transfer.load_model`` all return original units. The statistics are recorded in
  ``config.json`` under ``hf_transfer.targets`` (for the record; nothing needs them to predict);
* the loss (``task.loss``): mse (transformers' regression loss), huber (δ = 1 on standardised targets) or l1;
* metrics: MAE, RMSE, R², Pearson and Spearman per target (:mod:`hf_transfer.metrics.regression`), in the
  data's units; ``metric_for_best_model`` defaults to RMSE, lower is better.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import DataError
from ..registry import TASKS
from ..schema import field
from . import Task, label_name
from ._modality import FollowsBackbone

logger = logging.getLogger("hf_transfer")
SCALAR_METRICS = ("rmse", "mae", "r2", "pearson", "spearman")
LOSSES = ("mse", "huber", "l1")
MAX_POINTS = 500  # (true, predicted) pairs per target kept in the report for the card's scatter plot


@TASKS.register("regression")
@dataclass
class Regression(FollowsBackbone, Task):
    loss: Literal["mse", "huber", "l1"] = field(
        "mse", help="training loss on the (standardised) targets: mse, huber (delta 1) or l1"
    )
    normalize_targets: bool = field(
        True,
        help="standardise each target with the training split's mean and std for the loss; the saved model "
        "still predicts in the data's units",
    )
    max_length: int | None = field(
        None, help="text backbones: truncate inputs to this many tokens (default: the backbone's limit, at most 512)"
    )
    augment: bool = field(True, help="image backbones: random resized crop (and flip) on training images")
    crop_scale: list[float] | Literal["auto"] = field(
        "auto", help="image backbones: area range of the random resized crop (see image-classification)"
    )
    horizontal_flip: bool = field(True, help="image backbones: flip training images left-right at random")
    color_jitter: float = field(0.0, help="image backbones: random brightness, contrast and saturation change")

    problem_type = "regression"
    pipeline_call_arguments = ', function_to_apply="none", top_k=None'  # raw values, one per target
    fp32_outputs = "regression values keep fp32 precision (bf16 rounds them to 3 significant digits)"
    # classification keys a regression recipe may carry over: one message each, not "unknown key"
    refused_keys = {
        "class_weights": "regression predicts numbers, there are no classes to weight (task.loss: huber or l1 "
        "is robust to outlying targets)",
        "threshold": "regression outputs are the predicted values themselves, nothing is thresholded",
    }
    model_computes_loss = False  # huber / l1, and every head alike (an hf_transfer head computes no regression loss)
    takes_label_columns = True  # data.columns.label may list several columns (one target each)
    probe_metric = "negative_rmse"
    # Ridge on standardised features and targets can want more than classification's strongest penalty (1),
    # the edge of that grid: the exact linear fit tries 100 … 1e-7 (2,000 Debian synopses: 1 was best, inside it).
    probe_l2_grid = tuple(10.0 ** (2 - e / 2) for e in range(0, 19))

    def __post_init__(self) -> None:
        FollowsBackbone.__post_init__(self)
        self.mean: list[float] | None = None  # per target, on the training split (0 without normalisation)
        self.std: list[float] | None = None  # per target (1 without normalisation)
        self.folded = False  # the model's outputs are in the data's units (after finalize_model)
        self.target_names: list[str] = []

    # --- options ------------------------------------------------------------------------------------------

    def validate(self, prefix: str) -> list[str]:
        return self.modality_problems(prefix)

    # --- targets ------------------------------------------------------------------------------------------

    def label_encoder(self):
        return self.encode_targets

    def encode_targets(self, splits: dict[str, Any], cfg: Any, column: str):
        """The target column(s) → a float32 vector per row (standardised with train's statistics when
        ``normalize_targets``); the target names and notes."""
        import numpy as np
        from datasets import Sequence, Value

        names = self.target_names = _target_names(cfg, column)
        values = {split: _numbers(ds["label"], split, names) for split, ds in splits.items()}
        train = values["train"]
        mean = train.mean(0)
        std = train.std(0)
        constant = [n for n, s in zip(names, std) if not s > 0]
        if constant:
            raise DataError(
                f"target {', '.join(repr(n) for n in constant)} has the same value on every training row "
                f"({', '.join(f'{train[0, names.index(n)]:g}' for n in constant)}): there is nothing to learn; check "
                "the label column, or drop that target"
            )
        if self.normalize_targets:
            self.mean, self.std = mean.tolist(), std.tolist()
        else:
            self.mean, self.std = [0.0] * len(names), [1.0] * len(names)
        feature = Sequence(Value("float32"), length=len(names))
        out = {}
        for split, ds in splits.items():
            scaled = ((values[split] - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)
            ds = ds.remove_columns("label").add_column("label", scaled.tolist(), feature=feature)
            out[split] = ds
        notes = [
            f"target {n}: mean {m:.4g}, std {s:.4g} on train ({len(train):,} rows)"
            + (" — standardised for the loss" if self.normalize_targets else "")
            for n, m, s in zip(names, mean.tolist(), std.tolist())
        ]
        for note in notes:
            logger.info(note)
        return out, names, notes

    def _original_units(self, values: Any, outputs: bool = False) -> Any:
        """Targets (or, with ``outputs``, model outputs) in the data's units: the stored targets are
        standardised; the outputs too until the standardisation is folded into the head."""
        import numpy as np

        values = np.asarray(values[0] if isinstance(values, tuple) else values, dtype=np.float64)
        values = values.reshape(len(values), -1)
        if self.mean is None or (outputs and self.folded):
            return values
        return values * np.asarray(self.std) + np.asarray(self.mean)

    # --- training -----------------------------------------------------------------------------------------

    def batch_loss(
        self, logits: Any, labels: Any, weights: list[float] | None = None, label_smoothing: float = 0.0
    ) -> Any:
        """The recipe's loss (mean over examples and targets) between the outputs and the (standardised)
        targets."""
        import torch.nn.functional as F

        target = labels.to(logits.dtype).reshape(logits.shape)
        if self.loss == "huber":
            return F.huber_loss(logits.float(), target.float(), delta=1.0)
        if self.loss == "l1":
            return F.l1_loss(logits.float(), target.float())
        return F.mse_loss(logits.float(), target.float())

    def probe_score(self, logits: Any, labels: Any) -> float:
        """Minus the RMSE on standardised targets (the L-BFGS head fit picks its L2 strength by it)."""
        return -float(((logits.float() - labels.float().reshape(logits.shape)) ** 2).mean().sqrt())

    def training_defaults(self) -> dict[str, Any]:
        return {**self.delegate.training_defaults(), "metric_for_best_model": "rmse", "greater_is_better": False}

    def finalize_model(self, model: Any, head_module_names: list[str]) -> None:
        """Fold the target standardisation into the head's last linear layer: the saved model then predicts in
        the data's units. Every copy of that layer is folded (LoRA keeps the trained head and the original)."""
        if self.folded or self.mean is None or (all(m == 0 for m in self.mean) and all(s == 1 for s in self.std)):
            return
        import torch

        mean = torch.tensor(self.mean)
        std = torch.tensor(self.std)
        layers = _output_layers(model, head_module_names, len(self.mean))
        if not layers:
            raise RuntimeError(
                f"regression: no linear layer with {len(self.mean)} outputs in the head ({', '.join(head_module_names)})"
            )
        with torch.no_grad():
            for layer in layers:
                layer.weight.mul_(std.to(layer.weight)[:, None])
                if layer.bias is None:
                    layer.bias = torch.nn.Parameter(torch.zeros(layer.out_features, device=layer.weight.device))
                layer.bias.mul_(std.to(layer.bias)).add_(mean.to(layer.bias))
        self.folded = True
        logger.info("target standardisation folded into the head: the saved model predicts in the data's units")

    def decision_config(self, labels: list[str]) -> dict[str, Any]:
        return {"targets": list(labels)}

    # --- metrics ------------------------------------------------------------------------------------------

    def _scores(self, predictions: Any, label_ids: Any, names: list[str] | None = None) -> dict[str, Any]:
        from ..metrics import load_metric

        return load_metric("regression").compute(
            predictions=self._original_units(predictions, outputs=True),
            references=self._original_units(label_ids),
            names=names,
        )

    def compute_metrics(self, num_labels: int):
        """The five metrics (means over the targets) and, with several targets, each target's as
        ``<metric>_<target>`` (targets in different units: read those)."""

        def compute(eval_pred) -> dict[str, float]:
            names = self.target_names if len(self.target_names) == num_labels else None
            report = self._scores(eval_pred.predictions, eval_pred.label_ids, names)
            out = {k: report[k] for k in SCALAR_METRICS}
            if num_labels > 1:
                out.update({f"{m}_{n}": t[m] for n, t in report["per_target"].items() for m in SCALAR_METRICS})
            return out

        return compute

    def classification_report(self, prediction: Any, labels: list[str]) -> dict[str, Any]:
        """Metrics per target (in the data's units) and a residual summary, for the results and the card."""
        import numpy as np

        pred = self._original_units(prediction.predictions, outputs=True)
        true = self._original_units(prediction.label_ids)
        report = self._scores(prediction.predictions, prediction.label_ids, labels)
        residuals = {}
        for j, name in enumerate(labels):
            r = pred[:, j] - true[:, j]
            q = np.quantile(r, [0.05, 0.25, 0.5, 0.75, 0.95]).tolist()
            residuals[name] = {
                "mean": float(r.mean()),
                "p5": q[0],
                "p25": q[1],
                "median": q[2],
                "p75": q[3],
                "p95": q[4],
            }
        keep = _spread(len(pred))  # the card's scatter plot
        points = {
            name: {"true": true[keep, j].round(5).tolist(), "predicted": pred[keep, j].round(5).tolist()}
            for j, name in enumerate(labels)
        }
        return {
            **{k: report[k] for k in SCALAR_METRICS},
            "per_target": {
                name: {**report["per_target"][name], "residuals": residuals[name], "points": points[name]}
                for name in labels
            },
        }

    # --- evaluate, compare, export (hf_transfer.inference) -----------------------------------------------------

    primary_metric = "rmse"  # lower is better (hf_transfer.metrics.lower_is_better)
    summary_metrics = SCALAR_METRICS
    bootstrap_metrics = ("rmse", "mae", "r2")
    default_top_k = None
    accuracy_name = "R²"

    def prepared_label(self, value: Any, labels: list[str]) -> Any:
        """The stored (standardised, float32) targets back in the data's units, with train's statistics."""
        return [float(v) * s + m for v, s, m in zip(value, self.std, self.mean)]

    def evaluation_targets(self, values, labels, model, separator=None, column="label", data="the data"):
        """Each row's target value(s) as numbers, (rows, targets); the truth written per row is ``true``."""
        targets = _numbers(values, f"{data} ({column})", list(labels))
        return targets, [{"true": v} for v in values]

    def decisions(self, logits: Any) -> Any:
        """The predicted values themselves (the saved head predicts in the data's units)."""
        import numpy as np

        return np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)

    def evaluation_scores(self, logits: Any, targets: Any) -> dict[str, float]:
        from ..metrics.regression.regression import scores

        report = scores(self.decisions(logits), targets)
        return {k: report[k] for k in SCALAR_METRICS}

    def evaluate_report(self, logits: Any, targets: Any, labels: list[str]) -> dict[str, Any]:
        """``per_class`` holds each target's metrics (and points for the scatter plot); no confusion matrix."""
        from ..metrics.regression.regression import scores

        pred = self.decisions(logits)
        report = scores(pred, targets, labels)
        keep = _spread(len(pred))
        per_target = {
            name: {
                **report["per_target"][name],
                "points": {"true": targets[keep, j].tolist(), "predicted": pred[keep, j].tolist()},
            }
            for j, name in enumerate(labels)
        }
        metrics = {k: report[k] for k in SCALAR_METRICS}
        if len(labels) > 1:
            metrics.update({f"{m}_{n}": t[m] for n, t in report["per_target"].items() for m in SCALAR_METRICS})
        return {"metrics": metrics, "per_class": per_target, "confusion_matrix": None}

    def evaluation_chart(self, per_class, confusion_matrix, labels, title, folder) -> Any:
        from ..charts import scatters_png

        chart = folder / "predicted_vs_true.png"
        scatters_png({n: (r["points"]["true"], r["points"]["predicted"]) for n, r in per_class.items()}, title, chart)
        return chart

    def evaluation_notes(self, per_class, confusion_matrix) -> list[str]:
        return [
            "Per target: "
            + "; ".join(f"{n} RMSE {r['rmse']:.4g}, MAE {r['mae']:.4g}, R² {r['r2']:.4f}" for n, r in per_class.items())
        ]

    def decision_code(self, id2label: dict[int, str], config: Any) -> list[str]:
        names = [id2label[i] for i in sorted(id2label)]
        return [f"values = [dict(zip({names!r}, row)) for row in logits.tolist()]  # in the training data's units"]

    # --- model card -----------------------------------------------------------------------------------------

    card_scalars = (
        ("rmse", "RMSE"),
        ("mae", "MAE"),
        ("r2", "R²"),
        ("pearson", "Pearson r"),
        ("spearman", "Spearman ρ"),
        ("loss", "loss"),
    )
    card_index_metrics = (
        ("rmse", "rmse", "RMSE", None),
        ("mae", "mae", "MAE", None),
        ("r2", "r_squared", "R²", None),
        ("pearson", "pearsonr", "Pearson r", None),
        ("spearman", "spearmanr", "Spearman ρ", None),
    )

    @classmethod
    def card_report_sections(cls, report, split, images) -> list[str] | None:
        """Per target: the five metrics, the residual quantiles (predicted - true) and the scatter plot."""
        per_target = report.get("per_target")
        if not per_target:
            return None
        table = [
            "| target | RMSE | MAE | R² | Pearson r | Spearman ρ | residual median | residual 5%-95% |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in per_target.items():
            q = r.get("residuals", {})
            table.append(
                f"| {name} | {r['rmse']:.4g} | {r['mae']:.4g} | {r['r2']:.4f} | {r['pearson']:.4f} | "
                f"{r['spearman']:.4f} | {q.get('median', float('nan')):.4g} | "
                f"{q.get('p5', float('nan')):.4g} … {q.get('p95', float('nan')):.4g} |"
            )
        parts = [f"### Per-target results ({split})\n\n" + "\n".join(table)]
        parts += [
            f"![Predicted against true {name} ({split})]({images[f'scatter_{split}_{name}']})"
            for name in per_target
            if f"scatter_{split}_{name}" in images
        ]
        return parts

    @classmethod
    def card_charts(cls, report, split, dest) -> dict[str, str]:
        from ..charts import scatter_png

        images = {}
        for j, (name, r) in enumerate((report.get("per_target") or {}).items()):
            points = r.get("points")
            if points and points["true"]:
                file = f"scatter_{split}_{j}.png"
                scatter_png(points["true"], points["predicted"], f"{name} ({split})", dest / file)
                images[f"scatter_{split}_{name}"] = file
        return images

    @classmethod
    def card_usage_notes(cls, usage) -> str:
        """The model outputs numbers in the data's units: pipeline() must not squash them."""
        lines = [
            *usage.setup,
            "from transformers import pipeline",
            "",
            f'regressor = pipeline("{usage.pipeline_tag}", model="{usage.ref}", function_to_apply="none", top_k=None)',
            f"print(regressor({usage.example}))  # one score per target, in the training data's units",
        ]
        return (
            "This is a regression model: each output is a number in the units of its training target (the targets "
            "were standardised for training, and that scaling is folded into the head, so no post-processing is "
            'needed). Ask `pipeline()` for the raw outputs with `function_to_apply="none"`; the target names are '
            "the model's `id2label`. `hf-transfer predict` writes them per row:\n\n" + usage.code(lines)
        )

    # --- using a trained model ---------------------------------------------------------------------------

    def prediction_fields(self, top_k: int | None) -> list[str]:
        return ["value", "values"]

    def prediction_arrow_types(self, top_k: int | None, id2label: dict[int, str]) -> dict[str, Any]:
        """``value`` a float; ``values`` a struct of one float per target, in the model's target order."""
        import pyarrow as pa

        types = {"value": pa.float64()}
        if sorted(id2label) == list(range(len(id2label))) and id2label:  # one name per output, as configs have
            names = [label_name(id2label, i) for i in range(len(id2label))]
            types["values"] = pa.struct([(name, pa.float64()) for name in names])
        return types

    def predictions(self, logits: Any, id2label: dict[int, str], top_k: int | None) -> list[dict[str, Any]]:
        """Per row: ``value``, the first target's prediction, and ``values``, {target: prediction} (original
        units: the saved head predicts them)."""
        rows = []
        for row in logits.float().reshape(len(logits), -1).tolist():
            rows.append({"value": row[0], "values": {label_name(id2label, i): v for i, v in enumerate(row)}})
        return rows


def _spread(rows: int) -> Any:
    """Up to MAX_POINTS row indices evenly spaced over ``rows`` (the points a scatter plot shows)."""
    import numpy as np

    return np.unique(np.linspace(0, max(rows - 1, 0), num=min(MAX_POINTS, rows)).round().astype(int))


def _target_names(cfg: Any, column: str) -> list[str]:
    declared = getattr(cfg.columns, "label", None)
    return [str(c) for c in declared] if isinstance(declared, list) else [column]


def _numbers(values: list[Any], split: str, names: list[str]):
    """The target values of one split as a (rows, targets) float array; non-numbers, NaN and infinities are a
    DataError naming the first offending rows."""
    import numpy as np

    bad: list[str] = []
    rows = []
    for i, value in enumerate(values):
        cells = list(value) if isinstance(value, (list, tuple)) else [value]
        if len(cells) != len(names):
            bad.append(f"row {i}: {value!r}")
            continue
        parsed = []
        for cell in cells:
            number = _as_number(cell)
            if number is None or not math.isfinite(number):
                bad.append(f"row {i}: {value!r}")
                break
            parsed.append(number)
        else:
            rows.append(parsed)
        if len(bad) >= 5:
            break
    if bad:
        what = "a number" if len(names) == 1 else f"{len(names)} numbers ({', '.join(names)})"
        raise DataError(
            f"regression targets must be finite numbers: split '{split}' has values that are not {what}: "
            f"{'; '.join(bad)}; fix or drop those rows (empty cells, NaN and inf are not targets)"
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))


def _as_number(cell: Any) -> float | None:
    if isinstance(cell, bool) or cell is None:
        return None
    if isinstance(cell, (int, float)):
        return float(cell)
    if isinstance(cell, str):
        try:
            return float(cell.strip())
        except ValueError:
            return None
    return None


def _output_layers(model: Any, head_module_names: list[str], outputs: int) -> list[Any]:
    """The head's last linear layer(s) with ``outputs`` outputs (under a peft wrapper too)."""
    import torch

    def within(name: str, head: str) -> bool:  # ``head``'s path is a run of ``name``'s path components
        parts, hp = name.split("."), head.split(".")
        return any(parts[i : i + len(hp)] == hp for i in range(len(parts) - len(hp) + 1))

    found = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and any(within(name, h) for h in head_module_names):
            # the last linear layer of each head copy (an MLP's hidden layers come before it)
            copy = next(h for h in head_module_names if within(name, h))
            found[(copy, name.split(copy)[0])] = module
    return [m for m in found.values() if m.out_features == outputs]
