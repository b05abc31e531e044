"""Big CPU tensors reuse the process's heap during a CPU run instead of fresh pages from the kernel.

Why hand-written: glibc's malloc serves every allocation above its mmap threshold (at most 32 MiB, and
128 KiB until a large block has been freed) with fresh pages from the kernel, and gives them back on free.
A training step allocates and frees the same large tensors every time: activations, attention probabilities
and the word-embedding gradient (30,522 × 384 floats, 47 MB, for a MiniLM). Each fresh page costs a page fault
and the kernel zeroing it. On all-MiniLM-L6-v2 (batch 32, 40 tokens) that was ~50,000 page faults, about
200 MB of pages, per step. PyTorch's performance guide recommends jemalloc or tcmalloc through ``LD_PRELOAD``
for this reason; a running process cannot do that, but it can tune glibc itself with ``mallopt``:

- no mmap for allocations (``M_MMAP_MAX = 0``): big blocks come from the heap, and a freed block is reused
  by the next step;
- freed memory at the top of the heap is kept up to 2 GiB (``M_TRIM_THRESHOLD``).

On a 2-core Intel Xeon (AMX) that cut the page faults of a plain PyTorch training loop on all-MiniLM-L6-v2
from ~50,000 to ~50–200 per step and its step time by 7–10% in fp32 and 15–30% in bf16; in hf_transfer's
full fine-tuning step (``benchmarks/profile_step.py``) the gain was 1% in fp32 and 6% in bf16, for 4% more
peak memory on the quickstart (1,834 vs 1,766 MB): freed blocks are kept for reuse instead of returned.

:func:`kept_heap` applies this while a run's data, model and training are on the CPU, and while ``predict`` and
``evaluate`` run a model on the CPU (the outermost of nested or concurrent runs applies and restores; predicting
2,100 short texts, length-sorted so each batch is bigger than the last, page-faulted ~250,000 times without it and
~24,000 with it: 2.9-3.15 s against 2.67-2.69 s on the 2-core Xeon), then lets glibc mmap again, at the thresholds its own adjustment reaches
(32 MiB, trimming above 64 MiB: a ``mallopt`` switches that adjustment off for good), and hands the kept memory
back (``malloc_trim``), so a notebook that trained does not hold it.
Nothing changes where the user has chosen an allocator already (an ``LD_PRELOAD`` of jemalloc, tcmalloc or
mimalloc, any ``MALLOC_*`` setting or ``glibc.malloc`` tunable in the environment), with ``HF_TRANSFER_KEEP_HEAP=0``, on a GPU run, or
off glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("hf_transfer")

# glibc's <malloc.h> parameter numbers
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
KEPT_TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: 2 GiB
# After the run: mmap again, at the thresholds glibc's own dynamic adjustment reaches once big blocks have been
# freed (its maximum mmap threshold, 32 MiB on 64-bit, and twice that for trimming). Any mallopt of these
# parameters switches that adjustment off for the process, so "glibc's defaults" (128 KiB) would be worse than
# what it had learnt before the run.
AFTER_MMAP_MAX, AFTER_MMAP_THRESHOLD, AFTER_TRIM_THRESHOLD = 65536, 32 * 2**20, 64 * 2**20
_lock = threading.Lock()
_depth = 0  # runs inside kept_heap now (threads, nested train() calls): only the outermost applies and restores


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: musl has no such symbol)
        libc.mallopt, libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def allocator_chosen_by_user(environ: dict[str, str] | None = None) -> str | None:
    """What the environment says about the allocator (the variable that says it), or None."""
    environ = os.environ if environ is None else environ
    if environ.get("HF_TRANSFER_KEEP_HEAP", "1") == "0":
        return "HF_TRANSFER_KEEP_HEAP"
    if "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES"
    preload = environ.get("LD_PRELOAD", "")
    if any(name in preload for name in ("jemalloc", "tcmalloc", "mimalloc")):
        return "LD_PRELOAD"
    return next((key for key in environ if key.startswith("MALLOC_")), None)


@contextmanager
def kept_heap(device_type: str) -> Iterator[bool]:
    """While open, glibc keeps freed CPU memory for reuse (see the module); yields whether it applied."""
    libc = _glibc() if device_type == "cpu" else None
    chosen = allocator_chosen_by_user() if libc is not None else None
    if libc is None or chosen is not None:
        if chosen:
            logger.debug("CPU heap: left as configured (%s is set)", chosen)
        yield False
        return
    global _depth
    with _lock:
        _depth += 1
        applied = _depth > 1 or (
            bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, KEPT_TRIM_THRESHOLD))
        )
    try:
        yield applied
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_MAX, AFTER_MMAP_MAX)
                libc.mallopt(M_MMAP_THRESHOLD, AFTER_MMAP_THRESHOLD)
                libc.mallopt(M_TRIM_THRESHOLD, AFTER_TRIM_THRESHOLD)
                libc.malloc_trim(0)
