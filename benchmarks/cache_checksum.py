"""What checking a feature-cache entry's SHA-256 costs: seconds per 100 MiB data file, read from the page cache.

A hit checks the checksum recorded when the entry was written (hf_transfer/feature_store.py); this says
how long that takes next to the backbone pass that wrote the file.

    .venv/bin/python benchmarks/cache_checksum.py [--mib 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def seconds(path: Path, algorithm: str) -> float:
    start = time.perf_counter()
    digest = hashlib.new(algorithm)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    digest.hexdigest()
    return time.perf_counter() - start


def main() -> None:
    from hf_transfer.feature_store import file_sha256

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features.arrow"
        path.write_bytes(os.urandom(args.mib << 20))
        assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest(), "the function the cache uses"
        times = {alg: [] for alg in ("sha256", "blake2b")}
        for _ in range(args.rounds):  # paired rounds
            for alg, row in times.items():
                row.append(seconds(path, alg))
    print(f"{args.mib} MiB, {args.rounds} rounds, CPU: {cpu_model()} ({os.cpu_count()} cores)")
    print("| algorithm | median s | MiB/s |")
    print("|---|---|---|")
    for alg, row in times.items():
        median = statistics.median(row)
        print(f"| {alg}{' (used)' if alg == 'sha256' else ''} | {median:.3f} | {args.mib / median:,.0f} |")


if __name__ == "__main__":
    main()
