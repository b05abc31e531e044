"""The benchmarks run (smoke mode: tiny data, a couple of steps); their figures live in benchmarks/README.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, tmp_path: Path, *extra: str, **env_vars: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **env_vars}
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--smoke", "--results-dir", str(tmp_path), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )


def test_strategies_benchmark_smoke(tmp_path):
    proc = _run("strategies.py", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "strategies.json").read_text())
    assert "| full" in (tmp_path / "strategies.md").read_text()
    assert results


def test_gpu_check_smoke(tmp_path):
    proc = _run("gpu_check.py", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads((tmp_path / "gpu_check.json").read_text())["rows"]
    assert [r["strategy"] for r in rows] == ["full", "frozen", "partial", "lora"]


def test_cache_writer_benchmark_smoke():
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "cache_writer.py"),
            "--width",
            "8",
            "--batch",
            "4",
            "--batches",
            "2",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[2].startswith("| 8 |")


def test_cache_checksum_benchmark_smoke():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cache_checksum.py"), "--mib", "1", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[3].startswith("| sha256 (used) |")


def test_onnx_speed_benchmark_smoke(tmp_path):
    import importlib.util

    import pytest

    if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime", "onnxscript")):
        pytest.skip("the onnx extra is not installed")
    proc = _run("onnx_speed.py", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    table = json.loads((tmp_path / "onnx_speed.json").read_text())["table"]
    assert [r["engine"] for r in table] == ["PyTorch fp32", "ONNX Runtime fp32", "ONNX Runtime int8 (dynamic)"]
    assert table[1]["label_agreement"] == 1.0


def test_multi_label_benchmark_smoke(tmp_path):
    """benchmarks/multi_label.py --smoke: the TF-IDF baseline and a frozen MiniLM run on tiny slices of Debian tags."""
    proc = _run("multi_label.py", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "multi_label.json").read_text())["results"]
    assert set(results) == {"baseline", "frozen"}
    assert all(0.0 <= r["test_micro_f1"] <= 1.0 for r in results.values())
    assert results["frozen"]["threshold"] == "tune"  # the multi-label task's default
    assert "| frozen" in (tmp_path / "multi_label.md").read_text()


@pytest.mark.parametrize(
    "script, stem, row",
    [("regression.py", "regression", "| ridge |"), ("token_classification.py", "token_classification", "| baseline |")],
)
def test_task_benchmarks_smoke(tmp_path, script, stem, row):
    """The regression and token-classification evidence scripts: a baseline and a frozen MiniLM run on slices."""
    proc = _run(script, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / f"{stem}.json").read_text())["results"]
    assert set(results) == {"baseline", "frozen"}
    assert row in (tmp_path / f"{stem}.md").read_text() and "| frozen |" in (tmp_path / f"{stem}.md").read_text()


def test_image_regression_benchmark_smoke(tmp_path):
    """benchmarks/image_regression.py --smoke on a tiny ResNet and a tiny image folder with the two count targets:
    the ridge baseline (on the frozen run's cached features) and a frozen run, per target."""
    import random

    from helpers import build_image_backbone, make_image

    backbone = build_image_backbone("resnet", tmp_path / "resnet")
    rng = random.Random(0)
    for split, n in (("train", 16), ("validation", 8), ("test", 8)):
        folder = tmp_path / "counts" / split
        folder.mkdir(parents=True)
        with (folder / "metadata.jsonl").open("w") as meta:
            for i in range(n):
                items = i % 5
                make_image((50 * items, 40, 200 - 40 * items), rng).save(folder / f"{i:05d}.png")
                meta.write(json.dumps({"file_name": f"{i:05d}.png", "items": items, "footwear": i % 2}) + "\n")
    extra = ["--backbone", str(backbone), "--data-dir", str(tmp_path / "counts")]
    proc = _run("image_regression.py", tmp_path, *extra, HF_TRANSFER_CACHE=str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "image_regression.json").read_text())["results"]
    assert set(results) == {"baseline", "frozen"}
    assert set(results["baseline"]["ridge"]) == set(results["frozen"]["per_target"]) == {"items", "footwear"}
    table = (tmp_path / "image_regression.md").read_text()
    assert "| ridge |" in table and "| frozen |" in table


def test_encoder_flop_count_matches_torch_flop_counter():
    """benchmarks/profile_step.py counts a BERT layer's forward FLOPs as 2·s·(4d² + 2df) + 4·s²·d: the same
    number torch's FlopCounterMode counts for the matmuls and attention of a real (tiny) BertModel."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import BertConfig, BertModel

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from profile_step import encoder_forward_flops

    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=48)
    config._attn_implementation = "eager"  # FlopCounterMode counts the eager matmuls; it skips the CPU SDPA kernel
    model = BertModel(config, add_pooling_layer=False).eval()
    for s in (5, 17):
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(input_ids=torch.randint(0, 50, (1, s)))
        assert counter.get_total_flops() == encoder_forward_flops(config, [s])
    assert encoder_forward_flops(config, [5, 17]) == encoder_forward_flops(config, [5]) + encoder_forward_flops(
        config, [17]
    )


def test_profile_step_benchmark_smoke(tmp_path):
    """benchmarks/profile_step.py --smoke: step time, MFU and the profiler's split of a step for full fine-tuning
    and LoRA, and the cache pass's MFU, on the real MiniLM and a tiny slice of docstrings."""
    proc = _run("profile_step.py", tmp_path, "--only", "full", "full-no-dropout", "lora", "cache")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((tmp_path / "profile_step.json").read_text())
    assert set(result["runs"]) == {"full", "full-no-dropout", "lora", "cache"}
    # the ablation switches every dropout off, and only there
    assert result["runs"]["full"]["dropout_max_p"] > 0
    assert result["runs"]["full-no-dropout"]["dropout_max_p"] == 0
    for name in ("full", "lora"):
        run = result["runs"][name]
        assert run["model_flops_per_s"] > 0 and 0 < run["real_token_fraction"] <= 1
        categories = run["profile"]["categories_s"]
        assert categories["forward: GEMM"] > 0 and categories["backward: GEMM"] > 0
        assert categories["optimizer step"] > 0
        assert (categories["LoRA adapters (forward)"] > 0) == (name == "lora")
        # the categories split the profiled window's wall time
        assert sum(categories.values()) >= run["profile"]["wall_s"] * 0.999
    assert 0 < result["runs"]["lora"]["adapter_share_of_flops"] < 0.5
    assert result["runs"]["full"]["adapter_share_of_flops"] == 0
    assert {p["split"] for p in result["runs"]["cache"]["passes"]} == {
        f"caching {s} features" for s in ("train", "validation", "test")
    }
    assert "| lora |" in (tmp_path / "profile_step.md").read_text()


def test_cpu_attention_benchmark_smoke(tmp_path):
    """benchmarks/cpu_attention.py --smoke: bf16 training steps with the fused attention kernel and the math path
    on a tiny BERT and ViT; the two paths compute the same gradients and losses."""
    proc = _run("cpu_attention.py", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((tmp_path / "cpu_attention.json").read_text())
    assert set(result["cases"]) == {"text", "vision"}
    for case in result["cases"].values():
        assert case["step_s"]["math"] > 0 and case["step_s"]["fused"] > 0
        assert case["gradient_cosine_first_batch"] > 0.99
        assert abs(case["losses"]["math"][-1] - case["losses"]["fused"][-1]) < 0.05


def test_frozen_vs_script_benchmark_smoke(tmp_path):
    """benchmarks/frozen_vs_script.py --smoke: the minimal script and a cold-cache frozen run, both whole processes."""
    proc = _run("frozen_vs_script.py", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((tmp_path / "frozen_vs_script.json").read_text())
    assert {r["side"] for r in result["runs"]} == {"script", "ours"}
    assert all(0 <= r["test_accuracy"] <= 1 and r["wall_s"] > 0 for r in result["runs"])
    assert result["median_ratio"] > 0


def test_length_grouping_benchmark_smoke(tmp_path):
    """benchmarks/length_grouping.py --smoke: padding of both training orders without training, then 2 training
    steps of the quickstart with each order (transformers' restored by patching the sampler class)."""
    proc = _run("length_grouping.py", tmp_path, "--padding")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads((tmp_path / "length_grouping_padding.json").read_text())["rows"]
    assert {r["order"] for r in rows} == {"hf_transfer", "transformers", "random"}
    by = {r["order"]: r for r in rows}
    assert by["hf_transfer"]["real_token_fraction"][0] > by["random"]["real_token_fraction"][0]
    proc = _run("length_grouping.py", tmp_path, "--seeds", "1")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads((tmp_path / "length_grouping.json").read_text())["rows"]
    assert {r["order"] for r in rows} == {"hf_transfer", "transformers"}
    assert all(0 <= r["test_accuracy"] <= 1 and 0 < r["train_real_token_fraction"] <= 1 for r in rows)
    # the patch reached the trainer: the two orders batch the 64 texts differently
    assert rows[0]["train_real_token_fraction"] != rows[1]["train_real_token_fraction"]


def test_gemm_ceiling_benchmark_smoke(tmp_path):
    """benchmarks/gemm_ceiling.py --smoke: every matmul of a layer's training step timed, in both precisions, and
    the shared result writer's markdown (title, command, CPU and bf16 flags, table)."""
    proc = _run("gemm_ceiling.py", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    runs = json.loads((tmp_path / "gemm_ceiling.json").read_text())["runs"]
    assert set(runs) == {"fp32", "bf16"}
    for run in runs.values():
        assert len(run["rates_gflops"]) == 9 and all(r > 0 for r in run["rates_gflops"].values())
        assert run["layer_gflops"] > 0 and run["peak_gflops"] > 0
    md = (tmp_path / "gemm_ceiling.md").read_text().splitlines()
    assert md[0].startswith("# Matmul rates") and md[2].startswith("Measured ") and md[3].startswith("CPU: ")
    assert sum(line.startswith("| fp32 |") or line.startswith("| bf16 |") for line in md) == 2


def test_bf16_weights_benchmark_smoke(tmp_path):
    """benchmarks/bf16_weights.py --smoke: a training step with autocast and one with bf16 weights and fp32 master
    weights both run; the inference pass with Linear weights cast once gives autocast's outputs bit for bit."""
    proc = _run("bf16_weights.py", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads((tmp_path / "bf16_weights.json").read_text())["rows"]
    assert [r["what"] for r in rows] == ["training step", "inference pass"]
    assert all(r["speed_up"] > 0 and len(r["ms"]["autocast"]) == len(r["ms"]["bf16 weights"]) == 1 for r in rows)
    assert rows[1]["bit_equal"] is True
