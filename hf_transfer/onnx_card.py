"""The model card (README.md) of an ``hf-transfer export`` folder, from ``hub_cards/onnx_export.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .onnx_export import EXPORT_FILE, INT8_FILE, MODEL_FILE


def render_card(record: dict[str, Any], config: Any, folder: str, processor_files: list[str], task: Any = None) -> str:
    """The export folder's README.md, from ``hub_cards/onnx_export.md``; ``task``: the model's task plugin (how
    logits become labels in the usage snippet; None: the best class)."""
    from .hub import CARDS_DIR

    id2label = {int(k): v for k, v in (getattr(config, "id2label", None) or {}).items()}
    parity = record["parity"]
    rows = [
        f"| model | max abs logit difference | labels agree | {task.accuracy_name if task is not None else 'accuracy'} |",
        "|---|---|---|---|",
        f"| `{MODEL_FILE}` (fp32) | {parity['max_abs_diff']:.2e} | {parity['label_agreement']:.1%} | "
        f"{_pct(parity['accuracy'].get('onnx'))} |",
    ]
    if parity["int8"]:
        q = parity["int8"]
        rows.append(
            f"| `{INT8_FILE}` (dynamic int8) | {q['max_abs_diff']:.2e} | {q['label_agreement']:.1%} | "
            f"{_pct(parity['accuracy'].get('onnx_int8'))} |"
        )
    if parity["accuracy"]:
        rows.append(f"| PyTorch (reference) | 0 | 100% | {_pct(parity['accuracy'].get('pytorch'))} |")
    files = [f"| `{MODEL_FILE}` | the model, fp32 |"]
    if parity["int8"]:
        files.append(f"| `{INT8_FILE}` | the model with int8 weights (onnxruntime dynamic quantization) |")
    files += [
        "| `config.json` | labels (id2label) |",
        f"| `{EXPORT_FILE}` | task, inputs, opset, source, parity figures |",
        "| " + (", ".join(f"`{f}`" for f in processor_files) or "`config.json`") + " | the inputs' preprocessing "
        "(tokenizer or image processor) |",
    ]
    image = record["modality"] == "image"
    if image:
        snippet = [
            "import numpy as np, onnxruntime as ort",
            "from PIL import Image",
            "from transformers import AutoImageProcessor",
            "",
            f'processor = AutoImageProcessor.from_pretrained("{folder}")',
            f'session = ort.InferenceSession("{folder}/{MODEL_FILE}")',
            'pixels = processor(images=[Image.open("photo.jpg").convert("RGB")], return_tensors="pt")["pixel_values"]',
            'logits = session.run(["logits"], {"pixel_values": pixels.numpy().astype(np.float32)})[0]',
        ]
    else:
        feed = ", ".join(f'"{n}": batch["{n}"]' for n in record["inputs"])
        snippet = [
            "import onnxruntime as ort",
            "from transformers import AutoTokenizer",
            "",
            f'tokenizer = AutoTokenizer.from_pretrained("{folder}")',
            f'session = ort.InferenceSession("{folder}/{MODEL_FILE}")',
            'batch = tokenizer(["first text", "another text"], padding=True, truncation=True, return_tensors="np")',
            f'logits = session.run(["logits"], {{{feed}}})[0]',
        ]
    if task is not None:  # the task's own decision (e.g. a sigmoid and per-label thresholds)
        snippet += task.decision_code(id2label, config)
    else:
        snippet.append(f"labels = [{dict(sorted(id2label.items()))!r}[i] for i in logits.argmax(-1)]")
    source = "the run's validation examples" if parity["examples_source"] == "validation" else parity["examples_source"]
    template = (CARDS_DIR / "onnx_export.md").read_text()
    return template.format(
        pipeline_tag=task.pipeline_tag if task is not None else record["task"],
        name=Path(record["source"]).name,
        task=record["task"],
        source=record["source"],
        opset=record["opset"],
        files="\n".join(files),
        inputs_md=", ".join(f"`{n}`" for n in record["inputs"]),
        num_labels=len(id2label),
        dynamic_note="The batch axis is dynamic." if image else "The batch and sequence axes are dynamic.",
        labels=", ".join(id2label[i] for i in sorted(id2label)),
        examples_note=f"{parity['examples']} examples ({source})",
        parity_table="\n".join(rows),
        snippet="\n".join(snippet),
        folder_name=folder,
        predict_input="photos/" if image else "texts.csv",
    )


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"
