"""Task ``image-classification``: single-label classification of images.

Train-time augmentation is what the recipe says (``crop_scale``, ``horizontal_flip``, ``color_jitter``)
at the backbone's input size, interpolation and mean/std, built by the backbone's own library (timm or
torchvision; see :mod:`.augmentation`); evaluation uses the backbone's own image processor unchanged
(resize/center-crop as it was pretrained). Transforms run lazily (``with_transform``), so with
``dataloader_num_workers`` > 0 they run in DataLoader workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BackboneError
from ..registry import TASKS
from ..schema import field
from . import ClassificationTask
from .augmentation import NO_AUGMENTATION, Augmentation, resolve


def to_rgb(img) -> Any:
    """An RGB copy of any PIL image: 16-bit greyscale is scaled to 8 bits (a plain convert would clip
    it to white), and transparency (RGBA, LA, palette or greyscale with a transparent colour) is
    composited onto white, as transformers' image processors do: a plain convert would keep the colours
    of invisible pixels (often black), which icons and logos are full of."""
    if img.mode.startswith("I;16"):
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if "A" in img.getbands() or "transparency" in img.info:
        from PIL import Image

        img = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), img).convert("RGB")
    return img.convert("RGB")


@TASKS.register("image-classification")
@dataclass
class ImageClassification(ClassificationTask):
    augment: bool = field(True, help="random resized crop (and flip, colour jitter) on training images")
    crop_scale: list[float] = field([0.08, 1.0], help="area range of the random resized crop")
    horizontal_flip: bool = field(True, help="flip training images left-right at random")
    color_jitter: float = field(0.0, help="random brightness, contrast and saturation change, e.g. 0.4 (timm's); 0: none")

    pipeline_tag = "image-classification"
    modality = "image"
    preprocessing_version = 2  # 2: transparency composited onto white (to_rgb)
    roles = {"image": (("image", "img", "pixel_values"), True)}

    def validate(self, prefix: str) -> list[str]:
        problems = super().validate(prefix)
        lo_hi = self.crop_scale
        if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1] <= 1:
            problems.append(f"'{prefix}.crop_scale' must be [low, high] with 0 < low <= high <= 1 (fractions of the "
                            f"image area), found {lo_hi}; e.g. {prefix}.crop_scale=[0.08, 1.0], the default")
        if self.color_jitter < 0:
            problems.append(f"'{prefix}.color_jitter' must be 0 (none) or more, found {self.color_jitter}; e.g. "
                            f"{prefix}.color_jitter=0.4 (timm's ImageNet recipe)")
        return problems

    def auto_model_class(self) -> type:
        from transformers import AutoModelForImageClassification

        return AutoModelForImageClassification

    def load_processor(self, backbone) -> Any:
        from transformers import AutoImageProcessor

        self.check_backbone(backbone)
        try:
            return AutoImageProcessor.from_pretrained(backbone.location, **backbone.load_kwargs())
        except (OSError, ValueError) as e:  # no preprocessor_config.json, or one transformers cannot read
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BackboneError(
                f"backbone '{backbone.reference}': its image processor could not be loaded ({first}); an image backbone "
                "needs one (preprocessor_config.json with the input size, mean and std it was trained with, as the image "
                "processor's save_pretrained writes it): download the backbone again, or add or repair that file"
            ) from None

    def training_defaults(self) -> dict[str, Any]:
        from ..precision import cpu_count

        # The raw image column must reach our lazy transform (Trainer would drop it), and decoding +
        # augmentation run in DataLoader worker processes, leaving a core to the training loop.
        workers = min(4, max(cpu_count() - 1, 0))
        return {
            "remove_unused_columns": False,
            "dataloader_num_workers": workers,
            "dataloader_persistent_workers": workers > 0,
        }

    def augmentation(self, processor, backbone: str = "", augment_train: bool = True) -> dict[str, Any]:
        """The augmentation training images get, as the run records it; ConfigError when this backbone's
        processor cannot take it."""
        if not self.augment:
            return dict(NO_AUGMENTATION)
        resolved = self._resolved(processor, backbone)  # checked even when unused: preprocess() builds it
        return resolved.as_dict() if augment_train else dict(NO_AUGMENTATION)

    def _resolved(self, processor, backbone: str = "") -> Augmentation:
        return resolve(processor, self.crop_scale, self.horizontal_flip, self.color_jitter, backbone)

    def train_transform(self, processor) -> Any:
        """The per-image transform of training images: the recipe's augmentation, or with ``augment: false``
        the evaluation one (None where that is the processor called on a batch: transformers processors)."""
        if self.augment:
            return self._resolved(processor).transform()
        return getattr(processor, "val_transforms", None)  # timm processors carry their eval transform

    def batch_transform(self, processor, train: bool):
        """A ``with_transform`` function turning raw images into ``pixel_values``."""
        import torch

        per_image = self.train_transform(processor) if train else getattr(processor, "val_transforms", None)

        def transform(batch: dict[str, list]) -> dict[str, Any]:
            images = [to_rgb(img) for img in batch["image"]]
            if per_image is not None:
                pixels = torch.stack([per_image(img) for img in images])
            else:
                pixels = processor(images=images, return_tensors="pt")["pixel_values"]
            return {"pixel_values": pixels, "labels": batch["label"]}

        return transform

    def preprocess(self, data, processor, model_config, augment_train: bool = True) -> dict[str, Any]:
        out = {}
        for split in ("train", "validation", "test"):
            ds = getattr(data, split)
            train = split == "train" and augment_train
            if ds is None:
                out[split] = None
            elif hasattr(ds, "with_transform"):
                out[split] = ds.with_transform(self.batch_transform(processor, train))
            else:  # a stream: transform as it is read
                out[split] = ds.map(self.batch_transform(processor, train), batched=True, remove_columns=["image", "label"])
        return out

    def collator(self, processor) -> Any:
        import torch

        def collate(examples: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "pixel_values": torch.stack([e["pixel_values"] for e in examples]),
                "labels": torch.tensor([e["labels"] for e in examples], dtype=torch.long),
            }

        return collate

    def inference_processor(self, folder) -> Any:
        from transformers import AutoImageProcessor

        return AutoImageProcessor.from_pretrained(folder)

    def inference_transform(self, processor):
        """Image → pixel tensor, as evaluation preprocesses it (runs in DataLoader workers: picklable state)."""
        return _EvalTransform(processor)


class _EvalTransform:
    """One image (any PIL mode) → the backbone's evaluation pixel tensor."""

    def __init__(self, processor):
        self.processor = processor
        self.per_image = getattr(processor, "val_transforms", None)  # timm backbones carry their own

    def __call__(self, image):
        image = to_rgb(image)
        if self.per_image is not None:
            return self.per_image(image)
        return self.processor(images=[image], return_tensors="pt")["pixel_values"][0]

