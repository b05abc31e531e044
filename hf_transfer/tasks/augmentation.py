"""Train-time image augmentation, resolved for one backbone.

The recipe says what to do (``crop_scale``, ``horizontal_flip``, ``color_jitter``); the backbone's
processor says at what size, with which interpolation and normalisation. :func:`resolve` joins the two
into an :class:`Augmentation`, which the run logs, records in ``training_report.json`` and the model card,
and builds with the backbone's own library: timm's ``create_transform`` for timm backbones (their
``TimmWrapperImageProcessor`` carries timm's ``data_config``), torchvision v2 for transformers image
processors. The options mean the same in both (timm's ``color_jitter`` is torchvision's ColorJitter with
equal brightness, contrast and saturation), so a recipe augments alike whatever the backbone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

from ..errors import ConfigError

# What the run records when training images are preprocessed like evaluation ones.
NO_AUGMENTATION = {"augment": False, "description": "none: training images get the evaluation preprocessing"}


@dataclass(frozen=True)
class Augmentation:
    """A random resized crop to the backbone's input size, an optional flip and colour jitter, normalised
    as the backbone's processor normalises."""

    library: str  # "timm" or "torchvision": which one builds the transform
    size: tuple[int, int]  # height, width
    crop_scale: tuple[float, float]
    horizontal_flip: bool
    color_jitter: float  # 0: none
    interpolation: str  # a torchvision InterpolationMode value, which timm's names match
    mean: tuple[float, ...] | None  # None: the backbone's processor does not normalise
    std: tuple[float, ...] | None

    def transform(self) -> Callable[[Any], Any]:
        """PIL image → normalised float tensor (C, H, W), drawn at random."""
        if self.library == "timm":
            from timm.data import create_transform

            return create_transform(
                input_size=(3, *self.size),
                is_training=True,
                scale=self.crop_scale,
                hflip=0.5 if self.horizontal_flip else 0.0,
                color_jitter=self.color_jitter or None,
                interpolation=self.interpolation,
                mean=self.mean,
                std=self.std,
            )
        import torch
        from torchvision.transforms import v2

        mode = v2.InterpolationMode(self.interpolation)
        steps = [v2.RandomResizedCrop(self.size, scale=self.crop_scale, interpolation=mode, antialias=True)]
        if self.horizontal_flip:
            steps.append(v2.RandomHorizontalFlip())
        if self.color_jitter:
            steps.append(
                v2.ColorJitter(brightness=self.color_jitter, contrast=self.color_jitter, saturation=self.color_jitter)
            )
        steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
        if self.mean is not None:
            steps.append(v2.Normalize(mean=list(self.mean), std=list(self.std)))
        return v2.Compose(steps)

    def describe(self) -> str:
        (h, w), (lo, hi) = self.size, self.crop_scale
        parts = [
            f"RandomResizedCrop {h}×{w} scale [{lo}, {hi}] {self.interpolation}",
            "horizontal flip" if self.horizontal_flip else "no flip",
            f"colour jitter {self.color_jitter}" if self.color_jitter else "no colour jitter",
            f"normalise mean {_numbers(self.mean)} std {_numbers(self.std)}"
            if self.mean is not None
            else "no normalisation",
        ]
        return ", ".join(parts) + f" ({self.library})"

    def as_dict(self) -> dict[str, Any]:
        """The record kept in training_report.json."""
        return {"augment": True, **asdict(self), "description": self.describe()}


def summary(record: dict[str, Any]) -> str:
    """A recorded augmentation in one line (log, CLI, card): its description, and why the crop range when it
    was chosen automatically."""
    reason = record.get("crop_scale_reason")
    chosen = f"; crop scale {reason}" if reason and reason != "set in the recipe" else ""
    return record.get("description", "") + chosen


def _numbers(values: tuple[float, ...]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def output_size(processor: Any) -> tuple[int, int] | None:
    """Height and width of the tensors a transformers image processor produces; None when it does not say."""
    crop = getattr(processor, "crop_size", None)
    size = crop if getattr(processor, "do_center_crop", False) and crop else getattr(processor, "size", None)
    if isinstance(size, int):
        return size, size
    size = dict(size) if size else {}
    if size.get("height") and size.get("width"):
        return int(size["height"]), int(size["width"])
    edge = size.get("shortest_edge") or size.get("longest_edge")
    return (int(edge), int(edge)) if edge else None


def _shown(size: Any) -> str:
    """A processor's size setting without its unset fields (transformers' SizeDict lists them all)."""
    try:
        return repr({k: v for k, v in dict(size).items() if v is not None})
    except (TypeError, ValueError):
        return repr(size)


def _interpolation(resample: Any) -> str:
    """A processor's ``resample`` (a PIL filter number or a torchvision mode) as an InterpolationMode value."""
    from PIL import Image

    resample = getattr(resample, "value", resample)
    if isinstance(resample, str):
        return resample
    return Image.Resampling(int(resample)).name.lower() if resample is not None else "bilinear"


def resolve(
    processor: Any, crop_scale: list[float], horizontal_flip: bool, color_jitter: float, backbone: str = ""
) -> Augmentation:
    """The recipe's augmentation at this backbone's input size, interpolation and normalisation; ConfigError
    when the processor does not say what size its inputs are."""
    options = {"crop_scale": tuple(crop_scale), "horizontal_flip": horizontal_flip, "color_jitter": color_jitter}
    timm_config = getattr(processor, "data_config", None)
    if isinstance(timm_config, dict) and timm_config.get("input_size"):
        return Augmentation(
            "timm",
            tuple(int(v) for v in timm_config["input_size"][-2:]),
            interpolation=timm_config.get("interpolation", "bilinear"),
            mean=tuple(timm_config["mean"]),
            std=tuple(timm_config["std"]),
            **options,
        )
    size = output_size(processor)
    if size is None:
        raise ConfigError(
            [
                f"backbone '{backbone or '?'}': its image processor ({type(processor).__name__}) gives no input size "
                "(expected 'size' or 'crop_size' with height/width or shortest_edge, found "
                f"size={_shown(getattr(processor, 'size', None))}, crop_size={_shown(getattr(processor, 'crop_size', None))}), "
                "and task.augment crops training images to that size; "
                'add "size": {"height": H, "width": W} to the backbone\'s preprocessor_config.json, or set '
                "task.augment=false to train on the processor's own preprocessing"
            ]
        )
    normalise = getattr(processor, "do_normalize", True) and getattr(processor, "image_mean", None) is not None
    return Augmentation(
        "torchvision",
        size,
        interpolation=_interpolation(getattr(processor, "resample", None)),
        mean=tuple(processor.image_mean) if normalise else None,
        std=tuple(processor.image_std) if normalise else None,
        **options,
    )
