"""charts: the SVG is well-formed, escapes every text, scales, and copes with little data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from markupsafe import Markup

from maildesk.web.charts import (
    HEIGHT,
    MAX_TICKS,
    Series,
    bar_chart,
    hbar_chart,
    line_chart,
)

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script> & \"quoted\""


def parse(svg: Markup) -> ET.Element:
    assert isinstance(svg, Markup)
    root = ET.fromstring(str(svg))
    assert root.tag == f"{NS}svg" and root.get("role") == "img"
    assert root.get("viewBox", "").startswith("0 0 ") and root.get("width") is None
    for element in root.iter():
        assert "style" not in element.attrib and element.tag != f"{NS}style"
    return root


def tips(root: ET.Element, shape: str) -> list[str]:
    return [
        "".join(title.itertext())
        for element in root.iter(f"{NS}{shape}")
        for title in element.findall(f"{NS}title")
    ]


def texts(root: ET.Element) -> list[str]:
    """What the <text> elements show (not their tooltips)."""
    return [t.text or "" for t in root.iter(f"{NS}text")]


def days(n: int) -> list[str]:
    return [f"2026-03-{d:02d}" for d in range(1, n + 1)]


def test_bar_chart() -> None:
    root = parse(
        bar_chart(
            "Created and resolved",
            days(3),
            [Series("created", [1, 4, 0], "#1f5fbf"), Series("resolved", [2, None, 3], "#1a7f37")],
            ticks=["1 Mar", "2 Mar", "3 Mar"],
        )
    )
    assert root.get("aria-label") == "Created and resolved"
    assert root.find(f"{NS}title").text == "Created and resolved"
    assert tips(root, "rect") == [
        "2026-03-01: 1 created",
        "2026-03-01: 2 resolved",
        "2026-03-02: 4 created",
        "2026-03-03: 0 created",
        "2026-03-03: 3 resolved",
    ]
    shown = texts(root)
    assert {"1 Mar", "2 Mar", "3 Mar", "created", "resolved", "Day", "Tickets"} <= set(shown)
    assert {"0", "1", "2", "3", "4"} <= set(shown)  # the y axis, 0 to 4 by 1
    bars = {
        "".join(r.find(f"{NS}title").itertext()): float(r.get("height"))
        for r in root.iter(f"{NS}rect")
        if r.find(f"{NS}title") is not None
    }
    assert bars["2026-03-02: 4 created"] == pytest.approx(4 * bars["2026-03-01: 1 created"])
    assert bars["2026-03-03: 0 created"] == 0


def test_a_long_period_labels_some_days_only() -> None:
    labels = [f"day {n}" for n in range(366)]
    root = parse(
        bar_chart("Year", labels, [Series("created", [n % 7 for n in range(366)], "#000")])
    )
    assert len(tips(root, "rect")) == 366
    assert len([t for t in texts(root) if t.startswith("day ")]) <= MAX_TICKS


def test_line_chart_with_a_gap() -> None:
    root = parse(line_chart("Backlog", days(5), [Series("open", [3, 5, None, 2, 2], "#9a6700")]))
    assert tips(root, "circle") == [
        "2026-03-01: 3 open",
        "2026-03-02: 5 open",
        "2026-03-04: 2 open",
        "2026-03-05: 2 open",
    ]
    lines = [p.get("points").split() for p in root.iter(f"{NS}polyline")]
    assert [len(points) for points in lines] == [2, 2]


def test_a_single_day() -> None:
    bar = parse(bar_chart("One", ["2026-03-01"], [Series("created", [7], "#000")]))
    assert tips(bar, "rect") == ["2026-03-01: 7 created"]
    line = parse(line_chart("One", ["2026-03-01"], [Series("open", [7], "#000")]))
    assert tips(line, "circle") == ["2026-03-01: 7 open"]
    assert not list(line.iter(f"{NS}polyline"))  # one point: a dot, no line


@pytest.mark.parametrize("chart", [bar_chart, line_chart, hbar_chart])
def test_empty_data(chart: Callable[..., Markup]) -> None:
    for labels, series in (([], []), (["a", "b"], [Series("s", [None, None], "#000")])):
        root = parse(chart("Nothing", labels, series))
        assert texts(root) == ["No data for this period"]
        assert float(root.get("viewBox").split()[3]) < HEIGHT


def test_compliance_bars() -> None:
    root = parse(
        hbar_chart(
            "Compliance by priority",
            ["urgent", "low"],
            [Series("first response", [0.5, None], "#1"), Series("resolution", [1.2, 0], "#2")],
        )
    )
    assert tips(root, "rect") == [
        "urgent: first response 50%",
        "urgent: resolution 120%",
        "low: resolution 0%",
    ]
    rects = [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    widths = [float(r.get("width", "")) for r in rects]
    assert widths[1] == pytest.approx(2 * widths[0]) and widths[2] == 0  # 120% drawn full
    assert "n/a" in texts(root) and "100%" in texts(root)


def test_every_text_is_escaped() -> None:
    series = [Series(HOSTILE, [1, 0.5], "#000")]
    for svg in (
        bar_chart(HOSTILE, [HOSTILE, "b"], series, ticks=[HOSTILE, "b"], axes=(HOSTILE, HOSTILE)),
        line_chart(HOSTILE, [HOSTILE, "b"], series),
        hbar_chart(HOSTILE, [HOSTILE, "b"], series),
    ):
        assert "<script" not in svg and '"quoted"' not in svg
        root = parse(svg)
        assert root.get("aria-label") == HOSTILE
        assert not [e for e in root.iter() if "script" in e.tag]
        everything = "".join(root.itertext())
        assert HOSTILE in everything  # shown as text, whole in the tooltips
