"""Metric modules carried inside the package so that `evaluate` works with no network.

``evaluate.load("accuracy")`` fetches the module from the Hub on first use, which
fails on air-gapped clusters; :func:`load_metric` loads our module by local path.
"""

from __future__ import annotations

from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent


def load_metric(name: str = "classification"):
    import evaluate

    return evaluate.load(str(METRICS_DIR / name / f"{name}.py"))


# Metrics that are better lower: losses (transformers' convention for ``greater_is_better``) and errors.
LOWER_IS_BETTER = ("loss", "rmse", "mae", "mse")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better: a ``*loss`` metric (``hamming_loss``), or an error metric
    and its per-target forms (``rmse``, ``mae_<target>``); an optional ``eval_``/``test_`` prefix is ignored."""
    name = metric.removeprefix("eval_").removeprefix("test_")
    return name.endswith("loss") or any(name == m or name.startswith(f"{m}_") for m in LOWER_IS_BETTER)
