"""``OUT/.hf_transfer/lock``: one live run per output folder.

The lock names the process and host of the run that holds the folder. A lock whose process is gone (same
host; the process start time guards against a reused pid) or whose heartbeat stopped (another host sharing
the disk) is stale and is taken over, so a killed run never blocks its folder for good.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from .errors import OutputError

logger = logging.getLogger("hf_transfer")

RUN_DIR = ".hf_transfer"
LOCK = "lock"
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 600.0  # a lock from another host whose heartbeat is older than this is stale


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _process_start(pid: int) -> str | None:
    """The start time of a process (Linux), so that a reused pid is not taken for the lock's owner."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_runs(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (signal 0 asks without touching it; POSIX). Where it cannot
    be told (another user's process, a pid out of range), it is taken to run: callers only ever remove or take
    over what a process that is surely gone left behind."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True
    return True


def _alive(pid: int, start: str | None) -> bool:
    return process_runs(pid) and (start is None or _process_start(pid) in (None, start))


def read_lock(out: Path) -> dict[str, Any] | None:
    path = out / RUN_DIR / LOCK
    try:
        lock = json.loads(path.read_text())
        lock["heartbeat"] = path.stat().st_mtime
        return lock
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"pid": -1, "host": "?", "heartbeat": 0.0}  # unreadable: half written by a killed process


def lock_is_live(lock: dict[str, Any]) -> bool:
    if lock.get("host") == socket.gethostname():
        return _alive(int(lock.get("pid", -1)), lock.get("process_start"))
    return time.time() - float(lock.get("heartbeat", 0.0)) < STALE_AFTER_SECONDS


def in_use_error(out: Path, lock: dict[str, Any]) -> OutputError:
    return OutputError(
        f"training.output_dir '{out}' is in use by a running hf-transfer run (pid {lock.get('pid')} on host "
        f"{lock.get('host')}, started {lock.get('started', '?')}); wait for it to finish or choose another "
        f"training.output_dir. If that process is gone (e.g. on a machine that was shut down), delete "
        f"{out / RUN_DIR / LOCK}"
    )


class RunLock:
    """``OUT/.hf_transfer/lock`` held by this process, with a heartbeat for other hosts to see it is alive."""

    def __init__(self, out: Path):
        self.path = out / RUN_DIR / LOCK
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": now(),
            "process_start": _process_start(os.getpid()),
        }
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = read_lock(self.path.parent.parent)
                if held is not None and lock_is_live(held):
                    raise in_use_error(self.path.parent.parent, held) from None
                logger.warning(
                    "removing a stale lock of pid %s on host %s (that process is no longer running)",
                    (held or {}).get("pid"),
                    (held or {}).get("host"),
                )
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            break
        else:
            raise in_use_error(self.path.parent.parent, read_lock(self.path.parent.parent) or {})
        self._thread = threading.Thread(target=self._beat, name="hf_transfer-lock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self._stop.set()
        try:
            lock = json.loads(self.path.read_text())
            if lock.get("pid") == os.getpid() and lock.get("host") == socket.gethostname():
                self.path.unlink()
        except (OSError, ValueError):
            pass
