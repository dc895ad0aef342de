"""reports: SLA compliance and times, and the daily digest, against figures worked out by hand.

On SQLite and PostgreSQL. The fixture is sixteen tickets with explicit times,
covering answered in time, late, unanswered past due, still pending, paused,
recorded breaches (one with a due time moved later), merged, closed, resolved
with no target, and tickets created before the periods; every expected value
below carries its hand computation. NOW is 2026-11-22 12:00 UTC; "30 days" is
[10-23 12:00, 11-22 12:00), "7 days" [11-15 12:00, 11-22 12:00).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import peewee
import pytest

from maildesk.config import load_config
from maildesk.outbound.render import Renderer, sample_context
from maildesk.queries import sla_report
from maildesk.settings.desks import Desks
from maildesk.store.models import Agent, Contact, Ticket

DESKS = Desks.from_config(load_config(None, {}))  # one desk, prefix SUP

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
PRIORITIES = ("low", "medium", "high", "urgent")
H = 3600
D = 86400


def at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


def stat(
    measured: int, met: int, average: float | None, median: float | None, count: int
) -> dict[str, Any]:
    return {
        "measured": measured,
        "met": met,
        "compliance": met / measured if measured else None,
        "average_seconds": average,
        "median_seconds": median,
        "count": count,
    }


NOTHING = stat(0, 0, None, None, 0)


@pytest.fixture
def desk(db: peewee.Database) -> dict[int, Ticket]:
    """The tickets by number (see each one's comment for what it stands for)."""
    early = at(1, 1, 0)
    ann = Agent.create(email="ann@example.com", name="Ann Archer", created_at=early)
    bob = Agent.create(email="bob@example.com", name="Bob Baker", created_at=early)
    Agent.create(  # a manager with no tickets: not listed per agent
        email="carol@example.com", name="Carol", role="manager", created_at=early
    )
    dave = Agent.create(  # inactive, still holding an open ticket: listed
        email="dave@example.com", name="Dave Inactive", active=False, created_at=early
    )
    Agent.create(  # inactive and idle: not listed
        email="erin@example.com", name="Erin", active=False, created_at=early
    )
    customer = Contact.create(email="c@customer.test", name="C", created_at=early)
    made: dict[int, Ticket] = {}

    def ticket(
        number: int,
        priority: str,
        category: str | None,
        assignee: Agent | None,
        status: str,
        created: dt.datetime,
        **more: Any,
    ) -> None:
        made[number] = Ticket.create(
            number=number,
            seq=number,
            subject=f"Question {number}",
            status=status,
            priority=priority,
            category=category,
            requester=customer,
            assignee=assignee,
            created_at=created,
            updated_at=created,
            **more,
        )

    # 1: answered in 30 min (due 1 h), resolved in 4 h (due 8 h): both met.
    ticket(
        1, "urgent", "billing", ann, "resolved", at(11, 20, 8),
        first_response_at=at(11, 20, 8, 30), first_response_due=at(11, 20, 9),
        resolution_due=at(11, 20, 16), resolved_at=at(11, 20, 12),
    )  # fmt: skip
    # 2: answered 1 h late (2 h), breach recorded before the 24 h window; resolution
    # due 11-22 20:00: pending, at risk (8 h left).
    ticket(
        2, "urgent", "billing", bob, "open", at(11, 21, 8),
        first_response_at=at(11, 21, 10), first_response_due=at(11, 21, 9),
        first_response_breached_at=at(11, 21, 9), resolution_due=at(11, 22, 20),
    )  # fmt: skip
    # 3: unanswered past due, breach recorded 11-22 10:01 (in the 24 h window);
    # resolution due 11-23 06:00: at risk (18 h left).
    ticket(
        3, "high", "technical", ann, "open", at(11, 22, 6),
        first_response_due=at(11, 22, 10), first_response_breached_at=at(11, 22, 10, 1),
        resolution_due=at(11, 23, 6),
    )  # fmt: skip
    # 4: unanswered, due 15:00 today: not measured, at risk (3 h left); resolution
    # due 11-24: outside the 24 h.
    ticket(
        4, "high", "technical", bob, "open", at(11, 22, 11),
        first_response_due=at(11, 22, 15), resolution_due=at(11, 24, 11),
    )  # fmt: skip
    # 5: answered in 1 h (met); waiting on the customer since before its resolution
    # due time passed: paused, not measured.
    ticket(
        5, "medium", None, ann, "waiting_on_customer", at(11, 10, 9),
        first_response_at=at(11, 10, 10), first_response_due=at(11, 10, 17),
        resolution_due=at(11, 14, 9), sla_paused_at=at(11, 12, 9),
    )  # fmt: skip
    # 6: answered in 3 h (met); resolved a day late (4 d), breach recorded; closed.
    ticket(
        6, "medium", "billing", bob, "closed", at(11, 5, 9),
        first_response_at=at(11, 5, 12), first_response_due=at(11, 5, 17),
        resolution_due=at(11, 8, 9), resolved_at=at(11, 9, 9), closed_at=at(11, 12, 9),
        resolution_breached_at=at(11, 8, 9),
    )  # fmt: skip
    # 7: no SLA targets: first response not measured; resolved in 1 d: met (no due).
    ticket(
        7, "low", None, None, "resolved", at(11, 16, 9),
        first_response_at=at(11, 16, 10), resolved_at=at(11, 17, 9),
    )  # fmt: skip
    # 8: answered in 1 h (met); unresolved with resolution due 11-01, nothing recorded
    # (the SLA job has not run): breached.
    ticket(
        8, "low", "technical", ann, "open", at(10, 25, 9),
        first_response_at=at(10, 25, 10), first_response_due=at(10, 26, 9),
        resolution_due=at(11, 1, 9),
    )  # fmt: skip
    # 9: merged into 1: counts nowhere, though open, breached in the window and due soon.
    ticket(
        9, "urgent", "billing", ann, "open", at(11, 20, 8, 5),
        first_response_due=at(11, 20, 9, 5), first_response_breached_at=at(11, 22, 9),
        resolution_due=at(11, 22, 14), merged_into=made[1],
    )  # fmt: skip
    # 10: created 10-01, before both periods; open, with Dave (inactive); the oldest.
    ticket(
        10, "high", None, dave, "open", at(10, 1, 9),
        first_response_at=at(10, 1, 10), first_response_due=at(10, 1, 13),
        resolution_due=at(10, 5, 9), resolution_breached_at=at(10, 5, 9),
    )  # fmt: skip
    # 11: answered exactly at its due time, 8 h (met); resolved 11-20, before its due
    # time of 11-21, but a breach was recorded 11-19 (due moved later): breached, 2 d.
    ticket(
        11, "medium", "billing", bob, "resolved", at(11, 18, 9),
        first_response_at=at(11, 18, 17), first_response_due=at(11, 18, 17),
        resolution_due=at(11, 21, 9), resolved_at=at(11, 20, 9),
        resolution_breached_at=at(11, 19, 9),
    )  # fmt: skip
    # 12: created before both periods, resolved 11-21: counts as resolved only.
    ticket(
        12, "urgent", "technical", bob, "resolved", at(10, 20, 9),
        first_response_at=at(10, 20, 10), first_response_due=at(10, 20, 10),
        resolution_due=at(10, 21, 9), resolved_at=at(11, 21, 9),
        resolution_breached_at=at(10, 21, 9),
    )  # fmt: skip
    # 13: unassigned, unanswered past its due time (11:00), nothing recorded: breached,
    # not in the breach list; resolution due 11-23 09:00: at risk (21 h left).
    ticket(
        13, "low", "technical", None, "new", at(11, 22, 9),
        first_response_due=at(11, 22, 11), resolution_due=at(11, 23, 9),
    )  # fmt: skip
    # 14: created 11-15 10:00, two hours before the 7-day period; answered in 1 h
    # (met); resolution breach recorded 11-21 14:05 (in the 24 h window).
    ticket(
        14, "medium", "billing", ann, "in_progress", at(11, 15, 10),
        first_response_at=at(11, 15, 11), first_response_due=at(11, 15, 14),
        resolution_due=at(11, 21, 14), resolution_breached_at=at(11, 21, 14, 5),
    )  # fmt: skip
    # 15: merged, closed, resolved 11-21: counts nowhere.
    ticket(
        15, "urgent", "billing", ann, "closed", at(11, 21, 9),
        first_response_at=at(11, 21, 9, 10), first_response_due=at(11, 21, 10),
        resolved_at=at(11, 21, 10), closed_at=at(11, 21, 10), merged_into=made[1],
    )  # fmt: skip
    # 16: created before both periods; paused with its resolution due 11-22 18:00:
    # not at risk while the clock is stopped.
    ticket(
        16, "low", "technical", bob, "waiting_on_customer", at(10, 10, 9),
        first_response_at=at(10, 10, 10), first_response_due=at(10, 10, 12),
        resolution_due=at(11, 22, 18), sla_paused_at=at(11, 20, 9),
    )  # fmt: skip
    return made


# --------------------------------------------------------------------------
# sla_report
# --------------------------------------------------------------------------

# Over 30 days, tickets created: 1 2 3 4 5 6 7 8 11 13 14 (9, 15 merged; 10, 12, 16 older).
# First response, per ticket: 1 met 1800 s; 2 breached 7200 s; 3 breached; 4 pending;
# 5 met 3600; 6 met 10800; 7 no due; 8 met 3600; 11 met 28800; 13 breached; 14 met 3600.
# Resolution: 1 met 14400; 2 3 4 13 pending; 5 paused; 6 breached 345600; 7 met 86400
# (no due); 8 breached; 11 breached 172800 (recorded); 14 breached (recorded).
FIRST_30 = stat(
    9,  # 1 2 3 5 6 8 11 13 14
    6,  # 1 5 6 8 11 14
    59400 / 7,  # 1800 + 7200 + 3600 + 10800 + 3600 + 28800 + 3600 = 59400, over 7
    3600.0,  # 1800 3600 3600 [3600] 7200 10800 28800
    7,
)
RESOLUTION_30 = stat(
    6,  # 1 6 7 8 11 14
    2,  # 1 7
    154800.0,  # (14400 + 345600 + 86400 + 172800) / 4 = 619200 / 4
    129600.0,  # 14400 [86400 172800] 345600: (86400 + 172800) / 2
    4,
)
# Over 7 days, created: 1 2 3 4 7 11 13.
FIRST_7 = stat(
    5,  # 1 2 3 11 13
    2,  # 1 11
    12600.0,  # (1800 + 7200 + 28800) / 3
    7200.0,  # 1800 [7200] 28800
    3,
)
RESOLUTION_7 = stat(
    3,  # 1 7 11
    2,  # 1 7
    91200.0,  # (14400 + 86400 + 172800) / 3 = 273600 / 3
    86400.0,  # 14400 [86400] 172800
    3,
)

ANN_30 = {
    "name": "Ann Archer",
    "assigned": 5,  # 1 3 5 8 14
    "resolved": 1,  # 1
    "open": 4,  # 3 5 8 14 (9 merged)
    "first_response": stat(
        5,  # 1 3 5 8 14
        4,  # 1 5 8 14
        3150.0,  # (1800 + 3600 + 3600 + 3600) / 4
        3600.0,  # 1800 [3600 3600] 3600
        4,
    ),
    "resolution": stat(3, 1, 14400.0, 14400.0, 1),  # 1 met, 8 and 14 breached; 1 timed
}
BOB_30 = {
    "name": "Bob Baker",
    "assigned": 4,  # 2 4 6 11
    "resolved": 3,  # 6 11 12
    "open": 3,  # 2 4 16
    "first_response": stat(
        3,  # 2 6 11
        2,  # 6 11
        15600.0,  # (7200 + 10800 + 28800) / 3
        10800.0,  # 7200 [10800] 28800
        3,
    ),
    "resolution": stat(2, 0, 259200.0, 259200.0, 2),  # 6, 11: (345600 + 172800) / 2
}
DAVE_30 = {
    "name": "Dave Inactive",
    "assigned": 0,
    "resolved": 0,
    "open": 1,  # 10
    "first_response": NOTHING,
    "resolution": NOTHING,
}

REPORT_30 = {
    "since": "2026-10-23T12:00:00+00:00",
    "until": "2026-11-22T12:00:00+00:00",
    "created": 11,
    "resolved": 5,  # 1 6 7 11 12 (15 merged)
    "first_response": FIRST_30,
    "resolution": RESOLUTION_30,
    "by_priority": {
        "urgent": {
            "created": 2,  # 1 2
            "resolved": 2,  # 1 12
            "first_response": stat(2, 1, 4500.0, 4500.0, 2),  # 1 met 1800, 2 late 7200
            "resolution": stat(1, 1, 14400.0, 14400.0, 1),  # 1; 2 pending
        },
        "high": {
            "created": 2,  # 3 4
            "resolved": 0,
            "first_response": stat(1, 0, None, None, 0),  # 3 breached unanswered; 4 pending
            "resolution": NOTHING,  # both pending
        },
        "medium": {
            "created": 4,  # 5 6 11 14
            "resolved": 2,  # 6 11
            # all met: (3600 + 10800 + 28800 + 3600) / 4 = 11700; 3600 [3600 10800] 28800
            "first_response": stat(4, 4, 11700.0, 7200.0, 4),
            # 5 paused; 6 11 14 breached; (345600 + 172800) / 2
            "resolution": stat(3, 0, 259200.0, 259200.0, 2),
        },
        "low": {
            "created": 3,  # 7 8 13
            "resolved": 1,  # 7
            "first_response": stat(2, 1, 3600.0, 3600.0, 1),  # 8 met; 13 breached; 7 no due
            "resolution": stat(2, 1, 86400.0, 86400.0, 1),  # 7 met; 8 breached; 13 pending
        },
    },
    "by_category": {
        "billing": {
            "created": 5,  # 1 2 6 11 14
            "resolved": 3,  # 1 6 11
            # met 1 6 11 14, breached 2; (1800 + 7200 + 10800 + 28800 + 3600) / 5 = 10440;
            # 1800 3600 [7200] 10800 28800
            "first_response": stat(5, 4, 10440.0, 7200.0, 5),
            # met 1, breached 6 11 14, 2 pending; (14400 + 345600 + 172800) / 3 = 177600;
            # 14400 [172800] 345600
            "resolution": stat(4, 1, 177600.0, 172800.0, 3),
        },
        "technical": {
            "created": 4,  # 3 4 8 13
            "resolved": 1,  # 12
            "first_response": stat(3, 1, 3600.0, 3600.0, 1),  # 8 met; 3 13 breached
            "resolution": stat(1, 0, None, None, 0),  # 8 breached; others pending
        },
        "(none)": {
            "created": 2,  # 5 7
            "resolved": 1,  # 7
            "first_response": stat(1, 1, 3600.0, 3600.0, 1),  # 5 met; 7 no due
            "resolution": stat(1, 1, 86400.0, 86400.0, 1),  # 7 met; 5 paused
        },
    },
    "by_agent": {
        "ann@example.com": ANN_30,
        "bob@example.com": BOB_30,
        "dave@example.com": DAVE_30,
    },
}


def test_sla_report_over_30_days(desk: dict[int, Ticket]) -> None:
    report = sla_report.sla_report(NOW - 30 * sla_report.DAY, NOW, NOW, priorities=PRIORITIES)
    assert report == REPORT_30
    assert list(report["by_priority"]) == ["urgent", "high", "medium", "low"]
    assert list(report["by_category"]) == ["billing", "technical", "(none)"]
    assert list(report["by_agent"]) == ["ann@example.com", "bob@example.com", "dave@example.com"]
    json.dumps(report)  # JSON as it is


def test_sla_report_over_7_days(desk: dict[int, Ticket]) -> None:
    report = sla_report.sla_report(NOW - 7 * sla_report.DAY, NOW, NOW)
    assert report["created"] == 7  # 1 2 3 4 7 11 13
    assert report["resolved"] == 4  # 1 7 11 12
    assert report["first_response"] == FIRST_7
    assert report["resolution"] == RESOLUTION_7
    # Without the configured priorities: those that occur, sorted.
    assert list(report["by_priority"]) == ["high", "low", "medium", "urgent"]
    assert report["by_priority"]["medium"] == {
        "created": 1,  # 11
        "resolved": 1,  # 11
        "first_response": stat(1, 1, 28800.0, 28800.0, 1),
        "resolution": stat(1, 0, 172800.0, 172800.0, 1),  # the recorded breach stands
    }
    assert report["by_agent"]["bob@example.com"] | {"first_response": None} == {
        "name": "Bob Baker",
        "assigned": 3,  # 2 4 11
        "resolved": 2,  # 11 12
        "open": 3,  # open now, whenever created: 2 4 16
        "first_response": None,
        "resolution": stat(1, 0, 172800.0, 172800.0, 1),  # 11
    }


def test_priorities_configured_but_absent_are_listed(desk: dict[int, Ticket]) -> None:
    report = sla_report.sla_report(
        NOW - 7 * sla_report.DAY, NOW, NOW, priorities=("p0", *PRIORITIES)
    )
    assert list(report["by_priority"]) == ["urgent", "high", "medium", "low", "p0"]
    assert report["by_priority"]["p0"] == {
        "created": 0,
        "resolved": 0,
        "first_response": NOTHING,
        "resolution": NOTHING,
    }


def test_durations_come_from_the_given_function(desk: dict[int, Ticket]) -> None:
    calls: list[tuple[int, str, dt.datetime]] = []

    def half(ticket: Ticket, target: str, end: dt.datetime) -> float:
        calls.append((ticket.number, target, end))
        return (end - ticket.created_at).total_seconds() / 2

    report = sla_report.sla_report(NOW - 30 * sla_report.DAY, NOW, NOW, half)
    assert report["first_response"]["average_seconds"] == pytest.approx(59400 / 7 / 2)
    assert report["resolution"]["median_seconds"] == 129600 / 2
    assert report["resolution"]["compliance"] == 2 / 6  # due times are not durations
    assert (1, "first_response", at(11, 20, 8, 30)) in calls  # created -> first response
    assert (6, "resolution", at(11, 9, 9)) in calls  # created -> resolved
    assert len(calls) == 7 + 4  # once per duration, each ticket loaded once


def test_an_empty_period_has_no_figures(desk: dict[int, Ticket]) -> None:
    report = sla_report.sla_report(at(1, 1, 0), at(2, 1, 0), NOW)
    assert (report["created"], report["resolved"]) == (0, 0)
    assert report["first_response"] == NOTHING and report["resolution"] == NOTHING
    assert report["by_priority"] == {} and report["by_category"] == {}
    assert set(report["by_agent"]) == {"ann@example.com", "bob@example.com", "dave@example.com"}
    assert report["by_agent"]["dave@example.com"]["open"] == 1


def test_report_text(desk: dict[int, Ticket]) -> None:
    text = sla_report.report_text(
        sla_report.sla_report(NOW - 30 * sla_report.DAY, NOW, NOW, priorities=PRIORITIES)
    )
    assert text.startswith(
        "SLA report: tickets created from 2026-10-23 12:00 to 2026-11-22 12:00 UTC\n"
    )
    assert "All tickets: 11 created, 5 resolved\n" in text
    # 59400 / 7 = 8485.7 s = 2 h 21 min; resolution 154800 s = 1 d 19 h, 129600 = 1 d 12 h
    first = "6 of 9 met (66.7%); average 2 h 21 min, median 1 h (7 timed)"
    resolution = "2 of 6 met (33.3%); average 1 d 19 h, median 1 d 12 h (4 timed)"
    assert f"  first response  {first}\n  resolution      {resolution}\n" in text
    high = "  high: 2 created, 0 resolved\n    first response  0 of 1 met (0%); no times\n"
    assert high in text
    assert "    resolution      nothing measured; no times\n" in text
    assert "  Dave Inactive <dave@example.com>: 0 assigned, 0 resolved, 1 open now\n" in text
    assert text.endswith("\n") and "None" not in text


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "under 1 min"), (59.9, "under 1 min"), (60, "1 min"), (3600, "1 h"), (4320, "1 h 12 min"),
     (86400, "1 d"), (2 * D + 3 * H + 59 * 60, "2 d 3 h")],
)  # fmt: skip
def test_human_duration(seconds: float, shown: str) -> None:
    assert sla_report.human_duration(seconds) == shown


# --------------------------------------------------------------------------
# digest
# --------------------------------------------------------------------------


def who(name: str | None) -> dict[str, Any]:
    emails = {"Ann Archer": "ann@example.com", "Bob Baker": "bob@example.com", None: None}
    return {"assignee": emails[name], "assignee_name": name}


def test_digest_figures(desk: dict[int, Ticket]) -> None:
    figures = sla_report.digest(NOW, DESKS, oldest=3, priorities=PRIORITIES)
    assert figures["now"] == NOW
    # Open (not resolved/closed, not merged): new 13; open 2 3 4 8 10; in_progress 14;
    # waiting_on_customer 5 16.
    assert figures["open_total"] == 9
    assert figures["open_by_status"] == {
        "new": 1,
        "open": 5,
        "in_progress": 1,
        "waiting_on_customer": 2,
    }
    # urgent 2; high 3 4 10; medium 5 14; low 8 13 16
    assert figures["open_by_priority"] == {"urgent": 1, "high": 3, "medium": 2, "low": 3}
    assert list(figures["open_by_priority"]) == ["urgent", "high", "medium", "low"]
    assert figures["open_by_status_priority"] == {
        "new": {"urgent": 0, "high": 0, "medium": 0, "low": 1},  # 13
        "open": {"urgent": 1, "high": 3, "medium": 0, "low": 1},  # 2; 3 4 10; 8
        "in_progress": {"urgent": 0, "high": 0, "medium": 1, "low": 0},  # 14
        "waiting_on_customer": {"urgent": 0, "high": 0, "medium": 1, "low": 1},  # 5; 16
    }
    # Recorded in [11-21 12:00, 11-22 12:00): 14 (resolution, 11-21 14:05) and 3 (first
    # response, 11-22 10:01). Not 2 (11-21 09:00, before), not 9 (merged).
    assert figures["breaches_24h"] == [
        {
            "label": "SUP-00014",
            "subject": "Question 14",
            "priority": "medium",
            **who("Ann Archer"),
            "target": "resolution",
            "due": at(11, 21, 14),
            "breached_at": at(11, 21, 14, 5),
        },
        {
            "label": "SUP-00003",
            "subject": "Question 3",
            "priority": "high",
            **who("Ann Archer"),
            "target": "first_response",
            "due": at(11, 22, 10),
            "breached_at": at(11, 22, 10, 1),
        },
    ]
    # Due in [11-22 12:00, 11-23 12:00), open, clock running, not met nor breached:
    # 4 first response 15:00; 2 resolution 20:00; 3 resolution 06:00; 13 resolution 09:00.
    # Not 9 (merged), 16 (paused), 4's resolution (11-24), 13's first response (past).
    assert figures["at_risk_24h"] == [
        {
            "label": "SUP-00004",
            "subject": "Question 4",
            "priority": "high",
            **who("Bob Baker"),
            "target": "first_response",
            "due": at(11, 22, 15),
            "time_left_seconds": 3 * H,
        },
        {
            "label": "SUP-00002",
            "subject": "Question 2",
            "priority": "urgent",
            **who("Bob Baker"),
            "target": "resolution",
            "due": at(11, 22, 20),
            "time_left_seconds": 8 * H,
        },
        {
            "label": "SUP-00003",
            "subject": "Question 3",
            "priority": "high",
            **who("Ann Archer"),
            "target": "resolution",
            "due": at(11, 23, 6),
            "time_left_seconds": 18 * H,
        },
        {
            "label": "SUP-00013",
            "subject": "Question 13",
            "priority": "low",
            **who(None),
            "target": "resolution",
            "due": at(11, 23, 9),
            "time_left_seconds": 21 * H,
        },
    ]
    assert figures["compliance"] == {
        "7d": {"first_response": FIRST_7, "resolution": RESOLUTION_7},
        "30d": {"first_response": FIRST_30, "resolution": RESOLUTION_30},
    }
    assert figures["times"] == {
        "first_response": {"average_seconds": 59400 / 7, "median_seconds": 3600.0, "count": 7},
        "resolution": {"average_seconds": 154800.0, "median_seconds": 129600.0, "count": 4},
    }
    # Active agents and admins, and anyone holding a ticket; by name. Not Carol (a
    # manager with none), not Erin (inactive, none).
    assert figures["agents"] == [
        {"email": "ann@example.com", **ANN_30},
        {"email": "bob@example.com", **BOB_30},
        {"email": "dave@example.com", **DAVE_30},
    ]
    # Open, oldest first: 10 (10-01 09:00), 16 (10-10 09:00), 8 (10-25 09:00); to
    # 11-22 12:00: 52 d 3 h, 43 d 3 h, 28 d 3 h.
    assert figures["oldest_open"] == [
        {
            "label": "SUP-00010",
            "subject": "Question 10",
            "priority": "high",
            "assignee": "dave@example.com",
            "assignee_name": "Dave Inactive",
            "status": "open",
            "created_at": at(10, 1, 9),
            "age_seconds": 52 * D + 3 * H,
        },
        {
            "label": "SUP-00016",
            "subject": "Question 16",
            "priority": "low",
            **who("Bob Baker"),
            "status": "waiting_on_customer",
            "created_at": at(10, 10, 9),
            "age_seconds": 43 * D + 3 * H,
        },
        {
            "label": "SUP-00008",
            "subject": "Question 8",
            "priority": "low",
            **who("Ann Archer"),
            "status": "open",
            "created_at": at(10, 25, 9),
            "age_seconds": 28 * D + 3 * H,
        },
    ]


def test_digest_lists_ten_oldest_by_default(desk: dict[int, Ticket]) -> None:
    figures = sla_report.digest(NOW, DESKS)
    labels = [entry["label"] for entry in figures["oldest_open"]]
    # All nine open tickets, by creation: 10 16 8 5 14 2 3 13 4
    assert labels == [f"SUP-{n:05d}" for n in (10, 16, 8, 5, 14, 2, 3, 13, 4)]
    assert sla_report.digest(NOW, DESKS, oldest=0)["oldest_open"] == []


def test_digest_json_is_the_digest_with_iso_times(desk: dict[int, Ticket]) -> None:
    figures = sla_report.digest(NOW, DESKS, oldest=3)
    plain = sla_report.digest_json(figures)
    assert json.loads(json.dumps(plain)) == plain
    assert plain["now"] == "2026-11-22T12:00:00+00:00"
    assert plain["breaches_24h"][0]["breached_at"] == "2026-11-21T14:05:00+00:00"
    assert plain["oldest_open"][0]["created_at"] == "2026-10-01T09:00:00+00:00"
    assert plain["compliance"] == figures["compliance"]
    assert figures["now"] == NOW  # the original is left as it was


def shape(value: Any) -> Any:
    """Keys all the way down (a list: the shape of its first item)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def test_the_sample_digest_has_the_real_shape(
    desk: dict[int, Ticket],
) -> None:
    real = shape(sla_report.digest(NOW, DESKS, priorities=PRIORITIES))
    sample = shape(sample_context("digest")["digest"])
    assert sample == real


# --------------------------------------------------------------------------
# The digest mail, from the fixture's figures
# --------------------------------------------------------------------------


def test_digest_mail_shows_the_figures(desk: dict[int, Ticket]) -> None:
    figures = sla_report.digest(NOW, DESKS, oldest=3, priorities=PRIORITIES)
    context = {
        "desk": {"name": "Test Support", "address": "support@example.com", "base_url": "x"},
        "digest": figures,
        "manager_name": "Carol",
        "date": "2026-11-22",
        "timezone": "Europe/Berlin",
    }
    rendered = Renderer().render("digest", context)
    text, html = rendered.text, rendered.html

    assert "OPEN TICKETS: 9\n" in text and "Open tickets: 9" in html
    # high is the largest (3): a full bar; urgent 1 of 3: 7 of 20.
    assert "  high           #################### 3\n" in text
    assert "  urgent         #######............. 1\n" in text
    assert 'width="100%" height="14" bgcolor="#ea580c"' in html
    assert 'width="33%" height="14" bgcolor="#dc2626"' in html
    assert "  waiting_on_customer    2 (1 medium, 1 low)\n" in text

    assert "SLA BREACHES IN THE LAST 24 HOURS: 2\n" in text
    assert (
        "- SUP-00014 [medium] Question 14\n  resolution breached 2026-11-21 14:05 UTC "
        "(due 2026-11-21 14:00 UTC); assignee: Ann Archer\n"
    ) in text
    assert "AT RISK IN THE NEXT 24 HOURS: 4\n" in text
    assert (
        "- SUP-00004 [high] Question 4\n  first response due 2026-11-22 15:00 UTC (in 3 h); "
        "assignee: Bob Baker\n"
    ) in text
    assert "resolution due 2026-11-23 09:00 UTC (in 21 h); assignee: unassigned" in text

    # 7 days: 2 of 5 = 40%, 8 of 20; 2 of 3 = 66.7%, 13 of 20. 30 days: 6 of 9, 2 of 6.
    assert "  First response, 7 days   ########............ 40% (2 of 5 met)\n" in text
    assert "  Resolution, 7 days       #############....... 66.7% (2 of 3 met)\n" in text
    assert "  First response, 30 days  #############....... 66.7% (6 of 9 met)\n" in text
    assert "  Resolution, 30 days      #######............. 33.3% (2 of 6 met)\n" in text
    # 59400 / 7 s = 2 h 21 min; 154800 s = 1 d 19 h; 129600 s = 1 d 12 h
    assert "  First response:  average 2 h 21 min, median 1 h (7 tickets)\n" in text
    assert "  Resolution:      average 1 d 19 h, median 1 d 12 h (4 tickets)\n" in text
    # Ann holds 4 (the most), Bob 3 (15 of 20), Dave 1 (5 of 20).
    assert "  Ann Archer <ann@example.com>\n    #################### 4 open\n" in text
    assert "  Bob Baker <bob@example.com>\n    ###############..... 3 open\n" in text
    assert "    first response 80% (4 of 5 met)\n    resolution 33.3% (1 of 3 met)\n" in text
    assert "- SUP-00010 [high] Question 10\n  open for 52 d 3 h (since 2026-10-01 09:00 UTC)" in (
        text
    )

    for value in (
        "SUP-00014",
        "SUP-00003",
        "SUP-00004",
        "SUP-00013",
        "2026-11-21 14:05 UTC",
        "2026-11-22 15:00 UTC (in 3 h)",
        "40% (2 of 5 met)",
        "66.7% (6 of 9 met)",
        "33.3% (2 of 6 met)",
        "2 h 21 min",
        "1 d 12 h",
        "Ann Archer &lt;ann@example.com&gt;",
        "4 open",
        "52 d 3 h",
        "Dave Inactive",
    ):
        assert value in html, value
    assert 'width="40%" height="14" bgcolor="#dc2626"' in html  # 7-day first response
    assert 'width="75%" height="14" bgcolor="#2563eb"' in html  # Bob: 3 of 4

    lowered = html.lower()
    for banned in ("<script", "<img", "<link", "<style", "<iframe", "src=", "url(", "http"):
        assert banned not in lowered, banned
    assert re.findall(r'href="([^"]*)"', html) == ["mailto:support@example.com"]
    for part in (text, html):
        assert "None" not in part


def _plan(db: peewee.Database, query: peewee.Query) -> str:
    """The plan the database chooses for `query`, as one string."""
    sql, params = query.sql()
    if isinstance(db, peewee.PostgresqlDatabase):
        # The tables are tiny, so PostgreSQL would read them whole; without sequential
        # scans it shows which index can serve the query (a partial one only if the
        # query implies its predicate).
        with db.atomic():
            db.execute_sql("SET LOCAL enable_seqscan = off")
            rows = db.execute_sql("EXPLAIN " + sql, params).fetchall()
        return "\n".join(row[0] for row in rows)
    rows = db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return "\n".join(row[-1] for row in rows)


@pytest.mark.parametrize(
    ("target", "index"),
    [
        ("first_response", "ticket_first_response_running"),
        ("resolution", "ticket_resolution_running"),
    ],
)
def test_at_risk_reads_the_running_clocks_due_soon(
    desk: dict[int, Ticket], db: peewee.Database, target: str, index: str
) -> None:
    # Not the status index, which holds every open ticket: SQLite, with no statistics
    # (this database was never analyzed), would choose it for `status IN (...)`.
    # PostgreSQL plans tables this small by size alone; bench/sla measures it at scale.
    if isinstance(db, peewee.PostgresqlDatabase):
        pytest.skip("PostgreSQL's plan for a table this small says nothing")
    plan = _plan(db, sla_report._running_due(target, NOW, NOW + dt.timedelta(days=1)))
    assert index in plan, plan


def test_oldest_open_reads_a_few_rows_per_status(
    desk: dict[int, Ticket], db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries: list[str] = []
    original = db.execute_sql

    def logged(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        queries.append(sql)
        return original(sql, params, *args, **kwargs)

    monkeypatch.setattr(db, "execute_sql", logged)
    sla_report._oldest_open(NOW, DESKS, 3, {})
    monkeypatch.undo()
    assert len(queries) == 4  # one per open status
    for status in ("new", "open", "in_progress", "waiting_on_customer"):
        query = (
            Ticket.select(Ticket.id, Ticket.created_at)
            .where((Ticket.status == status) & Ticket.unmerged())
            .order_by(Ticket.created_at, Ticket.id)
            .limit(3)
        )
        plan = _plan(db, query)
        assert "ticket_open_by_created" in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan  # read in order


def test_oldest_open_breaks_ties_by_ticket_across_statuses(
    desk: dict[int, Ticket], db: peewee.Database
) -> None:
    # Created at the same moment as ticket 10 (the oldest open one), in other statuses,
    # and one merged (never listed): the tie goes to the lower id, whatever the status.
    same = desk[10].created_at
    extra = [
        Ticket.create(
            number=number,
            seq=number,
            subject=f"Question {number}",
            status=status,
            priority="low",
            requester=desk[10].requester_id,
            created_at=same,
            updated_at=same,
            merged_into=desk[1] if merged else None,
        )
        for number, status, merged in (
            (17, "new", False),
            (18, "in_progress", True),
            (19, "in_progress", False),
        )
    ]
    figures = sla_report.digest(NOW, DESKS, oldest=4)
    labels = [entry["label"] for entry in figures["oldest_open"]]
    assert labels == ["SUP-00010", "SUP-00017", "SUP-00019", "SUP-00016"]
    assert [t.id for t in extra] == sorted(t.id for t in extra)
