"""No single message and no flood stalls the desk or fills mailboxes: a message with
huge headers through the real SMTP listener, and bursts from rotating addresses.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from maildesk.core.message.limits import MAX_ADDRESSES, MAX_MESSAGE_IDS, MAX_SUBJECT
from maildesk.store.fields import UTCDateTimeField
from maildesk.store.models import Blob, Intake
from tests.conftest import Install, opened, write_config
from tests.conversation import customer_mail
from tests.daemon import Daemon, daemon_config
from tests.test_conversation_daemon import wait_for, wait_until


def folded(name: str, words: list[str]) -> bytes:
    """A header field folded at about 70 characters a line, as mail software folds."""
    lines, line = [], f"{name}:"
    for word in words:
        if len(line) + len(word) > 70:
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return "\r\n".join(lines).encode() + b"\r\n"


def huge_headers_mail() -> bytes:
    """10 MB of Subject, 1,000 References, 500 Cc and a 5,000-character name."""
    return (
        b'From: "' + b"N" * 5000 + b'" <carl@customer.test>\r\n'
        b"To: support@example.com\r\n"
        + folded("Cc", [f"cc{i}@customer.test," for i in range(500)])
        + b"Message-ID: <huge@customer.test>\r\n"
        + folded("References", [f"<ref{i}@customer.test>" for i in range(1000)])
        + folded("Subject", ["overflow"] * 1_150_000)
        + b"\r\n"
        + b"Hello, see the subject.\r\n"
    )


def test_a_message_with_huge_headers_is_bounded_and_kept_whole(desk: Install) -> None:
    raw = huge_headers_mail()
    assert len(raw) > 10_000_000
    write_config(desk.root, desk.database_url, daemon_config())
    daemon = Daemon(desk.config_path, desk.root).start()
    try:
        with daemon.smtp() as client:
            client.sendmail("carl@customer.test", ["support@example.com"], raw)
            client.sendmail(
                "dana@customer.test", ["support@example.com"], customer_mail("dana@customer.test")
            )
        wait_for(lambda: desk.json("tickets", "list"), lambda t: len(t) == 2, "two tickets")
        outbox = Path(desk.root) / "outbox" / "new"
        acks = wait_until(
            lambda: sorted(outbox.glob("*")) if len(list(outbox.glob("*"))) >= 2 else None
        )
    finally:
        daemon.stop()

    ticket = desk.json("tickets", "show", "SUP-00001")
    assert ticket["subject"].startswith("overflow overflow")
    assert len(ticket["subject"]) <= MAX_SUBJECT
    [message] = ticket["messages"]
    assert len(message["subject"]) <= MAX_SUBJECT
    assert len(ticket["requester"]["name"]) <= 200
    assert 0 < len(ticket["cc"]) <= MAX_ADDRESSES
    for ack in acks:
        assert ack.stat().st_size < 64_000  # was 24 MB: the whole subject, twice
    [row] = [
        r
        for r in desk.json("outbox", "list")
        if r["ticket"] == "SUP-00001" and r["purpose"] == "ack"
    ]
    assert len(row["subject"]) <= MAX_SUBJECT + len("Re: [SUP-00001] ")

    with opened(desk.database_url):
        intake = Intake.get(Intake.message_id == "<huge@customer.test>")
        assert Blob.get_by_id(intake.raw_id).size == len(raw)  # the raw message, whole
        stored = intake.messages.get()
        assert len(stored.references) <= MAX_MESSAGE_IDS
        assert stored.references[0] == "<ref0@customer.test>"
        assert stored.references[-1] == "<ref999@customer.test>"


AGENTS = ("ann@example.com", "bob@example.com")


def with_agents(desk: Install) -> Install:
    for email in AGENTS:
        assert desk.run("agents", "add", email, "--name", email.split("@")[0]).exit_code == 0
    return desk


def ingest_all(desk: Install, folder: Path, mails: list[bytes]) -> list[dict[str, Any]]:
    """The mails as .eml files in one folder, taken in by one `maildesk ingest`."""
    folder.mkdir()
    for n, raw in enumerate(mails):
        (folder / f"{n:04}.eml").write_bytes(raw)
    result = desk.run("ingest", "--json", str(folder))
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def mail_counts(desk: Install) -> Counter[tuple[str, str]]:
    """(purpose, status) of every mail in the outbox."""
    return Counter((row["purpose"], row["status"]) for row in desk.json("outbox", "list"))


def stored_messages(desk: Install) -> int:
    tickets = desk.json("tickets", "list")
    return sum(len(desk.json("tickets", "show", t["number"])["messages"]) for t in tickets)


def test_a_rotating_autoresponder_is_one_sender(desk: Install, tmp_path: Path) -> None:
    """robot+1@, robot+2@, ...: the default caps hold it to 20 tickets, 10 acknowledgements
    (the rest held, visible) and one notification per ticket and agent; every message
    is stored."""
    with_agents(desk)
    burst = [
        customer_mail(f"Robot <robot+{n}@bot.test>", subject=f"Re: your mail {n}")
        for n in range(60)
    ]
    lines = ingest_all(desk, tmp_path / "burst", burst)
    actions = Counter(line["action"] for line in lines)
    assert actions == {"created": 20, "appended": 40}
    assert len(desk.json("tickets", "list")) == 20
    assert stored_messages(desk) == 60
    counts = mail_counts(desk)
    assert counts[("ack", "pending")] == 10
    assert counts[("ack", "held")] == 10
    assert counts[("notify_new", "pending")] == 20 * len(AGENTS)
    assert sum(counts.values()) == 10 + 10 + 20 * len(AGENTS)  # no notify_reply at all

    held = desk.json("outbox", "list", "--status", "held")
    assert len(held) == 10
    assert all("robot@bot.test had 10 automatic mails" in row["last_error"] for row in held)
    events = desk.json("tickets", "show", held[0]["ticket"])["events"]
    assert any(e["type"] == "mail_held" and e["data"]["outbox"] == held[0]["id"] for e in events)
    # An admin may still send a held mail, by its ID.
    assert desk.run("outbox", "retry", str(held[0]["id"])).exit_code == 0
    assert mail_counts(desk)[("ack", "held")] == 9


def test_many_real_customers_of_one_domain_are_unaffected(desk: Install, tmp_path: Path) -> None:
    with_agents(desk)
    burst = [
        customer_mail(f"Customer {n} <customer{n}@bigmail.test>", subject=f"Question {n}")
        for n in range(60)
    ]
    lines = ingest_all(desk, tmp_path / "burst", burst)
    assert Counter(line["action"] for line in lines) == {"created": 60}
    counts = mail_counts(desk)
    assert counts == {("ack", "pending"): 60, ("notify_new", "pending"): 60 * len(AGENTS)}


def test_a_robot_answering_from_ever_new_addresses_meets_the_domain_caps(
    desk: Install, tmp_path: Path
) -> None:
    write_config(
        desk.root,
        desk.database_url,
        "[tickets]\nmax_new_per_domain_per_hour = 5\n",
        "auto_limit_per_domain_per_hour = 3",
    )
    with_agents(desk)
    burst = [customer_mail(f"a{n}@bot.test", subject=f"Auto {n}") for n in range(8)]
    lines = ingest_all(desk, tmp_path / "burst", burst)
    assert [line["action"] for line in lines] == ["created"] * 8  # a ticket each: not lost
    counts = mail_counts(desk)
    assert counts == {
        ("ack", "pending"): 3,
        ("ack", "held"): 5,
        ("notify_new", "pending"): 5 * len(AGENTS),
    }
    quiet = desk.json("tickets", "show", "SUP-00008")["events"]
    assert any(e["type"] == "rate_limited" and "bot.test" in e["data"]["reason"] for e in quiet)


def test_tickets_opened_just_before_the_upgrade_count_toward_the_cap(desk: Install) -> None:
    """Migration 0008 fills in the rate columns of recent tickets: a robot that opened
    its share just before the upgrade is capped just after it."""
    import datetime as dt

    from playhouse.migrations import Runner

    from maildesk.store.db import MIGRATIONS_DIR

    write_config(desk.root, desk.database_url, "[tickets]\nmax_new_per_sender_per_hour = 2\n")
    with opened(desk.database_url) as db:
        runner = Runner(db, directory=str(MIGRATIONS_DIR))
        names = [m.name for m in runner.migrations()]
        runner.up(target=names[names.index("0008_redelivery_and_floods") - 1])
        stamp = UTCDateTimeField().db_value(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
        for n in (1, 2):
            db.execute_sql(
                "INSERT INTO contact (email, name, created_at)"
                f" VALUES ({db.param}, '', {db.param})",
                (f"robot+{n}@bot.test", stamp),
            )
            contact = db.execute_sql(
                f"SELECT id FROM contact WHERE email = {db.param}", (f"robot+{n}@bot.test",)
            ).fetchone()[0]
            db.execute_sql(
                "INSERT INTO ticket (number, subject, status, priority, requester_id, automated,"
                " created_at, updated_at, sla_paused_seconds, escalation_level,"
                " first_response_carried_seconds, resolution_carried_seconds)"
                f" VALUES ({', '.join([db.param] * 12)})",
                (9000 + n, "Auto", "new", "medium", contact, False, stamp, stamp, 0, 0, 0, 0),
            )

    assert desk.run("db", "upgrade").exit_code == 0
    [line] = desk.ingest(customer_mail("Robot <robot+3@bot.test>", subject="Auto 3"))
    assert (line["action"], line["ticket"]) == ("appended", "SUP-09002")
