"""@mentions and followers through the real daemon: mail in with smtplib, mail out to
an aiosmtpd sink playing the relay. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Install, write_config
from tests.conversation import customer_mail, reply, text_of
from tests.daemon import Daemon, daemon_config
from tests.sink import Sink
from tests.test_conversation_daemon import (
    ANN,
    CARL,
    mails_to,
    messages_of,
    outbound,
    submit,
    ticket,
    wait_for,
)

# The daemon runs this checkout's code, whichever copy of maildesk is installed.
SOURCE = str(Path(__file__).resolve().parents[1])


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


@pytest.fixture
def team(desk: Install) -> Install:
    for email, name in (("ann@example.com", "Ann Agent"), ("bob@example.com", "Bob Agent")):
        assert desk.run("agents", "add", email, "--name", name).exit_code == 0
    return desk


def test_mentions_and_followers_through_the_daemon(team: Install, sink: Sink) -> None:
    write_config(team.root, team.database_url, daemon_config(), outbound(sink))
    path = os.pathsep.join(filter(None, [SOURCE, os.environ.get("PYTHONPATH")]))
    daemon = Daemon(team.config_path, team.root, {"PYTHONPATH": path}).start()
    try:
        submit(daemon, customer_mail(CARL, subject="Printer on fire"))
        sink.wait_for(3)  # the acknowledgement, Ann's and Bob's notifications
        [notice] = mails_to(sink, "ann@example.com")

        # Ann takes the ticket and mentions Bob in a note, replying to her notification
        note = reply(notice, ANN, "#note\n#assign me\n\n@bob is the toner on order?")
        submit(daemon, note, "ann@example.com")
        sink.wait_for(4)
        told = mails_to(sink, "bob@example.com")[-1]
        assert "Ann Agent mentioned you" in text_of(told)
        assert "is the toner on order?" in text_of(told)
        assert "/tickets/SUP-00001" in text_of(told)
        assert told["Reply-To"].addresses[0].addr_spec.startswith("support+r-1-")
        assert len(mails_to(sink, "carl@customer.test")) == 1  # the acknowledgement only

        # A mention in a reply to the customer: held, Ann told, Carl gets nothing
        public = reply(notice, ANN, "Hi Carl, @bob will bring toner.")
        submit(daemon, public, "ann@example.com")
        sink.wait_for(5)
        error = mails_to(sink, "ann@example.com")[-1]
        assert "@bob" in text_of(error) and "would reach them" in text_of(error)
        assert len(mails_to(sink, "carl@customer.test")) == 1
        assert messages_of(team, "SUP-00001", 3)["messages"][-1]["kind"] == "note"

        # Carl writes again: Ann (assignee) and Bob (follower) hear of it, once each
        submit(daemon, customer_mail(CARL, subject="Re: [SUP-00001] Printer on fire"))
        sink.wait_for(7)
        assert len(mails_to(sink, "ann@example.com")) == 3
        assert len(mails_to(sink, "bob@example.com")) == 3
        assert "my printer is on fire" in text_of(mails_to(sink, "bob@example.com")[-1])
        shown = wait_for(lambda: ticket(team), lambda t: len(t["messages"]) == 4, "4 messages")
        assert shown["assignee"] == "ann@example.com"
        followed = [e["data"] for e in shown["events"] if e["type"] == "followed"]
        assert followed == [{"agent": "bob@example.com", "how": "mention"}]
    finally:
        daemon.stop()
