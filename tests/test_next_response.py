"""The next-response SLA: after each customer message that follows an agent's answer,
the next answer is due within the priority's next-response target (business time).

Through the real entry points, travelling in time with `--now` (`ingest`, `sla scan`,
`digest send`, `report sla`), the web reply box and the JSON API; on SQLite and
PostgreSQL. The calendar: Europe/Berlin, Monday to Friday 09:00-17:00 (UTC+1 in
November); medium tickets have a next response due within 2 business hours.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.core import event_names
from maildesk.store.models import Agent, NextResponseCycle, Ticket
from maildesk.tickets import agents
from maildesk.web import actions
from tests.api_support import bearer, check_answer, described
from tests.conftest import Install, write_config
from tests.conversation import customer_mail, reply, text_of
from tests.test_sla_flow import ingest_at, parse_outbox_mail, purposes, scan, show
from tests.web_support import Site, site

CARL = "Carl Customer <carl@customer.test>"
ANN = "Ann Agent <ann@example.com>"

SLA = """
[sla]
timezone = "Europe/Berlin"
business_hours = ["mon-fri 09:00-17:00"]
targets = ["urgent 1h 8h", "high 4h 24h", "medium 8h 72h 2h", "low 24h 168h"]
warn_percent = 75
escalation_addresses = ["boss@example.com"]
digest_time = "08:00"
"""


@pytest.fixture
def sla_desk(desk: Install) -> Install:
    write_config(desk.root, desk.database_url, SLA)
    for email, name, role in (
        ("ann@example.com", "Ann Agent", "agent"),
        ("mia@example.com", "Mia Manager", "manager"),
    ):
        assert desk.run("agents", "add", email, "--name", name, "--role", role).exit_code == 0
    return desk


def answered_ticket(desk: Install, opened: str, answered: str) -> tuple[Any, Any]:
    """Carl's ticket, answered by Ann: her notification (to answer again) and the
    answer Carl got (to write back to)."""
    ingest_at(desk, customer_mail(CARL), opened)
    notice = parse_outbox_mail(desk, "notify_new")
    ingest_at(desk, reply(notice, ANN, "Please restart it."), answered)
    return notice, parse_outbox_mail(desk, "agent_reply")


def types(ticket: dict[str, Any]) -> list[str]:
    return [event["type"] for event in ticket["events"]]


def targets_of(ticket: dict[str, Any], type_: str) -> list[str]:
    return [e["data"]["target"] for e in ticket["events"] if e["type"] == type_]


def test_a_customer_message_on_friday_evening_warns_and_breaches_once(sla_desk: Install) -> None:
    notice, relayed = answered_ticket(
        sla_desk, "2025-11-17T09:00:00+01:00", "2025-11-17T09:30:00+01:00"
    )
    ticket = show(sla_desk)
    assert ticket["sla"]["policy"]["next_response_seconds"] == 7200
    assert ticket["sla"]["next_response"] == {"target_seconds": 7200, "running": False}
    assert ticket["next_response_due"] is None  # the first message was the first response's

    # Friday 16:30: half an hour left that day, the other 1.5 h on Monday from 09:00
    ingest_at(sla_desk, reply(relayed, CARL, "Still broken."), "2025-11-21T16:30:00+01:00")
    ticket = show(sla_desk)
    following = ticket["sla"]["next_response"]
    assert following["running"] is True
    assert following["started_at"] == "2025-11-21T15:30:00+00:00"
    assert following["due"] == ticket["next_response_due"] == "2025-11-24T09:30:00+00:00"
    # a second message before the answer does not restart the clock
    ingest_at(sla_desk, reply(relayed, CARL, "Any news?"), "2025-11-22T10:00:00+01:00")
    ticket = show(sla_desk)
    assert ticket["next_response_due"] == "2025-11-24T09:30:00+00:00"
    assert types(ticket).count("next_response_started") == 1

    baseline = purposes(sla_desk)
    for hour in range(8, 12):  # every twenty minutes, each CLI run a restart
        for minute in (0, 20, 40):
            scan(sla_desk, f"2025-11-24T{hour:02d}:{minute:02d}:00+01:00")
    added = purposes(sla_desk)
    for purpose in baseline:
        added.remove(purpose)
    # one warning to Ann (75 % = 1.5 h: Monday 10:00), one breach to boss@ and Mia (10:30)
    assert added == ["sla_breach", "sla_breach", "sla_warning"]
    ticket = show(sla_desk)
    following = ticket["sla"]["next_response"]
    assert following["warned_at"] == "2025-11-24T09:00:00+00:00"
    assert following["breached_at"] == "2025-11-24T09:30:00+00:00"  # at the due time
    assert targets_of(ticket, "sla_warning") == ["next_response"]
    assert targets_of(ticket, "sla_breached") == ["next_response"]
    assert ticket["escalation_level"] == 1
    warning = parse_outbox_mail(sla_desk, "sla_warning")
    assert "will breach its next response target" in text_of(warning)
    breach = parse_outbox_mail(sla_desk, "sla_breach")
    assert "missed its next response target" in text_of(breach)

    # Ann answers at noon: the cycle ends, late (already breached: no second breach)
    ingest_at(
        sla_desk,
        reply(parse_outbox_mail(sla_desk, "notify_reply"), ANN, "Replaced the fuser."),
        "2025-11-24T12:00:00+01:00",
    )
    ticket = show(sla_desk)
    following = ticket["sla"]["next_response"]
    assert following["running"] is False and following["met"] is False
    assert following["answered_at"] == "2025-11-24T11:00:00+00:00"
    assert following["elapsed_seconds"] == 30 * 60 + 3 * 3600
    assert ticket["next_response_due"] is None
    assert "next_response" in types(ticket)

    # Tuesday 10:00 Carl writes again: a new cycle, neither warned nor breached yet
    ingest_at(sla_desk, reply(relayed, CARL, "It jams now."), "2025-11-25T10:00:00+01:00")
    ticket = show(sla_desk)
    following = ticket["sla"]["next_response"]
    assert following["due"] == "2025-11-25T11:00:00+00:00"
    assert following["warned_at"] is None and following["breached_at"] is None
    ingest_at(
        sla_desk,
        reply(parse_outbox_mail(sla_desk, "notify_reply"), ANN, "Open the back."),
        "2025-11-25T11:00:00+01:00",
    )
    scan(sla_desk, "2025-11-25T16:00:00+01:00")
    ticket = show(sla_desk)
    assert ticket["sla"]["next_response"]["met"] is True
    assert targets_of(ticket, "sla_breached") == ["next_response"]  # still the one
    assert purposes(sla_desk).count("sla_breach") == 2

    report = sla_desk.json(
        "report", "sla", "--since", "2025-11-01T00:00:00+00:00", "--until", "2025-12-01"
    )
    assert report["first_response"]["met"] == 1  # the other targets as before
    stat = report["next_response"]
    assert (stat["measured"], stat["met"], stat["count"]) == (2, 1, 2)
    assert stat["average_seconds"] == (12600 + 3600) / 2
    assert report["by_priority"]["medium"]["next_response"]["measured"] == 2
    assert report["by_priority"]["urgent"]["next_response"]["measured"] == 0
    text = sla_desk.run("report", "sla", "--since", "2025-11-01", "--until", "2025-12-01")
    assert text.exit_code == 0
    assert "  next response   1 of 2 met (50%); average 2 h 15 min" in text.stdout


def test_an_answer_after_the_due_time_is_a_breach_without_any_scan(sla_desk: Install) -> None:
    notice, relayed = answered_ticket(
        sla_desk, "2025-11-24T09:00:00+01:00", "2025-11-24T09:10:00+01:00"
    )
    ingest_at(sla_desk, reply(relayed, CARL, "Still broken."), "2025-11-24T14:00:00+01:00")
    ingest_at(
        sla_desk,
        reply(parse_outbox_mail(sla_desk, "notify_reply"), ANN, "Sorry, on it."),
        "2025-11-25T10:00:00+01:00",
    )
    ticket = show(sla_desk)
    following = ticket["sla"]["next_response"]
    assert following["breached_at"] == "2025-11-24T15:00:00+00:00"  # Monday 16:00 local
    assert targets_of(ticket, "sla_breached") == ["next_response"]
    assert purposes(sla_desk).count("sla_breach") == 2  # boss@ and Mia
    scan(sla_desk, "2025-11-26T12:00:00+01:00")
    assert purposes(sla_desk).count("sla_breach") == 2
    assert purposes(sla_desk).count("sla_warning") == 0  # never warned after the fact

    # urgent has no next-response target: Carl's next message starts nothing
    note = reply(notice, ANN, "#priority urgent\n#note\n\nVIP.")
    ingest_at(sla_desk, note, "2025-11-26T13:00:00+01:00")
    ingest_at(sla_desk, reply(relayed, CARL, "Hello?"), "2025-11-26T14:00:00+01:00")
    ticket = show(sla_desk)
    assert types(ticket).count("next_response_started") == 1
    assert ticket["next_response_due"] is None
    assert "next_response_seconds" not in ticket["sla"]["policy"]


def test_waiting_on_the_customer_pauses_the_clock(sla_desk: Install) -> None:
    notice, relayed = answered_ticket(
        sla_desk, "2025-11-24T09:00:00+01:00", "2025-11-24T09:10:00+01:00"
    )
    ingest_at(sla_desk, reply(relayed, CARL, "Still broken."), "2025-11-24T10:00:00+01:00")
    # Ann asked on the phone at 11:00 (an hour in) and now waits: no public answer
    held = reply(notice, ANN, "#status waiting_on_customer\n#note\n\nAsked by phone.")
    ingest_at(sla_desk, held, "2025-11-24T11:00:00+01:00")
    ticket = show(sla_desk)
    assert ticket["sla"]["next_response"]["paused"] is True
    assert ticket["sla"]["next_response"]["running"] is True
    scan(sla_desk, "2025-11-25T12:00:00+01:00")
    assert "sla_breach" not in purposes(sla_desk) and "sla_warning" not in purposes(sla_desk)
    # Wednesday 09:30 Carl writes: the same message still waits, an hour left -> 10:30
    ingest_at(sla_desk, reply(relayed, CARL, "Here you go."), "2025-11-26T09:30:00+01:00")
    ticket = show(sla_desk)
    following = ticket["sla"]["next_response"]
    assert following["paused"] is False
    assert following["started_at"] == "2025-11-24T09:00:00+00:00"
    assert following["due"] == "2025-11-26T09:30:00+00:00"
    assert types(ticket).count("next_response_started") == 1


def test_the_digest_lists_and_counts_next_responses(sla_desk: Install) -> None:
    notice, relayed = answered_ticket(
        sla_desk, "2025-11-24T09:00:00+01:00", "2025-11-24T09:10:00+01:00"
    )
    ingest_at(sla_desk, reply(relayed, CARL, "Still broken."), "2025-11-24T14:00:00+01:00")
    now = "2025-11-24T15:00:00+01:00"
    figures = sla_desk.json("digest", "send", "--now", now, "--dry-run")
    [risk] = [entry for entry in figures["at_risk_24h"] if entry["target"] == "next_response"]
    assert risk["due"] == "2025-11-24T15:00:00+00:00" and risk["time_left_seconds"] == 3600
    scan(sla_desk, "2025-11-24T16:30:00+01:00")
    figures = sla_desk.json("digest", "send", "--now", "2025-11-25T08:30:00+01:00", "--dry-run")
    assert [(b["label"], b["target"]) for b in figures["breaches_24h"]] == [
        ("SUP-00001", "next_response")
    ]
    assert figures["compliance"]["7d"]["next_response"]["measured"] == 1
    assert figures["compliance"]["7d"]["next_response"]["met"] == 0
    text = sla_desk.run("digest", "send", "--now", "2025-11-25T08:30:00+01:00", "--dry-run")
    assert text.exit_code == 0
    assert "next response breached" in text.stdout
    assert "Next response, 7 days" in text.stdout


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ('["medium 8h 72h 2h 1h"]', "[NEXT_RESPONSE]"),
        ('["medium 8h 72h 0m"]', "longer than zero"),
        ('["medium 8h 72h soon"]', "soon"),
    ],
)
def test_a_bad_next_response_target_is_a_config_error(
    desk: Install, targets: str, message: str
) -> None:
    write_config(desk.root, desk.database_url, f"[sla]\ntargets = {targets}\n")
    result = desk.run("check-config")
    assert result.exit_code == 2
    assert "sla.targets" in result.output and message in result.output


def test_webhooks_see_warnings_and_breaches_not_the_clock_itself() -> None:
    for entry in ("next_response", "next_response_started"):
        assert event_names.public_event(entry, {"message": 1}) is None  # the message's event
    for entry, name in (
        ("sla_warning", event_names.SLA_WARNING),
        ("sla_breached", event_names.SLA_BREACHED),
    ):
        event = event_names.public_event(entry, {"target": "next_response"})
        assert event == event_names.PublicEvent(name, False)


# -- the web reply box, the ticket page, /reports and the API -----------------------------

WEB_SLA = '[sla]\ntimezone = "Europe/Berlin"\nbusiness_hours = ["24/7"]\n'
WEB_SLA += 'targets = ["medium 8h 72h 1h"]\n'
START = dt.datetime(2026, 3, 30, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[tuple[Site, Clock]]:
    clock = Clock()
    with site(tmp_path, database_url, WEB_SLA, clock=clock) as running:
        agents.add_agent(running.runtime.db, "ann@example.com", "Ann", "agent", None, START)
        running.add_agent("root@example.com", "Root", "admin")  # with a password
        yield running, clock


def test_web_and_api_answers_meet_it_and_reports_count_it(web: tuple[Site, Clock]) -> None:
    s, clock = web
    s.ingest(customer_mail(CARL))
    ann = Agent.get(Agent.email == "ann@example.com")

    def answer(text: str) -> None:
        ticket = Ticket.get(Ticket.number == 1)
        outcome = actions.agent_mail(s.web, ann, ticket, text)
        assert outcome.action == "appended"

    clock.now = START + dt.timedelta(minutes=10)
    answer("Please restart it.")
    clock.now = START + dt.timedelta(hours=1)
    s.ingest(customer_mail(CARL, subject="Re: [SUP-00001] Printer on fire", body="No luck."))
    root = bearer(s, "root@example.com")
    shown = s.client.get("/api/tickets/SUP-00001", headers=root).json()
    assert shown["next_response_due"] == "2026-03-30T11:00:00+00:00"
    assert shown["sla"]["next_response"]["running"] is True
    s.sign_in("root@example.com")
    page = s.client.get("/tickets/SUP-00001")
    assert page.status_code == 200 and "Next response" in page.text

    clock.now = START + dt.timedelta(hours=1, minutes=20)  # Ann answers through the API
    posted = s.client.post(
        "/api/tickets/SUP-00001/messages",
        json={"text": "Try the other tray."},
        headers=bearer(s, "ann@example.com"),
    )
    assert posted.status_code == 201, posted.text
    [cycle] = NextResponseCycle.select()
    assert cycle.answered_at == clock.now and cycle.business_seconds == 20 * 60
    assert cycle.breached_at is None

    document = described(s)
    params = {"since": "2026-03-01", "until": "2026-04-01"}
    api = check_answer(
        document,
        "/api/reports/sla",
        "get",
        s.client.get("/api/reports/sla", params=params, headers=root),
    )
    stat = api["next_response"]
    assert (stat["measured"], stat["met"], stat["average_seconds"]) == (1, 1, 1200.0)
    assert api["by_agent"]["ann@example.com"]["next_response"]["measured"] == 0  # unassigned

    reports = s.client.get("/reports", params={"since": "2026-03-30", "until": "2026-03-30"})
    assert reports.status_code == 200
    assert "Next response in time" in reports.text
    table = s.client.get("/reports/priority.csv", params=params)
    assert table.status_code == 200
    [header, *lines] = list(csv.reader(io.StringIO(table.text)))
    by_priority = {line[0]: dict(zip(header, line, strict=True)) for line in lines}
    medium = by_priority["medium"]
    assert (medium["next_response_measured"], medium["next_response_met"]) == ("1", "1")
    assert by_priority["low"]["next_response_measured"] == "0"
