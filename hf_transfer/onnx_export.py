"""``hf-transfer export MODEL --format onnx``: any folder a run wrote as an ONNX model folder.

The folder holds ``model.onnx`` (dynamic batch axis, and sequence axis for text; inputs named as the model
takes them, output ``logits``), the tokenizer or image processor, ``config.json`` (labels), a model card and
``hf_transfer_export.json`` (task, inputs, opset, source, parity figures). A LoRA adapter is merged into its
base model in memory first. The export is made by ``torch.onnx.export(dynamo=True)`` (torch's recommended
exporter; the TorchScript one mis-traces transformers' attention masks) and is proven before the folder is
complete: PyTorch and onnxruntime logits on the run's own validation examples (from its ``recipe.yaml``;
synthetic inputs when the data cannot be read) must agree within ``tolerance``. Everything is written to a
temporary folder that is renamed into place at the end, so a failed export leaves nothing that looks done;
``overwrite`` replaces only an earlier export's files (``written`` in its record), never anything else
(:func:`hf_transfer.loading.check_output_folder`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import HfTransferError, OutputError
from .loading import PROCESSOR_FILES, check_output_folder, write_output_folder
from .outputs import RECIPE_FILE

logger = logging.getLogger("hf_transfer")
EXPORT_FILE = "hf_transfer_export.json"
MODEL_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
SINGLE_FILE_LIMIT = 1_800_000_000  # bytes of weights: protobuf files stop at 2 GiB
FORMATS = ("onnx",)
QUANTIZATIONS = ("dynamic-int8",)
INSTALL_HINT = "pip install 'hf-transfer-learning[onnx]'"
SYNTHETIC_TEXTS = (
    "A short example.",
    "This sentence is a little longer than the first one, with a few more words in it.",
    "Transfer learning reuses what a backbone learned.",
    "ok",
    "Another example text, of middling length, to check the exported model on.",
    "The quick brown fox jumps over the lazy dog while the cat watches from the window.",
    "Numbers 12 34 and symbols !? are text too.",
    "Last one.",
)


@dataclass
class ExportResult:
    folder: Path
    task: str
    inputs: list[str]
    opset: int
    examples: int
    examples_source: str  # "validation" or "synthetic (…why…)"
    max_abs_diff: float
    label_agreement: float
    int8: dict[str, Any] | None = None
    accuracy: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def require_onnx() -> None:
    """Raise one clear error naming the extra to install when onnx, onnxruntime or onnxscript is missing."""
    missing = []
    for module in ("onnx", "onnxruntime", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise HfTransferError(
            f"export to ONNX needs {', '.join(missing)} (not installed); install the onnx extra: {INSTALL_HINT}"
        )


def default_output_dir(model_dir: Path) -> Path:
    if model_dir.name in ("", ".."):  # "." or "..": the folder's own name, next to it
        model_dir = model_dir.resolve()
    return model_dir.parent / f"{model_dir.name}-onnx"


def export(
    model_dir: str | Path,
    output_dir: str | Path | None = None,
    *,
    format: str = "onnx",
    quantize: str | None = None,
    opset: int | None = None,
    overwrite: bool = False,
    max_examples: int = 64,
    tolerance: float = 1e-4,
) -> ExportResult:
    """Export the model folder ``model_dir`` (any artifact kind a run writes) to ``output_dir``
    (default ``<model_dir>-onnx``) and prove it against the PyTorch model; see the module docstring."""
    if format not in FORMATS:
        raise HfTransferError(f"export format must be one of {', '.join(FORMATS)}, found {format!r}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise HfTransferError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, found {quantize!r}")
    if max_examples < 1:
        raise HfTransferError(f"max_examples must be 1 or more, found {max_examples}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance):
        raise HfTransferError(
            f"tolerance (--tolerance) must be a finite number of 0 or more (the largest allowed |logit difference| "
            f"per max(1, |logit|)), found {tolerance!r}; e.g. --tolerance 1e-4, the default"
        )
    if tolerance < 0:
        raise HfTransferError(
            f"tolerance (--tolerance) must be 0 or more (the largest allowed |logit difference| per max(1, |logit|)), "
            f"found {tolerance:g}; e.g. --tolerance 1e-4, the default"
        )
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or opset < 1):
        raise HfTransferError(f"opset (--opset) must be a whole number such as 17 or 18, found {opset!r}")
    source = Path(model_dir)
    out = Path(output_dir) if output_dir is not None else default_output_dir(source)
    if (source / EXPORT_FILE).is_file():
        try:
            came_from = json.loads((source / EXPORT_FILE).read_text()).get("source")
        except (OSError, ValueError, AttributeError):  # a damaged record: the folder is an export all the same
            came_from = None
        raise HfTransferError(
            f"'{source}' is already an ONNX export; export the model folder it came from "
            f"({came_from or 'see ' + EXPORT_FILE})"
        )
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise OutputError(
            f"the export folder '{out}' must not be the model folder or inside it; choose another --output-dir"
        )
    if out.resolve() in source.resolve().parents:
        raise OutputError(f"the export folder '{out}' holds the model folder '{source}'; choose another --output-dir")
    check_output_folder(out, **_folder_rule(overwrite))
    require_onnx()
    _check_opset_range(opset)
    from .inference import open_model

    start = time.perf_counter()
    loaded = open_model(source)  # the same errors as predict for a folder that is not a model
    model = _plain_module(loaded.model)
    batches, labels, examples_source = _example_batches(loaded, max_examples)

    def build(tmp: Path) -> ExportResult:
        with _quiet_libraries():
            return _export_into(
                tmp, out.name, loaded, model, batches, labels, examples_source, quantize, opset, tolerance
            )

    result = write_output_folder(out, build, **_folder_rule(overwrite))
    result.folder, result.seconds = out, time.perf_counter() - start
    return result


# An export's files, for a record written before it listed them (hf_transfer_export.json without "written").
LEGACY_EXPORT_FILES = frozenset(
    {MODEL_FILE, f"{MODEL_FILE}.data", INT8_FILE, "config.json", "README.md", "processor_config.json", *PROCESSOR_FILES}
)


def _folder_rule(overwrite: bool) -> dict[str, Any]:
    """How an export folder is checked and replaced (:func:`hf_transfer.loading.check_output_folder`)."""
    return {"record": EXPORT_FILE, "what": "hf-transfer export", "overwrite": overwrite, "legacy": LEGACY_EXPORT_FILES}


def _check_opset_range(opset: int | None) -> None:
    """An opset newer than the installed onnx knows is refused before the export runs (torch would quietly write
    its own default instead); one too old to convert to is found after it (:func:`_export_into`)."""
    if opset is None:
        return
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise HfTransferError(
            f"--opset {opset} is newer than the installed onnx supports (at most {newest}); choose {newest} or less, "
            "or leave --opset out for torch.onnx's default"
        )


@contextmanager
def _quiet_libraries():
    """Keep onnxscript's and onnx_ir's pass-by-pass INFO records and onnxruntime.quantization's (logged on
    the root logger) out of the CLI's log; hf_transfer's own records still reach the root's handlers."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


def _export_into(
    tmp: Path, name: str, loaded, model, batches, labels, examples_source, quantize, opset, tolerance
) -> ExportResult:
    import numpy as np
    import onnx
    import torch

    names = list(batches[0])
    _torch_export(model, names, _sample(batches, names, loaded.task.modality), tmp / MODEL_FILE, opset)
    opset_used = next(
        o.version
        for o in onnx.load(str(tmp / MODEL_FILE), load_external_data=False).opset_import
        if o.domain in ("", "ai.onnx")
    )
    if opset is not None and opset_used != opset:
        raise HfTransferError(
            f"--opset {opset} was asked for, but torch.onnx wrote opset {opset_used} (it converts its own graph to "
            f"the opset asked for, and this model's graph does not convert to {opset}); nothing was written. "
            f"Choose another --opset (e.g. {opset_used}), or leave --opset out for torch.onnx's default"
        )
    with torch.inference_mode():
        reference_batches = [model(**b).logits.float().numpy() for b in batches]
    fp32_batches = _onnx_logits(tmp / MODEL_FILE, batches)
    diff = max(float(np.abs(f - r).max()) for f, r in zip(fp32_batches, reference_batches))
    # per example, as the task reads them (one row of logits, or e.g. each word's first sub-word's logits)
    reference, fp32 = _rows(loaded.task, reference_batches, batches), _rows(loaded.task, fp32_batches, batches)
    decide = loaded.task.decisions  # the class id, or the label set with the saved thresholds
    agreement = _agreement(decide(fp32), decide(reference))
    logger.info(
        "ONNX vs PyTorch on %d examples (%s): max |logit difference| %.2e", len(reference), examples_source, diff
    )
    # fp32 sums in another order differ in the last bits, which grow with the logits' size: the tolerance is
    # absolute for logits up to 1 and relative above.
    if not all(
        (np.abs(f - r) <= tolerance * np.maximum(1.0, np.abs(r))).all() for f, r in zip(fp32_batches, reference_batches)
    ):
        raise HfTransferError(
            f"the ONNX model's logits differ from the PyTorch model's by up to {diff:.3g} on "
            f"{len(reference)} examples (tolerance {tolerance:g} × max(1, |logit|)); the export was "
            "not kept. This "
            "backbone does not export faithfully with this torch/onnxscript version; try another "
            "--opset, or report it with the backbone's name"
        )
    accuracy = {}
    if labels is not None:
        accuracy = {
            "pytorch": _agreement(decide(reference), labels),
            "onnx": _agreement(decide(fp32), labels),
        }
    int8 = None
    if quantize == "dynamic-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its advice to pre-process first is for static quantization
        try:
            quantize_dynamic(str(tmp / MODEL_FILE), str(tmp / INT8_FILE), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        q_batches = _onnx_logits(tmp / INT8_FILE, batches)
        q = _rows(loaded.task, q_batches, batches)
        int8 = {
            "file": INT8_FILE,
            "method": "onnxruntime quantize_dynamic, QInt8 weights",
            "label_agreement": _agreement(decide(q), decide(reference)),
            "max_abs_diff": max(float(np.abs(a - b).max()) for a, b in zip(q_batches, reference_batches)),
        }
        if labels is not None:
            accuracy["onnx_int8"] = _agreement(decide(q), labels)
            int8["accuracy_change"] = accuracy["onnx_int8"] - accuracy["pytorch"]
        logger.info("int8 vs PyTorch: labels agree on %.1f%% of examples", 100 * int8["label_agreement"])
    result = ExportResult(
        tmp, loaded.task.name, names, opset_used, len(reference), examples_source, diff, agreement, int8, accuracy
    )
    _write_files(tmp, name, loaded, model, result)
    return result


def _rows(task: Any, logits: list[Any], batches: list[Any]) -> Any:
    """Batches' logits (numpy) as the task's per-example outputs, stacked (:meth:`Task.row_outputs`)."""
    import torch

    rows = [row for lg, b in zip(logits, batches) for row in task.row_outputs(torch.from_numpy(lg), b)]
    return task.stack_outputs([row.numpy() for row in rows])


def _agreement(a: Any, b: Any) -> float:
    """The share of examples whose predictions (a class id, or a multi-hot label set: the whole set) are equal."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    return float((a.reshape(len(a), -1) == b.reshape(len(b), -1)).all(1).mean())


def _plain_module(model: Any) -> Any:
    """A LoRA model merged into its base (in memory), in fp32 on the CPU, in eval mode."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model.float().cpu().eval()


def _logits_module(model, names: list[str]) -> Any:
    """Positional inputs → logits: torch.onnx sees named tensors in and one tensor out."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(**dict(zip(names, tensors))).logits

    return Logits().eval()


def _torch_export(model, names: list[str], sample: dict[str, Any], path: Path, opset: int | None) -> None:
    import warnings

    import torch

    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    shapes = tuple({0: batch, 1: sequence} if n != "pixel_values" else {0: batch} for n in names)
    kwargs = {"opset_version": opset} if opset is not None else {}
    # One file unless the weights pass protobuf's 2 GiB limit (then model.onnx.data holds them).
    kwargs["external_data"] = sum(p.numel() * p.element_size() for p in model.parameters()) > SINGLE_FILE_LIMIT
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _logits_module(model, names),
                tuple(sample[n] for n in names),
                str(path),
                input_names=names,
                output_names=["logits"],
                dynamic_shapes=(shapes,),
                dynamo=True,
                verbose=False,
                **kwargs,
            )
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HfTransferError(
            f"torch.onnx.export could not export this model ({type(e).__name__}: {first}); nothing was written"
        ) from e


def _sample(batches, names, modality) -> dict[str, Any]:
    """Export example inputs: batch and sequence lengths that differ (equal sizes would be tied together)."""
    import torch

    first = batches[0]
    if modality == "image":
        pixels = first["pixel_values"]
        return {"pixel_values": torch.cat([pixels, pixels])[:2]}
    rows = 2 if first[names[0]].shape[1] != 2 else 3
    out = {}
    for n in names:
        t = first[n]
        while len(t) < rows:
            t = torch.cat([t, t])
        out[n] = t[:rows]
    return out


def _onnx_logits(path: Path, batches) -> list[Any]:
    """The logits of each batch (batches may differ in sequence length, and so may per-token logits)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = [i.name for i in session.get_inputs()]
    return [session.run(["logits"], {n: b[n].numpy() for n in wanted})[0] for b in batches]


def _example_batches(loaded, max_examples: int, batch_size: int = 16):
    """Model-ready batches of the run's validation examples (their labels too), else synthetic ones."""

    payloads, labels, why = _validation_payloads(loaded, max_examples)
    source = "validation"
    if payloads is None:
        payloads, labels, source = _synthetic_payloads(loaded, max_examples), None, f"synthetic ({why})"
    batches = []
    for s in range(0, len(payloads), batch_size):
        part = payloads[s : s + batch_size]
        if loaded.task.modality == "image":
            import torch

            transform = loaded.task.inference_transform(loaded.processor)
            batches.append({"pixel_values": torch.stack([transform(p["image"]) for p in part])})
        else:
            batches.append(loaded.task.encode_for_inference(loaded.processor, loaded.model.config, part))
    return batches, (loaded.task.decision_targets(labels) if labels is not None else None), source


def _validation_payloads(loaded, n: int):
    recipe_file = loaded.folder / RECIPE_FILE
    if not recipe_file.is_file():
        return None, None, "no recipe.yaml next to the model"
    try:
        from .config import load_recipe
        from .pipeline import load_data

        data = load_data(load_recipe(recipe_file))
        rows = []
        for row in data.validation:
            rows.append(row)
            if len(rows) == n:
                break
    except Exception as e:  # data moved, Hub unreachable, …: synthetic inputs still prove the graph
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, None, f"the run's validation data could not be read: {first[:200]}"
    if not rows:
        return None, None, "the run's validation split is empty"
    roles = [r for r in loaded.task.roles if r in rows[0] and r != "label"]
    return [{r: row[r] for r in roles} for row in rows], [row["label"] for row in rows], None


def _synthetic_payloads(loaded, n: int) -> list[dict[str, Any]]:
    if loaded.task.modality == "image":
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(0)
        sizes = [(224, 224), (320, 240), (64, 96), (500, 375)]
        return [
            {"image": Image.fromarray(rng.integers(0, 256, (*sizes[i % 4][::-1], 3), dtype=np.uint8))}
            for i in range(min(n, 8))
        ]
    role = next(iter(loaded.task.inference_roles()))
    return [{role: t.split() if loaded.task.takes_word_lists else t} for t in SYNTHETIC_TEXTS[:n]]


def _write_files(tmp: Path, name: str, loaded, model, result: ExportResult) -> None:
    from . import __version__
    from .onnx_card import render_card

    config = model.config
    config.architectures = [type(model).__name__]
    if type(loaded.processor).__name__ != "TimmWrapperImageProcessor":  # timm's settings live in config.json
        loaded.processor.save_pretrained(str(tmp))
    config.save_pretrained(str(tmp))
    recipe = _recipe_subset(loaded.folder)
    record = {
        "format": "onnx",
        "hf_transfer_version": __version__,
        "source": str(loaded.folder.resolve()),
        "task": result.task,
        "modality": loaded.task.modality,
        "inputs": result.inputs,
        "output": "logits",
        "dynamic_axes": {n: (["batch"] if n == "pixel_values" else ["batch", "sequence"]) for n in result.inputs},
        "output_axes": list(loaded.task.output_axes),
        "opset": result.opset,
        "files": {"fp32": MODEL_FILE, **({"int8": INT8_FILE} if result.int8 else {})},
        "parity": {
            "examples": result.examples,
            "examples_source": result.examples_source,
            "max_abs_diff": result.max_abs_diff,
            "label_agreement": result.label_agreement,
            "accuracy": result.accuracy,
            "int8": result.int8,
        },
        "recipe": recipe,
    }
    (tmp / EXPORT_FILE).write_text(json.dumps(record, indent=2) + "\n")
    ours = {MODEL_FILE, INT8_FILE, EXPORT_FILE, "config.json", "README.md"}
    processor_files = sorted(p.name for p in tmp.iterdir() if p.name not in ours and not p.name.startswith(MODEL_FILE))
    (tmp / "README.md").write_text(render_card(record, config, name, processor_files, loaded.task))


def _recipe_subset(folder: Path) -> dict[str, Any]:
    """What predict reads from a run's recipe (task options and column names), without data paths."""
    import yaml

    path = folder / RECIPE_FILE
    recipe = yaml.safe_load(path.read_text()) if path.is_file() else {}
    recipe = recipe if isinstance(recipe, dict) else {}
    out: dict[str, Any] = {}
    if isinstance(recipe.get("task"), dict):
        out["task"] = recipe["task"]
    columns = (recipe.get("data") or {}).get("columns") if isinstance(recipe.get("data"), dict) else None
    if columns:
        out["data"] = {"columns": columns}
    return out
