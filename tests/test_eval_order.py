"""Evaluation and prediction inside training run longest text first and give everything back in dataset order.

Under length-grouped training (the text tasks' default) Trainer's evaluation and prediction passes batch the
texts sorted by length (:class:`hf_transfer.trainer.LengthSortedSampler`); the predictions and labels come back
in dataset order, equal to a pass in dataset order, with the pass's real-token fraction in the metrics.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from hf_transfer.trainer import LengthSortedSampler


def test_real_token_fraction_matches_a_hand_count():
    sampler = LengthSortedSampler([5, 3, 9, 2, 7], batch_size=2)
    assert list(sampler) == [2, 4, 0, 1, 3]  # 9, 7, 5, 3, 2
    # batches (9, 7), (5, 3), (2): 26 real tokens of 2·9 + 2·5 + 1·2 = 30 computed
    assert sampler.real_token_fraction == pytest.approx(26 / 30)
    ties = LengthSortedSampler([4, 6, 4, 6], batch_size=3)
    assert list(ties) == [1, 3, 0, 2]  # equal lengths keep dataset order
    assert ties.real_token_fraction == pytest.approx(20 / (3 * 6 + 4))


def _dataset(tokenizer, rows: int, seed: int, tags: bool = False):
    from datasets import Dataset

    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "river", "stone", "cloud", "green"]
    texts = [[rng.choice(words) for _ in range(rng.randint(1, 30))] for _ in range(rows)]
    enc = tokenizer(texts, is_split_into_words=True, truncation=True, max_length=64)
    if tags:
        labels = [[-100 if w is None else w % 3 for w in enc.word_ids(i)] for i in range(rows)]
    else:
        labels = [i % 2 for i in range(rows)]
    return Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels})


def _trainer(model, tokenizer, dataset, tmp_path, sorted_eval: bool, tags: bool):
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding, TrainingArguments

    from hf_transfer.tasks.text_classification import TextClassification
    from hf_transfer.trainer import TransferTrainer

    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_eval_batch_size=4,
        per_device_train_batch_size=4,
        report_to=[],
        use_cpu=True,
        train_sampling_strategy="group_by_length" if sorted_eval else "random",
    )
    collate = DataCollatorForTokenClassification(tokenizer) if tags else DataCollatorWithPadding(tokenizer)
    return TransferTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collate,
        processing_class=tokenizer,
        input_lengths=TextClassification().input_lengths,
    )


@pytest.mark.parametrize("tags", [False, True], ids=["sequence", "tokens"])
def test_length_sorted_prediction_is_in_dataset_order_and_equal_to_the_sequential_pass(backbones, tmp_path, tags):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

    from hf_transfer.trainer import _sampler_of

    tokenizer = AutoTokenizer.from_pretrained(backbones["bert"])
    auto = AutoModelForTokenClassification if tags else AutoModelForSequenceClassification
    torch.manual_seed(0)
    model = auto.from_pretrained(backbones["bert"], num_labels=3).eval()
    dataset = _dataset(tokenizer, rows=23, seed=3, tags=tags)

    sorted_run = _trainer(model, tokenizer, dataset, tmp_path / "a", sorted_eval=True, tags=tags)
    loader = sorted_run.get_test_dataloader(dataset)
    sampler = _sampler_of(loader)
    assert isinstance(sampler, LengthSortedSampler)
    lengths = [len(ids) for ids in dataset["input_ids"]]
    assert [lengths[i] for i in sampler.order] == sorted(lengths, reverse=True)
    got = sorted_run.predict(dataset, metric_key_prefix="test")
    plain = _trainer(model, tokenizer, dataset, tmp_path / "b", sorted_eval=False, tags=tags)
    assert _sampler_of(plain.get_test_dataloader(dataset)) is None
    want = plain.predict(dataset, metric_key_prefix="test")

    np.testing.assert_array_equal(got.label_ids, want.label_ids)  # the same rows in the same (dataset) order
    assert got.predictions.shape == want.predictions.shape
    # per token: positions past a text's end hold what its batch padded with (pad logits or -100), so compare
    # the labelled positions
    scored = got.label_ids != -100 if tags else slice(None)
    np.testing.assert_allclose(got.predictions[scored], want.predictions[scored], atol=1e-5)
    if not tags:  # per token, Trainer's loss is a mean of batch means: it depends on which texts share a batch
        assert got.metrics["test_loss"] == pytest.approx(want.metrics["test_loss"], abs=1e-5)

    # the fraction the metrics report is the hand count over the batches of 4 the sorted pass made
    ordered = sorted(lengths, reverse=True)
    padded = sum(max(ordered[i : i + 4]) * len(ordered[i : i + 4]) for i in range(0, len(ordered), 4))
    assert got.metrics["test_real_token_fraction"] == pytest.approx(sum(lengths) / padded, abs=1e-4)
    in_order = sum(max(lengths[i : i + 4]) * len(lengths[i : i + 4]) for i in range(0, len(lengths), 4))
    assert sum(lengths) / padded > sum(lengths) / in_order  # sorting computed less padding than dataset order
    assert "test_real_token_fraction" not in want.metrics


def test_the_training_order_reads_arrow_lengths_equal_to_transformers_count(backbones, tmp_path):
    """The lengths read from Arrow are the ones transformers would count row by row, and the order built from
    transformers' own count (its fallback path) is the very same."""
    import numpy as np
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer

    from hf_transfer.trainer import LengthGroupedBatches

    tokenizer = AutoTokenizer.from_pretrained(backbones["bert"])
    model = AutoModelForSequenceClassification.from_pretrained(backbones["bert"], num_labels=2)
    dataset = _dataset(tokenizer, rows=40, seed=5)
    ours = _trainer(model, tokenizer, dataset, tmp_path, sorted_eval=True, tags=False)
    sampler = ours._get_train_sampler()
    theirs = Trainer._get_train_sampler(ours)  # transformers' LengthGroupedSampler, lengths counted row by row
    assert isinstance(sampler, LengthGroupedBatches)
    assert sampler.lengths.tolist() == list(theirs.lengths)
    fallback = LengthGroupedBatches(theirs.batch_size, theirs.lengths, ours.args.seed)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        fallback.set_epoch(epoch)
        assert list(sampler) == list(fallback)
        assert sorted(sampler) == list(np.arange(40))


@pytest.mark.parametrize(
    "setting", ["eval_do_concat_batches", "dataloader_drop_last", "length_column"], ids=lambda s: s
)
def test_where_sorting_cannot_be_undone_the_pass_runs_in_dataset_order(backbones, tmp_path, setting):
    """Per-batch predictions (eval_do_concat_batches false) or a dropped last batch could not be put back in
    order: those passes run in dataset order (transformers' own choice would shuffle them); a dataset with a
    length column is sorted by it."""
    from torch.utils.data import SequentialSampler
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_transfer.trainer import _sampler_of

    tokenizer = AutoTokenizer.from_pretrained(backbones["bert"])
    model = AutoModelForSequenceClassification.from_pretrained(backbones["bert"], num_labels=2)
    dataset = _dataset(tokenizer, rows=12, seed=4)
    trainer = _trainer(model, tokenizer, dataset, tmp_path, sorted_eval=True, tags=False)
    if setting == "length_column":
        lengths = [(7 * i) % 12 for i in range(12)]
        sampler = trainer._get_eval_sampler(dataset.add_column("length", lengths))
        assert isinstance(sampler, LengthSortedSampler)
        assert [lengths[i] for i in sampler] == sorted(lengths, reverse=True)
        return
    if setting == "eval_do_concat_batches":
        trainer.args.eval_do_concat_batches = False
    else:
        trainer.args.dataloader_drop_last = True
    assert type(trainer._get_eval_sampler(dataset)) is SequentialSampler
    assert _sampler_of(trainer.get_test_dataloader(dataset)) is None
