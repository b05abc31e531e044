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


def write_leaderboard(board: Any, folder: Path) -> list[Path]:
    """leaderboard.md, leaderboard.json and leaderboard.png in ``folder``; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    md, js, png = folder / "leaderboard.md", folder / "leaderboard.json", folder / "leaderboard.png"
    md.write_text(markdown(board))
    js.write_text(json.dumps(board.to_dict(), indent=2, default=str) + "\n")
    written = [md, js]
    if scatter_png(board, png):
        written.append(png)
    return written
