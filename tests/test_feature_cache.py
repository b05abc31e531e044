"""The frozen-backbone feature cache: hits, misses on every fingerprint component, and exact artifacts."""

from __future__ import annotations

import json
import logging
import os
import shutil

import pytest
import torch

import hf_transfer
from helpers import TEXT_CLASSES, image_recipe, text_recipe
from hf_transfer import features

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))


def _frozen(backbone, text_files, out, **strategy):
    recipe = text_recipe(backbone, text_files, out)
    recipe["strategy"] = {"name": "frozen", "pooling": "native", **strategy}  # these tests read the BERT classifier
    recipe["training"].update(max_steps=4, learning_rate=5e-2)
    return recipe


def _cache_info(out):
    return json.loads((out / "training_report.json").read_text())["strategy"]["feature_cache"]


def test_cached_head_model_is_complete_and_matches_the_head_on_cached_features(backbones, text_files, tmp_path):
    from datasets import Dataset
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "out"
    recipe = _frozen(backbones["bert"], text_files, out)
    recipe["training"]["precision"] = "fp32"  # the backbone pass in full precision, as the pipeline below runs it
    result = hf_transfer.train(recipe)
    info = _cache_info(out)
    assert {info["train"]["hit"], info["validation"]["hit"]} == {False}
    assert info["train"]["rows"] == result.data_sizes["train"]
    assert "eval-time preprocessing" in info["preprocessing"]
    assert info["seconds"] > 0 and result.metrics["train_feature_cache_seconds"] == info["seconds"]
    assert any(
        "features cached" in note for note in json.loads((out / "training_report.json").read_text())["data_notes"]
    )

    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    original = AutoModel.from_pretrained(backbones["bert"])
    for name, tensor in original.state_dict().items():
        assert torch.equal(model.bert.state_dict()[name], tensor), f"frozen backbone weight {name} changed"

    # pipeline-style inference on the validation texts == the trained head applied to the cached features
    texts = [json.loads(line)["text"] for line in text_files["validation"].read_text().splitlines()]
    tok = AutoTokenizer.from_pretrained(out)
    with torch.no_grad():
        logits = model(**tok(texts, return_tensors="pt", padding=True)).logits
        entry = next(e for e in features.list_entries() if e["key"] == info["validation"]["key"])
        cached = Dataset.from_file(f"{entry['path']}/{features.DATA}").with_format("torch")
        from_cache = model.classifier(cached[:]["features"])
    assert torch.allclose(logits, from_cache, atol=1e-4)


def test_second_run_reuses_the_cache_and_changes_that_alter_features_miss_it(backbones, text_files, tmp_path):
    base = _frozen(backbones["bert"], text_files, tmp_path / "a")
    hf_transfer.train(base)

    # different head hyper-parameters and epochs: every split hits
    again = _frozen(backbones["bert"], text_files, tmp_path / "b", head_learning_rate=1e-2)
    again["training"].update(max_steps=2, learning_rate=1e-2)
    hf_transfer.train(again)
    info = _cache_info(tmp_path / "b")
    assert info["train"]["hit"] and info["validation"]["hit"]

    # preprocessing: a different max_length
    longer = _frozen(backbones["bert"], text_files, tmp_path / "c")
    longer["task"]["max_length"] = 8
    hf_transfer.train(longer)
    assert not _cache_info(tmp_path / "c")["train"]["hit"]

    # backbone weights: same folder layout, one tensor changed
    from transformers import AutoModel

    changed = tmp_path / "bert-changed"
    shutil.copytree(backbones["bert"], changed)
    model = AutoModel.from_pretrained(changed)
    with torch.no_grad():
        model.embeddings.word_embeddings.weight[5] += 1.0
    model.save_pretrained(changed)
    hf_transfer.train(_frozen(changed, text_files, tmp_path / "d"))
    assert not _cache_info(tmp_path / "d")["validation"]["hit"]

    # data: another training file misses for train only
    other = dict(text_files)
    other["train"] = tmp_path / "train2.jsonl"
    other["train"].write_text("\n".join(text_files["train"].read_text().splitlines()[:-3]) + "\n")
    hf_transfer.train(_frozen(backbones["bert"], other, tmp_path / "e"))
    info = _cache_info(tmp_path / "e")
    assert not info["train"]["hit"] and info["validation"]["hit"]

    # head input: mean pooling instead of the native pooler
    hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "f", pooling="mean"))
    assert not _cache_info(tmp_path / "f")["train"]["hit"]

    keys = {e["key"] for e in features.list_entries()}
    assert len(keys) == 2 + 2 + 2 + 1 + 2  # a/b share, c, d, e(train), f


def test_augmented_views_are_cached_per_training_image(backbones, image_folder, tmp_path):
    recipe = image_recipe(backbones["vit"], image_folder, tmp_path / "out")
    recipe["strategy"] = {"name": "frozen", "cache_augmented_views": 3}
    result = hf_transfer.train(recipe)
    info = _cache_info(tmp_path / "out")
    assert info["train"]["rows"] == 3 * result.data_sizes["train"]
    assert info["validation"]["rows"] == result.data_sizes["validation"]
    assert "3 augmented views" in info["preprocessing"]
    entry = next(e for e in features.list_entries() if e["key"] == info["train"]["key"])
    from datasets import Dataset

    rows = Dataset.from_file(f"{entry['path']}/{features.DATA}").with_format("torch")[:]["features"]
    n = result.data_sizes["train"]
    assert not torch.allclose(rows[:n], rows[n : 2 * n]), "views must differ"


@pytest.mark.parametrize("kind", ["resnet", "timm"])
def test_cache_with_pooled_feature_maps_and_timm(kind, backbones, image_folder, tmp_path):
    recipe = image_recipe(backbones[kind], image_folder, tmp_path / "out")
    recipe["strategy"] = {"name": "frozen"}
    hf_transfer.train(recipe)
    assert _cache_info(tmp_path / "out")["train"]["rows"] > 0


def test_head_that_reads_more_than_one_vector_trains_without_cache(backbones, text_files, tmp_path):
    # DistilBERT's own head is pre_classifier → ReLU → classifier: two modules, so nothing single to cache.
    result = hf_transfer.train(_frozen(backbones["distilbert"], text_files, tmp_path / "out", pooling="native"))
    assert "feature_cache" not in result.strategy.details
    assert features.list_entries() == []


def test_cache_can_be_switched_off(backbones, text_files, tmp_path):
    result = hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "out", cache_features=False))
    assert "feature_cache" not in result.strategy.details and features.list_entries() == []


def test_remove_entries(backbones, text_files, tmp_path):
    hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "out"))
    entries = features.list_entries()
    assert len(entries) == 2 and all(e["bytes"] > 0 and e["feature_dim"] == 32 for e in entries)
    assert features.remove_entries([entries[0]["key"]]) == [entries[0]["key"]]
    assert [e["key"] for e in features.list_entries()] == [entries[1]["key"]]
    assert features.remove_entries(None) == [entries[1]["key"]] and features.list_entries() == []


def test_cache_command_lists_and_removes(backbones, text_files, tmp_path, capsys):
    from hf_transfer import cli

    hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "out"))
    capsys.readouterr()
    assert cli.main(["cache", "ls"]) == 0
    listing = capsys.readouterr().out
    keys = [e["key"] for e in features.list_entries()]
    assert "2 entries" in listing and all(k in listing for k in keys) and "validation" in listing
    assert cli.main(["cache", "rm", "nope"]) == 1 and "no cache entry nope" in capsys.readouterr().err
    assert cli.main(["cache", "rm"]) == 1
    assert cli.main(["cache", "rm", keys[0]]) == 0 and [e["key"] for e in features.list_entries()] == keys[1:]
    leftover = features.cache_dir() / f"{keys[1]}.tmp-somehost-123"  # what a killed run leaves
    leftover.mkdir()
    assert cli.main(["cache", "rm", "--all"]) == 0 and features.list_entries() == []
    assert list(features.cache_dir().iterdir()) == []


def _dead_pid():
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


def test_cache_ls_shows_killed_builds_and_damage_and_rm_all_removes_them(backbones, text_files, tmp_path, capsys):
    import socket

    from hf_transfer import cli

    hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "out"))
    info = _cache_info(tmp_path / "out")
    host, pid = socket.gethostname(), _dead_pid()
    leftover = features.cache_dir() / f"{info['train']['key']}.tmp-{host}-{pid}"  # what a killed build leaves
    leftover.mkdir()
    (leftover / features.DATA).write_bytes(b"\0" * 3 * 2**20)
    data = features.cache_dir() / info["validation"]["key"] / features.DATA
    size = data.stat().st_size
    data.write_bytes(data.read_bytes()[:100])
    capsys.readouterr()

    assert cli.main(["cache", "ls"]) == 0
    listing = capsys.readouterr().out
    assert "(2 entries, 1 left by unfinished builds)" in listing
    assert f"  {leftover.name}  incomplete (killed build, pid {pid} on host {host})       3.0 MiB" in listing
    assert f"DAMAGED: data file has 100 bytes, expected {size:,}" in listing
    assert [e["build"] for e in features.list_entries() if e["kind"] == "leftover"] == ["killed"]

    assert cli.main(["cache", "rm", "--all"]) == 0
    assert "removed 2 cache entries and 1 left by unfinished builds" in capsys.readouterr().out
    assert list(features.cache_dir().iterdir()) == []


def test_a_leftover_of_a_running_build_is_kept_and_others_are_removed_by_name(tmp_path, capsys):
    import socket

    from hf_transfer import cli

    running = features.cache_dir() / f"{'a' * 24}.tmp-{socket.gethostname()}-{os.getpid()}"  # this process: alive
    killed = features.cache_dir() / f"{'b' * 24}.tmp-{socket.gethostname()}-{_dead_pid()}"
    elsewhere = features.cache_dir() / f"{'c' * 24}.tmp-other-host.example-77"
    for folder in (running, killed, elsewhere):
        folder.mkdir(parents=True)
    assert cli.main(["cache", "ls"]) == 0
    listing = capsys.readouterr().out
    assert f"incomplete (build in progress, pid {os.getpid()} on host {socket.gethostname()})" in listing
    assert "incomplete (unfinished build, pid 77 on host other-host.example: another host" in listing

    assert cli.main(["cache", "rm", killed.name]) == 0 and not killed.exists()
    assert "removed 0 cache entries and 1 left by unfinished builds" in capsys.readouterr().out
    assert cli.main(["cache", "rm", "--all"]) == 0
    assert f"kept {running.name}: in use (build in progress" in capsys.readouterr().out
    assert [p.name for p in features.cache_dir().iterdir()] == [running.name]
    assert cli.main(["cache", "rm", running.name]) == 0 and running.exists()


def test_an_incomplete_entry_is_replaced(backbones, text_files, tmp_path):
    hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "a"))
    entry = next(features.cache_dir().iterdir())
    (entry / features.META).unlink()  # a damaged entry (removed by hand, a full disk …) is not a hit
    hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "b"))
    assert (entry / features.META).is_file() and len(features.list_entries()) == 2


def _model_and_scores(out):
    from safetensors.torch import load_file

    metrics = json.loads((out / "metrics.json").read_text())
    scores = {k: v for k, v in metrics.items() if k.endswith(("_loss", "_accuracy", "_f1"))}
    return load_file(out / "model.safetensors"), scores


def _damage(data, how):
    raw = data.read_bytes()
    if how == "truncated":  # a full disk, a copy cut short
        data.write_bytes(raw[: len(raw) // 2])
        return raw, f"data file has {len(raw) // 2:,} bytes, expected {len(raw):,}"
    middle = len(raw) // 2  # same size, other feature values (bit rot, an editor): only the checksum tells
    data.write_bytes(raw[:middle] + bytes(b ^ 0xFF for b in raw[middle : middle + 8]) + raw[middle + 8 :])
    return (
        raw,
        f"data file's SHA-256 differs from the one recorded when it was written ({len(raw):,} bytes, as expected)",
    )


@pytest.mark.parametrize("how", ["truncated", "bytes flipped"])
def test_a_damaged_entry_is_reported_recomputed_and_replaced(how, backbones, text_files, tmp_path, caplog):
    hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "a"))
    key = _cache_info(tmp_path / "a")["train"]["key"]
    meta = json.loads((features.cache_dir() / key / features.META).read_text())
    data = features.cache_dir() / key / features.DATA
    assert meta["data_bytes"] == data.stat().st_size and len(meta["data_sha256"]) == 64
    original, problem = _damage(data, how)

    with caplog.at_level(logging.WARNING, logger="hf_transfer"):
        hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "b"))
    warnings = [r.getMessage() for r in caplog.records if " is damaged: " in r.getMessage()]
    assert warnings == [f"feature cache entry {key} is damaged: {problem}; recomputing"]
    info = _cache_info(tmp_path / "b")
    assert not info["train"]["hit"] and info["validation"]["hit"]
    assert data.read_bytes() == original, "the entry is replaced, row for row, by what the backbone computes"

    # the recomputed features train the same model as the undamaged run
    (weights_a, scores_a), (weights_b, scores_b) = _model_and_scores(tmp_path / "a"), _model_and_scores(tmp_path / "b")
    assert scores_a == scores_b and "eval_accuracy" in scores_a and "train_loss" in scores_a
    assert weights_a.keys() == weights_b.keys() and all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_entries_written_before_checksums_were_recorded_are_checked_as_far_as_they_can_be(
    backbones, text_files, tmp_path, caplog
):
    hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "a"))
    info = _cache_info(tmp_path / "a")
    for split in ("train", "validation"):  # meta.json as the previous version wrote it
        meta_file = features.cache_dir() / info[split]["key"] / features.META
        meta = json.loads(meta_file.read_text())
        meta_file.write_text(json.dumps({k: v for k, v in meta.items() if not k.startswith("data_")}))
    hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "b"))
    assert _cache_info(tmp_path / "b")["train"]["hit"] and _cache_info(tmp_path / "b")["validation"]["hit"]

    data = features.cache_dir() / info["train"]["key"] / features.DATA
    data.write_bytes(data.read_bytes()[:-300])  # cut inside the last record batch: unreadable, whatever the size
    with caplog.at_level(logging.WARNING, logger="hf_transfer"):
        hf_transfer.train(_frozen(backbones["bert"], text_files, tmp_path / "c"))
    assert any(
        f"entry {info['train']['key']} is damaged: data file is unreadable" in r.getMessage() for r in caplog.records
    )
    assert not _cache_info(tmp_path / "c")["train"]["hit"]
    assert "data_sha256" in json.loads((data.parent / features.META).read_text()), (
        "the replacement records its checksum"
    )


def test_bf16_runs_cache_their_own_features(backbones, text_files, tmp_path):
    from datasets import Dataset

    keys = {}
    for precision in ("fp32", "bf16"):
        recipe = _frozen(backbones["bert"], text_files, tmp_path / precision)
        recipe["training"]["precision"] = precision
        hf_transfer.train(recipe)
        info = _cache_info(tmp_path / precision)
        assert not info["train"]["hit"], "features computed in another precision are not reused"
        keys[precision] = info["validation"]["key"]
    entries = {e["key"]: e for e in features.list_entries()}
    assert entries[keys["bf16"]]["parts"]["precision"] == "bf16"
    fp32, bf16 = (
        Dataset.from_file(f"{entries[keys[p]]['path']}/{features.DATA}").with_format("torch")[:]["features"]
        for p in ("fp32", "bf16")
    )
    assert bf16.dtype == torch.float32 and not torch.equal(fp32, bf16), "the bf16 pass ran under autocast"
    assert torch.allclose(fp32, bf16, atol=5e-2, rtol=5e-2)


def test_pass_batches_sort_by_length_within_windows_and_count_real_tokens(monkeypatch):
    monkeypatch.setattr(features, "SORT_WINDOW_BATCHES", 2)
    lengths = [10, 20, 19, 9, 30, 11, 21, 29, 5]
    windows = features.pass_batches(lengths, len(lengths), 2)
    # windows of 4 consecutive rows, each sorted longest first, in batches of at most 2 that end before a row
    # under 90% of the batch's longest (21 after 30/29, 11 after 21); the last window holds the remaining row
    assert windows == [[[1, 2], [0, 3]], [[4, 7], [6], [5]], [[8]]]
    # by hand: 154 real tokens; computed 2*20 + 2*10 + 2*30 + 21 + 11 + 5 = 157
    assert features.real_token_fraction(lengths, [b for w in windows for b in w]) == pytest.approx(154 / 157)
    in_order = [[0, 1], [2, 3], [4, 5], [6, 7], [8]]  # 2*(20 + 19 + 30 + 29) + 5 = 201
    assert features.real_token_fraction(lengths, in_order) == pytest.approx(154 / 201)
    assert features.pass_batches(None, 5, 2) == [[[0, 1], [2, 3]], [[4]]]  # no lengths: dataset order
    assert features.real_token_fraction(None, in_order) is None


def test_length_sorted_cache_pass_writes_dataset_order_and_equal_features(backbones, tmp_path, monkeypatch, caplog):
    import random

    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

    from hf_transfer.tasks.text_classification import TextClassification

    monkeypatch.setattr(features, "SORT_WINDOW_BATCHES", 2)  # several windows on a small set
    rng = random.Random(0)
    words = " ".join(TEXT_CLASSES.values()).split()  # the fixture tokenizer's vocabulary
    texts = [" ".join(rng.choices(words, k=rng.choice([1, 2, 3, 9, 20]))) for _ in range(37)]
    tok = AutoTokenizer.from_pretrained(backbones["bert"])
    encoded = Dataset.from_dict({"text": texts, "labels": [i % 3 for i in range(37)]})
    encoded = encoded.map(
        lambda b: tok(b["text"], truncation=True, max_length=24), batched=True, remove_columns=["text"]
    )
    model = AutoModelForSequenceClassification.from_pretrained(backbones["bert"], num_labels=3).eval()
    collate, task = DataCollatorWithPadding(tok), TextClassification()

    def extract(dataset, lengths, name):
        path = tmp_path / f"{name}.arrow"
        args = (model, model.classifier, dataset, collate, 4, 0, 1, path, f"caching {name}", "fp32", lengths)
        assert features._extract(*args) == model.config.hidden_size
        return Dataset.from_file(str(path)).with_format("torch")[:]

    lengths = task.input_lengths(encoded)
    assert lengths == [len(ids) for ids in encoded["input_ids"]]
    with caplog.at_level(logging.INFO, logger="hf_transfer"):
        sorted_pass = extract(encoded, lengths, "sorted")
    assert "of the tokens computed are real" in caplog.text
    plain = extract(encoded, None, "plain")
    assert torch.equal(sorted_pass["labels"], plain["labels"])
    assert torch.allclose(sorted_pass["features"], plain["features"], atol=1e-5)

    # a shuffled copy of the data (select with an indices mapping): its rows, in its own order
    order = list(range(37))
    rng.shuffle(order)
    shuffled = encoded.select(order)
    again = extract(shuffled, task.input_lengths(shuffled), "shuffled")
    assert torch.equal(again["labels"], plain["labels"][order])
    assert torch.allclose(again["features"], plain["features"][order], atol=1e-5)
