"""No single message and no flood stalls the desk or fills mailboxes: a message with
huge headers through the real SMTP listener, and bursts from rotating addresses.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from maildesk.core.message.limits import MAX_ADDRESSES, MAX_MESSAGE_IDS, MAX_SUBJECT
from maildesk.store.db import open_database
from maildesk.store.models import Blob, Intake
from tests.conftest import Desk, write_config
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


def test_a_message_with_huge_headers_is_bounded_and_kept_whole(desk: Desk) -> None:
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

    db = open_database(desk.database_url)
    try:
        intake = Intake.get(Intake.message_id == "<huge@customer.test>")
        assert Blob.get_by_id(intake.raw_id).size == len(raw)  # the raw message, whole
        stored = intake.messages.get()
        assert len(stored.references) <= MAX_MESSAGE_IDS
        assert stored.references[0] == "<ref0@customer.test>"
        assert stored.references[-1] == "<ref999@customer.test>"
    finally:
        db.close()
