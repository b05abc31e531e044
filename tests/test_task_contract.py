"""The task contract (#12): tasks and strategies declare what they are, and no core module names one.

A task is one file in ``hf_transfer/tasks/`` (a strategy one in ``hf_transfer/strategies/``): everything else
asks the registries and the plugins' declarations. The toy task below is defined here, registered under a
name of its own, and trains, saves, reloads and gets a model card without any core module knowing it.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

import hf_transfer
from hf_transfer.registry import STRATEGIES, TASKS
from hf_transfer.tasks import declared, task_class_for_architectures, task_class_for_pipeline_tag
from hf_transfer.tasks.text_classification import TextClassification

PACKAGE = Path(hf_transfer.__file__).parent
PLUGIN_PACKAGES = ("tasks", "strategies")
# (module relative to the package, the literal) pairs a core module may keep; keep it tiny and say why.
EXEMPT: set[tuple[str, str]] = set()
TOY = "toy-shouted-text-classification"


def _docstrings(tree: ast.AST) -> set[int]:
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))]
    return {
        id(node.body[0].value)
        for node in nodes
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }


def _core_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] not in PLUGIN_PACKAGES]


def test_no_core_module_names_a_task_or_a_strategy():
    names = set(TASKS.names()) | set(STRATEGIES.names())
    assert {"text-classification", "lora"} <= names  # the registries were discovered
    found = []
    for path in _core_modules():
        tree = ast.parse(path.read_text())
        docstrings = _docstrings(tree)
        module = str(path.relative_to(PACKAGE))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in names
                and id(node) not in docstrings
                and (module, node.value) not in EXEMPT
            ):
                found.append(f"{module}:{node.lineno}: {node.value!r}")
    assert not found, "core modules must ask the registries / plugin declarations, not name plugins:\n" + "\n".join(
        found
    )


def test_the_core_modules_are_scanned():
    modules = {str(p.relative_to(PACKAGE)) for p in _core_modules()}
    assert {"pipeline.py", "hub.py", "loading.py", "model.py", "config.py"} <= modules
    assert not any(m.startswith(("tasks/", "strategies/")) for m in modules)


@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_declares_a_pipeline_tag_and_its_roles(name):
    task = TASKS.get(name)
    assert "pipeline_tag" in dir(task) and "roles" in dir(task)
    assert callable(task.auto_model_class) and callable(task.preprocess) and callable(task.collator)


def test_single_modality_tasks_declare_their_loading_and_card():
    for name in TASKS.names():
        cls = TASKS.get(name)
        if not isinstance(getattr(cls, "modality", None), str):
            continue  # its modality follows the backbone: it forwards these once bound
        for key in ("auto_class_name", "head_model_class", "card_example", "processor_argument"):
            assert isinstance(getattr(cls, key, None), str), f"task '{name}' declares no {key}"
        assert task_class_for_pipeline_tag(cls.pipeline_tag) is not None
        suffix = cls.auto_class_name.removeprefix("AutoModel")
        assert task_class_for_architectures([f"SomeModel{suffix}"]).auto_class_name == cls.auto_class_name


def test_strategies_declare_whether_they_use_the_feature_cache(tmp_path):
    from hf_transfer.config import load_recipe
    from hf_transfer.strategies import Strategy

    assert all(callable(STRATEGIES.get(n).uses_feature_cache) for n in STRATEGIES.names())
    assert not Strategy.uses_feature_cache(None)  # the default: no feature cache
    (tmp_path / "train.csv").write_text("text,label\na,x\n")  # a recipe's data files must exist
    raw = {
        "backbone": {"name_or_path": "some/backbone"},
        "data": {"source": "files", "train_file": str(tmp_path / "train.csv")},
        "task": {"name": "text-classification"},
    }
    assert load_recipe({**raw, "strategy": {"name": "frozen"}}).strategy.options.uses_feature_cache()
    frozen_uncached = {"name": "frozen", "cache_features": False}
    assert not load_recipe({**raw, "strategy": frozen_uncached}).strategy.options.uses_feature_cache()
    assert not load_recipe(raw).strategy.options.uses_feature_cache()


# --- a new task: one class (here in the test), registered by name, no core module edited -----------------


@dataclass
class ShoutedTextClassification(TextClassification):
    """Text classification of shouted text: upper-cases every input before tokenizing (and declares its own
    pipeline tag and card example, to show that they reach the artifacts)."""

    pipeline_tag = "shouted-text-classification"
    card_example = '"THIS IS AN EXAMPLE TEXT."'

    def preprocess(self, data, processor, model_config, augment_train: bool = True):
        shouted = {
            split: None if ds is None else ds.map(lambda row: {"text": row["text"].upper()})
            for split, ds in (("train", data.train), ("validation", data.validation), ("test", data.test))
        }
        return super().preprocess(_Splits(data, shouted), processor, model_config, augment_train)


class _Splits:
    """``data`` with other train/validation/test splits."""

    def __init__(self, data, splits):
        self._data, self.train, self.validation, self.test = data, splits["train"], splits["validation"], splits["test"]

    def __getattr__(self, name):
        return getattr(self._data, name)


@pytest.fixture
def toy_task():
    TASKS.register(TOY)(ShoutedTextClassification)
    try:
        yield ShoutedTextClassification
    finally:
        TASKS.unregister(TOY)
    assert TOY not in TASKS


def test_a_new_task_is_found_by_name_and_by_its_declarations(toy_task, tmp_path):
    from hf_transfer.config import load_recipe

    (tmp_path / "train.csv").write_text("text,label\na,x\n")  # a recipe's data files must exist
    recipe = load_recipe(
        {
            "backbone": {"name_or_path": "some/backbone"},
            "data": {"source": "files", "train_file": str(tmp_path / "train.csv")},
            "task": {"name": TOY, "max_length": 16},
        }
    )
    assert isinstance(recipe.task.options, ShoutedTextClassification) and recipe.task.options.max_length == 16
    assert task_class_for_pipeline_tag("shouted-text-classification") is toy_task
    assert declared(toy_task, "card_example") == '"THIS IS AN EXAMPLE TEXT."'
    assert declared(toy_task, "peft_task_type") == "SEQ_CLS"  # inherited from text-classification


def test_unregister_of_an_unknown_name_is_a_key_error():
    with pytest.raises(KeyError):
        TASKS.unregister("no-such-task")


@pytest.mark.slow
def test_a_new_task_trains_saves_reloads_and_gets_a_card(toy_task, backbones, text_files, tmp_path):
    from helpers import text_recipe

    out = tmp_path / "toy"
    recipe = text_recipe(backbones["bert"], text_files, out, task={"name": TOY}, strategy={"name": "lora"})
    recipe["training"].update(precision="fp32")
    result = hf_transfer.train(recipe)
    assert result.output_dir == out or Path(result.output_dir) == out
    report = json.loads((out / "training_report.json").read_text())
    assert report["task"] == TOY and report["pipeline_tag"] == "shouted-text-classification"
    model = hf_transfer.load_model(out)  # rebuilt from the task declarations (no core module knows the task)
    assert model.config.num_labels == 3
    card = (out / "README.md").read_text()
    assert "shouted-text-classification" in card and '"THIS IS AN EXAMPLE TEXT."' in card


def test_a_strategy_declares_that_it_needs_native_pooling_under_zero3(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from hf_transfer import model

    backbone = SimpleNamespace(is_local=True, location=str(tmp_path))  # no sentence-transformers pooling declared
    monkeypatch.setattr(model, "_zero3", lambda: True)
    for name in STRATEGIES.names():
        strategy = STRATEGIES.get(name)
        pooling, reason = model.resolve_pooling("auto", backbone, strategy, text=True)
        if strategy.native_pooling_under_zero3 and strategy.auto_text_pooling != "native":
            assert pooling == "native" and f"strategy '{name}' under DeepSpeed ZeRO-3" in reason
        else:
            assert pooling == strategy.auto_text_pooling
    assert any(STRATEGIES.get(n).native_pooling_under_zero3 for n in STRATEGIES.names())
