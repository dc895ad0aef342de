"""Forwards and tickets opened by agents through the real daemon: mail in with smtplib,
mail out to an aiosmtpd sink playing the relay. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Install, write_config
from tests.conversation import customer_mail, text_of
from tests.daemon import Daemon, daemon_config
from tests.sink import Sink
from tests.test_conversation_daemon import (
    PASS,
    agents,  # noqa: F401 - a fixture
    mails_to,
    outbound,
    sink,  # noqa: F401 - a fixture
    submit,
    ticket,
    wait_until,
)
from tests.test_forwards import ANN, ORIGINAL, inline_forward

TRUSTED = '\n[security]\ntrusted_authserv_id = "mx.example.com"\n'
CHECKOUT = Path(__file__).resolve().parents[1]  # the daemon runs this checkout's code


def start(desk: Install, relay: Sink) -> Daemon:
    write_config(desk.root, desk.database_url, daemon_config(TRUSTED), outbound(relay))
    return Daemon(desk.config_path, desk.root, env={"PYTHONPATH": str(CHECKOUT)}).start()


def test_forwards_and_tickets_to_customers_through_the_daemon(
    agents: Install,  # noqa: F811
    sink: Sink,  # noqa: F811
) -> None:
    desk = agents
    daemon = start(desk, sink)
    try:
        # Ann forwards Carl's mail from her own inbox (Outlook, German)
        submit(daemon, inline_forward("outlook-de", headers=PASS), "ann@example.com")
        [notice] = wait_until(lambda: mails_to(sink, "bob@example.com"), what="Bob notified")
        assert "[SUP-00001] Printer on fire" in str(notice["Subject"])
        assert "my printer is on fire" in text_of(notice)
        first = ticket(desk)
        assert first["requester"]["email"] == "carl@customer.test"
        assert [m["body_text"] for m in first["messages"]][0] == ORIGINAL

        # Ann writes to Dora: a ticket opened to her, the text sent from the desk address
        body = (
            "#requester dora@customer.test Dora\n#tag outreach\n\nHello Dora,\nyour order shipped."
        )
        submit(
            daemon,
            customer_mail(ANN, subject="Your order", body=body, headers=PASS),
            "ann@example.com",
        )
        [sent] = wait_until(lambda: mails_to(sink, "dora@customer.test"), what="Dora's mail")
        assert sent["Subject"] == "[SUP-00002] Your order"
        assert sent["From"].addresses[0].addr_spec == "support@example.com"
        assert "your order shipped." in text_of(sent) and "/t/SUP-00002/" in text_of(sent)
        assert "#requester" not in text_of(sent)
        second = ticket(desk, "SUP-00002")
        assert (second["status"], second["assignee"], second["tags"]) == (
            "waiting_on_customer",
            "ann@example.com",
            ["outreach"],
        )

        # the same "forward" without proof that Ann sent it: nobody else becomes requester
        forged = inline_forward("gmail", top="#requester eve@evil.test")
        submit(daemon, forged, "ann@example.com")
        told = wait_until(
            lambda: [
                m for m in mails_to(sink, "ann@example.com") if "not taken as yours" in text_of(m)
            ],
            what="Ann told why",
        )
        assert len(told) == 1
        third = ticket(desk, "SUP-00003")
        assert third["requester"]["email"] == "ann@example.com"
        assert mails_to(sink, "carl@customer.test") == mails_to(sink, "eve@evil.test") == []
    finally:
        assert daemon.stop() == 0, daemon.log
