"""Customers close their request, confirm its resolution or say it is not solved, by
mail through the real pipeline (`ingest --now`), and the satisfaction question asked
`[tickets] rating_delay_hours` after the resolution by the jobs (`sla scan --now`,
each run a restart; several at once). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from maildesk.core.customer_words import CustomerWish, Wish, read_wish
from maildesk.core.event_names import CLOSED_EVENT, UPDATED, public_event
from tests.conftest import Install, write_config
from tests.conversation import customer_mail, html_of, parse, reply, text_of

CARL = "Carl Customer <carl@customer.test>"
DORA = "Dora Colleague <dora@customer.test>"
EVE = "Eve Stranger <eve@elsewhere.test>"
ANN = "Ann Agent <ann@example.com>"
ROOT = Path(__file__).resolve().parents[1]  # this checkout's maildesk, in subprocesses too
CONFIG = """
[sla]
business_hours = ["24/7"]
auto_close_days = 0
"""
MONDAY = "2025-11-24T09:00:00+00:00"
LATER = "2025-11-24T10:00:00+00:00"


def make_desk(desk: Install, extra: str = "") -> Install:
    write_config(desk.root, desk.database_url, CONFIG + extra)
    assert desk.run("agents", "add", "ann@example.com", "--name", "Ann Agent").exit_code == 0
    return desk


@pytest.fixture
def close_desk(desk: Install) -> Install:
    return make_desk(desk)


@pytest.fixture
def delayed_desk(desk: Install) -> Install:
    return make_desk(desk, "\n[tickets]\nrating_delay_hours = 24\n")


def ingest_at(desk: Install, raw: bytes, now: str) -> dict[str, Any]:
    result = desk.run("ingest", "--json", "--now", now, "-", input=raw)
    assert result.exit_code == 0, result.output
    line: dict[str, Any] = json.loads(result.stdout.splitlines()[0])
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
    result = desk.run("outbox", "send")
    assert result.exit_code == 0, result.output
    return parse((desk.root / "outbox" / "new" / f"{row['id']}.eml").read_bytes())


def last_to(desk: Install, purpose: str, address: str) -> EmailMessage:
    rows = [r for r in outbox(desk, purpose) if address in r["to"]]
    assert rows, (purpose, address)
    return mail_of(desk, max(rows, key=lambda r: r["id"]))


def types(ticket: dict[str, Any]) -> list[str]:
    return [e["type"] for e in ticket["events"]]


def event(ticket: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [e for e in ticket["events"] if e["type"] == kind]
    assert len(found) == 1, (kind, types(ticket))
    return found[0]


def opened(desk: Install, cc: str = "") -> EmailMessage:
    """Carl's ticket (Dora copied, if `cc`), Ann's notice of it, and Ann takes it."""
    ingest_at(desk, customer_mail(CARL, cc=cc), MONDAY)
    notice = last_to(desk, "notify_new", "ann@example.com")
    ingest_at(desk, reply(notice, ANN, "#assign me\n\nWe are on it."), MONDAY)
    return notice


def resolved(desk: Install, notice: EmailMessage, now: str = LATER) -> EmailMessage:
    """Ann resolves the ticket; the resolved notice Carl gets."""
    ingest_at(desk, reply(notice, ANN, "#status resolved\n\nFixed, I think."), now)
    assert show(desk)["status"] == "resolved"
    return last_to(desk, "agent_reply", "carl@customer.test")


# -- by mail ----------------------------------------------------------------------------


def test_not_solved_reopens_with_their_words_and_tells_the_assignee(close_desk: Install) -> None:
    notice = opened(close_desk)
    done = resolved(close_desk, notice)
    ingest_at(close_desk, reply(done, CARL, "Not solved\n\nIt still smokes."), "2025-11-24T11:00Z")
    ticket = show(close_desk)
    assert ticket["status"] == "open" and ticket["resolved_at"] is None
    reopened = event(ticket, "reopened_by_customer")
    assert reopened["actor"] == "carl@customer.test"
    assert reopened["data"] == {"before": "resolved", "after": "open"}
    assert ticket["messages"][-1]["body_text"] == "It still smokes."
    assert ticket["messages"][-1]["kind"] == "customer"
    told = last_to(close_desk, "customer_decided", "ann@example.com")
    assert "is not solved" in text_of(told) and "It still smokes." in text_of(told)
    assert outbox(close_desk, "notify_reply") == []  # one mail tells Ann, not two


def test_solved_confirms_the_resolution(close_desk: Install) -> None:
    done = resolved(close_desk, opened(close_desk))
    ingest_at(close_desk, reply(done, CARL, "Gelöst!"), "2025-11-24T11:00Z")
    ticket = show(close_desk)
    assert ticket["status"] == "closed"
    assert event(ticket, "resolution_confirmed")["data"] == {
        "before": "resolved",
        "after": "closed",
    }
    assert "status_changed" not in types(ticket)[-3:]  # one change, one entry
    assert len(ticket["messages"]) == 3  # Carl's, Ann's two: "solved" alone adds none
    assert "confirmed" in text_of(last_to(close_desk, "customer_decided", "ann@example.com"))
    # a second "solved" changes nothing
    ingest_at(close_desk, reply(done, CARL, "solved"), "2025-11-24T12:00Z")
    ticket = show(close_desk)
    assert ticket["status"] == "closed" and types(ticket).count("resolution_confirmed") == 1


def test_a_cc_closes_an_open_request(close_desk: Install) -> None:
    notice = opened(close_desk, cc=DORA)
    answer = last_to(close_desk, "agent_reply", "dora@customer.test")
    ingest_at(close_desk, reply(answer, DORA, "#close\nWe found the plug.\n"), LATER)
    ticket = show(close_desk)
    assert ticket["status"] == "closed" and ticket["closed_at"] is not None
    assert event(ticket, "closed_by_customer")["actor"] == "dora@customer.test"
    assert ticket["messages"][-1]["body_text"] == "We found the plug."
    assert "closed" in text_of(last_to(close_desk, "customer_decided", "ann@example.com"))
    assert notice is not None


def test_a_strangers_close_is_ignored(close_desk: Install) -> None:
    opened(close_desk)
    raw = customer_mail(EVE, subject="Re: [SUP-00001] Printer on fire", body="#close\n")
    line = ingest_at(close_desk, raw, LATER)
    assert line["ticket"] != "SUP-00001"  # a stranger's mail opens its own ticket
    ticket = show(close_desk)
    assert ticket["status"] != "closed" and "closed_by_customer" not in types(ticket)


def test_other_first_lines_are_ordinary_replies(close_desk: Install) -> None:
    done = resolved(close_desk, opened(close_desk))
    ingest_at(close_desk, reply(done, CARL, "Solved? Not really, it smokes."), "2025-11-24T11:00Z")
    ticket = show(close_desk)
    assert ticket["status"] == "open"  # reopened as any reply reopens it
    assert "reopened" in types(ticket) and "reopened_by_customer" not in types(ticket)


def test_an_agents_close_is_still_the_command(close_desk: Install) -> None:
    notice = opened(close_desk)
    ingest_at(close_desk, reply(notice, ANN, "#close\n\nDone here."), LATER)
    ticket = show(close_desk)
    assert ticket["status"] == "closed" and "closed_by_customer" not in types(ticket)


def test_the_resolved_notice_links_its_answers(close_desk: Install) -> None:
    done = resolved(close_desk, opened(close_desk))
    text, html = text_of(done), html_of(done)
    status = next(w for w in text.split() if "/t/SUP-00001/" in w and w.count("/") == 5)
    assert f"Yes, it is solved: {status}/confirm" in text
    assert f"No, it is not solved: {status}/reopen" in text
    assert f'href="{status}/confirm"' in html and f'href="{status}/reopen"' in html
    assert f"{status}/rate" in text  # no delay: the question comes with the notice


# -- the satisfaction question after a delay ----------------------------------------------


def test_the_question_comes_once_a_day_after_the_resolution(delayed_desk: Install) -> None:
    done = resolved(delayed_desk, opened(delayed_desk), "2025-11-24T10:00:00+00:00")
    assert "/rate" not in text_of(done)  # not with the notice
    assert "0 rating questions" in scan(delayed_desk, "2025-11-25T09:59:00+00:00")
    assert "1 rating questions" in scan(delayed_desk, "2025-11-25T10:00:00+00:00")
    for hour in range(11, 15):
        assert "0 rating questions" in scan(delayed_desk, f"2025-11-25T{hour}:00:00+00:00")
    rows = outbox(delayed_desk, "satisfaction")
    assert [r["to"] for r in rows] == [["carl@customer.test"]]
    mail = mail_of(delayed_desk, rows[0])
    assert "/t/SUP-00001/" in text_of(mail) and "/rate" in text_of(mail)
    assert mail["Auto-Submitted"] == "auto-generated"
    ticket = show(delayed_desk)
    assert event(ticket, "satisfaction_asked")["at"] == "2025-11-25T10:00:00+00:00"


def test_no_question_once_reopened(delayed_desk: Install) -> None:
    done = resolved(delayed_desk, opened(delayed_desk), "2025-11-24T10:00:00+00:00")
    ingest_at(delayed_desk, reply(done, CARL, "not solved"), "2025-11-24T12:00:00+00:00")
    assert "0 rating questions" in scan(delayed_desk, "2025-11-26T10:00:00+00:00")
    assert outbox(delayed_desk, "satisfaction") == []


def test_scans_at_once_ask_once(delayed_desk: Install) -> None:
    for n in range(3):
        ingest_at(
            delayed_desk, customer_mail(f"C{n} <c{n}@customer.test>", subject=f"Q{n}"), MONDAY
        )
    for row in outbox(delayed_desk, "notify_new"):
        ingest_at(
            delayed_desk, reply(mail_of(delayed_desk, row), ANN, "#status resolved\n\nOK."), LATER
        )
    command = [
        sys.executable, "-m", "maildesk", "sla", "scan",
        "--config", str(delayed_desk.config_path), "--now", "2025-11-25T12:00:00+00:00",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            command,
            cwd=delayed_desk.root,
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
    assert sorted(r["to"][0] for r in outbox(delayed_desk, "satisfaction")) == [
        "c0@customer.test",
        "c1@customer.test",
        "c2@customer.test",
    ]


# -- the pure parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#close", CustomerWish(Wish.CLOSE, "")),
        ("\n\n  SOLVED  \nthanks!\n", CustomerWish(Wish.CLOSE, "thanks!")),
        ("erledigt.", CustomerWish(Wish.CLOSE, "")),
        ("Not   Solved\n\nstill broken", CustomerWish(Wish.REOPEN, "still broken")),
        ("nicht gelöst", CustomerWish(Wish.REOPEN, "")),
        ("solved it myself", None),
        ("Hello\nsolved", None),
        ("", None),
    ],
)
def test_read_wish(text: str, expected: CustomerWish | None) -> None:
    assert read_wish(text) == expected


def test_the_webhooks_see_a_close_as_closed() -> None:
    data = {"before": "resolved", "after": "closed"}
    assert public_event("resolution_confirmed", data).name == CLOSED_EVENT  # type: ignore[union-attr]
    assert public_event("closed_by_customer", data).name == CLOSED_EVENT  # type: ignore[union-attr]
    reopened = public_event("reopened_by_customer", {})
    assert reopened is not None and reopened.name == UPDATED and not reopened.internal
