"""Score a trained model on labelled data: ``hf-transfer evaluate`` / ``hf_transfer.evaluate``.

The data is read as ``predict`` reads it (a table file, a Hub split, or a folder of images in the
``imagefolder`` layout, ``<class>/<image>``, optionally under ``train/``, ``validation/``, ``test/``), with the
true label from a column or the class folder. The model runs through the same :class:`~.Runner`; the
task's metrics, per-class report, confusion matrix PNG and the per-row predictions go to a folder of their
own. ``against`` scores a second model on the same rows and gives, per metric, the difference with a
paired bootstrap 95% confidence interval (the rows are resampled together for both models).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError, HfTransferError, OutputError
from ..outputs import RECIPE_FILE
from . import LoadedModel, Runner, _progress, open_model
from .sources import IMAGE_SUFFIXES, open_source

logger = logging.getLogger("hf_transfer")
WRITTEN = ("metrics.json", "predictions.jsonl", "confusion_matrix.png", "report.md")
BOOTSTRAP_METRICS = ("accuracy", "macro_f1")


@dataclass
class Evaluation:
    model: str
    data: str
    rows: int
    errors: int
    metrics: dict[str, float]
    per_class: dict[str, dict[str, float]]
    confusion_matrix: list[list[int]]
    folder: Path | None
    seconds: float
    against: dict[str, Any] | None = None  # the other model's metrics and the paired differences
    files: list[Path] = field(default_factory=list)


def _image_root(data: Path, split: str | None) -> Path:
    """The folder whose sub-folders are the classes: DATA/<split> when DATA has split folders."""
    splits = [name for name in ("train", "validation", "test") if (data / name).is_dir()]
    if split:
        if not (data / split).is_dir():
            raise DataError(f"'{data}' has no '{split}' folder (found: {', '.join(splits) or 'class folders only'})")
        return data / split
    if splits:
        if "test" not in splits:
            raise DataError(f"'{data}' has split folders ({', '.join(splits)}) but no test/: choose one with --split")
        return data / "test"
    return data


def _labelled_source(loaded: LoadedModel, data: str, split: str | None, label_column: str | None):
    """(source, function item → true label) for a folder of class folders, or a table with a label column."""
    path = Path(data)
    if path.is_dir():
        root = _image_root(path, split)
        loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if loose:
            raise DataError(
                f"'{root}' holds images directly ({loose[0]} …); evaluate needs one sub-folder per class "
                "(<class>/<image>), the imagefolder layout, to know each image's true label"
            )
        source = open_source(str(root), loaded.columns, loaded.task.modality, None)
        return source, lambda item: Path(item.id).parts[0]
    if split:
        raise HfTransferError(
            "--split applies to a folder with train/validation/test sub-folders; for a Hub "
            "dataset name the split in the input (hub:<dataset>:<split>)"
        )
    recipe_label = None
    recipe_file = loaded.folder / RECIPE_FILE
    if recipe_file.is_file():
        import yaml

        recipe_label = (((yaml.safe_load(recipe_file.read_text()) or {}).get("data") or {}).get("columns") or {}).get(
            "label"
        )
    column = label_column or recipe_label or "label"
    source = open_source(data, loaded.columns, loaded.task.modality, [column])
    return source, lambda item: item.extra[column]


def _label_ids(values: list[Any], label2id: dict[str, int], model: str) -> list[int]:
    def known(value: Any) -> str | None:
        for candidate in (value, str(value)):
            if isinstance(candidate, str) and candidate in label2id:
                return candidate
        return None

    unknown = sorted({str(v) for v in values if known(v) is None})
    if unknown:
        raise DataError(
            f"the data has labels that model '{model}' does not know: {', '.join(unknown[:20])}"
            f"{' …' if len(unknown) > 20 else ''}; the model's labels are: {', '.join(label2id)}; "
            "evaluate a model trained on these labels, or choose the label column with --label-column"
        )
    return [label2id[known(v)] for v in values]


def _run_model(
    loaded: LoadedModel, source, truth, precision: str, batch_size: int, workers: int | None, progress: bool
) -> tuple[list[str], list[Any], list[Any], list[str | None]]:
    """ids, true labels, logits (None for unreadable rows) and errors, in input order."""
    runner = Runner(loaded, precision, batch_size, workers)
    ids, labels, logits, errors = [], [], [], []
    bar = _progress(progress, source.total)
    for pairs in runner.logits(source):
        for item, lg in pairs:
            ids.append(item.id)
            labels.append(truth(item))
            logits.append(lg)
            errors.append(item.error)
        bar.update(len(pairs))
    bar.close()
    return ids, labels, logits, errors


def paired_bootstrap(
    pred_a: Any, pred_b: Any, truth: Any, num_labels: int, resamples: int = 1000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Per metric: B − A on the data and the 2.5/97.5 percentiles of B − A over ``resamples`` resamplings of
    the rows (the same rows for both models, which is what makes the interval narrow for correlated models)."""
    import numpy as np

    from ..metrics.classification.classification import scores

    rng = np.random.default_rng(seed)
    n = len(truth)
    base = {m: scores(pred_b, truth, num_labels)[m] - scores(pred_a, truth, num_labels)[m] for m in BOOTSTRAP_METRICS}
    draws = {m: [] for m in BOOTSTRAP_METRICS}
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        a, b = scores(pred_a[idx], truth[idx], num_labels), scores(pred_b[idx], truth[idx], num_labels)
        for m in BOOTSTRAP_METRICS:
            draws[m].append(b[m] - a[m])
    return {
        m: {
            "difference": base[m],
            "low": float(np.percentile(draws[m], 2.5)),
            "high": float(np.percentile(draws[m], 97.5)),
        }
        for m in BOOTSTRAP_METRICS
    }


def _default_folder(model: Path, data: str, split: str | None) -> Path:
    name = (
        Path(data.rstrip("/")).name.split(".")[0]
        if not data.startswith("hub:")
        else data[4:].replace(":", "-").replace("/", "-")
    )
    return Path("evaluations") / f"{model.name}__{name}{'-' + split if split else ''}"


def _check_folder(folder: Path, overwrite: bool, model: Path) -> None:
    if folder.resolve() == model.resolve():
        raise OutputError(
            f"evaluate writes into a folder of its own, not into the model folder '{model}'; choose "
            "another --output-dir"
        )
    if folder.is_file():
        raise OutputError(f"--output-dir '{folder}' is a file; give a folder")
    ours = [folder / name for name in WRITTEN if (folder / name).exists()]
    if ours and not overwrite:
        raise OutputError(
            f"'{folder}' already holds an evaluation ({', '.join(p.name for p in ours)}); pass "
            "--overwrite to replace those files (nothing else there is touched), or choose --output-dir"
        )


def evaluate(
    model: str | Path,
    data: str,
    *,
    split: str | None = None,
    label_column: str | None = None,
    text_column: str | None = None,
    image_column: str | None = None,
    output_dir: str | Path | None = None,
    against: str | Path | None = None,
    batch_size: int = 32,
    precision: str = "auto",
    num_workers: int | None = None,
    overwrite: bool = False,
    resamples: int = 1000,
    progress: bool = True,
) -> Evaluation:
    """Score ``model`` on the labelled ``data``; see the module docstring. Returns an :class:`Evaluation`."""
    import numpy as np

    from ..artifacts import report_from_predictions

    model_dir = Path(model)
    folder = Path(output_dir) if output_dir else _default_folder(model_dir, data, split)
    _check_folder(folder, overwrite, model_dir)
    loaded = open_model(model_dir, text_column, image_column)
    if loaded.task.takes_label_lists:
        raise HfTransferError(
            f"model '{model_dir}' is a {loaded.task.name} model, and evaluate scores one class per example so far; "
            "its multi-label metrics on validation/test are in its metrics.json and training_report.json, and "
            "hf-transfer predict writes each example's predicted labels and per-label scores"
        )
    labels = [loaded.id2label[i] for i in sorted(loaded.id2label)]
    label2id = {name: i for i, name in enumerate(labels)}
    other = open_model(against, text_column, image_column) if against else None
    if other is not None:
        other_labels = [other.id2label[i] for i in sorted(other.id2label)]
        if other_labels != labels:
            raise DataError(
                f"--against '{against}' has labels {', '.join(other_labels)}; model '{model}' has "
                f"{', '.join(labels)}: a paired comparison needs the same labels in the same order"
            )
    source, truth = _labelled_source(loaded, data, split, label_column)
    # The true labels are checked before any model runs: a wrong label column fails in seconds, not after an hour.
    _label_ids([truth(item) for item in source], label2id, str(model))
    start = time.perf_counter()
    ids, values, logits, errors = _run_model(loaded, source, truth, precision, batch_size, num_workers, progress)
    good = [i for i, lg in enumerate(logits) if lg is not None]
    if not good:
        raise DataError(f"no row of '{data}' could be read ({errors[0] if errors else 'no rows'})")
    y = np.asarray(_label_ids([values[i] for i in good], label2id, str(model)))
    stacked = np.stack([logits[i].numpy() for i in good])
    predicted = stacked.argmax(-1)
    report = report_from_predictions(predicted, y, labels)
    from ..metrics.classification.classification import scores

    metrics = {k: v for k, v in scores(predicted, y, len(labels)).items() if not isinstance(v, list)}
    compared = None
    if other is not None:
        _, _, other_logits, other_errors = _run_model(
            other, source, truth, precision, batch_size, num_workers, progress
        )
        both = [i for i in good if other_logits[i] is not None]
        y_both = np.asarray(_label_ids([values[i] for i in both], label2id, str(model)))
        pred_a = np.stack([logits[i].numpy() for i in both]).argmax(-1)
        pred_b = np.stack([other_logits[i].numpy() for i in both]).argmax(-1)
        other_metrics = {k: v for k, v in scores(pred_b, y_both, len(labels)).items() if not isinstance(v, list)}
        compared = {
            "model": str(against),
            "rows": len(both),
            "metrics": other_metrics,
            "paired_bootstrap": paired_bootstrap(pred_a, pred_b, y_both, len(labels), resamples),
            "resamples": resamples,
        }
    result = Evaluation(
        str(model),
        data,
        len(ids),
        sum(e is not None for e in errors),
        metrics,
        report["per_class"],
        report["confusion_matrix"],
        folder,
        time.perf_counter() - start,
        compared,
    )
    _write(result, ids, values, logits, errors, labels, loaded)
    return result


def _write(result: Evaluation, ids, values, logits, errors, labels: list[str], loaded: LoadedModel) -> None:
    from ..charts import confusion_matrix_png

    folder = result.folder
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "model": result.model,
        "data": result.data,
        "rows": result.rows,
        "unreadable_rows": result.errors,
        "metrics": result.metrics,
        "per_class": result.per_class,
        "confusion_matrix": result.confusion_matrix,
        "labels": labels,
        "against": result.against,
    }
    (folder / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
    with open(folder / "predictions.jsonl", "w", encoding="utf-8") as sink:
        for i, lg in enumerate(logits):
            row = {"id": ids[i], "true_label": str(values[i]), "error": errors[i]}
            if lg is not None:
                row.update(loaded.task.predictions(lg[None], loaded.id2label, 1)[0])
            sink.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    confusion_matrix_png(
        result.confusion_matrix, labels, f"{Path(result.model).name} on {result.data}", folder / "confusion_matrix.png"
    )
    (folder / "report.md").write_text(summary(result) + "\n")
    result.files = [folder / name for name in WRITTEN]


def summary(result: Evaluation) -> str:
    """A one-screen summary: the metrics (and the paired comparison), the weakest classes, where the files are."""
    lines = [
        f"# {result.model} on {result.data}",
        "",
        f"{result.rows} rows" + (f" ({result.errors} unreadable, not scored)" if result.errors else ""),
        "",
        "| metric | value |" + (" against | difference [95% CI] |" if result.against else ""),
        "|---|---|" + ("---|---|" if result.against else ""),
    ]
    for name in ("accuracy", "macro_f1", "macro_precision", "macro_recall"):
        line = f"| {name} | {result.metrics[name]:.4f} |"
        if result.against:
            line += f" {result.against['metrics'][name]:.4f} |"
            boot = result.against["paired_bootstrap"].get(name)
            line += f" {boot['difference']:+.4f} [{boot['low']:+.4f}, {boot['high']:+.4f}] |" if boot else " |"
        lines.append(line)
    weakest = sorted(result.per_class.items(), key=lambda kv: kv[1]["f1"])[:5]
    lines += [
        "",
        "Weakest classes by F1: " + ", ".join(f"{name} {v['f1']:.3f} (support {v['support']})" for name, v in weakest),
    ]
    if result.against:
        lines += [
            "",
            f"Difference = {result.against['model']} − {result.model}, on the {result.against['rows']} rows both "
            f"could read; interval: paired bootstrap, {result.against['resamples']} resamples.",
        ]
    return "\n".join(lines)
