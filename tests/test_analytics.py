"""analytics: per-day counts, backlog, SLA times with p90, agents and satisfaction, against
figures worked out by hand.

On SQLite and PostgreSQL. Twelve tickets with explicit UTC times, reported in
Europe/Berlin over 2026-03-27 to 2026-03-30 (daylight saving time begins on the
29th, a day of 23 hours): the period is [03-26 23:00, 03-30 22:00) UTC, and the
days start at 03-26 23:00, 03-27 23:00, 03-28 23:00 and 03-29 22:00 UTC.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import peewee
import pytest

from maildesk.config import load_config
from maildesk.queries import analytics, sla_report
from maildesk.queries.analytics import Day, Period
from maildesk.settings.desks import Desks
from maildesk.store.models import Agent, Contact, Satisfaction, Ticket

DESKS = Desks.from_config(load_config(None, {}))  # one desk, prefix SUP

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
PERIOD = Period(dt.date(2026, 3, 27), dt.date(2026, 3, 30), BERLIN)
NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
SCRIPT = "<script>alert(1)</script>"


def at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture
def desk(db: peewee.Database) -> dict[int, Ticket]:
    """The tickets by number; each comment says where it counts."""
    early = at(1, 1, 0)
    ann = Agent.create(email="ann@example.com", name="Ann", created_at=early)
    bob = Agent.create(email="bob@example.com", name="Bob", created_at=early)
    dave = Agent.create(email="dave@example.com", name="Dave", active=False, created_at=early)
    Agent.create(email="carol@example.com", name="Carol", role="manager", created_at=early)
    customer = Contact.create(email="c@customer.test", name="C", created_at=early)
    made: dict[int, Ticket] = {}

    def ticket(
        number: int, assignee: Agent | None, status: str, created: dt.datetime, **more: Any
    ) -> None:
        made[number] = Ticket.create(
            number=number,
            seq=number,
            subject=f"Question {number}",
            status=status,
            priority="high",
            category="billing" if number % 2 else None,
            requester=customer,
            assignee=assignee,
            created_at=created,
            updated_at=created,
            **more,
        )

    def rate(number: int, score: int, comment: str, when: dt.datetime) -> None:
        Satisfaction.create(
            ticket=made[number], score=score, comment=comment, created_at=when, updated_at=when
        )

    # 1: before the period, open: in the backlog throughout.
    ticket(1, ann, "open", at(3, 20, 10))
    # 2: resolved before the period: nowhere; its rating is before the period too.
    ticket(2, dave, "resolved", at(3, 20, 10), resolved_at=at(3, 25, 10))
    rate(2, 1, "old", at(3, 25, 11))
    # 3: before the period, resolved on the 28th (then closed): open at the start.
    ticket(3, ann, "closed", at(3, 21, 10), resolved_at=at(3, 28, 9), closed_at=at(3, 29, 9))
    rate(3, 2, SCRIPT, at(3, 28, 11))
    # 4: 03-26 23:30 local, half an hour before the period: open at the start.
    ticket(4, bob, "open", at(3, 26, 22, 30))
    # 5: 03-27 00:30 local; answered in 30 min; resolved 03-27 23:30 local (23 h).
    ticket(
        5, ann, "resolved", at(3, 26, 23, 30),
        first_response_at=at(3, 27, 0), first_response_due=at(3, 27, 3, 30),
        resolved_at=at(3, 27, 22, 30),
    )  # fmt: skip
    rate(5, 5, "Great", at(3, 28, 10))
    # 6 and 12: the same moment on the 28th; 6 answered in 1 h, 12 has no target.
    ticket(
        6, ann, "open", at(3, 28, 12),
        first_response_at=at(3, 28, 13), first_response_due=at(3, 28, 16),
    )  # fmt: skip
    # 7: 03-29 23:30 local; answered in 2 h; resolved 03-30 01:45 local (2 h 15 min).
    ticket(
        7, bob, "resolved", at(3, 29, 21, 30),
        first_response_at=at(3, 29, 23, 30), first_response_due=at(3, 30, 1, 30),
        resolved_at=at(3, 29, 23, 45),
    )  # fmt: skip
    rate(7, 4, "", at(3, 30, 1))
    # 8: merged into 6: counts nowhere, rating included.
    ticket(
        8, ann, "closed", at(3, 28, 10),
        resolved_at=at(3, 28, 11), closed_at=at(3, 28, 11), merged_into=made[6],
    )  # fmt: skip
    rate(8, 3, "merged", at(3, 28, 12))
    # 9: 03-31 00:30 local: after the period.
    ticket(9, None, "new", at(3, 30, 22, 30))
    # 10: 03-29 04:30 local; answered in 5 h, an hour late (breach recorded).
    ticket(
        10, bob, "open", at(3, 29, 2, 30),
        first_response_at=at(3, 29, 7, 30), first_response_due=at(3, 29, 6, 30),
        first_response_breached_at=at(3, 29, 6, 30),
    )  # fmt: skip
    # 11: Dave's (inactive), done long ago, rated in the period: only in the ratings.
    ticket(11, dave, "closed", at(3, 1, 10), resolved_at=at(3, 2, 10), closed_at=at(3, 2, 10))
    rate(11, 3, "ok I guess", at(3, 29, 10))
    ticket(12, None, "new", at(3, 28, 12))
    return made


def test_the_period_is_local_days() -> None:
    assert PERIOD.since == at(3, 26, 23) and PERIOD.until == at(3, 30, 22)
    assert PERIOD.bounds == [
        at(3, 26, 23),
        at(3, 27, 23),
        at(3, 28, 23),
        at(3, 29, 22),
        PERIOD.until,
    ]
    assert PERIOD.days == [dt.date(2026, 3, d) for d in (27, 28, 29, 30)]
    with pytest.raises(ValueError):
        Period(dt.date(2026, 3, 2), dt.date(2026, 3, 1), BERLIN)


def test_created_resolved_and_backlog_per_day(desk: dict[int, Ticket]) -> None:
    assert analytics.open_at(PERIOD.since) == 3  # 1 3 4
    assert analytics.daily(PERIOD) == [
        Day(dt.date(2026, 3, 27), created=1, resolved=1, backlog=3),  # +5 -5
        Day(dt.date(2026, 3, 28), created=2, resolved=1, backlog=4),  # +6 +12 -3 (8 merged)
        Day(dt.date(2026, 3, 29), created=2, resolved=0, backlog=6),  # +10 +7
        Day(dt.date(2026, 3, 30), created=0, resolved=1, backlog=5),  # -7 (9 is the 31st)
    ]


def test_the_backlog_agrees_with_counting_every_ticket(desk: dict[int, Ticket]) -> None:
    live = [t for t in Ticket.select() if t.merged_into_id is None]
    for moment in PERIOD.bounds:
        expected = sum(
            1
            for t in live
            if t.created_at < moment and not (t.resolved_at and t.resolved_at < moment)
        )
        assert analytics.open_at(moment) == expected, moment


def test_days_follow_the_time_zone(desk: dict[int, Ticket]) -> None:
    utc = Period(dt.date(2026, 3, 27), dt.date(2026, 3, 28), dt.UTC)
    assert analytics.daily(utc) == [
        Day(dt.date(2026, 3, 27), created=0, resolved=1, backlog=3),  # 5 was the 26th here
        Day(dt.date(2026, 3, 28), created=2, resolved=1, backlog=4),
    ]


def test_one_day_and_an_empty_period(desk: dict[int, Ticket]) -> None:
    one = Period(dt.date(2026, 3, 29), dt.date(2026, 3, 29), BERLIN)
    assert analytics.daily(one) == [Day(dt.date(2026, 3, 29), 2, 0, 6)]
    empty = Period(dt.date(2025, 6, 1), dt.date(2025, 6, 3), BERLIN)
    assert [(d.created, d.resolved, d.backlog) for d in analytics.daily(empty)] == [(0, 0, 0)] * 3


def test_times_with_the_90th_percentile(desk: dict[int, Ticket]) -> None:
    report = analytics.sla(PERIOD, NOW)
    assert (report["created"], report["resolved"]) == (5, 3)  # 5 6 7 10 12; 5 3 7
    # First response: 5 1800 s, 6 3600, 7 7200 met; 10 18000 late.
    assert report["first_response"] == {
        "measured": 4,
        "met": 3,
        "compliance": 0.75,
        "average_seconds": 7650.0,
        "median_seconds": 5400.0,
        "p90_seconds": pytest.approx(14760.0),  # 7200 + 0.7 * (18000 - 7200)
        "count": 4,
    }
    # Resolution, no targets: 5 in 82800 s, 7 in 8100; p90 8100 + 0.9 * 74700.
    assert report["resolution"]["p90_seconds"] == pytest.approx(75330.0)
    assert report["resolution"]["median_seconds"] == 45450.0
    # By category: odd numbers are billing (5 1800 s, 7 7200), even ones none (6 3600, 10 18000).
    by_category = report["by_category"]
    assert by_category["billing"]["first_response"]["p90_seconds"] == pytest.approx(6660.0)
    assert by_category["(none)"]["first_response"]["p90_seconds"] == pytest.approx(16560.0)


def test_percentile() -> None:
    assert sla_report.percentile([42.0], 0.9) == 42.0
    assert sla_report.percentile([float(n) for n in range(10, 0, -1)], 0.9) == pytest.approx(9.1)
    assert sla_report.percentile([1.0, 3.0], 0.5) == 2.0


def test_the_sla_report_keeps_its_keys_without_p90(desk: dict[int, Ticket]) -> None:
    plain = sla_report.sla_report(PERIOD.since, PERIOD.until, NOW)
    assert "p90_seconds" not in plain["first_response"]
    assert "p90_seconds" not in plain["by_agent"]["ann@example.com"]["resolution"]
    with_p90 = analytics.sla(PERIOD, NOW)
    for key, value in plain["first_response"].items():
        assert with_p90["first_response"][key] == value


def test_satisfaction(desk: dict[int, Ticket]) -> None:
    found = analytics.ratings(PERIOD, DESKS)
    assert found.count == 4  # 3 5 7 11 (2 before, 8 merged)
    assert found.average == 3.5
    assert found.distribution == {1: 0, 2: 1, 3: 1, 4: 1, 5: 1}
    assert {email: (s.name, s.count, s.average) for email, s in found.by_agent.items()} == {
        "ann@example.com": ("Ann", 2, 3.5),
        "bob@example.com": ("Bob", 1, 4.0),
        "dave@example.com": ("Dave", 1, 3.0),
    }
    assert [(c.label, c.score, c.comment, c.assignee) for c in found.comments] == [
        ("SUP-00011", 3, "ok I guess", "Dave"),
        ("SUP-00003", 2, SCRIPT, "Ann"),
        ("SUP-00005", 5, "Great", "Ann"),
    ]  # newest first; 7 has no comment
    assert [c.label for c in analytics.ratings(PERIOD, DESKS, comments=1).comments] == ["SUP-00011"]
    nothing = analytics.ratings(Period(dt.date(2025, 1, 1), dt.date(2025, 1, 2), BERLIN), DESKS)
    assert (nothing.count, nothing.average, nothing.comments) == (0, None, [])


def test_agents(desk: dict[int, Ticket]) -> None:
    report = analytics.sla(PERIOD, NOW)
    rows = analytics.agent_rows(report, analytics.agent_scores(PERIOD))
    assert [(r.email, r.assigned, r.resolved, r.open, r.rated, r.satisfaction) for r in rows] == [
        ("ann@example.com", 2, 2, 2, 2, 3.5),  # 5 6; 5 3; open 1 6
        ("bob@example.com", 2, 1, 2, 1, 4.0),  # 7 10; 7; open 4 10
        ("dave@example.com", 0, 0, 0, 1, 3.0),  # inactive, rated only
    ]
    ann, bob, dave = rows
    assert ann.first_response["median_seconds"] == 2700.0 and ann.first_response["compliance"] == 1
    assert bob.first_response["median_seconds"] == 12600.0
    assert bob.first_response["compliance"] == 0.5
    assert dave.first_response["measured"] == 0 and dave.first_response["p90_seconds"] is None


def test_the_overview_holds_it_all(desk: dict[int, Ticket]) -> None:
    found = analytics.overview(PERIOD, NOW, DESKS)
    assert found.days == analytics.daily(PERIOD)
    assert found.report["created"] == 5 and found.ratings.count == 4
    assert [row.email for row in found.agents][:2] == ["ann@example.com", "bob@example.com"]


def test_ticket_rows_come_in_chunks(desk: dict[int, Ticket]) -> None:
    first, key = analytics.ticket_rows(PERIOD, DESKS, None, 2)
    assert [row.label for row in first] == ["SUP-00005", "SUP-00006"]
    second, key = analytics.ticket_rows(PERIOD, DESKS, key, 2)
    assert [row.label for row in second] == ["SUP-00012", "SUP-00010"]  # 12 ties with 6
    last, key = analytics.ticket_rows(PERIOD, DESKS, key, 2)
    assert [row.label for row in last] == ["SUP-00007"] and key is None
    ten = second[1]
    assert (ten.requester, ten.assignee, ten.sla_breached) == (
        "c@customer.test",
        "bob@example.com",
        True,
    )
    assert (ten.created_at, ten.first_response_at, ten.resolved_at) == (
        at(3, 29, 2, 30),
        at(3, 29, 7, 30),
        None,
    )
    assert second[0].assignee is None and second[0].category is None


def test_rating_rows_come_in_chunks(desk: dict[int, Ticket]) -> None:
    first, key = analytics.rating_rows(PERIOD, DESKS, None, 3)
    assert [(r.label, r.score, r.assignee) for r in first] == [
        ("SUP-00005", 5, "ann@example.com"),
        ("SUP-00003", 2, "ann@example.com"),
        ("SUP-00011", 3, "dave@example.com"),
    ]
    rest, key = analytics.rating_rows(PERIOD, DESKS, key, 3)
    assert [(r.label, r.comment, r.rated_at) for r in rest] == [("SUP-00007", "", at(3, 30, 1))]
    assert key is None
