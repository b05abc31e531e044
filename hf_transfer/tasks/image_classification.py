"""Task ``image-classification``: single-label classification of images.

Train-time augmentation is what the recipe says (``crop_scale``, ``horizontal_flip``, ``color_jitter``)
at the backbone's input size, interpolation and mean/std, built by the backbone's own library (timm or
torchvision; see :mod:`.augmentation`); evaluation uses the backbone's own image processor unchanged
(resize/center-crop as it was pretrained). Transforms run lazily (``with_transform``), so with
``dataloader_num_workers`` > 0 they run in DataLoader workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import BackboneError
from ..registry import TASKS
from ..schema import field
from ..strategies import Default
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


# Defaults chosen from the training-set size (``crop_scale: auto`` and the fine-tuning epochs), measured on two
# real small image sets with an ImageNet EfficientNet-Lite0 (benchmarks/README.md, "Vision defaults by data size").
SMALL_IMAGE_SET = 5_000  # fewer training images than this: "small data"
SMALL_DATA_CROP = [0.35, 1.0]  # a random crop keeps at least a third of the image
STANDARD_CROP = [0.08, 1.0]  # timm's and torchvision's ImageNet range
MIN_FINE_TUNING_STEPS = 300  # optimizer steps a fine-tuned backbone gets at least, by default
MAX_AUTO_EPOCHS = 20


@TASKS.register("image-classification")
@dataclass
class ImageClassification(ClassificationTask):
    augment: bool = field(True, help="random resized crop (and flip, colour jitter) on training images")
    crop_scale: list[float] | Literal["auto"] = field(
        "auto",
        help=f"area range of the random resized crop, e.g. [0.08, 1.0]; auto: {SMALL_DATA_CROP} under "
        f"{SMALL_IMAGE_SET:,} training images, else {STANDARD_CROP}",
    )
    horizontal_flip: bool = field(True, help="flip training images left-right at random")
    color_jitter: float = field(
        0.0, help="random brightness, contrast and saturation change, e.g. 0.4 (timm's); 0: none"
    )

    pipeline_tag = "image-classification"
    modality = "image"
    auto_class_name = "AutoModelForImageClassification"
    head_model_class = "HfTransferForImageClassification"
    peft_task_type = None  # peft has no image-classification TaskType: its generic wrapper
    card_example = '"image.jpg"'
    processor_argument = "image_processor"
    processor_auto_class = "AutoImageProcessor"
    peft_auto_class = None  # peft has no AutoPeftModelForImageClassification
    preprocessing_version = 2  # 2: transparency composited onto white (to_rgb)
    roles = {"image": (("image", "img", "pixel_values"), True)}

    def validate(self, prefix: str) -> list[str]:
        problems = super().validate(prefix)
        lo_hi = self.crop_scale
        if lo_hi != "auto" and (len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1] <= 1):
            problems.append(
                f"'{prefix}.crop_scale' must be auto or [low, high] with 0 < low <= high <= 1 (fractions "
                f"of the image area), found {lo_hi}; e.g. {prefix}.crop_scale=[0.08, 1.0], or remove it "
                "for auto (chosen from the training-set size)"
            )
        if self.color_jitter < 0:
            problems.append(
                f"'{prefix}.color_jitter' must be 0 (none) or more, found {self.color_jitter}; e.g. "
                f"{prefix}.color_jitter=0.4 (timm's ImageNet recipe)"
            )
        return problems

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

    def crop_scale_for(self, train_rows: int | None) -> tuple[list[float], str]:
        """The crop range training uses and why: the recipe's, or with ``auto`` one chosen from the training-set
        size (None: unknown, a stream)."""
        if self.crop_scale != "auto":
            return list(self.crop_scale), "set in the recipe"
        if train_rows is not None and train_rows < SMALL_IMAGE_SET:
            return list(SMALL_DATA_CROP), (
                f"auto: {train_rows:,} training images (under {SMALL_IMAGE_SET:,}): gentler crops keep most of each "
                "image; ImageNet's 8%-100% crops are too strong to learn from a few images per class in a few epochs"
            )
        size = f"{train_rows:,} training images" if train_rows is not None else "training-set size unknown (streamed)"
        return list(STANDARD_CROP), f"auto: {size}: timm's and torchvision's ImageNet range"

    def size_defaults(
        self, train_rows: int | None, global_batch: int, planned: dict[str, Default], adapts_backbone: bool
    ) -> dict[str, Default]:
        """Training values chosen from the training-set size, over the strategy's (``planned``): a fine-tuned
        backbone gets at least ~MIN_FINE_TUNING_STEPS optimizer steps, so small image sets get more epochs."""
        epochs = planned.get("num_train_epochs")
        if not adapts_backbone or train_rows is None or epochs is None or train_rows < 1:
            return {}
        steps_per_epoch = math.ceil(train_rows / max(global_batch, 1))
        wanted = min(MAX_AUTO_EPOCHS, math.ceil(MIN_FINE_TUNING_STEPS / steps_per_epoch))
        if wanted <= epochs.value:
            return {}
        return {
            "num_train_epochs": Default(
                wanted,
                (
                    f"{train_rows:,} training images make {steps_per_epoch} steps per epoch at batch {global_batch}: "
                    f"{wanted} epochs give the backbone {wanted * steps_per_epoch} optimizer steps (the strategy's {epochs.value} would give {epochs.value * steps_per_epoch}; small image sets want "
                    f"more passes, capped at {MAX_AUTO_EPOCHS})"
                ),
            )
        }

    def augmentation(
        self, processor, backbone: str = "", augment_train: bool = True, train_rows: int | None = None
    ) -> dict[str, Any]:
        """The augmentation training images get, as the run records it; ConfigError when this backbone's
        processor cannot take it."""
        if not self.augment:
            return dict(NO_AUGMENTATION)
        resolved = self._resolved(processor, backbone, train_rows)  # checked even when unused: preprocess() builds it
        if not augment_train:
            return dict(NO_AUGMENTATION)
        return {**resolved.as_dict(), "crop_scale_reason": self.crop_scale_for(train_rows)[1]}

    def _resolved(self, processor, backbone: str = "", train_rows: int | None = None) -> Augmentation:
        crop_scale, _ = self.crop_scale_for(train_rows)
        return resolve(processor, crop_scale, self.horizontal_flip, self.color_jitter, backbone)

    def train_transform(self, processor, train_rows: int | None = None) -> Any:
        """The per-image transform of training images: the recipe's augmentation, or with ``augment: false``
        the evaluation one (None where that is the processor called on a batch: transformers processors)."""
        if self.augment:
            return self._resolved(processor, train_rows=train_rows).transform()
        return getattr(processor, "val_transforms", None)  # timm processors carry their eval transform

    def batch_transform(self, processor, train: bool, train_rows: int | None = None):
        """A ``with_transform`` function turning raw images into ``pixel_values``."""
        import torch

        per_image = self.train_transform(processor, train_rows) if train else getattr(processor, "val_transforms", None)

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
            transform = self.batch_transform(processor, train, data.train_rows)
            if ds is None:
                out[split] = None
            elif hasattr(ds, "with_transform"):
                out[split] = ds.with_transform(transform)
            else:  # a stream: transform as it is read
                out[split] = ds.map(transform, batched=True, remove_columns=["image", "label"])
        return out

    def collator(self, processor) -> Any:
        import torch

        def collate(examples: list[dict[str, Any]]) -> dict[str, Any]:
            labels = torch.tensor([e["labels"] for e in examples])
            return {
                "pixel_values": torch.stack([e["pixel_values"] for e in examples]),
                # class ids; multi-hot rows (several labels per image) stay float
                "labels": labels if labels.is_floating_point() else labels.long(),
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
