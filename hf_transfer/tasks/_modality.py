"""For tasks whose modality follows the backbone (regression; multi-label's twin): text or image preprocessing.

A task that takes text or images alike (``regression``) declares the preprocessing options of both
(``max_length``; ``augment``, ``crop_scale``, ``horizontal_flip``, ``color_jitter``) and mixes this class in
before :class:`~hf_transfer.tasks.Task`: once the backbone is known (``check_backbone``) it binds to
``text-classification``'s or ``image-classification``'s preprocessing, collator, defaults and declarations
(``pipeline_tag``, ``auto_class_name``, …), and delegates to them. Not a plugin (the leading underscore keeps
the registry from importing it as one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BackboneError, DataError
from .image_classification import ImageClassification
from .text_classification import TextClassification

TEXT_ROLES = TextClassification.roles
IMAGE_ROLES = ImageClassification.roles


class FollowsBackbone:
    """Mixin: bind to the text or image preprocessing of the backbone's modality, and delegate to it."""

    def __post_init__(self) -> None:
        self._delegate: TextClassification | ImageClassification | None = None

    @property
    def modality(self) -> str | None:
        return None if self._delegate is None else self._delegate.modality

    @property
    def roles(self) -> dict[str, tuple[tuple[str, ...], bool]]:
        """Before the backbone is known: a text or an image column, whichever the data has."""
        if self._delegate is not None:
            return self._delegate.roles
        return {
            **{role: (names, False) for role, (names, _) in TEXT_ROLES.items()},
            **{role: (names, False) for role, (names, _) in IMAGE_ROLES.items()},
        }

    @property
    def pipeline_tag(self) -> str:
        return TextClassification.pipeline_tag if self._delegate is None else self._delegate.pipeline_tag

    def bind(self, modality: str) -> TextClassification | ImageClassification:
        """Use the preprocessing of ``modality`` ("text" or "image") from now on."""
        if self._delegate is None or self._delegate.modality != modality:
            if modality == TextClassification.modality:
                self._delegate = TextClassification(max_length=self.max_length)
            else:
                self._delegate = ImageClassification(
                    augment=self.augment,
                    crop_scale=self.crop_scale,
                    horizontal_flip=self.horizontal_flip,
                    color_jitter=self.color_jitter,
                )
        return self._delegate

    @property
    def delegate(self) -> TextClassification | ImageClassification:
        if self._delegate is None:
            raise RuntimeError(f"{self.name}: the backbone's modality is not known yet (check_backbone)")
        return self._delegate

    def modality_problems(self, prefix: str) -> list[str]:
        """The preprocessing options' problems (text and image alike: the modality is not known yet)."""
        problems = []
        if self.max_length is not None and self.max_length < 2:
            problems.append(f"'{prefix}.max_length' must be at least 2, found {self.max_length}")
        image = ImageClassification(crop_scale=self.crop_scale, color_jitter=self.color_jitter)
        return problems + [p for p in image.validate(prefix) if "class_weights" not in p]

    def check_backbone(self, backbone) -> None:
        from ..backbone import _folder_files, config_modality

        config = backbone.config.to_dict() if backbone.config is not None else {}
        modality = config_modality(config)
        if modality is None and backbone.is_local:
            modality = config_modality(*_folder_files(Path(backbone.location)))
        if modality is None:
            raise BackboneError(
                f"backbone '{backbone.reference}' (model_type '{backbone.model_type}'): task "
                f"'{self.name}' follows the backbone's modality, and this one is neither clearly a text model "
                "(vocab_size) nor an image model (num_channels); use a text or an image backbone"
            )
        self.bind(modality)

    def inapplicable_options(self) -> set[str]:
        """With a text backbone the image keys, with an image backbone ``max_length`` (nothing before binding)."""
        if self._delegate is None:
            return set()
        if self._delegate.modality == TextClassification.modality:
            return {"augment", "crop_scale", "horizontal_flip", "color_jitter"}
        return {"max_length"}

    def check_data(self, data) -> None:
        role = "text" if self.modality == TextClassification.modality else "image"
        if role not in data.columns:
            names = (TEXT_ROLES if role == "text" else IMAGE_ROLES)[role][0]
            raise DataError(
                f"the backbone is {'a text' if role == 'text' else 'an image'} model, but the data has no {role} "
                f"column: expected one named {' or '.join(names)}, found columns: "
                f"{', '.join(data.train.column_names)}; set data.columns.{role}=<column name>"
            )

    # --- delegated preprocessing ---------------------------------------------------------------------------

    def auto_model_class(self) -> type:
        return self.delegate.auto_model_class()

    def load_processor(self, backbone) -> Any:
        self.check_backbone(backbone)
        return self.delegate.load_processor(backbone)

    def preprocess(self, data, processor, model_config, augment_train: bool = True) -> dict[str, Any]:
        return self.delegate.preprocess(data, processor, model_config, augment_train)

    def collator(self, processor) -> Any:
        return self.delegate.collator(processor)

    def size_defaults(self, train_rows, global_batch, planned, adapts_backbone) -> dict[str, Any]:
        return self.delegate.size_defaults(train_rows, global_batch, planned, adapts_backbone)

    def augmentation(self, processor, backbone: str = "", augment_train: bool = True, train_rows=None):
        return self.delegate.augmentation(processor, backbone, augment_train, train_rows)

    def training_stats(self, args, train_dataset) -> dict[str, float]:
        return self.delegate.training_stats(args, train_dataset)

    def input_lengths(self, dataset) -> list[int] | None:
        return self.delegate.input_lengths(dataset)

    def inference_lengths(self, processor, model_config, payloads: list[dict[str, Any]]) -> list[int]:
        return self.delegate.inference_lengths(processor, model_config, payloads)

    def inference_processor(self, folder) -> Any:
        import json

        config = json.loads((Path(folder) / "config.json").read_text())
        architectures = config.get("architectures") or []
        image = any(a.endswith(ImageClassification.auto_class_name.removeprefix("AutoModel")) for a in architectures)
        self.bind(ImageClassification.modality if image else TextClassification.modality)
        return self.delegate.inference_processor(folder)

    def __getattr__(self, name: str) -> Any:
        """Other modality hooks and declarations (``encode_for_inference``, ``auto_class_name``, …) are the
        delegate's."""
        delegate = self.__dict__.get("_delegate")
        if name.startswith("_") or delegate is None:
            raise AttributeError(name)
        return getattr(delegate, name)
