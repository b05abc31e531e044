"""The leaderboard of a comparison as markdown, JSON and a PNG (validation metric vs training time).

Drawn with Pillow in the style of :mod:`hf_transfer.charts`; marker area grows with trainable parameters.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .charts import _BLUE, _font, axes


def _fmt(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def markdown(board: Any) -> str:
    """The table, best first; test figures for the chosen cell only (choosing on test would inflate them)."""
    lines = [
        f"# Comparison: validation {board.metric}",
        "",
        f"| # | cell | validation {board.metric} | training seconds | trainable parameters | run |",
        "|---|---|---|---|---|---|",
    ]
    for i, row in enumerate(board.rows, 1):
        lines.append(
            f"| {i} | {row.cell} | {_fmt(row.metric, '.4f')} | {_fmt(row.seconds, '.1f')} | "
            f"{_fmt(row.trainable_params, ',')} | {row.state} |"
        )
    best = board.best
    if best is not None:
        lines += ["", f"Chosen on validation {board.metric}: **{best.cell}** ({best.output_dir})."]
        if best.test:
            shown = ", ".join(
                f"{k} {v:.4f}"
                for k, v in sorted(best.test.items())
                if k != "test_runtime" and not k.endswith(("_per_second", "_real_token_fraction"))
            )
            lines.append(f"Test set, chosen cell only: {shown}.")
        lines += ["", "Reproduce it:", "", f"    {board.command}"]
    lines += [
        "",
        "Test metrics are shown for the chosen cell only: the cell was chosen on validation, and picking "
        "the best of many cells by their test scores would make the winner's test score an optimistic estimate.",
    ]
    return "\n".join(lines) + "\n"


def scatter_png(board: Any, path: Path, size: tuple[int, int] = (560, 380)) -> bool:
    """Validation metric against training seconds, one marker per cell; False when no cell has both."""
    points = [r for r in board.rows if r.metric is not None and r.seconds is not None]
    if not points:
        return False
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = _font(11)
    x0, y0, x1, y1 = 58, 30, size[0] - 14, size[1] - 40
    xs, ys = [r.seconds for r in points], [r.metric for r in points]
    xpad = (max(xs) - min(xs)) * 0.08 or max(xs) * 0.1 or 1.0
    ypad = (max(ys) - min(ys)) * 0.1 or 0.05
    xmin, xmax, ymin, ymax = max(min(xs) - xpad, 0.0), max(xs) + xpad, min(ys) - ypad, max(ys) + ypad

    title = f"validation {board.metric} vs training time (marker area ~ trainable parameters)"
    at = axes(draw, size, (x0, y0, x1, y1), (xmin, xmax, ymin, ymax), title, _font(12), "training seconds", font)
    largest = max((r.trainable_params or 1) for r in points)
    for row in points:
        radius = 3 + 14 * math.sqrt((row.trainable_params or 1) / largest)
        px, py = at(row.seconds, row.metric)
        color = (214, 39, 40) if row is board.best else _BLUE
        draw.ellipse((px - radius, py - radius, px + radius, py + radius), outline=color, width=2)
        if px > (x0 + x1) / 2:  # labels point inwards, so none runs off the chart
            draw.text((px - radius - 3, py), row.cell[:40], font=font, fill="black", anchor="rm")
        else:
            draw.text((px + radius + 3, py), row.cell[:40], font=font, fill="black", anchor="lm")
    img.save(path, format="PNG")
    return True


FILES = ("leaderboard.md", "leaderboard.json", "leaderboard.png")
RECORD = "leaderboard.json"  # records what compare wrote ("written_by", "files"): the rest is never replaced
WRITTEN_BY = "hf-transfer compare"
_LEGACY_KEYS = {"metric", "best", "command", "rows"}  # a leaderboard.json written before it recorded its files


def _ours(folder: Path) -> set[str]:
    """The leaderboard files an earlier compare wrote into ``folder``, as its leaderboard.json records them."""
    try:
        data = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(data, dict):
        return set()
    if data.get("written_by") == WRITTEN_BY and isinstance(data.get("files"), list):
        return {RECORD} | {n for n in data["files"] if n in FILES}
    if set(data) == _LEGACY_KEYS and isinstance(data.get("rows"), list):
        return set(FILES)
    return set()


def check_leaderboard_folder(folder: Path) -> list[str]:
    """Refuse a comparison folder whose leaderboard files an earlier compare did not write (checked before the
    first cell trains, and again before writing); return the earlier compare's files, which are replaced."""
    from .errors import OutputError
    from .runlock import RUN_DIR

    if folder.exists() and not folder.is_dir():
        raise OutputError(
            f"the comparison folder '{folder}' is a file; compare writes its cells and leaderboard into a folder: "
            "choose another --output-dir"
        )
    if (folder / RUN_DIR).exists():
        raise OutputError(
            f"the comparison folder '{folder}' holds a training run ({RUN_DIR}/); compare writes its cells and "
            "leaderboard into a folder of its own: choose another --output-dir"
        )
    present = [n for n in FILES if (folder / n).exists() or (folder / n).is_symlink()]
    ours = _ours(folder)
    foreign = [n for n in present if n not in ours or (folder / n).is_symlink() or not (folder / n).is_file()]
    if foreign:
        raise OutputError(
            f"the comparison folder '{folder}' holds {', '.join(foreign)}, which no earlier hf-transfer compare "
            f"wrote (its {RECORD} records what it wrote); compare writes its leaderboard there and never replaces "
            "files it did not write: move them away, or choose another --output-dir"
        )
    return present


def write_leaderboard(board: Any, folder: Path) -> list[Path]:
    """leaderboard.md, leaderboard.json and leaderboard.png in ``folder``; the paths written. Each file is written
    under a temporary name and renamed; only an earlier compare's leaderboard files are replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    earlier = check_leaderboard_folder(folder)
    md, js, png = (folder / n for n in FILES)
    written = [md]
    _replace(md, lambda tmp: tmp.write_text(markdown(board)))
    drawn = _replace(png, lambda tmp: scatter_png(board, tmp))
    if drawn:
        written.append(png)
    elif png.name in earlier:  # an earlier compare's chart of other cells would be mistaken for this one's
        png.unlink()
    record = {**board.to_dict(), "written_by": WRITTEN_BY, "files": [p.name for p in (md, js, *written[1:])]}
    _replace(js, lambda tmp: tmp.write_text(json.dumps(record, indent=2, default=str) + "\n"))
    return [md, js, *written[1:]]


def _replace(path: Path, write: Any) -> Any:
    """``write(tmp)`` a sibling temporary file, then rename it to ``path`` (unless ``write`` returned False)."""
    import os

    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        done = write(tmp)
        if done is not False:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return done
