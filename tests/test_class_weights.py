"""task.class_weights: the loss as specified, auto weights, and the weights reaching every path that computes a loss."""

from __future__ import annotations

import json
import math

import pytest
import torch

import hf_transfer
from helpers import text_recipe
from hf_transfer import ConfigError
from hf_transfer.class_weights import resolve, weighted_cross_entropy
from hf_transfer.probe import fit_logistic

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))


def test_weighted_cross_entropy_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 0])
    weights = [3.0, 0.5]

    def ce(row, label):
        return math.log(sum(math.exp(v) for v in row)) - row[label]

    by_hand = (3.0 * ce([2, 0], 0) + 0.5 * ce([0, 1], 1) + 3.0 * ce([1, 1], 0)) / 3  # mean over the batch
    assert weighted_cross_entropy(logits, labels, weights).item() == pytest.approx(by_hand, rel=1e-6)
    plain = torch.nn.functional.cross_entropy(logits, labels)
    assert weighted_cross_entropy(logits, labels, [1.0, 1.0]).item() == pytest.approx(plain.item(), rel=1e-6)
    # a batch of one class keeps its weight (torch's weight= would divide it away)
    assert weighted_cross_entropy(logits[:1], labels[:1], weights).item() == pytest.approx(
        3.0 * ce([2, 0], 0), rel=1e-6
    )
    # training.label_smoothing_factor is kept: with unit weights, transformers' own LabelSmoother
    from transformers.trainer_pt_utils import LabelSmoother

    smoothed = LabelSmoother(epsilon=0.1)({"logits": logits}, labels)
    assert weighted_cross_entropy(logits, labels, [1.0, 1.0], 0.1).item() == pytest.approx(smoothed.item(), rel=1e-6)


def test_auto_weights_by_hand():
    resolved = resolve("auto", ["a", "b", "c"], [0, 0, 0, 1, 0, 1])  # a ×4, b ×2, c never in train
    # n_samples / (n_classes · count), n = 6 over the 2 classes present; an absent class keeps 1
    assert resolved["weights"] == pytest.approx({"a": 6 / (2 * 4), "b": 6 / (2 * 2), "c": 1.0})
    assert resolved["mode"] == "auto" and resolved["train_counts"] == {"a": 4, "b": 2, "c": 0}
    # the example weights average 1 over the training split
    assert sum(resolved["weights"][n] * c for n, c in resolved["train_counts"].items()) == pytest.approx(6)


def test_a_mapping_names_labels_and_the_rest_get_one():
    assert resolve({"b": 2, 3: 0.5}, ["a", "b", "3"], [])["weights"] == {"a": 1.0, "b": 2.0, "3": 0.5}
    with pytest.raises(ConfigError) as info:
        resolve({"dgo": 2.0}, ["cat", "dog"], [])
    assert "dgo" in str(info.value) and "cat, dog" in str(info.value) and "did you mean 'dog'" in str(info.value)


def _blobs(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    y = torch.tensor([0] * (n - n // 4 - n // 8) + [1] * (n // 4) + [2] * (n // 8))
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    return centres[y] + 0.9 * torch.randn(n, 2, generator=g), y


def test_lbfgs_with_class_weights_matches_sklearn_class_weight():
    from sklearn.linear_model import LogisticRegression

    x, y = _blobs(120, 0)
    l2, weights = 1e-2, [0.5, 2.0, 4.0]
    fit = fit_logistic(x, y, 3, l2_grid=(l2,), class_weights=weights)
    mean, std = x.mean(0), x.std(0)
    z = ((x - mean) / std).double().numpy()
    ref = LogisticRegression(C=1.0 / (l2 * len(y)), class_weight=dict(enumerate(weights)), tol=1e-10, max_iter=10_000)
    expected = torch.from_numpy(ref.fit(z, y.numpy()).predict_proba(z))
    got = torch.softmax((x @ fit.weight.T + fit.bias).double(), 1)
    assert torch.allclose(got, expected, atol=2e-4)
    plain = fit_logistic(x, y, 3, l2_grid=(l2,))
    assert not torch.allclose(plain.weight, fit.weight, atol=1e-3)


def _first_loss(result) -> float:
    history = json.loads((result.output_dir / "training_report.json").read_text())["log_history"]
    return next(h["loss"] for h in history if "loss" in h)


@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param({"name": "full"}, id="transformers-head"),
        pytest.param({"name": "full", "head": "mlp", "head_hidden_sizes": [8]}, id="hf_transfer-head"),
        pytest.param({"name": "frozen", "head_solver": "sgd"}, id="cached-feature-head"),
    ],
)
def test_weights_reach_the_trainer_loss(strategy, backbones, text_files, tmp_path):
    """Uniform weights of 2 double the first step's loss (the same model on the same batch), on every head."""
    runs = {}
    for name, weights in (("plain", None), ("weighted", {"sports": 2.0, "science": 2.0, "music": 2.0})):
        recipe = text_recipe(
            backbones["bert"], text_files, tmp_path / name, strategy=strategy, training={"max_steps": 1}
        )
        if weights:
            recipe["task"]["class_weights"] = weights
        runs[name] = hf_transfer.train(recipe)
    assert _first_loss(runs["weighted"]) == pytest.approx(2 * _first_loss(runs["plain"]), rel=1e-4)
    assert runs["weighted"].class_weights["weights"] == {"music": 2.0, "science": 2.0, "sports": 2.0}
    report = json.loads((runs["weighted"].output_dir / "training_report.json").read_text())
    assert report["class_weights"]["mode"] == "mapping"
    assert json.loads((runs["plain"].output_dir / "training_report.json").read_text())["class_weights"] is None
    card = (runs["weighted"].output_dir / "README.md").read_text()
    assert "| Class weights | music 2, science 2, sports 2 (from the recipe) |" in card


def test_weights_reach_the_lbfgs_head_fit(backbones, text_files, tmp_path):
    results = {}
    for name, weights in (("plain", None), ("weighted", {"sports": 5.0})):
        recipe = text_recipe(backbones["bert"], text_files, tmp_path / name, strategy={"name": "frozen"})
        if weights:
            recipe["task"]["class_weights"] = weights
        results[name] = hf_transfer.train(recipe)
    plain, weighted = results["plain"], results["weighted"]
    assert weighted.strategy.details["head_solver"]["solver"] == "lbfgs"
    assert weighted.metrics["train_loss"] != pytest.approx(plain.metrics["train_loss"], rel=1e-3)
    report = json.loads((weighted.output_dir / "training_report.json").read_text())
    assert report["class_weights"]["weights"] == {"music": 1.0, "science": 1.0, "sports": 5.0}


def test_auto_weights_on_an_imbalanced_training_split(backbones, tmp_path):
    from helpers import make_texts

    rows = [r for r in make_texts(12, 0) if r["label"] != "music"] + [
        r for r in make_texts(3, 5) if r["label"] == "music"
    ]
    files = {}
    for split, data in (("train", rows), ("validation", make_texts(2, 1))):
        files[split] = tmp_path / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(r) + "\n" for r in data))
    recipe = text_recipe(backbones["bert"], files, tmp_path / "out", task={"class_weights": "auto"})
    result = hf_transfer.train(recipe, dry_run=True)
    n = 27  # 12 sports + 12 science + 3 music, 3 classes
    assert result.class_weights["weights"] == pytest.approx(
        {"music": n / (3 * 3), "science": n / (3 * 12), "sports": n / (3 * 12)}
    )
