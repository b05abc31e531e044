"""Recipes: YAML + dotted overrides → a validated, typed :class:`Recipe`.

A recipe has six sections: ``backbone``, ``data``, ``task``, ``strategy``,
``training`` (passed straight into ``transformers.TrainingArguments``) and
``hub``. ``data``, ``task`` and ``strategy`` name a registered plugin
(``source:`` / ``name:``) and may carry that plugin's own options next to the
common keys. Every problem in a recipe is collected and raised once as a
:class:`~hf_transfer.errors.ConfigError`. Importing this module does not import
torch, transformers or datasets.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from . import early_stopping, schema
from .errors import ConfigError
from .precision import PRECISIONS
from .registry import DATA_SOURCES, STRATEGIES, TASKS, Registry, did_you_mean
from .schema import field
from .strategies import DEFAULT_STRATEGY
from .training_args import training_fields, value_problems

_HERE = Path(__file__).resolve().parent
# Installed wheels carry the recipes inside the package; a source checkout has them next to it.
SHIPPED_RECIPES = next((p for p in (_HERE / "recipes", _HERE.parent / "recipes") if p.is_dir()), _HERE / "recipes")
SECTIONS = ("backbone", "data", "task", "strategy", "training", "hub")
# TrainingArguments keys that a recipe must not set, and why.
# Keys of the training section that are ours, not TrainingArguments'.
EXTRA_TRAINING_KEYS = {
    "precision": PRECISIONS,
    "save_on_interrupt": ("true", "false"),
    "cpu_dropout": ("fast", "torch"),  # hf_transfer.dropout.CHOICES (not imported here: it imports torch)
}
RESUME_LAST = "last"
FORBIDDEN_TRAINING_KEYS = {
    "hub_token": "a token never goes in a recipe; set HF_TOKEN or run `hf auth login`",
    "push_to_hub": "use the recipe's 'hub.push: true' instead",
    "hub_model_id": "use 'hub.repo_id' instead",
}


@dataclass
class BackboneConfig:
    name_or_path: str = field(
        help="a Hub model id, a local folder, or pkg://<python package>/<folder> for a model shipped in a package"
    )
    revision: str | None = field(None, help="Hub branch, tag or commit")
    trust_remote_code: bool = field(False, help="run modelling code from the model repo (off unless you trust it)")
    hub_id: str | None = field(
        None,
        help="the Hub id a local or pkg:// copy came from, for the model card's base_model (e.g. google-bert/bert-base-uncased)",
    )

    def validate(self, prefix: str) -> list[str]:
        if self.hub_id is not None and not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", self.hub_id):
            return [f"'{prefix}.hub_id' must be a Hub model id like namespace/name, found '{self.hub_id}'"]
        return []


@dataclass
class ColumnsConfig:
    text: str | None = field(None, help="text column (default: text, sentence or content)")
    text_pair: str | None = field(None, help="second text column for sentence-pair tasks")
    image: str | None = field(None, help="image column (default: image or img)")
    tokens: str | None = field(None, help="column of word lists, for tasks that tag words (default: tokens or words)")
    label: str | list[str] | None = field(
        None,
        help="label column (default: label or labels; tags or ner_tags when words are tagged); regression: a "
        "list of columns, one target each",
    )


@dataclass
class DataConfig:
    source: str = field(help="registered data source: " + "hub, imagefolder, files or memory")
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    train_split: str = field("train", help="split for training; slices work: train[:2000], train[:10%]")
    validation_split: str | None = field(
        None, help="split for evaluation; default: 'validation' if the data has it, else carved from train"
    )
    test_split: str | None = field(None, help="optional held-out split evaluated once at the end")
    validation_size: float = field(
        0.1, help="fraction of train carved out (stratified) when there is no validation split"
    )
    streaming: bool = field(False, help="stream the data (datasets IterableDataset): for data larger than disk or RAM")
    labels: list[str] | None = field(
        None,
        help="class names in id order; needed for streamed data without a ClassLabel (multi-label: the label "
        "vocabulary, default: every label in train, sorted)",
    )
    label_separator: str | None = field(
        None, help="multi-label: the character between labels in a CSV/TSV label cell, e.g. ';' (sports;music)"
    )
    on_bad_example: Literal["error", "skip"] = field(
        "error",
        help="an unreadable image or an empty text: error (list them all and stop) or skip (drop them, with a note)",
    )
    options: Any = field(None, init=False)

    def validate(self, prefix: str) -> list[str]:
        if not 0.0 < self.validation_size < 1.0:
            return [f"'{prefix}.validation_size' must be between 0 and 1 (exclusive), found {self.validation_size}"]
        return []


@dataclass
class TaskConfig:
    name: str = field(help="registered task: image-classification, text-classification or multi-label-classification")
    options: Any = field(None, init=False)


@dataclass
class StrategyConfig:
    """Keys every strategy takes; a strategy's own keys sit next to them."""

    name: str = field(DEFAULT_STRATEGY, help="registered strategy: full, frozen, partial or lora")
    head: Literal["linear", "mlp"] = field("linear", help="new head: linear, or mlp with head_hidden_sizes")
    head_hidden_sizes: list[int] = field([1024], help="widths of the mlp head's hidden layers")
    head_activation: Literal["relu", "gelu", "tanh", "silu"] = field("relu", help="activation between mlp layers")
    head_dropout: float = field(0.0, help="dropout before each head layer's output")
    pooling: Literal["auto", "native", "cls", "mean", "pooler"] = field(
        "auto", help="what the head sees: auto (what the backbone was trained with), native, cls, mean or pooler"
    )
    head_learning_rate: float | None = field(None, help="learning rate of the head (default: training.learning_rate)")
    layerwise_lr_decay: float | None = field(
        None, help="multiply the learning rate by this per block going down from the top (e.g. 0.75)"
    )
    options: Any = field(None, init=False)

    def validate(self, prefix: str) -> list[str]:
        problems = []
        if self.head == "mlp" and (not self.head_hidden_sizes or any(h < 1 for h in self.head_hidden_sizes)):
            problems.append(
                f"'{prefix}.head_hidden_sizes' must be a non-empty list of positive integers for an mlp head, found {self.head_hidden_sizes}"
            )
        if not 0.0 <= self.head_dropout < 1.0:
            problems.append(f"'{prefix}.head_dropout' must be in [0, 1), found {self.head_dropout}")
        if self.head_learning_rate is not None and self.head_learning_rate <= 0:
            problems.append(f"'{prefix}.head_learning_rate' must be positive, found {self.head_learning_rate}")
        if self.layerwise_lr_decay is not None and not 0.0 < self.layerwise_lr_decay <= 1.0:
            problems.append(f"'{prefix}.layerwise_lr_decay' must be in (0, 1], found {self.layerwise_lr_decay}")
        return problems


@dataclass
class HubConfig:
    push: bool = field(False, help="push the output folder to the Hub at the end of training")
    repo_id: str | None = field(None, help="namespace/name of the Hub repo")
    private: bool = field(False, help="create the repo as private")
    revision: str | None = field(None, help="branch to push to")
    create_pr: bool = field(False, help="open a pull request instead of committing to the branch")
    commit_message: str | None = field(None, help="commit message for the push")
    license: str | None = field(None, help="license for the model card, e.g. apache-2.0")
    artifacts: Literal["adapter", "merged", "both"] = field(
        "adapter", help="for LoRA runs: push the adapter, the merged model (needs strategy.merge), or both"
    )

    def validate(self, prefix: str) -> list[str]:
        if self.push and not self.repo_id:
            return [f"'{prefix}.push' is true but '{prefix}.repo_id' is not set; set hub.repo_id=<namespace>/<name>"]
        return []


@dataclass
class Recipe:
    backbone: BackboneConfig
    data: DataConfig
    task: TaskConfig
    strategy: StrategyConfig
    training: dict[str, Any]
    hub: HubConfig
    name: str = "recipe"
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as it would be written to YAML (plugin options flattened)."""
        out: dict[str, Any] = {}
        for section in SECTIONS:
            value = getattr(self, section)
            if section == "training":
                out[section] = dict(value)
                continue
            d = {k: v for k, v in schema.to_dict(value).items() if k != "options"}
            if getattr(value, "options", None) is not None:
                d.update(schema.to_dict(value.options))
            out[section] = d
        return out

    def to_yaml(self) -> str:
        """The resolved recipe for people (``recipe.yaml``, ``--dry-run``): without the task options that do not
        apply to the bound backbone (:meth:`Task.inapplicable_options`); the run manifest keeps :meth:`to_dict`."""
        out = self.to_dict()
        options = getattr(self.task, "options", None)
        for key in options.inapplicable_options() if options is not None else ():
            out["task"].pop(key, None)
        return yaml.safe_dump(out, sort_keys=False, default_flow_style=False)

    @property
    def output_dir(self) -> Path:
        return Path(self.training["output_dir"])


# ---------------------------------------------------------------- reading


def find_recipe(name_or_path: str | Path) -> Path:
    """A recipe path as given, or a shipped recipe by name (``quickstart``, ``text/bert``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (SHIPPED_RECIPES / f"{name_or_path}.yaml", SHIPPED_RECIPES / str(name_or_path)):
        if candidate.is_file():
            return candidate
    shipped = [str(p.relative_to(SHIPPED_RECIPES).with_suffix("")) for p in list_recipes()]
    hint = did_you_mean(str(name_or_path), shipped)
    what = (
        "is a folder, not a recipe file"
        if path.is_dir()
        else "is not a regular file"
        if path.exists()
        else f"does not exist{hint}"
    )
    raise ConfigError(
        [
            f"recipe file '{name_or_path}' {what}; give a path to a YAML recipe "
            f"or a shipped recipe name ({', '.join(shipped)}); `hf-transfer recipes` lists them"
        ]
    )


def list_recipes() -> list[Path]:
    if not SHIPPED_RECIPES.is_dir():
        return []
    return sorted(
        p for p in SHIPPED_RECIPES.rglob("*.yaml") if "accelerate" not in p.relative_to(SHIPPED_RECIPES).parts
    )


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"cannot read recipe file '{path}': {e.strerror}"]) from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            [
                f"recipe file '{path}' is not UTF-8 text (byte {e.start} cannot be decoded); a recipe is a YAML "
                "file: give its path, or save it as UTF-8"
            ]
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(
            [f"'{path}' is not valid YAML{where}: {problem}; fix the YAML syntax there (indentation, a missing ':')"]
        ) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            [f"'{path}' must hold a mapping with sections {', '.join(SECTIONS)}, found {schema.describe(raw)}"]
        )
    return raw


def parse_overrides(overrides: list[str] | dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """``["a.b=1", …]`` or ``{"a.b": 1, "a": {"c": 2}}`` → (flat dotted dict, problems)."""
    flat: dict[str, Any] = {}
    problems: list[str] = []
    if not overrides:
        return flat, problems
    if isinstance(overrides, dict):

        def walk(prefix: str, value: Any) -> None:
            if (
                isinstance(value, dict)
                and prefix.split(".")[0] in SECTIONS
                and prefix != "training.lr_scheduler_kwargs"
            ):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                flat[prefix] = value

        for k, v in overrides.items():
            walk(k, v)
        return flat, problems
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            problems.append(f"override '{item}' must look like section.key=value, e.g. training.learning_rate=3e-5")
            continue
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        flat[key.strip()] = schema.Override(text, value)
    return flat, problems


def apply_overrides(raw: dict[str, Any], flat: dict[str, Any], problems: list[str]) -> None:
    for key, value in flat.items():
        parts = key.split(".")
        if parts[0] not in SECTIONS:
            problems.append(
                f"override '{key}': unknown section '{parts[0]}'{did_you_mean(parts[0], SECTIONS)}; sections: {', '.join(SECTIONS)}"
            )
            continue
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                problems.append(
                    f"override '{key}': '{'.'.join(parts[: i + 1])}' is {schema.describe(child)}, not a section"
                )
                break
            node = child
        else:
            node[parts[-1]] = value


# ---------------------------------------------------------------- validation


def _plugin_section(
    cls: type, registry: Registry, raw: Any, section: str, name_key: str, default_name: str | None, problems: list[str]
) -> Any:
    """Build a section whose keys are the common ``cls`` fields plus the named plugin's options."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.append(f"'{section}' must be a mapping, found {schema.describe(raw)}")
        return None
    name = schema.unwrap(raw.get(name_key, default_name), str | None)
    plugin = None
    if name is not None:
        if name in registry:
            plugin = registry.get(name)
        else:
            problems.append(f"'{section}.{name_key}': {registry.unknown_message(str(name))}")
    common = {f.name for f in dataclasses.fields(cls) if f.init}
    # keys the plugin knows do not apply to it (e.g. a classification key in a regression recipe), and why
    refused = (getattr(plugin, "refused_keys", None) or {}) if plugin else {}
    for key in [k for k in raw if k in refused and k not in common]:
        problems.append(f"'{section}.{key}' does not apply to {section} {name}: {refused[key]}; remove {section}.{key}")
        raw = {k: v for k, v in raw.items() if k != key}
    plugin_keys = tuple(f.name for f in dataclasses.fields(plugin) if f.init) if plugin else ()
    if plugin is None:
        # Without a known plugin we cannot tell its options from typos: check only the common keys.
        plugin_keys = tuple(k for k in raw if k not in common)
    base = schema.build(cls, raw, section, problems, extra_keys=plugin_keys)
    if plugin is None:
        return None
    opts = schema.build(
        plugin, {k: v for k, v in raw.items() if k in plugin_keys}, section, problems, extra_keys=tuple(common)
    )
    if base is None or opts is None:
        return None
    base.options = opts
    return base


def _training_section(raw: Any, problems: list[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"'training' must be a mapping of TrainingArguments options, found {schema.describe(raw)}")
        return {}
    fields = dict(training_fields())
    out: dict[str, Any] = {}
    kinds = {"int": int, "float": float, "bool": bool, "str": str}
    for key, value in raw.items():
        if isinstance(value, schema.Override):
            kind = fields.get(key, "any")
            value = value.for_type(kind.startswith("str"))
        if key in FORBIDDEN_TRAINING_KEYS:
            problems.append(f"'training.{key}' is not allowed: {FORBIDDEN_TRAINING_KEYS[key]}")
            continue
        if key == "resume_from_checkpoint":
            resume = _resume_value(value, problems)
            if resume is not None:
                out[key] = resume
            continue
        if key == "save_on_interrupt":
            flag = schema.coerce(value.parsed if isinstance(value, schema.Override) else value, bool)
            if flag is schema._INVALID:
                problems.append(f"'training.save_on_interrupt' must be true or false, found {schema.describe(value)}")
            else:
                out[key] = flag
            continue
        if key in early_stopping.KEYS:
            tp = early_stopping.KEYS[key]
            coerced = schema.coerce(value.parsed if isinstance(value, schema.Override) else value, tp | None)
            if coerced is schema._INVALID:
                problems.append(f"'training.{key}' must be {schema.type_name(tp)}, found {schema.describe(value)}")
            elif coerced is not None:
                out[key] = coerced
            continue
        if key in EXTRA_TRAINING_KEYS:
            choices = EXTRA_TRAINING_KEYS[key]
            if value not in choices:
                problems.append(
                    f"'training.{key}' must be one of {', '.join(choices)}, found {schema.describe(value)}"
                    f"{did_you_mean(str(value), list(choices))}"
                )
                continue
            out[key] = value
            continue
        if key not in fields:
            problems.append(
                f"unknown key 'training.{key}'{did_you_mean(key, [*fields, *EXTRA_TRAINING_KEYS, *early_stopping.KEYS])}: the training section takes "
                "transformers.TrainingArguments options (see its documentation for the list)"
            )
            continue
        kind = fields[key]
        nullable = kind.endswith("?")
        tp = kinds.get(kind.rstrip("?"))
        if tp is None or (value is None and nullable):
            out[key] = value
            continue
        coerced = schema.coerce(value, tp)
        if coerced is schema._INVALID:
            problems.append(f"'training.{key}' must be {schema.type_name(tp)}, found {schema.describe(value)}")
            continue
        out[key] = coerced
    problems += value_problems(out)
    problems += early_stopping.problems(out)
    if out.get("precision") not in (None, "auto") and (out.get("bf16") or out.get("fp16")):
        problems.append("set either 'training.precision' or 'training.bf16'/'training.fp16', not both")
    return out


def _resume_value(value: Any, problems: list[str]) -> str | None:
    """``training.resume_from_checkpoint``: true / last → "last" (the newest complete checkpoint of the run in
    the output folder), false / null → None, anything else → a checkpoint folder."""
    if isinstance(value, schema.Override):
        value = value.parsed if isinstance(value.parsed, bool) or value.parsed is None else value.text
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("false", "no", "")):
        return None
    if value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes", "last")):
        return RESUME_LAST
    if not isinstance(value, str):
        problems.append(
            f"'training.resume_from_checkpoint' must be true, last or a checkpoint folder, found {schema.describe(value)}"
        )
        return None
    return value


def _resolve_paths(section: Any, prefix: str, base_dir: Path, overridden: set[str]) -> None:
    """Make local paths absolute: recipe-file values against the recipe's folder, overrides against the cwd."""
    opts = getattr(section, "options", None)
    if opts is None:
        return
    for name in schema.path_fields(type(opts)):
        value = getattr(opts, name)
        if value is None:
            continue
        anchor = Path.cwd() if f"{prefix}.{name}" in overridden else base_dir
        values = value if isinstance(value, list) else [value]
        resolved = [str((anchor / Path(v).expanduser()).resolve()) if "://" not in str(v) else v for v in values]
        setattr(opts, name, resolved if isinstance(value, list) else resolved[0])


def load_recipe(
    source: str | Path | dict[str, Any] | Recipe,
    overrides: list[str] | dict[str, Any] | None = None,
) -> Recipe:
    """Read, override and validate a recipe; raise ConfigError listing every problem."""
    if isinstance(source, Recipe):
        if not overrides:
            return source
        source = source.to_dict() | {"_name": source.name}
    if isinstance(source, dict):
        raw = copy.deepcopy(source)
        name = raw.pop("_name", "recipe")
        path: Path | None = None
        base_dir = Path.cwd()
    else:
        path = find_recipe(source)
        raw = read_yaml(path)
        name = path.stem
        base_dir = path.resolve().parent
    problems: list[str] = []
    flat, override_problems = parse_overrides(overrides)
    problems += override_problems
    apply_overrides(raw, flat, problems)

    for key in raw:
        if key not in SECTIONS:
            problems.append(
                f"unknown section '{key}'{did_you_mean(key, SECTIONS)}; a recipe has sections: {', '.join(SECTIONS)}"
            )
    for required in ("backbone", "data", "task"):
        if required not in raw:
            problems.append(f"missing required section '{required}'")

    backbone = schema.build(BackboneConfig, raw.get("backbone"), "backbone", problems) if "backbone" in raw else None
    data = (
        _plugin_section(DataConfig, DATA_SOURCES, raw.get("data"), "data", "source", None, problems)
        if "data" in raw
        else None
    )
    task = (
        _plugin_section(TaskConfig, TASKS, raw.get("task"), "task", "name", None, problems) if "task" in raw else None
    )
    strategy = _plugin_section(
        StrategyConfig, STRATEGIES, raw.get("strategy"), "strategy", "name", DEFAULT_STRATEGY, problems
    )
    training = _training_section(raw.get("training"), problems)
    hub = schema.build(HubConfig, raw.get("hub"), "hub", problems)
    if data is not None and data.streaming:
        if not isinstance(training.get("max_steps"), int) or training["max_steps"] <= 0:
            problems.append(
                "data.streaming is true, so training.max_steps must be set (a stream has no length to count epochs by)"
            )
        if strategy is not None and strategy.options.uses_feature_cache():
            problems.append(
                "the feature cache needs data it can index; with data.streaming set strategy.cache_features=false"
            )
        if task is not None and getattr(task.options, "class_weights", None) == "auto":
            problems.append(
                "'task.class_weights' auto counts the training labels, which a stream cannot do before "
                "training; with data.streaming give the weights: task.class_weights={<label>: <weight>}"
            )
    if task is not None and task.options.takes_label_lists:
        if data is not None and data.streaming:
            problems.append(
                f"task '{task.name}' cannot read streamed data yet (its labels are counted before training); "
                "set data.streaming=false"
            )
        if training.get("label_smoothing_factor"):
            problems.append(
                f"'training.label_smoothing_factor' smooths a softmax over classes; task '{task.name}' scores each "
                "label on its own (sigmoid): remove training.label_smoothing_factor"
            )
    takes_columns = task is not None and task.options.takes_label_columns
    if data is not None and isinstance(data.columns.label, list):
        if task is not None and not takes_columns:
            problems.append(
                f"'data.columns.label' lists several columns ({', '.join(map(str, data.columns.label))}), but task "
                f"'{task.name}' reads one label column; give one column, or use task.name=regression (one target "
                "per column)"
            )
        elif not data.columns.label:
            problems.append("'data.columns.label' is an empty list; give one column, or a list of target columns")
    if takes_columns:
        if data is not None and data.streaming:
            problems.append(
                f"task '{task.name}' standardises its targets with the training split's mean and std, which a "
                "stream cannot give before training; set data.streaming=false"
            )
        if training.get("label_smoothing_factor"):
            problems.append(
                f"'training.label_smoothing_factor' smooths class probabilities; task '{task.name}' predicts "
                "numbers: remove training.label_smoothing_factor"
            )
    if task is not None and strategy is not None and not task.options.pools_features:
        if strategy.head != "linear":
            problems.append(
                f"'strategy.head' {strategy.head}: task '{task.name}' puts a linear layer on every token (the "
                "backbone's own class); set strategy.head=linear"
            )
        if strategy.pooling not in ("auto", "native"):
            problems.append(
                f"'strategy.pooling' {strategy.pooling}: task '{task.name}' classifies every token, nothing is "
                "pooled; remove strategy.pooling"
            )
    if data is not None and data.label_separator is not None:
        if task is not None and not task.options.takes_label_lists:
            from .tasks import tasks_declaring

            problems.append(
                f"'data.label_separator' splits a label cell into several labels, but task '{task.name}' takes one "
                f"class per row; set task.name={' or '.join(tasks_declaring(takes_label_lists=True))}, or remove "
                "data.label_separator"
            )
        if not data.label_separator:
            problems.append("'data.label_separator' must not be empty; e.g. data.label_separator=';'")
    if strategy is not None and getattr(strategy.options, "head_solver", None) == "lbfgs" and strategy.head != "linear":
        problems.append(
            f"'strategy.head_solver' lbfgs fits a linear head only, found head: {strategy.head}; an "
            "mlp head trains with the Trainer loop: set strategy.head_solver=sgd (or auto), or strategy.head=linear"
        )
    if backbone is not None and task is not None:
        from .backbone import task_mismatch

        mismatch = task_mismatch(backbone.name_or_path, task.name, task.options.modality)
        if mismatch:
            problems.append(mismatch)
    overridden = set(flat)
    if data is not None:
        _resolve_paths(data, "data", base_dir, overridden)
        file_problems = getattr(data.options, "file_problems", None)
        if file_problems is not None and not any(p.startswith("'data.") for p in problems):
            problems += file_problems()  # every missing data file at once, with the recipe's other problems
    if problems:
        raise ConfigError(problems, source=str(path) if path else None)

    training["output_dir"] = training.get("output_dir") or str(Path("outputs") / name)
    return Recipe(
        backbone=backbone, data=data, task=task, strategy=strategy, training=training, hub=hub, name=name, path=path
    )
