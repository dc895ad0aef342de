"""Time spent: `#time 25m` by mail, the web reply's field, the API's `time_spent`; the
ticket's total and entries; per agent and per category in `maildesk report time`, on
/reports and in its CSV. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.core.commands import DEFAULT_PRIORITIES, SpendTime, parse_reply
from maildesk.core.event_names import UPDATED, PublicEvent, public_event
from tests.api_support import bearer
from tests.conftest import Install
from tests.conversation import customer_mail, text_of
from tests.conversation import reply as mail_reply
from tests.test_conversation import ANN, BOB, CARL, Mailroom, only, to
from tests.web_support import Site, site


@pytest.mark.parametrize(
    ("value", "minutes"),
    [("25m", 25), ("1h30m", 90), ("1.5h", 90), ("2h", 120), ("1h 5min", 65), ("40", 40)],
)
def test_time_values(value: str, minutes: int) -> None:
    parsed = parse_reply(f"#time {value}\n\nHi", prefix="SUP", priorities=DEFAULT_PRIORITIES)
    assert parsed.commands == (SpendTime(minutes),)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "needs a time like 25m"),
        ("soon", "needs a time like 25m"),
        ("0m", "between 1 minute and 24 hours"),
        ("24h1m", "between 1 minute and 24 hours"),
        ("-5m", "needs a time like 25m"),
    ],
)
def test_bad_time_values(value: str, message: str) -> None:
    parsed = parse_reply(f"#time {value}\n\nHi", prefix="SUP", priorities=DEFAULT_PRIORITIES)
    [error] = parsed.errors
    assert message in error.message and error.syntax == "#time 25m|1h30m|1.5h"


# -- by mail, and the report ------------------------------------------------------------


@pytest.fixture
def room(desk: Install) -> Mailroom:
    room = Mailroom(desk)
    room.agent("ann@example.com", "Ann Agent")
    room.agent("bob@example.com", "Bob Agent")
    return room


def test_time_by_mail_is_recorded_and_reported(room: Mailroom) -> None:
    room.send(customer_mail(CARL, subject="Invoice wrong"))
    notice = only(room.out(), "ann@example.com")
    room.send(mail_reply(notice, ANN, "#time 25m\n#category Billing\n\nLooking into it."))
    assert "Looking into it" in text_of(only(room.out(), "carl@customer.test"))
    room.send(mail_reply(notice, ANN, "#time 1h\n#note\n\nCalled the bank."))
    room.send(customer_mail(CARL, subject="Printer on fire"))
    other = only(room.out(), "bob@example.com")
    room.send(mail_reply(other, BOB, "#time 1.5h"))  # commands only: nothing relayed
    assert room.out() == []

    ticket = room.ticket("SUP-00001")
    assert ticket["time_spent"]["minutes"] == 85
    assert [(e["agent"], e["minutes"]) for e in ticket["time_spent"]["entries"]] == [
        ("ann@example.com", 25),
        ("ann@example.com", 60),
    ]
    logged = [e for e in ticket["events"] if e["type"] == "time_logged"]
    assert [(e["actor"], e["data"]["minutes"]) for e in logged] == [
        ("ann@example.com", 25),
        ("ann@example.com", 60),
    ]

    report = room.desk.json("report", "time")
    assert report["minutes"] == 175 and report["entries"] == 3 and report["tickets"] == 2
    assert report["by_agent"] == {
        "ann@example.com": {"name": "Ann Agent", "minutes": 85, "entries": 2, "tickets": 1},
        "bob@example.com": {"name": "Bob Agent", "minutes": 90, "entries": 1, "tickets": 1},
    }
    assert report["by_category"] == {
        "(none)": {"minutes": 90, "entries": 1, "tickets": 1},
        "Billing": {"minutes": 85, "entries": 2, "tickets": 1},
    }
    text = room.desk.run("report", "time")
    assert text.exit_code == 0, text.output
    assert "All: 2h 55m in 3 entries on 2 tickets" in text.output
    assert "Bob Agent <bob@example.com>: 1h 30m (1 entries, 1 tickets)" in text.output
    assert "Billing: 1h 25m" in text.output
    later = room.desk.json("report", "time", "--since", "2100-01-01", "--until", "2100-02-01")
    assert later["minutes"] == 0 and later["by_agent"] == {}
    bad = room.desk.run("report", "time", "--since", "2100-02-01", "--until", "2100-01-01")
    assert bad.exit_code == 2 and "--since must be before --until" in bad.output


def test_a_bad_time_rejects_the_whole_reply(room: Mailroom) -> None:
    room.send(customer_mail(CARL))
    notice = only(room.out(), "ann@example.com")
    room.send(mail_reply(notice, ANN, "#time 30h\n#priority high\n\nDone."))
    mails = room.out()
    assert not to(mails, "carl@customer.test")
    error = text_of(only(mails, "ann@example.com"))
    assert "#time 30h: must be between 1 minute and 24 hours" in error
    ticket = room.ticket()
    assert ticket["time_spent"] == {"minutes": 0, "entries": []}
    assert ticket["priority"] == "medium"


# -- the web and the API ---------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url) as running:
        running.add_agent("ann@example.com", "Ann", role="admin")
        assert running.sign_in("ann@example.com").status_code == 303
        running.ingest(customer_mail(CARL, subject="Printer on fire"))
        yield running


def post_reply(web: Site, text: str, time_spent: str, kind: str = "reply") -> Any:
    return web.post(
        "/tickets/SUP-00001/reply",
        {"text": text, "kind": kind, "time_spent": time_spent},
        form_page="/tickets/SUP-00001",
    )


def test_the_web_reply_and_the_api_record_time(web: Site) -> None:
    page = web.client.get("/tickets/SUP-00001")
    assert 'name="time_spent"' in page.text
    answer = post_reply(web, "Please unplug it.", "1h30m")
    assert answer.status_code == 303
    refused = post_reply(web, "Internal remark.", "forever", kind="note")
    assert refused.status_code == 422
    assert "needs a time like 25m" in refused.text
    assert 'value="forever"' in refused.text  # kept to fix

    headers = bearer(web, "ann@example.com")
    posted = web.client.post(
        "/api/tickets/SUP-00001/messages",
        json={"text": "Called them.", "note": True, "time_spent": "25m"},
        headers=headers,
    )
    assert posted.status_code == 201, posted.text
    bad = web.client.post(
        "/api/tickets/SUP-00001/messages",
        json={"text": "x", "time_spent": "25h"},
        headers=headers,
    )
    assert bad.status_code == 422 and "between 1 minute and 24 hours" in bad.text
    shown = web.client.get("/api/tickets/SUP-00001", headers=headers).json()
    assert shown["time_spent"]["minutes"] == 115
    assert [e["minutes"] for e in shown["time_spent"]["entries"]] == [90, 25]

    page = web.client.get("/tickets/SUP-00001")
    assert "1h 55m" in page.text and "2 entries" in page.text

    reports = web.client.get("/reports")
    assert reports.status_code == 200
    assert 'id="time-agents"' in reports.text and "1h 55m" in reports.text
    exported = web.client.get("/reports/time_agents.csv")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows == [
        ["email", "name", "minutes", "entries", "tickets"],
        ["ann@example.com", "Ann", "115", "2", "1"],
    ]
    categories = list(csv.reader(io.StringIO(web.client.get("/reports/time_categories.csv").text)))
    assert categories == [
        ["category", "minutes", "entries", "tickets"],
        ["(none)", "115", "2", "1"],
    ]


def test_the_log_types_have_their_public_names() -> None:
    assert public_event("time_logged", {"minutes": 25}) == PublicEvent(UPDATED, False)
    for repeat in ("reply_held", "held_reply_sent", "held_reply_dropped"):
        assert public_event(repeat, {}) is None  # the message_added of the same change
