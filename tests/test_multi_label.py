"""Multi-label classification (``task.name: multi-label-classification``): data, every strategy end to end
(text and image), saved thresholds, pipeline() sigmoid scores, metrics by hand, pos_weight, bad input."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from helpers import COLORS, FAST_TRAINING, TEXT_CLASSES, make_image
from hf_transfer.errors import ConfigError, DataError

LABELS = sorted(TEXT_CLASSES)  # music, science, sports


def make_label_sets(n: int, seed: int = 0) -> list[dict]:
    """Texts holding words of 0-2 classes; the classes whose words appear are the labels."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        chosen = rng.sample(LABELS, [0, 1, 1, 2][i % 4])
        words = [w for c in chosen for w in rng.sample(TEXT_CLASSES[c].split(), 2)] + ["the", "a", "new"]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "labels": sorted(chosen)})
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def ml_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi_label_text")
    return {
        "train": write_jsonl(root / "train.jsonl", make_label_sets(24, 0)),
        "validation": write_jsonl(root / "validation.jsonl", make_label_sets(8, 1)),
    }


def ml_recipe(backbone, files, out, **extra):
    recipe = {
        "backbone": {"name_or_path": str(backbone)},
        "data": {"source": "files", "train_file": str(files["train"]), "validation_file": str(files["validation"])},
        "task": {"name": "multi-label-classification", "max_length": 32},
        "strategy": {"name": "full"},
        "training": {**FAST_TRAINING, "output_dir": str(out), "learning_rate": 5e-2, "precision": "fp32"},
    }
    for section, values in extra.items():
        recipe.setdefault(section, {}).update(values)
    return recipe


def image_dataset(n_train=12, n_val=6):
    """In-memory images whose labels are the colours painted in their two halves (0, 1 or 2 colours)."""
    from datasets import Dataset, DatasetDict, Features, Image, Sequence, Value
    from PIL import Image as PILImage

    rng = random.Random(0)
    names = sorted(COLORS)

    def rows(n):
        out = {"image": [], "labels": []}
        for i in range(n):
            chosen = rng.sample(names, [0, 1, 2][i % 3])
            img = make_image((128, 128, 128), rng)
            for j, name in enumerate(chosen):
                img.paste(PILImage.new("RGB", (18, 36), COLORS[name]), (18 * j, 0))
            out["image"].append(img)
            out["labels"].append(chosen)
        return out

    features = Features({"image": Image(), "labels": Sequence(Value("string"))})
    return DatasetDict(
        {
            "train": Dataset.from_dict(rows(n_train), features=features),
            "validation": Dataset.from_dict(rows(n_val), features=features),
        }
    )


def _logits(model, texts, tokenizer):
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits


def _config(out):
    return json.loads((out / "config.json").read_text())


# --- end to end, text: every strategy and head ------------------------------------------------------------------

STRATEGIES = {
    "full": {"name": "full"},
    "partial": {"name": "partial", "num_blocks": 1},
    "lora": {"name": "lora"},
    "frozen_lbfgs": {"name": "frozen"},
    "frozen_mlp": {"name": "frozen", "head": "mlp", "head_hidden_sizes": [16]},
    "frozen_no_cache": {"name": "frozen", "cache_features": False},
    "full_mlp_mean": {"name": "full", "head": "mlp", "head_hidden_sizes": [8], "pooling": "mean"},
}


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.slow
def test_text_strategies_train_save_and_reload(strategy, backbones, ml_files, tmp_path):
    from transformers import AutoTokenizer

    import hf_transfer

    out = tmp_path / "out"
    recipe = ml_recipe(backbones["bert"], ml_files, out, strategy=STRATEGIES[strategy], task={"threshold": 0.5})
    result = hf_transfer.train(recipe)
    assert result.labels == LABELS
    for key in ("eval_micro_f1", "eval_macro_f1", "eval_samples_f1", "eval_subset_accuracy", "eval_hamming_loss"):
        assert 0.0 <= result.metrics[key] <= 1.0, key
    assert "eval_mean_average_precision" in result.metrics
    config = _config(out)
    assert config["problem_type"] == "multi_label_classification"
    assert config["hf_transfer"]["thresholds"] == dict.fromkeys(LABELS, 0.5)
    # the saved artifact reproduces the trained model's logits (the run's own reload check) and loads by itself
    model = hf_transfer.load_model(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    logits = _logits(model, ["goal team atom", "the new"], tokenizer)
    assert logits.shape == (2, 3)
    report = json.loads((out / "training_report.json").read_text())
    per_class = report["reports"]["eval"]["per_class"]
    assert set(per_class) == set(LABELS) and all("threshold" in r for r in per_class.values())
    if strategy == "frozen_lbfgs":
        assert report["strategy"]["head_solver"]["solver"] == "lbfgs"
        assert "validation_micro_f1" in report["strategy"]["head_solver"]


@pytest.mark.slow
def test_thresholds_tune_round_trip(backbones, ml_files, tmp_path):
    """tune → per-label thresholds saved in config.json → reload → the same predicted label sets."""
    from transformers import AutoTokenizer

    import hf_transfer
    from hf_transfer.inference import predict
    from hf_transfer.tasks.multi_label_classification import predicted_labels

    out = tmp_path / "out"
    hf_transfer.train(ml_recipe(backbones["bert"], ml_files, out, task={"threshold": "tune"}))
    saved = _config(out)["hf_transfer"]
    assert saved["threshold"] == "tune" and set(saved["thresholds"]) == set(LABELS)
    assert all(0 < t < 1 for t in saved["thresholds"].values())
    assert len(set(saved["thresholds"].values())) > 1, "tuned per label"
    card = (out / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and "### Per-label results (validation)" in card
    assert 'hf_transfer["thresholds"]' in card and "top_k=None" in card
    for name, t in saved["thresholds"].items():
        assert f"| {name} | {t:.3f} |" in card
    assert (out / "per_label_f1_validation.png").is_file() and "(per_label_f1_validation.png)" in card
    texts = [r["text"] for r in make_label_sets(8, 5)]
    model = hf_transfer.load_model(out)
    logits = _logits(model, texts, AutoTokenizer.from_pretrained(out))
    probs = logits.sigmoid()
    expected = [
        [name for j, name in enumerate(LABELS) if probs[i, j] >= saved["thresholds"][name]] for i in range(len(texts))
    ]
    assert predicted_labels(model.config, logits) == expected
    # predict writes the same label sets, with a sigmoid score for every label
    inputs = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts])
    predict(out, str(inputs), tmp_path / "pred.jsonl", top_k=None, progress=False, precision="fp32")
    rows = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert [r["labels"] for r in rows] == expected
    for row, p in zip(rows, probs):
        scores = {s["label"]: s["score"] for s in row["scores"]}
        assert set(scores) == set(LABELS)
        assert all(abs(scores[name] - float(p[j])) < 1e-4 for j, name in enumerate(LABELS))
    # a plain transformers folder (no recipe.yaml) is read as multi-label from its config's problem_type
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(out, bare)
    (bare / "recipe.yaml").unlink()
    predict(bare, str(inputs), tmp_path / "pred2.jsonl", progress=False, precision="fp32")
    assert [json.loads(line)["labels"] for line in (tmp_path / "pred2.jsonl").read_text().splitlines()] == expected


@pytest.mark.slow
def test_pipeline_gives_sigmoid_scores_for_every_label(backbones, ml_files, tmp_path):
    from transformers import AutoTokenizer, pipeline

    import hf_transfer

    out = tmp_path / "out"
    hf_transfer.train(ml_recipe(backbones["bert"], ml_files, out))
    clf = pipeline("text-classification", model=str(out), top_k=None)
    texts = ["goal team atom", "song guitar"]
    got = clf(texts)
    probs = _logits(hf_transfer.load_model(out), texts, AutoTokenizer.from_pretrained(out)).sigmoid()
    for row, p in zip(got, probs):
        scores = {r["label"]: r["score"] for r in row}
        assert set(scores) == set(LABELS)
        assert all(abs(scores[name] - float(p[j])) < 1e-4 for j, name in enumerate(LABELS))
    assert any(abs(sum(r["score"] for r in row) - 1) > 1e-3 for row in got), "sigmoid scores, not a softmax"


# --- end to end, images --------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["full", "frozen", "lora"])
@pytest.mark.slow
def test_image_strategies(strategy, backbones, tmp_path):
    from transformers import pipeline

    import hf_transfer

    out = tmp_path / "out"
    recipe = {
        "backbone": {"name_or_path": str(backbones["vit"])},
        "data": {"source": "memory"},
        "task": {"name": "multi-label-classification"},
        "strategy": {"name": strategy},
        "training": {**FAST_TRAINING, "output_dir": str(out), "precision": "fp32", "dataloader_num_workers": 0},
    }
    result = hf_transfer.train(recipe, dataset=image_dataset())
    assert result.labels == sorted(COLORS)
    assert _config(out)["problem_type"] == "multi_label_classification"
    assert set(_config(out)["hf_transfer"]["thresholds"]) == set(COLORS)
    img = make_image(COLORS["red"], random.Random(3))
    model = hf_transfer.load_model(out)
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(out)
    with torch.no_grad():
        probs = model(**processor(images=[img], return_tensors="pt")).logits.sigmoid()[0]
    if strategy != "lora":  # an adapter folder needs its base model first (load_model does that)
        clf = pipeline("image-classification", model=str(out), top_k=None)
        scores = {r["label"]: r["score"] for r in clf(img)}
        assert set(scores) == set(COLORS)
        assert all(abs(scores[name] - float(probs[j])) < 1e-4 for j, name in enumerate(sorted(COLORS)))


# --- data ------------------------------------------------------------------------------------------------------


def _prepare(dsdict, **data):
    from hf_transfer.config import load_recipe
    from hf_transfer.data import prepare

    recipe = load_recipe(
        {
            "backbone": {"name_or_path": "x"},
            "data": {"source": "memory", **data},
            "task": {"name": "multi-label-classification"},
        }
    )
    task = recipe.task.options
    return prepare(dsdict, recipe.data, task.roles, 0, task.label_encoder())


def test_delimited_csv_labels_sorted_and_empty_rows_counted(tmp_path):
    from datasets import load_dataset

    path = tmp_path / "train.csv"
    path.write_text("text,tags\nhello,b;a\nworld,\nfoo,c\nbar,a ; c\n")
    ds = load_dataset("csv", data_files={"train": str(path)}, keep_default_na=False)
    data = _prepare(ds, label_separator=";", columns={"label": "tags"}, validation_size=0.25)
    assert data.labels == ["a", "b", "c"]
    texts = list(data.train["text"]) + list(data.validation["text"])
    rows = dict(zip(texts, list(data.train["label"]) + list(data.validation["label"])))
    assert rows["hello"] == [1.0, 1.0, 0.0] and rows["world"] == [0.0, 0.0, 0.0] and rows["bar"] == [1.0, 0.0, 1.0]
    assert any("1 of 4 train rows have no label" in n for n in data.notes)


def test_hub_sequence_of_classlabel_and_declared_labels():
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

    features = Features({"text": Value("string"), "label": Sequence(ClassLabel(names=["x", "y", "z"]))})
    ds = Dataset.from_dict({"text": ["a", "b", "c"], "label": [[0, 2], [], [1]]}, features=features)
    data = _prepare(DatasetDict({"train": ds, "validation": ds}))
    assert data.labels == ["x", "y", "z"]
    assert data.train["label"] == [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    declared = _prepare(DatasetDict({"train": ds, "validation": ds}), labels=["z", "y", "x", "w"])
    assert declared.labels == ["z", "y", "x", "w"]
    assert declared.train["label"][0] == [1.0, 0.0, 1.0, 0.0]


# --- metrics by hand ---------------------------------------------------------------------------------------------


def test_metrics_by_hand():
    from hf_transfer.metrics import load_metric

    probs = [[0.9, 0.2, 0.6], [0.1, 0.8, 0.4], [0.7, 0.6, 0.1], [0.2, 0.1, 0.3]]
    truth = [[1, 0, 1], [0, 1, 1], [0, 1, 0], [0, 0, 0]]
    # at 0.5: predictions [1,0,1], [0,1,0], [1,1,0], [0,0,0]
    r = load_metric("multi_label").compute(predictions=probs, references=truth)
    # label 0: tp1 fp1 fn0; label 1: tp2 fp0 fn0; label 2: tp1 fp0 fn1 → tp 4, fp 1, fn 1
    assert r["micro_f1"] == pytest.approx(8 / 10)
    assert r["per_label_precision"] == pytest.approx([0.5, 1.0, 1.0])
    assert r["per_label_recall"] == pytest.approx([1.0, 1.0, 0.5])
    assert r["per_label_f1"] == pytest.approx([2 / 3, 1.0, 2 / 3])
    assert r["per_label_support"] == [1, 2, 2]
    assert r["macro_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    # rows: F1 1, 2·1/(1+2)=2/3, 2·1/(2+1)=2/3, both empty → 1
    assert r["samples_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3 + 1) / 4)
    assert r["subset_accuracy"] == pytest.approx(2 / 4)
    assert r["hamming_loss"] == pytest.approx(2 / 12)
    # AP: label 0 ranks its positive first → 1; label 1: positives at ranks 1, 2 → 1;
    # label 2 scores .6 (+), .4 (+), .3, .1 → 1
    assert r["mean_average_precision"] == pytest.approx(1.0)
    probs2 = [[0.9], [0.8], [0.7], [0.6]]
    truth2 = [[0], [1], [0], [1]]  # precision at the positives: 1/2, 2/4 → AP = 0.5·0.5 + 0.5·0.5
    assert load_metric("multi_label").compute(predictions=probs2, references=truth2)["mean_average_precision"] == (
        pytest.approx(0.5)
    )
    r = load_metric("multi_label").compute(predictions=probs, references=truth, thresholds=[0.95, 0.5, 0.35])
    # label 0 never predicted; label 2 now catches row 1 (0.4)
    assert r["per_label_precision"][0] == 0.0 and r["per_label_recall"][2] == 1.0


def test_tune_thresholds_picks_best_f1_per_label():
    from hf_transfer.tasks.multi_label_classification import tune_thresholds

    probs = np.array([[0.9, 0.3], [0.8, 0.2], [0.4, 0.1], [0.35, 0.05]])
    truth = np.array([[1, 0], [1, 0], [1, 0], [0, 0]])
    t = tune_thresholds(probs, truth)
    assert t[0] == pytest.approx((0.4 + 0.35) / 2)  # all three positives, no false positive: F1 1
    assert t[1] == 0.5  # no positives: the default


# --- pos_weight ---------------------------------------------------------------------------------------------------


def test_pos_weight_in_the_loss():
    from hf_transfer.tasks.multi_label_classification import MultiLabelClassification

    task = MultiLabelClassification()
    logits = torch.tensor([[0.3, -1.0], [2.0, 0.5]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    weights = [3.0, 0.5]
    got = task.batch_loss(logits, labels, weights)
    # mean over examples and labels of -(w·y·log σ(x) + (1 - y)·log(1 - σ(x)))
    s = torch.sigmoid(logits)
    w = torch.tensor(weights)
    by_hand = -(w * labels * torch.log(s) + (1 - labels) * torch.log(1 - s)).mean()
    assert got.item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert task.batch_loss(logits, labels).item() == pytest.approx(
        torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).item(), rel=1e-6
    )
    assert got.item() != pytest.approx(task.batch_loss(logits, labels).item())


def test_class_weights_auto_is_negatives_over_positives(backbones, ml_files, tmp_path):
    import hf_transfer

    result = hf_transfer.train(
        ml_recipe(backbones["bert"], ml_files, tmp_path / "out", task={"class_weights": "auto"}), dry_run=True
    )
    rows = [json.loads(line)["labels"] for line in ml_files["train"].read_text().splitlines()]
    for name in LABELS:
        positives = sum(name in r for r in rows)
        assert result.class_weights["weights"][name] == pytest.approx((len(rows) - positives) / positives)


@pytest.mark.parametrize("strategy", [{"name": "frozen"}, {"name": "full"}])
@pytest.mark.slow
def test_pos_weight_changes_training_on_every_path(strategy, backbones, ml_files, tmp_path):
    """The L-BFGS head fit and the Trainer loop both train with the per-label pos_weight."""
    from safetensors.torch import load_file

    import hf_transfer

    heads = {}
    for name, weights in (("plain", None), ("weighted", {"sports": 20.0, "music": 0.2})):
        out = tmp_path / name
        task = {"class_weights": weights} if weights else {}
        result = hf_transfer.train(ml_recipe(backbones["bert"], ml_files, out, strategy=strategy, task=task))
        heads[name] = (load_file(str(out / "model.safetensors")), result.metrics["train_loss"])
        if weights:
            assert result.class_weights["weights"] == {"music": 0.2, "science": 1.0, "sports": 20.0}
    (plain, plain_loss), (weighted, weighted_loss) = heads["plain"], heads["weighted"]
    head_keys = [k for k in plain if "classifier" in k or k.startswith("head.")]
    assert head_keys and any(not torch.equal(plain[k], weighted[k]) for k in head_keys)
    assert plain_loss != pytest.approx(weighted_loss)


def test_image_folder_with_metadata_label_lists(tmp_path):
    """imagefolder + metadata.jsonl (file_name, labels list): the multi-label image layout that works."""
    from hf_transfer.config import load_recipe
    from hf_transfer.pipeline import load_data

    rng = random.Random(0)
    (tmp_path / "train").mkdir()
    rows = []
    for i in range(6):
        make_image(COLORS["red"], rng).save(tmp_path / "train" / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "labels": [["red"], ["red", "blue"], []][i % 3]})
    write_jsonl(tmp_path / "train" / "metadata.jsonl", rows)
    recipe = load_recipe(
        {
            "backbone": {"name_or_path": "x"},
            "data": {"source": "imagefolder", "data_dir": str(tmp_path), "validation_size": 0.5},
            "task": {"name": "multi-label-classification"},
        }
    )
    data = load_data(recipe)
    assert data.labels == ["blue", "red"] and data.columns["image"] == "image"
    assert sorted(map(tuple, list(data.train["label"]) + list(data.validation["label"]))) == sorted(
        [(0.0, 1.0), (1.0, 1.0), (0.0, 0.0)] * 2
    )


# --- bad input ------------------------------------------------------------------------------------------------


def _train_error(recipe, **kw):
    import hf_transfer

    with pytest.raises((ConfigError, DataError)) as info:
        hf_transfer.train(recipe, **kw)
    return str(info.value)


def test_bad_threshold_and_separator_without_multi_label(backbones, ml_files, tmp_path):
    message = _train_error(ml_recipe(backbones["bert"], ml_files, tmp_path / "o", task={"threshold": 1.5}))
    assert "task.threshold" in message and "between 0 and 1" in message
    recipe = ml_recipe(backbones["bert"], ml_files, tmp_path / "o", task={"name": "text-classification"})
    recipe["data"]["label_separator"] = ";"
    message = _train_error(recipe)
    assert "task.name=multi-label-classification" in message
    assert not (tmp_path / "o").exists()


def test_list_labels_in_a_single_label_task(backbones, ml_files, tmp_path):
    recipe = ml_recipe(backbones["bert"], ml_files, tmp_path / "o", task={"name": "text-classification"})
    message = _train_error(recipe)
    assert "task.name=multi-label-classification" in message
    assert not (tmp_path / "o").exists()


def test_delimited_column_without_separator_suggests_it(backbones, tmp_path):
    files = {}
    for split in ("train", "validation"):
        path = tmp_path / f"{split}.csv"
        path.write_text("text,labels\ngoal team,sports|music\natom cell,science\n")
        files[split] = path
    message = _train_error(ml_recipe(backbones["bert"], files, tmp_path / "o"))
    assert "data.label_separator='|'" in message
    recipe = ml_recipe(backbones["bert"], files, tmp_path / "o")
    recipe["data"]["label_separator"] = "|"
    import hf_transfer

    assert hf_transfer.train(recipe, dry_run=True).labels == ["music", "science", "sports"]


def test_label_column_neither_list_nor_delimited(backbones, tmp_path):
    files = {
        s: write_jsonl(tmp_path / f"{s}.jsonl", [{"text": "goal", "labels": 3}, {"text": "atom", "labels": 1}])
        for s in ("train", "validation")
    }
    message = _train_error(ml_recipe(backbones["bert"], files, tmp_path / "o"))
    assert "neither a list of labels nor a delimited string" in message or "single class" in message
    files = {
        s: write_jsonl(
            tmp_path / f"{s}.jsonl", [{"text": "goal", "labels": "sports"}, {"text": "x", "labels": "music"}]
        )
        for s in ("train", "validation")
    }
    message = _train_error(ml_recipe(backbones["bert"], files, tmp_path / "o"))
    assert "neither a list of labels nor a delimited string" in message


def test_validation_label_never_in_train(backbones, tmp_path):
    files = {
        "train": write_jsonl(
            tmp_path / "t.jsonl", [{"text": "goal", "labels": ["sports"]}, {"text": "a", "labels": []}]
        ),
        "validation": write_jsonl(tmp_path / "v.jsonl", [{"text": "atom", "labels": ["science", "sports"]}]),
    }
    message = _train_error(ml_recipe(backbones["bert"], files, tmp_path / "o"))
    assert "split 'validation' has labels that never occur in train: science" in message
    assert not (tmp_path / "o").exists()


def test_class_folder_image_layout_is_refused(backbones, image_folder, tmp_path):
    recipe = {
        "backbone": {"name_or_path": str(backbones["vit"])},
        "data": {"source": "imagefolder", "data_dir": str(image_folder)},
        "task": {"name": "multi-label-classification"},
        "training": {**FAST_TRAINING, "output_dir": str(tmp_path / "o")},
    }
    message = _train_error(recipe)
    assert "image folder" in message and "metadata.jsonl" in message
    assert not (tmp_path / "o").exists()


def test_backbone_modality_needs_its_column(backbones, ml_files, tmp_path):
    """The modality follows the backbone: an image backbone on text data says which column it needs."""
    message = _train_error(ml_recipe(backbones["vit"], ml_files, tmp_path / "o"), dry_run=True)
    assert "image model" in message and "data.columns.image" in message


def test_config_errors_are_collected():
    from hf_transfer.config import load_recipe

    with pytest.raises(ConfigError) as info:
        load_recipe(
            {
                "backbone": {"name_or_path": "x"},
                "data": {"source": "memory", "streaming": True},
                "task": {"name": "multi-label-classification", "threshold": 0},
                "training": {"label_smoothing_factor": 0.1, "max_steps": 2},
            }
        )
    text = str(info.value)
    assert "task.threshold" in text and "label_smoothing_factor" in text and "streamed data" in text


@pytest.mark.slow
def test_best_model_is_chosen_by_micro_f1(backbones, ml_files, tmp_path):
    """metric_for_best_model defaults to micro F1: early stopping and the kept checkpoint follow it."""
    import hf_transfer

    training = {"eval_strategy": "steps", "eval_steps": 1, "save_strategy": "steps", "save_steps": 1}
    training["early_stopping_patience"] = 1
    result = hf_transfer.train(ml_recipe(backbones["bert"], ml_files, tmp_path / "out", training=training))
    assert result.early_stopping["metric"] == "micro_f1"
    history = json.loads((tmp_path / "out" / "training_report.json").read_text())["log_history"]
    assert any("eval_micro_f1" in entry for entry in history)


# --- defaults for small data (issue #12): head bias at the label priors --------------------------------------------


def _prior_log_odds(rows: list[list[str]], labels: list[str]) -> list[float]:
    n = len(rows)
    out = []
    for name in labels:
        p = (sum(name in r for r in rows) + 0.5) / (n + 1)
        out.append(float(np.log(p / (1 - p))))
    return out


def test_head_bias_starts_at_the_label_priors_log_odds():
    """init_head sets the output layer's bias (the last Linear with one output per label) and nothing else."""
    from types import SimpleNamespace

    from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

    from hf_transfer.tasks.multi_label_classification import MultiLabelClassification

    features = Features({"text": Value("string"), "label": Sequence(ClassLabel(names=["x", "y"]))})
    ds = Dataset.from_dict({"text": list("abcd"), "label": [[0], [0, 1], [], [0]]}, features=features)
    data = _prepare(DatasetDict({"train": ds, "validation": ds}))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2))  # hidden width 2 too
    hidden_bias = model[0].bias.detach().clone()
    bundle = SimpleNamespace(model=model, head_param_names={n for n, _ in model.named_parameters()})
    record = MultiLabelClassification().init_head(bundle, data)
    expected = _prior_log_odds([["x"], ["x", "y"], [], ["x"]], ["x", "y"])  # x: 3.5/5, y: 1.5/5
    assert model[2].bias.tolist() == pytest.approx(expected, abs=1e-6)
    assert torch.equal(model[0].bias, hidden_bias)  # the hidden layer (also 2 wide) keeps its initialisation
    assert record["head_bias"] == "prior" and "log-odds" in record["reason"]
    assert record["bias"] == pytest.approx(dict(zip(["x", "y"], expected)), abs=1e-4)
    # head_bias zero: the head keeps its own initialisation
    before = model[2].bias.detach().clone()
    model[2].bias.data.zero_()
    assert MultiLabelClassification(head_bias="zero").init_head(bundle, data) is None
    assert model[2].bias.abs().sum() == 0 and not torch.equal(before, model[2].bias)


def _output_bias(model) -> list[float]:
    """The bias of the last Linear layer with one output per label (a LoRA model's trained copy of the head)."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == len(LABELS)]
    return linears[-1].bias.tolist()


HEAD_INIT_STRATEGIES = {
    "full": {"name": "full"},
    "lora": {"name": "lora"},
    "frozen_cached_sgd": {"name": "frozen", "head_solver": "sgd"},
    "frozen_cached_mlp": {"name": "frozen", "head": "mlp", "head_hidden_sizes": [16]},
    "frozen_no_cache": {"name": "frozen", "cache_features": False},
    "full_mlp_mean": {"name": "full", "head": "mlp", "head_hidden_sizes": [8], "pooling": "mean"},
}


@pytest.mark.parametrize("strategy", list(HEAD_INIT_STRATEGIES))
@pytest.mark.slow
def test_every_strategy_starts_the_head_bias_at_the_priors(strategy, backbones, ml_files, tmp_path):
    """Trained at learning rate 0, the saved model's output bias is still the training priors' log-odds: the bias
    was set before the strategy applied (LoRA's copy of the head, the frozen strategy's cached-feature copy)."""
    import hf_transfer

    out = tmp_path / "out"
    training = {"learning_rate": 0.0, "max_steps": 1}
    recipe = ml_recipe(backbones["bert"], ml_files, out, strategy=HEAD_INIT_STRATEGIES[strategy], training=training)
    hf_transfer.train(recipe)
    rows = [json.loads(line)["labels"] for line in ml_files["train"].read_text().splitlines()]
    expected = _prior_log_odds(rows, LABELS)
    assert _output_bias(hf_transfer.load_model(out)) == pytest.approx(expected, abs=1e-5)
    report = json.loads((out / "training_report.json").read_text())
    assert report["strategy"]["head_init"]["bias"] == pytest.approx(dict(zip(LABELS, expected)), abs=1e-4)


@pytest.mark.slow
def test_head_bias_zero_keeps_the_heads_initialisation(backbones, ml_files, tmp_path):
    import hf_transfer

    out = tmp_path / "out"
    training = {"learning_rate": 0.0, "max_steps": 1}
    hf_transfer.train(ml_recipe(backbones["bert"], ml_files, out, task={"head_bias": "zero"}, training=training))
    assert _output_bias(hf_transfer.load_model(out)) == [0.0] * len(LABELS)  # BERT's classifier starts at zero
    assert "head_init" not in json.loads((out / "training_report.json").read_text())["strategy"]


def test_task_defaults_apply_only_where_the_recipe_is_silent(backbones, ml_files, tmp_path):
    """Silent recipe: threshold tune, head bias at the priors, no class weights; what a recipe sets is kept."""
    import hf_transfer

    silent = hf_transfer.train(ml_recipe(backbones["bert"], ml_files, tmp_path / "a"), dry_run=True)
    task = silent.recipe.to_dict()["task"]
    assert task["threshold"] == "tune" and task["head_bias"] == "prior" and task["class_weights"] is None
    assert silent.class_weights is None
    explicit = hf_transfer.train(
        ml_recipe(
            backbones["bert"],
            ml_files,
            tmp_path / "b",
            task={"class_weights": "auto", "threshold": 0.5, "head_bias": "zero"},
        ),
        dry_run=True,
    )
    assert explicit.class_weights["mode"] == "auto"
    assert explicit.recipe.to_dict()["task"]["threshold"] == 0.5
    assert explicit.recipe.to_dict()["task"]["head_bias"] == "zero"
