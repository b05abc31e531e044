"""An ``hf-transfer export`` folder as a model ``predict`` can call: ``model(**batch).logits`` through onnxruntime.

A folder is an export when it holds ``hf_transfer_export.json``; predict then encodes inputs with the folder's
tokenizer or image processor exactly as for the PyTorch model, and the batch goes to an onnxruntime session
(CPU) instead of a torch module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HfTransferError

EXPORT_FILE = "hf_transfer_export.json"  # also hf_transfer.onnx_export.EXPORT_FILE (that module imports torch late)


def read_export(folder: Path) -> dict[str, Any] | None:
    """The export record of ``folder``, or None when it is not an ONNX export."""
    path = folder / EXPORT_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except ValueError as e:
        raise HfTransferError(
            f"'{path}' is not valid JSON ({e}); export the model again with hf-transfer export"
        ) from None
    if not isinstance(record, dict) or record.get("format") != "onnx":
        raise HfTransferError(f"'{path}' does not describe an ONNX export (format: onnx); export the model again")
    return record


@dataclass
class _Output:
    logits: Any


class OnnxClassifier:
    """Callable like a transformers classifier (``model(**batch).logits``) over an onnxruntime session.

    ``.to()``/``.eval()`` return it unchanged: the session runs on the CPU, and batches are moved there."""

    onnx = True

    def __init__(self, path: Path, config: Any):
        from ..onnx_export import require_onnx

        require_onnx()
        import onnxruntime as ort

        self.path, self.config = path, config
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def to(self, *args: Any, **kwargs: Any) -> OnnxClassifier:
        return self

    def eval(self) -> OnnxClassifier:
        return self

    def __call__(self, **batch: Any) -> _Output:
        import numpy as np
        import torch

        missing = [n for n in self.input_names if n not in batch]
        if missing:
            raise HfTransferError(
                f"the ONNX model takes {', '.join(self.input_names)}; the batch lacks {', '.join(missing)}"
            )
        feed = {}
        for name in self.input_names:
            value = batch[name].detach().cpu().numpy()
            feed[name] = value.astype(np.float32) if value.dtype.kind == "f" else value.astype(np.int64)
        (logits,) = self.session.run(["logits"], feed)
        return _Output(torch.from_numpy(logits))


def onnx_model(folder: Path, config: Any, record: dict[str, Any], quantized: bool = False) -> OnnxClassifier:
    files = record.get("files") or {}
    name = files.get("int8" if quantized else "fp32")
    if not name or not (folder / name).is_file():
        which = "an int8 model (export with --quantize dynamic-int8)" if quantized else f"its model file ({name})"
        raise HfTransferError(f"ONNX export '{folder}' lacks {which}; export the model again")
    return OnnxClassifier(folder / name, config)
