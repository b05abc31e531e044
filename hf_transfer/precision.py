"""``training.precision: auto|fp32|bf16|fp16`` → TrainingArguments' ``bf16``/``fp16`` flags.

``auto`` picks bf16 where the hardware runs it fast — NVIDIA GPUs of compute
capability 8.0+ (Ampere and later), and CPUs with AVX512-BF16 or AMX — fp16 on
older CUDA GPUs (7.0+, with loss scaling), and fp32 everywhere else (MPS, CPUs
without bf16 units, old GPUs). The decision is a pure function of a
:class:`Hardware` description so it can be tested without the hardware.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda", "mps" or "cpu"
    cuda_capability: tuple[int, int] | None = None
    cpu_flags: frozenset[str] = field(default_factory=frozenset)


def detect_hardware(use_cpu: bool = False) -> Hardware:
    import torch

    flags: frozenset[str] = frozenset()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="ignore").splitlines():
            if line.startswith("flags"):
                flags = frozenset(line.split(":", 1)[1].split())
                break
    if not use_cpu and torch.cuda.is_available():
        return Hardware("cuda", torch.cuda.get_device_capability(), flags)
    if not use_cpu and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return Hardware("mps", None, flags)
    return Hardware("cpu", None, flags)


def resolve_precision(requested: str, hardware: Hardware) -> tuple[str, str]:
    """(precision, reason) for ``requested`` on ``hardware``."""
    if requested != "auto":
        return requested, "set in the recipe"
    if hardware.device == "cuda":
        major = hardware.cuda_capability[0] if hardware.cuda_capability else 0
        if major >= 8:
            return "bf16", f"CUDA GPU with compute capability {major}.x runs bf16 natively"
        if major >= 7:
            return "fp16", f"CUDA GPU with compute capability {major}.x: fp16 tensor cores, no fast bf16"
        return "fp32", "CUDA GPU without fast half precision"
    if hardware.device == "cpu":
        fast = [f for f in CPU_BF16_FLAGS if f in hardware.cpu_flags]
        if fast:
            return "bf16", f"CPU with {', '.join(fast)}"
        return "fp32", "CPU without bf16 instructions (avx512_bf16/amx_bf16)"
    return "fp32", f"{hardware.device}: half-precision training is not reliably faster"


def precision_flags(precision: str) -> dict[str, bool]:
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
