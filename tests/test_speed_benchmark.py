"""benchmarks/speed.py runs end to end in its smoke mode (tiny data, a couple of steps); its figures live in
benchmarks/README.md. Nothing here asserts a speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


ROOT = Path(__file__).resolve().parent.parent


def test_speed_benchmark_smoke(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--smoke", "--results-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "speed.json").read_text())
    md = (tmp_path / "speed.md").read_text()
    rows = results["summary"]["rows"]
    assert {"baseline-frozen", "frozen-cold", "frozen-warm", "baseline-full", "full", "full-auto", "lora"} <= set(rows)
    assert rows["frozen-warm"]["cache_hit"] is True  # the warm run reused the cold run's features
    assert results["summary"]["startup"]["modules"]["heavy_imported"] == []  # --help and validation import no torch
    assert results["summary"]["peak"]["fp32_gflops"] > 0
    for heading in (
        "## Targets",
        "## Frozen backbone",
        "## Full fine-tuning",
        "## Model FLOP utilisation",
        "## Start-up",
        "## Images",
    ):
        assert heading in md
    vision = results["summary"]["vision"]
    if vision.get("skipped"):  # Fashion-MNIST not installed here: the report must say how to get it
        assert "dataset-fashion-mnist" in vision["skipped"] and "IMAGES SKIPPED" in proc.stdout
    else:
        assert vision["pipeline"] and vision["training"]
