"""training.early_stopping_patience (transformers' EarlyStoppingCallback) and train(callbacks=[...])."""

from __future__ import annotations

import json

import pytest
from transformers import TrainerCallback

import hf_transfer
from helpers import text_recipe
from hf_transfer import ConfigError, load_recipe
from hf_transfer.early_stopping import fill_training_kwargs

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


def test_what_is_filled_in_and_what_is_taken_out():
    kwargs = {"eval_strategy": "steps", "eval_steps": 5, "early_stopping_patience": 2}
    assert fill_training_kwargs(kwargs) == {"early_stopping_patience": 2, "early_stopping_threshold": 0.0}
    assert kwargs == {
        "eval_strategy": "steps",
        "eval_steps": 5,
        "load_best_model_at_end": True,
        "save_strategy": "steps",
        "save_steps": 5,
    }
    kwargs = {"eval_strategy": "epoch"}
    assert fill_training_kwargs(kwargs) is None and kwargs == {"eval_strategy": "epoch"}


def test_the_keys_are_typed_and_checked_with_the_recipe(backbones, text_files, tmp_path):
    recipe = text_recipe(
        backbones["bert"],
        text_files,
        tmp_path / "out",
        training={"early_stopping_patience": "x", "early_stopping_threshold": -1, "early_stoping_patience": 2},
    )
    with pytest.raises(ConfigError) as info:
        load_recipe(recipe)
    text = str(info.value)
    assert "'training.early_stopping_patience' must be an integer, found string 'x'" in text
    assert "did you mean 'early_stopping_patience'" in text
    del recipe["training"]["early_stoping_patience"], recipe["training"]["save_strategy"]
    ok = load_recipe(
        recipe,
        [
            "training.early_stopping_patience=2",
            "training.early_stopping_threshold=0.01",
            "training.eval_strategy=epoch",
        ],
    )
    assert ok.training["early_stopping_patience"] == 2 and ok.training["early_stopping_threshold"] == 0.01


class Recorder(TrainerCallback):
    def __init__(self):
        self.events: list[str] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.events.append("train_begin")

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.events.append(f"evaluate@{state.global_step}")


def test_stops_after_patience_evaluations_without_improvement(backbones, text_files, tmp_path, capsys):
    """learning_rate 0: the validation loss never improves, so patience 1 stops after the second evaluation."""
    recorder = Recorder()
    training = {
        "max_steps": -1,
        "num_train_epochs": 6,
        "learning_rate": 0.0,
        "eval_strategy": "epoch",
        "early_stopping_patience": 1,
    }
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out", training=training)
    recipe["training"].pop("save_strategy")  # filled in to match the evaluation
    result = hf_transfer.train(recipe, callbacks=[recorder])
    steps_per_epoch = 48 // 8
    stopped = result.early_stopping
    assert stopped["stopped_early"] and stopped["epoch"] == 2 and stopped["step"] == 2 * steps_per_epoch
    assert stopped["max_steps"] == 6 * steps_per_epoch and stopped["metric"] == "loss"
    assert stopped["best_checkpoint"] == f"checkpoint-{steps_per_epoch}" and stopped["best_step"] == steps_per_epoch
    assert recorder.events[0] == "train_begin"  # the caller's callback ran, alongside EarlyStoppingCallback
    assert [e for e in recorder.events if e.startswith("evaluate@")][:2] == [
        f"evaluate@{steps_per_epoch}",
        f"evaluate@{2 * steps_per_epoch}",
    ]
    report = json.loads((result.output_dir / "training_report.json").read_text())
    assert report["early_stopping"] == stopped
    assert (
        "| Early stopping | early stopping (patience 1): stopped early at epoch 2"
        in (result.output_dir / "README.md").read_text()
    )
    from hf_transfer import cli

    cli._summary(result)  # what `hf-transfer train` prints at the end
    assert (
        "early stopping (patience 1): stopped early at epoch 2, step 12 of 36; kept checkpoint-6 (loss"
        in capsys.readouterr().out
    )
