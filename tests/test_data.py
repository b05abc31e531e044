"""Data loading and preparation: every source, column mapping, split selection, label encoding,
carved validation splits and the errors a user sees when the data does not fit the recipe.

Everything goes through the public entry points: ``hf_transfer.load_recipe(dict)`` +
``hf_transfer.pipeline.load_data(recipe, dataset=...)``, and ``hf_transfer.train(..., dry_run=True)``.
No test touches the network (conftest sets HF_HUB_OFFLINE / HF_DATASETS_OFFLINE).
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

import hf_transfer
from helpers import COLORS, make_image, make_texts, text_recipe
from hf_transfer.errors import ConfigError, DataError, HfTransferError
from hf_transfer.pipeline import load_data

FORMATS = ("csv", "tsv", "json", "jsonl", "parquet")


# ---------------------------------------------------------------- helpers


@pytest.fixture(autouse=True, scope="module")
def _private_datasets_cache(tmp_path_factory):
    """Keep the `datasets` Arrow cache of this module out of ~/.cache and away from other runs."""
    mp = pytest.MonkeyPatch()
    mp.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf_datasets_cache"))
    yield
    mp.undo()


def recipe(data: dict, task: str = "text-classification", seed: int = 0, **training):
    """A validated recipe; the backbone is never resolved by load_data, so any name will do."""
    return hf_transfer.load_recipe(
        {
            "backbone": {"name_or_path": "unused-by-load-data"},
            "data": data,
            "task": {"name": task},
            "training": {"seed": seed, **training},
        }
    )


def rows_with(counts: dict, seed: int = 0) -> list[dict]:
    """Rows with unique texts and ``counts[label]`` rows per label, shuffled."""
    rows = [{"text": f"{label} example {i}", "label": label} for label, n in counts.items() for i in range(n)]
    random.Random(seed).shuffle(rows)
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    """Write rows in the format named by the file's suffix."""
    fmt = path.suffix[1:]
    if fmt in ("csv", "tsv"):
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t" if fmt == "tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "json":
        path.write_text(json.dumps(rows))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "parquet":
        Dataset.from_list(rows).to_parquet(str(path))
    else:
        raise ValueError(fmt)
    return path


def decoded(ds: Dataset, labels: list[str]) -> list[str]:
    """The label names of a prepared split, row by row."""
    return [labels[i] for i in ds["label"]]


def memory_dd(**splits: list[dict]) -> DatasetDict:
    return DatasetDict({name: Dataset.from_list(rows) for name, rows in splits.items()})


def image_dir(root: Path, per_class: int) -> Path:
    rng = random.Random(0)
    for name, color in COLORS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            make_image(color, rng, size=16).save(root / name / f"{i}.png")
    return root


# ---------------------------------------------------------------- source: files


@pytest.mark.parametrize("fmt", FORMATS)
def test_files_one_file_per_split(fmt, tmp_path):
    # Commas in the texts: a TSV must be split on tabs, a CSV must honour quoting.
    def rows(n, seed):
        return [{"text": r["text"].replace(" ", ", ", 1), "label": r["label"]} for r in make_texts(n, seed)]

    train, val, test = rows(6, 0), rows(2, 1), rows(3, 2)
    paths = {
        split: write_rows(tmp_path / f"{split}.{fmt}", r)
        for split, r in (("train", train), ("validation", val), ("test", test))
    }
    data = load_data(
        recipe(
            {
                "source": "files",
                "train_file": str(paths["train"]),
                "validation_file": str(paths["validation"]),
                "test_file": str(paths["test"]),
            }
        )
    )
    assert data.sizes() == {"train": 18, "validation": 6, "test": 9}
    assert data.labels == ["music", "science", "sports"]
    assert not data.validation_carved
    assert data.columns == {"text": "text", "label": "label"}
    for split, original in (("train", train), ("validation", val), ("test", test)):
        ds = getattr(data, split)
        assert ds.column_names == ["text", "label"]
        assert isinstance(ds.features["label"], ClassLabel) and ds.features["label"].names == data.labels
        assert ds["text"] == [r["text"] for r in original]
        assert decoded(ds, data.labels) == [r["label"] for r in original]


@pytest.mark.parametrize("fmt", ("csv", "jsonl", "parquet"))
def test_single_train_file_carves_a_stratified_validation_split(fmt, tmp_path):
    rows = rows_with({"a": 40, "b": 20, "c": 20})
    path = write_rows(tmp_path / f"train.{fmt}", rows)
    data = load_data(recipe({"source": "files", "train_file": str(path), "validation_size": 0.25}))
    assert data.validation_carved
    assert data.test is None
    assert data.sizes() == {"train": 60, "validation": 20}
    # Every class is in validation, in the proportion it has in the data (40:20:20 → 10:5:5).
    assert Counter(decoded(data.validation, data.labels)) == {"a": 10, "b": 5, "c": 5}
    assert Counter(decoded(data.train, data.labels)) == {"a": 30, "b": 15, "c": 15}
    # A partition of the data: nothing lost, nothing in both, labels still attached to their rows.
    assert not set(data.train["text"]) & set(data.validation["text"])
    pairs = set(zip(data.train["text"], decoded(data.train, data.labels))) | set(
        zip(data.validation["text"], decoded(data.validation, data.labels))
    )
    assert pairs == {(r["text"], r["label"]) for r in rows}
    assert any("carved" in n and "stratified" in n and "25%" in n for n in data.notes), data.notes


def test_carved_validation_is_deterministic_per_seed(tmp_path):
    path = write_rows(tmp_path / "train.csv", rows_with({"a": 30, "b": 30, "c": 30}))
    data = {"source": "files", "train_file": str(path), "validation_size": 0.2}
    first = load_data(recipe(data, seed=0))
    again = load_data(recipe(data, seed=0))
    other = load_data(recipe(data, seed=1))
    assert first.validation["text"] == again.validation["text"]
    assert first.train["text"] == again.train["text"]
    assert set(first.validation["text"]) != set(other.validation["text"])
    # Another seed is another draw, but still stratified.
    assert Counter(decoded(other.validation, other.labels)) == {"a": 6, "b": 6, "c": 6}
    assert any("seed 1" in n for n in other.notes)


@pytest.mark.parametrize("size, expected", [(0.1, 6), (0.25, 15), (0.5, 30)])
def test_validation_size_is_respected(size, expected):
    ds = Dataset.from_list(rows_with({"a": 20, "b": 20, "c": 20}))
    data = load_data(recipe({"source": "memory", "validation_size": size}), dataset=ds)
    assert data.sizes() == {"train": 60 - expected, "validation": expected}
    assert Counter(decoded(data.validation, data.labels)) == {k: expected // 3 for k in "abc"}


def test_validation_size_is_ignored_when_there_is_a_validation_split():
    dd = memory_dd(train=rows_with({"a": 10, "b": 10}), validation=rows_with({"a": 2, "b": 2}))
    data = load_data(recipe({"source": "memory", "validation_size": 0.5}), dataset=dd)
    assert data.sizes() == {"train": 20, "validation": 4}
    assert not data.validation_carved


@pytest.mark.parametrize("size", [0, 1, 1.5, -0.1])
def test_validation_size_out_of_range_is_a_config_error(size):
    with pytest.raises(ConfigError, match=r"validation_size.*between 0 and 1"):
        recipe({"source": "memory", "validation_size": size})


@pytest.mark.parametrize("missing", ["train", "validation"])
def test_files_path_that_does_not_exist(missing, tmp_path):
    present = write_rows(tmp_path / "present.csv", rows_with({"a": 3, "b": 3}))
    gone = tmp_path / "nope" / "gone.csv"
    files = {"train_file": str(present), "validation_file": str(present)}
    files[f"{missing}_file"] = str(gone)
    with pytest.raises(ConfigError) as err:  # found with the recipe's other problems, before any data is read
        recipe({"source": "files", **files})
    msg = str(err.value)
    assert f"data.{missing}_file" in msg and str(gone) in msg and "does not exist" in msg and "check the path" in msg


def test_files_relative_path_is_resolved_against_the_cwd(chdir_tmp):
    write_rows(chdir_tmp / "train.jsonl", rows_with({"a": 5, "b": 5}))
    rec = recipe({"source": "files", "train_file": "train.jsonl"})
    assert rec.data.options.train_file == str(chdir_tmp / "train.jsonl")
    assert sum(load_data(rec).sizes().values()) == 10


def test_files_with_unsupported_or_mixed_formats_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"train_file' must end in .csv.*found 'train.txt'"):
        recipe({"source": "files", "train_file": str(tmp_path / "train.txt")})
    with pytest.raises(ConfigError, match=r"one format, found csv, json"):
        recipe({"source": "files", "train_file": str(tmp_path / "t.csv"), "validation_file": str(tmp_path / "v.jsonl")})


def test_files_unreadable_file_is_a_data_error(tmp_path):
    path = tmp_path / "train.parquet"
    path.write_text("this is not parquet")
    with pytest.raises(DataError, match=r"could not read .*train.parquet as parquet"):
        load_data(recipe({"source": "files", "train_file": str(path)}))


# ---------------------------------------------------------------- source: imagefolder


def test_imagefolder_with_train_and_validation_folders(image_folder):
    from PIL import Image

    data = load_data(recipe({"source": "imagefolder", "data_dir": str(image_folder)}, task="image-classification"))
    assert data.labels == ["blue", "green", "red"]
    assert data.sizes() == {"train": 24, "validation": 9}
    assert not data.validation_carved
    assert data.columns == {"image": "image", "label": "label"}
    assert data.train.column_names == ["image", "label"]
    assert Counter(decoded(data.validation, data.labels)) == {"blue": 3, "green": 3, "red": 3}
    assert isinstance(data.validation[0]["image"], Image.Image)
    # The label is the folder's colour: every image's dominant colour matches its class.
    for row in data.validation:
        pixels = Counter(row["image"].convert("RGB").getdata())
        assert pixels.most_common(1)[0][0] == COLORS[data.labels[row["label"]]]


def test_imagefolder_flat_layout_carves_validation(tmp_path):
    root = image_dir(tmp_path / "flat", per_class=5)
    data = load_data(
        recipe({"source": "imagefolder", "data_dir": str(root), "validation_size": 0.2}, task="image-classification")
    )
    assert data.labels == ["blue", "green", "red"]
    assert data.validation_carved
    assert data.sizes() == {"train": 12, "validation": 3}
    assert Counter(decoded(data.validation, data.labels)) == {"blue": 1, "green": 1, "red": 1}


def test_imagefolder_data_dir_that_does_not_exist(tmp_path):
    missing = tmp_path / "no-images-here"
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "imagefolder", "data_dir": str(missing)}, task="image-classification"))
    msg = str(err.value)
    assert str(missing) in msg and "not a folder" in msg and "sub-folder of images per class" in msg


# ---------------------------------------------------------------- source: memory


def test_memory_dataset_is_the_train_split():
    ds = Dataset.from_list(rows_with({"x": 10, "y": 10}))
    data = load_data(recipe({"source": "memory", "validation_size": 0.2}), dataset=ds)
    assert data.validation_carved
    assert data.sizes() == {"train": 16, "validation": 4}
    assert data.labels == ["x", "y"]


def test_memory_dataset_dict_splits_are_used_as_given():
    dd = memory_dd(
        train=rows_with({"x": 6, "y": 6}), validation=rows_with({"x": 2, "y": 1}), test=rows_with({"x": 1, "y": 3})
    )
    data = load_data(recipe({"source": "memory"}), dataset=dd)
    assert data.sizes() == {"train": 12, "validation": 3, "test": 4}
    assert not data.validation_carved
    assert data.validation["text"] == dd["validation"]["text"]
    assert decoded(data.test, data.labels) == dd["test"]["label"]


def test_memory_plain_dict_of_datasets_is_accepted():
    dd = memory_dd(train=rows_with({"x": 4, "y": 4}), validation=rows_with({"x": 1, "y": 1}))
    data = load_data(recipe({"source": "memory"}), dataset=dict(dd))
    assert data.sizes() == {"train": 8, "validation": 2}


def test_memory_class_label_keeps_its_names_and_order():
    names = ["positive", "negative", "neutral"]  # deliberately not sorted
    features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    ids = [0, 1, 2, 2, 1, 0, 0, 1, 2, 1, 0, 2]
    train = Dataset.from_dict({"text": [f"t{i}" for i in range(len(ids))], "label": ids}, features=features)
    val = Dataset.from_dict({"text": ["v0", "v1", "v2"], "label": [2, 0, 1]}, features=features)
    data = load_data(recipe({"source": "memory"}), dataset=DatasetDict(train=train, validation=val))
    assert data.labels == names
    assert data.id2label == {0: "positive", 1: "negative", 2: "neutral"}
    assert data.label2id == {"positive": 0, "negative": 1, "neutral": 2}
    assert data.train["label"] == ids and data.validation["label"] == [2, 0, 1]
    assert data.train.features["label"].names == names


def test_memory_string_labels_are_discovered_in_sorted_order():
    rows = [{"text": f"t{i}", "label": lab} for i, lab in enumerate(["zebra", "apple", "mango"] * 4)]
    dd = memory_dd(train=rows, validation=[{"text": "v", "label": "mango"}, {"text": "w", "label": "zebra"}])
    data = load_data(recipe({"source": "memory"}), dataset=dd)
    assert data.labels == ["apple", "mango", "zebra"]
    assert data.train["label"] == [2, 0, 1] * 4
    assert data.validation["label"] == [1, 2]
    assert data.train.features["label"] == ClassLabel(names=["apple", "mango", "zebra"])


def test_memory_integer_labels_become_string_names_with_dense_ids():
    values = [9, 3, 7, 7, 3, 9, 3, 9, 7]
    dd = memory_dd(
        train=[{"text": f"t{i}", "label": v} for i, v in enumerate(values)], validation=[{"text": "v", "label": 7}]
    )
    data = load_data(recipe({"source": "memory"}), dataset=dd)
    assert data.labels == ["3", "7", "9"]
    assert data.label2id == {"3": 0, "7": 1, "9": 2}
    assert data.train["label"] == [{3: 0, 7: 1, 9: 2}[v] for v in values]
    assert data.validation["label"] == [1]


def test_memory_integer_labels_sort_numerically():
    dd = memory_dd(
        train=[{"text": f"t{i}", "label": v} for i, v in enumerate([10, 2, 10, 2])],
        validation=[{"text": "v", "label": 10}],
    )
    data = load_data(recipe({"source": "memory"}), dataset=dd)
    assert data.labels == ["2", "10"]
    assert data.validation["label"] == [1]


def test_memory_source_without_a_dataset():
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "memory"}))
    msg = str(err.value)
    assert "data.source is 'memory' but no dataset was given" in msg and "dataset=" in msg


def test_memory_source_with_something_that_is_not_a_dataset():
    with pytest.raises(DataError, match=r"Dataset, DatasetDict or IterableDataset\(Dict\), found list"):
        load_data(recipe({"source": "memory"}), dataset=[{"text": "a", "label": "x"}])


def test_dataset_passed_with_a_non_memory_source(tmp_path, backbones):
    path = write_rows(tmp_path / "train.csv", rows_with({"a": 5, "b": 5}))
    rec = {
        "backbone": {"name_or_path": str(backbones["bert"])},
        "data": {"source": "files", "train_file": str(path)},
        "task": {"name": "text-classification"},
        "training": {"output_dir": str(tmp_path / "out")},
    }
    with pytest.raises(HfTransferError) as err:
        hf_transfer.train(rec, dataset=Dataset.from_list(rows_with({"a": 5, "b": 5})), dry_run=True)
    msg = str(err.value)
    assert "data.source is 'files'" in msg and "set data.source=memory" in msg
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- source: hub


def test_hub_source_loads_through_datasets_with_id_config_and_revision(monkeypatch):
    calls = []
    dd = memory_dd(train=rows_with({"neg": 6, "pos": 6}), validation=rows_with({"neg": 2, "pos": 2}))

    def fake_load_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        return dd

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    rec = recipe({"source": "hub", "dataset": "someone/reviews", "config_name": "en", "revision": "v1.0"})
    data = load_data(rec)
    assert len(calls) == 1
    args, kwargs = calls[0]
    bound = dict(zip(("path", "name"), args)) | kwargs
    assert bound == {"path": "someone/reviews", "name": "en", "revision": "v1.0", "streaming": False}
    assert data.labels == ["neg", "pos"]
    assert data.sizes() == {"train": 12, "validation": 4}


def test_hub_source_offline_says_how_to_use_a_local_copy():
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "hub", "dataset": "someone/not-cached-anywhere"}))
    msg = str(err.value)
    assert "'someone/not-cached-anywhere' could not be loaded from the Hub" in msg
    assert "hf download --repo-type dataset someone/not-cached-anywhere --local-dir" in msg
    assert "data.source=files" in msg and "data.source=imagefolder" in msg


def test_hub_source_bad_config_name_is_a_data_error(monkeypatch):
    def fake_load_dataset(*args, **kwargs):
        raise ValueError("BuilderConfig 'xx' not found. Available: ['en', 'fr']")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    with pytest.raises(
        DataError, match=r"dataset 'someone/reviews': BuilderConfig 'xx' not found. Available: \['en', 'fr'\]"
    ):
        load_data(recipe({"source": "hub", "dataset": "someone/reviews", "config_name": "xx"}))


def test_hub_dataset_id_with_too_many_slashes_is_a_config_error():
    with pytest.raises(
        ConfigError, match=r"'data.dataset' must be a Hub dataset id like 'namespace/name', found 'a/b/c'"
    ):
        recipe({"source": "hub", "dataset": "a/b/c"})


# ---------------------------------------------------------------- column mapping


def test_columns_are_renamed_to_canonical_names_and_extras_dropped():
    rows = [{"id": i, "review": f"r{i}", "sentiment": ["bad", "good"][i % 2], "stars": i % 5} for i in range(10)]
    dd = memory_dd(train=rows, validation=rows[:4])
    data = load_data(recipe({"source": "memory", "columns": {"text": "review", "label": "sentiment"}}), dataset=dd)
    assert data.columns == {"text": "review", "label": "sentiment"}
    assert data.train.column_names == ["text", "label"]
    assert data.train["text"] == [r["review"] for r in rows]
    assert decoded(data.train, data.labels) == [r["sentiment"] for r in rows]


def test_text_pair_column_mapping():
    rows = [{"premise": f"p{i}", "hypothesis": f"h{i}", "gold": ["entail", "contradict"][i % 2]} for i in range(8)]
    dd = memory_dd(train=rows, validation=rows[:2])
    cols = {"text": "premise", "text_pair": "hypothesis", "label": "gold"}
    data = load_data(recipe({"source": "memory", "columns": cols}), dataset=dd)
    assert data.columns == cols
    assert sorted(data.train.column_names) == ["label", "text", "text_pair"]
    assert data.train["text"] == [r["premise"] for r in rows]
    assert data.train["text_pair"] == [r["hypothesis"] for r in rows]


def test_configured_column_wins_over_a_default_name():
    rows = [{"text": "WRONG", "body": f"b{i}", "label": "ab"[i % 2]} for i in range(6)]
    data = load_data(
        recipe({"source": "memory", "columns": {"text": "body"}}), dataset=memory_dd(train=rows, validation=rows[:2])
    )
    assert data.train["text"] == [r["body"] for r in rows]
    assert data.columns["text"] == "body"


@pytest.mark.parametrize(
    "text_col, label_col", [("text", "label"), ("sentence", "labels"), ("content", "label"), ("sentence1", "labels")]
)
def test_default_column_names_are_picked_automatically(text_col, label_col):
    rows = [{"idx": i, text_col: f"t{i}", label_col: "ab"[i % 2]} for i in range(6)]
    data = load_data(recipe({"source": "memory"}), dataset=memory_dd(train=rows, validation=rows[:2]))
    assert data.columns == {"text": text_col, "label": label_col}
    assert data.train.column_names == ["text", "label"]
    assert data.train["text"] == [r[text_col] for r in rows]


def test_configured_column_that_the_data_lacks():
    rows = [{"review": f"r{i}", "label": "ab"[i % 2]} for i in range(6)]
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "memory", "columns": {"text": "reveiw"}}), dataset=Dataset.from_list(rows))
    msg = str(err.value)
    assert "'data.columns.text' is 'reveiw'" in msg
    assert "the data has columns: review, label" in msg
    assert "did you mean 'review'" in msg and "set data.columns.text=" in msg


def test_configured_label_column_that_the_data_lacks():
    rows = [{"text": f"r{i}", "label": "ab"[i % 2]} for i in range(6)]
    with pytest.raises(DataError, match=r"'data.columns.label' is 'category', but the data has columns: text, label"):
        load_data(recipe({"source": "memory", "columns": {"label": "category"}}), dataset=Dataset.from_list(rows))


def test_no_label_column():
    rows = [{"text": f"r{i}", "category": "ab"[i % 2]} for i in range(6)]
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "memory"}), dataset=Dataset.from_list(rows))
    msg = str(err.value)
    assert "no label column found" in msg and "label or labels" in msg
    assert "the data has columns: text, category" in msg and "set data.columns.label=<column name>" in msg


def test_no_text_column():
    rows = [{"body": f"r{i}", "label": "ab"[i % 2]} for i in range(6)]
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "memory"}), dataset=Dataset.from_list(rows))
    msg = str(err.value)
    assert "no text column found" in msg and "text or sentence" in msg
    assert "the data has columns: body, label" in msg and "set data.columns.text=<column name>" in msg


def test_validation_split_lacking_a_train_column():
    dd = memory_dd(train=rows_with({"a": 3, "b": 3}), validation=[{"sentence": "v", "label": "a"}])
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "memory"}), dataset=dd)
    msg = str(err.value)
    assert "split 'validation' lacks column(s) text" in msg and "it has: sentence, label" in msg


# ---------------------------------------------------------------- split selection


FORTY = [{"text": f"t{i:02d}", "label": "ab"[i % 2]} for i in range(40)]


@pytest.mark.parametrize(
    "spec, rows",
    [
        ("train[:10]", range(0, 10)),
        ("train[:50%]", range(0, 20)),
        ("train[:-30]", range(0, 10)),
        ("train[10:]", range(10, 40)),
        ("train[25%:]", range(10, 40)),
        ("train[5:15]", range(5, 15)),
        ("train[-5:]", range(35, 40)),
        ("train[10%:20%]", range(4, 8)),
        ("train", range(0, 40)),
    ],
)
def test_train_split_slices(spec, rows):
    dd = memory_dd(train=FORTY, validation=FORTY[:4])
    data = load_data(recipe({"source": "memory", "train_split": spec}), dataset=dd)
    assert data.train["text"] == [FORTY[i]["text"] for i in rows]
    assert len(data.validation) == 4 and not data.validation_carved


def test_validation_split_slice_without_start():
    dd = memory_dd(train=FORTY, validation=FORTY)
    data = load_data(recipe({"source": "memory", "validation_split": "validation[:5]"}), dataset=dd)
    assert data.validation["text"] == [r["text"] for r in FORTY[:5]]


def test_sliced_train_without_validation_carves_from_the_slice():
    data = load_data(
        recipe({"source": "memory", "train_split": "train[20:]", "validation_size": 0.25}),
        dataset=Dataset.from_list(FORTY),
    )
    assert data.sizes() == {"train": 15, "validation": 5}
    assert set(data.train["text"]) | set(data.validation["text"]) == {r["text"] for r in FORTY[20:]}


def test_split_that_does_not_exist_lists_the_splits():
    dd = memory_dd(train=FORTY, validation=FORTY[:4])
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "memory", "train_split": "trian[:10]"}), dataset=dd)
    msg = str(err.value)
    assert "'data.train_split' names split 'trian'" in msg
    assert "the data has splits: train, validation" in msg and "did you mean 'train'" in msg


def test_validation_split_that_does_not_exist_lists_the_splits():
    dd = memory_dd(train=FORTY, dev=FORTY[:4])
    with pytest.raises(
        DataError, match=r"'data.validation_split' names split 'validaton', but the data has splits: train, dev"
    ):
        load_data(recipe({"source": "memory", "validation_split": "validaton"}), dataset=dd)


@pytest.mark.parametrize("spec", ["train[1:2:3]", "train[a:b]", "train validation", ""])
def test_malformed_split_spec(spec):
    with pytest.raises(DataError, match=r"'data.train_split' must be a split name with an optional slice"):
        load_data(recipe({"source": "memory", "train_split": spec}), dataset=memory_dd(train=FORTY))


def test_slice_that_leaves_nothing():
    with pytest.raises(DataError, match=r"split 'train' is empty after slicing; check data.train_split"):
        load_data(
            recipe({"source": "memory", "train_split": "train[10:5]"}),
            dataset=memory_dd(train=FORTY, validation=FORTY[:2]),
        )


@pytest.mark.parametrize("spec", ["train[40:]", "train[100:200]", "train[100%:]"])
def test_slice_starting_at_the_end_leaves_nothing(spec):
    with pytest.raises(DataError, match=r"split 'train' is empty after slicing; check data.train_split"):
        load_data(
            recipe({"source": "memory", "train_split": spec}), dataset=memory_dd(train=FORTY, validation=FORTY[:2])
        )


@pytest.mark.parametrize("name", ["validation", "valid", "val", "dev"])
def test_validation_split_is_found_by_its_usual_names(name):
    dd = memory_dd(train=FORTY, **{name: FORTY[:6]})
    data = load_data(recipe({"source": "memory"}), dataset=dd)
    assert not data.validation_carved
    assert data.validation["text"] == [r["text"] for r in FORTY[:6]]
    assert len(data.train) == 40


def test_validation_is_preferred_over_dev():
    dd = memory_dd(train=FORTY, dev=FORTY[:2], validation=FORTY[:6])
    assert len(load_data(recipe({"source": "memory"}), dataset=dd).validation) == 6


def test_explicit_validation_split():
    dd = memory_dd(train=FORTY, validation=FORTY[:2], heldout=FORTY[:8])
    data = load_data(recipe({"source": "memory", "validation_split": "heldout"}), dataset=dd)
    assert len(data.validation) == 8 and not data.validation_carved


def test_test_split_is_used_when_present():
    dd = memory_dd(train=FORTY, validation=FORTY[:4], test=FORTY[:6])
    data = load_data(recipe({"source": "memory"}), dataset=dd)
    assert data.sizes() == {"train": 40, "validation": 4, "test": 6}
    assert data.test.column_names == ["text", "label"]
    assert decoded(data.test, data.labels) == [r["label"] for r in FORTY[:6]]


def test_explicit_test_split():
    dd = memory_dd(train=FORTY, validation=FORTY[:4], final=FORTY[:3])
    data = load_data(recipe({"source": "memory", "test_split": "final"}), dataset=dd)
    assert data.sizes() == {"train": 40, "validation": 4, "test": 3}


def test_test_split_is_not_used_when_training_on_it():
    dd = memory_dd(train=FORTY[:4], test=FORTY)
    data = load_data(recipe({"source": "memory", "train_split": "test", "validation_size": 0.25}), dataset=dd)
    assert data.test is None
    assert data.sizes() == {"train": 30, "validation": 10}


def test_test_split_without_label_column_is_skipped_with_a_note():
    dd = memory_dd(train=FORTY, validation=FORTY[:4], test=[{"text": "unlabelled 1"}, {"text": "unlabelled 2"}])
    data = load_data(recipe({"source": "memory"}), dataset=dd)
    assert data.test is None
    assert "test" not in data.sizes()
    assert any("test split has no labels" in n for n in data.notes), data.notes


def test_test_split_with_unlabelled_class_label_rows_is_skipped_with_a_note():
    features = Features({"text": Value("string"), "label": ClassLabel(names=["a", "b"])})
    train = Dataset.from_dict(
        {"text": [r["text"] for r in FORTY], "label": [i % 2 for i in range(40)]}, features=features
    )
    test = Dataset.from_dict({"text": ["x", "y", "z"], "label": [-1, -1, -1]}, features=features)
    data = load_data(
        recipe({"source": "memory"}), dataset=DatasetDict(train=train, validation=train.select(range(4)), test=test)
    )
    assert data.test is None
    assert any("test split has no labels" in n for n in data.notes), data.notes


def test_explicit_test_split_without_labels_is_an_error():
    dd = memory_dd(train=FORTY, validation=FORTY[:4], test=[{"text": "u"}])
    with pytest.raises(DataError, match=r"split 'test' lacks column\(s\) label"):
        load_data(recipe({"source": "memory", "test_split": "test"}), dataset=dd)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_files_test_file_without_labels_is_skipped_with_a_note(fmt, tmp_path):
    train = write_rows(tmp_path / f"train.{fmt}", rows_with({"a": 6, "b": 6}))
    test = write_rows(tmp_path / f"test.{fmt}", [{"text": "unlabelled 1"}, {"text": "unlabelled 2"}])
    data = load_data(recipe({"source": "files", "train_file": str(train), "test_file": str(test)}))
    assert data.test is None
    assert any("test split has no labels" in n for n in data.notes), data.notes


# ---------------------------------------------------------------- label errors


def test_single_class():
    rows = [{"text": f"t{i}", "label": "only"} for i in range(8)]
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "memory"}), dataset=Dataset.from_list(rows))
    msg = str(err.value)
    assert "label column 'label' has a single class (only) in train" in msg
    assert "at least two classes" in msg and "data.columns.label" in msg and "data.train_split" in msg


def test_single_class_names_the_label_column_from_the_recipe():
    rows = [{"text": f"t{i}", "topic": "only", "label": "ab"[i % 2]} for i in range(8)]
    with pytest.raises(DataError, match=r"label column 'topic' has a single class \(only\)"):
        load_data(recipe({"source": "memory", "columns": {"label": "topic"}}), dataset=Dataset.from_list(rows))


def test_single_class_after_slicing():
    rows = [{"text": f"t{i}", "label": "a" if i < 20 else "b"} for i in range(40)]
    with pytest.raises(DataError, match=r"single class \(b\)"):
        load_data(
            recipe({"source": "memory", "train_split": "train[20:]"}),
            dataset=memory_dd(train=rows, validation=rows[-2:]),
        )


def test_single_class_message_names_the_class_present_with_class_label():
    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    ds = Dataset.from_dict({"text": [f"t{i}" for i in range(6)], "label": [1] * 6}, features=features)
    with pytest.raises(DataError, match=r"single class \(pos\)"):
        load_data(recipe({"source": "memory"}), dataset=ds)


def test_validation_labels_unseen_in_train():
    dd = memory_dd(
        train=rows_with({"a": 4, "b": 4}), validation=[{"text": "v1", "label": "c"}, {"text": "v2", "label": "a"}]
    )
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "memory"}), dataset=dd)
    msg = str(err.value)
    assert "split 'validation' has labels that never occur in train: c" in msg
    assert "every class must have training examples" in msg


def test_test_labels_unseen_in_train():
    dd = memory_dd(
        train=rows_with({"a": 4, "b": 4}), validation=rows_with({"a": 1, "b": 1}), test=[{"text": "t", "label": "zz"}]
    )
    with pytest.raises(DataError, match=r"split 'test' has labels that never occur in train: zz"):
        load_data(recipe({"source": "memory"}), dataset=dd)


def test_missing_labels_in_memory_data():
    rows = [{"text": f"t{i}", "label": "ab"[i % 2]} for i in range(8)] + [{"text": "t8", "label": None}]
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "memory"}), dataset=Dataset.from_list(rows))
    msg = str(err.value)
    assert "split 'train' has rows with no label" in msg and "fill or drop them" in msg


def test_missing_labels_in_a_validation_csv(tmp_path):
    train = write_rows(tmp_path / "train.csv", rows_with({"a": 4, "b": 4}))
    val = write_rows(tmp_path / "val.csv", [{"text": "v1", "label": "a"}, {"text": "v2", "label": ""}])
    with pytest.raises(DataError, match=r"split 'validation' has rows with no label"):
        load_data(recipe({"source": "files", "train_file": str(train), "validation_file": str(val)}))


def test_missing_labels_as_class_label_minus_one_in_train():
    features = Features({"text": Value("string"), "label": ClassLabel(names=["a", "b"])})
    ds = Dataset.from_dict({"text": [f"t{i}" for i in range(8)], "label": [0, 1, 0, 1, -1, 0, 1, 0]}, features=features)
    with pytest.raises(DataError, match=r"no label"):
        load_data(recipe({"source": "memory"}), dataset=ds)


@pytest.mark.parametrize("values", [[0.5, 1.5, 0.5, 1.5], [0.0, 1.0, 1.0, 0.0]])
def test_float_labels(values):
    rows = [{"text": f"t{i}", "label": v} for i, v in enumerate(values)]
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "memory"}), dataset=Dataset.from_list(rows))
    msg = str(err.value)
    assert "labels must be class names (strings) or class ids (integers), found float value" in msg
    assert "split 'train'" in msg


def test_bool_labels():
    rows = [{"text": f"t{i}", "label": bool(i % 2)} for i in range(6)]
    with pytest.raises(DataError, match=r"found bool value"):
        load_data(recipe({"source": "memory"}), dataset=Dataset.from_list(rows))


def test_labels_mixing_strings_and_integers_across_splits():
    dd = memory_dd(train=rows_with({"a": 3, "b": 3}), validation=[{"text": "v", "label": 1}])
    with pytest.raises(DataError, match=r"mixes strings and integers"):
        load_data(recipe({"source": "memory"}), dataset=dd)


# ---------------------------------------------------------------- train(dry_run=True)


def test_dry_run_returns_sizes_and_labels_and_writes_nothing(backbones, text_files, tmp_path):
    out = tmp_path / "run" / "out"
    rec = text_recipe(backbones["bert"], text_files, out)
    rec["data"]["test_file"] = str(text_files["test"])
    result = hf_transfer.train(rec, dry_run=True)
    assert result.dry_run
    assert result.labels == ["music", "science", "sports"]
    assert result.data_sizes == {"train": 48, "validation": 12, "test": 12}
    assert result.metrics == {}
    assert result.output_dir == out
    assert not out.exists() and not out.parent.exists()


def test_dry_run_reports_a_carved_validation_split(backbones, text_files, tmp_path):
    out = tmp_path / "out"
    rec = text_recipe(backbones["distilbert"], text_files, out)
    del rec["data"]["validation_file"]
    rec["data"]["validation_size"] = 0.25
    result = hf_transfer.train(rec, dry_run=True)
    assert result.data_sizes == {"train": 36, "validation": 12}
    assert any("carved" in n for n in result.notes), result.notes
    assert not out.exists()


def test_dry_run_with_an_in_memory_dataset_and_no_data_section(backbones, tmp_path):
    out = tmp_path / "out"
    dd = memory_dd(train=rows_with({"neg": 8, "pos": 8}), validation=rows_with({"neg": 2, "pos": 2}))
    rec = {
        "backbone": {"name_or_path": str(backbones["bert"])},
        "task": {"name": "text-classification"},
        "training": {"output_dir": str(out)},
    }
    result = hf_transfer.train(rec, dataset=dd, dry_run=True)
    assert result.recipe.data.source == "memory"
    assert result.labels == ["neg", "pos"]
    assert result.data_sizes == {"train": 16, "validation": 4}
    assert not out.exists()


def test_dry_run_image_folder(backbones, image_folder, tmp_path):
    out = tmp_path / "out"
    rec = {
        "backbone": {"name_or_path": str(backbones["vit"])},
        "data": {"source": "imagefolder", "data_dir": str(image_folder)},
        "task": {"name": "image-classification"},
        "training": {"output_dir": str(out)},
    }
    result = hf_transfer.train(rec, dry_run=True)
    assert result.labels == ["blue", "green", "red"]
    assert result.data_sizes == {"train": 24, "validation": 9}
    assert not out.exists()


def test_dry_run_surfaces_data_errors_before_writing(backbones, tmp_path):
    out = tmp_path / "out"
    rec = {
        "backbone": {"name_or_path": str(backbones["bert"])},
        "data": {"source": "files", "train_file": str(tmp_path / "missing.csv")},
        "task": {"name": "text-classification"},
        "training": {"output_dir": str(out)},
    }
    with pytest.raises(ConfigError, match=r"missing.csv' does not exist"):
        hf_transfer.train(rec, dry_run=True)
    assert not out.exists()


def test_carving_that_leaves_train_a_single_class_is_refused(tmp_path):
    path = write_rows(tmp_path / "train.jsonl", rows_with({"a": 1, "b": 1}))
    with pytest.raises(DataError) as err:
        load_data(recipe({"source": "files", "train_file": str(path)}))
    msg = str(err.value)
    assert "from the 2 training rows leaves 1 row of a single class" in msg and "data.validation_file" in msg
