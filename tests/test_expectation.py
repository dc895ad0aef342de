"""What the customer is told about when to expect an answer: the pure expectation
(`core.expectation`), the acknowledgement through the pipeline (`ingest --now`) and
the status page (test client). On SQLite and PostgreSQL where a database is used.

The calendar: Europe/Berlin, Monday to Friday 09:00-17:00 (UTC+1 in November),
Christmas Eve 2025 a holiday.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.core.expectation import Away, Kind, expect
from maildesk.core.links import ticket_token
from maildesk.core.sla import Calendar, add_business_time
from maildesk.store.models import Agent, Ticket
from maildesk.tickets import agents
from maildesk.web import actions
from tests.conftest import Install, write_config
from tests.conversation import customer_mail, html_of, parse, text_of
from tests.web_support import Site, site

BERLIN = dt.timezone(dt.timedelta(hours=1))
CALENDAR = Calendar.parse("Europe/Berlin", ["mon-fri 09:00-17:00"], ["2025-12-24"])
EIGHT_HOURS = 8 * 3600
SLA = """
[sla]
timezone = "Europe/Berlin"
business_hours = ["mon-fri 09:00-17:00"]
holidays = ["2025-12-24"]
targets = ["urgent 1h 8h", "high 4h 24h", "medium 8h 72h"]
"""
CARL = "Carl Customer <carl@customer.test>"
FRIDAY_1830 = dt.datetime(2025, 11, 21, 18, 30, tzinfo=BERLIN)
TUESDAY_1000 = dt.datetime(2025, 11, 25, 10, 0, tzinfo=BERLIN)


def expected(now: dt.datetime, seconds: int = EIGHT_HOURS) -> Any:
    due = add_business_time(CALENDAR, now, seconds)
    return expect(CALENDAR, Kind.FIRST_RESPONSE, seconds, due, now)


# -- the pure expectation -------------------------------------------------------------


def test_friday_evening_is_due_on_monday_with_the_team_away() -> None:
    e = expected(FRIDAY_1830)
    assert e.away is Away.OUT_OF_HOURS
    assert e.back_at == dt.datetime(2025, 11, 24, 9, 0, tzinfo=BERLIN)
    assert e.due == dt.datetime(2025, 11, 24, 17, 0, tzinfo=BERLIN)
    assert e.due.strftime("%A %H:%M") == "Monday 17:00"
    assert (e.target_amount, e.target_unit) == (8, "business_hours")
    assert e.remaining_seconds == EIGHT_HOURS and e.counting
    # The countdown counts only Monday 09:00-17:00.
    assert [(a.astimezone(BERLIN), b.astimezone(BERLIN)) for a, b in e.intervals] == [
        (e.back_at, e.due)
    ]


def test_a_saturday_is_a_closed_day() -> None:
    e = expected(dt.datetime(2025, 11, 22, 12, 0, tzinfo=BERLIN))
    assert e.away is Away.CLOSED_DAY
    assert e.back_at == dt.datetime(2025, 11, 24, 9, 0, tzinfo=BERLIN)


def test_within_hours_the_clock_runs_and_spans_the_night() -> None:
    e = expected(TUESDAY_1000)
    assert e.away is Away.AT_WORK and e.back_at is None
    assert e.due == dt.datetime(2025, 11, 26, 10, 0, tzinfo=BERLIN)
    assert e.remaining_seconds == EIGHT_HOURS
    assert len(e.intervals) == 2  # Tuesday 10-17 and Wednesday 09-10
    assert sum((b - a).total_seconds() for a, b in e.intervals) == EIGHT_HOURS


def test_on_a_holiday_the_team_is_back_the_next_working_day() -> None:
    e = expected(dt.datetime(2025, 12, 24, 11, 0, tzinfo=BERLIN))
    assert e.away is Away.HOLIDAY
    assert e.back_at == dt.datetime(2025, 12, 25, 9, 0, tzinfo=BERLIN)


def test_targets_are_stated_in_business_days_when_they_are_whole_days() -> None:
    e = expected(TUESDAY_1000, 72 * 3600)
    assert (e.target_amount, e.target_unit) == (9, "business_days")
    always = Calendar.twenty_four_seven()
    now = dt.datetime(2025, 11, 21, 18, 30, tzinfo=dt.UTC)
    e = expect(always, Kind.RESOLUTION, 2 * 86400, now + dt.timedelta(days=2), now)
    assert (e.target_amount, e.target_unit, e.away) == (2, "days", Away.AT_WORK)
    assert e.intervals == ((now, now + dt.timedelta(days=2)),)


def test_paused_and_late_clocks_have_no_countdown() -> None:
    due = add_business_time(CALENDAR, TUESDAY_1000, EIGHT_HOURS)
    paused = expect(CALENDAR, Kind.RESOLUTION, EIGHT_HOURS, due, TUESDAY_1000, paused=True)
    assert paused.paused and not paused.counting and paused.intervals == ()
    late = expect(CALENDAR, Kind.FIRST_RESPONSE, EIGHT_HOURS, due, due + dt.timedelta(minutes=1))
    assert late.late and late.remaining_seconds == 0 and not late.counting


# -- the acknowledgement, through the pipeline ----------------------------------------


@pytest.fixture
def sla_desk(desk: Install) -> Install:
    write_config(desk.root, desk.database_url, SLA)
    return desk


def ack_at(desk: Install, now: dt.datetime, raw: bytes) -> Any:
    result = desk.run("ingest", "--json", "--now", now.isoformat(), "-", input=raw)
    assert result.exit_code == 0, result.output
    sent = desk.run("outbox", "send")
    assert sent.exit_code == 0, sent.output
    rows = [r["id"] for r in desk.json("outbox", "list") if r["purpose"] == "ack"]
    assert rows
    return parse((desk.root / "outbox" / "new" / f"{max(rows)}.eml").read_bytes())


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_acknowledgement_of_a_friday_evening_mail_says_monday(sla_desk: Install) -> None:
    mail = ack_at(sla_desk, FRIDAY_1830, customer_mail(CARL))
    text = flat(text_of(mail))
    assert (
        "Our team is away until Monday 09:00 (Europe/Berlin). "
        "We answer within 8 business hours: by Monday 17:00." in text
    )
    assert "Our team is away until Monday 09:00 (Europe/Berlin)." in flat(html_of(mail))
    assert "We answer within 8 business hours: by Monday 17:00." in flat(html_of(mail))


def test_the_acknowledgement_within_hours_and_on_a_holiday(sla_desk: Install) -> None:
    mail = ack_at(sla_desk, TUESDAY_1000, customer_mail(CARL))
    assert "We answer within 8 business hours: by Tuesday 18:00" not in text_of(mail)
    assert "We answer within 8 business hours: by Wednesday 10:00 (Europe/Berlin)." in flat(
        text_of(mail)
    )
    assert "away" not in text_of(mail)
    holiday = dt.datetime(2025, 12, 24, 11, 0, tzinfo=BERLIN)
    mail = ack_at(
        sla_desk, holiday, customer_mail("Dora <dora@customer.test>", subject="Another one")
    )
    assert (
        "Today is a holiday for our team. We are back on Thursday 09:00 (Europe/Berlin). "
        "We answer within 8 business hours: by Thursday 17:00." in flat(text_of(mail))
    )


def test_no_target_no_promise(desk: Install) -> None:
    write_config(desk.root, desk.database_url, SLA.replace('"medium 8h 72h"', '"low 1h 2h"'))
    mail = ack_at(desk, TUESDAY_1000, customer_mail(CARL))
    text = text_of(mail)
    assert "We answer within" not in text and "business hours" not in text
    assert "as soon as we can" in text


# -- the status page ------------------------------------------------------------------


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(FRIDAY_1830.astimezone(dt.UTC))


@pytest.fixture
def web(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[Site]:
    with site(tmp_path, database_url, SLA, clock=clock) as running:
        agents.add_agent(running.runtime.db, "ann@example.com", "Ann", "agent", None, clock())
        yield running


def page(s: Site, number: int = 1) -> str:
    response = s.client.get(f"/t/SUP-{number:05d}/{ticket_token(s.web.secret, number)}")
    assert response.status_code == 200
    return flat(response.text)


def countdown_intervals(html: str) -> list[list[int]]:
    start = html.index("data-intervals='") + len("data-intervals='")
    return json.loads(html[start : html.index("'", start)])  # type: ignore[no-any-return]


def test_status_page_states_the_expectation_and_the_countdown(web: Site, clock: Clock) -> None:
    web.ingest(customer_mail(CARL))
    html = page(web)
    assert "Our team is away until Monday 09:00 (Europe/Berlin)." in html
    assert "We answer within 8 business hours: by" in html and "Monday 17:00</time>." in html
    assert "8 h 0 min 0 s of business time left" in html
    assert "The clock stands outside our business hours." in html
    monday_9 = dt.datetime(2025, 11, 24, 8, 0, tzinfo=dt.UTC)
    assert countdown_intervals(html) == [
        [
            int(monday_9.timestamp() * 1000),
            int((monday_9 + dt.timedelta(hours=8)).timestamp() * 1000),
        ]
    ]
    clock.now = monday_9 + dt.timedelta(hours=2, minutes=30)
    html = page(web)
    assert "5 h 30 min 0 s of business time left" in html
    assert "The clock is running now." in html and "Our team is away" not in html


def test_status_page_paused_late_and_then_the_resolution(web: Site, clock: Clock) -> None:
    web.ingest(customer_mail(CARL))
    clock.now = dt.datetime(2025, 11, 25, 9, 0, tzinfo=dt.UTC)  # past Monday 17:00
    html = page(web)
    assert (
        "We are late: our answer was due" in html and "Monday 17:00</time> (Europe/Berlin)" in html
    )
    assert "business time left" not in html
    ann = Agent.get(Agent.email == "ann@example.com")
    ticket = Ticket.get(Ticket.number == 1)
    actions.agent_mail(
        web.web, ann, ticket, "Which version?", commands=("#status waiting_on_customer",)
    )
    html = page(web)
    assert "Paused: we are waiting for your reply." in html
    assert "business time left" not in html
    actions.agent_mail(
        web.web, ann, Ticket.get(Ticket.number == 1), "Any news?", commands=("#status open",)
    )
    html = page(web)
    assert "We aim to resolve your request within 9 business days: by" in html
    assert "business time left" in html


def test_status_page_without_a_target_promises_nothing(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    no_medium = SLA.replace('"medium 8h 72h"', '"low 1h 2h"')
    with site(tmp_path, database_url, no_medium, clock=clock) as running:
        running.ingest(customer_mail(CARL))
        html = page(running)
    assert "When to expect an answer" not in html and "expectation.js" not in html


def test_status_page_states_the_next_response_while_a_message_waits(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    with_next = SLA.replace('"medium 8h 72h"', '"medium 8h 72h 4h"')
    with site(tmp_path, database_url, with_next, clock=clock) as s:
        agents.add_agent(s.runtime.db, "ann@example.com", "Ann", "agent", None, clock())
        s.ingest(customer_mail(CARL))
        clock.now = dt.datetime(2025, 11, 24, 9, 0, tzinfo=dt.UTC)  # Monday 10:00 in Berlin
        ann = Agent.get(Agent.email == "ann@example.com")
        actions.agent_mail(s.web, ann, Ticket.get(Ticket.number == 1), "Restart it.")
        assert "Paused: we are waiting for your reply." in page(s)  # the answer asks
        clock.now += dt.timedelta(hours=1)
        s.ingest(customer_mail(CARL, subject="Re: [SUP-00001] Printer on fire"))
        html = page(s)
    assert (
        "We answer your latest message within 4 business hours: by "
        '<time datetime="2025-11-24T15:00:00+01:00">Monday 15:00</time> (Europe/Berlin).'
    ) in html
    assert "4 h 0 min 0 s of business time left" in html
