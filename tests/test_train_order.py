"""The training order of length-grouped batches (``hf_transfer.trainer.LengthGroupedBatches``)."""

from __future__ import annotations

import random

import pytest

from hf_transfer.trainer import LengthGroupedBatches


def _batches(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def _real_fraction(order: list[int], lengths: list[int], size: int) -> float:
    batches = _batches(order, size)
    return sum(lengths[i] for b in batches for i in b) / sum(max(lengths[i] for i in b) * len(b) for b in batches)


def _lengths(n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [min(64, max(3, int(rng.lognormvariate(3.3, 0.6)))) for _ in range(n)]


def test_every_epoch_is_a_permutation_and_reproducible_from_seed_and_epoch():
    lengths = _lengths(333)
    sampler = LengthGroupedBatches(16, lengths, seed=7)
    orders = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        order = list(sampler)
        assert sorted(order) == list(range(333)) and len(sampler) == 333
        again = LengthGroupedBatches(16, lengths, seed=7)
        again.set_epoch(epoch)
        assert list(again) == order  # a resumed run sees the very order of the run it continues
        orders.append(order)
    assert orders[0] != orders[1] != orders[2]
    other_seed = LengthGroupedBatches(16, lengths, seed=8)
    assert list(other_seed) != orders[0]


def test_batches_of_one_megabatch_hold_disjoint_length_ranges():
    """Sorted before it is cut: no two batches of a dataset under 50 batches interleave in length, so no batch
    holds a text much shorter than another batch could have taken."""
    lengths = _lengths(40 * 16)
    for epoch in range(3):
        sampler = LengthGroupedBatches(16, lengths, seed=1)
        sampler.set_epoch(epoch)
        ranges = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in _batches(list(sampler), 16))
        for (_, high), (low, _) in zip(ranges, ranges[1:], strict=False):
            assert high <= low


def test_megabatches_of_50_batches_on_larger_datasets():
    lengths = _lengths(120 * 8)
    sampler = LengthGroupedBatches(8, lengths, seed=3)
    batches = sampler.batches()
    assert len(batches) == 120 and all(len(b) == 8 for b in batches)
    for b in batches:
        assert [lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True)


def test_less_padding_than_transformers_on_a_small_dataset():
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    lengths = _lengths(512)
    ours = _real_fraction(list(LengthGroupedBatches(32, lengths, seed=0)), lengths, 32)
    theirs = _real_fraction(
        list(LengthGroupedSampler(32, lengths=lengths, generator=torch.Generator().manual_seed(0))), lengths, 32
    )
    assert ours > 0.93 and ours > theirs + 0.04, (ours, theirs)


def test_batch_order_is_shuffled_longest_batch_first_partial_batch_last():
    lengths = _lengths(10 * 32 + 5)
    positions = []
    for epoch in range(4):
        sampler = LengthGroupedBatches(32, lengths, seed=11)
        sampler.set_epoch(epoch)
        batches = _batches(list(sampler), 32)
        assert max(lengths[i] for i in batches[0]) == max(lengths[i] for b in batches[:-1] for i in b)
        assert len(batches[-1]) == 5 and all(len(b) == 32 for b in batches[:-1])
        # (the DataLoader cuts the stream again: a partial batch anywhere else would misalign every later batch)
        maxima = [max(lengths[i] for i in b) for b in batches[1:-1]]
        assert maxima != sorted(maxima, reverse=True)  # not longest to shortest
        positions.append(maxima)
    assert positions[0] != positions[1]


def test_texts_of_equal_length_meet_in_new_batches_every_epoch():
    lengths = [10] * 64
    sampler = LengthGroupedBatches(8, lengths, seed=0)
    first = {frozenset(b) for b in _batches(list(sampler), 8)}
    sampler.set_epoch(1)
    second = {frozenset(b) for b in _batches(list(sampler), 8)}
    assert first != second


@pytest.mark.parametrize("n", [0, 1, 5])
def test_tiny_datasets(n):
    sampler = LengthGroupedBatches(8, [4] * n, seed=0)
    assert sorted(sampler) == list(range(n))


def test_training_stats_count_the_batches_the_trainer_trains_on():
    """The recorded real-token fraction is the first epoch's, from the very sampler the trainer builds."""
    from datasets import Dataset
    from transformers import TrainingArguments

    from hf_transfer.tasks.text_classification import TextClassification
    from hf_transfer.trainer import TransferTrainer

    lengths = _lengths(200, seed=4)
    ds = Dataset.from_dict({"input_ids": [[1] * n for n in lengths], "labels": [0] * 200})
    args = TrainingArguments(
        output_dir="unused",
        per_device_train_batch_size=16,
        train_sampling_strategy="group_by_length",
        seed=5,
        report_to="none",
        use_cpu=True,
    )
    task = TextClassification()
    trainer = TransferTrainer(
        model=__import__("torch").nn.Linear(1, 1), args=args, train_dataset=ds, input_lengths=task.input_lengths
    )
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthGroupedBatches)
    want = _real_fraction(list(sampler), lengths, 16)
    assert task.training_stats(args, ds)["train_real_token_fraction"] == pytest.approx(want)
    assert want > 0.9
