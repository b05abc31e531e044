"""Task ``text-classification``: single-label classification of a text or a text pair."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..registry import TASKS
from ..schema import field
from . import ClassificationTask

logger = logging.getLogger(__name__)
MAX_LENGTH_CAP = 512


@TASKS.register("text-classification")
@dataclass
class TextClassification(ClassificationTask):
    max_length: int | None = field(
        None, help="truncate inputs to this many tokens (default: the backbone's limit, at most 512)"
    )

    pipeline_tag = "text-classification"
    modality = "text"
    auto_class_name = "AutoModelForSequenceClassification"
    head_model_class = "HfTransferForSequenceClassification"
    peft_task_type = "SEQ_CLS"
    card_example = '"This is an example text."'
    processor_argument = "tokenizer"
    processor_auto_class = "AutoTokenizer"
    peft_auto_class = "AutoPeftModelForSequenceClassification"
    roles = {"text": (("text", "sentence", "content", "sentence1"), True), "text_pair": ((), False)}

    def validate(self, prefix: str) -> list[str]:
        problems = super().validate(prefix)
        if self.max_length is not None and self.max_length < 2:
            problems.append(f"'{prefix}.max_length' must be at least 2, found {self.max_length}")
        return problems

    def load_processor(self, backbone) -> Any:
        from transformers import AutoTokenizer

        self.check_backbone(backbone)
        return AutoTokenizer.from_pretrained(backbone.location, **backbone.load_kwargs())

    def resolved_max_length(self, tokenizer, model_config) -> int:
        limits = [self.max_length or MAX_LENGTH_CAP, tokenizer.model_max_length or MAX_LENGTH_CAP]
        positions = getattr(model_config, "max_position_embeddings", None)
        if positions:
            # RoBERTa-style models reserve padding_idx + 1 positions.
            offset = (
                (getattr(model_config, "pad_token_id", None) or 0) + 1
                if model_config.model_type in ("roberta", "xlm-roberta", "camembert")
                else 0
            )
            limits.append(positions - offset)
        return int(min(limits))

    def preprocess(self, data, processor, model_config, augment_train: bool = True) -> dict[str, Any]:
        max_length = self.resolved_max_length(processor, model_config)
        has_pair = "text_pair" in data.columns

        def tokenize(batch):
            pair = batch["text_pair"] if has_pair else None
            # Dynamic padding: pad per batch in the collator, not to max_length here.
            return processor(batch["text"], pair, truncation=True, max_length=max_length)

        out = {}
        for split in ("train", "validation", "test"):
            ds = getattr(data, split)
            if ds is None:
                out[split] = None
                continue
            drop = [role for role in data.columns if role != "label"]  # columns carry their role names
            progress = {"desc": f"tokenizing {split}"} if hasattr(ds, "__len__") else {}  # streams have no bar
            ds = ds.map(tokenize, batched=True, remove_columns=drop, **progress)
            out[split] = ds.rename_column("label", "labels")
        return out

    def training_defaults(self) -> dict[str, Any]:
        # Batches of similar lengths: with dynamic padding, little compute goes to padding.
        return {"train_sampling_strategy": "group_by_length"}

    def input_lengths(self, dataset) -> list[int]:
        import pyarrow.compute as pc

        # Arrow list lengths: no Python list per example (the arrow format follows select/shuffle indices).
        return pc.list_value_length(dataset.with_format("arrow")["input_ids"]).to_pylist()

    def training_stats(self, args, train_dataset) -> dict[str, float]:
        """Fraction of real (non-padding) tokens in the first epoch's training batches (the order
        ``TransferTrainer`` trains in: seeded, so this is the very batches of epoch 1 on one process)."""
        import torch

        from ..trainer import LengthGroupedBatches, training_seed

        lengths = self.input_lengths(train_dataset)
        batch = args.per_device_train_batch_size
        if args.train_sampling_strategy == "group_by_length":
            order = list(LengthGroupedBatches(batch * args.gradient_accumulation_steps, lengths, training_seed(args)))
        else:
            order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(args.seed)).tolist()
        real = padded = 0
        for start in range(0, len(order), batch):
            chunk = [lengths[i] for i in order[start : start + batch]]
            real += sum(chunk)
            padded += max(chunk) * len(chunk)
        return {"train_real_token_fraction": real / max(padded, 1)}

    def collator(self, processor) -> Any:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(processor)

    def inference_processor(self, folder) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(folder)

    def encode_for_inference(self, processor, model_config, payloads: list[dict[str, Any]]) -> dict[str, Any]:
        """A padded batch of inputs as in training (same truncation), from texts (and text pairs)."""
        return dict(self._tokenize(processor, model_config, payloads, padding=True, return_tensors="pt"))

    def inference_lengths(self, processor, model_config, payloads: list[dict[str, Any]]) -> list[int]:
        """Tokens per example after truncation, as :meth:`encode_for_inference` encodes it."""
        return [len(ids) for ids in self._tokenize(processor, model_config, payloads)["input_ids"]]

    def _tokenize(self, processor, model_config, payloads: list[dict[str, Any]], **kwargs) -> Any:
        texts = [p["text"] for p in payloads]
        pairs = [p["text_pair"] for p in payloads] if "text_pair" in payloads[0] else None
        max_length = self.resolved_max_length(processor, model_config)
        return processor(texts, pairs, truncation=True, max_length=max_length, **kwargs)
