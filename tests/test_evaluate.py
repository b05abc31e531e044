"""`hf-transfer evaluate`: the run's own test metrics reproduced, image folders, a paired comparison, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hf_transfer
from helpers import image_recipe, text_recipe
from hf_transfer import cli
from hf_transfer.errors import DataError, OutputError
from hf_transfer.inference.evaluation import paired_bootstrap

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def text_model(backbones, text_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_models") / "text"
    recipe = text_recipe(backbones["bert"], text_files, out)
    recipe["data"]["test_file"] = str(text_files["test"])
    recipe["training"].update(max_steps=4, learning_rate=5e-2, precision="fp32")
    hf_transfer.train(recipe)
    return out


def test_evaluate_reproduces_the_test_metrics_the_run_recorded(text_model, text_files, tmp_path, capsys):
    recorded = json.loads((text_model / "metrics.json").read_text())
    out = tmp_path / "eval"
    assert cli.main(["evaluate", str(text_model), str(text_files["test"]), "--output-dir", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "metrics.json").read_text())
    assert result["metrics"]["accuracy"] == pytest.approx(recorded["test_accuracy"], abs=1e-9)
    assert result["metrics"]["macro_f1"] == pytest.approx(recorded["test_macro_f1"], abs=1e-9)
    assert result["rows"] == len(text_files["test"].read_text().splitlines())
    assert sum(sum(r) for r in result["confusion_matrix"]) == result["rows"]
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    truth = [json.loads(line)["label"] for line in text_files["test"].read_text().splitlines()]
    assert [r["true_label"] for r in rows] == truth
    assert np.mean([r["label"] == r["true_label"] for r in rows]) == pytest.approx(result["metrics"]["accuracy"])
    assert "| accuracy |" in printed and str(out) in printed
    assert not (text_model / "predictions.jsonl").exists() and not (text_model / "report.md").exists()

    # the training recipe as the data: its test split, read as training read it, gives the same figures
    from_recipe = hf_transfer.evaluate(
        text_model, str(text_model / "recipe.yaml"), output_dir=tmp_path / "recipe", progress=False
    )
    assert from_recipe.metrics == pytest.approx(result["metrics"], abs=1e-12)
    assert from_recipe.confusion_matrix == result["confusion_matrix"]


def test_against_itself_differs_by_nothing_and_against_another_gives_an_interval(
    text_model, backbones, text_files, tmp_path
):
    same = hf_transfer.evaluate(
        text_model,
        str(text_files["test"]),
        against=text_model,
        output_dir=tmp_path / "a",
        progress=False,
        resamples=200,
    )
    for metric in ("accuracy", "macro_f1"):
        assert same.against["paired_bootstrap"][metric] == {"difference": 0.0, "low": 0.0, "high": 0.0}

    other = tmp_path / "other"
    recipe = text_recipe(backbones["bert"], text_files, other)
    recipe["training"].update(max_steps=1, learning_rate=1e-5, precision="fp32", seed=7)
    hf_transfer.train(recipe)
    result = hf_transfer.evaluate(
        text_model, str(text_files["test"]), against=other, output_dir=tmp_path / "b", progress=False, resamples=200
    )
    boot = result.against["paired_bootstrap"]["accuracy"]
    assert boot["difference"] == pytest.approx(result.against["metrics"]["accuracy"] - result.metrics["accuracy"])
    assert boot["low"] <= boot["difference"] <= boot["high"]
    assert "difference [95% CI]" in (tmp_path / "b" / "report.md").read_text()


def test_paired_bootstrap_on_fixed_predictions():
    truth = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    a = np.array([0, 1, 0, 1, 0, 1, 0, 0])  # 7/8
    b = np.array([0, 1, 0, 1, 1, 0, 0, 0])  # 5/8
    out = paired_bootstrap(a, b, truth, 2, resamples=500, seed=1)
    assert out["accuracy"]["difference"] == pytest.approx(-0.25)
    assert -1 <= out["accuracy"]["low"] <= -0.25 <= out["accuracy"]["high"] <= 0.0
    again = paired_bootstrap(a, b, truth, 2, resamples=500, seed=1)
    assert again == out  # seeded


def test_image_folder_split_matches_the_runs_validation_metrics(backbones, image_folder, tmp_path):
    model = tmp_path / "model"
    recipe = image_recipe(backbones["vit"], image_folder, model)
    recipe["training"].update(max_steps=3, precision="fp32", dataloader_num_workers=0)
    hf_transfer.train(recipe)
    recorded = json.loads((model / "metrics.json").read_text())
    result = hf_transfer.evaluate(
        model, str(image_folder), split="validation", output_dir=tmp_path / "e", progress=False, num_workers=0
    )
    assert result.metrics["accuracy"] == pytest.approx(recorded["eval_accuracy"], abs=1e-9)
    recipe_file = str(model / "recipe.yaml")  # the recipe as the data: the same validation images
    from_recipe = hf_transfer.evaluate(
        model, recipe_file, split="validation", output_dir=tmp_path / "r", progress=False, num_workers=0
    )
    assert from_recipe.metrics == pytest.approx(result.metrics, abs=1e-12) and from_recipe.rows == result.rows
    with pytest.raises(DataError, match="has no test split .*--split validation"):
        hf_transfer.evaluate(model, recipe_file, output_dir=tmp_path / "r2", progress=False)
    with pytest.raises(DataError, match="has no 'test' folder"):
        hf_transfer.evaluate(model, str(image_folder), split="test", output_dir=tmp_path / "f", progress=False)
    with pytest.raises(DataError, match="but no test/: choose one with --split"):
        hf_transfer.evaluate(model, str(image_folder), output_dir=tmp_path / "g", progress=False)
    with pytest.raises(DataError, match="one sub-folder per class"):
        hf_transfer.evaluate(model, str(image_folder / "validation" / "red"), output_dir=tmp_path / "h", progress=False)


def test_bad_input_is_one_message_and_nothing_is_written(text_model, text_files, tmp_path, capsys):
    other_labels = tmp_path / "other.jsonl"
    other_labels.write_text(json.dumps({"text": "alpha", "label": "weather"}) + "\n")
    broken = tmp_path / "broken.jsonl"  # a line that is not JSON has no label to score against
    broken.write_text(text_files["test"].read_text().splitlines()[0] + '\n{"text": "cut off\n')
    done = tmp_path / "done"
    done.mkdir()
    (done / "metrics.json").write_text("{}")
    cases = [
        ([str(other_labels)], "labels that model"),
        ([str(broken)], "has 1 row that cannot be scored: row 1: line 2 is not valid JSON ("),
        ([str(text_files["test"]), "--label-column", "nope"], "has no column"),
        ([str(text_files["test"]), "--output-dir", str(done)], "already holds an evaluation"),
        ([str(text_files["test"]), "--output-dir", str(text_model)], "not into the model folder"),
    ]
    for args, message in cases:
        assert (
            cli.main(
                ["evaluate", str(text_model), *args, "--quiet", "--output-dir", str(tmp_path / "x")]
                if "--output-dir" not in args
                else ["evaluate", str(text_model), *args, "--quiet"]
            )
            != 0
        )
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "x").exists() and (done / "metrics.json").read_text() == "{}"
    with pytest.raises(OutputError):
        hf_transfer.evaluate(text_model, str(text_files["test"]), output_dir=done, progress=False)
