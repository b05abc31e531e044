"""Recipes: loading, dotted overrides, validation messages, YAML round trip, the TrainingArguments snapshot.

Everything here runs without torch except the two snapshot tests, which import
transformers once (module-scoped fixture). Bugs found in the package are kept as
strict xfails whose reason starts with "BUG:".
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import tomllib
import yaml

import hf_transfer
from hf_transfer import ConfigError, Recipe, load_recipe, training_args
from hf_transfer.config import SHIPPED_RECIPES, list_recipes

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- helpers


def problems_of(source, overrides=None) -> list[str]:
    """The problems of the single ConfigError that loading ``source`` must raise."""
    with pytest.raises(ConfigError) as info:
        load_recipe(source, overrides)
    err = info.value
    assert err.problems, "a ConfigError must carry at least one problem"
    # Every problem is in the printed message too (that is what the CLI shows).
    for p in err.problems:
        assert p in str(err)
    return err.problems


def one_problem(source, overrides=None) -> str:
    problems = problems_of(source, overrides)
    assert len(problems) == 1, problems
    return problems[0]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def data_files(tmp_path, monkeypatch) -> dict[str, Path]:
    """Tiny JSONL files in a fresh cwd (tmp_path/work), so relative paths never hit the repo."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    rows = "".join(json.dumps({"text": f"row {i}", "label": i % 2}) + "\n" for i in range(4))
    out = {}
    for split in ("train", "validation", "test"):
        out[split] = work / f"{split}.jsonl"
        out[split].write_text(rows)
    return out


@pytest.fixture
def base(data_files) -> dict:
    """A valid text-classification recipe as a dict (absolute data paths)."""
    return {
        "backbone": {"name_or_path": "some-org/some-model"},
        "data": {
            "source": "files",
            "train_file": str(data_files["train"]),
            "validation_file": str(data_files["validation"]),
        },
        "task": {"name": "text-classification", "max_length": 32},
        "strategy": {"name": "full"},
        "training": {"learning_rate": 1e-4, "num_train_epochs": 2, "seed": 1, "output_dir": "outputs/base"},
        "hub": {"push": False},
    }


RECIPE_YAML = """
    # a small but complete recipe
    backbone:
      name_or_path: some-org/some-model
    data:
      source: files
      train_file: data/train.jsonl
      validation_file: data/validation.jsonl
      train_split: train[:2000]
    task:
      name: text-classification
      max_length: 32
    strategy:
      name: full
    training:
      learning_rate: 3e-5
      num_train_epochs: 3
      save_strategy: "no"
    hub:
      push: false
"""


@pytest.fixture
def recipe_file(tmp_path, data_files) -> Path:
    """tmp_path/recipes/small.yaml with data/ next to it; the cwd is tmp_path/work."""
    path = write(tmp_path / "recipes" / "small.yaml", RECIPE_YAML)
    data_dir = tmp_path / "recipes" / "data"
    data_dir.mkdir()
    for split in ("train", "validation"):
        shutil.copy(data_files[split], data_dir / f"{split}.jsonl")
    return path


# ---------------------------------------------------------------- loading


def test_load_from_yaml_path(recipe_file):
    for source in (recipe_file, str(recipe_file)):
        r = load_recipe(source)
        assert isinstance(r, Recipe)
        assert r.name == "small"
        assert r.path == recipe_file
        assert r.backbone.name_or_path == "some-org/some-model"
        assert r.backbone.revision is None and r.backbone.trust_remote_code is False
        assert r.data.source == "files"
        assert r.data.train_split == "train[:2000]"
        assert r.task.name == "text-classification"
        assert r.task.options.max_length == 32
        assert r.strategy.name == "full"
        assert r.hub.push is False
        # YAML 1.1 reads `3e-5` as the string '3e-5'; the recipe must hold the float.
        assert r.training["learning_rate"] == 3e-05 and type(r.training["learning_rate"]) is float
        assert r.training["num_train_epochs"] == 3.0
        assert r.training["save_strategy"] == "no"


def test_load_from_dict(base):
    r = load_recipe(base)
    assert r.name == "recipe" and r.path is None
    assert r.backbone.name_or_path == "some-org/some-model"
    assert r.data.options.train_file == str(Path(base["data"]["train_file"]).resolve())
    assert r.task.options.max_length == 32
    assert r.training["learning_rate"] == 1e-4
    assert r.training["seed"] == 1


def test_load_from_dict_does_not_mutate_it(base):
    snapshot = json.loads(json.dumps(base))
    load_recipe(base, ["training.seed=7", "hub.private=true", "data.columns.text=sentence"])
    assert base == snapshot


def test_strategy_defaults_to_full(base):
    del base["strategy"]
    assert load_recipe(base).strategy.name == "full"


def test_shipped_recipe_by_name():
    r = load_recipe("quickstart")
    assert r.path == SHIPPED_RECIPES / "quickstart.yaml"
    assert r.name == "quickstart"
    assert r.task.name == "text-classification"
    # The recipe's relative data paths resolve against the shipped recipes folder, wherever the cwd is.
    train = Path(r.data.options.train_file)
    assert train == (SHIPPED_RECIPES / "data" / "debian-sections" / "train.jsonl").resolve()
    assert train.is_file()
    # The same recipe by path and by name ".yaml" gives the same result.
    assert load_recipe(REPO / "recipes" / "quickstart.yaml").to_dict() == r.to_dict()
    assert load_recipe("quickstart.yaml").to_dict() == r.to_dict()


def test_recipe_paths_resolve_against_recipe_folder_and_overrides_against_cwd(recipe_file, tmp_path):
    recipes_dir = (tmp_path / "recipes").resolve()
    cwd = (tmp_path / "work").resolve()
    assert Path.cwd().resolve() == cwd

    r = load_recipe(recipe_file)
    assert r.data.options.train_file == str(recipes_dir / "data" / "train.jsonl")
    assert r.data.options.validation_file == str(recipes_dir / "data" / "validation.jsonl")

    # The same key given as a CLI-style override is relative to the cwd, the other keys stay put.
    r = load_recipe(recipe_file, ["data.train_file=train.jsonl"])
    assert r.data.options.train_file == str(cwd / "train.jsonl")
    assert r.data.options.validation_file == str(recipes_dir / "data" / "validation.jsonl")

    # ... and through both dict forms of overrides.
    for overrides in ({"data.train_file": "train.jsonl"}, {"data": {"train_file": "train.jsonl"}}):
        r = load_recipe(recipe_file, overrides)
        assert r.data.options.train_file == str(cwd / "train.jsonl")
        assert r.data.options.validation_file == str(recipes_dir / "data" / "validation.jsonl")

    # Absolute paths are kept as they are.
    absolute = str(cwd / "test.jsonl")
    assert load_recipe(recipe_file, [f"data.test_file={absolute}"]).data.options.test_file == absolute


def test_dict_recipe_paths_resolve_against_cwd(base, data_files):
    base["data"]["train_file"] = "train.jsonl"
    r = load_recipe(base)
    assert r.data.options.train_file == str(data_files["train"].resolve())


def test_overrides_on_a_loaded_recipe(base):
    r = load_recipe(base)
    assert load_recipe(r) is r
    r2 = load_recipe(r, ["training.seed=7"])
    assert r2.training["seed"] == 7 and r.training["seed"] == 1
    assert r2.name == r.name
    assert r2.data.options.train_file == r.data.options.train_file


# ---------------------------------------------------------------- overrides


@pytest.mark.parametrize(
    "overrides",
    [
        ["training.learning_rate=3e-5", "task.max_length=16", "hub.private=true", "data.columns.text=sentence"],
        {"training.learning_rate": "3e-5", "task.max_length": 16, "hub.private": True, "data.columns.text": "sentence"},
        {
            "training": {"learning_rate": 3e-5},
            "task": {"max_length": 16},
            "hub": {"private": True},
            "data": {"columns": {"text": "sentence"}},
        },
        {
            "training.learning_rate": 3e-5,
            "task": {"max_length": "16"},
            "hub": {"private": "yes"},
            "data.columns": {"text": "sentence"},
        },
    ],
    ids=["list", "flat-dict", "nested-dict", "mixed-dict"],
)
def test_overrides_list_and_dict_forms(base, overrides):
    r = load_recipe(base, overrides)
    assert r.training["learning_rate"] == 3e-05 and type(r.training["learning_rate"]) is float
    assert r.task.options.max_length == 16 and type(r.task.options.max_length) is int
    assert r.hub.private is True
    assert r.data.columns.text == "sentence"
    # Overrides merge into their section: untouched keys keep the recipe's values.
    assert r.training["num_train_epochs"] == 2.0 and r.training["seed"] == 1
    assert r.task.name == "text-classification"
    assert r.data.options.train_file == base["data"]["train_file"]
    assert r.hub.push is False


def test_override_yaml_quirks(base):
    r = load_recipe(
        base, ["training.learning_rate=3e-5", "data.train_split=train[:2000]", "data.validation_split=validation[10%:]"]
    )
    assert r.training["learning_rate"] == 3e-05 and type(r.training["learning_rate"]) is float
    assert r.data.train_split == "train[:2000]"
    assert r.data.validation_split == "validation[10%:]"


def test_override_with_equals_in_value(base):
    r = load_recipe(base, ["hub.commit_message=lr=3e-5"])
    assert r.hub.commit_message == "lr=3e-5"


def test_override_null_clears_optional_key(base):
    r = load_recipe(base, ["data.validation_file=null", "task.max_length=null"])
    assert r.data.options.validation_file is None
    assert r.task.options.max_length is None


def test_lr_scheduler_kwargs_override_replaces_the_mapping(base):
    base["training"]["lr_scheduler_kwargs"] = {"min_lr": 1e-6}
    r = load_recipe(base, {"training": {"lr_scheduler_kwargs": {"power": 2.0}}})
    assert r.training["lr_scheduler_kwargs"] == {"power": 2.0}


@pytest.mark.parametrize("bad", ["training.learning_rate", "=3e-5", "  =1"])
def test_override_without_equals_is_an_error(base, bad):
    msg = one_problem(base, [bad])
    assert f"override '{bad}'" in msg
    assert "section.key=value" in msg


def test_bad_override_is_reported_with_the_other_problems(base):
    problems = problems_of(base, ["training.learning_rate", "training.num_train_epochs=abc"])
    assert len(problems) == 2
    assert any("override 'training.learning_rate'" in p for p in problems)
    assert any("'training.num_train_epochs'" in p for p in problems)


def test_override_into_a_non_section_value(base):
    base["hub"] = {"push": False, "repo_id": "me/model"}
    msg = one_problem(base, ["hub.repo_id.name=x"])
    assert "override 'hub.repo_id.name'" in msg and "'hub.repo_id'" in msg and "not a section" in msg


@pytest.mark.parametrize(
    "override, attr, expected",
    [
        ("hub.commit_message=fix #3", ("hub", "commit_message"), "fix #3"),
        ("hub.commit_message=Add model: v2", ("hub", "commit_message"), "Add model: v2"),
        ("backbone.revision=1.10", ("backbone", "revision"), "1.10"),
        ("training.save_strategy=no", ("training", "save_strategy"), "no"),
    ],
    ids=["hash-comment", "colon-mapping", "float-tag", "norway"],
)
def test_override_string_values_are_kept_verbatim(base, override, attr, expected):
    r = load_recipe(base, [override])
    section, key = attr
    value = r.training[key] if section == "training" else getattr(getattr(r, section), key)
    assert value == expected


def test_empty_section_dict_override_is_a_no_op(base):
    r = load_recipe(base, {"training": {}, "hub": {}})
    assert r.training["learning_rate"] == 1e-4 and r.training["output_dir"] == "outputs/base"


# ---------------------------------------------------------------- errors: the recipe file


def test_missing_recipe_file_suggests_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = one_problem("quickstrat")
    assert "recipe file 'quickstrat' does not exist" in msg
    assert "(did you mean 'quickstart'?)" in msg
    assert "quickstart" in msg.split("shipped recipe name", 1)[1]  # the shipped names are listed


def test_missing_recipe_file_without_near_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = one_problem(tmp_path / "nowhere" / "zzzzzz.yaml")
    assert "zzzzzz.yaml' does not exist" in msg
    assert "did you mean" not in msg


def test_recipe_file_not_yaml_names_the_line(tmp_path):
    path = write(
        tmp_path / "broken.yaml",
        """
        backbone:
          name_or_path: x
        data: source: files
        task:
          name: text-classification
        """,
    )
    msg = one_problem(path)
    assert str(path) in msg
    assert "not valid YAML" in msg
    assert "line 3" in msg


@pytest.mark.parametrize("text, found", [("- backbone\n- data\n", "list"), ("just some words\n", "string")])
def test_recipe_top_level_must_be_a_mapping(tmp_path, text, found):
    path = tmp_path / "flat.yaml"
    path.write_text(text)
    msg = one_problem(path)
    assert str(path) in msg
    assert "must hold a mapping" in msg and f"found {found}" in msg


def test_empty_recipe_file_lists_every_missing_section(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here\n")
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    assert info.value.problems == [
        "missing required section 'backbone'",
        "missing required section 'data'",
        "missing required section 'task'",
    ]
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"3 problems in {path}:")


# ---------------------------------------------------------------- errors: sections and keys


def test_unknown_section(base):
    base["trainng"] = {"seed": 3}
    msg = one_problem(base)
    assert "unknown section 'trainng'" in msg and "(did you mean 'training'?)" in msg


def test_unknown_section_in_override(base):
    msg = one_problem(base, ["trainig.seed=3"])
    assert "override 'trainig.seed'" in msg and "unknown section 'trainig'" in msg
    assert "(did you mean 'training'?)" in msg


@pytest.mark.parametrize(
    "override, key, suggestion",
    [
        ("backbone.name_or_pth=x", "backbone.name_or_pth", "name_or_path"),
        ("backbone.revison=main", "backbone.revison", "revision"),
        ("data.trian_split=train", "data.trian_split", "train_split"),
        ("data.train_fil=a.jsonl", "data.train_fil", "train_file"),  # a plugin (files) option
        ("data.columns.txt=sentence", "data.columns.txt", "text"),
        ("task.max_lenght=12", "task.max_lenght", "max_length"),  # a plugin (text-classification) option
        ("strategy.nam=full", "strategy.nam", "name"),
        ("training.learning_rat=3e-5", "training.learning_rat", "learning_rate"),
        ("hub.privat=true", "hub.privat", "private"),
    ],
)
def test_unknown_key_with_did_you_mean(base, override, key, suggestion):
    msg = one_problem(base, [override])
    assert f"unknown key '{key}'" in msg
    assert f"(did you mean '{suggestion}'?)" in msg


def test_unknown_key_in_yaml_file(recipe_file):
    text = recipe_file.read_text().replace("name_or_path:", "name_or_pth:")
    recipe_file.write_text(text)
    problems = problems_of(recipe_file)
    assert any("unknown key 'backbone.name_or_pth' (did you mean 'name_or_path'?)" in p for p in problems)
    assert any("missing required key 'backbone.name_or_path'" in p for p in problems)


@pytest.mark.parametrize(
    "override, key, expected, found",
    [
        ("training.num_train_epochs=abc", "training.num_train_epochs", "a number", "string 'abc'"),
        ("training.seed=1.5", "training.seed", "an integer", "number 1.5"),
        ("training.use_cpu=maybe", "training.use_cpu", "true or false", "string 'maybe'"),
        ("hub.private=maybe", "hub.private", "true or false", "string 'maybe'"),
        ("backbone.trust_remote_code=sure", "backbone.trust_remote_code", "true or false", "string 'sure'"),
        ("data.validation_size=lots", "data.validation_size", "a number", "string 'lots'"),
        ("task.max_length=abc", "task.max_length", "an integer", "string 'abc'"),  # plugin option
        ("data.columns=text", "data.columns", "a mapping", "string 'text'"),
    ],
)
def test_wrong_type(base, override, key, expected, found):
    msg = one_problem(base, [override])
    assert f"'{key}' must be {expected}" in msg
    assert f"found {found}" in msg


def test_plugin_options_follow_the_named_plugin(base):
    # base sets task.max_length, a text-classification option; image-classification does not take it.
    msg = one_problem(base, ["task.name=image-classification"])
    assert msg.startswith("unknown key 'task.max_length'") and "crop_scale" in msg  # known keys listed
    del base["task"]["max_length"]
    msg = one_problem(base, ["task.name=image-classification", "task.crop_scale=big"])
    assert msg.startswith("'task.crop_scale' must be a list") and "found string 'big'" in msg
    r = load_recipe(base, ["task.name=image-classification", "task.crop_scale=[0.5, 1.0]", "task.augment=false"])
    assert r.task.options.crop_scale == [0.5, 1.0] and r.task.options.augment is False


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda r: r["backbone"].pop("name_or_path"), "missing required key 'backbone.name_or_path'"),
        (lambda r: r.pop("task"), "missing required section 'task'"),
        (lambda r: r.pop("backbone"), "missing required section 'backbone'"),
        (lambda r: r["data"].pop("source"), "missing required key 'data.source'"),
        (lambda r: r["data"].pop("train_file"), "missing required key 'data.train_file'"),  # plugin option
    ],
    ids=["backbone.name_or_path", "task", "backbone", "data.source", "data.train_file"],
)
def test_missing_required(base, mutate, expected):
    mutate(base)
    msg = one_problem(base)
    assert msg.startswith(expected)


@pytest.mark.parametrize(
    "override, key, kind, suggestion",
    [
        ("data.source=file", "data.source", "data source", "files"),
        ("task.name=text-clasification", "task.name", "task", "text-classification"),
        ("strategy.name=ful", "strategy.name", "strategy", "full"),
    ],
)
def test_unknown_plugin_name(base, override, key, kind, suggestion):
    bad = override.split("=", 1)[1]
    msg = one_problem(base, [override])
    assert f"'{key}': unknown {kind} '{bad}'" in msg
    assert f"(did you mean '{suggestion}'?)" in msg
    assert "registered:" in msg and suggestion in msg.split("registered:", 1)[1]


def test_unknown_plugin_name_without_near_match(base):
    msg = one_problem(base, ["strategy.name=zzzzzz"])
    assert "unknown strategy 'zzzzzz'" in msg and "did you mean" not in msg


@pytest.mark.parametrize("size", ["1.5", "0", "1", "-0.2"])
def test_validation_size_out_of_range(base, size):
    msg = one_problem(base, [f"data.validation_size={size}"])
    assert "'data.validation_size' must be between 0 and 1" in msg
    assert f"found {float(size)}" in msg


def test_validation_size_in_range(base):
    assert load_recipe(base, ["data.validation_size=0.25"]).data.validation_size == 0.25


def test_hub_push_needs_repo_id(base):
    msg = one_problem(base, ["hub.push=true"])
    assert "'hub.push' is true" in msg and "'hub.repo_id' is not set" in msg
    r = load_recipe(base, ["hub.push=true", "hub.repo_id=me/my-model"])
    assert r.hub.push is True and r.hub.repo_id == "me/my-model"


@pytest.mark.parametrize(
    "key, value", [("hub_token", "hf_SECRETTOKEN123"), ("push_to_hub", "true"), ("hub_model_id", "me/model")]
)
def test_forbidden_training_keys(base, key, value):
    with pytest.raises(ConfigError) as info:
        load_recipe(base, [f"training.{key}={value}"])
    (msg,) = info.value.problems
    assert f"'training.{key}' is not allowed" in msg
    # The fix is named: a token goes in HF_TOKEN, a push goes in hub.push, a repo in hub.repo_id.
    assert {"hub_token": "HF_TOKEN", "push_to_hub": "hub.push", "hub_model_id": "hub.repo_id"}[key] in msg
    if key == "hub_token":
        assert value not in str(info.value)  # never echo a secret


def test_many_mistakes_in_one_config_error(tmp_path):
    path = write(
        tmp_path / "messy.yaml",
        """
        backbone:
          name_or_pth: some/model
        data:
          source: files
          train_file: train.jsonl
          validation_size: 1.5
        task:
          name: text-clasification
        strategy:
          name: full
        training:
          learning_rat: 3e-5
          num_train_epochs: abc
          hub_token: hf_xxx
          push_to_hub: true
        hub:
          push: true
          private: false
        extras:
          x: 1
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_recipe(path, ["training.seed=abc", "hub.license=apache-2.0"])
    err = info.value
    expected = [
        "'training.seed' must be an integer",  # from an override, reported with the file's problems
        "unknown section 'extras'",
        "unknown key 'backbone.name_or_pth' (did you mean 'name_or_path'?)",
        "missing required key 'backbone.name_or_path'",
        "'data.validation_size' must be between 0 and 1",
        "'task.name': unknown task 'text-clasification' (did you mean 'text-classification'?)",
        "unknown key 'training.learning_rat' (did you mean 'learning_rate'?)",
        "'training.num_train_epochs' must be a number",
        "'training.hub_token' is not allowed",
        "'training.push_to_hub' is not allowed",
        "'hub.push' is true but 'hub.repo_id' is not set",
    ]
    assert len(err.problems) == len(expected), err.problems
    for fragment in expected:
        assert sum(fragment in p for p in err.problems) == 1, (fragment, err.problems)
    assert err.source == str(path)
    assert str(err).startswith(f"{len(expected)} problems in {path}:")


def test_many_mistakes_from_overrides(base):
    problems = problems_of(
        base,
        [
            "training.learning_rat=1",
            "training.num_train_epochs=abc",
            "hub.private=maybe",
            "task.max_length=abc",
            "data.source=file",
            "strategy.name=ful",
            "trainig.seed=1",
            "oops",
        ],
    )
    assert len(problems) == 8, problems
    for fragment in (
        "'training.learning_rat'",
        "'training.num_train_epochs'",
        "'hub.private'",
        "'task.max_length'",
        "'data.source'",
        "'strategy.name'",
        "'trainig.seed'",
        "override 'oops'",
    ):
        assert sum(fragment in p for p in problems) == 1, (fragment, problems)


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (
            ["data.train_file=null", "data.validation_size=abc"],
            ["'data.train_file' must be", "'data.validation_size' must be"],
        ),
        (["task.max_length=abc", "task.nme=x"], ["'task.max_length' must be an integer", "unknown key 'task.nme'"]),
    ],
    ids=["data", "task"],
)
def test_plugin_problems_reported_with_common_key_problems(base, overrides, fragments):
    problems = problems_of(base, overrides)
    for fragment in fragments:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert len(problems) == 2


@pytest.mark.parametrize(
    "overrides",
    [["hub.push=true", "hub.private=maybe"], ["data.validation_size=1.5", "data.trian_split=train"]],
    ids=["hub", "data"],
)
def test_section_checks_reported_with_key_problems(base, overrides):
    assert len(problems_of(base, overrides)) == 2


def test_int_training_key_in_exponent_notation(base):
    assert load_recipe(base, ["training.max_steps=1e3"]).training["max_steps"] == 1000


def test_null_output_dir_gets_the_default(base):
    r = load_recipe(base, ["training.output_dir=null"])
    assert r.output_dir == Path("outputs") / "recipe"


# ---------------------------------------------------------------- to_dict / to_yaml


def test_to_yaml_round_trip(recipe_file):
    r = load_recipe(recipe_file, ["hub.push=true", "hub.repo_id=me/model", "data.columns.text=sentence"])
    dumped = yaml.safe_load(r.to_yaml())
    assert dumped == r.to_dict()
    again = load_recipe(dumped)
    assert again.to_dict() == r.to_dict()
    assert again.training["learning_rate"] == 3e-05 and type(again.training["learning_rate"]) is float


def test_to_dict_flattens_plugin_options(recipe_file):
    d = load_recipe(recipe_file).to_dict()
    assert list(d) == ["backbone", "data", "task", "strategy", "training", "hub"]
    assert all("options" not in section for section in d.values())
    assert d["data"]["source"] == "files"
    assert Path(d["data"]["train_file"]).is_absolute() and d["data"]["train_file"].endswith("train.jsonl")
    assert d["data"]["test_file"] is None
    assert d["data"]["columns"] == {"text": None, "text_pair": None, "image": None, "tokens": None, "label": None}
    assert d["task"] == {"name": "text-classification", "class_weights": None, "max_length": 32}
    assert d["strategy"]["name"] == "full" and d["strategy"]["head"] == "linear" and d["strategy"]["pooling"] == "auto"
    assert d["training"]["output_dir"] == str(Path("outputs") / "small")


def test_to_dict_flattens_image_task_options(base):
    base["task"] = {"name": "image-classification", "crop_scale": [0.5, 1.0], "augment": False}
    r = load_recipe(base)
    d = r.to_dict()
    assert d["task"]["crop_scale"] == [0.5, 1.0] and d["task"]["augment"] is False
    assert "horizontal_flip" in d["task"]
    assert load_recipe(yaml.safe_load(r.to_yaml())).to_dict() == d


def test_default_output_dir_is_outputs_recipe_stem(tmp_path, data_files):
    path = write(
        tmp_path / "my-experiment.yaml",
        f"""
        backbone: {{name_or_path: x}}
        data: {{source: files, train_file: {data_files["train"]}}}
        task: {{name: text-classification}}
        """,
    )
    r = load_recipe(path)
    assert r.training["output_dir"] == str(Path("outputs") / "my-experiment")
    assert r.output_dir == Path("outputs") / "my-experiment"
    # An explicit output_dir wins, also as an override.
    assert load_recipe(path, ["training.output_dir=elsewhere"]).output_dir == Path("elsewhere")


def test_default_output_dir_for_dict_recipe(base):
    del base["training"]["output_dir"]
    assert load_recipe(base).output_dir == Path("outputs") / "recipe"


# ---------------------------------------------------------------- training section schema


@pytest.fixture(scope="module")
def introspected() -> dict[str, str]:
    """TrainingArguments fields read from the installed transformers (imports torch once)."""
    return training_args.introspect()


@pytest.fixture
def fresh_training_fields(monkeypatch, tmp_path):
    """training_fields() with its in-process memo cleared and a private per-version cache folder."""
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    training_args.training_fields.cache_clear()
    yield training_args.training_fields
    training_args.training_fields.cache_clear()


def _pretend_transformers_version(monkeypatch, version):
    real_version = importlib.metadata.version
    monkeypatch.setattr(
        training_args.importlib.metadata,
        "version",
        lambda name: version if name == "transformers" else real_version(name),
    )


def test_snapshot_fields_match_introspection(introspected):
    """The shipped snapshot is exact for the version it names. CI installs the newest transformers, which may be
    newer than the snapshot: then the snapshot is not used (see the fallback tests) and this only warns."""
    snapshot = json.loads(training_args.SNAPSHOT.read_text())
    installed = importlib.metadata.version("transformers")
    hint = "regenerate it with `python -m hf_transfer.training_args`"
    # The snapshot covers the keys recipes rely on, and so does the installed TrainingArguments.
    for key in ("learning_rate", "num_train_epochs", "output_dir", "eval_strategy", "hub_token", "push_to_hub"):
        assert key in snapshot["fields"]
        assert key in introspected
    if snapshot["transformers"] == installed:
        assert snapshot["fields"] == introspected, hint
    else:
        warnings.warn(
            f"snapshot is for transformers {snapshot['transformers']}, {installed} is installed; {hint}", stacklevel=2
        )


def test_snapshot_is_used_when_versions_match(fresh_training_fields, monkeypatch):
    snapshot = json.loads(training_args.SNAPSHOT.read_text())
    _pretend_transformers_version(monkeypatch, snapshot["transformers"])

    def boom():
        raise AssertionError("introspect() must not run when the snapshot matches the installed transformers")

    monkeypatch.setattr(training_args, "introspect", boom)
    assert fresh_training_fields() == snapshot["fields"]


def test_introspection_fallback_when_version_differs(fresh_training_fields, monkeypatch, introspected, base):
    """Another transformers version: fields are read from TrainingArguments once, kept per version on disk, and
    the next process (memo cleared) validates from that file without importing transformers."""
    _pretend_transformers_version(monkeypatch, "0.0.1.not-the-snapshot")
    calls = []

    def spy():
        calls.append(1)
        return introspected

    monkeypatch.setattr(training_args, "introspect", spy)
    assert fresh_training_fields() == introspected
    assert calls == [1]
    cache_file = training_args.version_cache_file("0.0.1.not-the-snapshot")
    assert json.loads(cache_file.read_text()) == {"transformers": "0.0.1.not-the-snapshot", "fields": introspected}
    # Memoised: recipe validation reuses it rather than introspecting again.
    r = load_recipe(base, ["training.learning_rate=3e-5"])
    assert r.training["learning_rate"] == 3e-05
    assert calls == [1]
    assert "did you mean 'learning_rate'" in one_problem(base, ["training.learning_rat=1"])
    # A new process: read from the per-version file.
    fresh_training_fields.cache_clear()
    assert fresh_training_fields() == introspected
    assert calls == [1]
    # Another version does not reuse that file.
    _pretend_transformers_version(monkeypatch, "0.0.2")
    fresh_training_fields.cache_clear()
    fresh_training_fields()
    assert calls == [1, 1]


def test_damaged_version_cache_is_rebuilt(fresh_training_fields, monkeypatch, introspected):
    _pretend_transformers_version(monkeypatch, "0.0.3")
    cache_file = training_args.version_cache_file("0.0.3")
    cache_file.parent.mkdir(parents=True)
    for damaged in ("{not json", json.dumps({"transformers": "0.0.3", "fields": {}}), json.dumps([1, 2])):
        cache_file.write_text(damaged)
        fresh_training_fields.cache_clear()
        assert fresh_training_fields() == introspected
        assert json.loads(cache_file.read_text())["fields"] == introspected


def test_unwritable_version_cache_still_validates(fresh_training_fields, monkeypatch, tmp_path, introspected):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(blocker))
    _pretend_transformers_version(monkeypatch, "0.0.4")
    assert fresh_training_fields() == introspected


def test_stale_snapshot_fields_are_not_used(fresh_training_fields, monkeypatch, tmp_path, base):
    """A snapshot from another transformers version is ignored: the introspected fields drive validation."""
    stale = tmp_path / "training_args_schema.json"
    stale.write_text(json.dumps({"transformers": "0.0.1", "fields": {"learning_rate": "float", "old_option": "int"}}))
    monkeypatch.setattr(training_args, "SNAPSHOT", stale)
    fields = {
        "learning_rate": "float",
        "num_train_epochs": "float",
        "seed": "int",
        "output_dir": "str?",
        "new_option": "int",
    }
    monkeypatch.setattr(training_args, "introspect", lambda: fields)
    r = load_recipe(base, ["training.new_option=5"])
    assert r.training["new_option"] == 5
    assert "unknown key 'training.old_option'" in one_problem(base, ["training.old_option=1"])


# ---------------------------------------------------------------- import cost, packaging, shipped recipes


def test_recipe_validation_does_not_import_heavy_libraries(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        import hf_transfer
        r = hf_transfer.load_recipe("recipes/quickstart.yaml", ["training.learning_rate=3e-5"])
        assert r.training["learning_rate"] == 3e-05
        heavy = [m for m in ("torch", "transformers", "datasets") if m in sys.modules]
        assert not heavy, f"validating a recipe imported {heavy}"
        print("ok")
        """
    )
    env = {**os.environ, "HF_TRANSFER_CACHE": str(tmp_path)}
    # The first validation with a transformers the shipped snapshot is not for reads TrainingArguments once; every
    # later one must be light. (With the snapshot's own version the first one is light too.)
    warm = "import hf_transfer; hf_transfer.load_recipe('recipes/quickstart.yaml')"
    subprocess.run([sys.executable, "-c", warm], cwd=REPO, env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_shipped_recipes_found_in_installed_layout(tmp_path):
    """Lay the package out the way pyproject's package-dir installs it (recipes inside the package, nothing
    next to it) and load a shipped recipe by name: a wheel install must find its recipes too."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_dir = pyproject["tool"]["setuptools"]["package-dir"]
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    # The top-level package first, then the packages mapped from other folders (recipes, hub_cards) into it.
    for package, folder in sorted(package_dir.items(), key=lambda kv: kv[0].count(".")):
        shutil.copytree(REPO / folder, site.joinpath(*package.split(".")), ignore=ignore, dirs_exist_ok=True)
    assert (site / "hf_transfer" / "recipes" / "quickstart.yaml").is_file()
    assert not (site / "recipes").exists()
    code = textwrap.dedent(
        """
        import json, sys
        import hf_transfer
        from hf_transfer.errors import ConfigError
        out = {"file": hf_transfer.__file__, "error": None}
        try:
            out["train_file"] = hf_transfer.load_recipe("quickstart").data.options.train_file
        except ConfigError as e:
            out["error"] = e.problems[0]
        print(json.dumps(out))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert Path(out["file"]).is_relative_to(site), "the test must exercise the copied package"
    assert out["error"] is None
    assert Path(out["train_file"]).is_relative_to(site / "hf_transfer" / "recipes")


def test_list_recipes_finds_quickstart():
    recipes = list_recipes()
    assert SHIPPED_RECIPES / "quickstart.yaml" in recipes
    assert all(p.suffix == ".yaml" and p.is_file() for p in recipes)
    assert recipes == sorted(recipes)


SHIPPED = list_recipes()


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(SHIPPED_RECIPES).with_suffix("")) for p in SHIPPED])
def test_every_shipped_recipe_loads(path):
    name = str(path.relative_to(SHIPPED_RECIPES).with_suffix(""))
    r = load_recipe(name)
    assert r.path == path
    assert r.name == path.stem
    assert r.output_dir  # a string path, default or explicit
    # ... and survives its own YAML dump (what gets written next to the trained model).
    assert load_recipe(yaml.safe_load(r.to_yaml())).to_dict() == r.to_dict()


def test_public_api():
    assert hf_transfer.load_recipe is load_recipe
    assert issubclass(ConfigError, hf_transfer.HfTransferError)
    assert ConfigError(["a", "b"]).exit_code == 2


def test_a_binary_file_or_a_folder_as_recipe_is_one_clear_problem(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(128, 256)))
    msg = one_problem(binary)
    assert "is not UTF-8 text" in msg and "save it as UTF-8" in msg
    folder = tmp_path / "data"
    folder.mkdir()
    assert "is a folder, not a recipe file" in one_problem(folder)


def test_values_training_would_reject_only_once_started_are_all_reported_together(base):
    found = problems_of(
        base,
        {
            "training": {
                "learning_rate": float("nan"),
                "num_train_epochs": float("inf"),
                "seed": -1,
                "max_steps": -5,
                "report_to": ["wandb-not-a-package-here"],
            }
        },
    )
    text = "\n".join(found)
    assert "'training.learning_rate' is NaN" in text
    assert "'training.num_train_epochs' must be finite, found inf" in text
    assert "'training.seed' must be between 0 and 2**32 - 1, found -1" in text
    assert "'training.max_steps' must be a positive step count, or -1" in text
    assert len(found) == 4  # an integration transformers does not know is left to transformers' own message


def test_report_to_an_integration_whose_package_is_missing_is_reported_before_the_run(base, monkeypatch):
    monkeypatch.setattr(training_args, "_installed", lambda module: module != "wandb")
    msg = one_problem(base, {"training": {"report_to": "wandb"}})
    assert "'training.report_to' names 'wandb', but its package is not installed" in msg and "pip install wandb" in msg
    monkeypatch.setattr(training_args, "_installed", lambda module: True)
    load_recipe(base, {"training": {"report_to": "wandb"}})


def test_every_missing_data_file_is_reported_with_the_recipes_other_problems(base, tmp_path):
    base["data"].update(train_file=str(tmp_path / "gone.jsonl"), validation_file=str(tmp_path / "also-gone.jsonl"))
    found = problems_of(base, {"training": {"learning_rate": "abc"}})
    assert len(found) == 3
    assert any("data.train_file" in p and "gone.jsonl' does not exist" in p for p in found)
    assert any("data.validation_file" in p and "also-gone.jsonl' does not exist" in p for p in found)
    assert any("'training.learning_rate' must be a number" in p for p in found)


def test_a_section_given_a_plain_value_on_the_command_line_is_described_as_that_value(base):
    assert (
        one_problem(base, ["training=1"])
        == "'training' must be a mapping of TrainingArguments options, found integer 1"
    )


def test_a_name_that_differs_in_case_only_gets_did_you_mean(base):
    assert "(did you mean 'lora'?)" in one_problem(base, ["strategy.name=LoRA"])


def test_a_deepspeed_config_file_that_does_not_exist_is_a_recipe_problem(base, tmp_path):
    msg = one_problem(base, {"training": {"deepspeed": str(tmp_path / "nonexist.json")}})
    assert "'training.deepspeed' names the config file" in msg and "does not exist" in msg
