"""head_solver lbfgs (exact linear probe on cached features) and whole-batch cached rows for the Trainer loop."""

from __future__ import annotations

import json

import pytest
import torch

import hf_transfer
from helpers import text_recipe
from hf_transfer import ConfigError, load_recipe
from hf_transfer.probe import InMemoryRows, collate_rows, fit_logistic


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))


def _blobs(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[4.0, 0.0, 1.0, 0.0], [0.0, 4.0, 0.0, 1.0], [-4.0, -4.0, 0.0, 0.0]])
    x = centres[y] + 0.5 * torch.randn(n, 4, generator=g)
    x[:, 2] = x[:, 2] * 10 + 50  # a badly scaled feature: the fit standardises, the saved head reads raw values
    return x, y


def test_lbfgs_matches_a_reference_solution_on_a_separable_problem():
    from sklearn.linear_model import LogisticRegression

    x, y = _blobs(90, 0)
    l2 = 1e-2
    fit = fit_logistic(x, y, 3, l2_grid=(l2,))
    # reference: sklearn's lbfgs on the same standardised features, C = 1 / (l2 · rows), logits read raw features
    mean, std = x.mean(0), x.std(0)
    z = ((x - mean) / std).double().numpy()
    ref = LogisticRegression(C=1.0 / (l2 * len(y)), tol=1e-10, max_iter=10_000).fit(z, y.numpy())
    expected = torch.from_numpy(ref.predict_proba(z))
    got = torch.softmax((x @ fit.weight.T + fit.bias).double(), 1)
    assert torch.allclose(got, expected, atol=2e-4)
    assert (got.argmax(1) == y).all()  # separable: every training row right


def test_sweep_chooses_on_validation_with_ties_to_the_stronger_penalty():
    x, y = _blobs(60, 1)
    xv, yv = _blobs(30, 2)
    fit = fit_logistic(x, y, 3, xv, yv, l2_grid=(1e-1, 1e-2, 1e-3), patience=5)
    assert fit.validation_accuracy == 1.0 and fit.l2 == 1e-1  # all perfect: the strongest
    assert [s["l2"] for s in fit.sweep] == [1e-1, 1e-2, 1e-3]


def test_in_memory_rows_give_the_batches_per_row_collation_gives():
    from datasets import Dataset
    from transformers import default_data_collator

    ds = Dataset.from_dict({"features": torch.randn(10, 3).tolist(), "labels": list(range(10))}).with_format("torch")
    rows = InMemoryRows(ds[:]["features"], ds[:]["labels"])
    index = [7, 2, 5]
    batch, reference = collate_rows(rows.__getitems__(index)), default_data_collator([ds[i] for i in index])
    assert batch.keys() == reference.keys()
    for key in batch:
        assert batch[key].dtype == reference[key].dtype and torch.equal(batch[key], reference[key])


def test_lbfgs_with_an_mlp_head_is_a_config_error_listed_with_the_others(backbones, text_files, tmp_path):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["strategy"] = {"name": "frozen", "head": "mlp", "head_solver": "lbfgs", "head_dropout": 2.0}
    with pytest.raises(ConfigError) as info:
        load_recipe(recipe)
    problems = "\n".join(info.value.problems)
    assert "head_solver' lbfgs fits a linear head only" in problems and "head_solver=sgd" in problems
    assert "head_dropout" in problems
    recipe["strategy"] = {"name": "frozen", "head_solver": "lbfgs", "cache_features": False}
    with pytest.raises(ConfigError, match="cache_features=true"):
        load_recipe(recipe)
    recipe["strategy"] = {"name": "frozen", "head": "mlp"}  # auto: the Trainer loop for mlp heads
    load_recipe(recipe)


@pytest.mark.slow
def test_lbfgs_head_is_the_saved_head_and_reloads_to_the_same_logits(backbones, text_files, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification

    from hf_transfer import features

    out = tmp_path / "out"
    recipe = text_recipe(backbones["bert"], text_files, out)
    recipe["strategy"] = {"name": "frozen", "pooling": "native"}  # a linear head: lbfgs by default; BERT's classifier
    recipe["training"].update(precision="fp32")
    result = hf_transfer.train(recipe)
    report = json.loads((out / "training_report.json").read_text())["strategy"]
    solver = report["head_solver"]
    assert solver["solver"] == "lbfgs" and solver["l2"] > 0 and solver["sweep"]
    assert "eval_accuracy" in result.metrics and "train_runtime" in result.metrics
    card = (out / "README.md").read_text()
    assert "| Head fit |" in card and f"L2 strength {solver['l2']:.3g}" in card and "`head_solver: lbfgs`" in card

    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    entry = next(e for e in features.list_entries() if e["key"] == report["feature_cache"]["train"]["key"])
    cached = Dataset.from_file(f"{entry['path']}/{features.DATA}").with_format("torch")[:]
    validation = next(e for e in features.list_entries() if e["key"] == report["feature_cache"]["validation"]["key"])
    cached_val = Dataset.from_file(f"{validation['path']}/{features.DATA}").with_format("torch")[:]
    fit = fit_logistic(
        cached["features"], cached["labels"], model.config.num_labels, cached_val["features"], cached_val["labels"]
    )
    with torch.no_grad():
        saved = model.classifier(cached_val["features"])
    assert fit.l2 == solver["l2"]
    assert torch.allclose(saved, cached_val["features"] @ fit.weight.T + fit.bias, atol=1e-4)


@pytest.mark.slow
def test_sgd_keeps_the_trainer_loop(backbones, text_files, tmp_path):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["strategy"] = {"name": "frozen", "head_solver": "sgd"}
    recipe["training"].update(max_steps=3, learning_rate=5e-2)
    result = hf_transfer.train(recipe)
    assert result.strategy.details["head_solver"] == {"solver": "sgd"}
    history = json.loads((tmp_path / "out" / "training_report.json").read_text())
    assert result.metrics["train_loss"] > 0 and history["strategy"]["head_solver"]["solver"] == "sgd"
    assert "Head fit" not in (tmp_path / "out" / "README.md").read_text()
