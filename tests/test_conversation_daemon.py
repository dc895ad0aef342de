"""Conversations through the real daemon: mail in with smtplib, mail out to an aiosmtpd
sink playing the relay (`[outbound] mode = "smtp"`). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import smtplib
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any, TypeVar

import pytest

from maildesk.core.msgid import verify_message_id
from tests.conftest import Install, opened, write_config
from tests.conversation import customer_mail, recipients, reply, text_of
from tests.daemon import Daemon, daemon_config
from tests.sink import Received, Sink

SECRET = b"test-secret-key"
CARL = "Carl Customer <carl@customer.test>"
ANN = "Ann Agent <ann@example.com>"
PASS = {"Authentication-Results": "mx.example.com; dmarc=pass header.from=example.com"}
T = TypeVar("T")
CARL_ADDRESS = "carl@customer.test"
BOUNCER = "mailer-daemon@customer.test"
# The pipeline worker's line for each intake it has processed, whatever the outcome.
PROCESSED = r": intake \d+ (created|appended|duplicate|quarantined|ignored) "
DEBUG = '\n[logging]\nlevel = "debug"\n'  # the job runner logs each pass at debug


def outbound(sink: Sink, extra: str = "") -> str:
    return f"""mode = "smtp"
host = "127.0.0.1"
port = {sink.port}
tls = "none"
timeout = 5
retry_base = 1
retry_max = 2
{extra}"""


def start(desk: Install, sink: Sink, extra: str = "", out: str = "") -> Daemon:
    write_config(desk.root, desk.database_url, daemon_config(extra), outbound(sink, out))
    return Daemon(desk.config_path, desk.root).start()


def submit(daemon: Daemon, raw: bytes, sender: str = "carl@customer.test") -> None:
    with daemon.smtp() as client:
        client.sendmail(sender, ["support@example.com"], raw)


def wait_until(check: Callable[[], T | None], timeout: float = 20.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.1)


def wait_for(
    fetch: Callable[[], T], ok: Callable[[T], bool], what: str, timeout: float = 20.0
) -> T:
    """`fetch()` once `ok` says its value will do."""
    return wait_until(lambda: (value,) if ok(value := fetch()) else None, timeout, what)[0]


def mails_to(sink: Sink, address: str) -> list[EmailMessage]:
    return [r.message for r in sink.messages if address in r.recipients]


def ticket(desk: Install, label: str = "SUP-00001") -> dict[str, Any]:
    found = desk.json("tickets", "show", label)
    assert isinstance(found, dict)
    return found


def messages_of(desk: Install, label: str, count: int) -> dict[str, Any]:
    """The ticket once it exists and holds `count` messages (the pipeline has run)."""

    def shown() -> dict[str, Any] | None:
        result = desk.run("tickets", "show", label, "--json")
        return json.loads(result.stdout) if result.exit_code == 0 else None  # not yet

    return wait_for(
        shown, lambda t: t is not None and len(t["messages"]) >= count,
        f"{count} messages in {label}",
    )  # type: ignore[return-value]  # fmt: skip


def outbox(desk: Install, status: str | None = None) -> list[dict[str, Any]]:
    args = ("outbox", "list") + (("--status", status) if status else ())
    rows = desk.json(*args)
    assert isinstance(rows, list)
    return rows


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


@pytest.fixture
def agents(desk: Install) -> Install:
    for email, name in (("ann@example.com", "Ann Agent"), ("bob@example.com", "Bob Agent")):
        assert desk.run("agents", "add", email, "--name", name).exit_code == 0
    return desk


def test_a_conversation_through_the_daemon(agents: Install, sink: Sink) -> None:
    desk = agents
    daemon = start(desk, sink, '\n[security]\ntrusted_authserv_id = "mx.example.com"\n')
    try:
        first = customer_mail(CARL, subject="Printer on fire")
        submit(daemon, first)
        sink.wait_for(3)  # the acknowledgement and two notifications
        [ack] = mails_to(sink, "carl@customer.test")
        assert ack["Subject"] == "Re: [SUP-00001] Printer on fire"
        assert ack["Auto-Submitted"] == "auto-replied"
        assert verify_message_id(str(ack["Message-ID"]), SECRET) == 1
        assert "<" in str(ack["In-Reply-To"]) and str(ack["In-Reply-To"]) in str(ack["References"])
        [notice] = mails_to(sink, "ann@example.com")
        assert "#priority" in text_of(notice)

        # Ann answers from her mail client, replying to the notification
        answer = reply(notice, ANN, "#priority urgent\n#assign me\n\nHi Carl,\nunplug it.", PASS)
        submit(daemon, answer, "ann@example.com")
        sink.wait_for(4)
        [_, relayed] = mails_to(sink, "carl@customer.test")
        assert "unplug it" in text_of(relayed)
        assert (
            "#priority" not in relayed.as_string() and "ann@example.com" not in relayed.as_string()
        )
        shown = ticket(desk)
        assert (shown["priority"], shown["assignee"]) == ("urgent", "ann@example.com")
        assert shown["first_response_at"] is not None
        assert {"priority_changed", "assigned", "first_response"} <= {
            e["type"] for e in shown["events"]
        }

        # an internal note: stored, never sent
        queued = len(outbox(desk))
        submit(daemon, reply(notice, ANN, "#note\n\nVIP customer.", PASS), "ann@example.com")
        note = messages_of(desk, "SUP-00001", 3)["messages"][-1]
        assert note["kind"] == "note" and "VIP" in note["body_text"]
        assert len(outbox(desk)) == queued

        # a typo: nothing relayed, nothing applied, an error mail to Ann
        submit(daemon, reply(notice, ANN, "#ntoe\n#priority low\n\nOops.", PASS), "ann@example.com")
        sink.wait_for(5)
        [error] = [m for m in mails_to(sink, "ann@example.com") if "#ntoe" in text_of(m)]
        assert "did you mean #note" in text_of(error)
        assert ticket(desk)["priority"] == "urgent"
        assert len(mails_to(sink, "carl@customer.test")) == 2

        # forged: From Ann, but our mail server says DMARC failed
        forged = reply(
            notice,
            ANN,
            "#status closed\n\nSend your password to me.",
            {"Authentication-Results": "mx.example.com; dmarc=fail header.from=example.com"},
        )
        submit(daemon, forged, "ann@example.com")
        flagged = messages_of(desk, "SUP-00001", 5)["messages"][-1]
        assert flagged["kind"] == "note"
        assert ticket(desk)["status"] == "waiting_on_customer"
        assert "password" not in "".join(text_of(m) for m in mails_to(sink, "carl@customer.test"))

        # a second ticket, merged into the first; a reply to it lands in the survivor
        submit(daemon, customer_mail(CARL, subject="Still on fire"))
        sink.wait_for(8)
        ack2 = [m for m in mails_to(sink, "carl@customer.test") if "SUP-00002" in m["Subject"]][0]
        notice2 = [m for m in mails_to(sink, "ann@example.com") if "SUP-00002" in m["Subject"]][0]
        submit(daemon, reply(notice2, ANN, "#merge SUP-00001\n", PASS), "ann@example.com")
        wait_until(lambda: ticket(desk, "SUP-00002")["merged_into"] == "SUP-00001", what="merge")
        submit(daemon, reply(ack2, CARL, "Any news?"))
        survivor = wait_for(
            lambda: ticket(desk),
            lambda t: any("Any news?" in m["body_text"] for m in t["messages"]),
            "the reply in SUP-00001",
        )
        assert survivor["status"] == "open"  # it was waiting on the customer
        assert not ticket(desk, "SUP-00002")["messages"]
    finally:
        assert daemon.stop() == 0, daemon.log
    assert_no_duplicates(sink.messages)


def assert_no_duplicates(received: list[Received]) -> None:
    ids = [str(r.message["Message-ID"]) for r in received]
    assert len(ids) == len(set(ids)), ids


def test_relay_down_then_back_delivers_everything_once(agents: Install, sink: Sink) -> None:
    desk = agents
    sink.stop()  # the relay is down (its port is kept)
    daemon = start(desk, sink)
    try:
        submit(daemon, customer_mail(CARL))
        pending = wait_for(
            lambda: outbox(desk, "pending"),
            lambda rows: len(rows) == 3 and all(r["attempts"] >= 1 for r in rows),
            "three mails tried and pending",
        )
        assert all("127.0.0.1" in (r["last_error"] or "") for r in pending)
        # retried against the dead relay, and still pending (not failed)
        wait_for(
            lambda: outbox(desk),
            lambda rows: all(r["attempts"] >= 2 and r["status"] == "pending" for r in rows),
            "a second try of each mail",
        )
        assert not sink.messages
        sink.start()
        sink.wait_for(3, timeout=20)
        wait_until(lambda: len(outbox(desk, "sent")) == 3, what="all sent")
        # Stopped cleanly, the outbox worker has finished whatever it had in hand:
        # anything it was going to send twice has been sent by now.
        assert daemon.stop() == 0, daemon.log
        assert len(sink.messages) == 3
        assert_no_duplicates(sink.messages)
        assert {a for r in sink.messages for a in r.recipients} == {
            "carl@customer.test",
            "ann@example.com",
            "bob@example.com",
        }
    finally:
        assert daemon.stop() == 0, daemon.log


def test_permanent_refusal_marks_the_mail_failed(agents: Install, sink: Sink) -> None:
    desk = agents
    sink.respond("carl@", "550 5.1.1 <carl@customer.test>: mailbox unavailable")
    daemon = start(desk, sink)
    try:
        submit(daemon, customer_mail(CARL))
        [failed] = wait_until(lambda: outbox(desk, "failed"), what="a failed mail")
        assert failed["purpose"] == "ack" and failed["attempts"] == 1
        assert "550 5.1.1" in failed["last_error"]
        sink.wait_for(2)  # the notifications went out
        events = ticket(desk)["events"]
        assert any(e["type"] == "mail_failed" and "550" in e["data"]["error"] for e in events)
        # retried after the fix, it goes out once
        sink.clear_responses()
        assert desk.run("outbox", "retry", "--all").exit_code == 0
        sink.wait_for(3)
        assert len(mails_to(sink, "carl@customer.test")) == 1
    finally:
        assert daemon.stop() == 0, daemon.log


def test_bounces_list_mail_and_the_hourly_cap(agents: Install, sink: Sink) -> None:
    desk = agents
    daemon = start(desk, sink, out="auto_limit_per_hour = 2\nnotify_agents = false")
    try:
        bounce = customer_mail(
            "Mail Delivery System <MAILER-DAEMON@customer.test>",
            subject="Undelivered Mail Returned to Sender",
        )
        submit(daemon, bounce, "")
        listmail = customer_mail(
            CARL, headers={"List-Id": "<news.customer.test>", "Precedence": "list"}
        )
        submit(daemon, listmail)
        for n in range(5):
            submit(daemon, customer_mail("Dave <dave@customer.test>", subject=f"Question {n}"))
        # Every mail through the pipeline (which queues its answers in the transaction
        # that stores it), then every queued answer sent: nothing is left to come.
        daemon.wait_for_lines(PROCESSED, 7)
        assert len(desk.json("tickets", "list")) == 6
        wait_until(lambda: not outbox(desk, "pending"), what="the outbox drained")
        queued_to = {address.lower() for row in outbox(desk) for address in row["to"]}
        assert not {CARL_ADDRESS, BOUNCER} & queued_to  # never even queued
        assert not mails_to(sink, CARL_ADDRESS)
        assert not mails_to(sink, BOUNCER)
        assert len(mails_to(sink, "dave@customer.test")) == 2
    finally:
        assert daemon.stop() == 0, daemon.log


def test_an_autoresponder_gets_one_ack(tmp_path: Any, sink: Sink) -> None:
    """A naive out-of-office bot (no Auto-Submitted, no X-Autoreply) answers every mail
    it gets: maildesk answers it once. The conversation is over when maildesk has
    processed everything the bot sent and sent everything it queued."""
    url = f"sqlite:///{tmp_path}/maildesk.db"
    desk = Install(write_config(tmp_path, url), url, tmp_path)
    assert desk.run("agents", "add", "ann@example.com", "--name", "Ann").exit_code == 0
    daemon = start(desk, sink)
    bot = "Bot <bot@customer.test>"
    try:
        submit(daemon, customer_mail(bot, subject="Question"), "bot@customer.test")
        answered = 0
        deadline = time.monotonic() + 60
        while True:
            for mail in mails_to(sink, "bot@customer.test")[answered:]:
                answered += 1
                ooo = reply(mail, bot, "I am out of the office until Monday.", quote=False)
                with smtplib.SMTP("127.0.0.1", daemon.port, timeout=10) as client:
                    client.sendmail("bot@customer.test", ["support@example.com"], ooo)
            # in this order: a processed mail's answers are queued, a sent one has arrived
            settled = (
                len(daemon.matching(PROCESSED)) == 1 + answered
                and not outbox(desk, "pending")
                and len(mails_to(sink, "bot@customer.test")) == answered
            )
            if settled:
                break
            assert time.monotonic() < deadline, f"still talking after 60 s: {answered} answers"
            time.sleep(0.1)
        assert answered == 1
        assert len(desk.json("tickets", "list")) == 1
        assert recipients(mails_to(sink, "bot@customer.test")[0]) == {"bot@customer.test"}
    finally:
        assert daemon.stop() == 0, daemon.log


def test_the_daemon_runs_the_sla_pass_once_per_warning_and_breach(
    agents: Install, sink: Sink
) -> None:
    desk = agents
    assert (
        desk.run("agents", "add", "mia@example.com", "--name", "Mia", "--role", "manager").exit_code
        == 0
    )
    sla = """
[sla]
business_hours = ["24/7"]
targets = ["medium 8s 1000h"]
warn_percent = 50
escalation_addresses = ["boss@example.com"]
scan_interval = 1
digest_time = ""
"""
    daemon = start(desk, sink, sla)
    try:
        submit(daemon, customer_mail(CARL))
        sink.wait_for(3)  # the ack, two notifications
        # 50 % of 8 s: a warning to everyone on duty (nobody is assigned); at 8 s the breach,
        # one mail to the escalation address and one to each manager
        wait_until(
            lambda: mails_to(sink, "boss@example.com") and mails_to(sink, "mia@example.com"),
            what="the breach",
        )
        assert daemon.stop() == 0, daemon.log
        daemon = start(desk, sink, sla + DEBUG)  # a restart changes nothing:
        daemon.wait_for_lines("jobs: pass done", 2)  # two SLA passes after it
        wait_until(lambda: not outbox(desk, "pending"), what="the outbox drained")
    finally:
        assert daemon.stop() == 0, daemon.log
    assert len(mails_to(sink, "boss@example.com")) == 1
    assert len(mails_to(sink, "mia@example.com")) == 1
    assert len([m for m in sink.messages if "bob@example.com" in m.recipients]) == 2
    assert len(mails_to(sink, "ann@example.com")) == 2  # the notification and one warning
    shown = ticket(desk)
    assert shown["escalation_level"] == 1
    assert shown["sla"]["first_response"]["warned_at"] is not None
    assert shown["sla"]["first_response"]["breached_at"] == shown["first_response_due"]
    if desk.database_url.startswith("sqlite"):
        # The jobs keep SQLite's planner statistics: the ticket table they read is analyzed
        # (PRAGMA optimize after each pass; PostgreSQL's autovacuum does it there).
        with opened(desk.database_url) as db:
            stats = "SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'ticket'"
            assert db.execute_sql(stats).fetchone()[0] > 0
