"""`#reply-linked` through the real daemon: the incident's reply reaches each linked
ticket's customers as a mail of their own, at an aiosmtpd sink playing the relay.
On SQLite and PostgreSQL."""

from __future__ import annotations

from email.message import EmailMessage

from tests.conftest import Install
from tests.conversation import customer_mail, reply, text_of
from tests.sink import Sink
from tests.test_conversation_daemon import (
    ANN,
    CARL,
    agents,
    mails_to,
    outbox,
    sink,
    start,
    submit,
    ticket,
    wait_for,
)

__all__ = ["agents", "sink"]  # fixtures, used by name


def notice_of(sink: Sink, label: str) -> EmailMessage:
    return next(m for m in mails_to(sink, "ann@example.com") if f"[{label}]" in m["Subject"])


def test_reply_linked_mails_each_customer_once(agents: Install, sink: Sink) -> None:
    desk = agents
    assert desk.run("agents", "set", "bob@example.com", "--away").exit_code == 0
    daemon = start(desk, sink)
    try:
        submit(daemon, customer_mail("Eric <eric@customer.test>", subject="Mail is down"))
        sink.wait_for(2)  # the acknowledgement and Ann's notification, in order
        submit(daemon, customer_mail(CARL, subject="Cannot send"))
        sink.wait_for(4)
        fay = "Fay <fay@customer.test>"
        submit(daemon, customer_mail("Dora <dora@customer.test>", subject="No mail", cc=fay))
        sink.wait_for(6)
        for label in ("SUP-00002", "SUP-00003"):
            answer = reply(notice_of(sink, label), ANN, "#incident SUP-1\n#note\n", quote=False)
            submit(daemon, answer, "ann@example.com")
        wait_for(
            lambda: ticket(desk, "SUP-00001"),
            lambda t: len(t["links"]) == 2,
            "two tickets linked to the incident",
        )

        body = "#reply-linked\n\nThe mail server is back."
        submit(
            daemon, reply(notice_of(sink, "SUP-00001"), ANN, body, quote=False), "ann@example.com"
        )
        sink.wait_for(10)
        for address, label, count in (
            ("eric@customer.test", "SUP-00001", 2),  # the acknowledgement, the answer
            ("carl@customer.test", "SUP-00002", 2),
            ("dora@customer.test", "SUP-00003", 2),
            ("fay@customer.test", "SUP-00003", 1),  # a CC: the answer only
        ):
            got = mails_to(sink, address)
            assert len(got) == count
            answered = got[-1]
            assert f"[{label}]" in answered["Subject"]
            assert "The mail server is back." in text_of(answered)
        rows = wait_for(
            lambda: outbox(desk), lambda r: all(x["status"] == "sent" for x in r), "sent"
        )
        assert len(rows) == len(sink.messages) == 10  # nobody got a second copy
    finally:
        assert daemon.stop() == 0, daemon.log
