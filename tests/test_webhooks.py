"""Webhooks through `maildesk run`: signed events to a real receiver on loopback, for
changes made by mail (SQLite and PostgreSQL), checked with an implementation of the
Standard Webhooks specification that is not maildesk's; order per ticket, retries,
giving up and retrying by hand, the private-address guard, at least once across a
SIGKILL, and two instances on one PostgreSQL database sending each event once."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.events.signing import headers, new_secret, secret_bytes
from tests.conftest import Install, write_config
from tests.conversation import customer_mail, reply
from tests.daemon import Daemon, daemon_config
from tests.receiver import Received, Receiver
from tests.sink import Sink
from tests.test_conversation_daemon import ANN, CARL, PASS, mails_to, outbound, submit, wait_until

SECRET = new_secret()
ENV = {"HOOK_SECRET": SECRET}
LOOPBACK = 'allowed_networks = ["127.0.0.0/8"]'


def hook_config(
    receiver: Receiver,
    events: str = '["*"]',
    extra: str = "",
    section: str = LOOPBACK + "\nretry_base = 1\nretry_max = 1\ntimeout = 2",
) -> str:
    return f"""
[webhooks]
{section}

[[webhook]]
name = "crm"
url = "{receiver.url}"
events = {events}
secret_env = "HOOK_SECRET"
{extra}
"""


def start(
    desk: Install, sink: Sink, hooks: str, trusted: bool = True, env: dict[str, str] | None = None
) -> Daemon:
    extra = daemon_config(
        hooks + ('\n[security]\ntrusted_authserv_id = "mx.example.com"\n' if trusted else "")
    )
    write_config(desk.root, desk.database_url, extra, outbound(sink))
    return Daemon(desk.config_path, desk.root, env=ENV if env is None else env).start()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


@pytest.fixture
def agents(desk: Install) -> Install:
    assert desk.run("agents", "add", "ann@example.com", "--name", "Ann Agent").exit_code == 0
    return desk


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(p) for p in found]


def of_type(kind: str):  # noqa: ANN201 - a predicate
    return lambda r: r.type == kind


def test_signed_events_for_a_conversation_by_mail(agents: Install, sink: Sink) -> None:
    with Receiver() as receiver:
        daemon = start(agents, sink, hook_config(receiver))
        try:
            submit(daemon, customer_mail(CARL, subject="Printer on fire"))
            created = receiver.wait_for(1, of_type("ticket.created"))[0]
            added = receiver.wait_for(1, of_type("ticket.message.added"))[0]
            # Ann answers, assigns herself and closes it, from her mail client
            sink.wait_for(2)
            [notice] = mails_to(sink, "ann@example.com")
            answer = reply(notice, ANN, "#assign me\n#status closed\n\nUnplug it.", PASS)
            submit(daemon, answer, "ann@example.com")
            receiver.wait_for(1, of_type("ticket.closed"))
            receiver.wait_for(1, of_type("ticket.assigned"))
            receiver.wait_for(2, of_type("ticket.message.added"))
        finally:
            daemon.stop()
    for request in receiver.snapshot():
        document = request.verify(SECRET)  # the independent check of the signature
        assert document == request.document
        assert request.headers["content-type"] == "application/json"
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 120
        assert request.path == "/hooks"
    body = created.verify(SECRET)
    assert set(body) == {"type", "timestamp", "data"}
    ticket = body["data"]["ticket"]
    assert ticket["number"] == "SUP-00001" and ticket["subject"] == "Printer on fire"
    assert ticket["requester"] == {"email": "carl@customer.test", "name": "Carl Customer"}
    assert ticket["url"].endswith("/tickets/SUP-00001")
    assert body["data"]["event"]["type"] == "created"
    assert dt.datetime.fromisoformat(body["timestamp"]).tzinfo is not None
    message = added.verify(SECRET)["data"]["message"]
    assert message["kind"] == "customer" and "on fire" in message["body_text"]
    assert message["from"] == "carl@customer.test"
    ids = [r.id for r in receiver.snapshot()]
    assert len(ids) == len(set(ids))  # no event twice (all answered 200)
    assert all(i.startswith("evt_") for i in ids)
    closed = [r for r in receiver.snapshot() if r.type == "ticket.closed"][0].verify(SECRET)
    assert closed["data"]["ticket"]["status"] == "closed"
    assert (
        closed["data"]["event"]["data"] == {"before": "new", "after": "closed"}
        or closed["data"]["event"]["data"]["after"] == "closed"
    )
    # a receiver with another secret refuses them
    with pytest.raises(Exception, match="(?i)signature"):
        created.verify(new_secret())


def test_events_filter_internal_notes_and_desks(agents: Install, sink: Sink) -> None:
    with Receiver() as public, Receiver() as internal, Receiver() as other_desk:
        hooks = (
            hook_config(public, '["ticket.created", "ticket.message.added"]')
            + f"""
[[webhook]]
name = "audit"
url = "{internal.url}"
secret_env = "HOOK_SECRET"
internal = true

[[webhook]]
name = "sales"
url = "{other_desk.url}"
secret_env = "HOOK_SECRET"
desk = "sales"

[[desks]]
slug = "support"
name = "Support"
ticket_prefix = "SUP"
addresses = ["support@example.com"]

[[desks]]
slug = "sales"
name = "Sales"
ticket_prefix = "SAL"
addresses = ["sales@example.com"]
"""
        )
        daemon = start(agents, sink, hooks)
        try:
            submit(daemon, customer_mail(CARL, subject="Printer on fire"))
            sink.wait_for(2)
            [notice] = mails_to(sink, "ann@example.com")
            submit(daemon, reply(notice, ANN, "#note\n\nVIP customer.", PASS), "ann@example.com")
            notes = internal.wait_for(
                1, lambda r: r.type == "ticket.message.added" and "VIP" in r.body.decode()
            )
            note = notes[0].verify(SECRET)["data"]["message"]
            assert note["kind"] == "note" and "VIP customer" in note["body_text"]
            public.wait_for(2)
            # the public endpoint has had every event before the note's (order per ticket
            # is kept for each endpoint); give it the note's turn to come, then check
            submit(daemon, customer_mail(CARL, subject="Second"))
            public.wait_for(2, lambda r: r.type == "ticket.created")
        finally:
            daemon.stop()
    seen = public.snapshot()
    assert {r.type for r in seen} == {"ticket.created", "ticket.message.added"}
    assert not any(b"VIP" in r.body for r in seen)
    assert other_desk.snapshot() == []  # sales had no ticket
    assert {r.type for r in internal.snapshot()} >= {"ticket.created", "ticket.message.added"}


def test_order_per_ticket_kept_through_retries(agents: Install, sink: Sink) -> None:
    def flaky(request: Received, attempt: int) -> tuple[int, float]:
        # the first event of each ticket fails twice with a 503, then goes through
        return (503, 0.0) if request.type == "ticket.created" and attempt <= 2 else (200, 0.0)

    with Receiver(flaky) as receiver:
        daemon = start(agents, sink, hook_config(receiver))
        try:
            for n in range(3):
                submit(daemon, customer_mail(CARL, subject=f"Request {n}"))
            delivered = receiver.wait_for(9, lambda r: r.type == "ticket.created")
            receiver.wait_for(3, of_type("ticket.message.added"))
        finally:
            daemon.stop()
    assert len({r.id for r in delivered}) == 3  # three events, each tried three times
    requests = receiver.snapshot()
    for created in {r.id for r in delivered}:
        number = json.loads(next(r for r in requests if r.id == created).body)["data"]["ticket"][
            "number"
        ]
        mine = [r for r in requests if r.document["data"]["ticket"]["number"] == number]
        # nothing of this ticket went out before its creation got a 200
        first_ok = [i for i, r in enumerate(mine) if r.id == created][2]
        assert all(r.id == created for r in mine[: first_ok + 1])


def test_a_refused_delivery_fails_and_is_retried_by_hand(agents: Install, sink: Sink) -> None:
    answers = {"status": 400}

    def refusing(request: Received, attempt: int) -> tuple[int, float]:
        return answers["status"], 0.0

    with Receiver(refusing) as receiver:
        daemon = start(agents, sink, hook_config(receiver, '["ticket.created"]'))
        try:
            submit(daemon, customer_mail(CARL))
            [first] = receiver.wait_for(1)
            failed = wait_until(
                lambda: agents.json("webhooks", "deliveries", "--state", "failed"),
                what="a failed delivery",
            )
            [row] = failed
            assert row["type"] == "ticket.created" and row["ticket"] == "SUP-00001"
            assert row["last_status"] == 400 and row["attempts"] == 1
            listed = agents.json("webhooks", "list")
            assert listed[0]["deliveries"]["failed"] == 1 and listed[0]["name"] == "crm"
            answers["status"] = 200
            done = agents.run("webhooks", "retry", str(row["id"]))
            assert done.exit_code == 0, done.output
            [_, again] = receiver.wait_for(2)
            assert again.id == first.id and again.body == first.body  # same event, same bytes
            wait_until(
                lambda: agents.json("webhooks", "deliveries", "--state", "delivered"),
                what="delivered",
            )
            missing = agents.run("webhooks", "retry", str(row["id"]))
            assert missing.exit_code == 1 and "no failed delivery" in missing.output
        finally:
            daemon.stop()


def test_private_addresses_are_refused_unless_allowed(agents: Install, sink: Sink) -> None:
    with Receiver() as receiver:
        daemon = start(agents, sink, hook_config(receiver, section="timeout = 2"))
        try:
            submit(daemon, customer_mail(CARL))
            failed = wait_until(
                lambda: agents.json("webhooks", "deliveries", "--state", "failed"),
                what="refused deliveries",
            )
            assert "private or reserved" in failed[0]["last_error"]
            assert failed[0]["last_status"] is None
        finally:
            daemon.stop()
        assert receiver.snapshot() == []
        # the CLI refuses such an endpoint outright, naming the setting
        added = agents.run("webhooks", "add", "http://169.254.169.254/latest")
        assert added.exit_code == 1
        assert "allowed_networks" in added.output


def test_signatures_match_the_specification() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the specification's example
    body = b'{"test": 2432232314}'
    sent = headers(secret_bytes(secret), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert sent["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert base64.b64decode(new_secret()[len("whsec_") :]) != base64.b64decode(
        new_secret()[len("whsec_") :]
    )


def test_the_daemon_refuses_to_start_without_the_secret(agents: Install, sink: Sink) -> None:
    with Receiver() as receiver:
        write_config(agents.root, agents.database_url, daemon_config(hook_config(receiver)),
                     outbound(sink))  # fmt: skip
        daemon = Daemon(agents.config_path, agents.root, env={"HOOK_SECRET": ""})
        daemon.start(wait=False)
        assert daemon.proc is not None
        assert daemon.proc.wait(30) == 2
        daemon.stop()
        assert "webhook[0].secret_env" in daemon.log and "HOOK_SECRET" in daemon.log
        daemon = Daemon(agents.config_path, agents.root, env={"HOOK_SECRET": "whsec_c2hvcnQ="})
        daemon.start(wait=False)
        assert daemon.proc is not None and daemon.proc.wait(30) == 2
        daemon.stop()
        assert "bytes" in daemon.log


def test_at_least_once_across_a_sigkill(agents: Install, sink: Sink) -> None:
    """The daemon dies with deliveries in flight; after a restart every event arrives,
    and the only repeats carry the webhook-id of the first attempt."""
    slow = {"on": True}

    def hold(request: Received, attempt: int) -> tuple[int, float]:
        return 200, (1.5 if slow["on"] else 0.0)

    with Receiver(hold) as receiver:
        daemon = start(agents, sink, hook_config(receiver))
        for n in range(4):
            submit(daemon, customer_mail(CARL, subject=f"Request {n}"))
        receiver.wait_for(1)  # deliveries are in flight now
        sender = children(daemon.pid)
        assert sender, "the webhook sender runs in a process of its own"
        for pid in sender:  # the machine goes down: the sender with the daemon
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        daemon.kill()
        slow["on"] = False
        daemon = Daemon(agents.config_path, agents.root, env=ENV).start()
        try:
            receiver.wait_for(4, of_type("ticket.created"), timeout=60)
            receiver.wait_for(4, of_type("ticket.message.added"), timeout=60)
            wait_until(
                lambda: not agents.json("webhooks", "deliveries", "--state", "pending"),
                timeout=60,
                what="nothing pending",
            )
        finally:
            daemon.stop()
    requests = receiver.snapshot()
    events = agents.json("webhooks", "deliveries", "--limit", "1000")
    assert {r.id for r in requests} == {d["webhook_id"] for d in events}
    assert all(d["state"] == "delivered" for d in events)
    by_id: dict[str, set[bytes]] = {}
    for r in requests:
        by_id.setdefault(r.id, set()).add(r.body)
    assert all(len(bodies) == 1 for bodies in by_id.values())  # a repeat is the same event
    # the delivery in flight at the kill was not recorded, so it went again
    assert max(Counter(r.id for r in requests).values()) >= 2


def test_the_cli_adds_tests_and_removes_an_endpoint(agents: Install, sink: Sink) -> None:
    write_config(agents.root, agents.database_url, f"[webhooks]\n{LOOPBACK}\n")
    with Receiver() as receiver:
        added = agents.json("webhooks", "add", receiver.url, "--event", "ticket.closed")
        secret = added["secret"]
        assert secret.startswith("whsec_") and len(secret_bytes(secret)) == 32
        tried = agents.run("webhooks", "test", str(added["id"]))
        assert tried.exit_code == 0, tried.output
        assert "HTTP 200" in tried.output
        [request] = receiver.wait_for(1)
        assert request.verify(secret)["type"] == "webhook.test"
        [listed] = agents.json("webhooks", "list")
        assert listed["events"] == ["ticket.closed"] and listed["origin"] == "admin"
        assert "secret" not in listed
        assert agents.run("webhooks", "remove", str(added["id"])).exit_code == 0
        assert agents.json("webhooks", "list") == []
        assert agents.run("webhooks", "test", str(added["id"])).exit_code == 1
    bad = agents.run("webhooks", "add", "ftp://example.com/")
    assert bad.exit_code == 2 and "http" in bad.output
    unknown = agents.run("webhooks", "add", "https://example.com/", "--event", "ticket.nope")
    assert unknown.exit_code == 2


def test_a_config_endpoint_cannot_be_removed_by_the_cli(agents: Install, sink: Sink) -> None:
    with Receiver() as receiver:
        write_config(agents.root, agents.database_url, hook_config(receiver))
        [listed] = agents.json("webhooks", "list")
        assert listed["origin"] == "config" and listed["secret_env"] == "HOOK_SECRET"
        removed = agents.run("webhooks", "remove", "crm")
        assert removed.exit_code == 1 and "maildesk.toml" in removed.output
        # leaving the file switches it off
        write_config(agents.root, agents.database_url, "")
        assert agents.json("webhooks", "list") == []


@pytest.mark.parametrize(
    "hook, problem",
    [
        ('url = "ftp://x.example/"\nsecret_env = "S"', "webhook[0].url"),
        ('url = "https://x.example/"', "webhook[0].secret_env"),
        ('url = "https://x.example/"\nsecret_env = "S"\nevents = ["ticket.nope"]', "ticket.nope"),
        ('url = "https://x.example/"\nsecret_env = "S"\ndesk = "nope"', "webhook[0].desk"),
        ('url = "https://u:p@x.example/"\nsecret_env = "S"', "password"),
    ],
)
def test_bad_webhook_settings_are_named(desk: Install, hook: str, problem: str) -> None:
    write_config(desk.root, desk.database_url, f"[[webhook]]\n{hook}\n")
    result = desk.run("check-config")
    assert result.exit_code == 2
    assert problem in result.output


def test_two_endpoints_with_one_name_are_refused(desk: Install) -> None:
    hook = '[[webhook]]\nurl = "https://x.example/"\nsecret_env = "S"\n'
    write_config(desk.root, desk.database_url, hook + hook)
    result = desk.run("check-config")
    assert result.exit_code == 2 and "webhook[1].url" in result.output


def test_two_instances_on_postgresql_send_each_event_once(
    agents: Install, sink: Sink, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("several instances share a PostgreSQL database")
    with Receiver() as receiver:
        first = start(agents, sink, hook_config(receiver, section=LOOPBACK + "\nconcurrency = 4"))
        second_root = agents.root / "second"
        second_root.mkdir()
        hooks = hook_config(receiver, section=LOOPBACK + "\nconcurrency = 4")
        write_config(second_root, agents.database_url, daemon_config(hooks), outbound(sink))
        second = Daemon(second_root / "maildesk.toml", second_root, env=ENV).start()
        try:
            for n in range(15):
                submit(first if n % 2 else second, customer_mail(CARL, subject=f"Request {n}"))
            receiver.wait_for(15, of_type("ticket.created"), timeout=60)
            receiver.wait_for(15, of_type("ticket.message.added"), timeout=60)
            wait_until(
                lambda: not agents.json("webhooks", "deliveries", "--state", "pending"),
                what="nothing pending",
            )
        finally:
            first.stop()
            second.stop()
    counts = Counter(r.id for r in receiver.snapshot())
    assert len(counts) == 30 and set(counts.values()) == {1}, counts.most_common(3)


def test_a_change_on_the_web_is_sent(agents: Install, sink: Sink) -> None:
    from tests.test_web_daemon import PASSWORD, Browser

    passwd = agents.run("agents", "passwd", "ann@example.com", "--password-stdin",
                        input=PASSWORD + "\n")  # fmt: skip
    assert passwd.exit_code == 0
    with Receiver() as receiver:
        hooks = hook_config(receiver, '["ticket.updated", "ticket.assigned"]')
        write_config(agents.root, agents.database_url, daemon_config(hooks, web=True),
                     outbound(sink))  # fmt: skip
        daemon = Daemon(agents.config_path, agents.root, env=ENV).start()
        try:
            submit(daemon, customer_mail(CARL, subject="Printer on fire"))
            sink.wait_for(2)
            browser = Browser(daemon.web_port)
            status, _, _ = browser.request(
                "/login",
                {"csrf": browser.csrf("/login"), "email": "ann@example.com", "password": PASSWORD},
            )
            assert status == 303
            form = {
                "csrf": browser.csrf("/tickets/SUP-00001"),
                "was_status": "new", "status": "new",
                "was_priority": "medium", "priority": "urgent",
                "was_category": "", "category": "",
                "was_assignee": "none", "assignee": "me",
            }  # fmt: skip
            status, _, _ = browser.request("/tickets/SUP-00001/update", form)
            assert status == 303
            [assigned] = receiver.wait_for(1, of_type("ticket.assigned"))
            [updated] = receiver.wait_for(1, of_type("ticket.updated"))
        finally:
            daemon.stop()
    change = updated.verify(SECRET)["data"]
    assert change["event"]["type"] == "priority_changed"
    assert change["event"]["data"] == {"before": "medium", "after": "urgent"}
    assert change["event"]["actor"] == "ann@example.com"
    assert assigned.verify(SECRET)["data"]["ticket"]["assignee"] == "ann@example.com"


def test_check_config_names_a_missing_secret_and_a_private_url(
    desk: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = '[[webhook]]\nurl = "http://127.0.0.1:9/"\nsecret_env = "HOOK_SECRET"\n'
    write_config(desk.root, desk.database_url, hook)
    missing = desk.run("check-config")
    assert missing.exit_code == 2
    assert "webhook[0].secret_env" in missing.output and "unset" in missing.output
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    checked = desk.run("check-config")
    assert checked.exit_code == 0, checked.output
    assert "webhook[0].url: deliveries will fail" in checked.output
    assert "allowed_networks" in checked.output


def test_the_sender_process_is_restarted_and_ends_with_the_daemon(
    agents: Install, sink: Sink
) -> None:
    with Receiver() as receiver:
        daemon = start(agents, sink, hook_config(receiver, '["ticket.created"]'))
        [first] = wait_until(lambda: children(daemon.pid), what="the sender")
        os.kill(first, signal.SIGKILL)  # the sender dies: the daemon starts another
        daemon.wait_for_line("starting another")
        second = wait_until(lambda: children(daemon.pid), what="a new sender")[0]
        assert second != first
        submit(daemon, customer_mail(CARL))
        receiver.wait_for(1, of_type("ticket.created"))
        assert daemon.proc is not None
        daemon.proc.kill()  # the daemon dies: its sender sees stdin close and ends
        daemon.proc.wait(30)
        wait_until(lambda: not Path(f"/proc/{second}").exists(), what="the sender gone")
        daemon.stop()


def test_a_stop_while_the_sender_starts_ends_it(
    agents: Install, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM right as the daemon starts its sender: the sender is told to end as
    soon as it exists, rather than waited for forever."""
    import asyncio

    from maildesk.daemon.webhooks import WebhookProcess

    with Receiver() as receiver:
        write_config(
            agents.root, agents.database_url, daemon_config(hook_config(receiver, '["*"]')),
            outbound(sink),
        )  # fmt: skip
        sender = WebhookProcess(agents.config_path, {**os.environ, **ENV}, stop_timeout=20.0)
        start = asyncio.create_subprocess_exec

        async def stopped_while_starting(*args: Any, **kwargs: Any) -> Any:
            proc = await start(*args, **kwargs)
            sender.stop()  # the daemon's SIGTERM, while the sender was being started
            return proc

        monkeypatch.setattr(asyncio, "create_subprocess_exec", stopped_while_starting)

        async def run() -> int | None:
            await asyncio.wait_for(sender.run(), 30)
            await sender.finish()
            return None if sender._proc is None else sender._proc.returncode

        ended = asyncio.run(run())
        assert ended is not None  # ended (by SIGTERM: it had nothing in flight yet)
