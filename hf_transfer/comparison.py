"""``hf-transfer compare``: a grid of strategies × backbones × recipe values, each cell a normal run.

Each cell trains with :func:`hf_transfer.train` in its own output folder under ``<output_dir>/compare/``,
so frozen cells share the feature cache and a cell whose folder already holds the finished run of the
same recipe is read back instead of trained again: an interrupted comparison resumes where it stopped.
Every cell's recipe is validated (and its backbone's modality checked) before the first one trains.

The leaderboard ranks cells by the validation metric (by default the task's own: accuracy, or micro F1 for
multi-label). Test metrics are reported for the chosen cell
only: picking the best of many cells on the test set would make its test score an optimistic estimate.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import Recipe, load_recipe
from .errors import ConfigError, HfTransferError
from .outputs import METRICS_FILE, REPORT_FILE

logger = logging.getLogger("hf_transfer")
LEADERBOARD = "leaderboard"


@dataclass
class Cell:
    """One run of the grid: its name, the overrides that make it, and where it writes."""

    name: str
    overrides: dict[str, str]  # grid key → value, as given
    output_dir: Path
    recipe: Recipe | None = None
    state: str = "new"  # new, resume or finished (read back, not trained)


@dataclass
class Row:
    """A leaderboard line."""

    cell: str
    overrides: dict[str, str]
    metric: float | None
    seconds: float | None
    trainable_params: int | None
    output_dir: str
    state: str
    test: dict[str, float] = field(default_factory=dict)


@dataclass
class Leaderboard:
    """What :func:`compare` returns: the rows best first, the chosen cell and how to reproduce it."""

    metric: str
    rows: list[Row]
    folder: Path
    command: str = ""
    files: list[Path] = field(default_factory=list)

    @property
    def best(self) -> Row | None:
        return self.rows[0] if self.rows and self.rows[0].metric is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "best": self.best.cell if self.best else None,
            "command": self.command,
            "rows": [asdict(r) for r in self.rows],
        }


def parse_grid(items: list[str] | None) -> dict[str, list[str]]:
    """``["training.learning_rate=1e-4,3e-4"]`` → ``{"training.learning_rate": ["1e-4", "3e-4"]}``."""
    grid: dict[str, list[str]] = {}
    problems = []
    for item in items or []:
        key, sep, values = item.partition("=")
        parts = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not parts:
            problems.append(
                f"--grid '{item}' must look like section.key=value1,value2, e.g. training.learning_rate=1e-4,3e-4"
            )
            continue
        if key.strip() in grid:
            problems.append(
                f"--grid names '{key.strip()}' twice; give all its values once: --grid "
                f"{key.strip()}={','.join([*grid[key.strip()], *parts])}"
            )
            continue
        grid[key.strip()] = parts
    if problems:
        raise ConfigError(problems)
    return grid


def _slug(text: str, depth: int = 1) -> str:
    """A folder-safe short name: the last ``depth`` path parts (a pkg:// reference: its package)."""
    if text.startswith("pkg://"):
        text = text[len("pkg://") :].split("/")[0]
    tail = "-".join(text.rstrip("/").split("/")[-depth:])
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", tail).strip("_") or "x"


def _backbone_names(backbones: list[str]) -> dict[str, str]:
    """Backbone → short name, with as many path parts as it takes to tell them apart."""
    for depth in (1, 2, 3):
        names = {b: _slug(b, depth) for b in backbones}
        if len(set(names.values())) == len(names):
            return names
    return {b: f"{i:02d}-{_slug(b)}" for i, b in enumerate(backbones)}


def _cell_name(overrides: dict[str, str], short: dict[str, str]) -> str:
    parts = []
    for key, value in overrides.items():
        if key == "strategy.name":
            parts.append(str(value))
        elif key == "backbone.name_or_path":
            parts.append(short[value])
        else:
            parts.append(f"{key.rsplit('.', 1)[-1]}={_slug(str(value))}")
    return "__".join(parts) or "base"


def plan_cells(
    recipe: Any,
    overrides: list[str] | dict | None = None,
    *,
    strategies: list[str] | None = None,
    backbones: list[str] | None = None,
    grid: dict[str, list[Any]] | None = None,
    output_dir: str | Path | None = None,
) -> list[Cell]:
    """Every cell of the grid with its validated recipe; one ConfigError lists the problems of all cells."""
    axes: dict[str, list[Any]] = {}
    problems = []
    options = {"strategy.name": ("--strategies", strategies), "backbone.name_or_path": ("--backbones", backbones)}
    for key, (option, values) in options.items():
        if values is not None and not values:
            problems.append(f"{option} lists nothing; give at least one name, or leave {option} out")
        elif values:
            axes[key] = list(values)
            if key in (grid or {}):
                problems.append(f"{key} is given both by {option} and by --grid; give its values in one of them")
    axes.update({k: v for k, v in (grid or {}).items() if k not in axes})
    problems += [
        f"--grid key '{k}' sets where each cell writes; use --output-dir" for k in axes if k == "training.output_dir"
    ]
    problems += [f"--grid key '{k}' has no values" for k, v in axes.items() if not v]
    labels = {k: options[k][0] if k in options else f"--grid {k}" for k in axes}
    for key, values in axes.items():
        twice = [v for i, v in enumerate(values) if str(v) in map(str, values[:i])]
        if twice:  # the same cell trained twice
            problems.append(
                f"{labels[key]} lists {', '.join(repr(str(v)) for v in dict.fromkeys(twice))} more than once"
            )
    if problems:
        raise ConfigError(problems)
    base = load_recipe(recipe, overrides)
    root = Path(output_dir) if output_dir else base.output_dir / "compare"
    short = _backbone_names([str(b) for b in axes.get("backbone.name_or_path", [])])
    cells = []
    for values in itertools.product(*axes.values()):
        chosen = {k: str(v) for k, v in zip(axes, values)}
        cells.append(Cell(_cell_name(chosen, short), chosen, root / _cell_name(chosen, short)))
    if len({c.name for c in cells}) < len(cells):  # values that differ only in characters a folder name drops
        for i, cell in enumerate(cells):
            cell.name, cell.output_dir = f"{i:02d}-{cell.name}", root / f"{i:02d}-{cell.name}"
    found: dict[str, list[str]] = {}  # problem → the cells that have it, so a shared mistake is listed once
    for cell in cells:
        try:
            cell.recipe = load_recipe(recipe, _with(overrides, cell))
        except ConfigError as e:
            for p in e.problems:
                found.setdefault(p, []).append(cell.name)
    for p, names in _backbone_problems(base, cells, found):
        found.setdefault(p, []).extend(names)
    problems += [f"{_cells(names, len(cells))}: {p}" for p, names in found.items()]
    if problems:
        raise ConfigError(problems, source=str(recipe) if isinstance(recipe, (str, Path)) else None)
    for cell in cells:
        problem = _folder_state(cell)
        if problem:
            problems.append(f"cell {cell.name}: {problem}")
    if problems:
        raise ConfigError(problems)
    return cells


def _with(overrides: list[str] | dict | None, cell: Cell) -> list[str] | dict:
    extra = {**cell.overrides, "training.output_dir": str(cell.output_dir)}
    if isinstance(overrides, dict):
        return {**overrides, **extra}
    return list(overrides or []) + [f"{k}={v}" for k, v in extra.items()]


def _cells(names: list[str], total: int) -> str:
    if len(names) == total and total > 1:
        return "every cell"
    return ("cell " if len(names) == 1 else "cells ") + ", ".join(names)


def _backbone_problems(base: Recipe, cells: list[Cell], found: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """Backbones the task cannot use (wrong modality, not found), found before anything trains, for cells whose
    recipe failed on other keys too: the recipe check reads local folders only, this resolves Hub ids and
    pkg:// references and reads their config."""
    from .backbone import resolve

    checked: dict[str, str | None] = {}
    out: dict[str, list[str]] = {}
    for cell in cells:
        name = cell.overrides.get("backbone.name_or_path", base.backbone.name_or_path)
        if any(name in p and cell.name in names for p, names in found.items()):
            continue  # the recipe check named this backbone already
        if name not in checked:
            try:
                base.task.options.check_backbone(resolve(name, base.backbone.revision, base.backbone.trust_remote_code))
                checked[name] = None
            except HfTransferError as e:
                checked[name] = str(e)
        if checked[name]:
            out.setdefault(checked[name], []).append(cell.name)
    return list(out.items())


def _folder_state(cell: Cell) -> str | None:
    """Sets ``cell.state`` from its output folder's manifest; a problem when the folder holds another run."""
    from .pipeline import recipe_record
    from .rundir import read_manifest, recipe_differences

    blocker = next((p for p in (cell.output_dir, *cell.output_dir.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        return f"'{cell.output_dir}' cannot be a folder: '{blocker}' is a file; move it away or choose --output-dir"
    manifest = read_manifest(cell.output_dir)
    if manifest is None:
        if cell.output_dir.is_dir() and any(cell.output_dir.iterdir()):
            return f"'{cell.output_dir}' holds files that are not an hf_transfer run; move them away or choose --output-dir"
        return None
    diffs = recipe_differences(manifest.get("recipe", {}), recipe_record(cell.recipe), free=set())
    if diffs:
        return (
            f"'{cell.output_dir}' holds a run of a different recipe ({'; '.join(diffs[:3])}); remove that folder "
            "or choose another --output-dir"
        )
    cell.state = "finished" if manifest.get("status") == "finished" else "resume"
    return None


def compare(
    recipe: Any,
    overrides: list[str] | dict | None = None,
    *,
    strategies: list[str] | None = None,
    backbones: list[str] | None = None,
    grid: dict[str, list[Any]] | None = None,
    output_dir: str | Path | None = None,
    metric: str | None = None,
    dataset: Any = None,
    dry_run: bool = False,
) -> Leaderboard:
    """Train every cell of the grid (skipping finished ones, resuming interrupted ones) and return the leaderboard.

    Under ``accelerate launch`` every process calls this: the cells run one after the other, each on all
    processes; the main process writes the leaderboard. ``metric``: the validation metric to rank by (default:
    the task's ``primary_metric``, e.g. accuracy for single-label and micro_f1 for multi-label tasks)."""
    cells = _same_on_every_process(
        plan_cells(recipe, overrides, strategies=strategies, backbones=backbones, grid=grid, output_dir=output_dir),
        dry_run,
    )
    folder = cells[0].output_dir.parent
    metric = check_metric(metric, cells[0].recipe)
    from .leaderboard import check_leaderboard_folder

    check_leaderboard_folder(folder)  # before anything trains: a user's leaderboard.md is never replaced
    board = Leaderboard(metric, [], folder)
    if dry_run:
        board.rows = [_row(c, None, c.state, metric) for c in cells]
        return board
    from .pipeline import train

    reported: set[str] = set()  # the validation metrics the cells report, for a --metric none of them has
    for i, cell in enumerate(cells, 1):
        if cell.state == "finished":
            logger.info(
                "compare: cell %d/%d %s already finished; reading %s", i, len(cells), cell.name, cell.output_dir
            )
            metrics, state = _read_json(cell.output_dir / METRICS_FILE), "finished"
        else:
            logger.info("compare: cell %d/%d %s (%s)", i, len(cells), cell.name, cell.state)
            metrics = train(cell.recipe, dataset=dataset, resume=cell.state == "resume").metrics
            state = "resumed" if cell.state == "resume" else "trained"
        reported |= _validation_metrics(metrics)
        board.rows.append(_row(cell, metrics, state, metric))
    if all(r.metric is None for r in board.rows):
        raise HfTransferError(
            f"no cell reports the validation metric '{metric}', so nothing can be ranked (no leaderboard was "
            f"written); the cells report: {', '.join(sorted(reported)) or 'no validation metrics'}. Run the same "
            "command with --metric NAME: the finished cells are read back, not trained again"
        )
    board.rows = ranked(board.rows, metric)
    if board.best is not None:
        best = next(c for c in cells if c.name == board.best.cell)
        metrics = _read_json(best.output_dir / METRICS_FILE)
        board.best.test = {k: v for k, v in metrics.items() if k.startswith("test_") and isinstance(v, (int, float))}
        board.command = reproduce_command(recipe, overrides, best)
    from .pipeline import _main_process

    if _main_process():
        from .leaderboard import write_leaderboard

        board.files = write_leaderboard(board, folder)
    logger.info("compare: leaderboard by validation %s written to %s", metric, folder)
    return board


def check_metric(metric: str | None, recipe: Recipe) -> str:
    """The validation metric to rank by (``eval_`` dropped), refused before anything trains when the task's
    metrics are known without its data and do not include it. Per-target forms (``rmse_<target>``) pass: the
    targets are known once the data is read."""
    import inspect

    from .registry import did_you_mean

    task = recipe.task.options
    if metric is None:
        return task.primary_metric
    name = metric.removeprefix("eval_")
    if isinstance(inspect.getattr_static(type(task), "summary_metrics", None), property):
        return name  # the metrics depend on the data (e.g. tags with or without a scheme): checked at the end
    known = sorted({task.primary_metric, "loss", *task.summary_metrics})
    if name in known or any(name.startswith(f"{m}_") for m in task.summary_metrics):
        return name
    raise HfTransferError(
        f"--metric '{metric}' is not a validation metric of the {recipe.task.name} task; expected one of "
        f"{', '.join(known)}{did_you_mean(name, known)}"
    )


def _validation_metrics(metrics: dict[str, Any]) -> set[str]:
    """The metric names (without ``eval_``) a run's metrics hold for the validation split; timings left out."""
    timings = ("runtime", "samples_per_second", "steps_per_second", "epoch")
    return {
        k.removeprefix("eval_")
        for k, v in metrics.items()
        if k.startswith("eval_") and isinstance(v, (int, float)) and not k.endswith(timings)
    }


def ranked(rows: list[Row], metric: str) -> list[Row]:
    """Best first, rows without the metric last; losses and error metrics (``hamming_loss``, ``rmse``) are better
    lower (:func:`hf_transfer.metrics.lower_is_better`)."""
    from .metrics import lower_is_better

    sign = 1.0 if lower_is_better(metric) else -1.0
    return sorted(rows, key=lambda r: (r.metric is None, sign * (r.metric or 0.0)))


def _same_on_every_process(cells: list[Cell], dry_run: bool) -> list[Cell]:
    """Under several processes, the main process's view of which cells are finished or to resume: every
    process must skip and train the same cells, or the collective calls inside a cell would never meet."""
    import os

    if dry_run or int(os.environ.get("WORLD_SIZE", "1") or 1) < 2:
        return cells
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    PartialState()  # joins the process group the launcher set up
    states = broadcast_object_list([[c.state for c in cells]])[0]
    for cell, state in zip(cells, states):
        cell.state = state
    return cells


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise HfTransferError(
            f"'{path}' is missing or unreadable although the run there finished; remove "
            f"'{path.parent}' to train that cell again"
        ) from None


def _row(cell: Cell, metrics: dict[str, Any] | None, state: str, metric: str) -> Row:
    metrics = metrics or {}
    seconds = None
    if "train_runtime" in metrics:
        seconds = float(metrics["train_runtime"]) + float(metrics.get("train_feature_cache_seconds", 0.0))
    trainable = None
    report = cell.output_dir / REPORT_FILE
    if report.is_file():
        try:
            trainable = json.loads(report.read_text()).get("strategy", {}).get("trainable_params")
        except ValueError:
            pass
    value = metrics.get(f"eval_{metric}")
    return Row(cell.name, cell.overrides, value, seconds, trainable, str(cell.output_dir), state)


def reproduce_command(recipe: Any, overrides: list[str] | dict | None, cell: Cell) -> str:
    """The ``hf-transfer train`` command that trains the chosen cell on its own."""
    source = str(recipe) if isinstance(recipe, (str, Path)) else "RECIPE.yaml"
    items = _with(overrides, cell)
    items = [f"{k}={v}" for k, v in items.items()] if isinstance(items, dict) else items
    return " ".join(["hf-transfer train", source, *(_quote(i) for i in items)])


def _quote(item: str) -> str:
    import shlex

    return shlex.quote(item)
