"""Snooze, reminders and the auto-close of tickets waiting on the customer, through
the real entry points: agents' mail with `#snooze`/`#remind` taken in by `ingest
--now`, the jobs run by `sla scan --now` (each run a restart), several scans at once.
On SQLite and PostgreSQL.

The desk's time zone: Europe/Berlin (UTC+1 in November).
"""

from __future__ import annotations

import os
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Install, write_config
from tests.conversation import customer_mail, parse, reply, text_of

CARL = "Carl Customer <carl@customer.test>"
ANN = "Ann Agent <ann@example.com>"
BOB = "Bob Agent <bob@example.com>"

CONFIG = """
[sla]
timezone = "Europe/Berlin"
business_hours = ["24/7"]
auto_close_days = 0
"""
WAITING_CLOSE = """
auto_close_waiting_days = 5
auto_close_warning_days = 2
"""

ROOT = Path(__file__).resolve().parents[1]  # this checkout's maildesk, in subprocesses too
MONDAY_0900 = "2025-11-24T09:00:00+01:00"


def make_desk(desk: Install, extra: str = "") -> Install:
    write_config(desk.root, desk.database_url, CONFIG + extra)
    for email, name in (("ann@example.com", "Ann Agent"), ("bob@example.com", "Bob Agent")):
        assert desk.run("agents", "add", email, "--name", name).exit_code == 0
    return desk


@pytest.fixture
def snooze_desk(desk: Install) -> Install:
    return make_desk(desk)


@pytest.fixture
def closing_desk(desk: Install) -> Install:
    return make_desk(desk, WAITING_CLOSE)


def ingest_at(desk: Install, raw: bytes, now: str) -> dict[str, Any]:
    result = desk.run("ingest", "--json", "--now", now, "-", input=raw)
    assert result.exit_code == 0, result.output
    line: dict[str, Any] = __import__("json").loads(result.stdout.splitlines()[0])
    return line


def scan(desk: Install, now: str) -> str:
    result = desk.run("sla", "scan", "--now", now)
    assert result.exit_code == 0, result.output
    return result.stdout


def show(desk: Install, label: str = "SUP-00001") -> dict[str, Any]:
    ticket = desk.json("tickets", "show", label)
    assert isinstance(ticket, dict)
    return ticket


def outbox(desk: Install, purpose: str) -> list[dict[str, Any]]:
    return [row for row in desk.json("outbox", "list") if row["purpose"] == purpose]


def mail_of(desk: Install, row: dict[str, Any]) -> EmailMessage:
    """The mail of an outbox row, as sent (to the maildir of the test's [outbound])."""
    result = desk.run("outbox", "send")
    assert result.exit_code == 0, result.output
    return parse((desk.root / "outbox" / "new" / f"{row['id']}.eml").read_bytes())


def notice_to(desk: Install, purpose: str, address: str) -> EmailMessage:
    rows = [r for r in outbox(desk, purpose) if address in r["to"]]
    assert len(rows) == 1, (purpose, address, rows)
    return mail_of(desk, rows[0])


def words(mail: EmailMessage) -> str:
    """The mail's text with its line breaks and runs of spaces as single spaces."""
    return " ".join(text_of(mail).split())


def types(ticket: dict[str, Any]) -> list[str]:
    return [e["type"] for e in ticket["events"]]


def opened(desk: Install) -> EmailMessage:
    """Carl's ticket, Monday 09:00, and Ann's notice of it (her signed reply address)."""
    ingest_at(desk, customer_mail(CARL), MONDAY_0900)
    return notice_to(desk, "notify_new", "ann@example.com")


def test_a_snoozed_ticket_wakes_once_and_its_assignee_is_told(snooze_desk: Install) -> None:
    notice = opened(snooze_desk)
    command = "#assign me\n#status waiting_on_customer\n#snooze 2d\n"
    ingest_at(snooze_desk, reply(notice, ANN, command), "2025-11-24T10:00:00+01:00")
    ticket = show(snooze_desk)
    assert ticket["snoozed_until"] == "2025-11-26T09:00:00+00:00"
    assert "snoozed" in types(ticket)
    # the open queue leaves it out; the snoozed one shows it
    assert snooze_desk.json("tickets", "list", "--awake") == []
    listed = snooze_desk.json("tickets", "list", "--snoozed")
    assert [t["number"] for t in listed] == ["SUP-00001"]
    # every ten minutes until Wednesday 11:00 local, each run a restart
    for day, hours in ((25, range(24)), (26, range(11))):
        for hour in hours:
            for minute in (0, 30):
                scan(snooze_desk, f"2025-11-{day}T{hour:02d}:{minute:02d}:00+01:00")
    ticket = show(snooze_desk)
    assert ticket["snoozed_until"] is None
    assert ticket["status"] == "open"  # it was waiting: back in the agents' court
    assert types(ticket).count("woken") == 1
    woken = next(e for e in ticket["events"] if e["type"] == "woken")
    assert woken["at"] == "2025-11-26T09:00:00+00:00"  # the first pass at or after 10:00 local
    assert len(outbox(snooze_desk, "snooze_ended")) == 1  # to Ann only: she is the assignee
    mail = notice_to(snooze_desk, "snooze_ended", "ann@example.com")
    assert "back in the queue" in text_of(mail)
    # her reply to the notice goes to her signed address: its commands count
    ingest_at(snooze_desk, reply(mail, ANN, "#priority high\n"), "2025-11-26T11:00:00+01:00")
    assert show(snooze_desk)["priority"] == "high"
    assert [t["number"] for t in snooze_desk.json("tickets", "list", "--awake")] == ["SUP-00001"]


def test_an_unassigned_ticket_wakes_to_the_agents_on_duty(snooze_desk: Install) -> None:
    notice = opened(snooze_desk)
    ingest_at(snooze_desk, reply(notice, ANN, "#snooze 30m"), "2025-11-24T10:00:00+01:00")
    assert "0 woken" in scan(snooze_desk, "2025-11-24T10:29:00+01:00")
    assert "1 woken" in scan(snooze_desk, "2025-11-24T10:30:00+01:00")
    assert sorted(r["to"][0] for r in outbox(snooze_desk, "snooze_ended")) == [
        "ann@example.com",
        "bob@example.com",
    ]
    assert show(snooze_desk)["status"] == "new"  # not waiting: the status stays


def test_a_date_is_the_desks_local_time_and_unsnooze_ends_it(snooze_desk: Install) -> None:
    notice = opened(snooze_desk)
    ingest_at(
        snooze_desk, reply(notice, ANN, "#snooze 2025-12-24 09:30"), "2025-11-24T10:00:00+01:00"
    )
    assert show(snooze_desk)["snoozed_until"] == "2025-12-24T08:30:00+00:00"
    ingest_at(snooze_desk, reply(notice, ANN, "#snooze 2025-12-01"), "2025-11-24T10:05:00+01:00")
    assert show(snooze_desk)["snoozed_until"] == "2025-12-01T08:00:00+00:00"  # 09:00 local
    ingest_at(snooze_desk, reply(notice, ANN, "#unsnooze"), "2025-11-24T10:10:00+01:00")
    ticket = show(snooze_desk)
    assert ticket["snoozed_until"] is None
    assert types(ticket).count("snoozed") == 2 and types(ticket).count("unsnoozed") == 1
    assert "0 woken" in scan(snooze_desk, "2025-12-25T00:00:00+01:00")


def test_resolving_ends_the_snooze(snooze_desk: Install) -> None:
    notice = opened(snooze_desk)
    ingest_at(snooze_desk, reply(notice, ANN, "#snooze 1d"), "2025-11-24T10:00:00+01:00")
    ingest_at(snooze_desk, reply(notice, ANN, "#resolve"), "2025-11-24T11:00:00+01:00")
    ticket = show(snooze_desk)
    assert ticket["status"] == "resolved" and ticket["snoozed_until"] is None
    assert snooze_desk.json("tickets", "list", "--snoozed") == []
    assert "0 woken" in scan(snooze_desk, "2025-11-26T10:00:00+01:00")


def test_a_customer_reply_wakes_the_ticket_at_once(snooze_desk: Install) -> None:
    notice = opened(snooze_desk)
    ingest_at(snooze_desk, reply(notice, ANN, "#snooze 1w"), "2025-11-24T10:00:00+01:00")
    ack = notice_to(snooze_desk, "ack", "carl@customer.test")
    ingest_at(snooze_desk, reply(ack, CARL, "Any news?"), "2025-11-25T10:00:00+01:00")
    ticket = show(snooze_desk)
    assert ticket["snoozed_until"] is None
    unsnoozed = next(e for e in ticket["events"] if e["type"] == "unsnoozed")
    assert unsnoozed["data"]["reason"] == "customer reply"
    assert "0 woken" in scan(snooze_desk, "2025-12-02T10:00:00+01:00")
    assert outbox(snooze_desk, "snooze_ended") == []


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("#snooze later", "needs a time like 3d"),
        ("#snooze 2025-11-20 09:00", "has passed"),
        ("#snooze 3d\n#resolve", "the ticket is resolved"),
        ("#remind 2h", "needs a text after the time"),
        ("#remind 2025-13-01 call", "needs a time like 2h"),
    ],
)
def test_a_bad_line_applies_nothing(snooze_desk: Install, command: str, error: str) -> None:
    notice = opened(snooze_desk)
    raw = reply(notice, ANN, f"#priority high\n{command}\n")
    ingest_at(snooze_desk, raw, "2025-11-24T10:00:00+01:00")
    ticket = show(snooze_desk)
    assert ticket["priority"] == "medium" and ticket["snoozed_until"] is None
    assert ticket["reminders"] == [] and ticket["status"] == "new"
    assert error in text_of(notice_to(snooze_desk, "command_error", "ann@example.com"))


def test_reminders_come_once_each_to_the_agent_who_set_them(snooze_desk: Install) -> None:
    notice = opened(snooze_desk)
    raw = reply(notice, ANN, "#remind 2h call Carl back\n#remind 1d did the part arrive?\n")
    ingest_at(snooze_desk, raw, "2025-11-24T10:00:00+01:00")
    reminders = show(snooze_desk)["reminders"]
    assert [(r["agent"], r["due_at"], r["text"], r["sent_at"]) for r in reminders] == [
        ("ann@example.com", "2025-11-24T11:00:00+00:00", "call Carl back", None),
        ("ann@example.com", "2025-11-25T09:00:00+00:00", "did the part arrive?", None),
    ]
    assert "0 reminders" in scan(snooze_desk, "2025-11-24T11:59:00+01:00")
    assert "1 reminders" in scan(snooze_desk, "2025-11-24T12:00:00+01:00")
    assert "0 reminders" in scan(snooze_desk, "2025-11-24T12:10:00+01:00")
    mail = notice_to(snooze_desk, "reminder", "ann@example.com")
    assert "call Carl back" in text_of(mail)
    assert "1 reminders" in scan(snooze_desk, "2025-11-26T00:00:00+01:00")
    rows = outbox(snooze_desk, "reminder")
    assert len(rows) == 2 and {r["to"][0] for r in rows} == {"ann@example.com"}
    ticket = show(snooze_desk)
    assert [r["sent_at"] is not None for r in ticket["reminders"]] == [True, True]
    assert types(ticket).count("reminder_set") == 2 and types(ticket).count("reminder_sent") == 2
    # the reminder's Reply-To is Ann's signed address: a reply to it counts as hers
    ingest_at(snooze_desk, reply(mail, ANN, "#tag called\n"), "2025-11-26T09:00:00+01:00")
    assert show(snooze_desk)["tags"] == ["called"]


def waiting(desk: Install, at: str) -> EmailMessage:
    """Carl's ticket, answered by Ann at `at`: waiting on the customer."""
    notice = opened(desk)
    ingest_at(desk, reply(notice, ANN, "Could you send a photo?"), at)
    assert show(desk)["status"] == "waiting_on_customer"
    return notice_to(desk, "agent_reply", "carl@customer.test")


def test_a_silent_customer_is_warned_then_the_ticket_closes(closing_desk: Install) -> None:
    waiting(closing_desk, "2025-11-24T10:00:00+01:00")
    # warned three days in (five days of silence, two of warning), once
    assert "0 close_warnings" in scan(closing_desk, "2025-11-27T09:59:00+01:00")
    assert "1 close_warnings" in scan(closing_desk, "2025-11-27T10:00:00+01:00")
    assert "0 close_warnings" in scan(closing_desk, "2025-11-28T10:00:00+01:00")
    warning = notice_to(closing_desk, "close_warning", "carl@customer.test")
    assert "we will close it on 2025-11-29. To keep it open, just reply" in words(warning)
    assert warning["Auto-Submitted"] == "auto-generated"
    assert show(closing_desk)["status"] == "waiting_on_customer"
    assert "0 waiting_closed" in scan(closing_desk, "2025-11-29T09:59:00+01:00")
    assert "1 waiting_closed" in scan(closing_desk, "2025-11-29T10:00:00+01:00")
    assert "0 waiting_closed" in scan(closing_desk, "2025-12-10T10:00:00+01:00")
    ticket = show(closing_desk)
    assert ticket["status"] == "closed" and ticket["closed_at"] == "2025-11-29T09:00:00+00:00"
    auto = next(e for e in ticket["events"] if e["type"] == "auto_closed")
    assert auto["data"] == {"days": 5, "waiting": True}
    assert len(outbox(closing_desk, "waiting_closed")) == 1
    assert len(outbox(closing_desk, "close_warning")) == 1


def test_a_reply_keeps_it_open_and_the_silence_counts_again(closing_desk: Install) -> None:
    ours = waiting(closing_desk, "2025-11-24T10:00:00+01:00")
    scan(closing_desk, "2025-11-27T10:00:00+01:00")  # warned
    ingest_at(closing_desk, reply(ours, CARL, "Photo attached."), "2025-11-28T10:00:00+01:00")
    ticket = show(closing_desk)
    assert ticket["status"] == "open" and ticket["close_warned_at"] is None
    assert "0 waiting_closed" in scan(closing_desk, "2025-11-30T10:00:00+01:00")
    # Ann answers again: five days of silence from now, a new warning first
    notice = notice_to(closing_desk, "notify_reply", "ann@example.com")
    ingest_at(closing_desk, reply(notice, ANN, "Thanks, try this."), "2025-12-01T10:00:00+01:00")
    assert "0 close_warnings" in scan(closing_desk, "2025-12-04T09:00:00+01:00")
    assert "1 close_warnings" in scan(closing_desk, "2025-12-04T10:00:00+01:00")
    assert "1 waiting_closed" in scan(closing_desk, "2025-12-06T10:00:00+01:00")
    assert len(outbox(closing_desk, "close_warning")) == 2


def test_a_late_warning_still_leaves_the_customer_its_days(closing_desk: Install) -> None:
    waiting(closing_desk, "2025-11-24T10:00:00+01:00")
    out = scan(closing_desk, "2025-12-10T10:00:00+01:00")  # the daemon was down
    assert "1 close_warnings" in out and "0 waiting_closed" in out
    warning = notice_to(closing_desk, "close_warning", "carl@customer.test")
    assert "close it on 2025-12-12." in words(warning)
    assert "1 waiting_closed" in scan(closing_desk, "2025-12-12T10:00:00+01:00")


def test_off_by_default(snooze_desk: Install) -> None:
    waiting(snooze_desk, "2025-11-24T10:00:00+01:00")
    scan(snooze_desk, "2026-11-24T10:00:00+01:00")
    assert show(snooze_desk)["status"] == "waiting_on_customer"
    assert outbox(snooze_desk, "close_warning") == []


def test_scans_at_once_do_each_thing_once(closing_desk: Install) -> None:
    for n in range(4):
        raw = customer_mail(f"C{n} <c{n}@customer.test>", subject=f"Question {n}")
        ingest_at(closing_desk, raw, MONDAY_0900)
    notices = [r for r in outbox(closing_desk, "notify_new") if r["to"] == ["ann@example.com"]]
    assert len(notices) == 4
    for n, row in enumerate(sorted(notices, key=lambda r: r["id"])):
        body = ("#snooze 1d\n#remind 1d check it\n" if n % 2 else "") + "Which model is it?"
        ingest_at(closing_desk, reply(mail_of(closing_desk, row), ANN, body), MONDAY_0900)
    command = [
        sys.executable, "-m", "maildesk", "sla", "scan",
        "--config", str(closing_desk.config_path), "--now", "2025-11-28T10:00:00+01:00",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            command,
            cwd=closing_desk.root,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    for proc in procs:
        assert proc.wait(120) == 0
        assert proc.stderr is not None
        proc.stderr.close()
    assert len(outbox(closing_desk, "reminder")) == 2
    woken = outbox(closing_desk, "snooze_ended")
    assert len(woken) == 2 * 2  # two tickets, told to Ann and Bob (nobody assigned)
    # the two others waited on their customers three days: warned
    assert len(outbox(closing_desk, "close_warning")) == 2
    for n in range(1, 5):
        ticket = show(closing_desk, f"SUP-0000{n}")
        snoozed = bool(ticket["reminders"])
        assert types(ticket).count("woken") == (1 if snoozed else 0)
        assert types(ticket).count("close_warning") == (0 if snoozed else 1)
        assert ticket["status"] == ("open" if snoozed else "waiting_on_customer")


# -- the pure parts: times and event names ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "moment", "rest"),
    [
        ("30m", "2025-11-24T09:30:00+00:00", ""),
        ("1d12h call back", "2025-11-25T21:00:00+00:00", "call back"),
        ("1W", "2025-12-01T09:00:00+00:00", ""),
        ("2025-12-24 9:05 xmas", "2025-12-24T08:05:00+00:00", "xmas"),
        ("2025-12-24 lunch at 12:00", "2025-12-24T08:00:00+00:00", "lunch at 12:00"),
        ("2026-07-01 09:00", "2026-07-01T07:00:00+00:00", ""),  # summer time: UTC+2
    ],
)
def test_times_an_agent_can_name(text: str, moment: str, rest: str) -> None:
    import datetime as dt

    from maildesk.core.when import parse_later

    now = dt.datetime(2025, 11, 24, 9, 0, tzinfo=dt.UTC)
    later, left = parse_later(text)
    assert later is not None
    assert later.at(now, "Europe/Berlin").isoformat() == moment
    assert left == rest


@pytest.mark.parametrize("text", ["", "soon", "0m", "3x", "2025-02-30", "2025-12-24T09:00"])
def test_not_a_time(text: str) -> None:
    from maildesk.core.when import parse_later

    assert parse_later(text)[0] is None


def test_snooze_entries_are_public_updates_and_reminders_internal() -> None:
    from maildesk.core.event_names import UPDATED, PublicEvent, public_event

    for entry in ("snoozed", "unsnoozed", "woken", "close_warning"):
        assert public_event(entry, {}) == PublicEvent(UPDATED, False)
    for entry in ("reminder_set", "reminder_sent"):
        assert public_event(entry, {"text": "call"}) == PublicEvent(UPDATED, True)
    assert public_event("auto_closed", {"days": 5, "waiting": True}) is None
