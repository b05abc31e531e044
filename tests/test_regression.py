"""Task ``regression``: targets standardised for the loss, a saved model that predicts in the data's units."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

import hf_transfer
from helpers import FAST_TRAINING, make_texts, text_recipe
from hf_transfer.errors import ConfigError, DataError


def _rows(n, seed):
    """Texts with two real targets in far-from-unit scales: score (around 100) and tokens (characters / 100)."""
    rng = random.Random(seed)
    out = []
    for row in make_texts(n, seed):
        base = {"sports": 80.0, "science": 100.0, "music": 120.0}[row["label"]]
        out.append({"text": row["text"], "score": base + rng.gauss(0, 2), "tokens": 0.01 * len(row["text"])})
    return out


@pytest.fixture(scope="module")
def regression_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("regression_data")
    files = {}
    for split, n, seed in (("train", 16, 0), ("validation", 4, 1), ("test", 4, 2)):
        files[split] = root / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(r) + "\n" for r in _rows(n, seed)))
    return files


def _recipe(backbones, files, out, label="score", **strategy):
    recipe = text_recipe(backbones["bert"], files, out)
    recipe["data"]["test_file"] = str(files["test"])
    recipe["data"]["columns"] = {"label": label}
    recipe["task"] = {"name": "regression", "max_length": 32}
    recipe["strategy"] = {"name": "full", **strategy}
    recipe["training"].update(max_steps=6, learning_rate=1e-3, precision="fp32")  # numbers compared in fp32
    return recipe


@pytest.mark.slow
@pytest.mark.parametrize("strategy", [{"name": "full"}, {"name": "frozen"}, {"name": "lora"}])
def test_trains_and_the_saved_model_predicts_in_the_data_units(backbones, regression_files, tmp_path, strategy):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    out = tmp_path / "out"
    result = hf_transfer.train(_recipe(backbones, regression_files, out, **strategy))
    for key in ("eval_rmse", "eval_mae", "eval_r2", "eval_pearson", "eval_spearman", "test_rmse"):
        assert math.isfinite(result.metrics[key]) or "pearson" in key or "spearman" in key, key
    for name in ("metrics.json", "training_report.json"):  # strict JSON: an undefined metric is null, never NaN
        json.loads((out / name).read_text(), parse_constant=lambda c, name=name: pytest.fail(f"{name} holds {c}"))
    report = json.loads((out / "training_report.json").read_text())
    assert any("target score: mean" in n for n in report["data_notes"])
    card = (out / "README.md").read_text()
    assert 'function_to_apply="none"' in card and "| split | examples | RMSE | MAE | R² |" in card
    assert "name: RMSE" in card and "type: rmse" in card  # the model-index entries
    assert "### Per-target results (test)" in card and "| score |" in card
    assert "![Predicted against true score (test)](" in card
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "regression" and config["id2label"] == {"0": "score"}
    from hf_transfer.hub import local_layout, read_run, usage_code

    # the first snippet (the card's and the CLI's "load it with") asks pipeline() for the raw values too
    snippet = "\n".join(usage_code(read_run(out), local_layout(out), None))
    assert 'function_to_apply="none", top_k=None)' in snippet, snippet

    texts = [json.loads(line)["text"] for line in regression_files["test"].read_text().splitlines()]
    tok = AutoTokenizer.from_pretrained(out)
    batch = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=32)
    with torch.no_grad():
        raw = hf_transfer.load_model(out)(**batch).logits[:, 0]  # a LoRA adapter too
    # standardised outputs would be near 0; the folded head predicts around the training mean (~100)
    assert 50 < float(raw.mean()) < 150
    plain = out / "merged" if (out / "merged").is_dir() else out
    if (plain / "model.safetensors").is_file():
        with torch.no_grad():
            again = AutoModelForSequenceClassification.from_pretrained(plain).eval()(**batch).logits[:, 0]
        assert torch.allclose(again, raw, atol=1e-4)
        clf = pipeline("text-classification", model=str(plain), function_to_apply="none", device="cpu")
        got = [r["score"] for r in clf(texts, truncation=True, max_length=32)]
        assert got == pytest.approx(raw.tolist(), abs=1e-4)
    # the test metrics were computed in the data's units: recompute the RMSE from the saved model's outputs
    truth = torch.tensor([json.loads(line)["score"] for line in regression_files["test"].read_text().splitlines()])
    assert float(((raw - truth) ** 2).mean().sqrt()) == pytest.approx(result.metrics["test_rmse"], rel=1e-3)


@pytest.mark.slow
def test_several_target_columns_and_huber_loss(backbones, regression_files, tmp_path):
    recipe = _recipe(backbones, regression_files, tmp_path / "out", label=["score", "tokens"])
    recipe["task"]["loss"] = "huber"
    result = hf_transfer.train(recipe)
    assert {"eval_rmse_score", "eval_rmse_tokens"} <= set(result.metrics) or "eval_rmse" in result.metrics
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["id2label"] == {"0": "score", "1": "tokens"}
    report = json.loads((tmp_path / "out" / "training_report.json").read_text())
    per_target = report["reports"]["test"]["per_target"]
    assert set(per_target) == {"score", "tokens"} and "residuals" in per_target["score"]


def test_standardisation_is_folded_into_the_last_linear_layer():
    from hf_transfer.tasks.regression import Regression

    torch.manual_seed(0)
    task = Regression()
    task.mean, task.std = [100.0, -3.0], [20.0, 0.5]
    head = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2))
    model = torch.nn.Module()
    model.head = head
    x = torch.randn(5, 4)
    before = head(x).detach()
    task.finalize_model(model, ["head"])
    after = head(x).detach()
    assert torch.allclose(after, before * torch.tensor([20.0, 0.5]) + torch.tensor([100.0, -3.0]), atol=1e-5)
    assert torch.equal(head[0].weight, head[0].weight)  # the hidden layer is not touched (same outputs width)
    task.finalize_model(model, ["head"])  # a second call does not fold twice
    assert torch.allclose(head(x).detach(), after)


def test_loss_choices_by_hand():
    from hf_transfer.tasks.regression import Regression

    logits, labels = torch.tensor([[0.0], [3.0]]), torch.tensor([[1.0], [0.0]])
    assert Regression(loss="mse").batch_loss(logits, labels).item() == pytest.approx((1 + 9) / 2)
    assert Regression(loss="l1").batch_loss(logits, labels).item() == pytest.approx((1 + 3) / 2)
    assert Regression(loss="huber").batch_loss(logits, labels).item() == pytest.approx((0.5 + 2.5) / 2)


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"text": "a b", "score": "high"}], "not a number: row 0: 'high'"),
        ([{"text": "a b", "score": float("nan")}], "not a number: row 0: nan"),
        ([{"text": "a b", "score": None}, {"text": "c d", "score": 2.0}], "not a number: row 0: None"),
        ([{"text": "a b", "score": 4.0}, {"text": "c d", "score": 4.0}], "same value on every training row"),
    ],
)
def test_bad_targets_get_one_clear_message_and_nothing_is_written(backbones, tmp_path, rows, message):
    files = {}
    for split in ("train", "validation"):
        files[split] = tmp_path / f"{split}.jsonl"
        body = rows + [{"text": "x y", "score": 1.0}] if split == "validation" else rows * 2
        files[split].write_text("".join(json.dumps(r) + "\n" for r in body))
    files["test"] = files["validation"]
    out = tmp_path / "out"
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        hf_transfer.train(_recipe(backbones, files, out))
    assert not out.exists()


def test_recipe_mistakes_are_reported_together(backbones, regression_files, tmp_path):
    recipe = _recipe(backbones, regression_files, tmp_path / "out")
    recipe["task"]["name"] = "text-classification"
    recipe["data"]["columns"]["label"] = ["score", "tokens"]
    with pytest.raises(ConfigError, match="lists several columns"):
        hf_transfer.train(recipe)
    recipe = _recipe(backbones, regression_files, tmp_path / "out")
    recipe["training"]["label_smoothing_factor"] = 0.1
    recipe["data"]["streaming"] = True
    with pytest.raises(ConfigError) as err:
        hf_transfer.train(recipe)
    assert "label_smoothing_factor" in str(err.value) and "data.streaming=false" in str(err.value)
    recipe = _recipe(backbones, regression_files, tmp_path / "out")
    recipe["task"].update(class_weights="auto", threshold=0.5)
    with pytest.raises(ConfigError) as err:
        hf_transfer.train(recipe)
    assert "'task.class_weights' does not apply to task regression: regression predicts numbers" in str(err.value)
    assert "'task.threshold' does not apply to task regression" in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_image_regression_from_a_metadata_folder(backbones, tmp_path):
    """An image backbone binds the image preprocessing: brightness of a grey image → its level (0-255)."""
    from PIL import Image

    rng = random.Random(0)
    for split, n in (("train", 12), ("validation", 4)):
        (tmp_path / "data" / split).mkdir(parents=True)
        rows = []
        for i in range(n):
            level = rng.randint(0, 255)
            Image.new("RGB", (36, 36), (level,) * 3).save(tmp_path / "data" / split / f"{i}.png")
            rows.append({"file_name": f"{i}.png", "brightness": float(level)})
        (tmp_path / "data" / split / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    recipe = {
        "backbone": {"name_or_path": str(backbones["vit"])},
        "data": {"source": "imagefolder", "data_dir": str(tmp_path / "data"), "columns": {"label": "brightness"}},
        "task": {"name": "regression", "augment": False},
        "strategy": {"name": "full"},
        "training": {**FAST_TRAINING, "max_steps": 4, "output_dir": str(out)},
    }
    result = hf_transfer.train(recipe)
    assert math.isfinite(result.metrics["eval_rmse"])
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "regression" and config["id2label"] == {"0": "brightness"}
    from transformers import pipeline

    regressor = pipeline("image-classification", model=str(out), function_to_apply="none", device="cpu")
    value = regressor(Image.new("RGB", (36, 36), (128,) * 3))[0]["score"]
    assert 20 < value < 240  # around the training mean, in grey levels (standardised outputs would be near 0)


@pytest.mark.slow
def test_evaluate_predict_and_export_give_the_run_units(backbones, regression_files, tmp_path):
    """evaluate reproduces the run's test metrics from the saved model; predict writes values; the ONNX export's
    outputs equal PyTorch's (the folded head needs nothing else)."""
    pytest.importorskip("onnxruntime")
    out = tmp_path / "out"
    recipe = _recipe(backbones, regression_files, out, label=["score", "tokens"])
    result = hf_transfer.train(recipe)
    evaluation = hf_transfer.evaluate(
        out, str(regression_files["test"]), output_dir=tmp_path / "eval", progress=False, precision="fp32"
    )
    assert evaluation.metrics["rmse"] == pytest.approx(result.metrics["test_rmse"], rel=1e-4)
    assert evaluation.metrics["r2"] == pytest.approx(result.metrics["test_r2"], rel=1e-4, abs=1e-6)
    assert set(evaluation.per_class) == {"score", "tokens"} and evaluation.confusion_matrix is None
    assert {p.name for p in evaluation.files} >= {"metrics.json", "predicted_vs_true.png", "report.md"}
    rows = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert set(rows[0]["values"]) == {"score", "tokens"} and len(rows[0]["true"]) == 2
    # the recipe as the data: its stored (standardised, float32) targets back in the data's units
    from_recipe = hf_transfer.evaluate(
        out, str(out / "recipe.yaml"), output_dir=tmp_path / "eval_recipe", progress=False, precision="fp32"
    )
    assert from_recipe.rows == evaluation.rows
    for key in ("rmse", "r2"):
        assert from_recipe.metrics[key] == pytest.approx(evaluation.metrics[key], rel=1e-5, abs=1e-6), key

    from hf_transfer.onnx_export import export

    exported = export(out, output_dir=tmp_path / "onnx")
    again = hf_transfer.evaluate(
        exported.folder,
        str(regression_files["test"]),
        label_column=["score", "tokens"],  # an export has no training recipe to name them
        output_dir=tmp_path / "eval2",
        progress=False,
    )
    assert again.metrics["rmse"] == pytest.approx(evaluation.metrics["rmse"], rel=1e-4)


def test_error_metrics_rank_lower_first():
    from hf_transfer.metrics import lower_is_better

    assert lower_is_better("rmse") and lower_is_better("eval_mae_score") and lower_is_better("hamming_loss")
    assert not lower_is_better("r2") and not lower_is_better("accuracy") and not lower_is_better("rmse2")


def test_files_hold_strict_json_an_undefined_metric_is_null():
    from hf_transfer.outputs import strict_json

    value = {"eval_pearson": float("nan"), "x": [1.0, float("inf"), {"y": float("-inf")}], "n": 3, "s": "nan"}
    assert strict_json(value) == {"eval_pearson": None, "x": [1.0, None, {"y": None}], "n": 3, "s": "nan"}
    json.dumps(strict_json(value), allow_nan=False)
