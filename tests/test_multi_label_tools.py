"""Multi-label models in the tools that use a trained model: evaluate, predict, export, compare, rank, the
resolved recipe and the feature cache (issues #12, #13). Metrics are checked against values worked out by hand."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest
from test_multi_label import LABELS, make_label_sets, ml_recipe, write_jsonl

import hf_transfer
from hf_transfer import cli
from hf_transfer.errors import DataError

HAVE_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime", "onnxscript"))


@pytest.fixture(scope="module")
def ml_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ml_tools_text")
    return {
        "train": write_jsonl(root / "train.jsonl", make_label_sets(24, 0)),
        "validation": write_jsonl(root / "validation.jsonl", make_label_sets(8, 1)),
    }


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


# probabilities by row for labels a, b, c; thresholds 0.3, 0.5, 0.7
PROBS = [[0.9, 0.4, 0.6], [0.2, 0.6, 0.8], [0.35, 0.1, 0.65]]
TRUTH = [["a", "c"], ["b", "c"], []]
THRESHOLDS = [0.3, 0.5, 0.7]


def _task(thresholds=THRESHOLDS, modality="text"):
    from hf_transfer.tasks.multi_label_classification import MultiLabelClassification

    task = MultiLabelClassification()
    task.bind(modality)
    task._thresholds = list(thresholds)
    return task


def _logits():
    return np.array([[_logit(p) for p in row] for row in PROBS])


# --- fast: the task hooks on fixed predictions --------------------------------------------------------------


def test_evaluation_targets_parse_lists_and_delimited_cells_and_list_unknown_labels_once():
    task = _task()
    targets, rows = task.evaluation_targets([["b", "a"], [], "c; a", None], ["a", "b", "c"], "m", ";")
    assert targets.tolist() == [[1, 1, 0], [0, 0, 0], [1, 0, 1], [0, 0, 0]]
    assert rows == [{"true_labels": ["b", "a"]}, {"true_labels": []}, {"true_labels": ["c", "a"]}, {"true_labels": []}]
    with pytest.raises(DataError) as info:
        task.evaluation_targets([["a", "zz"], "yy;b"], ["a", "b", "c"], "m", ";")
    assert "labels that model 'm' does not know: yy, zz" in str(info.value)
    assert "the model's labels are: a, b, c" in str(info.value)
    with pytest.raises(DataError, match="pass --label-separator ';'"):
        task.evaluation_targets(["a;b"], ["a", "b", "c"], "m", None)


def test_multi_label_decisions_and_evaluation_report_by_hand():
    task = _task()
    targets, _ = task.evaluation_targets(TRUTH, ["a", "b", "c"], "m")
    assert task.decisions(_logits()).tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    report = task.evaluate_report(_logits(), targets, ["a", "b", "c"])
    m = report["metrics"]
    # tp 3 (a0, b1, c1), fp 1 (a2), fn 1 (c0)
    assert m["micro_f1"] == pytest.approx(0.75)
    assert m["micro_precision"] == pytest.approx(0.75) and m["micro_recall"] == pytest.approx(0.75)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert m["samples_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m["subset_accuracy"] == pytest.approx(1 / 3)
    assert m["hamming_loss"] == pytest.approx(2 / 9)
    assert m["mean_average_precision"] == pytest.approx((1 + 1 + 5 / 6) / 3)
    assert report["per_class"]["a"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1, "average_precision": 1.0, "threshold": 0.3}
    )
    assert report["per_class"]["c"]["recall"] == pytest.approx(0.5) and report["per_class"]["c"]["support"] == 2
    assert report["confusion_matrix"] is None
    assert task.evaluation_scores(_logits(), targets) == pytest.approx(m)


def test_prediction_rows_hold_the_label_set_and_every_sigmoid_score_by_default():
    import torch

    task = _task()
    assert task.default_top_k is None and task.primary_metric == "micro_f1"
    rows = task.predictions(torch.tensor(_logits()), {0: "a", 1: "b", 2: "c"}, task.default_top_k)
    assert [r["labels"] for r in rows] == [["a"], ["b", "c"], ["a"]]
    for row, probs in zip(rows, PROBS):
        assert [s["label"] for s in row["scores"]] == [n for _, n in sorted(zip(probs, "abc"), reverse=True)]
        assert {s["label"]: s["score"] for s in row["scores"]} == pytest.approx(dict(zip("abc", probs)))


def test_the_export_cards_decision_code_gives_the_tasks_label_sets():
    task = _task()
    scope = {"logits": _logits()}
    exec("\n".join(task.decision_code({0: "a", 1: "b", 2: "c"}, None)), scope)
    assert scope["labels"] == [["a"], ["b", "c"], ["a"]]
    from hf_transfer.tasks.text_classification import TextClassification

    scope = {"logits": _logits()}
    exec("\n".join(TextClassification().decision_code({0: "a", 1: "b", 2: "c"}, None)), scope)
    assert scope["labels"] == ["a", "c", "c"]


def test_paired_bootstrap_on_fixed_multi_label_logits():
    from hf_transfer.inference.evaluation import paired_bootstrap

    task = _task()
    targets, _ = task.evaluation_targets(TRUTH, ["a", "b", "c"], "m")
    same = paired_bootstrap(_logits(), _logits(), targets, 3, 50, score=task.evaluation_scores, metrics=("micro_f1",))
    assert same == {"micro_f1": {"difference": 0.0, "low": 0.0, "high": 0.0}}
    perfect = np.where(targets > 0, 5.0, -5.0)  # every label set right: micro F1 1
    out = paired_bootstrap(_logits(), perfect, targets, 3, 50, score=task.evaluation_scores, metrics=("micro_f1",))
    assert out["micro_f1"]["difference"] == pytest.approx(1 - 0.75)


def test_logme_of_label_sets_averages_each_labels_own_target():
    from hf_transfer.logme import logme, logme_per_class

    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 6))
    y = (rng.random((40, 3)) < 0.4).astype(np.float32)
    per_label = [logme_per_class(features, y[:, j].astype(int))[1].evidence for j in range(3)]  # class 1 = label j
    assert logme(features, y) == pytest.approx(np.mean(per_label))


def test_compare_ranks_by_the_tasks_primary_metric(backbones, ml_files, text_files, tmp_path):
    from helpers import text_recipe
    from hf_transfer.comparison import compare

    board = compare(ml_recipe(backbones["bert"], ml_files, tmp_path / "o"), strategies=["full", "frozen"], dry_run=True)
    assert board.metric == "micro_f1"
    board = compare(text_recipe(backbones["bert"], text_files, tmp_path / "t"), strategies=["full"], dry_run=True)
    assert board.metric == "accuracy"
    assert "micro_f1 for multi-label" in cli.build_parser()._subparsers._group_actions[0].choices[
        "compare"
    ].format_help().replace("\n", " ").replace("  ", " ")


def test_leaderboard_order_follows_the_metrics_direction():
    from hf_transfer.comparison import Row, ranked

    rows = [Row(name, {}, value, None, None, "", "trained") for name, value in (("a", 0.2), ("b", None), ("c", 0.1))]
    assert [r.cell for r in ranked(rows, "micro_f1")] == ["a", "c", "b"]
    assert [r.cell for r in ranked(rows, "hamming_loss")] == ["c", "a", "b"]


def test_resolved_recipe_lists_only_the_keys_of_the_bound_modality(backbones, ml_files, tmp_path, capsys):
    import yaml
    from test_multi_label import image_dataset

    text = yaml.safe_load(
        hf_transfer.train(ml_recipe(backbones["bert"], ml_files, tmp_path / "t"), dry_run=True).recipe.to_yaml()
    )
    assert "max_length" in text["task"] and "threshold" in text["task"]
    assert not {"augment", "crop_scale", "horizontal_flip", "color_jitter"} & set(text["task"])
    recipe = ml_recipe(backbones["vit"], ml_files, tmp_path / "i")
    recipe["data"] = {"source": "memory"}
    recipe["task"].pop("max_length")
    image = hf_transfer.train(recipe, dataset=image_dataset(), dry_run=True).recipe
    shown = yaml.safe_load(image.to_yaml())["task"]
    assert "crop_scale" in shown and "max_length" not in shown
    assert "max_length" in image.to_dict()["task"]  # the run manifest keeps every key (resume compares them)


def test_predict_help_documents_the_multi_label_default():
    text = " ".join(cli.build_parser()._subparsers._group_actions[0].choices["predict"].format_help().split())
    assert "'auto' (default)" in text and "sigmoid probability" in text


# --- slow: a trained multi-label model through every tool ----------------------------------------------------


@pytest.fixture(scope="module")
def ml_model(backbones, tmp_path_factory):
    """A tiny multi-label text model with per-label thresholds tuned on validation and a test split."""
    root = tmp_path_factory.mktemp("ml_model")
    files = {
        "train": write_jsonl(root / "train.jsonl", make_label_sets(24, 0)),
        "validation": write_jsonl(root / "validation.jsonl", make_label_sets(8, 1)),
        "test": write_jsonl(root / "test.jsonl", make_label_sets(12, 2)),
    }
    recipe = ml_recipe(backbones["bert"], files, root / "model", task={"threshold": "tune"})
    recipe["data"]["test_file"] = str(files["test"])
    recipe["training"]["max_steps"] = 6
    hf_transfer.train(recipe)
    return root / "model", files


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_evaluate_reproduces_the_recorded_test_metrics_with_the_saved_thresholds(ml_model, tmp_path, capsys):
    model, files = ml_model
    recorded = json.loads((model / "metrics.json").read_text())
    thresholds = json.loads((model / "config.json").read_text())["hf_transfer"]["thresholds"]
    out = tmp_path / "eval"
    assert (
        cli.main(
            ["evaluate", str(model), str(files["test"]), "--output-dir", str(out), "--quiet", "--precision", "fp32"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    result = json.loads((out / "metrics.json").read_text())
    for name in ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "mean_average_precision"):
        assert result["metrics"][name] == pytest.approx(recorded[f"test_{name}"], abs=1e-9), name
    assert list(result["per_class"]) == LABELS and result["confusion_matrix"] is None
    assert {n: v["threshold"] for n, v in result["per_class"].items()} == pytest.approx(thresholds)
    rows = _jsonl(out / "predictions.jsonl")
    truth = [r["labels"] for r in _jsonl(files["test"])]
    assert [sorted(r["true_labels"]) for r in rows] == truth
    for row in rows:  # the predicted set is every label whose sigmoid score reaches its saved threshold
        scores = {s["label"]: s["score"] for s in row["scores"]}
        assert set(scores) == set(LABELS)
        assert row["labels"] == [n for n in LABELS if scores[n] >= thresholds[n]]
    tp = sum(len(set(r["labels"]) & set(r["true_labels"])) for r in rows)
    fp = sum(len(set(r["labels"]) - set(r["true_labels"])) for r in rows)
    fn = sum(len(set(r["true_labels"]) - set(r["labels"])) for r in rows)
    assert result["metrics"]["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)
    assert (out / "per_label_f1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "confusion_matrix.png").exists()
    assert "| micro_f1 |" in printed and "Weakest labels by F1" in printed and "per_label_f1.png" in printed

    # the same rows as CSV with delimited labels: --label-separator
    csv = tmp_path / "test.csv"
    csv.write_text("text,labels\n" + "".join(f"{r['text']},{';'.join(r['labels'])}\n" for r in _jsonl(files["test"])))
    again = hf_transfer.evaluate(
        model,
        str(csv),
        label_separator=";",
        output_dir=tmp_path / "csv",
        progress=False,
        resamples=20,
        precision="fp32",
    )
    assert again.metrics == pytest.approx(result["metrics"])
    from_recipe = hf_transfer.evaluate(  # the recipe as the data: its multi-hot test labels back as label sets
        model, str(model / "recipe.yaml"), output_dir=tmp_path / "recipe", progress=False, precision="fp32"
    )
    assert from_recipe.metrics == pytest.approx(result["metrics"], abs=1e-12)
    assert [sorted(r["true_labels"]) for r in _jsonl(tmp_path / "recipe" / "predictions.jsonl")] == truth
    same = hf_transfer.evaluate(
        model,
        str(files["test"]),
        against=model,
        output_dir=tmp_path / "self",
        progress=False,
        resamples=20,
        precision="fp32",
    )
    assert same.against["paired_bootstrap"]["micro_f1"] == {"difference": 0.0, "low": 0.0, "high": 0.0}


@pytest.mark.slow
def test_evaluate_bad_multi_label_input_is_one_message_and_nothing_is_written(ml_model, tmp_path, image_folder, capsys):
    model, files = ml_model
    unknown = write_jsonl(tmp_path / "u.jsonl", [{"text": "goal", "labels": ["sports", "weather", "art"]}])
    delimited = tmp_path / "d.csv"
    delimited.write_text("text,labels\ngoal team,sports;music\natom,science\n")
    cases = [
        ([str(unknown)], "does not know: art, weather"),
        ([str(delimited)], "pass --label-separator ';'"),
        ([str(image_folder)], "predicts a set of labels per example"),
    ]
    for args, message in cases:
        assert cli.main(["evaluate", str(model), *args, "--quiet", "--output-dir", str(tmp_path / "x")]) != 0
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_predict_defaults_to_the_label_set_and_every_sigmoid_score(ml_model, tmp_path):
    import torch
    from transformers import AutoTokenizer

    model, files = ml_model
    thresholds = json.loads((model / "config.json").read_text())["hf_transfer"]["thresholds"]
    out = tmp_path / "p.jsonl"
    assert cli.main(["predict", str(model), str(files["test"]), "-o", str(out), "--quiet", "--precision", "fp32"]) == 0
    rows = _jsonl(out)
    texts = [r["text"] for r in _jsonl(files["test"])]
    net = hf_transfer.load_model(model).eval()
    with torch.no_grad():
        batch = AutoTokenizer.from_pretrained(model)(texts, return_tensors="pt", padding=True)
        probs = net(**batch).logits.sigmoid()
    names = [net.config.id2label[i] for i in range(len(LABELS))]
    for row, p in zip(rows, probs.tolist()):
        assert set(row) >= {"id", "labels", "scores"} and "label" not in row
        assert {s["label"]: s["score"] for s in row["scores"]} == pytest.approx(dict(zip(names, p)), abs=1e-5)
        assert row["labels"] == [n for n, v in zip(names, p) if v >= thresholds[n]]
    one = tmp_path / "one.jsonl"
    argv = ["predict", str(model), str(files["test"]), "-o", str(one), "--quiet", "--top-k", "1", "--precision", "fp32"]
    assert cli.main(argv) == 0  # fp32 as above: bf16 (auto on some CPUs) may move a score across its threshold
    assert [len(r["scores"]) for r in _jsonl(one)] == [1] * len(rows)
    assert [r["labels"] for r in _jsonl(one)] == [r["labels"] for r in rows]  # thresholds, not the top-k


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ONNX, reason="the onnx extra is not installed")
def test_export_gives_the_same_logits_and_label_sets(ml_model, tmp_path):
    import torch

    model, files = ml_model
    thresholds = json.loads((model / "config.json").read_text())["hf_transfer"]["thresholds"]
    out = tmp_path / "onnx"
    result = hf_transfer.export(model, out)
    assert result.examples_source == "validation" and result.label_agreement == 1.0
    assert result.max_abs_diff < 1e-4
    assert json.loads((out / "config.json").read_text())["hf_transfer"]["thresholds"] == thresholds
    card = (out / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and "thresholds = np.array(" in card
    assert "| labels agree | subset accuracy |" in card
    torch_rows, onnx_rows = tmp_path / "t.jsonl", tmp_path / "o.jsonl"
    hf_transfer.predict(model, str(files["test"]), torch_rows, progress=False, precision="fp32")
    summary = hf_transfer.predict(out, str(files["test"]), onnx_rows, progress=False)
    assert summary.precision == "onnx"
    expected, got = _jsonl(torch_rows), _jsonl(onnx_rows)
    assert [r["labels"] for r in got] == [r["labels"] for r in expected]
    for a, b in zip(got, expected):
        scores = {s["label"]: s["score"] for s in b["scores"]}
        assert all(abs(s["score"] - scores[s["label"]]) < 1e-5 for s in a["scores"])
    # the ONNX model's raw logits against PyTorch's on the test texts
    from hf_transfer.inference import open_model

    texts = [{"text": r["text"]} for r in _jsonl(files["test"])]
    loaded, exported = open_model(model), open_model(out)
    batch = loaded.task.encode_for_inference(loaded.processor, loaded.model.config, texts)
    with torch.no_grad():
        reference = loaded.model.eval()(**batch).logits
    assert torch.allclose(exported.model(**batch).logits.float(), reference, atol=1e-4)
    evaluated = hf_transfer.evaluate(out, str(files["test"]), output_dir=tmp_path / "e", progress=False)
    recorded = json.loads((model / "metrics.json").read_text())
    assert evaluated.metrics["micro_f1"] == pytest.approx(recorded["test_micro_f1"], abs=1e-9)


@pytest.mark.slow
def test_threshold_changes_reuse_the_feature_cache_and_show_in_thresholds_and_metrics(
    backbones, ml_files, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    runs = {}
    for t in (0.3, 0.7):
        out = tmp_path / f"t{t}"
        recipe = ml_recipe(backbones["bert"], ml_files, out, task={"threshold": t}, strategy={"name": "frozen"})
        recipe["training"]["max_steps"] = 6
        runs[t] = (out, hf_transfer.train(recipe))
    cache = {
        t: json.loads((out / "training_report.json").read_text())["strategy"]["feature_cache"]
        for t, (out, _) in runs.items()
    }
    assert not cache[0.3]["train"]["hit"] and cache[0.7]["train"]["hit"] and cache[0.7]["validation"]["hit"]
    rows = {}
    for t, (out, result) in runs.items():
        config = json.loads((out / "config.json").read_text())["hf_transfer"]
        assert config["threshold"] == t and set(config["thresholds"].values()) == {t}
        evaluated = hf_transfer.evaluate(
            out, str(ml_files["validation"]), output_dir=tmp_path / f"e{t}", progress=False, precision="fp32"
        )
        assert evaluated.metrics["micro_f1"] == pytest.approx(result.metrics["eval_micro_f1"], abs=1e-9)
        rows[t] = _jsonl(tmp_path / f"e{t}" / "predictions.jsonl")
        for row in rows[t]:
            assert sorted(row["labels"]) == sorted(s["label"] for s in row["scores"] if s["score"] >= t)
    # the same head on the same cached features: the same scores, only the decision differs
    for a, b in zip(rows[0.3], rows[0.7]):
        assert {s["label"]: s["score"] for s in a["scores"]} == pytest.approx(
            {s["label"]: s["score"] for s in b["scores"]}, abs=1e-6
        )
        assert set(b["labels"]) <= set(a["labels"])


@pytest.mark.slow
def test_compare_and_rank_multi_label_runs(backbones, ml_files, tmp_path, monkeypatch):
    from hf_transfer.comparison import compare
    from hf_transfer.ranking import rank

    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    board = compare(ml_recipe(backbones["bert"], ml_files, tmp_path / "o"), strategies=["full", "frozen"])
    assert board.metric == "micro_f1" and len(board.rows) == 2
    for row in board.rows:
        recorded = json.loads((tmp_path / "o" / "compare" / row.cell / "metrics.json").read_text())
        assert row.metric == recorded["eval_micro_f1"]
    assert board.rows[0].metric >= board.rows[1].metric
    scores = rank(ml_recipe(backbones["bert"], ml_files, tmp_path / "r"), backbones=[str(backbones["bert"])])
    assert len(scores) == 1 and math.isfinite(scores[0].logme)


@pytest.mark.slow
def test_evaluate_an_image_model_on_a_table_of_image_paths_and_label_lists(backbones, tmp_path, monkeypatch):
    from test_multi_label import image_dataset

    from helpers import FAST_TRAINING

    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "model"
    recipe = {
        "backbone": {"name_or_path": str(backbones["vit"])},
        "data": {"source": "memory"},
        "task": {"name": "multi-label-classification", "threshold": 0.4},
        "strategy": {"name": "full"},
        "training": {**FAST_TRAINING, "output_dir": str(out), "precision": "fp32", "dataloader_num_workers": 0},
    }
    result = hf_transfer.train(recipe, dataset=image_dataset())
    validation = image_dataset()["validation"]  # the same images again (seeded), saved losslessly
    rows = []
    for i, row in enumerate(validation):
        row["image"].save(tmp_path / f"{i}.png")
        rows.append({"image": str(tmp_path / f"{i}.png"), "labels": row["labels"]})
    table = write_jsonl(tmp_path / "validation.jsonl", rows)
    evaluated = hf_transfer.evaluate(
        out, str(table), output_dir=tmp_path / "e", progress=False, num_workers=0, precision="fp32"
    )
    for name in ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss", "mean_average_precision"):
        assert evaluated.metrics[name] == pytest.approx(result.metrics[f"eval_{name}"], abs=1e-6), name
    assert {v["threshold"] for v in evaluated.per_class.values()} == {0.4}
    predicted = _jsonl(tmp_path / "e" / "predictions.jsonl")
    assert [r["true_labels"] for r in predicted] == [r["labels"] for r in rows]
    for r in predicted:
        assert sorted(r["labels"]) == sorted(s["label"] for s in r["scores"] if s["score"] >= 0.4)
