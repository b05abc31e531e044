"""Task ``image-classification``: single-label classification of images.

Train-time augmentation is a random resized crop to the backbone's input size and
a horizontal flip, normalised with the backbone's own mean/std; evaluation uses
the backbone's own image processor unchanged (resize/center-crop as it was
pretrained). timm backbones use timm's own train and eval transforms.
Transforms run lazily (``with_transform``), so with ``dataloader_num_workers`` > 0
they run in DataLoader workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..registry import TASKS
from ..schema import field
from . import ClassificationTask


def _output_size(processor) -> tuple[int, int]:
    """Height and width of the tensors the backbone's processor produces."""
    size = processor.crop_size if getattr(processor, "do_center_crop", False) and getattr(processor, "crop_size", None) else processor.size
    size = dict(size) if not isinstance(size, int) else {"height": size, "width": size}
    if size.get("height") and size.get("width"):
        return int(size["height"]), int(size["width"])
    edge = size.get("shortest_edge") or size.get("longest_edge")
    return int(edge), int(edge)


def to_rgb(img) -> Any:
    """An RGB copy of any PIL image: 16-bit greyscale is scaled to 8 bits (a plain convert would clip
    it to white) and palette images with transparency go through RGBA (as PIL asks)."""
    if img.mode.startswith("I;16"):
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")


@TASKS.register("image-classification")
@dataclass
class ImageClassification(ClassificationTask):
    augment: bool = field(True, help="random resized crop and horizontal flip on training images")
    crop_scale: list[float] = field([0.08, 1.0], help="area range of the random resized crop")
    horizontal_flip: bool = field(True, help="flip training images left-right at random")

    pipeline_tag = "image-classification"
    modality = "image"
    roles = {"image": (("image", "img", "pixel_values"), True)}

    def validate(self, prefix: str) -> list[str]:
        problems = super().validate(prefix)
        lo_hi = self.crop_scale
        if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1] <= 1:
            problems.append(f"'{prefix}.crop_scale' must be [low, high] with 0 < low <= high <= 1, found {lo_hi}")
        return problems

    def auto_model_class(self) -> type:
        from transformers import AutoModelForImageClassification

        return AutoModelForImageClassification

    def load_processor(self, backbone) -> Any:
        from transformers import AutoImageProcessor

        self.check_backbone(backbone)
        return AutoImageProcessor.from_pretrained(backbone.location, **backbone.load_kwargs())

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

    def _train_transform(self, processor):
        if hasattr(processor, "train_transforms"):  # timm backbones carry timm's own pipeline
            return processor.train_transforms if self.augment else processor.val_transforms
        if not self.augment:
            return None
        from torchvision.transforms import v2

        import torch

        steps = [v2.RandomResizedCrop(_output_size(processor), scale=tuple(self.crop_scale), antialias=True)]
        if self.horizontal_flip:
            steps.append(v2.RandomHorizontalFlip())
        steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
        if getattr(processor, "do_normalize", True):
            steps.append(v2.Normalize(mean=list(processor.image_mean), std=list(processor.image_std)))
        return v2.Compose(steps)

    def batch_transform(self, processor, train: bool):
        """A ``with_transform`` function turning raw images into ``pixel_values``."""
        import torch

        per_image = self._train_transform(processor) if train else getattr(processor, "val_transforms", None)

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
