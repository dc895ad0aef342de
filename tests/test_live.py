"""Live updates (`events.live`, `web.pages.live`): the stream of changes an agent's page
follows, who else is on a ticket, and a reply that would cross another one.

Through the real entry points, on SQLite and PostgreSQL: `maildesk run` or uvicorn
serving the app on loopback, an HTTP client reading /events/stream as a browser's
EventSource does, mail through SMTP or intake, forms posted with their CSRF tokens.
Every wait ends on a positive signal (a message on the stream), bounded.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.events.live import CLOSE, RELOAD, Note, Stream
from maildesk.events.presence import Board
from tests.conftest import SUPPORT_AND_BILLING, Install, write_config
from tests.conversation import customer_mail
from tests.daemon import Daemon, daemon_config
from tests.live_support import WAIT, Agent, Served, SseStream, served
from tests.sink import Sink
from tests.test_conversation_daemon import outbound, submit
from tests.web_support import PASSWORD, site


def is_ticket(label: str) -> Callable[[dict[str, Any]], bool]:
    return lambda data: data.get("ticket") == label


def presence_of(agent: Agent, label: str) -> str:
    status, html = agent.request(f"/tickets/{label}/presence")
    assert status == 200, (status, html)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def shows(stream: SseStream, agent: Agent, label: str, expected: str, timeout=WAIT) -> None:
    """Wait until the presence part of `label` reads `expected` for `agent`, as the page
    does it: after each "presence" message, fetch it anew."""
    deadline = time.monotonic() + timeout
    while (now := presence_of(agent, label)) != expected:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"presence shows {now!r}, not {expected!r}"
        stream.next("presence", is_ticket(label), timeout=remaining)


# -- the daemon: mail in, a change out ----------------------------------------------------


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def test_mail_taken_in_by_the_daemon_reaches_a_signed_in_agents_stream(
    desk: Install, sink: Sink
) -> None:
    added = desk.run("agents", "add", "ann@example.com", "--name", "Ann", "--password-stdin",
                     input=PASSWORD + "\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    write_config(desk.root, desk.database_url, daemon_config(web=True), outbound(sink))
    daemon = Daemon(desk.config_path, desk.root).start()
    ann = Agent(daemon.web_port)
    try:
        anonymous = ann.stream(ready=False)
        assert anonymous.status == 401  # not signed in: nothing streams
        ann.sign_in("ann@example.com")
        stream = ann.stream()
        assert stream.headers["content-type"].startswith("text/event-stream")
        submit(daemon, customer_mail(subject="Printer on fire"))
        added_message = stream.next("change", lambda d: d["type"] == "message_added")
        assert added_message["ticket"] == "SUP-00001"
        assert isinstance(added_message["message"], int)
        # the page the browser then fetches shows it
        status, page = ann.request("/tickets/SUP-00001")
        assert status == 200 and f'id="m{added_message["message"]}"' in page
        # a reply from the web (the daemon's own commit) is heard as well
        token = ann.csrf("/tickets/SUP-00001")
        status, _ = ann.request(
            "/tickets/SUP-00001/reply",
            {"csrf": token, "text": "Unplug it.", "kind": "reply"},
        )
        assert status == 303
        mine = stream.next("change", lambda d: d["type"] == "message_added")
        assert mine["message"] > added_message["message"]
        # an open stream does not hold up the daemon's shutdown: it is ended
        started = time.monotonic()
        assert daemon.stop() == 0, daemon.log
        assert time.monotonic() - started < 10
        stream.next("closed")
    finally:
        ann.close()
        if daemon.proc is not None and daemon.proc.poll() is None:
            assert daemon.stop() == 0, daemon.log


# -- scope: an agent hears only of the tickets they see -----------------------------------


@pytest.fixture
def two_desks(tmp_path: Path, database_url: str) -> Iterator[Served]:
    with served(tmp_path, database_url, SUPPORT_AND_BILLING) as running:
        running.add_agent("sam@example.com", "Sam Support", "--desk", "support")
        running.add_agent("bill@example.com", "Bill Billing", "--desk", "billing")
        yield running


def test_an_agent_of_one_desk_hears_nothing_of_another_desks_tickets(two_desks: Served) -> None:
    site = two_desks
    site.runtime.ingest(customer_mail(subject="Printer on fire"), source="test")
    bill, sam = site.agent("bill@example.com"), site.agent("sam@example.com")
    try:
        # what an attacker of the billing desk would try with a support ticket's label
        assert bill.stream("/events/stream?ticket=SUP-00001", ready=False).status == 404
        assert bill.request("/tickets/SUP-00001/presence")[0] == 404
        token = bill.csrf("/")
        assert (
            bill.request("/tickets/SUP-00001/presence", {"csrf": token, "state": "replying"})[0]
            == 404
        )
        assert bill.stream("/events/stream?ticket=NOPE-1", ready=False).status == 404
        billing, support = bill.stream(), sam.stream()
        on_ticket = sam.stream("/events/stream?ticket=SUP-00001")
        # a support mail, then a billing one: each desk's agent hears of theirs only
        site.runtime.ingest(
            customer_mail("Carl <carl@customer.test>", subject="Still burning"), source="test"
        )
        site.runtime.ingest(
            customer_mail("Dora <dora@customer.test>", subject="Refund", to="billing@example.com"),
            source="test",
        )
        site.runtime.ingest(
            customer_mail("Eve <eve@customer.test>", subject="Hello"), source="test"
        )
        heard = billing.skipped_until("change", lambda d: d["ticket"].startswith("BIL-"))
        labels = {data.get("ticket") for _, data in heard}
        assert all(not str(label).startswith("SUP-") for label in labels), heard
        last = support.skipped_until("change", lambda d: d["ticket"] == "SUP-00004")
        assert all(not str(d.get("ticket", "")).startswith("BIL-") for _, d in last), last
        # a ticket page's stream: that ticket only (the mail of SUP-00002 is not its)
        sam_token = sam.csrf("/tickets/SUP-00001")
        sam.request("/tickets/SUP-00001/reply", {"csrf": sam_token, "text": "On it.",
                                                 "kind": "note"})  # fmt: skip
        mine = on_ticket.skipped_until("change", lambda d: d["type"] == "message_added")
        assert {d.get("ticket") for _, d in mine if d} == {"SUP-00001"}, mine
    finally:
        bill.close()
        sam.close()


# -- presence -----------------------------------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path, database_url: str) -> Iterator[Served]:
    with served(tmp_path, database_url, presence_seconds=1.5) as running:
        running.add_agent("ann@example.com", "Ann Agent")
        running.add_agent("bob@example.com", "Bob Agent")
        running.runtime.ingest(customer_mail(subject="Printer on fire"), source="test")
        yield running


def test_agents_on_one_ticket_see_each_other_viewing_and_replying(pair: Served) -> None:
    ann, bob = pair.agent("ann@example.com"), pair.agent("bob@example.com")
    path = "/events/stream?ticket=SUP-00001"
    try:
        ann_stream = ann.stream(path)
        assert presence_of(ann, "SUP-00001") == ""  # nobody else yet, and never herself
        bob_stream = bob.stream(path)
        shows(ann_stream, ann, "SUP-00001", "Bob Agent is viewing")
        assert presence_of(bob, "SUP-00001") == "Ann Agent is viewing"
        status, page = ann.request("/tickets/SUP-00001")  # the page itself shows it too
        assert "Bob Agent is viewing" in page

        # typing in the reply box: a post with the page's CSRF token, nothing without
        assert bob.request("/tickets/SUP-00001/presence", {"state": "replying"})[0] == 403
        token = bob.csrf("/tickets/SUP-00001")
        answer = bob.request("/tickets/SUP-00001/presence", {"csrf": token, "state": "replying"})
        assert answer[0] == 204
        shows(ann_stream, ann, "SUP-00001", "Bob Agent is replying")

        # Bob stops typing: "replying" runs out, "viewing" lasts while his page is open
        shows(ann_stream, ann, "SUP-00001", "Bob Agent is viewing")
        assert bob_stream.status == 200

        # Bob's page goes away: at once, without waiting for his mark to run out
        bob_stream.close()
        started = time.monotonic()
        shows(ann_stream, ann, "SUP-00001", "")
        assert time.monotonic() - started < 1.5
    finally:
        ann.close()
        bob.close()


def test_presence_of_a_page_that_went_away_without_a_word_runs_out(pair: Served) -> None:
    ann, bob = pair.agent("ann@example.com"), pair.agent("bob@example.com")
    try:
        ann_stream = ann.stream("/events/stream?ticket=SUP-00001")
        token = bob.csrf("/tickets/SUP-00001")
        # Bob's page told us he types, then was gone (no stream, no goodbye)
        assert (
            bob.request("/tickets/SUP-00001/presence", {"csrf": token, "state": "replying"})[0]
            == 204
        )
        shows(ann_stream, ann, "SUP-00001", "Bob Agent is replying")
        started = time.monotonic()
        shows(ann_stream, ann, "SUP-00001", "")  # it ran out by itself
        assert time.monotonic() - started < 5
    finally:
        ann.close()
        bob.close()


def test_presence_board_forgets_and_tells_what_changed() -> None:
    now = [100.0]
    board = Board(clock=lambda: now[0])
    assert board.mark(7, 1, "Ann", "viewing", 30) is True
    assert board.mark(7, 1, "Ann", "viewing", 30) is False  # renewed: nothing to tell
    assert board.mark(7, 2, "Bob", "replying", 10) is True
    assert [(p.name, p.state) for p in board.shown(7)] == [("Ann", "viewing"), ("Bob", "replying")]
    now[0] += 11
    assert board.expire() == [7]  # Bob's mark ran out
    assert board.expire() == []
    now[0] += 30
    assert board.expire() == [7] and board.shown(7) == ()
    with pytest.raises(ValueError):
        board.mark(7, 1, "Ann", "typing", 30)


# -- a slow browser ---------------------------------------------------------------------


def test_a_stream_that_is_not_read_holds_a_bounded_queue_and_then_says_reload() -> None:
    async def fill() -> None:
        stream = Stream(1, "Ann", None, None, size=5)
        for index in range(1000):
            stream.offer(Note("change", f"SUP-{index:05d}"))
            assert stream.queue.qsize() <= 5
        assert stream.overflows > 0
        notes = [stream.queue.get_nowait() for _ in range(stream.queue.qsize())]
        assert RELOAD in notes  # the browser fetches its page anew instead
        assert notes[-1].ticket == "SUP-00999"  # and hears what came after
        stream.close()
        assert await stream.next(1.0) is CLOSE

    asyncio.run(fill())


# -- collisions ---------------------------------------------------------------------------


def test_a_reply_crossing_another_message_is_held_until_sent_anyway(
    tmp_path: Path, database_url: str
) -> None:
    with site(tmp_path, database_url) as s:
        s.add_agent("ann@example.com", "Ann Agent")
        s.add_agent("bob@example.com", "Bob Agent")
        s.ingest(customer_mail(subject="Printer on fire"))
        assert s.sign_in("ann@example.com").status_code == 303
        bob = s.another_browser()
        assert bob.sign_in("bob@example.com").status_code == 303
        page = s.client.get("/tickets/SUP-00001").text
        seen = re.search(r'name="seen" value="(\d+)"', page)
        assert seen
        token = s.csrf("/tickets/SUP-00001")

        def messages() -> list[dict]:
            return s.desk.json("tickets", "show", "SUP-00001")["messages"]

        # Ann's own note meanwhile is no collision; Bob's reply is
        posted = s.client.post("/tickets/SUP-00001/reply", follow_redirects=False, data={
            "csrf": token, "text": "A note to self.", "kind": "note", "seen": seen.group(1),
        })  # fmt: skip
        assert posted.status_code == 303
        reply = {"csrf": token, "text": "Hi Carl, unplug it.", "kind": "reply"}
        ok = s.client.post("/tickets/SUP-00001/reply", follow_redirects=False,
                           data={**reply, "seen": seen.group(1)})  # fmt: skip
        assert ok.status_code == 303, ok.text  # her own note did not hold her reply
        page = s.client.get("/tickets/SUP-00001").text
        seen = re.search(r'name="seen" value="(\d+)"', page)
        assert seen
        bob_token = bob.csrf("/tickets/SUP-00001")
        bob.client.post("/tickets/SUP-00001/reply", follow_redirects=False, data={
            "csrf": bob_token, "text": "Carl, I am sending a new printer.", "kind": "reply",
        })  # fmt: skip
        s.ingest(customer_mail(subject="Re: [SUP-00001] Printer on fire", body="Now it melts."))
        before = len(messages())

        draft = "Hi Carl,\nplease stand back."
        held = s.client.post("/tickets/SUP-00001/reply", follow_redirects=False,
                             data={**reply, "text": draft, "seen": seen.group(1)})  # fmt: skip
        assert held.status_code == 409
        assert "Your reply was not sent" in held.text
        assert "a reply from Bob Agent" in held.text
        assert "the customer&#39;s reply from Carl Customer" in held.text
        assert "please stand back.</textarea>" in held.text  # the draft is kept
        assert "Send anyway" in held.text
        assert len(messages()) == before  # nothing was sent

        # one more click: the form as the held page has it
        newest = re.search(r'name="seen" value="(\d+)"', held.text)
        assert newest and int(newest.group(1)) > int(seen.group(1))
        assert 'name="anyway" value="1"' in held.text
        sent = s.client.post("/tickets/SUP-00001/reply", follow_redirects=False, data={
            **reply, "text": draft, "seen": newest.group(1), "anyway": "1",
        })  # fmt: skip
        assert sent.status_code == 303
        assert messages()[-1]["body_text"].strip().endswith("please stand back.")

        # the live page asks what came since the page it writes on: shown, not held
        later = s.client.get(f"/tickets/SUP-00001?seen={seen.group(1)}").text
        assert "came while you were writing" in later and "Your reply was not sent" not in later


# -- several instances on one PostgreSQL --------------------------------------------------


def test_a_change_through_one_instance_reaches_a_stream_on_another(
    tmp_path: Path, database_url: str
) -> None:
    if not database_url.startswith("postgres"):
        pytest.skip("instances share a database on PostgreSQL only")
    with (
        served(tmp_path, database_url, config_name="one.toml") as one,
        served(tmp_path, database_url, config_name="two.toml") as two,
    ):
        one.add_agent("ann@example.com", "Ann Agent")
        one.add_agent("bob@example.com", "Bob Agent")
        one.runtime.ingest(customer_mail(subject="Printer on fire"), source="test")
        assert two.live.listener is not None
        ann = two.agent("ann@example.com")
        bob = one.agent("bob@example.com")
        try:
            queue_stream = ann.stream()
            ticket_stream = ann.stream("/events/stream?ticket=SUP-00001")
            # Bob opens the ticket on instance one: Ann, on two, sees him there
            bob.stream("/events/stream?ticket=SUP-00001")
            shows(ticket_stream, ann, "SUP-00001", "Bob Agent is viewing", timeout=5)
            # his reply through instance one reaches Ann's streams on two, by NOTIFY
            # (instance two polls only every 15 s)
            token = bob.csrf("/tickets/SUP-00001")
            status, _ = bob.request(
                "/tickets/SUP-00001/reply", {"csrf": token, "text": "Unplug it.", "kind": "reply"}
            )
            assert status == 303
            change = queue_stream.next("change", lambda d: d["type"] == "message_added", 5)
            assert change["ticket"] == "SUP-00001"
            ticket_stream.next("change", lambda d: d["message"] == change["message"], 5)
        finally:
            ann.close()
            bob.close()
