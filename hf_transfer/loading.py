"""Reloading what hf_transfer saved: a plain model folder, an hf_transfer-head model, or a LoRA adapter
(and folding an adapter into its base model: ``hf-transfer merge``).

``hf_transfer.load_model(path)`` returns a ready ``torch.nn.Module`` for any of them.
Plain folders also load with ``AutoModelFor*.from_pretrained`` and ``pipeline()``;
folders with ``model_type: hf_transfer`` do after ``import hf_transfer.modeling``;
adapters with a native head load with ``AutoPeftModelFor*`` (see the README).

It also holds the rule for output folders a command writes whole (merge, ONNX export):
:func:`check_output_folder` and :func:`write_output_folder`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import HfTransferError, OutputError
from .outputs import ADAPTER_CONFIG, MERGED_DIR, PROCESSOR_FILES, RECIPE_FILE

logger = logging.getLogger("hf_transfer")
T = TypeVar("T")


def auto_class_for(config: Any, path: Path) -> type:
    """The Auto class a saved model reloads with: the one of the registered task whose Auto class loads the
    config's architecture, else that of the task recorded in the run's recipe (see ``Task.auto_class_name``)."""
    import transformers

    from .tasks import task_class_for_architectures

    task = task_class_for_architectures(getattr(config, "architectures", None) or [])
    if task is None:
        task = _recorded_task(path)
    if task is None:
        raise HfTransferError(
            f"'{path}': cannot tell which task its model is for (config.json names no architecture a registered "
            f"task loads, and no {RECIPE_FILE} records a task); load it with the transformers AutoModelFor* class "
            "of its task"
        )
    return getattr(transformers, task.auto_class_name)


def _recorded_task(path: Path) -> Any:
    """The registered task class named by the run's recipe in ``path`` (None: none, or not one known here)."""
    import yaml

    from .registry import TASKS

    try:
        recipe = yaml.safe_load((path / RECIPE_FILE).read_text())
    except (OSError, yaml.YAMLError):
        return None
    name = (recipe.get("task") or {}).get("name") if isinstance(recipe, dict) else None
    if not isinstance(name, str) or name not in TASKS:
        return None
    task = TASKS.get(name)
    return task if isinstance(getattr(task, "auto_class_name", None), str) else None


def _config(path: Path) -> Any:
    from transformers import AutoConfig

    from . import modeling  # noqa: F401  registers model_type "hf_transfer"

    return AutoConfig.from_pretrained(str(path))


def read_adapter_config(path: Path) -> dict[str, Any]:
    """A LoRA adapter's ``adapter_config.json``, checked: one clear error for a damaged or hand-broken file."""
    file = path / ADAPTER_CONFIG
    try:
        adapter = json.loads(file.read_text())
    except (OSError, ValueError) as e:
        raise HfTransferError(
            f"'{file}' cannot be read as JSON ({type(e).__name__}: {e}); restore it from the run"
        ) from None
    if not isinstance(adapter, dict) or not isinstance(adapter.get("base_model_name_or_path"), str):
        raise HfTransferError(
            f"'{file}' names no base model (a JSON object with base_model_name_or_path is expected); restore it "
            "from the run"
        )
    return adapter


def base_model_for_adapter(path: Path) -> Any:
    """The un-adapted model an adapter in ``path`` applies to, with the run's labels and head shape."""
    from transformers import AutoModel

    from .modeling import HfTransferConfig

    adapter = read_adapter_config(path)
    base_path = adapter["base_model_name_or_path"]
    revision = adapter.get("revision")
    looks_local = base_path.startswith(("/", ".", "~")) or base_path.count("/") > 1  # a Hub id is org/name
    if "://" not in base_path and looks_local and not Path(base_path).expanduser().exists():
        raise HfTransferError(
            f"the LoRA adapter in '{path}' applies to the base model '{base_path}' (base_model_name_or_path in its "
            f"{ADAPTER_CONFIG}), which is neither a folder here nor a Hub id; copy the base model there, or set "
            f"base_model_name_or_path to where it is now"
        )
    config = _config(path)
    cls = auto_class_for(config, path)
    if isinstance(config, HfTransferConfig):
        model = cls._model_mapping[type(config)](config)
        model.backbone = AutoModel.from_pretrained(base_path, revision=revision)
        return model
    # The head comes from the adapter (modules_to_save); a base checkpoint with its own head must not clash.
    return cls.from_pretrained(base_path, config=config, revision=revision, ignore_mismatched_sizes=True)


def load_model(path: str | Path) -> Any:
    """Load any hf_transfer output folder as a model ready for inference."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise HfTransferError(f"'{path}' is not an hf_transfer model folder: it has no config.json")
    if (path / ADAPTER_CONFIG).is_file():
        from peft import PeftModel

        return PeftModel.from_pretrained(base_model_for_adapter(path), str(path)).eval()
    config = _config(path)
    return auto_class_for(config, path).from_pretrained(str(path)).eval()


MERGE_RECORD = ".hf_transfer_merge.json"  # hidden: a push of the merged folder leaves it out


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Fold a saved peft adapter into its base model and save a plain model folder (with the processor).

    The folder is written whole (:func:`write_output_folder`): under a temporary name, renamed into place at the
    end. ``out_dir`` must not exist, be empty, or (with ``overwrite``) hold only an earlier merge's files; it must
    not be the adapter folder, inside it (except ``<adapter>/merged``, a run's own layout) or hold it."""
    adapter, out = Path(adapter_dir), Path(out_dir)
    check_merge_folders(adapter, out, overwrite)
    from . import __version__

    def build(tmp: Path) -> None:
        model = load_model(adapter).merge_and_unload()
        model.save_pretrained(str(tmp))
        _copy_processor(adapter, tmp)
        record = {
            "written_by": "hf-transfer merge",
            "hf_transfer_version": __version__,
            "adapter": str(adapter.resolve()),
        }
        (tmp / MERGE_RECORD).write_text(json.dumps(record, indent=2) + "\n")

    write_output_folder(
        out,
        build,
        record=MERGE_RECORD,
        what="hf-transfer merge output",
        overwrite=overwrite,
        in_run_dir=_own_merged_folder(adapter, out),
    )
    logger.info("merged adapter %s into %s", adapter, out)
    return out


def check_merge_folders(adapter: Path, out: Path, overwrite: bool) -> None:
    """Every refusal a merge can make before it loads anything (one clear message each)."""
    if not (adapter / ADAPTER_CONFIG).is_file():
        raise HfTransferError(
            f"'{adapter}' is not a LoRA adapter folder (no {ADAPTER_CONFIG}); give the output folder of a "
            "strategy.name=lora run"
        )
    a, o = adapter.resolve(), out.resolve()
    if o == a:
        raise OutputError(
            f"the merged model's folder '{out}' is the adapter folder itself; give another folder "
            f"(e.g. {adapter / MERGED_DIR})"
        )
    if a in o.parents and o != a / MERGED_DIR:
        raise OutputError(
            f"the merged model's folder '{out}' is inside the adapter folder '{adapter}'; the one place there for it "
            f"is '{adapter / MERGED_DIR}': give that, or a folder outside the adapter folder"
        )
    if o in a.parents:
        raise OutputError(
            f"the merged model's folder '{out}' holds the adapter folder '{adapter}'; give a folder of its own "
            f"(e.g. {adapter / MERGED_DIR})"
        )
    check_output_folder(
        out,
        record=MERGE_RECORD,
        what="hf-transfer merge output",
        overwrite=overwrite,
        in_run_dir=_own_merged_folder(adapter, out),
    )


def _own_merged_folder(adapter: Path, out: Path) -> bool:
    """``<adapter>/merged``: a LoRA run's own layout, also while the run stages its files in its ``.hf_transfer/``."""
    return out.resolve() == adapter.resolve() / MERGED_DIR


def _copy_processor(src: Path, dst: Path) -> None:
    import shutil

    for name in PROCESSOR_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)


# --- output folders a command writes whole (merge, ONNX export) ----------------------------------------------
# One place for the rule: such a folder is written under a temporary name and renamed into place, and replaces
# only an earlier output of the same command, whose record file lists what it wrote; anything else in the folder
# (a user's files, a training run) means refusal, never removal.

RECORD_KEY = "written"  # in the record file: the top-level names the command wrote next to it
FINGERPRINTS_KEY = "fingerprints"  # and each one's [size, mtime_ns] (None: a folder), as written


def check_output_folder(
    out: Path,
    *,
    record: str,
    what: str,
    overwrite: bool,
    legacy: frozenset[str] | None = None,
    in_run_dir: bool = False,
) -> list[str]:
    """Refuse ``out`` unless ``what`` may be written there whole; return the earlier output's entries that it
    replaces (none: a new or empty folder).

    ``record`` is the file the command writes into its folder; its ``written`` list names the rest of what it
    wrote. A record without that list (written by an older version) owns the names in ``legacy``."""
    from .runlock import RUN_DIR

    if out.is_symlink():
        raise OutputError(f"'{out}' is a symbolic link; give the folder it points to, or another folder")
    if not in_run_dir and any(p.name == RUN_DIR for p in (out.absolute(), *out.absolute().parents)):
        raise OutputError(
            f"'{out}' is inside a training run's own {RUN_DIR}/ folder, which hf_transfer manages; give a folder of "
            "its own"
        )
    if not out.exists():
        parent = next((p for p in out.absolute().parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise OutputError(f"'{out}' cannot be created: '{parent}' is a file; give another folder")
        if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(
                f"'{out}' cannot be created: '{parent}' is not writable by this user; give another folder"
            )
        return []
    if not out.is_dir():
        raise OutputError(
            f"'{out}' is a file, not a folder: the {what} is a folder of files; give a folder path that does not "
            "exist yet (the file is left as it is)"
        )
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return []
    if RUN_DIR in entries:
        raise OutputError(
            f"'{out}' holds an hf_transfer training run ({RUN_DIR}/); an {what} never writes into a run's folder: "
            "give a folder of its own"
        )
    owned = _recorded(out / record, legacy)
    if owned is None:
        raise OutputError(
            f"'{out}' already exists and is not an {what} (no {record} in it): nothing there is removed or "
            f"replaced (--overwrite replaces only an earlier {what}); give another folder"
        )
    changed = [e for e in entries if e in owned and not _unchanged(out / e, owned[e])]
    foreign = [e for e in entries if e != record and e not in owned] + changed
    if foreign:
        shown = ", ".join(foreign[:10]) + (f" and {len(foreign) - 10} more" if len(foreign) > 10 else "")
        raise OutputError(
            f"'{out}' already exists and holds an earlier {what} and {len(foreign)} "
            f"entr{'y' if len(foreign) == 1 else 'ies'} it did not write ({shown}); those are never removed or "
            "moved (--overwrite replaces only the earlier output's own files): move them out, or give another folder"
        )
    if not overwrite:
        raise OutputError(
            f"'{out}' already exists and holds an earlier {what}; pass --overwrite to replace it, or give another "
            "folder"
        )
    return entries


def _fingerprint(path: Path) -> list[int] | None:
    """A written file's size and modification time (a folder: None): a file changed since, or put there under
    the same name by someone else, no longer matches, and is then not replaced."""
    st = path.lstat()
    return None if path.is_dir() and not path.is_symlink() else [st.st_size, st.st_mtime_ns]


def _unchanged(path: Path, fingerprint: list[int] | None) -> bool:
    try:
        return fingerprint is None and path.is_dir() or _fingerprint(path) == fingerprint
    except OSError:
        return False


def _recorded(path: Path, legacy: frozenset[str] | None) -> dict[str, list[int] | None] | None:
    """The entries a record file says its command wrote, with their fingerprints; None when it is missing or is
    no such record. A name without its fingerprint (a hand-edited record, or one of an older version: ``legacy``
    is accepted for compatibility but owns nothing) is not trusted: that entry is the user's."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    names = data.get(RECORD_KEY)
    prints = data.get(FINGERPRINTS_KEY)
    if isinstance(names, list) and all(isinstance(n, str) and n and "/" not in n for n in names):
        prints = prints if isinstance(prints, dict) else {}
        return {n: prints[n] for n in names if n in prints}
    return {} if legacy is not None and RECORD_KEY not in data else None


def write_output_folder(
    out: Path,
    build: Callable[[Path], T],
    *,
    record: str,
    what: str,
    overwrite: bool,
    legacy: frozenset[str] | None = None,
    in_run_dir: bool = False,
) -> T:
    """``build(tmp)`` writes the output into a temporary sibling folder (its ``record`` file included, or it is
    created); the names written are added to the record, and the folder is renamed into place, replacing an
    earlier output's entries only (checked again at that moment). A failure leaves nothing that looks complete."""
    _remove_leftovers(out)
    tmp = _sibling(out, "building")
    tmp.mkdir(parents=True)
    try:
        result = build(tmp)
        path = tmp / record
        data = json.loads(path.read_text()) if path.is_file() else {}
        data[RECORD_KEY] = sorted(p.name for p in tmp.iterdir() if p.name != record)
        data[FINGERPRINTS_KEY] = {n: _fingerprint(tmp / n) for n in data[RECORD_KEY]}
        path.write_text(json.dumps(data, indent=2) + "\n")
        earlier = check_output_folder(
            out, record=record, what=what, overwrite=overwrite, legacy=legacy, in_run_dir=in_run_dir
        )
        _swap(tmp, out, earlier)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def _sibling(out: Path, kind: str) -> Path:
    return out.parent / f".{out.name}.{kind}-{socket.gethostname()}-{os.getpid()}"


def _remove_leftovers(out: Path) -> None:
    """Temporary folders of this command for ``out`` whose process (on this host) is gone: a killed merge or
    export leaves them. Another host's are kept: it may still run."""
    from .runlock import process_runs

    if not out.parent.is_dir():
        return
    # Only half-built folders: an ".old-" folder is kept, as its warning said (files added while it was replaced).
    pattern = re.compile(rf"\.{re.escape(out.name)}\.building-{re.escape(socket.gethostname())}-(\d+)")
    for p in out.parent.iterdir():
        m = pattern.fullmatch(p.name)
        if m and p.is_dir() and not p.is_symlink() and not process_runs(int(m[1])):
            shutil.rmtree(p, ignore_errors=True)


def _swap(tmp: Path, out: Path, earlier: list[str]) -> None:
    """Rename ``tmp`` to ``out``; the earlier output's entries go only once the new folder is in place."""
    if not out.exists():
        tmp.rename(out)
        return
    if not earlier:  # an empty folder
        out.rmdir()
        tmp.rename(out)
        return
    old = _sibling(out, "old")
    out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        old.rename(out)
        raise
    for name in earlier:
        p = old / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
    try:
        old.rmdir()
    except OSError:  # something was added while the output was written: kept, and said where
        logger.warning(
            "'%s' got new entries while it was replaced; they are kept in '%s': %s",
            out,
            old,
            ", ".join(sorted(p.name for p in old.iterdir())),
        )
