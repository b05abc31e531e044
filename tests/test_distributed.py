"""Several processes (gloo on CPU, launched by `accelerate launch`): same results as one process, one writer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import hf_transfer
from helpers import build_text_backbone, text_recipe

pytestmark = pytest.mark.slow  # trains, launches processes or exports: not in the fast subset


VENV_BIN = Path(sys.executable).parent
TOLERANCE = 1e-4  # float reduction order differs between one process and an all-reduce over two


@pytest.fixture(scope="module")
def quiet_bert(tmp_path_factory) -> Path:
    """A tiny BERT without dropout, so that runs differ only by how the work is split."""
    from transformers import AutoConfig, BertModel

    folder = build_text_backbone("bert", tmp_path_factory.mktemp("quiet") / "bert")
    config = AutoConfig.from_pretrained(folder)
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    BertModel.from_pretrained(folder, config=config).save_pretrained(folder)
    return folder


def _recipe(backbone, text_files, out, strategy, **training):
    recipe = text_recipe(backbone, text_files, out)
    recipe["strategy"] = strategy
    # Sequential sampling: one process's batch i is exactly the union of the two processes' batches i.
    recipe["training"].update(train_sampling_strategy="sequential", max_steps=3, precision="fp32", **training)
    return recipe


DDP_ON_CPU = [
    "--multi_gpu",
    "--num_processes",
    "2",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
]


def _launch(
    recipe: dict,
    workdir: Path,
    launch_args: list[str] = DDP_ON_CPU,
    script: tuple[str, ...] = ("-m", "hf_transfer"),
    command: tuple[str, ...] = ("train",),
    **env: str,
) -> subprocess.CompletedProcess:
    """`accelerate launch LAUNCH_ARGS SCRIPT train recipe.yaml` in ``workdir`` (two gloo processes by default)."""
    path = workdir / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    cmd = [str(VENV_BIN / "accelerate"), "launch", *launch_args, *script, command[0], str(path), *command[1:]]
    # CI=true makes transformers propagate its records to the root logger as well (CI machines set it):
    # the hard case for "each message printed once".
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CI": "true", **env}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env, timeout=600)


def test_compare_under_accelerate_launch_runs_each_cell_on_both_processes_and_resumes(quiet_bert, text_files, tmp_path):
    """`accelerate launch … hf-transfer compare`: cells one after the other, each on all processes; one leaderboard."""
    workdir = tmp_path / "launch"
    workdir.mkdir()
    recipe = _recipe(quiet_bert, text_files, workdir / "out", {"name": "full"})
    proc = _launch(recipe, workdir, command=("compare", "--strategies", "full,frozen"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    root = workdir / "out" / "compare"
    board = json.loads((root / "leaderboard.json").read_text())
    assert {r["cell"]: r["state"] for r in board["rows"]} == {"full": "trained", "frozen": "trained"}
    for cell in ("full", "frozen"):
        report = json.loads((root / cell / "training_report.json").read_text())
        assert report["global_batch_size"]["processes"] == 2
    assert proc.stdout.count("Chosen on validation accuracy") == 1, proc.stdout[-2000:]  # printed by one process

    shutil.rmtree(root / "frozen")
    proc = _launch(recipe, workdir, command=("compare", "--strategies", "full,frozen"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    board = json.loads((root / "leaderboard.json").read_text())
    assert {r["cell"]: r["state"] for r in board["rows"]} == {"full": "finished", "frozen": "trained"}


@pytest.mark.parametrize(
    "strategy",
    [
        {"name": "full"},
        {"name": "lora", "dropout": 0.0},
        {"name": "partial", "num_blocks": 1, "head_learning_rate": 1e-2},
    ],
    ids=["full", "lora", "partial-head-lr"],
)
def test_two_processes_match_one_with_the_same_global_batch(strategy, quiet_bert, text_files, tmp_path):
    single = hf_transfer.train(
        _recipe(quiet_bert, text_files, tmp_path / "single", strategy, per_device_train_batch_size=16)
    )

    workdir = tmp_path / "launch"
    workdir.mkdir()
    proc = _launch(_recipe(quiet_bert, text_files, workdir / "out", strategy, per_device_train_batch_size=8), workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "global batch size 16 = 8 per device × 2 processes × 1 accumulation steps" in proc.stderr
    assert proc.stdout.count("== hf-transfer: done ==") == 1, "the summary is printed once"
    if strategy["name"] == "full":  # the new classifier's "MISSING" load report: from the main process only
        assert proc.stderr.count("LOAD REPORT") == 1, proc.stderr[-3000:]
    assert (
        "| Global batch size | 16 = 8 per device × 2 processes × 1 accumulation steps |"
        in (workdir / "out" / "README.md").read_text()
    )

    multi = json.loads((workdir / "out" / "metrics.json").read_text())
    for key in ("eval_accuracy", "eval_macro_f1", "eval_macro_precision", "train_loss"):
        assert multi[key] == pytest.approx(single.metrics[key], abs=TOLERANCE), key
    # Trainer's eval_loss averages per-batch losses, and the last batch of an uneven shard is padded with
    # repeated examples; the metrics above come from de-duplicated predictions and are exact.
    assert multi["eval_loss"] == pytest.approx(single.metrics["eval_loss"], abs=1e-2)
    report = json.loads((workdir / "out" / "training_report.json").read_text())
    matrix = report["reports"]["eval"]["confusion_matrix"]
    assert sum(map(sum, matrix)) == single.data_sizes["validation"], "every eval example counted exactly once"

    # Only the main process writes: the same files as a single-process run, nothing else anywhere.
    assert sorted(p.name for p in (workdir / "out").iterdir()) == sorted(
        p.name for p in (tmp_path / "single").iterdir()
    )
    assert sorted(p.name for p in workdir.iterdir()) == ["out", "recipe.yaml"]


def test_gradient_accumulation_gives_the_same_loss_curve(quiet_bert, text_files, tmp_path):
    one = hf_transfer.train(
        _recipe(quiet_bert, text_files, tmp_path / "a", {"name": "full"}, per_device_train_batch_size=8)
    )
    two = hf_transfer.train(
        _recipe(
            quiet_bert,
            text_files,
            tmp_path / "b",
            {"name": "full"},
            per_device_train_batch_size=4,
            gradient_accumulation_steps=2,
        )
    )

    def losses(out):
        history = json.loads((out / "training_report.json").read_text())["log_history"]
        return [h["loss"] for h in history if "loss" in h]

    a, b = losses(tmp_path / "a"), losses(tmp_path / "b")
    assert len(a) == len(b) == 3
    assert a == pytest.approx(b, abs=TOLERANCE)
    assert one.metrics["eval_loss"] == pytest.approx(two.metrics["eval_loss"], abs=TOLERANCE)


def _entries(cache: Path) -> dict[str, object]:
    from datasets import Dataset

    from hf_transfer import features

    return {
        p.name: Dataset.from_file(str(p / features.DATA)).with_format("torch")[:]
        for p in (cache / "features").iterdir()
    }


def test_feature_cache_under_two_processes(quiet_bert, text_files, tmp_path, monkeypatch):
    # Eval batch 6: the 16 training texts make batches of 6, 6, 4, so process 0 computes two and process 1
    # one (then an empty step); the 4 validation texts make one batch, all on process 0.
    strategy = {"name": "frozen"}
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache-single"))
    single = hf_transfer.train(
        _recipe(
            quiet_bert,
            text_files,
            tmp_path / "single",
            strategy,
            per_device_train_batch_size=16,
            per_device_eval_batch_size=6,
        )
    )

    workdir = tmp_path / "launch"
    workdir.mkdir()
    recipe = _recipe(
        quiet_bert, text_files, workdir / "out", strategy, per_device_train_batch_size=8, per_device_eval_batch_size=6
    )
    proc = _launch(recipe, workdir, HF_TRANSFER_CACHE=str(tmp_path / "cache-multi"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads((workdir / "out" / "training_report.json").read_text())["strategy"]["feature_cache"]
    assert {info["train"]["hit"], info["validation"]["hit"]} == {False}
    assert info["train"]["rows"] == single.data_sizes["train"]

    # The same entries, row for row, as one process writes (one writer; no temporary folders left).
    one, two = _entries(tmp_path / "cache-single"), _entries(tmp_path / "cache-multi")
    assert sorted(one) == sorted(two) and len(one) == 2
    for key in one:
        assert torch.equal(one[key]["labels"], two[key]["labels"])
        assert torch.allclose(one[key]["features"], two[key]["features"], atol=1e-5)

    multi = json.loads((workdir / "out" / "metrics.json").read_text())
    for key in ("eval_accuracy", "eval_macro_f1", "train_loss"):
        assert multi[key] == pytest.approx(single.metrics[key], abs=TOLERANCE), key
    assert sorted(p.name for p in (workdir / "out").iterdir()) == sorted(
        p.name for p in (tmp_path / "single").iterdir()
    )
    assert sorted(p.name for p in workdir.iterdir()) == ["out", "recipe.yaml"]

    # A second launch finds every entry on every process.
    recipe["training"]["output_dir"] = str(workdir / "again")
    proc = _launch(recipe, workdir, HF_TRANSFER_CACHE=str(tmp_path / "cache-multi"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads((workdir / "again" / "training_report.json").read_text())["strategy"]["feature_cache"]
    assert {info["train"]["hit"], info["validation"]["hit"]} == {True}
    assert json.loads((workdir / "again" / "metrics.json").read_text())["eval_accuracy"] == multi["eval_accuracy"]

    # Altered feature values in one entry (same size, still readable: only the local main process's checksum
    # sees it) make both processes recompute it together, and the run is the same as before.
    from datasets import Dataset

    from hf_transfer import features

    data = tmp_path / "cache-multi" / "features" / info["train"]["key"] / features.DATA
    original = data.read_bytes()
    first_row = Dataset.from_file(str(data)).with_format("numpy")[0]["features"].tobytes()
    at = original.index(first_row)
    data.write_bytes(original[:at] + bytes(b ^ 0xFF for b in first_row) + original[at + len(first_row) :])
    recipe["training"]["output_dir"] = str(workdir / "repaired")
    proc = _launch(recipe, workdir, HF_TRANSFER_CACHE=str(tmp_path / "cache-multi"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count(f"feature cache entry {info['train']['key']} is damaged") == 1
    info = json.loads((workdir / "repaired" / "training_report.json").read_text())["strategy"]["feature_cache"]
    assert not info["train"]["hit"] and info["validation"]["hit"]
    assert data.read_bytes() == original
    assert json.loads((workdir / "repaired" / "metrics.json").read_text())["eval_accuracy"] == multi["eval_accuracy"]


def test_per_token_feature_cache_under_two_processes(quiet_bert, tmp_path, monkeypatch):
    """Token classification: each process computes its share of the batches (sentences of different lengths,
    padded to different lengths on each process); the entries hold the same labelled-token vectors, row for
    row, as one process writes, and the head fitted on them scores the same."""
    from datasets import Dataset
    from test_token_classification import _sentences

    from hf_transfer import features
    from hf_transfer.probe import _token_tensors

    files = {}
    for split, n, seed in (("train", 14, 0), ("validation", 5, 1)):
        files[split] = tmp_path / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(r) + "\n" for r in _sentences(n, seed)))

    def recipe(out):
        return {
            "backbone": {"name_or_path": str(quiet_bert)},
            "data": {"source": "files", "train_file": str(files["train"]), "validation_file": str(files["validation"])},
            "task": {"name": "token-classification", "max_length": 32},
            "strategy": {"name": "frozen"},
            "training": {"output_dir": str(out), "per_device_eval_batch_size": 4, "precision": "fp32"},
        }

    def entries(out, cache):
        info = json.loads((out / "training_report.json").read_text())["strategy"]["feature_cache"]
        return {
            split: _token_tensors(
                Dataset.from_file(str(cache / "features" / info[split]["key"] / features.DATA)).with_format("arrow")[:]
            )
            for split in ("train", "validation")
        }

    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache-single"))
    single = hf_transfer.train(recipe(tmp_path / "single"))
    workdir = tmp_path / "launch"
    workdir.mkdir()
    proc = _launch(recipe(workdir / "out"), workdir, HF_TRANSFER_CACHE=str(tmp_path / "cache-multi"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = entries(tmp_path / "single", tmp_path / "cache-single")
    two = entries(workdir / "out", tmp_path / "cache-multi")
    for split in one:
        (f1, y1, o1), (f2, y2, o2) = one[split], two[split]
        assert torch.equal(o1, o2) and torch.equal(y1, y2), split
        assert torch.allclose(f1, f2, atol=1e-5), split
    assert len(o1) - 1 == 5 and int(o1[-1]) == sum(len(json.loads(r)["tokens"]) for r in files["validation"].open())
    multi = json.loads((workdir / "out" / "metrics.json").read_text())
    assert multi["eval_token_accuracy"] == pytest.approx(single.metrics["eval_token_accuracy"], abs=TOLERANCE)


def test_streamed_data_under_two_processes(quiet_bert, text_files, tmp_path):
    workdir = tmp_path / "launch"
    workdir.mkdir()
    recipe = _recipe(quiet_bert, text_files, workdir / "out", {"name": "full"})
    recipe["data"].update(streaming=True, labels=["music", "science", "sports"])
    recipe["training"]["train_sampling_strategy"] = "random"
    proc = _launch(recipe, workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "global batch size 16 = 8 per device × 2 processes" in proc.stderr
    metrics = json.loads((workdir / "out" / "metrics.json").read_text())
    assert metrics["train_global_batch_size"] == 16 and 0 <= metrics["eval_accuracy"] <= 1


REPO = Path(__file__).resolve().parent.parent


def _launch_config(name: str, workdir: Path) -> Path:
    """A shipped launch config, for 2 processes on this CPU-only machine."""
    config = yaml.safe_load((REPO / "recipes" / "accelerate" / f"{name}.yaml").read_text())
    config.update(num_processes=2, use_cpu=True)
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


HEAD_LR = {"head_learning_rate": 1e-2}


@pytest.mark.parametrize(
    ("config", "strategy", "engine"),
    [
        ("fsdp", {"name": "full", **HEAD_LR}, "FSDP2"),
        ("fsdp", {"name": "lora", "dropout": 0.0}, "FSDP2"),
        ("deepspeed_zero2", {"name": "full"}, "DeepSpeed ZeRO-2"),
        ("deepspeed_zero3", {"name": "partial", "num_blocks": 1, **HEAD_LR}, "DeepSpeed ZeRO-3"),
        # pooling native on both sides: under ZeRO-3, auto keeps LoRA on native pooling (model.resolve_pooling)
        ("deepspeed_zero3", {"name": "lora", "dropout": 0.0, "pooling": "native"}, "DeepSpeed ZeRO-3"),
        ("fsdp", {"name": "frozen"}, "FSDP2"),
        # The Trainer loop on cached features under DeepSpeed (the exact solver is not used there).
        ("deepspeed_zero2", {"name": "frozen", "head_solver": "sgd"}, "DeepSpeed ZeRO-2"),
        ("deepspeed_zero3", {"name": "frozen", "head_solver": "sgd"}, "DeepSpeed ZeRO-3"),
    ],
    ids=[
        "fsdp-full-head-lr",
        "fsdp-lora",
        "zero2-full",
        "zero3-partial-head-lr",
        "zero3-lora",
        "fsdp-cache",
        "zero2-cache",
        "zero3-cache",
    ],
)
def test_sharded_engines_match_one_process(config, strategy, engine, quiet_bert, text_files, tmp_path):
    """The shipped FSDP and DeepSpeed launch configs on 2 CPU processes, as a user launches them (FSDP
    needs the test-only launcher tests/fsdp_on_cpu.py: accelerate runs FSDP only on GPUs)."""
    if config.startswith("deepspeed"):
        pytest.importorskip("deepspeed")
    single = hf_transfer.train(
        _recipe(quiet_bert, text_files, tmp_path / "single", strategy, per_device_train_batch_size=16)
    )

    workdir = tmp_path / "launch"
    workdir.mkdir()
    recipe = _recipe(quiet_bert, text_files, workdir / "out", strategy, per_device_train_batch_size=8)
    script = (str(REPO / "tests" / "fsdp_on_cpu.py"),) if config == "fsdp" else ("-m", "hf_transfer")
    proc = _launch(recipe, workdir, ["--config_file", str(_launch_config(config, workdir))], script)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((workdir / "out" / "training_report.json").read_text())
    assert report["global_batch_size"]["engine"] == engine, "the engine asked for is the one that ran"
    assert f"| Distributed | {engine}, 2 processes |" in (workdir / "out" / "README.md").read_text()
    assert report["strategy"]["trainable_params"] == single.strategy.trainable_params > 0

    multi = json.loads((workdir / "out" / "metrics.json").read_text())
    for key in ("eval_accuracy", "eval_macro_f1", "train_loss"):
        assert multi[key] == pytest.approx(single.metrics[key], abs=TOLERANCE), key
    assert sorted(p.name for p in (workdir / "out").iterdir()) == sorted(
        p.name for p in (tmp_path / "single").iterdir()
    )


def test_fsdp_without_a_gpu_is_a_clear_error(quiet_bert, text_files, tmp_path):
    workdir = tmp_path / "launch"
    workdir.mkdir()
    recipe = _recipe(quiet_bert, text_files, workdir / "out", {"name": "full"})
    proc = _launch(recipe, workdir, ["--config_file", str(_launch_config("fsdp", workdir))])
    assert proc.returncode != 0
    assert "accelerate runs FSDP only on GPUs" in proc.stderr and "--multi_gpu --num_processes N" in proc.stderr
    assert not (workdir / "out").exists()


def test_fsdp2_with_cpu_ram_efficient_loading_is_refused(monkeypatch):
    from hf_transfer.errors import ConfigError
    from hf_transfer.launch import check_launch

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setenv("FSDP_VERSION", "2")
    monkeypatch.setenv("FSDP_CPU_RAM_EFFICIENT_LOADING", "true")
    with pytest.raises(ConfigError) as err:
        check_launch({}, "cuda")
    assert "set fsdp_cpu_ram_efficient_loading: false" in str(err.value)
    monkeypatch.setenv("FSDP_CPU_RAM_EFFICIENT_LOADING", "false")
    check_launch({}, "cuda")
    monkeypatch.setenv("FSDP_VERSION", "1")  # FSDP1 builds the optimizer after wrapping: not affected
    monkeypatch.setenv("FSDP_CPU_RAM_EFFICIENT_LOADING", "true")
    check_launch({}, "cuda")
    monkeypatch.delenv("ACCELERATE_USE_FSDP")
    with pytest.raises(ConfigError):  # the same settings from the recipe's TrainingArguments
        check_launch({"fsdp": "full_shard", "fsdp_config": {"version": 2, "cpu_ram_efficient_loading": True}}, "cuda")


def test_fsdp_wraps_the_backbone_blocks_unless_told(quiet_bert, monkeypatch):
    from transformers import AutoModel

    from hf_transfer.launch import default_fsdp_wrap

    backbone = AutoModel.from_pretrained(quiet_bert)
    monkeypatch.delenv("FSDP_TRANSFORMER_CLS_TO_WRAP", raising=False)
    assert default_fsdp_wrap({}, backbone) is None, "no FSDP, nothing set"
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert default_fsdp_wrap({}, backbone) == "BertLayer" and os.environ["FSDP_TRANSFORMER_CLS_TO_WRAP"] == "BertLayer"
    monkeypatch.setenv("FSDP_TRANSFORMER_CLS_TO_WRAP", "BertEncoder")
    assert default_fsdp_wrap({}, backbone) is None and os.environ["FSDP_TRANSFORMER_CLS_TO_WRAP"] == "BertEncoder"


def test_recipe_level_fsdp_settings_are_checked_too():
    from hf_transfer.errors import ConfigError
    from hf_transfer.launch import check_launch

    for training in (
        {"fsdp": "full_shard", "fsdp_config": {"cpu_ram_efficient_loading": True}},  # transformers' default: version 2
        {"fsdp": "full_shard", "fsdp_config": {"fsdp_version": 2, "fsdp_cpu_ram_efficient_loading": True}},
    ):
        with pytest.raises(ConfigError):
            check_launch(training, "cuda")
    check_launch({"fsdp": "full_shard", "fsdp_config": {"version": 1, "cpu_ram_efficient_loading": True}}, "cuda")


def test_per_parameter_rates_refuse_a_deepspeed_optimizer_section(tmp_path, quiet_bert):
    from transformers import AutoModel, TrainingArguments

    from hf_transfer.errors import ConfigError
    from hf_transfer.launch import check_optimizer

    model = AutoModel.from_pretrained(quiet_bert)
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True)
    check_optimizer(args, model, None)
    check_optimizer(args, model, {"x": 1e-3})  # adamw: takes parameter groups
    config = tmp_path / "ds.json"
    config.write_text(json.dumps({"optimizer": {"type": "AdamW"}, "scheduler": {"type": "WarmupLR"}}))
    os.environ["ACCELERATE_DEEPSPEED_CONFIG_FILE"] = str(config)
    try:
        with pytest.raises(ConfigError) as err:
            check_optimizer(args, model, {"x": 1e-3})
    finally:
        del os.environ["ACCELERATE_DEEPSPEED_CONFIG_FILE"]
    assert "'optimizer' section" in str(err.value) and "'scheduler' section" in str(err.value)


def test_fsdp_wrap_setting_lasts_for_the_trainer_only(quiet_bert, monkeypatch):
    from transformers import AutoModel

    from hf_transfer.launch import WRAP_ENV, fsdp_wrap

    backbone = AutoModel.from_pretrained(quiet_bert)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.delenv(WRAP_ENV, raising=False)
    with fsdp_wrap({}, backbone):
        assert os.environ[WRAP_ENV] == "BertLayer"
    assert WRAP_ENV not in os.environ
    monkeypatch.setenv(WRAP_ENV, "BertLayer")
    with fsdp_wrap({}, None):  # the feature cache: the engine gets a head with no blocks
        assert WRAP_ENV not in os.environ
    assert os.environ[WRAP_ENV] == "BertLayer"


def test_sigterm_under_accelerate_launch_stops_every_process_at_one_checkpoint_and_resumes(
    quiet_bert, text_files, tmp_path
):
    """SIGTERM to the launcher (what a scheduler sends): both processes save at the same step and stop."""
    import signal
    import time

    from hf_transfer.rundir import read_manifest

    workdir = tmp_path / "launch"
    workdir.mkdir()
    out = workdir / "out"
    recipe = _recipe(quiet_bert, text_files, out, {"name": "full"}, save_strategy="no", logging_steps=1)
    recipe["training"]["max_steps"] = 12
    path = workdir / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    slow = Path(__file__).with_name("slow_cli.py")
    cmd = [str(VENV_BIN / "accelerate"), "launch", *DDP_ON_CPU, str(slow), "train", str(path)]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "CI": "true",
        "HF_TRANSFER_TEST_DELAY": "0.5",
        "PYTHONPATH": str(REPO),
    }
    log = workdir / "log.txt"
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir, env=env)
        end = time.monotonic() + 300
        while "'loss'" not in log.read_text() and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        assert proc.poll() is None, log.read_text()[-3000:]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    said = log.read_text()
    assert proc.returncode != 0
    manifest = read_manifest(out)
    assert manifest["status"] == "interrupted", said[-3000:]
    (checkpoint,) = manifest["checkpoints"]
    step = int(checkpoint.split("-")[1])
    assert 0 < step < 12 and f"interrupted by SIGTERM at step {step} of 12" in said
    assert "rng_state_0.pth" in os.listdir(out / checkpoint) and "rng_state_1.pth" in os.listdir(out / checkpoint)

    env["HF_TRANSFER_TEST_DELAY"] = "0"
    proc = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, cwd=workdir, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming from {out / checkpoint}" in proc.stderr
    assert read_manifest(out)["status"] == "finished"
