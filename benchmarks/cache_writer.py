"""How fast the feature cache writes rows: numpy arrays vs Python lists into datasets' ArrowWriter.

The cache writes one batch of head inputs per backbone step; on a fast GPU the backbone produces
thousands of rows per second, so the writer must not be what limits the cold pass.

    .venv/bin/python benchmarks/cache_writer.py [--width 2048] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def write(mode: str, width: int, batch: int, batches: int) -> float:
    import torch
    from datasets import Dataset, Features, Sequence, Value
    from datasets.arrow_writer import ArrowWriter

    schema = Features({"features": Sequence(Value("float32"), length=width), "labels": Value("int64")})
    feats, labels = torch.randn(batch, width), torch.randint(0, 10, (batch,))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "features.arrow")
        writer = ArrowWriter(features=schema, path=path)
        start = time.perf_counter()
        for _ in range(batches):
            if mode == "lists":
                writer.write_batch({"features": feats.numpy().tolist(), "labels": labels.tolist()})
            else:
                writer.write_batch({"features": feats.numpy(), "labels": labels.numpy()})
        writer.finalize()
        writer.close()
        seconds = time.perf_counter() - start
        ds = Dataset.from_file(path).with_format("torch")
        assert ds.features == schema and len(ds) == batch * batches
        assert torch.equal(ds[:batch]["features"], feats), "the rows read back are the rows written"
    return batch * batches / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, nargs="+", default=[384, 768, 2048])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| feature width | Python lists (rows/s) | numpy arrays (rows/s) | speed-up |")
    print("|---|---|---|---|")
    for width in args.width:
        ratios, rates = [], {"lists": [], "numpy": []}
        for _ in range(args.rounds):  # paired rounds: lists then numpy, ratio within the round
            lists, arrays = (
                write("lists", width, args.batch, args.batches),
                write("numpy", width, args.batch, args.batches),
            )
            rates["lists"].append(lists)
            rates["numpy"].append(arrays)
            ratios.append(arrays / lists)
        print(
            f"| {width} | {statistics.median(rates['lists']):,.0f} | {statistics.median(rates['numpy']):,.0f} "
            f"| {statistics.median(ratios):.1f}× |"
        )


if __name__ == "__main__":
    main()
