"""training.precision: auto resolves deterministically from a hardware description."""

from __future__ import annotations

import json

import pytest

import hf_transfer
from helpers import text_recipe
from hf_transfer.errors import ConfigError
from hf_transfer.precision import Hardware, resolve_precision

AVX512_BF16 = frozenset({"avx512f", "avx512_bf16"})


@pytest.mark.parametrize(
    "hardware, expected",
    [
        (Hardware("cuda", (9, 0)), "bf16"),
        (Hardware("cuda", (8, 0)), "bf16"),
        (Hardware("cuda", (7, 5)), "fp16"),
        (Hardware("cuda", (6, 1)), "fp32"),
        (Hardware("cpu", None, AVX512_BF16), "bf16"),
        (Hardware("cpu", None, frozenset({"amx_bf16", "amx_tile"})), "bf16"),
        (Hardware("cpu", None, frozenset({"avx2", "avx512f"})), "fp32"),
        (Hardware("mps"), "fp32"),
    ],
)
def test_auto_resolves_from_the_hardware(hardware, expected):
    resolved, reason = resolve_precision("auto", hardware)
    assert resolved == expected and reason


@pytest.mark.parametrize("requested", ["fp32", "bf16", "fp16"])
def test_explicit_precision_is_kept(requested):
    assert resolve_precision(requested, Hardware("cpu"))[0] == requested


def test_precision_is_applied_and_recorded(backbones, text_files, tmp_path, monkeypatch):
    import hf_transfer.precision as precision

    monkeypatch.setattr(precision, "detect_hardware", lambda use_cpu=False: Hardware("cpu", None, AVX512_BF16))
    seen = {}
    import hf_transfer.trainer

    class Spy(hf_transfer.trainer.TransferTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen["args"] = self.args

    monkeypatch.setattr(hf_transfer.trainer, "TransferTrainer", Spy)
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["training"]["precision"] = "auto"
    del recipe["training"]["use_cpu"]  # as in a user's recipe: bf16 on a CPU must still be accepted
    hf_transfer.train(recipe)
    assert seen["args"].bf16 and not seen["args"].fp16
    report = json.loads((tmp_path / "out" / "training_report.json").read_text())
    assert report["precision"]["requested"] == "auto" and report["precision"]["resolved"] == "bf16"
    assert "avx512_bf16" in report["precision"]["reason"]


def test_precision_errors(backbones, text_files, tmp_path):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["training"].update(precision="bf32", bf16=True)
    with pytest.raises(ConfigError) as err:
        hf_transfer.load_recipe(recipe)
    assert "'training.precision' must be one of auto, fp32, bf16, fp16" in str(err.value)
    assert "did you mean 'bf16'" in str(err.value) or "did you mean 'fp32'" in str(err.value)
    recipe["training"]["precision"] = "fp32"
    with pytest.raises(ConfigError, match="not both"):
        hf_transfer.load_recipe(recipe)


def test_explicit_bf16_flag_works_on_a_cpu(backbones, text_files, tmp_path):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["training"]["bf16"] = True
    del recipe["training"]["use_cpu"]
    hf_transfer.train(recipe)
    report = json.loads((tmp_path / "out" / "training_report.json").read_text())
    assert report["precision"]["resolved"] == "bf16"
