"""The output folder as a run's own: a manifest of what the run wrote, a lock, and the plan for a new run.

hf_transfer clears only what it wrote itself. Each run keeps ``OUT/.hf_transfer/run.json``: a run id, its
status (running, interrupted, failed, finished), the resolved recipe, the entries that were in the folder
before it started, the complete checkpoints and the final artifacts, with the files inside each folder it wrote
(a checkpoint, ``merged/``, ``runs/``), and the checkpoint it is about to write (a kill while Trainer writes it
leaves that folder half-written). Replacing a run removes exactly those files; anything else stays and is listed
in the log. A ``checkpoint-N`` folder the run did not write, or a file of the user's inside one of the run's
folders, blocks ``--overwrite`` and ``--resume``: Trainer writes and rotates (``shutil.rmtree``) such folders.
A folder without a manifest is never cleared.

``OUT/.hf_transfer/lock`` (runlock.py) keeps a second run out while one is live.

Nothing here imports torch: ``--dry-run`` and the checks before a run stay fast.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, OutputError
from .outputs import (
    ADAPTER_CONFIG,
    CARD_FILE,
    MERGED_DIR,
    METRICS_FILE,
    PROCESSOR_FILES,
    RECIPE_FILE,
    REPORT_FILE,
)
from .runlock import RUN_DIR, RunLock, in_use_error, lock_is_live, now, read_lock

logger = logging.getLogger("hf_transfer")

MANIFEST = "run.json"
STAGING = "staging"
CHECKPOINT = re.compile(r"checkpoint-\d+")
# Keys that cannot change what a run computes: a resumed run may change them.
RESUME_FREE_KEYS = {
    "training.logging_steps",
    "training.logging_strategy",
    "training.logging_first_step",
    "training.logging_dir",
    "training.logging_nan_inf_filter",
    "training.report_to",
    "training.disable_tqdm",
    "training.log_level",
    "training.log_level_replica",
    "training.run_name",
    "training.dataloader_num_workers",
    "training.dataloader_pin_memory",
    "training.dataloader_persistent_workers",
    "training.dataloader_prefetch_factor",
    "training.resume_from_checkpoint",
    "training.save_on_interrupt",
    "training.save_total_limit",
    "training.save_steps",
    "training.save_strategy",
    "training.eval_steps",
    "training.eval_strategy",
    "training.per_device_eval_batch_size",
    "training.eval_accumulation_steps",
    "training.eval_on_start",
}
# Top-level names a run writes into the output folder; a file of the user's under one of them blocks a run.
ARTIFACT_NAMES = {
    "model.safetensors",
    "config.json",
    CARD_FILE,
    METRICS_FILE,
    REPORT_FILE,
    RECIPE_FILE,
    "adapter_model.safetensors",
    ADAPTER_CONFIG,
    MERGED_DIR,
    *PROCESSOR_FILES,
    "processor_config.json",
    "training_args.bin",
}


def read_manifest(out: Path) -> dict[str, Any] | None:
    path = out / RUN_DIR / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and "run_id" in manifest else None


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically (a reader never sees half of it)."""
    manifest["updated"] = now()
    folder = out / RUN_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{MANIFEST}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    os.replace(tmp, folder / MANIFEST)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and key.count(".") < 1:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def recipe_differences(old: dict[str, Any], new: dict[str, Any], free: set[str] = RESUME_FREE_KEYS) -> list[str]:
    """The keys whose values differ between two resolved recipes (``hub.*`` and ``free`` keys ignored)."""
    a, b = flatten(old), flatten(new)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if key in free or key.startswith("hub."):
            continue
        if a.get(key) != b.get(key):
            diffs.append(f"{key}: {a.get(key)!r} → {b.get(key)!r}")
    return diffs


# ---------------------------------------------------------------- the plan


@dataclass
class OutputPlan:
    """What a run will do with its output folder, decided before anything is written."""

    out: Path
    action: str  # new | replace | resume
    previous: dict[str, Any] | None = None
    remove: list[str] = field(default_factory=list)  # the previous run's entries
    keep: list[str] = field(default_factory=list)  # entries hf_transfer did not write
    checkpoint: Path | None = None  # resume from here (None: from the start)
    created: bool = False  # the folder does not exist yet

    def describe(self) -> list[str]:
        lines = []
        if self.action == "new":
            lines.append(f"a new run in {'a new folder' if self.created else 'the empty folder'} {self.out}")
        elif self.action == "replace":
            lines.append(
                f"replace the previous run in {self.out}: remove {len(self.remove)} entries it wrote "
                f"({', '.join(self.remove[:8])}{', …' if len(self.remove) > 8 else ''})"
            )
        else:
            if self.checkpoint is None:
                where = "from the start (no complete checkpoint)"
            elif self.checkpoint.resolve().parent == self.out.resolve():
                where = f"from {self.checkpoint.name}"
            else:  # another folder's checkpoint: say which
                where = f"from {self.checkpoint} (a checkpoint outside this folder)"
            lines.append(f"resume the interrupted run in {self.out} {where}")
        if self.keep:
            lines.append(
                f"keep {len(self.keep)} entr{'y' if len(self.keep) == 1 else 'ies'} hf_transfer did not write: "
                f"{', '.join(self.keep)}"
            )
        return lines


def files_in(folder: Path) -> list[str]:
    """Every file (and link) under ``folder``, as paths relative to it; links to folders are not followed."""
    found = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        found += [str(rel / f) for f in files] + [str(rel / d) for d in dirs if (Path(root) / d).is_symlink()]
    return sorted(found)


def owned_entries(out: Path, manifest: dict[str, Any]) -> list[str]:
    """The top-level entries of ``out`` that the manifest's run wrote: its final files, its complete checkpoints,
    the checkpoint it was writing when it stopped (``pending_checkpoint``), and ``runs/`` if it created it.
    A ``checkpoint-N`` folder the run never named is not its own, whatever its name says."""
    preexisting = set(manifest.get("preexisting", []))
    listed = set(manifest.get("written", [])) | set(manifest.get("checkpoints", []))
    if manifest.get("pending_checkpoint"):
        listed.add(manifest["pending_checkpoint"])
    owned = []
    for entry in sorted(out.iterdir()):
        name = entry.name
        if name == RUN_DIR or name in preexisting:
            continue
        if name in listed or name == "runs" and manifest.get("wrote_runs"):
            owned.append(name)
    return owned


def _ours_in(name: str, manifest: dict[str, Any], relative: str) -> bool:
    """Whether ``relative``, a file inside the run's folder ``name``, is one the run wrote."""
    if name == "runs" and Path(relative).name.startswith("events.out.tfevents."):
        return True  # TensorBoard's event files: a killed run may have added some since its last record
    listed = manifest.get("files", {}).get(name)
    return listed is None or relative in listed  # no listing: a half-written checkpoint, or an older manifest


def foreign_files(out: Path, manifest: dict[str, Any], owned: list[str]) -> list[str]:
    """Files inside the run's own folders that the run did not write (``checkpoint-4/notes.txt``)."""
    found = []
    for name in owned:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            found += [f"{name}/{f}" for f in files_in(path) if not _ours_in(name, manifest, f)]
    return found


def remove_owned(out: Path, manifest: dict[str, Any], owned: list[str]) -> None:
    """Remove what the run wrote: its files, and its folders' files then the folders left empty."""
    for name in owned:
        path = out / name
        if not path.is_dir() or path.is_symlink():
            path.unlink(missing_ok=True)
            continue
        for rel in files_in(path):
            if _ours_in(name, manifest, rel):
                (path / rel).unlink(missing_ok=True)
        for root, dirs, _ in sorted(os.walk(path, topdown=False), key=lambda w: -len(Path(w[0]).parts)):
            for d in dirs:
                _remove_if_empty(Path(root) / d)
        _remove_if_empty(path)


def _refuse_foreign_checkpoints(
    out: Path, manifest: dict[str, Any], owned: list[str], keep: list[str], option: str
) -> None:
    """Files of the user's inside the run's folders, or ``checkpoint-N`` folders the run did not write, would be
    removed by Trainer (it writes into and rotates every ``checkpoint-*`` folder) or by the replacement: refuse."""
    foreign = [n for n in keep if CHECKPOINT.fullmatch(n) and (out / n).is_dir()] + foreign_files(out, manifest, owned)
    if foreign:
        shown = ", ".join(foreign[:10]) + (f" and {len(foreign) - 10} more" if len(foreign) > 10 else "")
        raise OutputError(
            f"training.output_dir '{out}' holds {shown}, which hf_transfer did not write, inside or beside the "
            f"previous run's checkpoint and output folders, where {option} would remove or write over them; move "
            "them out of the folder, or set training.output_dir=<new folder>"
        )


def checkpoint_problem(folder: Path) -> str | None:
    """Why Trainer could not resume from ``folder`` (a file cut short or damaged since it was written), or None.
    Reads only headers: a safetensors file's header and its declared size, a torch file's zip directory (at the
    end of the file, so a cut-off file has none), ``trainer_state.json`` whole."""
    import zipfile

    try:
        state = json.loads((folder / "trainer_state.json").read_text())
        if not isinstance(state, dict):
            return "trainer_state.json holds no state"
    except (OSError, ValueError) as e:
        return f"trainer_state.json cannot be read ({type(e).__name__})"
    for rel in files_in(folder):
        path = folder / rel
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                head = f.read(8)
                if rel.endswith(".safetensors"):
                    n = int.from_bytes(head, "little") if len(head) == 8 else -1
                    if not 0 < n <= size - 8:
                        return f"{rel} is cut short or damaged (its header does not fit in its {size} bytes)"
                    header = json.loads(f.read(n))
                    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
                    if 8 + n + end > size:
                        return f"{rel} is cut short ({size} bytes of {8 + n + end})"
                elif head[:2] == b"PK":  # torch.save's zip format (optimizer, scheduler, RNG states, arguments)
                    with zipfile.ZipFile(path) as z:
                        z.namelist()
        except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as e:
            return f"{rel} cannot be read ({type(e).__name__})"
    return None


def complete_checkpoints(out: Path, manifest: dict[str, Any]) -> list[Path]:
    """Checkpoints the run finished writing (recorded after Trainer saved them), oldest first."""
    found = [out / n for n in manifest.get("checkpoints", []) if (out / n / "trainer_state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def _check_creatable(out: Path) -> None:
    """``out`` can be created or written by this user: its nearest existing ancestor is a writable folder."""
    p = out
    while not p.exists() and p != p.parent:
        p = p.parent
    if p != out and not p.is_dir():
        raise OutputError(
            f"training.output_dir '{out}' cannot be created: '{p}' is a file, not a folder; choose "
            "another training.output_dir"
        )
    if p.is_dir() and not os.access(p, os.W_OK | os.X_OK):
        raise OutputError(
            f"training.output_dir '{out}' cannot be written: '{p}' is not writable by this user; "
            "choose a folder you can write with training.output_dir=<folder>"
        )


def plan_output(
    out: Path, recipe_dict: dict[str, Any], overwrite: bool, resume: bool | str, resume_hint: str
) -> OutputPlan:
    """Decide what a run does with ``out``; raise OutputError when it must not touch it. Writes nothing."""
    if overwrite and resume:
        raise ConfigError(
            [
                "--overwrite and --resume (training.resume_from_checkpoint) exclude each other: "
                "--resume continues the interrupted run, --overwrite replaces it; choose one"
            ]
        )
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"training.output_dir '{out}' is a file, expected a folder; choose another training.output_dir"
        )
    _check_creatable(out)
    lock = read_lock(out) if out.is_dir() else None
    if lock is not None and lock_is_live(lock):
        raise in_use_error(out, lock)
    # A run killed before it started training leaves only its lock: the folder holds nothing of a run yet.
    if not out.is_dir() or not any(p.name != RUN_DIR for p in out.iterdir()) and read_manifest(out) is None:
        if resume is True:
            logger.warning("--resume: %s holds no run yet; starting a new run (check training.output_dir)", out)
        return OutputPlan(out, "new", created=not out.exists())
    manifest = read_manifest(out)
    if manifest is None:
        legacy = (out / RECIPE_FILE).is_file() or any(out.glob("checkpoint-*"))
        what = (
            "an hf_transfer run written without a run manifest (by an older version, or by hand), which "
            "hf_transfer does not clear"
            if legacy
            else "files that are not an hf_transfer run"
        )
        raise OutputError(
            f"training.output_dir '{out}' already holds {what}; choose an empty or new folder with "
            "training.output_dir=<folder> (or move those files away yourself)"
        )
    status = manifest.get("status", "running")
    if status == "running":
        status = "interrupted"  # its lock is not live: the process died (kill -9, a crash, a lost machine)
    same = not recipe_differences(manifest.get("recipe", {}), recipe_dict, free=set())
    owned = owned_entries(out, manifest)
    keep = [p.name for p in sorted(out.iterdir()) if p.name != RUN_DIR and p.name not in owned]
    if resume or overwrite:
        _refuse_foreign_checkpoints(out, manifest, owned, keep, "--resume" if resume else "--overwrite")
    if resume:
        if status == "finished":
            raise OutputError(
                f"training.output_dir '{out}' holds a finished run (finished {manifest.get('updated')}); "
                "there is nothing to resume. To train it again pass --overwrite instead of --resume"
            )
        diffs = recipe_differences(manifest.get("recipe", {}), recipe_dict)
        if diffs:
            raise OutputError(
                f"cannot resume the run in '{out}': the recipe differs from the interrupted run's in "
                f"{len(diffs)} key{'s' if len(diffs) > 1 else ''}:\n    "
                + "\n    ".join(diffs)
                + "\n  resume with the interrupted run's recipe (saved in "
                f"{out / RUN_DIR / MANIFEST}), or pass --overwrite to start a new run"
            )
        checkpoints = complete_checkpoints(out, manifest)
        if isinstance(resume, str):
            checkpoint = Path(resume)
            problem = checkpoint_problem(checkpoint) if checkpoint.is_dir() else None
            if problem:
                raise OutputError(
                    f"cannot resume from '{checkpoint}': {problem}; give an earlier checkpoint with "
                    "training.resume_from_checkpoint=<folder>, or pass --resume alone to take the newest intact one"
                )
        else:
            damaged = []
            while checkpoints and (problem := checkpoint_problem(checkpoints[-1])):
                damaged.append(checkpoints.pop().name)
                logger.warning("skipping %s: %s", damaged[-1], problem)
            checkpoint = checkpoints[-1] if checkpoints else None
            skipped = [
                n
                for n in owned
                if CHECKPOINT.fullmatch(n)
                and n not in damaged
                and (checkpoint is None or int(n.split("-")[1]) > int(checkpoint.name.split("-")[1]))
            ]
            if skipped:
                logger.warning("skipping %s: written when the run was interrupted, not complete", ", ".join(skipped))
        return OutputPlan(out, "resume", manifest, keep=keep, checkpoint=checkpoint)
    if not overwrite:
        checkpoints = complete_checkpoints(out, manifest)
        if same and status == "finished":
            raise OutputError(
                f"training.output_dir '{out}' already holds a finished run of this same recipe "
                f"(finished {manifest.get('updated')}); its model is there to use. To train it again pass --overwrite "
                "(only the files that run wrote are replaced), or set training.output_dir=<new folder>"
            )
        if same:
            last = f" (last complete checkpoint: {checkpoints[-1].name})" if checkpoints else ""
            raise OutputError(
                f"training.output_dir '{out}' holds an {status} run of this same recipe{last}; continue it with "
                f"`{resume_hint}`, or pass --overwrite to start it again"
            )
        raise OutputError(
            f"training.output_dir '{out}' already holds a different run ({status}); pass --overwrite "
            "(hf_transfer.train(..., overwrite=True)) to replace it (only the files that run wrote are removed), or "
            "set training.output_dir=<new folder>"
        )
    clashes = sorted(n for n in keep if n in ARTIFACT_NAMES)
    if clashes:
        raise OutputError(
            f"training.output_dir '{out}' holds {', '.join(clashes)}, which hf_transfer did not write but a run "
            "writes; move them away or choose another training.output_dir"
        )
    return OutputPlan(out, "replace", manifest, remove=owned, keep=keep)


# ---------------------------------------------------------------- carrying the plan out


class OutputFolder:
    """The output folder of the run in progress: lock, manifest updates, and moving final artifacts in."""

    def __init__(self, plan: OutputPlan, recipe_dict: dict[str, Any]):
        self.plan = plan
        self.out = plan.out
        self.lock = RunLock(plan.out)
        self.manifest: dict[str, Any] = {}
        self.recipe_dict = recipe_dict
        self.started = self.done = self.keep_staging = False
        self.existed = self.run_dir_existed = True

    def lock_folder(self) -> OutputFolder:
        """Take the folder before the run's slow steps (model, feature cache): a second run is refused at once."""
        self.existed = self.out.is_dir()
        self.run_dir_existed = (self.out / RUN_DIR).is_dir()
        self.out.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        return self

    def start(self) -> None:
        """Just before training: remove the previous run's entries if replacing, mark this run as running."""
        plan, out = self.plan, self.out
        self.started = True
        if plan.action == "resume" and plan.previous is not None:
            manifest = dict(plan.previous)
            manifest["resumed"] = int(manifest.get("resumed", 0)) + 1
            manifest.pop("interrupted", None)
            manifest.pop("error", None)
        else:
            remove_owned(out, plan.previous or {}, plan.remove)
            if plan.remove:
                logger.info("removed %d entries the previous run wrote in %s", len(plan.remove), out)
            manifest = {
                "format": 1,
                "run_id": uuid.uuid4().hex[:12],
                "created": now(),
                "preexisting": sorted(p.name for p in out.iterdir() if p.name != RUN_DIR),
                "checkpoints": [],
                "written": [],
            }
        if plan.keep:
            logger.info(
                "kept %d entr%s that hf_transfer did not write: %s",
                len(plan.keep),
                "y" if len(plan.keep) == 1 else "ies",
                ", ".join(plan.keep),
            )
        manifest.update(status="running", recipe=self.recipe_dict, pid=os.getpid(), host=socket.gethostname())
        shutil.rmtree(out / RUN_DIR / STAGING, ignore_errors=True)
        self.manifest = manifest
        write_manifest(out, manifest)

    def record_pending_checkpoint(self, name: str) -> None:
        """The checkpoint Trainer is about to write: if the process dies while it writes, the folder is the run's."""
        if self.manifest.get("pending_checkpoint") != name and name not in self.manifest.get("checkpoints", []):
            self.manifest["pending_checkpoint"] = name
            write_manifest(self.out, self.manifest)

    def record_checkpoint(self, name: str) -> None:
        """A checkpoint Trainer finished writing, with its files; forget those it rotated away (save_total_limit)."""
        names = [n for n in self.manifest.get("checkpoints", []) if (self.out / n).is_dir()]
        if name not in names:
            names.append(name)
        self.manifest["checkpoints"] = names
        files = {n: v for n, v in self.manifest.get("files", {}).items() if (self.out / n).is_dir()}
        if (self.out / name).is_dir():
            files[name] = files_in(self.out / name)
        self.manifest["files"] = files
        if self.manifest.get("pending_checkpoint") == name:
            del self.manifest["pending_checkpoint"]
        self._record_runs()
        write_manifest(self.out, self.manifest)

    def _record_runs(self) -> None:
        if (self.out / "runs").is_dir() and "runs" not in self.manifest.get("preexisting", []):
            self.manifest["wrote_runs"] = True
            self.manifest.setdefault("files", {})["runs"] = files_in(self.out / "runs")

    @property
    def staging(self) -> Path:
        return self.out / RUN_DIR / STAGING

    def publish(self) -> list[str]:
        """Move the staged final artifacts into the folder (a rename each); return their names."""
        staged = sorted(p.name for p in self.staging.iterdir())
        owned = set(self.manifest.get("written", [])) | set(self.manifest.get("checkpoints", []))
        blocked = [n for n in staged if (self.out / n).exists() and n not in owned]
        if blocked:
            self.keep_staging = True
            raise OutputError(
                f"'{self.out}' now holds {', '.join(blocked)}, which hf_transfer did not write and would replace; the "
                f"finished model is kept in {self.staging}: move those files away and move it in by hand"
            )
        for name in staged:
            target = self.out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(self.staging / name, target)
            if target.is_dir() and not target.is_symlink():
                self.manifest.setdefault("files", {})[name] = files_in(target)
        self.staging.rmdir()
        self.manifest["written"] = sorted(set(self.manifest.get("written", [])) | set(staged))
        self._record_runs()
        return staged

    def finish(self, status: str, **info: Any) -> None:
        """Record how the run ended (once) and release the lock. A run that stopped before it started training
        leaves the folder as it found it."""
        if self.done:
            return
        self.done = True
        try:
            if not self.keep_staging:
                shutil.rmtree(self.staging, ignore_errors=True)
            if not self.started:  # stopped while loading: nothing of the run was written
                if not self.run_dir_existed:
                    self.lock.release()
                    shutil.rmtree(self.out / RUN_DIR, ignore_errors=True)
                    if not self.existed:
                        _remove_if_empty(self.out)
                return
            self.manifest.update(status=status, **info)
            self._record_runs()
            if status == "failed" and not self.existed and not any(p.name != RUN_DIR for p in self.out.iterdir()):
                self.lock.release()  # a run that failed before writing anything leaves no folder behind
                shutil.rmtree(self.out / RUN_DIR, ignore_errors=True)
                _remove_if_empty(self.out)
                return
            write_manifest(self.out, self.manifest)
        finally:
            self.lock.release()


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
