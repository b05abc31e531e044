"""data.streaming: IterableDataset training with declared labels, max_steps, and sharding across processes."""

from __future__ import annotations

import json

import pytest

import hf_transfer
from helpers import text_recipe
from hf_transfer.errors import ConfigError, DataError


def _streaming(backbones, text_files, out, **data):
    recipe = text_recipe(backbones["bert"], text_files, out)
    recipe["data"].update(streaming=True, labels=["music", "science", "sports"], **data)
    return recipe


def test_streamed_files_train_and_save_a_model(backbones, text_files, tmp_path):
    from transformers import pipeline

    result = hf_transfer.train(_streaming(backbones, text_files, tmp_path / "out"))
    assert result.labels == ["music", "science", "sports"]
    assert "train" not in result.data_sizes and result.data_sizes["validation"] == 12
    assert any("streamed" in note for note in result.notes)
    assert result.metrics["train_global_step"] == 3 if "train_global_step" in result.metrics else True
    clf = pipeline("text-classification", model=str(tmp_path / "out"), device="cpu")
    assert clf("goal team")[0]["label"] in result.labels
    report = json.loads((tmp_path / "out" / "training_report.json").read_text())
    assert sum(map(sum, report["reports"]["eval"]["confusion_matrix"])) == 12


def test_streamed_in_memory_iterable_dataset(backbones, tmp_path):
    from datasets import Dataset, IterableDatasetDict

    rows = [{"text": "goal team", "label": "a"}, {"text": "atom gene", "label": "b"}] * 8
    ds = IterableDatasetDict(
        {
            "train": Dataset.from_list(rows).to_iterable_dataset(),
            "validation": Dataset.from_list(rows[:4]).to_iterable_dataset(),
        }
    )
    recipe = text_recipe(backbones["bert"], {"train": "-", "validation": "-"}, tmp_path / "out")
    recipe["data"] = {"source": "memory", "streaming": True, "labels": ["a", "b"]}
    result = hf_transfer.train(recipe, dataset=ds)
    assert result.labels == ["a", "b"] and result.data_sizes == {"validation": 4}


def test_streaming_needs_max_steps_and_no_feature_cache(backbones, text_files, tmp_path):
    recipe = _streaming(backbones, text_files, tmp_path / "out")
    del recipe["training"]["max_steps"]
    recipe["strategy"] = {"name": "frozen"}
    with pytest.raises(ConfigError) as err:
        hf_transfer.load_recipe(recipe)
    assert "training.max_steps must be set" in str(err.value) and "strategy.cache_features=false" in str(err.value)
    assert len(err.value.problems) == 2


def test_streaming_without_label_names_says_how_to_give_them(backbones, text_files, tmp_path):
    recipe = _streaming(backbones, text_files, tmp_path / "out")
    del recipe["data"]["labels"]
    with pytest.raises(DataError, match=r"label names are unknown .* data\.labels: \[name, \.\.\.\]"):
        hf_transfer.train(recipe)
    assert not (tmp_path / "out").exists()


def test_streamed_label_not_declared(backbones, text_files, tmp_path):
    recipe = _streaming(backbones, text_files, tmp_path / "out")
    recipe["data"]["labels"] = ["music", "science"]
    with pytest.raises(DataError, match=r"label 'sports' in the streamed data is not in data.labels"):
        hf_transfer.train(recipe)


def test_streaming_needs_a_validation_split(backbones, text_files, tmp_path):
    recipe = _streaming(backbones, text_files, tmp_path / "out")
    del recipe["data"]["validation_file"]
    with pytest.raises(DataError, match="streamed data needs a validation split"):
        hf_transfer.train(recipe)


def test_streamed_splits_are_sharded_across_processes(backbones, text_files, tmp_path):
    """Each of two processes reads a disjoint half of the stream: every example once per pass."""
    from datasets.distributed import split_dataset_by_node

    from hf_transfer.pipeline import load_data

    data = load_data(hf_transfer.load_recipe(_streaming(backbones, text_files, tmp_path / "out")))
    whole = [r["text"] for r in data.train]
    parts = [[r["text"] for r in split_dataset_by_node(data.train, rank=r, world_size=2)] for r in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(whole) and len(whole) == 48
    assert not set(parts[0]) & set(parts[1]) or len(set(whole)) < len(whole)
