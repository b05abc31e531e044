"""A CPU run reuses its heap for big tensors (``hf_transfer.cpu_heap``): freed blocks come back without page
faults while it is open, glibc's defaults return when it closes, and an allocator the user chose is left alone."""

from __future__ import annotations

import resource

import pytest

import hf_transfer
from helpers import text_recipe
from hf_transfer import cpu_heap

glibc = pytest.mark.skipif(cpu_heap._glibc() is None, reason="glibc's malloc only (Linux)")


FAULTS = r"""
import json, resource, statistics, torch
from hf_transfer import cpu_heap

def faults_per_cycle(cycles=7):
    # median minor page faults of an allocate-write-free cycle of a 64 MiB tensor (above glibc's largest mmap
    # threshold), after one cycle that may grow the heap
    counts = []
    for _ in range(cycles + 1):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = torch.empty(16 * 2**20)
        block.fill_(1.0)
        del block
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return statistics.median(counts[1:])

default = faults_per_cycle()
with cpu_heap.kept_heap("cpu") as applied:
    kept = faults_per_cycle()
print(json.dumps({"default": default, "kept": kept, "applied": applied}))
"""


@glibc
def test_big_blocks_are_reused_without_page_faults_while_open():
    """In a fresh process, as a training command runs: its main thread, a clean heap (a long-lived test worker's
    heap and threads are neither)."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "HF_TRANSFER_KEEP_HEAP"}
    env.pop("LD_PRELOAD", None)
    env.pop("GLIBC_TUNABLES", None)
    out = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    pages = 64 * 2**20 // resource.getpagesize()
    assert result["applied"]
    assert result["default"] > pages / 2  # glibc's default: fresh pages from the kernel every time
    assert result["kept"] < pages / 20


def test_closing_restores_glibcs_defaults_and_hands_the_memory_back(monkeypatch):
    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append(("mallopt", param, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("malloc_trim", pad))
            return 1

    monkeypatch.setattr(cpu_heap, "_glibc", Libc)
    monkeypatch.setattr(cpu_heap, "allocator_chosen_by_user", lambda: None)
    with pytest.raises(RuntimeError), cpu_heap.kept_heap("cpu") as applied:
        assert applied
        assert calls == [("mallopt", -4, 0), ("mallopt", -1, 2**31 - 1)]
        raise RuntimeError("a failed run restores them too")
    # mmap again, at the thresholds glibc's own adjustment would have reached (a mallopt switched it off)
    assert calls[2:] == [
        ("mallopt", -4, 65536),
        ("mallopt", -3, 32 * 2**20),
        ("mallopt", -1, 64 * 2**20),
        ("malloc_trim", 0),
    ]
    calls.clear()
    with cpu_heap.kept_heap("cpu"), cpu_heap.kept_heap("cpu") as inner:  # nested runs: the outermost restores
        assert inner and len(calls) == 2
    assert [c[0] for c in calls[2:]] == ["mallopt", "mallopt", "mallopt", "malloc_trim"]


def test_an_allocator_the_user_chose_is_left_alone(monkeypatch):
    assert cpu_heap.allocator_chosen_by_user({}) is None
    assert cpu_heap.allocator_chosen_by_user({"PATH": "/bin"}) is None
    assert cpu_heap.allocator_chosen_by_user({"MALLOC_ARENA_MAX": "2"}) == "MALLOC_ARENA_MAX"
    assert cpu_heap.allocator_chosen_by_user({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}) == "LD_PRELOAD"
    assert cpu_heap.allocator_chosen_by_user({"LD_PRELOAD": "/usr/lib/libfoo.so"}) is None
    assert cpu_heap.allocator_chosen_by_user({"HF_TRANSFER_KEEP_HEAP": "0"}) == "HF_TRANSFER_KEEP_HEAP"
    tunables = {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4096"}
    assert cpu_heap.allocator_chosen_by_user(tunables) == "GLIBC_TUNABLES"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    with cpu_heap.kept_heap("cpu") as applied:
        assert not applied
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    with cpu_heap.kept_heap("cuda") as applied:  # a GPU run: untouched
        assert not applied


def test_a_cpu_run_trains_inside_the_kept_heap(backbones, text_files, tmp_path, monkeypatch):
    seen = []
    opened = cpu_heap.kept_heap

    def recording(device_type):
        seen.append(device_type)
        return opened(device_type)

    monkeypatch.setattr(cpu_heap, "kept_heap", recording)
    hf_transfer.train(text_recipe(backbones["bert"], text_files, tmp_path / "out"))
    assert seen == ["cpu"]


def test_predict_and_evaluate_run_the_model_inside_the_kept_heap(backbones, text_files, tmp_path, monkeypatch):
    """Length-sorted batches grow one after another, so without it each took fresh pages from the kernel."""
    import hf_transfer.inference as inference
    import hf_transfer.inference.evaluation as evaluation

    out = tmp_path / "out"
    hf_transfer.train(text_recipe(backbones["bert"], text_files, out))
    seen = []

    def recording(device_type):
        seen.append(device_type)
        return cpu_heap.kept_heap(device_type)

    for module in (inference, evaluation):
        monkeypatch.setattr(module, "kept_heap", recording)
    monkeypatch.setattr(inference.Runner, "forward", _check_heap_open(inference.Runner.forward))
    hf_transfer.predict(out, str(text_files["test"]), tmp_path / "p.jsonl", progress=False)
    hf_transfer.evaluate(out, str(text_files["test"]), output_dir=tmp_path / "eval", progress=False)
    assert seen == ["cpu", "cpu"]


def _check_heap_open(forward):
    def checked(self, batch):
        assert cpu_heap._depth >= 1 or cpu_heap._glibc() is None or cpu_heap.allocator_chosen_by_user()
        return forward(self, batch)

    return checked
