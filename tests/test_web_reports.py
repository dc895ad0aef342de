"""The reports page and its CSV exports, through the real app (SQLite and PostgreSQL).

Three tickets with explicit UTC times, reported in Europe/Berlin with a 24/7 SLA
calendar; the clock stands at 2026-03-31 14:00 local time, so the default period
is 2026-03-02 to 2026-03-31. Texts that are hostile in a page (a category, a
comment) or in a spreadsheet (a subject, a comment) test the escaping.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.store.models import Agent, Contact, Satisfaction, Ticket
from maildesk.tickets.agents import hash_password
from maildesk.web.pages import reports as web_reports
from tests.web_support import PASSWORD, Site, site

NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
EXTRA = '[sla]\ntimezone = "Europe/Berlin"\nbusiness_hours = ["24/7"]\n'
PERIOD = "since=2026-03-27&until=2026-03-30"
CATEGORY = '<script>alert("category")</script>'
COMMENT = "@SUM(1+1) <img src=x onerror=alert(1)>"
SUBJECT = '=HYPERLINK("http://evil.test","click")'
SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
TABLES = ("daily", "priority", "category", "agents", "satisfaction")
AGENTS = (
    ("ann@example.com", "Ann", "agent"),
    ("mia@example.com", "Mia", "manager"),
    ("ada@example.com", "Ada", "admin"),
)


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)  # once: argon2 is slow on purpose


@pytest.fixture
def web(tmp_path: Path, database_url: str, password_hash: str) -> Iterator[Site]:
    with site(tmp_path, database_url, extra=EXTRA, clock=lambda: NOW) as running:
        for email, name, role in AGENTS:
            Agent.create(
                email=email, name=name, role=role, password_hash=password_hash, created_at=NOW
            )
        populate()
        yield running


def populate() -> None:
    """1: high, hostile category and subject, Ann's, answered in 1 h (due 2 h), resolved
    in a day, rated 4 with a hostile comment; 2: low, no category, open; 3: merged."""
    ann = Agent.get(Agent.email == "ann@example.com")
    customer = Contact.create(email="c@customer.test", name="C", created_at=at(1, 0))
    common = {"requester": customer, "status": "open", "priority": "low", "updated_at": NOW}
    one = Ticket.create(
        **common | {"status": "resolved", "priority": "high"},
        number=1, seq=1, subject=SUBJECT, category=CATEGORY, assignee=ann, created_at=at(27, 9),
        first_response_at=at(27, 10), first_response_due=at(27, 11), resolved_at=at(28, 9),
    )  # fmt: skip
    Satisfaction.create(
        ticket=one, score=4, comment=COMMENT, created_at=at(28, 10), updated_at=at(28, 10)
    )
    Ticket.create(**common, number=2, seq=2, subject="Printer", created_at=at(29, 10))
    Ticket.create(**common, number=3, seq=3, subject="Dup", created_at=at(29, 11), merged_into=one)


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_reports_need_a_session_and_a_report_role(web: Site) -> None:
    for path in ("/reports", "/reports/daily.csv", "/tickets.csv"):
        response = web.client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"
    web.sign_in("ann@example.com")
    for path in ("/reports", "/reports/daily.csv", "/tickets.csv", "/reports/nope.csv"):
        assert web.client.get(path).status_code == 403, path
    for email in ("mia@example.com", "ada@example.com"):
        web.client.cookies.clear()
        assert web.sign_in(email).status_code == 303
        page = web.client.get("/reports")
        assert page.status_code == 200, email
        assert 'href="/reports" aria-current="page"' in page.text


def test_the_page_shows_charts_and_figures(web: Site) -> None:
    web.sign_in("mia@example.com")
    default = web.client.get("/reports").text
    assert 'name="since" value="2026-03-02"' in default
    assert 'name="until" value="2026-03-31"' in default
    assert '<a href="/reports?since=2026-03-25&amp;until=2026-03-31">Last 7 days</a>' in default

    page = web.client.get(f"/reports?{PERIOD}").text
    charts = SVG.findall(page)
    assert len(charts) == 4
    for svg in charts:
        root = ET.fromstring(svg)  # well-formed
        assert root.get("role") == "img" and root.get("aria-label")
    daily = ET.fromstring(charts[0])
    tips = [t.text for t in daily.iter("{http://www.w3.org/2000/svg}title")]
    assert "2026-03-27: 1 created" in tips and "2026-03-28: 1 resolved" in tips
    assert "style=" not in page and "<style" not in page  # the CSP allows neither
    assert "Tickets created from 2026-03-27 to 2026-03-30 (days in Europe/Berlin)" in page

    times = table(page, "times")
    assert "<td>First response</td>" in times and times.count('<td class="num">1 h</td>') == 3
    assert '<td class="num">1 d</td>' in times  # resolution: average, median, p90
    assert "<td>high</td>" in table(page, "priority")
    assert '100% <span class="muted">(1/1)</span>' in table(page, "priority")
    agents = table(page, "agents")
    assert "ann@example.com" in agents and '4.00 <span class="muted">(1)</span>' in agents
    assert "ada@example.com" in agents  # admins work tickets; Mia, a manager, does not
    assert "mia@example.com" not in agents
    assert "4.00 out of 5" in page
    assert '<a href="/reports/agents.csv?since=2026-03-27&amp;until=2026-03-30"' in page
    assert '<a href="/tickets.csv?since=2026-03-27&amp;until=2026-03-30"' in page


def table(page: str, name: str) -> str:
    found = re.search(rf'<table id="{name}">.*?</table>', page, re.DOTALL)
    assert found, name
    return found.group(0)


def test_customer_and_category_text_is_escaped(web: Site) -> None:
    web.sign_in("ada@example.com")
    page = web.client.get(f"/reports?{PERIOD}").text
    assert "<script>alert(" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;category&#34;)&lt;/script&gt;" in table(page, "category")
    assert "@SUM(1+1) &lt;img src=x onerror=alert(1)&gt;" in page
    chart = ET.fromstring(SVG.findall(page)[3])  # compliance by category
    assert CATEGORY in "".join(chart.itertext())  # text again once parsed, never markup
    assert not [e for e in chart.iter() if e.tag.endswith("script")]


BAD_PERIODS = [
    ("since=2026-13-01", "&#39;since&#39;: 2026-13-01 is not a date of the calendar."),
    ("since=yesterday", "&#39;since&#39; must be a date written YYYY-MM-DD."),
    ("until=" + "9" * 5000, "&#39;until&#39; must be a date written YYYY-MM-DD."),
    ("since=2026-03-10&until=2026-03-09", "The start (2026-03-10) is after the end (2026-03-09)."),
    ("since=2025-01-01&until=2026-01-02", "at most 366 days; this one spans 367."),
    ("since=0001-01-01&until=0001-01-02", "must lie between 1970-01-01 and 9999-12-30"),
]


def test_periods_are_checked(web: Site) -> None:
    web.sign_in("mia@example.com")
    for query, message in BAD_PERIODS:
        page = web.client.get(f"/reports?{query}")
        assert page.status_code == 400 and message in page.text, query
        assert '<p class="error" role="alert">' in page.text and "<svg" not in page.text
        for path in ("/reports/daily.csv", "/tickets.csv"):
            refused = web.client.get(f"{path}?{query}")
            assert refused.status_code == 400 and message in refused.text, (path, query)
    year = "since=2025-04-01&until=2026-03-31"  # 365 days; 366 with a leap day
    assert web.client.get(f"/reports?{year}").status_code == 200
    daily = rows(web.client.get(f"/reports/daily.csv?{year}").text)
    assert len(daily) == 1 + 365 and daily[-1] == ["2026-03-31", "0", "0", "1"]
    leap = web.client.get("/reports/daily.csv?since=2024-01-01&until=2024-12-31")
    assert leap.status_code == 200 and len(rows(leap.text)) == 1 + 366


def test_table_exports(web: Site) -> None:
    web.sign_in("mia@example.com")
    got = {}
    for name in TABLES:
        response = web.client.get(f"/reports/{name}.csv?{PERIOD}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == (
            f'attachment; filename="maildesk-{name}-2026-03-27-2026-03-30.csv"'
        )
        got[name] = rows(response.text)
    assert got["daily"] == [
        ["day", "created", "resolved", "open_at_end"],
        ["2026-03-27", "1", "0", "1"],
        ["2026-03-28", "0", "1", "0"],
        ["2026-03-29", "1", "0", "1"],  # 3 is merged
        ["2026-03-30", "0", "0", "1"],
    ]
    priority = {row[0]: row for row in got["priority"][1:]}
    assert list(priority) == ["urgent", "high", "medium", "low"]
    header = got["priority"][0]
    high = dict(zip(header, priority["high"], strict=True))
    assert high["created"] == "1" and high["first_response_compliance"] == "1.0"
    assert high["first_response_p90_s"] == "3600" and high["resolution_median_s"] == "86400"
    assert [row[0] for row in got["category"][1:]] == [CATEGORY, "(none)"]
    agents = {row[0]: dict(zip(got["agents"][0], row, strict=True)) for row in got["agents"][1:]}
    assert agents["ann@example.com"]["satisfaction_average"] == "4.0"
    assert agents["ann@example.com"]["first_response_median_s"] == "3600"
    assert agents["ada@example.com"]["ratings"] == "0"
    assert got["satisfaction"] == [
        ["ticket", "rated_at", "score", "assignee", "comment"],
        ["SUP-00001", "2026-03-28T10:00:00+00:00", "4", "ann@example.com", "'" + COMMENT],
    ]
    assert web.client.get(f"/reports/nope.csv?{PERIOD}").status_code == 404


def test_tickets_export_streams_every_ticket_once(
    web: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_reports, "CHUNK", 1)  # a database call per row
    Ticket.create(  # created when 2 was
        requester=Contact.get(Contact.email == "c@customer.test"),
        status="new",
        priority="low",
        number=4,
        seq=4,
        subject="-2+3",
        category="@cat",
        created_at=at(29, 10),
        updated_at=NOW,
    )
    web.sign_in("mia@example.com")
    response = web.client.get(f"/tickets.csv?{PERIOD}")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="maildesk-tickets-2026-03-27-2026-03-30.csv"'
    )
    got = rows(response.text)
    assert got[0] == [
        "number", "subject", "status", "priority", "category", "requester", "assignee",
        "created_at", "first_response_at", "resolved_at", "sla_breached",
    ]  # fmt: skip
    assert got[1] == [
        "SUP-00001", "'" + SUBJECT, "resolved", "high", CATEGORY, "c@customer.test",
        "ann@example.com", "2026-03-27T09:00:00+00:00", "2026-03-27T10:00:00+00:00",
        "2026-03-28T09:00:00+00:00", "no",
    ]  # fmt: skip
    assert [row[0] for row in got[2:]] == ["SUP-00002", "SUP-00004"]
    assert got[3][1:5] == ["'-2+3", "new", "low", "'@cat"]
    empty = rows(web.client.get("/tickets.csv?since=2025-01-01&until=2025-01-31").text)
    assert empty == [got[0]]


def test_cells_that_look_like_formulas_are_quoted() -> None:
    cells = ["=1+1", "+1", "-1", "@x", "\tx", "\rx", "plain", "a=b", None, True, 3]
    assert [web_reports.cell(c) for c in cells] == [
        "'=1+1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "plain", "a=b", "", "yes", "3",
    ]  # fmt: skip
