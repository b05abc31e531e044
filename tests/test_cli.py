"""The command line: `hf-transfer`, `python -m hf_transfer`, `accelerate launch -m hf_transfer`, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import text_recipe
from hf_transfer import cli

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


VENV_BIN = Path(sys.executable).parent


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture
def tiny_recipe(backbones, text_files, tmp_path) -> Path:
    return write_recipe(tmp_path / "tiny.yaml", text_recipe(backbones["bert"], text_files, tmp_path / "out"))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_help_and_recipes_are_fast_and_light():
    proc = run(str(VENV_BIN / "hf-transfer"), "--help")
    assert proc.returncode == 0 and "train" in proc.stdout
    proc = run(str(VENV_BIN / "hf-transfer"), "recipes")
    assert proc.returncode == 0
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert "quickstart" in names and "text/bert" in names
    code = "import sys; from hf_transfer import cli; cli.main(['recipes']); assert 'torch' not in sys.modules"
    assert run(sys.executable, "-c", code).returncode == 0


def test_train_in_process_prints_summary(tiny_recipe, tmp_path, capsys):
    assert cli.main(["train", str(tiny_recipe), "training.max_steps=2"]) == 0
    out = capsys.readouterr().out
    assert "eval_accuracy" in out and str((tmp_path / "out").resolve()) in out and "pipeline(" in out
    recipe = yaml.safe_load((tmp_path / "out" / "recipe.yaml").read_text())
    assert recipe["training"]["max_steps"] == 2


@pytest.mark.parametrize("strategy", ["mlp", "lora", "lora-merged"])
def test_summary_says_how_to_load_and_its_code_runs(strategy, backbones, text_files, tmp_path, capsys):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["strategy"] = {
        "mlp": {"name": "frozen", "head": "mlp", "head_hidden_sizes": [8]},
        "lora": {"name": "lora", "r": 4},
        "lora-merged": {
            "name": "lora",
            "r": 4,
            "merge": True,
        },  # the card adds prose for merged/; the summary prints code
    }[strategy]
    assert cli.main(["train", str(write_recipe(tmp_path / "r.yaml", recipe))]) == 0
    out = capsys.readouterr().out
    code = out.split("load it with:\n", 1)[1]
    code = "\n".join(line[4:] for line in code.splitlines())
    if strategy == "mlp":
        assert "import hf_transfer.modeling" in code, "an hf_transfer head needs its model type registered"
    exec(compile(code, "summary", "exec"), {})  # the printed snippet loads the model and classifies
    assert "'label':" in capsys.readouterr().out


def test_dry_run_writes_nothing(tiny_recipe, tmp_path, capsys):
    assert cli.main(["train", str(tiny_recipe), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "# resolved recipe" in out and "labels (3): music, science, sports" in out
    assert "train 48" in out
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param(lambda: [str(VENV_BIN / "hf-transfer")], id="console-script"),
        pytest.param(lambda: [sys.executable, "-m", "hf_transfer"], id="python-m"),
        pytest.param(
            lambda: [
                str(VENV_BIN / "accelerate"),
                "launch",
                "--cpu",
                "--num_processes",
                "1",
                "--num_machines",
                "1",
                "--mixed_precision",
                "no",
                "--dynamo_backend",
                "no",
                "-m",
                "hf_transfer",
            ],
            id="accelerate-launch",
        ),
    ],
)
def test_launchers_train_end_to_end(launcher, tiny_recipe, tmp_path):
    proc = run(*launcher(), "train", str(tiny_recipe), "training.max_steps=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "== hf-transfer: done ==" in proc.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "eval_accuracy" in metrics


def test_user_error_in_subprocess_has_no_traceback(tiny_recipe, tmp_path):
    proc = run(str(VENV_BIN / "hf-transfer"), "train", str(tiny_recipe), "training.learning_rat=1e-3")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "did you mean 'learning_rate'" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_overrides_may_follow_options(tiny_recipe, tmp_path, capsys):
    assert cli.main(["train", str(tiny_recipe), "--dry-run", "training.max_steps=5", "task.max_length=9"]) == 0
    assert "max_steps: 5" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["train", str(tiny_recipe), "--dry-run", "--bogus"])


def test_library_records_are_printed_once_where_ci_is_set(tmp_path):
    # transformers prints through its own handler and, with CI=true (set on CI machines), also propagates
    # to the root logger; datasets and huggingface_hub always do. The CLI's root handler must not print
    # those records a second time, and must still print what only a NullHandler (urllib3, py.warnings) saw.
    code = """
import logging, warnings
from hf_transfer import cli
cli._setup_logging()
logging.captureWarnings(True)
from transformers.utils import logging as tl
import datasets, huggingface_hub.utils
assert logging.getLogger("transformers").propagate, "CI=true makes transformers propagate"
tl.get_logger("transformers.modeling_utils").warning("TRANSFORMERS")
datasets.utils.logging.get_logger("datasets.load").warning("DATASETS")
huggingface_hub.utils.logging.get_logger("huggingface_hub.file_download").warning("HUB")
logging.getLogger("hf_transfer").info("OURS")
logging.getLogger("accelerate.state").warning("ACCELERATE")
import urllib3
logging.getLogger("urllib3.connectionpool").warning("URLLIB3")
warnings.warn("CAPTURED")
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CI": "true"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for word in ("TRANSFORMERS", "DATASETS", "HUB", "OURS", "ACCELERATE", "URLLIB3", "CAPTURED"):
        assert proc.stderr.count(word) == 1, (word, proc.stderr)
