"""hf_transfer: transfer learning for Hugging Face backbones.

import hf_transfer
result = hf_transfer.train("recipes/quickstart.yaml", **{"training.num_train_epochs": 1})
print(result.output_dir, result.metrics["eval_accuracy"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Recipe, load_recipe
from .errors import ConfigError, HfTransferError

__version__ = "0.1.0"
__all__ = [
    "train",
    "compare",
    "rank",
    "predict",
    "evaluate",
    "export",
    "load_recipe",
    "load_model",
    "Recipe",
    "TrainResult",
    "HfTransferError",
    "ConfigError",
    "__version__",
]

if TYPE_CHECKING:
    from .pipeline import TrainResult


def train(recipe: Any, **kwargs: Any) -> TrainResult:
    """Train ``recipe`` (a path, shipped recipe name, dict or Recipe) and return a :class:`TrainResult`.

    Keyword arguments: ``dataset`` (an in-memory Dataset/DatasetDict for ``data.source: memory``),
    ``overwrite``, ``dry_run``, ``callbacks`` (extra ``transformers.TrainerCallback`` objects),
    ``overrides`` (list of "key=value" or a dict), and dotted
    overrides such as ``**{"training.learning_rate": 3e-5}`` or section dicts such as
    ``training={"learning_rate": 3e-5}``.
    """
    from .pipeline import train as _train

    return _train(recipe, **kwargs)


def compare(recipe: Any, overrides: Any = None, **kwargs: Any) -> Any:
    """Train a grid of cells (``strategies``, ``backbones``, ``grid={key: [values]}``) and return the
    :class:`~hf_transfer.comparison.Leaderboard`, best first; see :func:`hf_transfer.comparison.compare`."""
    from .comparison import compare as _compare

    return _compare(recipe, overrides, **kwargs)


def rank(recipe: Any, overrides: Any = None, **kwargs: Any) -> Any:
    """Score candidate ``backbones`` for the recipe's task with LogME before training; best first.
    See :func:`hf_transfer.ranking.rank`."""
    from .ranking import rank as _rank

    return _rank(recipe, overrides, **kwargs)


def predict(model: Any, inputs: str, output: Any = None, **kwargs: Any) -> Any:
    """Predict every row of ``inputs`` (a table file, an image, a folder of images, ``hub:<dataset>:<split>``
    or ``-``) with a trained model folder; rows go to ``output`` (.jsonl/.csv/.tsv/.parquet, or JSONL on stdout).
    Returns a :class:`~hf_transfer.inference.PredictSummary`; see :func:`hf_transfer.inference.predict`."""
    from .inference import predict as _predict

    return _predict(model, inputs, output, **kwargs)


def evaluate(model: Any, data: str, **kwargs: Any) -> Any:
    """Score a trained model folder on labelled ``data`` (a file with a label column, an image folder of class
    folders, or ``hub:<dataset>:<split>``); ``against=OTHER`` adds a paired comparison. Returns an
    :class:`~hf_transfer.inference.evaluation.Evaluation`; see :func:`hf_transfer.inference.evaluation.evaluate`."""
    from .inference.evaluation import evaluate as _evaluate

    return _evaluate(model, data, **kwargs)


def export(model: Any, output_dir: Any = None, **kwargs: Any) -> Any:
    """Export a trained model folder to ONNX (``output_dir``: default ``<model>-onnx``), checked against PyTorch;
    ``quantize="dynamic-int8"`` also writes an int8 model. Needs the onnx extra. Returns an
    :class:`~hf_transfer.onnx_export.ExportResult`; see :func:`hf_transfer.onnx_export.export`."""
    from .onnx_export import export as _export

    return _export(model, output_dir, **kwargs)


def load_model(path: Any) -> Any:
    """Load any hf_transfer output folder (plain model, hf_transfer head, or LoRA adapter) for inference."""
    from .loading import load_model as _load

    return _load(path)


def __getattr__(name: str) -> Any:
    if name == "TrainResult":
        from .pipeline import TrainResult

        return TrainResult
    raise AttributeError(name)
