"""The CoNLL reader: layouts users bring, and one clear error for a malformed file."""

from __future__ import annotations

import pytest

from hf_transfer.data._conll import read_conll
from hf_transfer.errors import DataError


def test_two_and_four_column_layouts(tmp_path):
    two = tmp_path / "wikiann.txt"
    two.write_text("Paris\tB-LOC\nis\tO\n\n\nAda B-PER\nLovelace I-PER\n")  # no final blank line; two blanks
    assert read_conll(two) == [
        {"tokens": ["Paris", "is"], "tags": ["B-LOC", "O"]},
        {"tokens": ["Ada", "Lovelace"], "tags": ["B-PER", "I-PER"]},
    ]
    four = tmp_path / "conll2003.txt"
    four.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n")
    assert read_conll(four) == [{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}]
    assert read_conll(four, tag_column=1) == [{"tokens": ["EU", "rejects"], "tags": ["NNP", "VBZ"]}]


@pytest.mark.parametrize(
    "content, message",
    [
        ("Paris B-LOC\nis\n", "line 2: expected 'word tag'"),
        ("\n\n-DOCSTART- O\n", "no sentence found"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "bad.conll"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_conll(path)
    path.write_bytes(b"caf\xe9 O\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_conll(path)
