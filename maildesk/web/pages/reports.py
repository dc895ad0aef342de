"""The reports page and its CSV exports, for managers and admins.

GET /reports?since=YYYY-MM-DD&until=YYYY-MM-DD shows a period of local days
(both included; default the last 30; the SLA calendar's time zone): charts of
tickets created and resolved per day, the backlog, SLA compliance by priority
and category, and tables of times, categories, agents, time spent (`#time`, per agent and per
category, as `maildesk report time`) and satisfaction, then the
knowledge base (per article, and the gaps, as `maildesk report kb`). The
figures come from `maildesk.queries.analytics` and `queries.kb_report`, run in the
web's database threads; times are business time on the SLA calendar, as in
`maildesk report sla`.

GET /reports/{table}.csv exports one table of the page for the same period
(daily, priority, category, agents, time_agents and time_categories: the time
spent, satisfaction: one row per rating); GET
/tickets.csv the tickets created in it, one row each. The long ones are
streamed a chunk of rows at a time. Every cell that a spreadsheet would take
for a formula (starting with = + - @, a tab or a carriage return) gets a
leading single quote.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import zoneinfo
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from maildesk.core.vocabulary import REPORT_ROLES
from maildesk.queries import analytics, kb_report, sla_report, time_report
from maildesk.queries.analytics import Key, Period
from maildesk.settings.desks import Desks, Scope
from maildesk.store.models import Agent
from maildesk.tickets import time_spent
from maildesk.web.charts import Series, bar_chart, hbar_chart, line_chart
from maildesk.web.context import Web, require, web_of

MAX_DAYS = 366
KB_ARTICLES = 50  # the busiest articles the page lists; `maildesk report kb` lists all
DEFAULT_DAYS = 30
PRESETS = (7, 30, 90)
EARLIEST = dt.date(1970, 1, 1)
LATEST = dt.date(9999, 12, 30)  # the day after must exist
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
CHUNK = 500  # rows per database call in a streamed export
CSV_TYPE = "text/csv; charset=utf-8"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CREATED, RESOLVED, BACKLOG = "#1f5fbf", "#1a7f37", "#9a6700"
FIRST_RESPONSE, RESOLUTION = "#1f5fbf", "#1a7f37"

Row = Sequence[Any]


class PeriodError(ValueError):
    """A period the page cannot show; the message says why, for the user."""


# --------------------------------------------------------------------------
# The period
# --------------------------------------------------------------------------


def parse_period(since: str, until: str, today: dt.date, zone: dt.tzinfo) -> Period:
    """The period of the form's `since` and `until` (YYYY-MM-DD, both included); an
    empty `until` is today, an empty `since` makes it 30 days."""
    last = _date(until, "until") if until else today
    first = _date(since, "since") if since else last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise PeriodError(f"The start ({first}) is after the end ({last}).")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise PeriodError(f"A period may span at most {MAX_DAYS} days; this one spans {days}.")
    return Period(first, last, zone)


def _date(text: str, name: str) -> dt.date:
    if not DATE.fullmatch(text):
        raise PeriodError(f"'{name}' must be a date written YYYY-MM-DD.")
    try:
        value = dt.date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"'{name}': {text} is not a date of the calendar.") from None
    if not EARLIEST <= value <= LATEST:
        raise PeriodError(f"'{name}' must lie between {EARLIEST} and {LATEST}.")
    return value


def presets(today: dt.date) -> list[tuple[str, str]]:
    """(text, query string) of the preset periods, each ending today."""
    return [
        (f"Last {days} days", f"since={today - dt.timedelta(days=days - 1)}&until={today}")
        for days in PRESETS
    ]


# --------------------------------------------------------------------------
# What the page shows
# --------------------------------------------------------------------------


def human(seconds: float | None) -> str:
    """A duration for a table cell: `1 h 12 min`, or a dash when there is none."""
    return "—" if seconds is None else sla_report.human_duration(seconds)


def share(fraction: float | None) -> str:
    return "—" if fraction is None else sla_report.percent(fraction)


def average(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def charts(found: analytics.Overview) -> dict[str, Markup]:
    """The page's four charts, by name."""
    days = [day.day.isoformat() for day in found.days]
    ticks = [f"{day.day.day} {day.day:%b}" for day in found.days]
    report = found.report
    return {
        "daily": bar_chart(
            "Tickets created and resolved per day",
            days,
            [
                Series("created", [day.created for day in found.days], CREATED),
                Series("resolved", [day.resolved for day in found.days], RESOLVED),
            ],
            ticks,
        ),
        "backlog": line_chart(
            "Open tickets at the end of each day",
            days,
            [Series("open", [day.backlog for day in found.days], BACKLOG)],
            ticks,
        ),
        "priority": _compliance("SLA compliance by priority", report["by_priority"]),
        "category": _compliance("SLA compliance by category", report["by_category"]),
    }


def _compliance(title: str, sections: dict[str, Any]) -> Markup:
    names = list(sections)
    return hbar_chart(
        title,
        names,
        [
            Series(
                "first response",
                [sections[n]["first_response"]["compliance"] for n in names],
                FIRST_RESPONSE,
            ),
            Series(
                "resolution",
                [sections[n]["resolution"]["compliance"] for n in names],
                RESOLUTION,
            ),
        ],
    )


# --------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------


def cell(value: Any) -> str:
    """One CSV cell: text that a spreadsheet would run as a formula gets a quote first."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(rows: Iterable[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


def _fraction(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


STAT_COLUMNS = ("measured", "met", "compliance", "average_s", "median_s", "p90_s")


def _stat_cells(stat: dict[str, Any]) -> list[Any]:
    return [
        stat["measured"],
        stat["met"],
        _fraction(stat["compliance"]),
        _seconds(stat["average_seconds"]),
        _seconds(stat["median_seconds"]),
        _seconds(stat["p90_seconds"]),
    ]


def _targets_header(counted: Sequence[str] = sla_report.TARGETS) -> list[str]:
    return [f"{target}_{column}" for target in counted for column in STAT_COLUMNS]


@dataclass(frozen=True)
class Export:
    """What a table export reads: the period and how to measure it."""

    period: Period
    now: dt.datetime
    duration: sla_report.Duration
    priorities: Sequence[str]
    next_response: bool = False  # some priority has a next-response target

    def sla(self) -> dict[str, Any]:
        return analytics.sla(
            self.period, self.now, self.duration, self.priorities, self.next_response
        )


def daily_table(export: Export) -> list[Row]:
    days = analytics.daily(export.period)
    return [("day", "created", "resolved", "open_at_end")] + [
        (day.day.isoformat(), day.created, day.resolved, day.backlog) for day in days
    ]


def _sections_table(name: str, sections: dict[str, Any], next_response: bool) -> list[Row]:
    counted = sla_report.targets(next_response)
    header = [name, "created", "resolved", *_targets_header(counted)]
    return [header] + [
        [key, s["created"], s["resolved"], *(c for t in counted for c in _stat_cells(s[t]))]
        for key, s in sections.items()
    ]


def priority_table(export: Export) -> list[Row]:
    return _sections_table("priority", export.sla()["by_priority"], export.next_response)


def category_table(export: Export) -> list[Row]:
    return _sections_table("category", export.sla()["by_category"], export.next_response)


def agents_table(export: Export) -> list[Row]:
    rows = analytics.agent_rows(export.sla(), analytics.agent_scores(export.period))
    header = ["email", "name", "assigned", "resolved", "open_now", *_targets_header()]
    return [[*header, "ratings", "satisfaction_average"]] + [
        [
            row.email,
            row.name,
            row.assigned,
            row.resolved,
            row.open,
            *_stat_cells(row.first_response),
            *_stat_cells(row.resolution),
            row.rated,
            None if row.satisfaction is None else round(row.satisfaction, 2),
        ]
        for row in rows
    ]


def _time_report(period: Period) -> time_report.TimeReport:
    return time_report.time_report(period.since, period.until, period.scope)


def time_agents_table(export: Export) -> list[Row]:
    found = _time_report(export.period)
    return [("email", "name", "minutes", "entries", "tickets")] + [
        (s.key, s.name, s.minutes, s.entries, s.tickets) for s in found.by_agent
    ]


def time_categories_table(export: Export) -> list[Row]:
    found = _time_report(export.period)
    return [("category", "minutes", "entries", "tickets")] + [
        (s.key, s.minutes, s.entries, s.tickets) for s in found.by_category
    ]


TABLES: dict[str, Callable[[Export], list[Row]]] = {
    "daily": daily_table,
    "priority": priority_table,
    "category": category_table,
    "agents": agents_table,
    "time_agents": time_agents_table,
    "time_categories": time_categories_table,
}


@dataclass(frozen=True)
class Stream:
    """A long export: its header, a chunk reader (period, desks, after, limit) ->
    (rows, key to go on from), and the cells of a row; `fields`: the custom fields,
    one column each after the header's."""

    header: Row
    fetch: Callable[[Period, Desks, Key | None, int], tuple[list[Any], Key | None]]
    cells: Callable[[Any, Sequence[str]], Row]
    fields: bool = False


def _ticket_cells(row: analytics.TicketRow, extra: Sequence[str]) -> Row:
    """`extra`: the columns after the fixed ones: `desk` (with several desks), then each
    custom field's (its values joined by commas)."""
    return (
        row.label, row.subject, row.status, row.priority, row.category, row.requester,
        row.assignee, row.created_at, row.first_response_at, row.resolved_at, row.sla_breached,
        *(row.desk if name == "desk" else ",".join(row.fields.get(name, ())) for name in extra),
    )  # fmt: skip


def _rating_cells(row: analytics.RatingRow, fields: Sequence[str]) -> Row:
    return (row.label, row.rated_at, row.score, row.assignee, row.comment)


TICKETS = Stream(
    (
        "number",
        "subject",
        "status",
        "priority",
        "category",
        "requester",
        "assignee",
        "created_at",
        "first_response_at",
        "resolved_at",
        "sla_breached",
    ),
    analytics.ticket_rows,
    _ticket_cells,
    fields=True,
)
STREAMS = {
    "satisfaction": Stream(
        ("ticket", "rated_at", "score", "assignee", "comment"),
        analytics.rating_rows,
        _rating_cells,
    )
}
NAMES = (*TABLES, *STREAMS)


def _csv_response(body: str | AsyncIterator[str], name: str, period: Period) -> Response:
    """A download: the text at once, or streamed as it comes."""
    filename = f"maildesk-{name}-{period.first}-{period.last}.csv"
    headers = {"content-disposition": f'attachment; filename="{filename}"'}
    if isinstance(body, str):
        return Response(body, media_type=CSV_TYPE, headers=headers)
    return StreamingResponse(body, media_type=CSV_TYPE, headers=headers)


# --------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------


def _zone(web: Web) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(web.config.sla.timezone or "UTC")


def _today(web: Web) -> dt.date:
    return web.clock().astimezone(_zone(web)).date()


def _export(web: Web, period: Period) -> Export:
    duration = web.desk.sla.clock_seconds
    return Export(
        period,
        web.clock(),
        duration,
        web.config.tickets.priorities,
        web.desk.policies.next_response,
    )


def _period_of(web: Web, request: Request, scope: Scope | None = None) -> Period:
    """The request's period (of the desks of `scope`), else 400 with the reason."""
    try:
        period = _requested(request, _today(web), _zone(web))
    except PeriodError as exc:
        raise HTTPException(400, str(exc)) from None
    return dataclasses.replace(period, scope=scope)


async def _scope_of(web: Web, request: Request, agent: Agent) -> Scope | None:
    """The tickets the report covers: those the viewer sees (`Web.scope_of`: their
    desks and categories; an admin: every ticket), of the one desk `?desk=` names
    among theirs. Another desk's is not there (404)."""
    visible = await web.call(web.scope_of, agent)
    chosen = request.query_params.get("desk", "")
    if chosen:
        if not web.desks.known(chosen) or (visible is not None and not visible.has_desk(chosen)):
            raise HTTPException(404, "no such desk")
        return web.desks.scope([chosen], None if visible is None else visible.categories)
    return visible


def _desk_choices(web: Web, visible: Scope | None) -> list[tuple[str, str]]:
    """(slug, name) of the desks the viewer may choose among (none: only one)."""
    desks = [d for d in web.desks.all if visible is None or visible.has_desk(d.slug)]
    return [(d.slug, d.name) for d in desks] if len(desks) > 1 else []


async def page(request: Request) -> Response:
    agent = require(request, REPORT_ROLES)
    web = web_of(request)
    zone, day = _zone(web), _today(web)
    scope = await _scope_of(web, request, agent)
    chosen = request.query_params.get("desk", "")
    choices = _desk_choices(web, await web.call(web.scope_of, agent))
    base: dict[str, Any] = {
        "active": "reports",
        "presets": presets(day),
        "zone": zone,
        "desk_choices": choices,
        "desk_chosen": chosen,
        "desk_query": f"&desk={chosen}" if chosen else "",
    }
    try:
        period = dataclasses.replace(_requested(request, day, zone), scope=scope)
    except PeriodError as exc:
        form = {key: request.query_params.get(key, "")[:10] for key in ("since", "until")}
        return web.page(request, "reports.html", 400, error=str(exc), form=form, **base)
    export = _export(web, period)
    found = await web.call(
        analytics.overview,
        period,
        export.now,
        web.desks,
        export.duration,
        export.priorities,
        export.next_response,
    )
    kb = await web.call(
        kb_report.kb_report, period.since, period.until, web.desks.default.slug, period.scope
    )
    spent = await web.call(_time_report, period)
    return web.page(
        request,
        "reports.html",
        error="",
        spent=spent,
        spoken=time_spent.spoken,
        form={"since": period.first.isoformat(), "until": period.last.isoformat()},
        query=f"since={period.first}&until={period.last}",
        found=found,
        charts=charts(found),
        kb=kb,
        kb_articles=kb.articles[:KB_ARTICLES],
        human=human,
        share=share,
        average=average,
        **base,
    )


async def table_csv(request: Request) -> Response:
    agent = require(request, REPORT_ROLES)
    web = web_of(request)
    name = request.path_params["table"]
    if name not in NAMES:
        raise HTTPException(404, "no such report table")
    period = _period_of(web, request, await _scope_of(web, request, agent))
    if name in STREAMS:
        return _csv_response(_streamed(web, STREAMS[name], period), name, period)
    rows = await web.call(TABLES[name], _export(web, period))
    return _csv_response(csv_text(rows), name, period)


async def tickets_csv(request: Request) -> Response:
    agent = require(request, REPORT_ROLES)
    web = web_of(request)
    period = _period_of(web, request, await _scope_of(web, request, agent))
    return _csv_response(_streamed(web, TICKETS, period), "tickets", period)


routes = [
    Route("/reports", page, methods=["GET"]),
    Route("/reports/{table}.csv", table_csv, methods=["GET"]),
    Route("/tickets.csv", tickets_csv, methods=["GET"]),
]


def _requested(request: Request, today: dt.date, zone: dt.tzinfo) -> Period:
    params = request.query_params
    return parse_period(
        params.get("since", "").strip(), params.get("until", "").strip(), today, zone
    )


async def _streamed(web: Web, stream: Stream, period: Period) -> AsyncIterator[str]:
    """The header, then chunk after chunk, each read in the database threads."""
    fields = []
    if stream.fields:  # with several desks, the desk's column, then the custom fields'
        fields = ["desk"] if web.desks.several else []
        fields += [f.name for f in web.desk.fields.all]
    yield csv_text([[*stream.header, *fields]])
    after: Key | None = None
    while True:
        rows, after = await web.call(stream.fetch, period, web.desks, after, CHUNK)
        yield csv_text(stream.cells(row, fields) for row in rows)
        if after is None:
            return
