"""PNG charts for model cards — confusion matrix, training curves, per-label bars, predicted-vs-true scatter — drawn
with Pillow.

Pillow already comes with the image stack; matplotlib would be a heavy dependency for two pictures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_BLUE, _ORANGE, _GREEN, _RED = (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def confusion_matrix_png(matrix: list[list[int]], labels: list[str], title: str, path: Path) -> None:
    from PIL import Image, ImageDraw

    n = len(labels)
    cell = max(14, min(56, 560 // max(n, 1)))
    font, bold = _font(max(9, min(13, cell // 3 + 4))), _font(14)
    names = [name if len(name) <= 20 else name[:19] + "…" for name in labels]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = int(max(measure.textlength(name, font=font) for name in names)) + 8
    left, top = text_w + 34, 34
    width, height = left + n * cell + 16, top + n * cell + text_w + 30
    img = Image.new("RGB", (max(width, 260), height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((8, 8), title, fill="black", font=bold)
    for i, row in enumerate(matrix):
        total = max(sum(row), 1)
        for j, count in enumerate(row):
            f = count / total
            color = tuple(int(255 - f * (255 - c)) for c in _BLUE)
            box = (left + j * cell, top + i * cell, left + (j + 1) * cell - 1, top + (i + 1) * cell - 1)
            draw.rectangle(box, fill=color, outline=(220, 220, 220))
            if cell >= 22:
                draw.text(
                    ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2),
                    str(count),
                    font=font,
                    anchor="mm",
                    fill="white" if f > 0.5 else "black",
                )
    for i, name in enumerate(names):
        draw.text((left - 4, top + i * cell + cell / 2), name, font=font, fill="black", anchor="rm")
        label = Image.new("RGB", (text_w, cell), "white")
        ImageDraw.Draw(label).text((text_w - 4, cell / 2), name, font=font, fill="black", anchor="rm")
        img.paste(label.rotate(90, expand=True), (left + i * cell, top + n * cell + 2))
    draw.text((4, top + n * cell / 2), "true", font=font, fill=(90, 90, 90), anchor="lm")
    draw.text((left + n * cell / 2, height - 6), "predicted", font=font, fill=(90, 90, 90), anchor="ms")
    img.save(path, format="PNG")


def curves_png(history: list[dict[str, Any]], path: Path) -> bool:
    """Loss (and validation metrics, when evaluated during training) against the step; False if too few points."""

    def series(key: str) -> list[tuple[float, float]]:
        return [(float(e["step"]), float(e[key])) for e in history if isinstance(e, dict) and key in e and "step" in e]

    panels = [
        ("loss", {"train loss": series("loss"), "validation loss": series("eval_loss")}),
        ("validation metrics", {"accuracy": series("eval_accuracy"), "macro F1": series("eval_macro_f1")}),
    ]
    panels = [(t, {k: v for k, v in s.items() if v}) for t, s in panels]
    panels = [(t, s) for t, s in panels if sum(len(v) for v in s.values()) >= 2]
    if not panels:
        return False
    from PIL import Image

    charts = [_line_chart(title, lines) for title, lines in panels]
    img = Image.new("RGB", (sum(c.width for c in charts), charts[0].height), "white")
    for i, chart in enumerate(charts):
        img.paste(chart, (i * chart.width, 0))
    img.save(path, format="PNG")
    return True


def axes(
    draw: Any,
    size: tuple[int, int],
    box: tuple[float, float, float, float],
    ranges: tuple[float, float, float, float],
    title: str,
    title_font: Any,
    xlabel: str,
    font: Any,
):
    """Draw a chart's title, frame, grid and tick labels; return the data → pixel mapping."""
    x0, y0, x1, y1 = box
    xmin, xmax, ymin, ymax = ranges

    def at(x: float, y: float) -> tuple[float, float]:
        return x0 + (x - xmin) / (xmax - xmin) * (x1 - x0), y1 - (y - ymin) / (ymax - ymin) * (y1 - y0)

    draw.text((size[0] / 2, 8), title, font=title_font, fill="black", anchor="mt")
    draw.rectangle((x0, y0, x1, y1), outline=(120, 120, 120))
    for k in range(5):
        yv, xv = ymin + (ymax - ymin) * k / 4, xmin + (xmax - xmin) * k / 4
        py, px = at(xmin, yv)[1], at(xv, ymin)[0]
        draw.line((x0, py, x1, py), fill=(235, 235, 235))
        draw.text((x0 - 4, py), f"{yv:.3g}", font=font, fill="black", anchor="rm")
        draw.text((px, y1 + 4), f"{xv:.4g}", font=font, fill="black", anchor="mt")
    draw.text(((x0 + x1) / 2, size[1] - 4), xlabel, font=font, fill=(90, 90, 90), anchor="ms")
    return at


def _line_chart(title: str, lines: dict[str, list[tuple[float, float]]], size: tuple[int, int] = (440, 300)) -> Any:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = _font(11)
    x0, y0, x1, y1 = 58, 30, size[0] - 14, size[1] - 40
    xs = [x for pts in lines.values() for x, _ in pts]
    ys = [y for pts in lines.values() for _, y in pts]
    xmin, xmax = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    pad = (max(ys) - min(ys)) * 0.05 or abs(max(ys)) * 0.05 or 0.5
    ymin, ymax = min(ys) - pad, max(ys) + pad

    at = axes(draw, size, (x0, y0, x1, y1), (xmin, xmax, ymin, ymax), title, _font(13), "step", font)
    for k, ((name, pts), color) in enumerate(zip(lines.items(), (_BLUE, _ORANGE, _GREEN, _RED))):
        points = [at(x, y) for x, y in sorted(pts)]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        if len(points) <= 40:
            for px, py in points:
                draw.ellipse((px - 2.5, py - 2.5, px + 2.5, py + 2.5), fill=color)
        ly = y0 + 8 + 14 * k
        draw.line((x1 - 110, ly, x1 - 92, ly), fill=color, width=2)
        draw.text((x1 - 88, ly), name, font=font, fill="black", anchor="lm")
    return img


def bars_png(values: dict[str, float], title: str, path: Path) -> None:
    """One horizontal bar per label (scores in [0, 1], e.g. each label's F1), labels in the given order."""
    from PIL import Image, ImageDraw

    font, bold = _font(12), _font(14)
    names = [name if len(name) <= 24 else name[:23] + "…" for name in values]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = int(max((measure.textlength(name, font=font) for name in names), default=0)) + 12
    bar_h, top, span = 18, 34, 300
    left = text_w + 8
    img = Image.new("RGB", (left + span + 60, top + bar_h * len(names) + 12), "white")
    draw = ImageDraw.Draw(img)
    draw.text((8, 8), title, fill="black", font=bold)
    for i, (name, value) in enumerate(zip(names, values.values())):
        y = top + i * bar_h
        width = max(0.0, min(1.0, float(value))) * span
        draw.rectangle((left, y + 2, left + width, y + bar_h - 3), fill=_BLUE)
        draw.text((left - 6, y + bar_h / 2), name, font=font, fill="black", anchor="rm")
        draw.text((left + width + 4, y + bar_h / 2), f"{value:.2f}", font=font, fill="black", anchor="lm")
    img.save(path, format="PNG")


def scatter_png(
    true: list[float], predicted: list[float], title: str, path: Path, size: tuple[int, int] = (360, 340)
) -> None:
    """Predicted against true values (one point each) with the y = x line: a regression target's fit."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    values = list(true) + list(predicted)
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 0.5
    lo, hi = lo - pad, hi + pad
    box = (58, 30, size[0] - 14, size[1] - 40)
    at = axes(draw, size, box, (lo, hi, lo, hi), title, _font(13), "true value (vertical: predicted)", _font(11))
    draw.line((*at(lo, lo), *at(hi, hi)), fill=(150, 150, 150), width=1)
    for t, p in zip(true, predicted):
        px, py = at(t, p)
        draw.ellipse((px - 2, py - 2, px + 2, py + 2), outline=_BLUE)
    img.save(path, format="PNG")


def scatters_png(targets: dict[str, tuple[list[float], list[float]]], title: str, path: Path) -> None:
    """One predicted-vs-true scatter plot per target, side by side, under ``title``."""
    import tempfile

    from PIL import Image, ImageDraw

    with tempfile.TemporaryDirectory() as tmp:
        panels = []
        for i, (name, (true, predicted)) in enumerate(targets.items()):
            scatter_png(true, predicted, name, Path(tmp) / f"{i}.png")
            panels.append(Image.open(Path(tmp) / f"{i}.png").copy())
    width, height = sum(p.width for p in panels), max(p.height for p in panels) + 24
    img = Image.new("RGB", (max(width, 200), height), "white")
    ImageDraw.Draw(img).text((8, 6), title, fill="black", font=_font(13))
    x = 0
    for panel in panels:
        img.paste(panel, (x, 24))
        x += panel.width
    img.save(path, format="PNG")
