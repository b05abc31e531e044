"""Typed validation of plain dicts into dataclasses, collecting every problem.

The recipe is YAML, so values arrive as whatever YAML guessed (``3e-5`` is a
string in YAML 1.1, ``2020`` an int). :func:`build` coerces each value to the
field's annotated type and records a message for every unknown key, missing
key and wrong type instead of stopping at the first, so a user fixes a recipe
in one round.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .registry import did_you_mean

MISSING = dataclasses.MISSING


def field(default: Any = MISSING, *, help: str = "", path: bool = False, **kwargs: Any) -> Any:
    """A dataclass field with help text; ``path=True`` marks a local path to resolve."""
    metadata = {"help": help, "path": path}
    if isinstance(default, (list, dict)):
        kwargs["default_factory"] = lambda d=default: type(d)(d)
        return dataclasses.field(metadata=metadata, **kwargs)
    if default is MISSING:
        return dataclasses.field(metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in get_args(tp) if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        args = get_args(tp)
        return f"a list of {type_name(args[0])}" if args else "a list"
    if origin is dict or tp is dict:
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def describe(value: Any) -> str:
    if isinstance(value, Override):  # a command-line value where a section was expected: what YAML made of it
        value = value.parsed
    kind = {str: "string", bool: "boolean", int: "integer", float: "number", list: "list", dict: "mapping"}
    return f"{kind.get(type(value), type(value).__name__)} {value!r}" if value is not None else "null"


_INVALID = object()


@dataclasses.dataclass(frozen=True)
class Override:
    """A command-line value: its text, and what YAML made of it.

    String fields take the text as typed (``commit_message=fix #3``, ``revision=1.10``,
    ``save_strategy=no``); other fields take the YAML value (``3e-5``, ``true``, ``[a, b]``).
    """

    text: str
    parsed: Any

    def for_type(self, wants_str: bool) -> Any:
        if self.parsed is None:  # null, ~: the type check reports it where null is not allowed
            return None
        return self.text if wants_str else self.parsed


def takes_str(tp: Any) -> bool:
    args = get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)
    return str in args


def unwrap(value: Any, tp: Any) -> Any:
    return value.for_type(takes_str(tp)) if isinstance(value, Override) else value


def coerce(value: Any, tp: Any) -> Any:
    """Return ``value`` as type ``tp`` or ``_INVALID``; never raises."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            return None if type(None) in args else _INVALID
        for arg in sorted((a for a in args if a is not type(None)), key=lambda a: a is str):
            out = coerce(value, arg)
            if out is not _INVALID:
                return out
        return _INVALID
    if value is None:
        return _INVALID
    if origin is Literal:
        return value if value in get_args(tp) else _INVALID
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return _INVALID
        (inner,) = get_args(tp)[:1] or (Any,)
        items = [coerce(v, inner) for v in value]
        return _INVALID if any(i is _INVALID for i in items) else items
    if origin is dict or tp is dict:
        return dict(value) if isinstance(value, dict) else _INVALID
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        return _INVALID
    if tp is int:
        if isinstance(value, bool):
            return _INVALID
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                as_float = coerce(value, float)  # YAML 1.1 reads 1e3 as a string
                return int(as_float) if as_float is not _INVALID and as_float.is_integer() else _INVALID
        return _INVALID
    if tp is float:
        if isinstance(value, bool):
            return _INVALID
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return _INVALID
        return _INVALID
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return _INVALID
    if dataclasses.is_dataclass(tp):
        return value if isinstance(value, dict) else _INVALID
    return value


def build(cls: type, raw: Any, prefix: str, problems: list[str], extra_keys: tuple[str, ...] = ()) -> Any:
    """Build dataclass ``cls`` from mapping ``raw``; append problems; return an instance or None.

    ``extra_keys`` are keys that another part of the recipe owns (they are neither
    unknown here nor passed to ``cls``).
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.append(f"'{prefix}' must be a mapping of keys to values, found {describe(raw)}")
        return None
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    known = list(fields) + list(extra_keys)
    kwargs: dict[str, Any] = {}
    ok = True
    for key, value in raw.items():
        if key in extra_keys:
            continue
        if key in hints:
            value = unwrap(value, hints[key])
        if key not in fields:
            problems.append(f"unknown key '{prefix}.{key}'{did_you_mean(key, known)}; known keys: {', '.join(known)}")
            ok = False
            continue
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            sub = build(tp, value, f"{prefix}.{key}", problems)
            ok &= sub is not None
            kwargs[key] = sub
            continue
        out = coerce(value, tp)
        if out is _INVALID:
            msg = f"'{prefix}.{key}' must be {type_name(tp)}, found {describe(value)}"
            if get_origin(tp) is Literal:
                msg += did_you_mean(value, [str(a) for a in get_args(tp)])
            problems.append(msg)
            ok = False
            continue
        kwargs[key] = out
    for name, f in fields.items():
        if name in kwargs or name in raw:
            continue
        if f.default is MISSING and f.default_factory is MISSING:
            if dataclasses.is_dataclass(hints[name]):
                kwargs[name] = build(hints[name], {}, f"{prefix}.{name}", problems)
                continue
            help_text = f.metadata.get("help", "")
            problems.append(f"missing required key '{prefix}.{name}'" + (f" ({help_text})" if help_text else ""))
            ok = False
    try:
        instance = cls(**kwargs)
    except TypeError:  # a required key was wrong or missing: already reported
        return None
    check = getattr(instance, "validate", None)
    if callable(check):
        problems.extend(check(prefix))
    return instance if ok else None


def to_dict(instance: Any) -> dict[str, Any]:
    """Plain-dict form of a dataclass for YAML output (nested dataclasses included)."""
    return dataclasses.asdict(instance)


def path_fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.metadata.get("path")]
