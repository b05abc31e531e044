"""Model cards and Hub pushes, against a Hub-compatible HTTP server on 127.0.0.1 with the real client.

Runs are trained on the tiny fixtures (with HF_TOKEN set, to prove the token lands in no file) or
written by hand where the card must be deterministic (the golden test).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hub_server import FakeHub

import hf_transfer
from helpers import image_recipe, text_recipe
from hf_transfer import cli, hub, push

TOKEN = "hf_TestTokenDoNotLeak0123456789"
GOLDEN = Path(__file__).parent / "golden" / "model_card_lora.md"
OWN_FILES = ("README.md", "confusion_matrix_validation.png", "confusion_matrix_test.png", "training_curves.png")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def runs(backbones, text_files, image_folder, tmp_path_factory) -> dict[str, Path]:
    """Tiny trained runs: full (with a test split), LoRA with merge, an hf_transfer mlp head, an image LoRA."""
    root = tmp_path_factory.mktemp("runs")
    saved = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = TOKEN  # a token in the environment must not reach any file
    try:
        full = text_recipe(backbones["bert"], text_files, root / "full")
        full["data"]["test_file"] = str(text_files["test"])
        recipes = {
            "full": full,
            "lora": text_recipe(
                backbones["bert"],
                text_files,
                root / "lora",
                strategy={"name": "lora", "merge": True, "pooling": "native"},
            ),
            "mlp": text_recipe(
                backbones["bert"],
                text_files,
                root / "mlp",
                strategy={"name": "frozen", "head": "mlp", "head_hidden_sizes": [8]},
            ),
            "image-lora": image_recipe(backbones["vit"], image_folder, root / "image-lora", strategy={"name": "lora"}),
        }
        for recipe in recipes.values():
            recipe["training"]["max_steps"] = 2
            hf_transfer.train(recipe)
    finally:
        os.environ.pop("HF_TOKEN") if saved is None else os.environ.__setitem__("HF_TOKEN", saved)
    return {name: root / name for name in recipes}


@pytest.fixture
def run_copy(runs, tmp_path):
    def copy(name: str) -> Path:
        return Path(shutil.copytree(runs[name], tmp_path / name, symlinks=True))

    return copy


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    from huggingface_hub import constants

    with FakeHub(user="me", token=TOKEN, orgs=("my-org",)) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
        monkeypatch.setattr(push, "RETRY_DELAYS", (0.01, 0.01, 0.01))
        yield server


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def python_blocks(card: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", card, flags=re.S)


# ---------------------------------------------------------------- cards


def write_golden_run(
    out: Path, backbone: str = "google-bert/bert-base-uncased", license_: str | None = "apache-2.0"
) -> Path:
    """A LoRA run folder written by hand: every value fixed, so the card is byte-for-byte stable."""
    labels = ["World", "Sports", "Business", "Sci/Tech"]
    recipe = {
        "backbone": {"name_or_path": backbone, "revision": None, "trust_remote_code": False},
        "data": {
            "source": "hub",
            "dataset": "fancyzhx/ag_news",
            "config_name": None,
            "revision": None,
            "train_split": "train[:2000]",
            "validation_split": None,
            "test_split": "test",
        },
        "task": {"name": "text-classification", "max_length": 128},
        "strategy": {"name": "lora", "head": "linear", "r": 8, "alpha": 16, "dropout": 0.1, "merge": True},
        "training": {
            "output_dir": "outputs/bert-ag-news-lora",
            "num_train_epochs": 2,
            "learning_rate": 0.0003,
            "seed": 42,
        },
        "hub": {
            "push": True,
            "repo_id": "me/bert-ag-news-lora",
            "private": False,
            "license": license_,
            "artifacts": "both",
        },
    }
    per_class = lambda scale: {  # noqa: E731
        name: {
            "precision": round(0.9 - scale * i, 4),
            "recall": round(0.88 - scale * i, 4),
            "f1": round(0.89 - scale * i, 4),
            "support": 25,
        }
        for i, name in enumerate(labels)
    }
    matrix = [[22, 1, 1, 1], [0, 24, 1, 0], [2, 1, 19, 3], [1, 0, 4, 20]]
    report = {
        "hf_transfer_version": "0.0.0",
        "backbone": backbone,
        "task": "text-classification",
        "labels": labels,
        "columns": {"text": "text", "label": "label"},
        "data_sizes": {"train": 1900, "validation": 100, "test": 100},
        "data_notes": ["validation carved from train (5%, stratified, seed 42)"],
        "strategy": {
            "name": "lora",
            "trainable_params": 297988,
            "total_params": 109783300,
            "trainable_percent": 0.27143,
            "description": "LoRA r=8, alpha=16 on query, value (24 modules); head trained in full",
            "lora": {
                "r": 8,
                "alpha": 16,
                "dropout": 0.1,
                "target_modules": ["query", "value"],
                "use_rslora": False,
                "use_dora": False,
            },
            "pooling": "native",
            "head": "linear",
            "head_modules": ["classifier"],
        },
        "reports": {
            "eval": {"accuracy": 0.85, "macro_f1": 0.849, "per_class": per_class(0.01), "confusion_matrix": matrix},
            "test": {"accuracy": 0.84, "macro_f1": 0.8385, "per_class": per_class(0.02), "confusion_matrix": matrix},
        },
        "log_history": [{"loss": 1.4 - 0.1 * i, "step": 10 * i} for i in range(1, 8)]
        + [
            {"eval_loss": 0.6, "eval_accuracy": 0.8, "eval_macro_f1": 0.79, "step": 35},
            {"eval_loss": 0.5, "eval_accuracy": 0.85, "eval_macro_f1": 0.849, "step": 70},
        ],
        "versions": {"transformers": "0.0.0", "torch": "0.0.0", "peft": "0.0.0", "huggingface_hub": "0.0.0"},
        "defaults": {
            "warmup_steps": {"value": 0.06, "reason": "6% linear warm-up, as in the LoRA paper"},
            "weight_decay": {"value": 0.01, "reason": "light decoupled weight decay (AdamW)"},
        },
    }
    metrics = {
        "eval_accuracy": 0.85,
        "eval_macro_f1": 0.849,
        "eval_macro_precision": 0.8512,
        "eval_macro_recall": 0.85,
        "eval_loss": 0.5,
        "test_accuracy": 0.84,
        "test_macro_f1": 0.8385,
        "test_macro_precision": 0.84123,
        "test_macro_recall": 0.84,
        "test_loss": 0.52,
        "train_loss": 0.9,
    }
    (out / "merged").mkdir(parents=True)
    (out / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    (out / "training_report.json").write_text(json.dumps(report, indent=2))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    for folder in (out, out / "merged"):
        (folder / "config.json").write_text(
            json.dumps({"model_type": "bert", "architectures": ["BertForSequenceClassification"]})
        )
    (out / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": backbone, "peft_type": "LORA"}))
    return out


def test_golden_card(tmp_path):
    from huggingface_hub import ModelCard

    out = write_golden_run(tmp_path / "run")
    path = hub.render_card(out)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(path.read_text())
    assert path.read_text() == GOLDEN.read_text(), (
        "card changed; rerun with UPDATE_GOLDEN=1 if intended and review the diff"
    )

    data = ModelCard.load(path).data
    assert data.library_name == "peft"
    assert data.base_model == "google-bert/bert-base-uncased"
    assert data.base_model_relation == "adapter"
    assert data.datasets == ["fancyzhx/ag_news"]
    assert data.metrics == ["accuracy", "f1", "precision", "recall"]
    assert data.pipeline_tag == "text-classification"
    assert data.license == "apache-2.0"
    assert data.tags == ["hf-transfer", "lora", "text-classification"]
    assert data.model_name == "bert-ag-news-lora"
    results = {(r.dataset_split, r.metric_type): r for r in data.eval_results}
    assert len(results) == 8
    assert results[("validation", "accuracy")].metric_value == 0.85
    assert results[("test", "precision")].metric_value == 0.8412
    assert results[("test", "f1")].metric_args == {"average": "macro"}
    assert {r.dataset_type for r in data.eval_results} == {"fancyzhx/ag_news"}
    assert {r.task_type for r in data.eval_results} == {"text-classification"}

    from PIL import Image

    for name in ("confusion_matrix_validation.png", "confusion_matrix_test.png", "training_curves.png"):
        with Image.open(out / name) as img:
            assert img.format == "PNG" and img.width > 200 and img.height > 200
        assert f"]({name})" in path.read_text()


def test_license_falls_back_to_the_base_models_card(tmp_path):
    from huggingface_hub import ModelCard

    backbone = tmp_path / "backbone"
    backbone.mkdir()
    (backbone / "README.md").write_text("---\nlicense: mit\n---\n# a backbone\n")
    out = write_golden_run(tmp_path / "run", backbone=str(backbone), license_=None)
    data = ModelCard.load(hub.render_card(out)).data
    assert data.license == "mit"
    assert data.base_model is None and "base_model_relation" not in data.to_dict()  # a local folder is no Hub id
    out2 = write_golden_run(tmp_path / "run2", backbone=str(backbone), license_="apache-2.0")
    assert ModelCard.load(hub.render_card(out2)).data.license == "apache-2.0"  # the recipe's license wins


@pytest.mark.slow
def test_card_is_written_by_training_and_rerendered_from_files_alone(runs, run_copy, capsys):
    from huggingface_hub import ModelCard

    out = run_copy("full")
    written = {name: (out / name).read_bytes() for name in OWN_FILES if (out / name).is_file()}
    assert set(written) == {
        "README.md",
        "confusion_matrix_validation.png",
        "confusion_matrix_test.png",
        "training_curves.png",
    }
    for name in written:
        (out / name).unlink()
    assert cli.main(["card", str(out)]) == 0
    assert "model card written" in capsys.readouterr().out
    assert {name: (out / name).read_bytes() for name in written} == written
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "transformers" and "lora" not in card.data.tags
    assert "| test | 12 |" in card.text and "### Per-class results (test)" in card.text


def test_card_of_a_lora_run_describes_adapter_and_merged_model(runs):
    from huggingface_hub import ModelCard

    card = ModelCard.load(runs["lora"] / "README.md")
    assert card.data.library_name == "peft" and "lora" in card.data.tags
    assert "AutoPeftModelForSequenceClassification" in card.text and "merged" in card.text
    assert re.search(r"\| Trainable parameters \| [\d,]+ of [\d,]+ \(\d+\.\d\d%\) \|", card.text)
    assert "| LoRA | r=8, alpha=16, dropout=0.1 on `query`, `value` |" in card.text


@pytest.mark.parametrize("name", ["full", "mlp", "lora", "image-lora"])
def test_how_to_use_snippets_run(name, runs, tmp_path, monkeypatch, capsys):
    """Every code block of the card runs as written and predicts one of the run's labels."""
    from PIL import Image

    card = (runs[name] / "README.md").read_text()
    blocks = python_blocks(card)
    assert blocks and len(blocks) == (2 if name == "lora" else 1)
    if name == "mlp":
        assert blocks[0].startswith("import hf_transfer.modeling")
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (40, 40), (200, 30, 30)).save("image.jpg")
    labels = json.loads((runs[name] / "training_report.json").read_text())["labels"]
    for code in blocks:
        exec(compile(code, f"<card {name}>", "exec"), {"__name__": "__card__"})
        printed = capsys.readouterr().out
        assert any(f"'label': '{label}'" in printed for label in labels), printed


def test_not_an_output_folder_gets_one_message(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["card", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "is not an hf_transfer output folder" in err and "Traceback" not in err
    assert snapshot(tmp_path) == {"notes.txt": hashlib.sha256(b"mine").hexdigest()}


# ---------------------------------------------------------------- push


def test_push_creates_private_repo_with_every_file(fake_hub, run_copy):
    out = run_copy("lora")
    before = snapshot(out)
    url = push.push_output(out, repo_id="me/tiny-lora", private=True, artifacts="both")
    assert url == f"{fake_hub.url}/me/tiny-lora"
    assert snapshot(out) == before, "pushing must not touch the output folder"

    create = fake_hub.calls("POST", "/api/repos/create")
    assert [c.json() for c in create] == [{"name": "tiny-lora", "organization": "me", "visibility": "private"}]
    repo = fake_hub.repos["me/tiny-lora"]
    assert repo.private
    files = repo.files("main")
    expected = {
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "config.json",
        "metrics.json",
        "recipe.yaml",
        "training_report.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "confusion_matrix_validation.png",
        "training_curves.png",
        "merged/config.json",
        "merged/model.safetensors",
        "merged/tokenizer.json",
        "merged/tokenizer_config.json",
    }
    assert set(files) == expected  # training_args.bin (a pickle) stays local
    assert files["adapter_model.safetensors"] == (out / "adapter_model.safetensors").read_bytes()
    assert len(repo.commits) == 1
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in fake_hub.requests)
    secret = TOKEN.encode()
    assert not [p for p, data in files.items() if secret in data]
    assert not [r.path for r in fake_hub.requests if secret in r.body]
    assert not [p for p in out.rglob("*") if p.is_file() and secret in p.read_bytes()], "token in a local file"

    from huggingface_hub import ModelCard

    card = ModelCard(files["README.md"].decode())
    assert card.data.library_name == "peft" and card.data.model_name == "tiny-lora"
    assert (
        'from_pretrained("me/tiny-lora"' in card.text
        and 'snapshot_download("me/tiny-lora", allow_patterns=["merged/*"])' in card.text
    )


def test_push_merged_model_from_the_recipe_hub_section(fake_hub, run_copy):
    out = run_copy("lora")
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    recipe["hub"].update(repo_id="my-org/tiny-merged", private=False, commit_message="first upload", artifacts="merged")
    (out / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert push.push_output(out) == f"{fake_hub.url}/my-org/tiny-merged"

    assert fake_hub.calls("POST", "/api/repos/create")[0].json()["visibility"] == "public"
    repo = fake_hub.repos["my-org/tiny-merged"]
    assert not repo.private and repo.commits[0]["summary"] == "first upload"
    files = repo.files("main")
    assert files["model.safetensors"] == (out / "merged" / "model.safetensors").read_bytes()
    assert "adapter_config.json" not in files and not any(p.startswith("merged/") for p in files)
    from huggingface_hub import ModelCard

    card = ModelCard(files["README.md"].decode())
    assert card.data.library_name == "transformers"
    assert 'pipeline("text-classification", model="my-org/tiny-merged")' in card.text


def test_push_to_a_branch_and_as_a_pull_request(fake_hub, run_copy):
    out = run_copy("full")
    assert push.push_output(out, repo_id="me/tiny", revision="dev") == f"{fake_hub.url}/me/tiny/tree/dev"
    repo = fake_hub.repos["me/tiny"]
    assert "model.safetensors" in repo.files("dev") and repo.files("main") == {}
    assert push.push_output(out, repo_id="me/tiny", create_pr=True) == f"{fake_hub.url}/me/tiny/discussions/1"
    assert "model.safetensors" in repo.files("refs/pr/1")
    assert fake_hub.calls("POST", "/preupload/main")[-1].query == {"create_pr": ["1"]}


def test_transient_5xx_are_retried(fake_hub, run_copy):
    out = run_copy("full")
    fake_hub.fail("POST", "/api/repos/create", status=503, times=2)
    fake_hub.fail("POST", "/commit/", status=502, times=1)
    push.push_output(out, repo_id="me/flaky")
    assert len(fake_hub.calls("POST", "/api/repos/create")) == 3
    assert len(fake_hub.calls("POST", "/commit/")) == 2
    assert "model.safetensors" in fake_hub.repos["me/flaky"].files("main")


def test_403_gives_the_promised_message(fake_hub, run_copy, capsys):
    out = run_copy("full")
    before = snapshot(out)
    assert cli.main(["push", str(out), "--repo-id", "someone-else/tiny"]) == 1
    err = capsys.readouterr().err
    assert "not allowed to write to 'someone-else/tiny' (403 Forbidden" in err
    assert "--repo-id <your-username>/tiny" in err
    assert f"hf-transfer push {out} --repo-id someone-else/tiny" in err
    assert "Traceback" not in err and TOKEN not in err
    assert snapshot(out) == before and fake_hub.repos == {}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("no-token", "no Hugging Face token: set the HF_TOKEN environment variable"),
        ("malformed-repo", "'not a repo' is not a valid Hub repo id"),
        ("no-repo", "no Hub repo to push to: set hub.repo_id"),
        ("network-down", "could not reach the Hub at http://127.0.0.1:"),
        ("wrong-token", "rejected your token (401 Unauthorized"),
        ("not-an-output", "is not an hf_transfer output folder"),
        ("merged-missing", "holds no merged model"),
        ("artifacts-of-a-whole-model", "holds a whole model (no adapter_config.json), which is pushed as it is"),
    ],
)
def test_bad_input_gets_one_clear_message(case, expected, fake_hub, run_copy, monkeypatch, capsys):
    out = run_copy("full")
    args = ["push", str(out), "--repo-id", "me/tiny"]
    if case == "no-token":
        monkeypatch.delenv("HF_TOKEN")
    elif case == "malformed-repo":
        args[3] = "not a repo"
    elif case == "no-repo":
        args = args[:2]
    elif case == "network-down":
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    elif case == "wrong-token":
        monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    elif case == "not-an-output":
        (out / "recipe.yaml").unlink()
    elif case == "merged-missing":
        out = run_copy("image-lora")
        args = ["push", str(out), "--repo-id", "me/tiny", "--artifacts", "merged"]
    elif case == "artifacts-of-a-whole-model":
        args += ["--artifacts", "merged"]
    before = snapshot(out)
    assert cli.main(args) != 0
    err = capsys.readouterr().err
    assert err.startswith("hf-transfer: error: ") and err.count("hf-transfer: error:") == 1, err
    assert expected in err and "Traceback" not in err and TOKEN not in err
    if case in ("network-down", "wrong-token", "no-token"):
        assert f"retry with:\n  hf-transfer push {out} --repo-id me/tiny" in err
    assert snapshot(out) == before
    assert fake_hub.repos == {}


@pytest.mark.slow
def test_push_command_in_a_fresh_process(fake_hub, run_copy):
    """The console script honours HF_ENDPOINT and HF_TOKEN from the environment, like a user's shell."""
    out = run_copy("mlp")
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_HOME": str(out.parent / "hf-home")}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "hf-transfer"), "push", str(out), "--repo-id", "me/mlp", "--private"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{fake_hub.url}/me/mlp" in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr
    files = fake_hub.repos["me/mlp"].files("main")
    assert files["README.md"].decode().count("import hf_transfer.modeling") == 1


def test_training_pushes_at_the_end_when_the_recipe_says_so(fake_hub, backbones, text_files, tmp_path):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["hub"] = {"push": True, "repo_id": "me/pushed-at-the-end", "private": True}
    result = hf_transfer.train(recipe)
    assert result.hub_url == f"{fake_hub.url}/me/pushed-at-the-end"
    files = fake_hub.repos["me/pushed-at-the-end"].files("main")
    assert {"README.md", "model.safetensors", "config.json", "recipe.yaml"} <= set(files)
    assert fake_hub.repos["me/pushed-at-the-end"].private


def test_hub_id_names_the_base_model_of_a_local_copy(tmp_path):
    from huggingface_hub import ModelCard

    backbone = tmp_path / "backbone"
    backbone.mkdir()
    out = write_golden_run(tmp_path / "run", backbone=str(backbone))
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    recipe["backbone"]["hub_id"] = "sentence-transformers/all-MiniLM-L6-v2"
    (out / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    data = ModelCard.load(hub.render_card(out)).data
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2" and data.base_model_relation == "adapter"


def test_hub_id_must_be_a_hub_id():
    from hf_transfer import load_recipe
    from hf_transfer.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_recipe("quickstart", ["backbone.hub_id=/models/minilm"])
    assert "'backbone.hub_id' must be a Hub model id like namespace/name, found '/models/minilm'" in str(err.value)
    assert load_recipe("quickstart").backbone.hub_id == "sentence-transformers/all-MiniLM-L6-v2"
