"""Score a trained model on labelled data: ``hf-transfer evaluate`` / ``hf_transfer.evaluate``.

The data is read as ``predict`` reads it (a table file, a Hub split, or a folder of images in the
``imagefolder`` layout, ``<class>/<image>``, optionally under ``train/``, ``validation/``, ``test/``), with the
true label from a column or the class folder (a model that predicts label sets: a list, or delimited labels,
per row; ``ClassLabel`` ids, or lists of them, read as their names), or is a recipe YAML: its data's split read
as training read it (:func:`_recipe_source`). The model runs through the same :class:`~.Runner`; the task's metrics (its hooks
``evaluation_targets``, ``evaluate_report``, ``evaluation_scores``: nothing here names a task), per-class report,
confusion matrix PNG (per-label F1 chart for label sets) and the per-row predictions go to a folder of their
own. ``against`` scores a second model on the same rows and gives, per metric, the difference with a
paired bootstrap 95% confidence interval (the rows are resampled together for both models).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cpu_heap import kept_heap
from ..errors import DataError, HfTransferError, OutputError
from ..outputs import RECIPE_FILE, strict_json
from . import (
    ArgumentError,
    LoadedModel,
    Runner,
    _found,
    _progress,
    check_batch_size,
    check_flag,
    check_precision,
    open_model,
    optional_text,
    path_argument,
    worker_count,
)
from .sinks import is_same_file
from .sources import IMAGE_SUFFIXES, open_rows, open_source

logger = logging.getLogger("hf_transfer")
WRITTEN = (
    "metrics.json",
    "predictions.jsonl",
    "confusion_matrix.png",
    "per_label_f1.png",
    "predicted_vs_true.png",
    "report.md",
)
BOOTSTRAP_METRICS = ("accuracy", "macro_f1")
RECIPE_SUFFIXES = (".yaml", ".yml")
LABEL = "__label__"  # a recipe row's true label, next to its inputs (no input column can have this name)


@dataclass
class Evaluation:
    model: str
    data: str
    rows: int
    errors: int
    metrics: dict[str, float]
    per_class: dict[str, dict[str, float]]
    confusion_matrix: list[list[int]] | None  # None for label sets (multi-label): per_class has each label's scores
    folder: Path | None
    seconds: float
    against: dict[str, Any] | None = None  # the other model's metrics and the paired differences
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the task's lines on its report (e.g. the weakest classes)


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


def _labelled_source(
    loaded: LoadedModel, data: str, split: str | None, label_column: str | list[str] | None, label_separator: str | None
):
    """(source, function item → true label, label separator, label column) for a folder of class folders, or a table with a
    label column (its separator: ``label_separator``, else the training recipe's ``data.label_separator``)."""
    path = Path(data)
    if path.suffix.lower() in RECIPE_SUFFIXES:
        if label_column or label_separator:
            raise HfTransferError(
                "--label-column and --label-separator apply to a table file; a recipe names its own label column "
                "and separator (data.columns.label, data.label_separator): drop the option, or edit the recipe"
            )
        return _recipe_source(loaded, path, split)
    if path.is_dir():
        if loaded.task.takes_label_lists:
            raise DataError(
                f"'{data}' is a folder: its class sub-folders give one label per image, and model "
                f"'{loaded.folder}' predicts a set of labels per example; evaluate it on a table file "
                "(CSV/TSV/JSON/JSONL/parquet) with an image path column and a list of labels (or delimited labels "
                "with --label-separator) per row"
            )
        root = _image_root(path, split)
        loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if loose:
            raise DataError(
                f"'{root}' holds images directly ({loose[0]} …); evaluate needs one sub-folder per class "
                "(<class>/<image>), the imagefolder layout, to know each image's true label"
            )
        source = open_source(str(root), loaded.columns, loaded.task.modality, None, loaded.task.takes_word_lists)
        return source, lambda item: Path(item.id).parts[0], None, "class folder"
    if split:
        raise HfTransferError(
            "--split applies to a recipe (its data's train/validation/test) or a folder with train/validation/test "
            "sub-folders; for a Hub dataset name the split in the input (hub:<dataset>:<split>)"
        )
    recipe_data: dict[str, Any] = {}
    recipe_file = loaded.folder / RECIPE_FILE
    if recipe_file.is_file():
        import yaml

        recipe_data = (yaml.safe_load(recipe_file.read_text()) or {}).get("data") or {}
    from ..data import LABEL_COLUMNS

    # as training finds the label column: the task's label role (e.g. tags), else label or labels
    candidates = tuple(loaded.task.roles.get("label", (LABEL_COLUMNS, True))[0]) or LABEL_COLUMNS
    words = loaded.task.takes_word_lists
    named = label_column or (recipe_data.get("columns") or {}).get("label")
    separator = label_separator or recipe_data.get("label_separator")
    if isinstance(named, list):  # several label columns (regression targets): one value from each, in order
        source = open_source(data, loaded.columns, loaded.task.modality, list(named), words)
        return source, lambda item: [item.extra[c] for c in named], separator, ", ".join(named)
    for column in [named] if named else candidates:
        try:
            source = open_source(data, loaded.columns, loaded.task.modality, [column], words)
        except DataError as e:
            if f"{column!r} (--keep-columns)" not in str(e):
                raise
            continue
        named_labels = class_names((source.features or {}).get(column))
        return source, lambda item, column=column, names=named_labels: names(item.extra[column]), separator, column
    raise DataError(
        f"'{data}' has no column {' or '.join(repr(c) for c in ([named] if named else candidates))} with the "
        "true labels; fix: choose the label column with --label-column"
    )


def class_names(feature: Any) -> Any:
    """A function giving a label cell with its class names: a ``ClassLabel`` column's ids, or the ids in a list
    of them (a Hub dataset's ``Sequence(ClassLabel)`` tags, e.g. conll2003's ner_tags), through the data's own
    ``ClassLabel.int2str``; any other cell as it is."""
    from datasets import ClassLabel

    def is_id(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    inner = feature[0] if isinstance(feature, list) and len(feature) == 1 else getattr(feature, "feature", None)
    if isinstance(feature, ClassLabel):
        return lambda v: feature.int2str(v) if is_id(v) else v
    if isinstance(inner, ClassLabel):
        return lambda v: [inner.int2str(t) if is_id(t) else t for t in v] if isinstance(v, (list, tuple)) else v
    return lambda v: v


def _recipe_source(loaded: LoadedModel, path: Path, split: str | None):
    """(source, truth, separator, column) for a recipe's split (default test), read as training read it: the
    recipe's data source, column roles and label encoding (:func:`hf_transfer.pipeline.load_data`, so a
    carved validation split is the same rows), each label given back by the task's :meth:`prepared_label`."""
    from ..config import load_recipe
    from ..pipeline import load_data

    if not path.is_file():
        raise DataError(f"recipe '{path}' does not exist; give the recipe YAML the model was trained with")
    recipe = load_recipe(path)
    task = recipe.task.options
    if type(task) is not type(loaded.task):
        raise DataError(
            f"recipe '{path}' is a {task.name} recipe and model '{loaded.folder}' a {loaded.task.name} model; "
            "evaluate the model on the data of a recipe of its own task"
        )
    recipe.data.streaming = False  # evaluate reads one split once and needs its length: no stream
    prepared = load_data(recipe)
    name = split or "test"
    splits = {"train": prepared.train, "validation": prepared.validation, "test": prepared.test}
    if name not in splits:
        raise DataError(f"--split for a recipe is train, validation or test, found {name!r}")
    if splits[name] is None:
        raise DataError(
            f"recipe '{path}' has no test split (its data has no 'test' split and data.test_split is not set); fix: "
            "set data.test_split in the recipe, or choose another split with --split validation"
        )
    dataset = splits[name]
    roles = [r for r in loaded.task.inference_roles() if r in dataset.column_names]
    labels = prepared.labels

    def rows():
        for row in dataset:
            yield {**{r: row[r] for r in roles}, LABEL: task.prepared_label(row["label"], labels)}

    columns = {r: [r] for r in roles} or loaded.columns
    source = open_rows(f"{path} ({name})", rows, columns, loaded.task.modality, [LABEL], loaded.task.takes_word_lists)
    source.total = len(dataset)
    return source, lambda item: item.extra[LABEL], None, f"{name} split"


def _run_model(
    loaded: LoadedModel,
    source,
    truth,
    precision: str,
    batch_size: int | None,
    workers: int | None,
    progress: bool,
    notes: list[str],
) -> tuple[list[str], list[Any], list[Any], list[str | None], list[Any]]:
    """ids, true labels, outputs (None for unreadable rows), errors and input payloads, in input order; a line
    on the precision goes to ``notes`` when the task, not the hardware, chose it."""
    runner = Runner(loaded, precision, batch_size, workers)
    if runner.precision_note and runner.precision != "onnx":
        notes.append(f"Ran in {runner.precision} ({runner.precision_note}).")
    ids, labels, logits, errors, payloads = [], [], [], [], []
    bar = _progress(progress, source.total)
    with kept_heap(runner.device):  # freed CPU memory is reused, not returned to the kernel (hf_transfer.cpu_heap)
        for pairs in runner.logits(source):
            for item, lg in pairs:
                ids.append(item.id)
                labels.append(truth(item))
                logits.append(lg)
                errors.append(item.error)
                payloads.append(item.payload)
            bar.update(len(pairs))
    bar.close()
    return ids, labels, logits, errors, payloads


def paired_bootstrap(
    pred_a: Any,
    pred_b: Any,
    truth: Any,
    num_labels: int,
    resamples: int = 1000,
    seed: int = 0,
    score: Any = None,
    score_b: Any = None,
    metrics: tuple[str, ...] = BOOTSTRAP_METRICS,
) -> dict[str, dict[str, float]]:
    """Per metric: B − A on the data and the 2.5/97.5 percentiles of B − A over ``resamples`` resamplings of
    the rows (the same rows for both models, which is what makes the interval narrow for correlated models).
    ``score(predictions, truth) -> {metric: value}``: by default single-label scores of class ids; evaluate
    passes the task's scores of logits (``score_b`` for B's, e.g. with B's own decision thresholds)."""
    import numpy as np

    from ..metrics.classification.classification import scores

    if score is None:

        def score(pred, y):
            return scores(pred, y, num_labels)

    score_b = score_b or score
    pred_a, pred_b, truth = np.asarray(pred_a), np.asarray(pred_b), np.asarray(truth)
    rng = np.random.default_rng(seed)
    n = len(truth)
    a, b = score(pred_a, truth), score_b(pred_b, truth)
    base = {m: b[m] - a[m] for m in metrics}
    draws = {m: [] for m in metrics}
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        a, b = score(pred_a[idx], truth[idx]), score_b(pred_b[idx], truth[idx])
        for m in metrics:
            draws[m].append(b[m] - a[m])
    return {
        m: {
            "difference": base[m],
            "low": float(np.percentile(draws[m], 2.5)),
            "high": float(np.percentile(draws[m], 97.5)),
        }
        for m in metrics
    }


def _default_folder(model: Path, data: str, split: str | None) -> Path:
    name = (
        Path(data.rstrip("/")).name.split(".")[0]
        if not data.startswith("hub:")
        else data[4:].replace(":", "-").replace("/", "-")
    )
    return Path("evaluations") / f"{model.name}__{name}{'-' + split if split else ''}"


def _inside(folder: Path, other: Path) -> bool:
    """Whether ``folder`` is ``other`` or lies under it (symbolic links followed)."""
    folder, other = folder.resolve(), other.resolve()
    return folder == other or other in folder.parents


def _check_folder(folder: Path, overwrite: bool, model: Path, data: str, others: tuple[Path, ...] = ()) -> None:
    """Refuse an output folder before any work: a model folder or a folder inside one (``others``: the
    ``--against`` model), a file, an earlier evaluation without ``overwrite``, a folder of images being scored
    (the chart would become one of its images), or a folder where a file evaluate writes is the data itself
    (refused even with ``overwrite``)."""
    for owner in (model, *others):
        if owner.is_dir() and _inside(folder, owner):
            raise OutputError(
                f"evaluate writes into a folder of its own, not into the model folder '{owner}' nor a folder inside "
                f"it; --output-dir '{folder}' is {'that folder' if folder.resolve() == owner.resolve() else 'inside it'}"
                "; fix: choose another --output-dir (the default is evaluations/<model>__<data>)"
            )
    if folder.is_file():
        raise OutputError(f"--output-dir '{folder}' is a file; give a folder")
    parent = next((p for p in folder.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise OutputError(f"--output-dir '{folder}' cannot be created: '{parent}' is a file; give another folder")
    holds = _holds_other_output(folder)
    if holds:
        raise OutputError(
            f"--output-dir '{folder}' holds {holds}: evaluate writes into a folder of its own, never into a model, "
            "a training run or an export; fix: choose another --output-dir (the default is evaluations/<model>__<data>)"
        )
    source = Path(data)
    if not data.startswith("hub:") and source.is_dir() and _inside(folder, source):
        raise OutputError(
            f"--output-dir '{folder}' is inside the data folder '{data}', whose images are scored; fix: choose an "
            "--output-dir outside it"
        )
    for name in WRITTEN:
        if any(is_same_file(folder / name, f) for f in _data_files(data)):
            raise OutputError(
                f"--output-dir '{folder}' would get the evaluation's {name}, which is the data file '{data}' being "
                "scored; writing it would replace that data, so it is refused even with --overwrite; fix: choose "
                "another --output-dir, or give the data another name"
            )
    odd = [name for name in WRITTEN if (folder / name).is_dir() and not (folder / name).is_symlink()]
    if odd:
        raise OutputError(
            f"'{folder}' holds a folder named {odd[0]}, where evaluate writes a file; choose --output-dir"
        )
    ours = [folder / name for name in WRITTEN if (folder / name).exists() or (folder / name).is_symlink()]
    if ours and not overwrite:
        raise OutputError(
            f"'{folder}' already holds an evaluation ({', '.join(p.name for p in ours)}); pass "
            "--overwrite to replace those files (nothing else there is touched), or choose --output-dir"
        )


def _holds_other_output(folder: Path) -> str | None:
    """What ``folder`` holds that is another command's output (a model, a run, an export), or None."""
    from ..runlock import RUN_DIR

    if not folder.is_dir():
        return None
    if (folder / RUN_DIR).exists() or any(p.name == RUN_DIR for p in folder.absolute().parents):
        return f"an hf_transfer training run ({RUN_DIR})"
    if (folder / "hf_transfer_export.json").exists():
        return "an ONNX export (hf_transfer_export.json)"
    weights = ("model.safetensors", "pytorch_model.bin", "adapter_config.json", "model.safetensors.index.json")
    if (folder / "config.json").is_file() and any((folder / w).exists() for w in weights):
        return "a model (config.json and its weights)"
    return None


def _data_files(data: str) -> list[Path]:
    """The files an evaluation reads: the data file, or a recipe's data files as well (its splits)."""
    if data.startswith("hub:"):
        return []
    source = Path(data)
    if not source.is_file():
        return []
    files = [source]
    if source.suffix.lower() in (".yaml", ".yml"):
        try:
            from ..config import load_recipe

            options = load_recipe(source).data.options
            files += [Path(f) for f in getattr(options, "files", lambda: {})().values() if "://" not in str(f)]
        except Exception:  # a recipe that cannot be read is reported where it is read, with its own message
            pass
    return [f for f in files if f.is_file()]


def _replace_file(path: Path, write: Any) -> None:
    """Write ``path`` through a temporary file renamed over it: a symbolic or hard link at ``path`` is replaced,
    never written through (the file it points to stays as it is), and an interrupted write leaves the old file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def evaluate(
    model: str | Path,
    data: str | Path,
    *,
    split: str | None = None,
    label_column: str | list[str] | None = None,
    label_separator: str | None = None,
    text_column: str | None = None,
    image_column: str | None = None,
    output_dir: str | Path | None = None,
    against: str | Path | None = None,
    batch_size: int | None = None,
    precision: str = "auto",
    num_workers: int | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    resamples: int = 1000,
    progress: bool = True,
) -> Evaluation:
    """Score ``model`` on the labelled ``data``; see the module docstring. Returns an :class:`Evaluation`.

    ``label_separator``: for a model that predicts label sets, the character between labels in a delimited
    label cell (default: the training recipe's ``data.label_separator``; list-valued columns need none).
    ``workers`` (``--workers``) and ``num_workers`` are one argument: image decoding processes."""
    model = path_argument("model", model, "a model folder")
    data = path_argument("data", data, "a labelled table file, a folder of images, a recipe YAML or a Hub split")
    output_dir = path_argument("output_dir", output_dir, "a folder", True)
    against = path_argument("against", against, "a second model folder", True)
    split = optional_text("split", split)
    label_separator = optional_text("label_separator", label_separator)
    text_column = optional_text("text_column", text_column)
    image_column = optional_text("image_column", image_column)
    if label_column is not None and not (
        (isinstance(label_column, str) and label_column)
        or (
            isinstance(label_column, (list, tuple))
            and label_column
            and all(isinstance(c, str) and c for c in label_column)
        )
    ):
        raise ArgumentError(
            "label_column must be a column name (str), a list of column names (regression targets) or None; "
            f"found {_found(label_column)}"
        )
    if isinstance(label_column, tuple):
        label_column = list(label_column)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ArgumentError(f"resamples must be a whole number of 1 or more; found {_found(resamples)}")
    check_batch_size(batch_size)
    precision = check_precision(precision)
    num_workers = worker_count(num_workers, workers)
    check_flag("overwrite", overwrite)
    check_flag("progress", progress)
    model_dir = Path(model)
    folder = Path(output_dir) if output_dir else _default_folder(model_dir, data, split)
    _check_folder(folder, overwrite, model_dir, data, (Path(against),) if against else ())
    loaded = open_model(model_dir, text_column, image_column)
    task = loaded.task
    labels = [loaded.id2label[i] for i in sorted(loaded.id2label)]
    other = open_model(against, text_column, image_column) if against else None
    if other is not None:
        other_labels = [other.id2label[i] for i in sorted(other.id2label)]
        if other_labels != labels:
            raise DataError(
                f"--against '{against}' has labels {', '.join(other_labels)}; model '{model}' has "
                f"{', '.join(labels)}: a paired comparison needs the same labels in the same order"
            )
        if type(other.task) is not type(task):
            raise DataError(
                f"--against '{against}' is a {other.task.name} model and '{model}' a {task.name} model; a paired "
                "comparison needs two models of the same task"
            )
    source, truth, separator, column = _labelled_source(loaded, data, split, label_column, label_separator)
    where = {"separator": separator, "column": column, "data": data}
    # The true labels are checked before any model runs: a wrong label column fails in seconds, not after an hour.
    values, bad = [], []
    for item in source:
        if item.unreadable:  # e.g. a line that is not JSON: no label to score against
            bad.append(f"row {item.id}: {item.error}")
            values.append(None)
            continue
        values.append(truth(item))
        missing = task.label_problem(values[-1])
        if missing:
            bad.append(f"row {item.id} {missing}")
            continue
        problem = task.check_labelled_row(item.payload, values[-1]) if item.error is None else None
        if problem:
            bad.append(f"row {item.id}: {problem}")
    if bad:
        raise DataError(
            f"'{data}' has {len(bad)} row{'s' if len(bad) != 1 else ''} that cannot be scored: "
            f"{'; '.join(bad[:5])}{' …' if len(bad) > 5 else ''}; fix or remove them"
        )
    task.evaluation_targets(values, labels, str(model), **where)
    start = time.perf_counter()
    run_notes: list[str] = []
    ids, values, logits, errors, payloads = _run_model(
        loaded, source, truth, precision, batch_size, num_workers, progress, run_notes
    )
    good = [i for i, lg in enumerate(logits) if lg is not None]
    if not good:
        raise DataError(f"no row of '{data}' could be read ({errors[0] if errors else 'no rows'})")
    targets, truth_rows = task.evaluation_targets(values, labels, str(model), **where)
    stacked = task.stack_outputs([logits[i].numpy() for i in good])
    report = task.evaluate_report(stacked, targets[good], labels)
    metrics = {k: report["metrics"][k] for k in task.summary_metrics}
    compared = None
    if other is not None:
        _, _, other_logits, other_errors, _ = _run_model(
            other, source, truth, precision, batch_size, num_workers, progress, []
        )
        both = [i for i in good if other_logits[i] is not None]
        logits_a = task.stack_outputs([logits[i].numpy() for i in both])
        logits_b = other.task.stack_outputs([other_logits[i].numpy() for i in both])
        other_scores = other.task.evaluation_scores(logits_b, targets[both])
        compared = {
            "model": str(against),
            "rows": len(both),
            "metrics": {k: other_scores[k] for k in task.summary_metrics},
            "paired_bootstrap": paired_bootstrap(
                logits_a,
                logits_b,
                targets[both],
                len(labels),
                resamples,
                score=task.evaluation_scores,
                score_b=other.task.evaluation_scores,
                metrics=task.bootstrap_metrics,
            ),
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
        notes=task.evaluation_notes(report["per_class"], report["confusion_matrix"]) + run_notes,
    )
    _write(result, ids, truth_rows, logits, errors, payloads, labels, loaded)
    return result


def _write(
    result: Evaluation, ids, truth_rows, logits, errors, payloads, labels: list[str], loaded: LoadedModel
) -> None:
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
    _replace_file(folder / "metrics.json", lambda p: p.write_text(json.dumps(strict_json(record), indent=2) + "\n"))
    top_k = loaded.task.default_top_k

    def predictions(path: Path) -> None:
        with open(path, "w", encoding="utf-8") as sink:
            for i, lg in enumerate(logits):
                row = {"id": ids[i], **truth_rows[i], "error": errors[i]}
                if lg is not None:
                    stacked = loaded.task.stack_outputs([lg])
                    row.update(loaded.task.prediction_rows(stacked, [payloads[i]], loaded.id2label, top_k)[0])
                sink.write(json.dumps(strict_json(row), ensure_ascii=False, default=str) + "\n")

    _replace_file(folder / "predictions.jsonl", predictions)
    title = f"{Path(result.model).name} on {result.data}"
    for name in WRITTEN:  # the chart is drawn by the task: a link where it goes is removed, not written through
        if (folder / name).is_symlink() or ((folder / name).is_file() and (folder / name).stat().st_nlink > 1):
            (folder / name).unlink()
    chart = loaded.task.evaluation_chart(result.per_class, result.confusion_matrix, labels, title, folder)
    _replace_file(folder / "report.md", lambda p: p.write_text(summary(result) + "\n"))
    result.files = [folder / "metrics.json", folder / "predictions.jsonl", chart, folder / "report.md"]


def summary(result: Evaluation) -> str:
    """A one-screen summary: the metrics (and the paired comparison), the task's notes on its report (e.g. the
    weakest classes), where the files are."""
    lines = [
        f"# {result.model} on {result.data}",
        "",
        f"{result.rows} rows" + (f" ({result.errors} unreadable, not scored)" if result.errors else ""),
        "",
        "| metric | value |" + (" against | difference [95% CI] |" if result.against else ""),
        "|---|---|" + ("---|---|" if result.against else ""),
    ]
    for name in result.metrics:
        line = f"| {name} | {result.metrics[name]:.4f} |"
        if result.against:
            line += f" {result.against['metrics'][name]:.4f} |"
            boot = result.against["paired_bootstrap"].get(name)
            line += f" {boot['difference']:+.4f} [{boot['low']:+.4f}, {boot['high']:+.4f}] |" if boot else " |"
        lines.append(line)
    lines += ["", *result.notes]
    if result.against:
        lines += [
            "",
            f"Difference = {result.against['model']} − {result.model}, on the {result.against['rows']} rows both "
            f"could read; interval: paired bootstrap, {result.against['resamples']} resamples.",
        ]
    return "\n".join(lines)
