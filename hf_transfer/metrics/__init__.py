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
