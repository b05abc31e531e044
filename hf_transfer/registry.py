"""Name → plugin registries for data sources, tasks and strategies.

A plugin is one module in ``hf_transfer/data``, ``hf_transfer/tasks`` or
``hf_transfer/strategies`` that decorates a class with ``@REGISTRY.register("name")``.
Every module in those packages is imported on first lookup, so adding a plugin
never means editing a list elsewhere. Plugin modules import heavy libraries
(torch, transformers, datasets) inside functions, so discovering them is cheap.
Recipes name plugins only by these registered names, never by import path: a
recipe downloaded from the Hub cannot make us import arbitrary code.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:  # the plugin bases import this module: only type checkers read them here
    from .data import DataSource
    from .strategies import Strategy
    from .tasks import Task

T = TypeVar("T")


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...]) -> str:
    """Return ' (did you mean 'x'?)' when a close candidate exists, else ''.

    A candidate also matches on its first word (``nme`` → ``name_or_path``).
    """
    name = str(name)
    folded = [c for c in candidates if c.lower() == name.lower()]
    if folded:  # a difference of case only ('LoRA' for 'lora')
        return f" (did you mean '{folded[0]}'?)"

    def score(candidate: str) -> float:
        ratio = difflib.SequenceMatcher(None, name, candidate).ratio()
        head = candidate.split("_")[0]
        if "_" not in name and head != candidate:
            ratio = max(ratio, difflib.SequenceMatcher(None, name, head).ratio() - 0.05)
        return ratio

    scored = sorted(((score(c), c) for c in candidates), reverse=True)
    return f" (did you mean '{scored[0][1]}'?)" if scored and scored[0][0] >= 0.6 else ""


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str):
        self.kind = kind
        self.package = package
        self._plugins: dict[str, type[T]] = {}
        self._discovered = False

    def register(self, name: str):
        def decorator(cls: type[T]) -> type[T]:
            if name in self._plugins and self._plugins[name] is not cls:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            cls.name = name  # type: ignore[attr-defined]
            self._plugins[name] = cls
            return cls

        return decorator

    def unregister(self, name: str) -> None:
        """Remove the plugin registered as ``name`` (tests that register one of their own clean up with it)."""
        self._discover()
        if name not in self._plugins:
            raise KeyError(self.unknown_message(name))
        del self._plugins[name]

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._plugins)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._plugins

    def get(self, name: str) -> type[T]:
        self._discover()
        if name not in self._plugins:
            raise KeyError(self.unknown_message(name))
        return self._plugins[name]

    def unknown_message(self, name: str) -> str:
        names = self.names()
        return f"unknown {self.kind} '{name}'{did_you_mean(name, names)}; registered: {', '.join(names)}"


DATA_SOURCES: Registry[DataSource] = Registry("data source", "hf_transfer.data")
TASKS: Registry[Task] = Registry("task", "hf_transfer.tasks")
STRATEGIES: Registry[Strategy] = Registry("strategy", "hf_transfer.strategies")
