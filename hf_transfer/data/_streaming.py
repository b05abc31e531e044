"""Preparing streamed data (``data.streaming: true``): ``datasets.IterableDataset`` splits.

A stream has no length, no ``unique()`` and no random access, so what :func:`~hf_transfer.data.prepare`
discovers by reading the data must be declared instead: the label names come from the recipe
(``data.labels``) or from a ``ClassLabel`` feature, and the validation split is a named split (it is
read into memory: it must fit). Training then needs ``training.max_steps``.
"""

from __future__ import annotations

from typing import Any

from ..errors import DataError
from ..registry import did_you_mean

SHUFFLE_BUFFER = 10_000


def _split(dsdict: Any, spec: str | None, key: str) -> Any:
    if spec is None:
        return None
    if "[" in spec:
        raise DataError(
            f"'{key}' is '{spec}': slices need random access and streamed data has none; use the split name"
        )
    if spec not in dsdict:
        raise DataError(
            f"'{key}' names split '{spec}', but the data has splits: {', '.join(dsdict)}{did_you_mean(spec, list(dsdict))}"
        )
    return dsdict[spec]


def label_names(train: Any, label_col: str, configured: list[str] | None) -> tuple[list[str], bool]:
    """(names, values_are_ids)."""
    from datasets import ClassLabel

    feature = (train.features or {}).get(label_col) if train.features is not None else None
    if isinstance(feature, ClassLabel):
        if configured and list(configured) != list(feature.names):
            raise DataError(
                f"data.labels {configured} differ from the dataset's ClassLabel names {feature.names}; drop data.labels"
            )
        return list(feature.names), True
    if configured:
        if len(set(configured)) != len(configured) or len(configured) < 2:
            raise DataError(f"data.labels must list at least two distinct class names, found {configured}")
        return [str(c) for c in configured], False
    raise DataError(
        f"streamed data: the label names are unknown (the dataset's features declare no ClassLabel for column "
        f"'{label_col}'); list them in the recipe: data.labels: [name, ...] (their order gives the class ids)"
    )


def prepare_streaming(dsdict: Any, cfg: Any, roles: dict, seed: int) -> Any:
    from datasets import ClassLabel, Dataset, Value

    from . import VALIDATION_NAMES, PreparedData, resolve_roles

    train = _split(dsdict, cfg.train_split, "data.train_split")
    try:
        first = next(iter(train))
    except StopIteration:
        raise DataError(f"split '{cfg.train_split}' is empty") from None
    columns = list(first)
    resolved = resolve_roles(cfg, roles, columns)
    label_col = resolved["label"]
    labels, values_are_ids = label_names(train, label_col, cfg.labels)
    to_id = {name: i for i, name in enumerate(labels)}

    def encode(value: Any) -> int:
        if values_are_ids:
            return int(value)
        key = str(value)
        if key not in to_id:
            raise DataError(
                f"label {value!r} in the streamed data is not in data.labels ({', '.join(labels)}); add it there"
            )
        return to_id[key]

    rename = {col: role for role, col in resolved.items()}

    def select(example: dict) -> dict:
        out = {rename[c]: example[c] for c in rename}
        out["label"] = encode(out["label"])
        return out

    validation = _split(dsdict, cfg.validation_split, "data.validation_split")
    if validation is None:
        named = [n for n in VALIDATION_NAMES if n in dsdict]
        if not named:
            raise DataError(
                "streamed data needs a validation split (a stream cannot be carved): give data.validation_file, "
                f"or data.validation_split naming one of: {', '.join(dsdict)}"
            )
        validation = dsdict[named[0]]
    test = _split(dsdict, cfg.test_split, "data.test_split")

    feature = ClassLabel(names=labels)

    def materialise(stream: Any, name: str) -> Any:
        rows = [select(example) for example in stream]
        if not rows:
            raise DataError(f"split '{name}' is empty")
        ds = Dataset.from_list(rows)
        return ds.cast_column("label", feature) if isinstance(ds.features["label"], Value) else ds

    train_stream = train.map(select, remove_columns=[c for c in columns if c not in rename or rename[c] != c])
    train_stream = train_stream.shuffle(seed=seed, buffer_size=SHUFFLE_BUFFER)
    return PreparedData(
        train=train_stream,
        validation=materialise(validation, "validation"),
        test=materialise(test, "test") if test is not None else None,
        labels=labels,
        columns=resolved,
        notes=[f"training data streamed (shuffle buffer {SHUFFLE_BUFFER:,}); validation read into memory"],
    )
