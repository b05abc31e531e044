"""Use a trained model: ``hf-transfer predict`` / ``hf_transfer.predict``.

``predict(MODEL, INPUT, OUTPUT)`` loads any folder an hf_transfer run wrote (plain transformers model,
``hf_transfer`` head type, LoRA adapter, merged model) or any transformers classification model folder,
reads the input as it goes (:mod:`.sources`), and writes one row per input in input order (:mod:`.sinks`).
The model's task (from the run's ``recipe.yaml``, else from the model's architecture) says how inputs are
encoded and what a prediction row holds, so nothing here names a task.

Speed: texts are batched by length within chunks of rows (little padding; the rows go back to input order
before they are written); images are decoded and transformed in DataLoader worker processes; the model
runs under ``inference_mode`` on the GPU when there is one, in the precision ``--precision auto`` resolves
to, as training does.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cpu_heap import kept_heap
from ..errors import DataError, HfTransferError
from ..outputs import RECIPE_FILE
from .onnx_model import onnx_model, read_export
from .sinks import Sink, check_output
from .sources import Item, decode_image, open_source

logger = logging.getLogger("hf_transfer")
# Texts are sorted by length (tokens) within chunks of this many rows: on short package descriptions, chunks
# of 1,024 rows gave 95% real tokens, 4,096 rows 98% (in dataset order: 57%). With an explicit batch size
# a chunk is CHUNK_BATCHES batches.
CHUNK_ROWS = 2048
CHUNK_BATCHES = 64
# The default batch (batch_size=None) for text: rows up to BATCH_TOKENS tokens (padding included), never fewer
# than MIN_BATCH_ROWS; images: MIN_BATCH_ROWS. Short texts make a small matrix per batch of 32, and a
# matmul of a few hundred rows runs well below the CPU's peak: on 2,100 short package descriptions
# (~12 tokens) batches of up to 2,048 tokens predict ~1.2x faster than batches of 32 rows (benchmarks/README.md,
# "predict vs pipeline()"); texts of 64 tokens or more keep batches of 32 rows, as before.
BATCH_TOKENS = 2048
MIN_BATCH_ROWS = 32


def rows_per_batch(batch_size: int | None, width: int) -> int:
    """Rows in a batch whose examples are ``width`` tokens long: ``batch_size`` when given, else as many as
    fit in :data:`BATCH_TOKENS` tokens, at least :data:`MIN_BATCH_ROWS`."""
    if batch_size is not None:
        return batch_size
    return max(MIN_BATCH_ROWS, BATCH_TOKENS // max(width, 1))


@dataclass
class LoadedModel:
    folder: Path
    model: Any
    processor: Any
    task: Any
    columns: dict[str, list[str]]  # input role → candidate column names
    id2label: dict[int, str]


@dataclass
class PredictSummary:
    rows: int
    errors: int
    seconds: float
    output: Path | None
    device: str
    precision: str
    counts: dict[str, int] = field(default_factory=dict)  # the task's counts over the rows (e.g. words cut)
    real_token_fraction: float | None = None  # text models: real tokens / tokens computed (padding included)
    precision_note: str | None = None  # why ``precision`` is not what auto picks on this hardware (the task's needs)

    @property
    def rows_per_second(self) -> float:
        return self.rows / max(self.seconds, 1e-9)


def _task_for(folder: Path, config: Any, recipe: dict[str, Any] | None) -> Any:
    """The task plugin the model was trained for: the run's recipe, else its architecture's Auto class."""
    from ..config import TaskConfig, _plugin_section
    from ..registry import TASKS

    if recipe and isinstance(recipe.get("task"), dict):
        problems: list[str] = []
        section = _plugin_section(TaskConfig, TASKS, recipe["task"], "task", "name", None, problems)
        if section is None:
            raise HfTransferError(
                f"the task in {folder / 'recipe.yaml'} is not one this version knows: {'; '.join(problems)}"
            )
        return section.options
    architectures = getattr(config, "architectures", None) or []
    tasks = [TASKS.get(name)() for name in TASKS.names()]
    problem_type = getattr(config, "problem_type", None)
    for task in tasks:  # a task that declares the config's problem_type (e.g. multi-label) first
        if task.problem_type and task.problem_type == problem_type:
            return task
    for task in tasks:
        if task.problem_type:
            continue
        suffix = task.auto_model_class().__name__.removeprefix("AutoModel")
        if any(a.endswith(suffix) for a in architectures):
            return task
    raise HfTransferError(
        f"'{folder}' holds a {', '.join(architectures) or 'model without architectures'}; predict "
        f"takes models of the tasks {', '.join(TASKS.names())} (an hf_transfer output folder or a "
        "transformers model folder of one of those)"
    )


def open_model(path: str | Path, text_column: str | None = None, image_column: str | None = None) -> LoadedModel:
    """Load a model folder with its processor, task and input columns (errors say what the folder lacks)."""
    import yaml

    from ..loading import _config, load_model

    folder = Path(path)
    if not folder.is_dir() or not (folder / "config.json").is_file():
        found = "does not exist" if not folder.exists() else "is a file" if folder.is_file() else "has no config.json"
        raise HfTransferError(
            f"model '{folder}' {found}; expected an hf_transfer output folder or a transformers "
            "model folder (config.json and weights)"
        )
    export = read_export(folder)  # an `hf-transfer export` folder: the model runs in onnxruntime
    recipe_file = folder / RECIPE_FILE
    recipe = (
        export.get("recipe") if export else yaml.safe_load(recipe_file.read_text()) if recipe_file.is_file() else None
    )
    config = _config(folder)
    task = _task_for(folder, config, recipe)
    model = onnx_model(folder, config, export) if export else load_model(folder)
    processor = task.inference_processor(folder)
    task.bind_model(config)
    named = ((recipe or {}).get("data") or {}).get("columns") or {}
    flag = text_column if task.modality == "text" else image_column
    columns: dict[str, list[str]] = {}
    for role, (defaults, required) in task.inference_roles().items():
        if required:
            columns[role] = (
                [flag]
                if flag and not columns
                else ([named[role]] if named.get(role) else []) + list(defaults or (role,))
            )
        elif named.get(role):
            columns[role] = [named[role]]
    id2label = {int(k): v for k, v in (getattr(config, "id2label", None) or {}).items()}
    return LoadedModel(folder, model, processor, task, columns, id2label)


def predict(
    model: str | Path | LoadedModel,
    inputs: str | Path,
    output: str | Path | None = None,
    *,
    text_column: str | None = None,
    image_column: str | None = None,
    top_k: int | str | None = "auto",
    keep_columns: list[str] | str | None = None,
    batch_size: int | None = None,
    on_error: str = "skip",
    precision: str = "auto",
    overwrite: bool = False,
    num_workers: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> PredictSummary:
    """Predict every row of ``inputs`` and write them to ``output`` (JSONL on standard output when None).

    ``top_k``: 1 gives the label and its score; N adds the N best labels with scores; None adds every label;
    "auto" (the default) is the task's choice: 1 for single-label models, every label for multi-label ones (whose
    rows hold the predicted label set, thresholds applied, and each label's sigmoid probability).

    ``batch_size``: rows per model call; None (the default) batches texts of similar length by tokens (up to
    :data:`BATCH_TOKENS` per batch, at least :data:`MIN_BATCH_ROWS` rows) and images by :data:`MIN_BATCH_ROWS`.

    ``keep_columns``: a list of column names, or one string of comma-separated names (as ``--keep-columns``).
    ``workers`` (``--workers``) and ``num_workers`` are one argument: image decoding processes."""
    if not isinstance(model, LoadedModel):
        model = path_argument("model", model, "a model folder")
    inputs = path_argument("inputs", inputs, "an input file, folder, 'hub:<dataset>:<split>' or '-'")
    output = path_argument("output", output, "an output file, or None for JSON lines on standard output", True)
    if on_error not in ("skip", "fail"):
        raise ArgumentError(f"on_error must be 'skip' or 'fail', found {on_error!r}")
    if top_k is not None and top_k != "auto" and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ArgumentError(
            f"top_k must be a whole number of 1 or more, None (every label) or 'auto', found "
            f"{type(top_k).__name__} {top_k!r}"
        )
    text_column = optional_text("text_column", text_column)
    image_column = optional_text("image_column", image_column)
    keep_columns = column_list("keep_columns", keep_columns)
    check_batch_size(batch_size)
    precision = check_precision(precision)
    num_workers = worker_count(num_workers, workers)
    check_flag("overwrite", overwrite)
    check_flag("progress", progress)
    out = check_output(output, overwrite, input_files(inputs))
    loaded = model if isinstance(model, LoadedModel) else open_model(model, text_column, image_column)
    if top_k == "auto":
        top_k = loaded.task.default_top_k
    source = open_source(inputs, loaded.columns, loaded.task.modality, keep_columns, loaded.task.takes_word_lists)
    runner = Runner(loaded, precision, batch_size, num_workers)
    fields = loaded.task.prediction_fields(top_k)
    # (types of prediction columns only: a kept input column of another name keeps the type of its first rows)
    types = {k: v for k, v in loaded.task.prediction_arrow_types(top_k, loaded.id2label).items() if k in fields}
    sink = Sink(out, types)
    rows = errors = 0
    counts: dict[str, int] = {}
    start = time.perf_counter()
    bar = _progress(progress, source.total)
    try:
        # freed CPU memory is reused, not returned to the kernel (hf_transfer.cpu_heap): ~10% on short texts
        with kept_heap(runner.device):
            for pairs in runner.logits(source):
                done = [(item, p) for (item, _), p in zip(pairs, _rows(loaded, pairs, top_k))]
                written = []
                for item, prediction in done:
                    if item.error is not None:
                        if on_error == "fail":
                            raise DataError(
                                f"input row {item.id}: {item.error}; fix that row, or pass --on-error skip to "
                                "write it with an error field and go on"
                            )
                        errors += 1
                    else:
                        for name, n in loaded.task.prediction_counts(prediction).items():
                            counts[name] = counts.get(name, 0) + n
                    row = {"id": item.id, **(prediction or dict.fromkeys(fields)), "error": item.error}
                    # kept input columns keep their names unless a prediction column has it (then input_<name>)
                    row.update({f"input_{k}" if k in row else k: v for k, v in item.extra.items()})
                    written.append(row)
                sink.write(written)
                rows += len(written)
                bar.update(len(written))
    except BaseException:
        bar.close()
        sink.close(ok=False)
        raise
    bar.close()
    sink.close(ok=True)
    seconds = time.perf_counter() - start
    return PredictSummary(
        rows,
        errors,
        seconds,
        out,
        runner.device,
        runner.precision,
        counts,
        runner.real_token_fraction,
        None if runner.precision == "onnx" else runner.precision_note,
    )


class ArgumentError(HfTransferError):
    """An argument of the Python API of the wrong type or value (the command line's parser checks its own)."""


def _found(value: Any) -> str:
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 60 else shown[:57] + '...'}"


def path_argument(name: str, value: Any, expected: str, optional: bool = False) -> str | None:
    """A path argument as text: a str or any os.PathLike (pathlib.Path); None only where ``optional``."""
    import os

    if value is None and optional:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise ArgumentError(
            f"{name} must be {expected}, given as a str or pathlib.Path{' (or None)' if optional else ''}; "
            f"found {_found(value)}"
        )
    return value


def optional_text(name: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ArgumentError(f"{name} must be a column name (a non-empty str) or None; found {_found(value)}")
    return value


def column_list(name: str, value: Any) -> list[str] | None:
    """Column names: a list (or tuple) of names, or one str of comma-separated names as the command line takes."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()] or None
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ArgumentError(
        f"{name} must be a list of column names (str), or one str of comma-separated names; found {_found(value)}"
    )


def check_precision(precision: Any) -> str:
    from ..precision import PRECISIONS

    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ArgumentError(f"precision must be one of {', '.join(PRECISIONS)}; found {_found(precision)}")
    return precision


def worker_count(num_workers: Any, workers: Any) -> int | None:
    """``num_workers`` or its alias ``workers`` (the command line's ``--workers``): None or a count of 0 or more."""
    if num_workers is not None and workers is not None and num_workers != workers:
        raise ArgumentError(f"workers={workers!r} and num_workers={num_workers!r} are one argument; give one of them")
    value = num_workers if num_workers is not None else workers
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ArgumentError(
            f"workers must be a number of processes (0 or more; 0 decodes images in this process) or None; "
            f"found {_found(value)}"
        )
    return value


def check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ArgumentError(f"{name} must be True or False; found {_found(value)}")


def input_files(spec: str) -> tuple[str, ...]:
    """The file an input spec reads, when it is one (not '-', a Hub split or a folder): an output must not be it."""
    if spec == "-":  # standard input redirected from a file (`< FILE`): that file
        return ("/dev/stdin",) if Path("/dev/stdin").is_file() else ()
    if spec.startswith("hub:") or not Path(spec).is_file():
        return ()
    return (spec,)


def check_batch_size(batch_size: Any) -> None:
    """None, or a whole number of rows (a Python or numpy integer) of 1 or more."""
    import numbers

    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1
    ):
        raise ArgumentError(
            f"batch_size must be 1 or more (rows per batch), or None for batches of similar-length texts up to "
            f"{BATCH_TOKENS} tokens; found {batch_size!r}"
        )


def _rows(loaded: LoadedModel, pairs: list[tuple[Item, Any]], top_k: int | None) -> list[dict[str, Any] | None]:
    """The task's prediction rows for the (item, output) pairs that have an output (None for the others), in order."""
    have = [i for i, (_, lg) in enumerate(pairs) if lg is not None]
    out: list[dict[str, Any] | None] = [None] * len(pairs)
    if have:
        stacked = loaded.task.stack_outputs([pairs[i][1] for i in have])
        inputs = [pairs[i][0].payload for i in have]
        predicted = loaded.task.prediction_rows(stacked, inputs, loaded.id2label, top_k)
        for i, row in zip(have, predicted):
            out[i] = row
    return out


class Runner:
    """Runs a loaded model over a source: on the GPU when there is one, in the resolved precision, under
    ``inference_mode``; yields, per chunk of rows in input order, (item, logits or None) pairs."""

    def __init__(
        self,
        loaded: LoadedModel,
        precision: str = "auto",
        batch_size: int | None = None,
        num_workers: int | None = None,
    ):
        import torch

        from ..precision import cpu_count, detect_hardware, resolve_precision

        hardware = detect_hardware()
        self.loaded, self.batch_size, self.device = loaded, batch_size, hardware.device
        self.precision, self.precision_reason = resolve_precision(precision, hardware)
        # a note for the summary when the task, not the hardware, decided (auto → fp32 for exact outputs)
        self.precision_note: str | None = None
        needs = getattr(loaded.task, "fp32_outputs", None)
        if precision == "auto" and needs and self.precision != "fp32":
            self.precision_note = f"auto: {needs}; {self.precision} would have been used ({self.precision_reason})"
            self.precision, self.precision_reason = "fp32", needs
        if getattr(loaded.model, "onnx", False):  # an export: onnxruntime on the CPU, in the export's precision
            self.device, self.precision = "cpu", "onnx"
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        self.workers = max(min(4, cpu_count() - 1), 0) if num_workers is None else num_workers
        self.net = loaded.model.to(self.device).eval()
        self.real_tokens = self.padded_tokens = 0  # over the batches run so far (inputs with an attention mask)
        # Images in channels-last layout: oneDNN's (and cuDNN's) fast convolution kernels take NHWC, so a
        # convolutional backbone skips a layout conversion per layer (benchmarks/README.md: 1.4x images/s for
        # EfficientNet-Lite0 on a CPU, the same labels); a model without convolutions is unaffected.
        self.channels_last = loaded.task.modality == "image" and isinstance(self.net, torch.nn.Module)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

    def forward(self, batch: dict[str, Any]) -> Any:
        """The batch's logits, :func:`rows_per_batch` model rows at a time: a task may encode more model rows
        than examples (e.g. windows of a long sentence), and memory should not grow with an example's length."""
        import torch

        rows = len(next(iter(batch.values())))
        mask = batch.get("attention_mask")
        step = self.batch_size or MIN_BATCH_ROWS  # images (no attention mask)
        if mask is not None:
            self.real_tokens += int(mask.sum())
            self.padded_tokens += mask.numel()
            step = rows_per_batch(self.batch_size, mask.shape[-1])
        parts = []
        for start in range(0, rows, step):
            part = {k: v[start : start + step].to(self.device) for k, v in batch.items()}
            if self.channels_last:
                part = {
                    k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in part.items()
                }
            with torch.inference_mode(), torch.autocast(self.device, dtype=self.dtype, enabled=self.dtype is not None):
                parts.append(self.net(**part).logits.float().cpu())
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    @property
    def real_token_fraction(self) -> float | None:
        """Real tokens over the tokens the model computed (padding included); None before a text batch."""
        return self.real_tokens / self.padded_tokens if self.padded_tokens else None

    def logits(self, source) -> Any:
        loaded = self.loaded
        units = (
            _image_units(source, loaded, self.batch_size, self.workers)
            if loaded.task.modality == "image"
            else _text_units(source, loaded, self.batch_size)
        )
        for items, parts in units:
            found: dict[int, Any] = {}
            for positions, batch in parts:
                found.update(zip(positions, loaded.task.row_outputs(self.forward(batch), batch)))
            yield [(item, found.get(i)) for i, item in enumerate(items)]


def _progress(enabled: bool, total: int | None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rows", desc="predicting", disable=not enabled, smoothing=0.1)


def _text_units(source, loaded: LoadedModel, batch_size: int | None):
    """Chunks of rows in input order, each with its batches: the chunk's texts sorted by length (so a
    batch pads little) and cut into batches, each with the chunk positions it holds."""
    size = CHUNK_ROWS if batch_size is None else batch_size * CHUNK_BATCHES
    chunk: list[Item] = []
    for item in source:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk, _length_sorted_batches(chunk, loaded, batch_size)
            chunk = []
    if chunk:
        yield chunk, _length_sorted_batches(chunk, loaded, batch_size)


def _length_sorted_batches(chunk: list[Item], loaded: LoadedModel, batch_size: int | None):
    good = [i for i, item in enumerate(chunk) if item.error is None]
    lengths = (
        loaded.task.inference_lengths(loaded.processor, loaded.model.config, [chunk[i].payload for i in good])
        if good
        else []
    )
    for part in length_batches(good, lengths, batch_size):
        yield (
            part,
            loaded.task.encode_for_inference(loaded.processor, loaded.model.config, [chunk[i].payload for i in part]),
        )


def length_batches(positions: list[int], lengths: list[int], batch_size: int | None) -> list[list[int]]:
    """``positions`` sorted by length (shortest first, ties in input order) and cut into batches:
    ``batch_size`` rows each, or (None) as many rows as :func:`rows_per_batch` allows for the batch's
    longest example, which is its last."""
    by_row = dict(zip(positions, lengths))
    order = sorted(positions, key=by_row.__getitem__)
    batches: list[list[int]] = []
    part: list[int] = []
    for position in order:
        if part and len(part) + 1 > rows_per_batch(batch_size, by_row[position]):
            batches.append(part)
            part = []
        part.append(position)
    if part:
        batches.append(part)
    return batches


def _image_units(source, loaded: LoadedModel, batch_size: int | None, workers: int):
    """Batches of rows in input order with their pixels, decoded and transformed in ``workers`` processes."""
    from torch.utils.data import DataLoader

    rows = batch_size or MIN_BATCH_ROWS
    dataset = _image_dataset_class()(source, loaded.task.inference_transform(loaded.processor), rows)
    for items, pixels in DataLoader(dataset, batch_size=None, num_workers=workers):
        positions = [i for i, item in enumerate(items) if item.error is None]
        yield items, [(positions, {"pixel_values": pixels})] if positions else []


def _image_dataset_class():
    from torch.utils.data import IterableDataset, get_worker_info

    class ImageBatches(IterableDataset):
        """Batches of decoded, transformed images. Worker w makes batches w, w+W, w+2W …: the DataLoader
        takes one batch from each worker in turn, so batches arrive in input order."""

        def __init__(self, source, transform, batch_size):
            self.source, self.transform, self.batch_size = source, transform, batch_size

        def __iter__(self):
            info = get_worker_info()
            worker, count = (info.id, info.num_workers) if info is not None else (0, 1)
            batch: list[Item] = []
            index = 0
            for item in self.source:
                batch.append(item)
                if len(batch) == self.batch_size:
                    if index % count == worker:
                        yield self._make(batch)
                    index += 1
                    batch = []
            if batch and index % count == worker:
                yield self._make(batch)

        def _make(self, batch: list[Item]):
            import torch

            tensors = []
            for item in batch:
                if item.error is not None:
                    continue
                (value,) = item.payload.values()
                try:
                    tensors.append(self.transform(decode_image(value)))
                except Exception as e:  # a damaged or unreadable image: this row's error, not the job's
                    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    item.error, item.payload = f"could not read the image: {text}", None
            return batch, torch.stack(tensors) if tensors else None

    return ImageBatches
