"""Data sources and the preparation every source shares.

A data source (one file in this package, registered in ``DATA_SOURCES``) only
loads a ``datasets.DatasetDict``. :func:`prepare` then does what is common to all
of them: pick the train/validation/test splits (slices allowed), map the recipe's
columns to the task's roles, turn labels into a ``ClassLabel`` and carve a
stratified validation split when the data has none.
"""

from __future__ import annotations

import abc
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import DataError
from ..registry import did_you_mean
from .checks import carved_validation_notes, check_examples, label_column_notes

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

    from ..config import DataConfig

logger = logging.getLogger(__name__)

VALIDATION_NAMES = ("validation", "valid", "val", "dev")
LABEL_COLUMNS = ("label", "labels")  # the label column when data.columns.label names none
_SPLIT_SPEC = re.compile(r"^(?P<name>[\w\-.]+)(?P<slice>\[(?P<start>-?\d+%?)?:(?P<stop>-?\d+%?)?\])?$")


@dataclass
class LoadContext:
    """What a source may need beyond its own options."""

    dataset: Any = None  # an in-memory Dataset/DatasetDict given to the Python API
    streaming: bool = False  # return IterableDataset splits (data.streaming)


class DataSource(abc.ABC):
    """Base for data-source plugins: a dataclass of options plus :meth:`load`."""

    name: ClassVar[str]

    @abc.abstractmethod
    def load(self, ctx: LoadContext) -> DatasetDict:
        """Every split the source has, unfiltered; :func:`prepare` does the rest."""


@dataclass
class PreparedData:
    """Splits with canonical column names (``text``, ``text_pair``, ``image``, ``label``)."""

    train: Dataset
    validation: Dataset
    test: Dataset | None
    labels: list[str]
    columns: dict[str, str]  # role → column name in the user's data
    validation_carved: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}

    @property
    def streamed(self) -> bool:
        return not hasattr(self.train, "__len__")

    @property
    def train_rows(self) -> int | None:
        """How many training examples; None for a stream (its length is unknown until read)."""
        return None if self.streamed else len(self.train)

    def sizes(self) -> dict[str, int]:
        out = (
            {"validation": len(self.validation)}
            if self.streamed
            else {"train": len(self.train), "validation": len(self.validation)}
        )
        if self.test is not None:
            out["test"] = len(self.test)
        return out


def select_split(dsdict: DatasetDict, spec: str, key: str) -> Dataset:
    """``train``, ``train[:2000]``, ``train[10%:]`` → that (part of a) split."""
    m = _SPLIT_SPEC.match(spec.strip())
    if not m:
        raise DataError(
            f"'{key}' must be a split name with an optional slice such as train, train[:2000] or train[:10%], found '{spec}'"
        )
    name = m["name"]
    if name not in dsdict:
        raise DataError(
            f"'{key}' names split '{name}', but the data has splits: {', '.join(dsdict)}{did_you_mean(name, list(dsdict))}"
        )
    ds = dsdict[name]
    if m["slice"] is None:
        return ds
    n = len(ds)

    def bound(text: str | None, default: int) -> int:
        if text is None:
            return default
        value = round(n * int(text[:-1]) / 100) if text.endswith("%") else int(text)
        return max(0, min(n, value + n if value < 0 else value))

    start, stop = bound(m["start"], 0), bound(m["stop"], n)
    return ds.select(range(start, stop)) if stop > start else ds.select([])


def _resolve_column(
    role: str, configured: str | None, defaults: tuple[str, ...], columns: list[str], required: bool
) -> str | None:
    if configured is not None:
        if configured not in columns:
            raise DataError(
                f"'data.columns.{role}' is '{configured}', but the data has columns: {', '.join(columns)}"
                f"{did_you_mean(configured, columns)}; set data.columns.{role}=<one of them>"
            )
        return configured
    for name in defaults:
        if name in columns:
            return name
    if required:
        what = "label" if role == "label" else role
        raise DataError(
            f"no {what} column found: expected one named {' or '.join(defaults)}, the data has columns: "
            f"{', '.join(columns)}; set data.columns.{role}=<column name>"
        )
    return None


# Several label columns (``data.columns.label: [a, b]``) are read as one column of lists under this name.
TARGETS_COLUMN = "__hf_transfer_targets"


def combine_label_columns(ds: Dataset, names: list[str]) -> Dataset:
    """The columns ``names`` of ``ds`` as one column of lists (``TARGETS_COLUMN``), in that order."""
    return ds.map(
        lambda batch: {TARGETS_COLUMN: [list(row) for row in zip(*(batch[n] for n in names))]},
        batched=True,
        remove_columns=list(names),
        desc="reading the label columns",
    )


def resolve_roles(
    cfg: DataConfig, roles: dict[str, tuple[tuple[str, ...], bool]], columns: list[str]
) -> dict[str, str]:
    """role → the user's column name, for the task's roles and the label."""
    resolved: dict[str, str] = {}
    # the label last; a task's roles may give it other default names (e.g. tags for token classification)
    label = roles.get("label", (LABEL_COLUMNS, True))
    for role, (defaults, required) in {**{r: v for r, v in roles.items() if r != "label"}, "label": label}.items():
        configured = getattr(cfg.columns, role, None)
        if isinstance(configured, list):  # several label columns (one regression target each)
            for name in configured:
                _resolve_column(role, name, defaults, columns, True)
            resolved[role] = TARGETS_COLUMN
            continue
        col = _resolve_column(role, configured, defaults, columns, required)
        if col is not None:
            resolved[role] = col
    return resolved


def _is_missing(value: Any) -> bool:
    return value is None or value == -1 or (isinstance(value, str) and not value.strip())


def _unique_labels(ds: Dataset) -> list[Any]:
    """Distinct label values; a column mixing JSON types (datasets' ``Json`` feature) keeps 1 and "1" apart."""
    from datasets import ClassLabel, Value

    if not len(ds):
        return []
    if isinstance(ds.features["label"], (ClassLabel, Value)):
        return ds.unique("label")
    seen: dict[tuple[str, str], Any] = {}
    for value in ds["label"]:
        seen.setdefault((type(value).__name__, repr(value)), value)
    return list(seen.values())


def _class_order(value: Any) -> tuple:
    """Label names that are plain integers ("2", "10") sort as numbers, others after them as text;
    "007" is a name, not the number 7."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and (value == "0" or not value.startswith("0")):
        return (0, int(value), value)
    return (0, value, "") if isinstance(value, int) else (1, 0, value)


def _label_names(splits: dict[str, Dataset], label_col_name: str) -> tuple[list[str], dict[Any, int] | None]:
    """Label names in a stable order, and a value→id map when labels are not a ClassLabel yet."""
    from datasets import ClassLabel

    train = splits["train"]
    feature = train.features["label"]
    if isinstance(feature, ClassLabel):
        for split_name, ds in splits.items():
            other = ds.features["label"]
            if isinstance(other, ClassLabel) and other.names != feature.names:
                raise DataError(
                    f"split '{split_name}' has label names {other.names}, train has {feature.names}; "
                    "the splits must share one ClassLabel so that ids mean the same class"
                )
            values = set(ds.unique("label"))
            if -1 in values or None in values:
                raise DataError(
                    f"split '{split_name}' has rows with no label (-1); drop them before training "
                    "(a label is required on every row)"
                )
        return list(feature.names), None
    values: set[tuple[type, Any]] = set()
    for split_name, ds in splits.items():
        column = _unique_labels(ds)
        if any(v is None or (isinstance(v, str) and not v.strip()) for v in column):
            raise DataError(
                f"split '{split_name}' has rows with no label; fill or drop them before training (a label is required on every row)"
            )
        for v in column:
            if isinstance(v, (list, tuple)):
                from ..tasks import tasks_declaring

                raise DataError(
                    f"the label column '{label_col_name}' holds lists of labels (e.g. {v!r} in split '{split_name}'), "
                    "but this task takes one class per row; for several labels per example set "
                    f"task.name={' or '.join(tasks_declaring(takes_label_lists=True))}"
                )
            if isinstance(v, bool) or not isinstance(v, (str, int)):
                raise DataError(
                    f"labels must be class names (strings) or class ids (integers), found {type(v).__name__} value {v!r} "
                    f"in split '{split_name}'; single-label classification needs one class per row"
                )
        values.update((type(v), v) for v in column)
    ints = sorted(v for t, v in values if t is int)
    strings = sorted(v for t, v in values if t is str)
    if ints and strings:
        raise DataError(
            f"the label column '{label_col_name}' mixes strings and integers: strings ({', '.join(strings[:5])}), "
            f'integers ({", ".join(map(str, ints[:5]))}); labels are class names, and 1 and "1" must not silently become '
            'one class: write every label the same way, all as strings ("1", "cat") or all as integer class ids'
        )
    ordered = sorted((v for _, v in values), key=_class_order)
    return [str(v) for v in ordered], {v: i for i, v in enumerate(ordered)}


def _encode_labels(splits: dict[str, Dataset], label_col_name: str) -> tuple[dict[str, Dataset], list[str]]:
    from datasets import ClassLabel

    labels, mapping = _label_names(splits, label_col_name)
    train_values = set(_unique_labels(splits["train"]))
    if mapping is not None:
        unseen = {
            name: sorted(str(v) for v in set(_unique_labels(ds)) - train_values)
            for name, ds in splits.items()
            if name != "train"
        }
        for name, vals in unseen.items():
            if vals:
                raise DataError(
                    f"split '{name}' has labels that never occur in train: {', '.join(vals[:10])}; "
                    "every class must have training examples"
                )
    if len(train_values) < 2:
        present = next(iter(train_values), None)
        name = labels[present] if mapping is None and isinstance(present, int) else str(present)
        raise DataError(
            f"the label column '{label_col_name}' has a single class ({name}) in train; "
            "classification needs at least two classes — check data.columns.label and data.train_split"
        )
    if mapping is not None:
        feature = ClassLabel(names=labels)
        out = {}
        for name, ds in splits.items():
            ds = ds.map(
                lambda b: {"label": [mapping[v] for v in b["label"]]}, batched=True, desc=f"encoding labels ({name})"
            )
            out[name] = ds.cast_column("label", feature)
        splits = out
    return splits, labels


def _carve_validation(train: Dataset, size: float, seed: int) -> tuple[Dataset, Dataset, str]:
    try:
        parts = train.train_test_split(test_size=size, stratify_by_column="label", seed=seed)
        note = f"validation split carved from train ({size:.0%}, stratified by label, seed {seed})"
    except ValueError:
        parts = train.train_test_split(test_size=size, seed=seed)
        note = f"validation split carved from train ({size:.0%}, seed {seed}; not stratified: some class is too small)"
        logger.warning(note)
    return parts["train"], parts["test"], note


def prepare(
    dsdict: DatasetDict,
    cfg: DataConfig,
    roles: dict[str, tuple[tuple[str, ...], bool]],
    seed: int,
    encode_labels: Any = None,
) -> PreparedData:
    """Pick splits, map columns to roles, encode labels and carve validation if needed.

    ``roles`` maps a role (``text``, ``image``, …) to (default column names, required). ``encode_labels``: the
    task's own label encoding (:meth:`hf_transfer.tasks.Task.label_encoder`), ``(splits, cfg, label column) ->
    (splits, label names, notes)``; None: one class per row, as a ``ClassLabel``.
    """
    if cfg.streaming:
        from ._streaming import prepare_streaming

        return prepare_streaming(dsdict, cfg, roles, seed)
    train = select_split(dsdict, cfg.train_split, "data.train_split")
    resolved = resolve_roles(cfg, roles, list(train.column_names))
    label_col = resolved["label"]

    splits: dict[str, Dataset] = {"train": train}
    notes: list[str] = []
    if cfg.validation_split is not None:
        splits["validation"] = select_split(dsdict, cfg.validation_split, "data.validation_split")
    else:
        present = [n for n in VALIDATION_NAMES if n in dsdict and n != train.split]
        if present:
            splits["validation"] = dsdict[present[0]]
    if cfg.test_split is not None:
        splits["test"] = select_split(dsdict, cfg.test_split, "data.test_split")
    elif "test" in dsdict and cfg.train_split.split("[")[0] != "test":
        splits["test"] = dsdict["test"]

    targets = cfg.columns.label if isinstance(cfg.columns.label, list) else None
    if targets:
        for name, ds in list(splits.items()):
            if all(c in ds.column_names for c in targets):
                splits[name] = combine_label_columns(ds, targets)
    rename = {col: role for role, col in resolved.items()}
    for name, ds in list(splits.items()):
        missing = [c for c in rename if c not in ds.column_names]
        if missing:
            if name == "test" and cfg.test_split is None and missing == [label_col]:
                notes.append("test split has no labels; it is not evaluated")
                del splits[name]
                continue
            raise DataError(
                f"split '{name}' lacks column(s) {', '.join(missing)} that train has; it has: {', '.join(ds.column_names)}"
            )
        ds = ds.select_columns(list(rename)).rename_columns({k: v for k, v in rename.items() if k != v})
        splits[name] = ds
    for name, ds in splits.items():
        if len(ds) == 0:
            raise DataError(f"split '{name}' is empty after slicing; check data.{name}_split")

    if "test" in splits and cfg.test_split is None and encode_labels is None:  # an empty label set can be an answer
        if any(_is_missing(v) for v in _unique_labels(splits["test"])):
            notes.append("test split has no labels on some or all rows; it is not evaluated")
            del splits["test"]
    splits, notes_on_examples = check_examples(splits, cfg.on_bad_example)
    notes += notes_on_examples

    if encode_labels is None:
        splits, labels = _encode_labels(splits, label_col)
        notes += label_column_notes(splits["train"], label_col)
    else:
        splits, labels, label_notes = encode_labels(splits, cfg, label_col)
        notes += label_notes
    carved = "validation" not in splits
    if carved and encode_labels is not None:  # label sets: no class to stratify by
        parts = splits["train"].train_test_split(test_size=cfg.validation_size, seed=seed)
        splits["train"], splits["validation"] = parts["train"], parts["test"]
        notes.append(f"validation split carved from train ({cfg.validation_size:.0%}, seed {seed})")
    elif carved:
        rows = len(splits["train"])
        splits["train"], splits["validation"], note = _carve_validation(splits["train"], cfg.validation_size, seed)
        remaining = splits["train"].unique("label")
        if len(remaining) < 2:
            raise DataError(
                f"carving a validation split ({cfg.validation_size:.0%}) from the {rows} training rows leaves "
                f"{len(splits['train'])} row{'s' if len(splits['train']) != 1 else ''} of a single class "
                f"({labels[remaining[0]] if remaining else 'none'}) to train on; classification needs at least two "
                "classes: add training rows, or give a validation split (data.validation_file or "
                "data.validation_split)"
            )
        notes.append(note)
        notes += carved_validation_notes(splits["train"], splits["validation"], labels)
    return PreparedData(
        train=splits["train"],
        validation=splits["validation"],
        test=splits.get("test"),
        labels=labels,
        columns=resolved,
        validation_carved=carved,
        notes=notes,
    )
