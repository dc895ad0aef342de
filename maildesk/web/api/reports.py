"""GET /api/reports/sla: the SLA report of `maildesk report sla --json`, for the roles
that read reports (`vocabulary.REPORT_ROLES`: admins and managers; 403 for others).

`since` and `until` mean what the command's options do: ISO 8601 moments (without an
offset: UTC), `until` exclusive and by default now, `since` by default 30 days before
`until`; a time that is not one, out of range, or a `since` not before `until` is a
400 naming the parameter. The figures cover the tickets the token's agent sees (a
manager's desks; an admin's, every desk), or the desks among those that `desk`
names (repeatable, as `--desk`), and are computed by `queries.sla_report` on the SLA
clocks, as the command computes them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maildesk.core.vocabulary import REPORT_ROLES
from maildesk.queries import sla_report
from maildesk.settings.desks import Scope
from maildesk.store.models import Agent
from maildesk.web.api.answers import SlaReport
from maildesk.web.api.routes import ApiRoute, Operation, bad, signed
from maildesk.web.context import Web, web_of

REPORT_PARAMS = ("since", "until", "desk")
DEFAULT_DAYS = 30
YEARS = range(1900, 9000)  # as the command's ISO times: the SLA clock counts days around them
EXAMPLE = "2026-11-20T17:30:00+01:00"


def moment(params: QueryParams, name: str) -> dt.datetime | None:
    """The ISO 8601 moment of parameter `name` (None when not given), in UTC."""
    value = params.get(name)
    if value is None:
        return None
    try:
        found = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise bad(f"{name}: not an ISO 8601 time: {value[:40]!r} (e.g. {EXAMPLE})") from None
    if found.year not in YEARS:
        raise bad(f"{name}: out of range: {value[:40]!r} (years {YEARS[0]} to {YEARS[-1]})")
    return (found if found.tzinfo else found.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def period(params: QueryParams, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[since, until) as `maildesk report sla` reads its options."""
    unknown = sorted(set(params) - set(REPORT_PARAMS))
    if unknown:
        raise bad(f"unknown parameter {unknown[0]!r} (parameters: {', '.join(REPORT_PARAMS)})")
    until = moment(params, "until") or now.astimezone(dt.UTC)
    since = moment(params, "since") or until - dt.timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise bad(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    return since, until


def report_scope(web: Web, agent: Agent, desks: list[str]) -> Scope | None:
    """What the report covers: the agent's tickets, of the `desks` named (each one of
    theirs, else 400)."""
    visible = web.scope_of(agent)
    if not desks:
        return visible
    for slug in desks:
        if not web.desks.known(slug) or (visible is not None and not visible.has_desk(slug)):
            raise bad(f"desk: {slug[:40]!r} is not one of your desks")
    return web.desks.scope(desks, None if visible is None else visible.categories)


def report(web: Web, agent: Agent, params: QueryParams) -> dict[str, Any]:
    since, until = period(params, web.clock())
    return sla_report.sla_report(
        since,
        until,
        web.clock(),
        web.desk.sla.clock_seconds,
        priorities=web.config.tickets.priorities,
        scope=report_scope(web, agent, params.getlist("desk")),
        next_response=web.desk.policies.next_response,
    )


async def sla(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    if agent.role not in REPORT_ROLES:
        raise HTTPException(
            403, f"only the token of an {' or a '.join(REPORT_ROLES)} reads reports"
        )
    return JSONResponse(await web.call(report, web, agent, request.query_params))


routes = [
    ApiRoute("/api/reports/sla", "GET", sla, Operation(
        "SLA compliance and times, as `maildesk report sla --json`", 200,
        query=REPORT_PARAMS, answer=SlaReport, roles=REPORT_ROLES,
        description="Tickets created in [since, until), of the desks you see: compliance,"
        " average and median times, by priority, category and agent (admins and managers).",
    )),
]  # fmt: skip
