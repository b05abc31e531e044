"""LogME against the paper's formulas computed independently, and `hf-transfer rank` on tiny backbones."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

import hf_transfer
from helpers import text_recipe
from hf_transfer import cli
from hf_transfer.errors import ConfigError, HfTransferError
from hf_transfer.logme import logme, logme_per_class

# A tiny fixed problem: 6 examples, 3 features, 2 classes.
pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


F = np.array(
    [[1.0, 0.0, 0.5], [0.9, 0.2, 0.4], [1.1, -0.1, 0.6], [0.0, 1.0, -0.5], [0.1, 0.8, -0.3], [-0.2, 1.2, -0.4]]
)
Y = np.array([0, 0, 0, 1, 1, 1])


def evidence_by_hand(f, y, alpha, beta):
    """L(α, β)/n with A = αI + βFᵀF and m = βA⁻¹Fᵀy, straight from the paper (no SVD, no shortcuts)."""
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    log_det = np.linalg.slogdet(a)[1]
    value = (
        n / 2 * math.log(beta)
        + d / 2 * math.log(alpha)
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * np.sum((f @ m - y) ** 2)
        - alpha / 2 * m @ m
        - 0.5 * log_det
    )
    return value / n, m


def test_logme_matches_the_evidence_computed_by_hand_at_its_fixed_point():
    per_class = logme_per_class(F, Y)
    assert len(per_class) == 2
    for cls, e in zip((0, 1), per_class):
        y = (Y == cls).astype(float)
        by_hand, m = evidence_by_hand(F, y, e.alpha, e.beta)
        assert e.evidence == pytest.approx(by_hand, abs=1e-9)
        # the paper's fixed point: α = γ/‖m‖², β = (n − γ)/‖Fm − y‖², γ = Σ βσ/(α + βσ)
        sigma = np.linalg.eigvalsh(F.T @ F)
        gamma = np.sum(e.beta * sigma / (e.alpha + e.beta * sigma))
        assert e.alpha == pytest.approx(gamma / (m @ m), rel=1e-5)
        assert e.beta == pytest.approx((len(y) - gamma) / np.sum((F @ m - y) ** 2), rel=1e-5)
        # and it is a maximum: nearby (α, β) give less evidence
        for da, db in ((1.05, 1), (0.95, 1), (1, 1.05), (1, 0.95)):
            assert evidence_by_hand(F, y, e.alpha * da, e.beta * db)[0] < e.evidence
    assert logme(F, Y) == pytest.approx(np.mean([e.evidence for e in per_class]))


def test_logme_prefers_features_that_separate_the_classes_and_handles_more_features_than_examples():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=60)
    informative = np.eye(3)[labels] + 0.1 * rng.normal(size=(60, 3))
    noise = rng.normal(size=(60, 3))
    assert logme(informative, labels) > logme(noise, labels)
    wide = rng.normal(size=(10, 40))  # n < D: FᵀF has 30 zero eigenvalues
    value = logme(wide, rng.integers(0, 2, size=10))
    assert math.isfinite(value)


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))


def test_rank_scores_every_backbone_and_a_frozen_run_reuses_the_pass(backbones, text_files, tmp_path, capsys):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    names = [str(backbones[k]) for k in ("bert", "roberta", "distilbert")]
    assert cli.main(["rank", str(path), "--backbones", ",".join(names), "training.precision=fp32"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in names) and "LogME" in out
    scores = hf_transfer.rank(str(path), ["training.precision=fp32"], backbones=names)
    assert [s.logme for s in scores] == sorted((s.logme for s in scores), reverse=True)
    assert all(s.examples == 48 and s.feature_dim == 32 and s.parameters > 0 and s.cache_hit for s in scores)
    by_name = {s.backbone: s for s in scores}
    assert by_name[names[2]].pooling == "mean"  # DistilBERT's native head reads two modules: mean pooling instead

    frozen = hf_transfer.train(recipe, strategy={"name": "frozen"}, training={"precision": "fp32"})
    info = json.loads((frozen.output_dir / "training_report.json").read_text())["strategy"]["feature_cache"]
    assert info["train"]["hit"]

    sampled = hf_transfer.rank(str(path), ["training.precision=fp32"], backbones=names[:1], max_examples=10)
    assert sampled[0].examples == 10 and not sampled[0].cache_hit


def test_rank_refuses_wrong_modality_and_data_without_labels(backbones, text_files, tmp_path):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    with pytest.raises(ConfigError) as info:
        hf_transfer.rank(recipe, backbones=[str(backbones["vit"]), str(backbones["resnet"])])
    assert "vit" in str(info.value) and "resnet" in str(info.value)
    unlabelled = tmp_path / "train.jsonl"
    unlabelled.write_text("".join(json.dumps({"text": f"goal team {i}"}) + "\n" for i in range(8)))
    recipe["data"] = {"source": "files", "train_file": str(unlabelled)}
    with pytest.raises(HfTransferError) as info:
        hf_transfer.rank(recipe, backbones=[str(backbones["bert"])])
    assert "label" in str(info.value)


def test_spearman_of_the_benchmark_against_known_values():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from rank_transfer import spearman

    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)  # 1 - 6·2/(4·15)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)  # ties: average ranks
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def test_logme_stays_finite_when_the_features_fit_a_target_exactly():
    """24 examples of 32 features fit any 0/1 target exactly: the residual rounds to 0 (or just below) and the
    fixed point used to run β to 1e31 and NaN; every evidence is finite and the fitted target scores high."""
    import numpy as np

    from hf_transfer.logme import logme_per_class

    labels_rng, features_rng = np.random.default_rng(1), np.random.default_rng(0)
    labels = np.stack([labels_rng.integers(0, 2, 24) for _ in range(3)], axis=1).astype(np.float32)
    features = np.hstack([labels * 2.0, features_rng.normal(size=(24, 29))])  # the targets are features
    evidences = logme_per_class(features, labels)  # the first target was NaN before the floor
    assert all(np.isfinite(e.evidence) and np.isfinite(e.beta) for e in evidences)
