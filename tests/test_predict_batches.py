"""How predict and evaluate cut length-sorted texts into batches (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

import hf_transfer.inference as inference
from hf_transfer.errors import HfTransferError
from hf_transfer.inference import check_batch_size, length_batches, rows_per_batch


def test_an_explicit_batch_size_cuts_the_length_order_into_batches_of_that_many_rows():
    lengths = [9, 3, 7, 3, 12, 1, 5]
    batches = length_batches(list(range(7)), lengths, 3)
    assert batches == [[5, 1, 3], [6, 2, 0], [4]]  # shortest first, ties in input order


def test_the_default_fills_a_batch_up_to_the_token_budget_and_at_least_the_minimum_rows(monkeypatch):
    monkeypatch.setattr(inference, "BATCH_TOKENS", 20)
    monkeypatch.setattr(inference, "MIN_BATCH_ROWS", 2)
    lengths = [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 9, 9, 9, 15, 30]
    positions = [100 + i for i in range(len(lengths))]  # chunk positions, not 0..n-1
    batches = length_batches(positions, lengths, None)
    assert [p for batch in batches for p in batch] == positions  # already in length order
    widths = [max(lengths[p - 100] for p in batch) for batch in batches]
    assert [len(b) for b in batches] == [10, 5, 2, 2, 2, 1]
    assert widths == [2, 4, 4, 9, 15, 30]
    assert all(len(b) * w <= 20 or len(b) <= 2 for b, w in zip(batches, widths))
    assert rows_per_batch(None, 30) == 2 and rows_per_batch(None, 0) == 20 and rows_per_batch(7, 30) == 7


def test_nothing_to_batch_gives_no_batches():
    assert length_batches([], [], None) == [] and length_batches([], [], 4) == []


@pytest.mark.parametrize("bad", [0, -3, True, 2.5, "8"])
def test_a_batch_size_that_is_not_a_positive_whole_number_is_refused(bad):
    with pytest.raises(HfTransferError, match=r"batch_size must be 1 or more \(rows per batch\), or None"):
        check_batch_size(bad)
    check_batch_size(None)
    check_batch_size(1)
    check_batch_size(np.int64(8))  # a numpy integer is a whole number too
