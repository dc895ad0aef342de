"""SLA figures: target compliance and response times over a period, and the daily digest.

Where it sits in the flow: read-only queries over `Ticket` (and `Agent` for
names), computed in Python. `maildesk report sla` prints `sla_report`; the
daily digest job passes `digest` to the `mail/digest` templates and prints
`digest_json` of it. Nothing here writes, and merged tickets (`merged_into`
set) count nowhere.

Durations go through a `Duration`, `wall_clock` unless the caller passes
another: the commands and the web view pass the SLA clocks'
(`SlaTracker.clock_seconds`), so a resolution time leaves out the time spent
waiting on the customer, as `tickets show` does; due times are moments already
and are compared as they are.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from maildesk.core.vocabulary import ASSIGNABLE_ROLES, DONE_STATUSES, OPEN_STATUSES
from maildesk.queries.ticket_list import in_scope
from maildesk.settings.desks import Desks, Scope
from maildesk.store.models import Agent, AgentDesk, NextResponseCycle, Ticket
from maildesk.store.rows import tuples

Duration = Callable[[Ticket, str, dt.datetime], float]
"""`duration(ticket, target, end)`: seconds the ticket's `target` clock ("first_response"
or "resolution") counted from the ticket's creation until `end`."""

TARGETS = ("first_response", "resolution")
NEXT_RESPONSE = "next_response"  # counted only where a next-response target is configured


def targets(next_response: bool) -> tuple[str, ...]:
    """The targets a report counts: with `next_response`, the next response too."""
    return (*TARGETS, NEXT_RESPONSE) if next_response else TARGETS


NO_CATEGORY = "(none)"
DAY = dt.timedelta(days=1)

# What a report loads of each ticket created in its period, and what a Duration may read.
_SLA_COLUMNS = (
    Ticket.id,
    Ticket.number,
    Ticket.status,
    Ticket.priority,
    Ticket.category,
    Ticket.assignee,
    Ticket.created_at,
    Ticket.first_response_at,
    Ticket.first_response_due,
    Ticket.resolution_due,
    Ticket.resolved_at,
    Ticket.closed_at,
    Ticket.sla_paused_at,
    Ticket.sla_paused_seconds,
    Ticket.sla_rebased_at,
    Ticket.first_response_carried_seconds,
    Ticket.resolution_carried_seconds,
    Ticket.first_response_breached_at,
    Ticket.resolution_breached_at,
)


def wall_clock(ticket: Ticket, target: str, end: dt.datetime) -> float:
    """Seconds from the ticket's creation to `end` on the wall clock, whatever the target
    (no calendar, no pauses)."""
    return (end - ticket.created_at).total_seconds()


# --------------------------------------------------------------------------
# One SLA target over a set of tickets
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    """One SLA target over a set of tickets."""

    measured: int  # tickets whose target counts: met, or breached
    met: int
    compliance: float | None  # met / measured; None when nothing was measured
    average: float | None  # seconds, over the tickets where the event happened
    median: float | None
    count: int  # how many durations went into average, median and p90
    p90: float | None = None  # 90th percentile (`percentile`)

    @classmethod
    def of(cls, outcomes: Sequence[bool], durations: Sequence[float]) -> Stat:
        """From the measured tickets' outcomes (True: met) and the durations timed."""
        met = sum(outcomes)
        return cls(
            measured=len(outcomes),
            met=met,
            compliance=met / len(outcomes) if outcomes else None,
            average=statistics.fmean(durations) if durations else None,
            median=float(statistics.median(durations)) if durations else None,
            count=len(durations),
            p90=percentile(durations, 0.9) if durations else None,
        )

    def as_dict(self, p90: bool = False) -> dict[str, Any]:
        """STAT (see `sla_report`); with `p90`, also "p90_seconds"."""
        found = {
            "measured": self.measured,
            "met": self.met,
            "compliance": self.compliance,
            "average_seconds": self.average,
            "median_seconds": self.median,
            "count": self.count,
        }
        if p90:
            found["p90_seconds"] = self.p90
        return found


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile of non-empty `values`, interpolated linearly between the
    two nearest ranks (the "inclusive" method: the median at 0.5, the largest at 1)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def first_response_outcome(ticket: Ticket, now: dt.datetime) -> bool | None:
    """True: met; False: breached; None: not measured (no target, or unanswered within it).

    A breach the SLA job recorded stays a breach even if the due time moved later.
    """
    due = ticket.first_response_due
    if due is None:
        return None
    if ticket.first_response_breached_at is not None:
        return False
    answered = ticket.first_response_at
    if answered is None:
        return False if due <= now else None
    return bool(answered <= due)


def next_response_outcome(
    due: dt.datetime | None,
    answered: dt.datetime | None,
    breached: dt.datetime | None,
    paused: bool,
    now: dt.datetime,
) -> bool | None:
    """One next-response cycle. True: met; False: breached (recorded, answered late, or
    unanswered past its due time while its clock runs); None: not measured (no target,
    still within it, or past it while paused)."""
    if breached is not None:
        return False
    if due is None:
        return None
    if answered is None:
        return False if due <= now and not paused else None
    return bool(answered <= due)


def resolution_outcome(ticket: Ticket, now: dt.datetime) -> bool | None:
    """True: met; False: breached; None: not measured (no target and unresolved, still
    within it, or past it while the clock is paused)."""
    due = ticket.resolution_due
    resolved = ticket.resolved_at
    if due is None and resolved is None:
        return None
    if ticket.resolution_breached_at is not None:
        return False
    if resolved is None:
        return False if due <= now and ticket.sla_paused_at is None else None
    return due is None or bool(resolved <= due)


# --------------------------------------------------------------------------
# What reports are computed from
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Measured:
    """A ticket created in the period, with both targets' outcomes and durations."""

    created_at: dt.datetime
    priority: str
    category: str
    assignee_id: int | None
    first_response: bool | None
    first_response_time: float | None
    resolution: bool | None
    resolution_time: float | None


@dataclass(frozen=True)
class _Cycle:
    """A next-response cycle started in the period, grouped by its ticket."""

    started_at: dt.datetime
    priority: str
    category: str
    assignee_id: int | None
    outcome: bool | None
    seconds: float | None  # business time to the answer, of a measured answered cycle


@dataclass(frozen=True)
class _Resolved:
    resolved_at: dt.datetime
    priority: str
    category: str
    assignee_id: int | None


@dataclass(frozen=True)
class _Agent:
    email: str
    name: str
    role: str
    active: bool


@dataclass(frozen=True)
class _Data:
    created: list[_Measured]
    resolved: list[_Resolved]
    open: list[tuple[str, str, int | None, int]]  # status, priority, assignee id, how many
    agents: dict[int, _Agent]
    cycles: list[_Cycle] = field(default_factory=list)


def _cycles(
    since: dt.datetime, until: dt.datetime, now: dt.datetime, desks: peewee.ColumnBase
) -> list[_Cycle]:
    """The next-response cycles started in [since, until) on live tickets. An unanswered
    cycle is its ticket's running one: its due time and pause are the ticket's (a
    priority change or a pause moved them since it started)."""
    query = (
        NextResponseCycle.select(
            NextResponseCycle.started_at,
            NextResponseCycle.due_at,
            NextResponseCycle.answered_at,
            NextResponseCycle.breached_at,
            NextResponseCycle.business_seconds,
            Ticket.priority,
            Ticket.category,
            Ticket.assignee,
            Ticket.next_response_due,
            Ticket.next_response_paused_at,
        )
        .join(Ticket)
        .where(
            (NextResponseCycle.started_at >= since)
            & (NextResponseCycle.started_at < until)
            & Ticket.unmerged()
            & desks
        )
        .order_by(NextResponseCycle.started_at, NextResponseCycle.id)
    )
    found = []
    for (
        started,
        due,
        answered,
        breached,
        seconds,
        priority,
        category,
        assignee,
        now_due,
        paused,
    ) in tuples(query):
        if answered is None:
            due = now_due
        outcome = next_response_outcome(due, answered, breached, paused is not None, now)
        timed = outcome is not None and answered is not None and seconds is not None
        found.append(
            _Cycle(
                started,
                priority,
                category or NO_CATEGORY,
                assignee,
                outcome,
                float(seconds) if timed else None,
            )
        )
    return found


def _measure(ticket: Ticket, now: dt.datetime, duration: Duration) -> _Measured:
    first = first_response_outcome(ticket, now)
    first_time = None
    if first is not None and ticket.first_response_at is not None:
        first_time = duration(ticket, "first_response", ticket.first_response_at)
    resolution = resolution_outcome(ticket, now)
    resolution_time = None
    if resolution is not None and ticket.resolved_at is not None:
        resolution_time = duration(ticket, "resolution", ticket.resolved_at)
    return _Measured(
        created_at=ticket.created_at,
        priority=ticket.priority,
        category=ticket.category or NO_CATEGORY,
        assignee_id=ticket.assignee_id,
        first_response=first,
        first_response_time=first_time,
        resolution=resolution,
        resolution_time=resolution_time,
    )


def _is_open() -> peewee.Expression:
    # `IN` the open statuses, not `NOT IN` the closed ones: only the former lets both
    # databases read just the open tickets from the status index.
    return Ticket.status.in_(OPEN_STATUSES) & Ticket.unmerged()


def _agents_of(scope: Scope | None) -> peewee.ColumnBase:
    """The agents a scoped report lists: those working one of its desks, and admins."""
    if scope is None or scope.slugs is None:
        return peewee.Value(True)
    working = AgentDesk.select(AgentDesk.agent).where(AgentDesk.desk.in_(scope.slugs or ("",)))
    condition = (Agent.role == "admin") | Agent.id.in_(working)
    if scope.default in scope.slugs:
        condition |= Agent.id.not_in(AgentDesk.select(AgentDesk.agent))
    return condition


def _load(
    since: dt.datetime,
    until: dt.datetime,
    now: dt.datetime,
    duration: Duration,
    scope: Scope | None = None,
) -> _Data:
    """Four queries: tickets created and resolved in [since, until), open counts, agents
    (of the scope's desks only, with one)."""
    desks = in_scope(scope)
    created = (
        Ticket.select(*_SLA_COLUMNS)
        .where(
            (Ticket.created_at >= since) & (Ticket.created_at < until) & Ticket.unmerged() & desks
        )
        .order_by(Ticket.created_at, Ticket.id)
    )
    resolved = Ticket.select(
        Ticket.resolved_at, Ticket.priority, Ticket.category, Ticket.assignee
    ).where(
        (Ticket.resolved_at >= since) & (Ticket.resolved_at < until) & Ticket.unmerged() & desks
    )
    # COUNT(*), not COUNT(id): then the partial index ticket_open_by_status (status,
    # priority, assignee_id) WHERE merged_into_id IS NULL covers the query, and PostgreSQL
    # counts the open tickets by an index-only scan instead of reading the table.
    open_counts = (
        Ticket.select(
            Ticket.status, Ticket.priority, Ticket.assignee, peewee.fn.COUNT(peewee.SQL("*"))
        )
        .where(_is_open() & desks)
        .group_by(Ticket.status, Ticket.priority, Ticket.assignee)
    )
    agents = Agent.select(Agent.id, Agent.email, Agent.name, Agent.role, Agent.active).where(
        _agents_of(scope)
    )
    return _Data(
        created=[_measure(ticket, now, duration) for ticket in created],
        resolved=[
            _Resolved(at, priority, category or NO_CATEGORY, assignee)
            for at, priority, category, assignee in tuples(resolved)
        ],
        open=[
            (status, priority, assignee, int(n))
            for status, priority, assignee, n in tuples(open_counts)
        ],
        agents={
            agent_id: _Agent(email, name, role, bool(active))
            for agent_id, email, name, role, active in tuples(agents)
        },
        cycles=_cycles(since, until, now, desks),
    )


# --------------------------------------------------------------------------
# The SLA report
# --------------------------------------------------------------------------


@dataclass
class _Tally:
    created: int = 0
    resolved: int = 0
    first_response: list[bool] = field(default_factory=list)
    first_response_times: list[float] = field(default_factory=list)
    resolution: list[bool] = field(default_factory=list)
    resolution_times: list[float] = field(default_factory=list)
    next_response: list[bool] = field(default_factory=list)
    next_response_times: list[float] = field(default_factory=list)

    def add_cycle(self, cycle: _Cycle) -> None:
        if cycle.outcome is not None:
            self.next_response.append(cycle.outcome)
        if cycle.seconds is not None:
            self.next_response_times.append(cycle.seconds)

    def add(self, ticket: _Measured) -> None:
        self.created += 1
        if ticket.first_response is not None:
            self.first_response.append(ticket.first_response)
        if ticket.first_response_time is not None:
            self.first_response_times.append(ticket.first_response_time)
        if ticket.resolution is not None:
            self.resolution.append(ticket.resolution)
        if ticket.resolution_time is not None:
            self.resolution_times.append(ticket.resolution_time)

    def targets(self, p90: bool = False, counted: Sequence[str] = TARGETS) -> dict[str, Any]:
        stats = {
            "first_response": Stat.of(self.first_response, self.first_response_times),
            "resolution": Stat.of(self.resolution, self.resolution_times),
            NEXT_RESPONSE: Stat.of(self.next_response, self.next_response_times),
        }
        return {target: stats[target].as_dict(p90) for target in counted}

    def section(self, p90: bool = False, counted: Sequence[str] = TARGETS) -> dict[str, Any]:
        return {
            "created": self.created,
            "resolved": self.resolved,
            **self.targets(p90, counted),
        }


def _priority_order(seen: Iterable[str], priorities: Sequence[str]) -> list[str]:
    """The configured priorities highest first (all of them), then others seen, sorted."""
    configured = list(reversed(priorities))
    return configured + sorted(set(seen) - set(configured))


def _report(
    data: _Data,
    since: dt.datetime,
    until: dt.datetime,
    priorities: Sequence[str],
    p90: bool = False,
    counted: Sequence[str] = TARGETS,
) -> dict[str, Any]:
    total = _Tally()
    by_priority: dict[str, _Tally] = {}
    by_category: dict[str, _Tally] = {}
    by_agent: dict[int, _Tally] = {}

    def groups(priority: str, category: str, assignee_id: int | None) -> list[_Tally]:
        found = [
            total,
            by_priority.setdefault(priority, _Tally()),
            by_category.setdefault(category, _Tally()),
        ]
        if assignee_id is not None:
            found.append(by_agent.setdefault(assignee_id, _Tally()))
        return found

    for ticket in data.created:
        if since <= ticket.created_at < until:
            for tally in groups(ticket.priority, ticket.category, ticket.assignee_id):
                tally.add(ticket)
    for cycle in data.cycles if NEXT_RESPONSE in counted else ():
        if since <= cycle.started_at < until:
            for tally in groups(cycle.priority, cycle.category, cycle.assignee_id):
                tally.add_cycle(cycle)
    for row in data.resolved:
        if since <= row.resolved_at < until:
            for tally in groups(row.priority, row.category, row.assignee_id):
                tally.resolved += 1

    open_by_agent: dict[int, int] = {}
    for _status, _priority, assignee_id, n in data.open:
        if assignee_id is not None:
            open_by_agent[assignee_id] = open_by_agent.get(assignee_id, 0) + n
    listed = set(by_agent) | set(open_by_agent)
    listed |= {i for i, a in data.agents.items() if a.active and a.role in ASSIGNABLE_ROLES}
    agents: dict[str, dict[str, Any]] = {}
    for agent_id in sorted(listed, key=lambda i: data.agents[i].email):
        tally = by_agent.get(agent_id, _Tally())
        agents[data.agents[agent_id].email] = {
            "name": data.agents[agent_id].name,
            "assigned": tally.created,
            "resolved": tally.resolved,
            "open": open_by_agent.get(agent_id, 0),
            **tally.targets(p90, counted),
        }

    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        **total.section(p90, counted),
        "by_priority": {
            priority: by_priority.get(priority, _Tally()).section(p90, counted)
            for priority in _priority_order(by_priority, priorities)
        },
        "by_category": {
            category: by_category[category].section(p90, counted)
            for category in sorted(by_category, key=lambda c: (c == NO_CATEGORY, c))
        },
        "by_agent": agents,
    }


def sla_report(
    since: dt.datetime,
    until: dt.datetime,
    now: dt.datetime,
    duration: Duration = wall_clock,
    *,
    priorities: Sequence[str] = (),
    p90: bool = False,
    scope: Scope | None = None,
    next_response: bool = False,
) -> dict[str, Any]:
    """SLA compliance and times of the tickets created in [since, until), as of `now`
    (of the desks of `scope` only, with one); with `next_response` (some priority has
    a next-response target), the next responses too.

    First response, over the tickets created in the period that have a
    `first_response_due`: met when answered by the due time; breached when the
    breach was recorded (`first_response_breached_at`), answered late, or
    unanswered with the due time passed (`<= now`). Unanswered tickets still
    within their target are not measured. Times: `duration(ticket,
    "first_response", first_response_at)` of the measured tickets that were answered.

    Resolution, over the tickets created in the period that have a
    `resolution_due` or a `resolved_at`: met when resolved by the due time (or
    resolved with no due time); breached when recorded
    (`resolution_breached_at`), resolved late, or unresolved with the due time
    passed while the clock runs (a paused ticket, waiting on the customer, is
    not measured until it is resolved or the breach is recorded). Times:
    `duration(ticket, "resolution", resolved_at)` of the resolved ones (with the SLA
    clocks: business time, waiting on the customer left out).

    Next response, over the cycles started in the period (a customer message after an
    agent's answer, waiting for the next answer), grouped by their ticket's priority,
    category and assignee: met when answered by the due time; breached when recorded,
    answered late, or unanswered with the due time passed while its clock runs. Times:
    business seconds from the message to the answer (pauses left out).

    A recorded breach counts as a breach even if the due time moved later.
    "created" counts the tickets created in the period; "resolved" those whose
    `resolved_at` is in it (whenever they were created).

    `priorities`: the configured ones, lowest first; all of them are listed
    (highest first), then any others that occur. Without it, those that occur,
    sorted. Categories: those that occur, sorted, "(none)" last. Agents: the
    active agents and admins, and anyone an included ticket or an open ticket is
    assigned to, by address.

    The result (JSON-able; times are ISO 8601, durations seconds)::

        {"since": iso, "until": iso, "created": n, "resolved": n,
         "first_response": STAT, "resolution": STAT, "next_response": STAT,
         "by_priority": {priority: SECTION},
         "by_category": {category or "(none)": SECTION},
         "by_agent": {email: {"name": str,
                              "assigned": n,   # created in the period, assigned to them now
                              "resolved": n,   # resolved in the period, assigned to them
                              "open": n,       # open now, any age
                              "first_response": STAT, "resolution": STAT,
                              "next_response": STAT}}}
        SECTION = {"created": n, "resolved": n, "first_response": STAT, "resolution": STAT,
                   "next_response": STAT}
        STAT = {"measured": n, "met": n, "compliance": float 0..1 or null,
                "average_seconds": float or null, "median_seconds": float or null,
                "count": n}   # count: the durations averaged
        With `p90`, every STAT also has "p90_seconds": float or null (`percentile`).
    """
    data = _load(since, until, now, duration, scope)
    return _report(data, since, until, priorities, p90, targets(next_response))


def report_text(report: Mapping[str, Any]) -> str:
    """`sla_report`'s result for people: one block per group, times rounded."""
    since = dt.datetime.fromisoformat(report["since"]).astimezone(dt.UTC)
    until = dt.datetime.fromisoformat(report["until"]).astimezone(dt.UTC)
    lines = [
        f"SLA report: tickets created from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC",
        "",
        f"All tickets: {report['created']} created, {report['resolved']} resolved",
        *_stat_lines(report, "  "),
    ]
    for title, key in (("By priority", "by_priority"), ("By category", "by_category")):
        lines += ["", title]
        for name, section in report[key].items():
            lines.append(f"  {name}: {section['created']} created, {section['resolved']} resolved")
            lines += _stat_lines(section, "    ")
        if not report[key]:
            lines.append("  (none)")
    lines += ["", "By agent"]
    for email, agent in report["by_agent"].items():
        who = f"{agent['name']} <{email}>" if agent["name"] else email
        lines.append(
            f"  {who}: {agent['assigned']} assigned, {agent['resolved']} resolved, "
            f"{agent['open']} open now"
        )
        lines += _stat_lines(agent, "    ")
    if not report["by_agent"]:
        lines.append("  (none)")
    return "\n".join(lines) + "\n"


def _stat_lines(section: Mapping[str, Any], indent: str) -> list[str]:
    lines = []
    for target in targets(NEXT_RESPONSE in section):
        title = target.replace("_", " ")
        stat = section[target]
        if stat["measured"]:
            met = f"{stat['met']} of {stat['measured']} met ({percent(stat['compliance'])})"
        else:
            met = "nothing measured"
        if stat["count"]:
            times = (
                f"average {human_duration(stat['average_seconds'])}, "
                f"median {human_duration(stat['median_seconds'])} ({stat['count']} timed)"
            )
        else:
            times = "no times"
        lines.append(f"{indent}{title:<15} {met}; {times}")
    return lines


def percent(fraction: float) -> str:
    """`66.7%`, `100%`: a share to one decimal, as the SLA mails show it."""
    return f"{round(fraction * 100, 1):g}%"


def human_duration(seconds: float) -> str:
    """`1 h 12 min`, `2 d 3 h`, `45 min`, `under 1 min`: as the SLA mails show durations."""
    s = int(seconds)
    if s < 60:
        return "under 1 min"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        hours, minutes = divmod(s // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(s // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


# --------------------------------------------------------------------------
# The daily digest
# --------------------------------------------------------------------------


def digest(
    now: dt.datetime,
    desks: Desks,
    duration: Duration = wall_clock,
    oldest: int = 10,
    *,
    priorities: Sequence[str] = (),
    scope: Scope | None = None,
    next_response: bool = False,
) -> dict[str, Any]:
    """The daily SLA digest's figures as of `now`, for the `mail/digest` templates
    (with `next_response`, next responses in compliance and times, as `sla_report`).

    Times are datetimes here (the templates' `datetime` filter wants them);
    `digest_json` gives the same dict with ISO 8601 strings. Durations are
    seconds. `priorities` as for `sla_report`; statuses are the open ones, in
    workflow order, all of them. Assignees are shown by address and name
    (None: unassigned)::

        {"now": datetime,
         "open_total": n,
         "open_by_status": {status: n},
         "open_by_priority": {priority: n},
         "open_by_status_priority": {status: {priority: n}},   # every cell, zeros too
         "breaches_24h": [{"label", "subject", "priority", "assignee", "assignee_name",
                           "target": "first_response" | "resolution" | "next_response",
                           "due": datetime, "breached_at": datetime}],
         "at_risk_24h": [{"label", "subject", "priority", "assignee", "assignee_name",
                          "target", "due": datetime, "time_left_seconds": int}],
         "compliance": {"7d": {"first_response": STAT, "resolution": STAT,
                               "next_response": STAT},
                        "30d": {...}},
         "times": {"first_response": {"average_seconds", "median_seconds", "count"},
                   "resolution": {...}, "next_response": {...}},   # the last 30 days
         "agents": [{"email", "name", "assigned", "resolved", "open",
                     "first_response": STAT, "resolution": STAT}],   # 30 days, by name
         "oldest_open": [{"label", "subject", "status", "priority", "assignee",
                          "assignee_name", "created_at": datetime, "age_seconds": int}]}

    Breaches: those the SLA job recorded in [now - 24 h, now), by time.
    At risk: open tickets whose clock runs (not paused) with a target not yet
    met nor breached due in [now, now + 24 h), by due time; one entry per
    target. Compliance, times and agents: `sla_report` over [now - 7 d, now)
    and [now - 30 d, now). Oldest: the `oldest` open tickets created first.
    """
    data = _load(now - 30 * DAY, now, now, duration, scope)
    counted = targets(next_response)
    week = _report(data, now - 7 * DAY, now, priorities, counted=counted)
    month = _report(data, now - 30 * DAY, now, priorities, counted=counted)

    by_status = dict.fromkeys(OPEN_STATUSES, 0)
    by_priority: dict[str, int] = {}
    cells: dict[tuple[str, str], int] = {}
    for status, priority, _assignee, n in data.open:
        by_status[status] = by_status.get(status, 0) + n
        by_priority[priority] = by_priority.get(priority, 0) + n
        cells[status, priority] = cells.get((status, priority), 0) + n
    priority_order = _priority_order(by_priority, priorities)

    agents = sorted(
        ({"email": email, **entry} for email, entry in month["by_agent"].items()),
        key=lambda agent: (agent["name"].casefold(), agent["email"]),
    )
    return {
        "now": now,
        "open_total": sum(by_status.values()),
        "open_by_status": by_status,
        "open_by_priority": {p: by_priority.get(p, 0) for p in priority_order},
        "open_by_status_priority": {
            status: {p: cells.get((status, p), 0) for p in priority_order} for status in by_status
        },
        "breaches_24h": _breaches(now - DAY, now, desks, data.agents, scope),
        "at_risk_24h": _at_risk(now, now + DAY, desks, data.agents, scope),
        "compliance": {
            "7d": {target: week[target] for target in counted},
            "30d": {target: month[target] for target in counted},
        },
        "times": {
            target: {
                key: month[target][key] for key in ("average_seconds", "median_seconds", "count")
            }
            for target in counted
        },
        "agents": agents,
        "oldest_open": _oldest_open(now, desks, oldest, data.agents, scope),
    }


def digest_json(value: Any) -> Any:
    """The digest (or any part of it) as JSON-able data: datetimes become ISO 8601."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: digest_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [digest_json(item) for item in value]
    return value


def _who(ticket: Ticket, agents: Mapping[int, _Agent]) -> dict[str, Any]:
    agent = agents.get(ticket.assignee_id) if ticket.assignee_id is not None else None
    return {
        "assignee": None if agent is None else agent.email,
        "assignee_name": None if agent is None else agent.name,
    }


# What `_listed` reads of a ticket.
_LISTED = (Ticket.id, Ticket.seq, Ticket.desk, Ticket.subject, Ticket.priority, Ticket.assignee)


def _listed(ticket: Ticket, desks: Desks, agents: Mapping[int, _Agent]) -> dict[str, Any]:
    return {
        "label": desks.label(ticket.desk, ticket.seq),
        "subject": ticket.subject,
        "priority": ticket.priority,
        **_who(ticket, agents),
    }


def _breaches(
    start: dt.datetime,
    end: dt.datetime,
    desks: Desks,
    agents: Mapping[int, _Agent],
    scope: Scope | None = None,
) -> list[dict[str, Any]]:
    first = Ticket.first_response_breached_at
    resolution = Ticket.resolution_breached_at
    following = Ticket.next_response_breached_at
    query = Ticket.select(
        Ticket.id,
        Ticket.seq,
        Ticket.desk,
        Ticket.subject,
        Ticket.priority,
        Ticket.assignee,
        Ticket.first_response_due,
        Ticket.resolution_due,
        Ticket.next_response_due,
        first,
        resolution,
        following,
    ).where(
        (
            ((first >= start) & (first < end))
            | ((resolution >= start) & (resolution < end))
            | ((following >= start) & (following < end))
        )
        & Ticket.unmerged()
        & in_scope(scope)
    )
    found = []
    for ticket in query:
        for target, due, at in (
            ("first_response", ticket.first_response_due, ticket.first_response_breached_at),
            ("resolution", ticket.resolution_due, ticket.resolution_breached_at),
            ("next_response", ticket.next_response_due, ticket.next_response_breached_at),
        ):
            if at is not None and start <= at < end:
                entry = _listed(ticket, desks, agents)
                found.append(entry | {"target": target, "due": due, "breached_at": at})
    found.sort(key=lambda entry: (entry["breached_at"], entry["label"], entry["target"]))
    return found


def _at_risk(
    now: dt.datetime,
    end: dt.datetime,
    desks: Desks,
    agents: Mapping[int, _Agent],
    scope: Scope | None = None,
) -> list[dict[str, Any]]:
    found = []
    for target in targets(True):  # a next response is at risk only where one is due
        for ticket in _running_due(target, now, end).where(in_scope(scope)):
            due = getattr(ticket, f"{target}_due")
            entry = _listed(ticket, desks, agents)
            left = int((due - now).total_seconds())
            found.append(entry | {"target": target, "due": due, "time_left_seconds": left})
    found.sort(key=lambda entry: (entry["due"], entry["label"], entry["target"]))
    return found


def _running_due(target: str, now: dt.datetime, end: dt.datetime) -> peewee.Query:
    """Live open tickets whose `target` clock runs (not paused, not met, not breached)
    with its due time in [now, end).

    One query per target, each a range on that target's due time, which the partial
    index of running clocks (migrations 0004) serves: it reads what falls due in the
    period, however many tickets are open. The status test is `NOT IN` the done
    statuses (the same tickets as `IN` the open ones) because an index cannot serve it:
    without planner statistics SQLite would otherwise walk the status index, which
    holds every open ticket (measured: bench/sla)."""
    due = getattr(Ticket, f"{target}_due")
    running = getattr(Ticket, f"{target}_breached_at").is_null()
    if target == "first_response":
        running &= Ticket.first_response_at.is_null()
    elif target == "next_response":  # a customer message waits (index: migrations 0027)
        running &= (
            Ticket.next_response_at.is_null()
            & Ticket.next_response_paused_at.is_null()
            & Ticket.next_response_started_at.is_null(False)
        )
    else:
        running &= Ticket.resolved_at.is_null()
    live = Ticket.status.not_in(DONE_STATUSES) & Ticket.unmerged() & Ticket.sla_paused_at.is_null()
    return Ticket.select(*_LISTED, due).where(running & (due >= now) & (due < end) & live)


def _oldest_open(
    now: dt.datetime,
    desks: Desks,
    limit: int,
    agents: Mapping[int, _Agent],
    scope: Scope | None = None,
) -> list[dict[str, Any]]:
    if limit <= 0:
        return []
    # The `limit` oldest of each open status (index ticket_open_by_created: status,
    # created_at, id, of the unmerged tickets, migrations 0009), then the oldest of
    # those: reads at most `limit` rows per status, where one query `status IN (...)
    # ORDER BY created_at` sorts every open ticket.
    candidates: list[Ticket] = []
    for status in OPEN_STATUSES:
        candidates.extend(
            Ticket.select(*_LISTED, Ticket.status, Ticket.created_at)
            .where((Ticket.status == status) & Ticket.unmerged() & in_scope(scope))
            .order_by(Ticket.created_at, Ticket.id)
            .limit(limit)
        )
    candidates.sort(key=lambda ticket: (ticket.created_at, ticket.id))
    return [
        _listed(ticket, desks, agents)
        | {
            "status": ticket.status,
            "created_at": ticket.created_at,
            "age_seconds": int((now - ticket.created_at).total_seconds()),
        }
        for ticket in candidates[:limit]
    ]
