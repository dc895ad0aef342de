"""Charts as inline SVG, drawn on the server: the reports page shows them without script.

Pure functions from labels and numbers to markup. Every piece of text (titles,
labels, series names, tooltips) is escaped as the markup is built
(`Markup.format`), so the result is safe to insert as it is. Only presentation
attributes (fill=, stroke=, font-size=) style the drawing: the page's CSP allows
no style attributes nor style elements. The drawing scales by its viewBox; each
chart has role="img", an aria-label and a <title> per bar or point (the tooltip).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 480
HEIGHT = 270
LEFT, RIGHT, TOP, BOTTOM = 50, 12, 36, 46  # margins around the plot
MAX_TICKS = 6  # x labels shown at most; the others are in the tooltips
TEXT = "#5b6673"
GRID = "#d8dee6"
AXIS = "#1d232b"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
HBAR_LEFT = 130  # room for the row labels of a horizontal bar chart
HBAR_BAR = 14
HBAR_GAP = 10
LABEL_CHARS = 16  # longer row labels are clipped (the tooltip has them whole)


@dataclass(frozen=True)
class Series:
    """One named row of values (None: no value there), drawn in `colour` (#rrggbb)."""

    name: str
    values: Sequence[float | None]
    colour: str


@dataclass(frozen=True)
class _Plot:
    """Where the plot area lies in the drawing."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


def _n(value: float) -> str:
    """A coordinate: one decimal, no trailing zeros."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def number(value: float) -> str:
    """A value as shown: whole numbers without decimals."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def percent(fraction: float) -> str:
    return f"{round(fraction * 100, 1):g}%"


def _clip(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(title: str, height: float, body: Sequence[Markup]) -> Markup:
    head = Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" role="img" '
        'aria-label="{}" font-family="{}" font-size="13"><title>{}</title>'
    ).format(WIDTH, _n(height), title, FONT, title)
    return head + Markup("").join(body) + Markup("</svg>")


def _empty(title: str) -> Markup:
    return _svg(
        title,
        HEIGHT / 2,
        [
            Markup('<text x="{}" y="{}" text-anchor="middle" fill="{}">{}</text>').format(
                WIDTH // 2, _n(HEIGHT / 4), TEXT, "No data for this period"
            )
        ],
    )


def _has_data(labels: Sequence[str], series: Sequence[Series]) -> bool:
    return bool(labels) and any(v is not None for s in series for v in s.values)


def _scale(top: float) -> tuple[float, float]:
    """A round maximum for the y axis at or above `top`, and its tick step (whole
    numbers: these are counts)."""
    if top <= 0:
        return 1.0, 1.0
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(step, 1.0)
    return step * math.ceil(top / step), step


def _legend(series: Sequence[Series], x: float, y: float) -> list[Markup]:
    """Swatches and names in a row from (x, y), right-aligned at x."""
    parts = []
    for item in reversed(series):
        width = 8 * len(item.name) + 24
        x -= width
        parts.append(
            Markup(
                '<rect x="{}" y="{}" width="12" height="12" fill="{}"/>'
                '<text x="{}" y="{}" fill="{}">{}</text>'
            ).format(_n(x), _n(y - 10), item.colour, _n(x + 16), _n(y), AXIS, item.name)
        )
    return parts


def _y_axis(plot: _Plot, maximum: float, step: float, title: str) -> list[Markup]:
    parts = []
    ticks = int(round(maximum / step))
    for k in range(ticks + 1):
        value = k * step
        y = plot.bottom - plot.height * value / maximum
        parts.append(
            Markup(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
                '<text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>'
            ).format(
                plot.left,
                _n(y),
                plot.right,
                _n(y),
                GRID,
                plot.left - 6,
                _n(y + 4),
                TEXT,
                number(value),
            )
        )
    middle = (plot.top + plot.bottom) / 2
    parts.append(
        Markup(
            '<text x="12" y="{}" transform="rotate(-90 12 {})" text-anchor="middle" '
            'fill="{}">{}</text>'
        ).format(_n(middle), _n(middle), TEXT, title)
    )
    return parts


def _x_axis(plot: _Plot, ticks: Sequence[str], title: str) -> list[Markup]:
    """The baseline, every n-th label under the middle of its slot, the axis title."""
    slot = plot.width / len(ticks)
    every = math.ceil(len(ticks) / MAX_TICKS)
    parts = [
        Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>').format(
            plot.left, plot.bottom, plot.right, plot.bottom, AXIS
        )
    ]
    for i in range(0, len(ticks), every):
        parts.append(
            Markup('<text x="{}" y="{}" text-anchor="middle" fill="{}">{}</text>').format(
                _n(plot.left + slot * (i + 0.5)), plot.bottom + 16, TEXT, ticks[i]
            )
        )
    parts.append(
        Markup('<text x="{}" y="{}" text-anchor="middle" fill="{}">{}</text>').format(
            _n((plot.left + plot.right) / 2), HEIGHT - 8, TEXT, title
        )
    )
    return parts


def _frame(
    labels: Sequence[str],
    series: Sequence[Series],
    ticks: Sequence[str] | None,
    axes: tuple[str, str],
) -> tuple[_Plot, float, list[Markup]]:
    """The plot area, the y maximum, and axes and legend of a chart over `labels`."""
    plot = _Plot(LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM)
    top = max((v for s in series for v in s.values if v is not None), default=0.0)
    maximum, step = _scale(top)
    parts = [
        *_y_axis(plot, maximum, step, axes[1]),
        *_x_axis(plot, ticks if ticks is not None else labels, axes[0]),
        *_legend(series, plot.right, 20),
    ]
    return plot, maximum, parts


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    ticks: Sequence[str] | None = None,
    axes: tuple[str, str] = ("Day", "Tickets"),
) -> Markup:
    """Vertical bars, the series side by side for each label (e.g. created and resolved
    per day). `labels` name the groups in tooltips, `ticks` (default: the labels) under
    the axis; `axes`: the x and y axis titles."""
    if not _has_data(labels, series):
        return _empty(title)
    plot, maximum, parts = _frame(labels, series, ticks, axes)
    slot = plot.width / len(labels)
    bar = slot * 0.8 / len(series)
    for i, label in enumerate(labels):
        for k, item in enumerate(series):
            value = item.values[i]
            if value is None:
                continue
            height = plot.height * value / maximum
            parts.append(
                Markup(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {} {}</title></rect>"
                ).format(
                    _n(plot.left + slot * (i + 0.1) + bar * k),
                    _n(plot.bottom - height),
                    _n(bar),
                    _n(height),
                    item.colour,
                    label,
                    number(value),
                    item.name,
                )
            )
    return _svg(title, HEIGHT, parts)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    ticks: Sequence[str] | None = None,
    axes: tuple[str, str] = ("Day", "Tickets"),
) -> Markup:
    """A line per series through its values (a gap where a value is None), a dot with a
    tooltip at each value; arguments as for `bar_chart`."""
    if not _has_data(labels, series):
        return _empty(title)
    plot, maximum, parts = _frame(labels, series, ticks, axes)
    slot = plot.width / len(labels)
    for item in series:
        points: list[tuple[float, float]] = []
        dots = []
        for i, (label, value) in enumerate(zip(labels, item.values, strict=True)):
            if value is None:
                parts.append(_polyline(points, item.colour))
                points = []
                continue
            x, y = plot.left + slot * (i + 0.5), plot.bottom - plot.height * value / maximum
            points.append((x, y))
            dots.append(
                Markup(
                    '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{}: {} {}</title></circle>'
                ).format(_n(x), _n(y), item.colour, label, number(value), item.name)
            )
        parts.append(_polyline(points, item.colour))
        parts.extend(dots)
    return _svg(title, HEIGHT, parts)


def _polyline(points: Sequence[tuple[float, float]], colour: str) -> Markup:
    if len(points) < 2:
        return Markup("")
    coordinates = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
    return Markup(
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round"/>'
    ).format(coordinates, colour)


def hbar_chart(title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Horizontal bars of shares (0 to 1) on a 0-100% axis: a row per label, a bar per
    series in it (e.g. first-response and resolution compliance per priority); "n/a"
    where a value is None."""
    if not _has_data(labels, series):
        return _empty(title)
    row = HBAR_BAR * len(series) + HBAR_GAP
    plot = _Plot(HBAR_LEFT, TOP, WIDTH - RIGHT - 40, TOP + row * len(labels))
    height = plot.bottom + 28
    parts = _legend(series, WIDTH - RIGHT, 20)
    for quarter in range(5):
        x = plot.left + plot.width * quarter / 4
        parts.append(
            Markup(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
                '<text x="{}" y="{}" text-anchor="middle" fill="{}">{}%</text>'
            ).format(
                _n(x),
                plot.top,
                _n(x),
                plot.bottom,
                GRID if quarter else AXIS,
                _n(x),
                plot.bottom + 16,
                TEXT,
                quarter * 25,
            )
        )
    for i, label in enumerate(labels):
        y = plot.top + row * i + HBAR_GAP / 2
        parts.append(
            Markup(
                '<text x="{}" y="{}" text-anchor="end" fill="{}">{}<title>{}</title></text>'
            ).format(plot.left - 8, _n(y + row / 2 - 2), AXIS, _clip(label), label)
        )
        for k, item in enumerate(series):
            parts.append(_hbar(plot, y + HBAR_BAR * k, label, item, item.values[i]))
    return _svg(title, height, parts)


def _hbar(plot: _Plot, y: float, label: str, item: Series, value: float | None) -> Markup:
    if value is None:
        return Markup(
            '<text x="{}" y="{}" fill="{}">n/a<title>{}: {}, nothing measured</title></text>'
        ).format(plot.left + 4, _n(y + 11), TEXT, label, item.name)
    width = plot.width * min(max(value, 0.0), 1.0)
    return Markup(
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>'
        '<text x="{}" y="{}" fill="{}">{}</text>'
    ).format(
        plot.left,
        _n(y),
        _n(width),
        HBAR_BAR - 2,
        item.colour,
        label,
        item.name,
        percent(value),
        _n(plot.left + width + 4),
        _n(y + 11),
        TEXT,
        percent(value),
    )
