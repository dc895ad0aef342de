"""The IMAP poller against a real Dovecot on loopback: IDLE, commit before move,
\\Seen mode, reconnects, UIDVALIDITY changes, bad credentials, TLS, crash safety.

Mail reaches the mailbox by IMAP APPEND from the test, as another client's
delivery would. Pollers run on threads exactly as the daemon runs them; the
storage-specific tests run on SQLite and PostgreSQL, and two instances on one
PostgreSQL share a mailbox (one polls it, the other takes over when it stops).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import selectors
import signal
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import peewee
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from maildesk.config import ImapConfig
from maildesk.core.message import header_message_id
from maildesk.inbound import intake
from maildesk.inbound.imap import DEFAULT_TIMING, ImapPoller, ImapTiming, _unread_input
from maildesk.inbound.intake import Accepted
from maildesk.store.models import ImapState, Intake
from maildesk.tickets.desk import utcnow
from tests import dovecot
from tests.conftest import opened
from tests.dovecot import Certificate, Dovecot

pytestmark = pytest.mark.skipif(
    not dovecot.available(),
    reason=f"Dovecot not installed ({dovecot.DOVECOT}): run scripts/setup --test "
    "as root on Debian to install dovecot-imapd",
)

T = TypeVar("T")

SEEN = rb"\Seen"
DELETED = rb"\Deleted"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
ENVIRON = {"PW_ALICE": "alice-pw", "PW_BOB": "bob-pw", "PW_WRONG": "not-the-password"}
FAST = ImapTiming(
    idle_renew=60, idle_check=0.05, backoff_start=0.05, backoff_max=0.4, timeout=5, lock_retry=0.1
)
WAIT = 10.0  # upper bound of every wait; the tests are done long before


def mail(tag: str) -> bytes:
    return (
        f"From: Customer <customer@example.org>\r\nTo: support@example.com\r\n"
        f"Subject: {tag}\r\nDate: Mon, 06 Jan 2025 10:00:00 +0000\r\n"
        f"Message-ID: <{tag}@example.org>\r\n\r\nAbout {tag}.\r\n"
    ).encode()


def mid(tag: str) -> str:
    return f"<{tag}@example.org>"


def wait_for(
    get: Callable[[], T],
    what: str,
    until: Callable[[T], object] = bool,
    timeout: float = WAIT,
) -> T:
    """Poll `get()` until `until(value)` holds (default: the value is truthy); return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}: {value!r}")
        time.sleep(0.02)


# ---- fixtures -------------------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[Callable[..., Dovecot]]:
    """Starts Dovecot instances (keyword arguments as `Dovecot`'s); removes them at teardown."""
    started: list[Dovecot] = []

    def start(**options: object) -> Dovecot:
        instance = Dovecot(USERS, **options)  # type: ignore[arg-type]
        started.append(instance)
        instance.start()
        return instance

    yield start
    for instance in started:
        instance.close()


@pytest.fixture
def server(servers: Callable[..., Dovecot]) -> Dovecot:
    return servers()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return dovecot.make_certificate(tmp_path_factory.mktemp("tls"))


def _database(url: str) -> Iterator[peewee.Database]:
    with opened(url, migrate=True) as db:
        yield db


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[peewee.Database]:
    yield from _database(f"sqlite:///{tmp_path}/maildesk.db")


@pytest.fixture
def any_db(database_url: str) -> Iterator[peewee.Database]:
    yield from _database(database_url)


class Pollers:
    """Pollers on worker threads, as the daemon runs them, committing into `db`."""

    def __init__(self, db: peewee.Database) -> None:
        self.db = db
        self.accepted: list[Accepted] = []
        self._running: list[tuple[threading.Event, threading.Thread]] = []

    def commit(self, raw: bytes, source: str) -> Accepted:
        """What the daemon's accept does (minus waking the pipeline)."""
        accepted = intake.accept(self.db, raw, source=source, now=utcnow())
        self.accepted.append(accepted)
        return accepted

    def start(
        self,
        server: Dovecot,
        user: str = "alice",
        *,
        accept: Callable[[bytes, str], Accepted] | None = None,
        timing: ImapTiming = FAST,
        ssl_context: ssl.SSLContext | None = None,
        **settings: object,
    ) -> threading.Event:
        mailbox = ImapConfig(
            host="127.0.0.1",
            port=server.port,
            tls="none",
            username=user,
            password_env=f"PW_{user.upper()}",
            folder="INBOX",
            processed_folder="Processed",
            poll_interval=1,
        )
        mailbox = dataclasses.replace(mailbox, **settings)  # type: ignore[arg-type]
        poller = ImapPoller(
            mailbox,
            accept or self.commit,
            db=self.db,
            environ=ENVIRON,
            ssl_context=ssl_context,
            timing=timing,
        )
        stop = threading.Event()
        thread = threading.Thread(target=poller.run, args=(stop,), name=f"imap-{user}")
        thread.start()
        self._running.append((stop, thread))
        return stop

    def stop_all(self) -> float:
        """Stop every poller; returns how long the slowest took to return."""
        started = time.monotonic()
        for stop, _ in self._running:
            stop.set()
        for _, thread in self._running:
            thread.join(timeout=WAIT)
            assert not thread.is_alive(), f"{thread.name} did not stop"
        self._running.clear()
        return time.monotonic() - started

    def message_ids(self) -> list[str]:
        return sorted(str(row.message_id) for row in Intake.select(Intake.message_id))


@pytest.fixture
def pollers(sqlite_db: peewee.Database) -> Iterator[Pollers]:
    running = Pollers(sqlite_db)
    yield running
    running.stop_all()


@pytest.fixture
def any_pollers(any_db: peewee.Database) -> Iterator[Pollers]:
    running = Pollers(any_db)
    yield running
    running.stop_all()


@pytest.fixture
def imap_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="maildesk.imap")
    return caplog


def lines(log: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in log.records if r.name == "maildesk.imap" and text in r.getMessage()]


# ---- the tests ----------------------------------------------------------------------


def test_mail_appended_during_idle_is_committed_then_moved(
    server: Dovecot, pollers: Pollers, imap_log: pytest.LogCaptureFixture
) -> None:
    server.append("alice", "INBOX", mail("waiting"))
    pollers.start(server)
    wait_for(lambda: pollers.message_ids() == [mid("waiting")], "the waiting mail")
    wait_for(lambda: not server.messages("alice", "INBOX"), "INBOX emptied")
    assert lines(imap_log, "waiting with IDLE") and lines(imap_log, "created folder Processed")

    appended = time.monotonic()
    server.append("alice", "INBOX", mail("pushed"))
    wait_for(lambda: len(pollers.message_ids()) == 2, "the pushed mail", timeout=5)
    assert time.monotonic() - appended < 3

    processed = wait_for(
        lambda: server.messages("alice", "Processed"), "both moved", lambda f: len(f) == 2
    )
    assert all(SEEN not in flags for flags in processed.values())  # BODY.PEEK: still unread
    assert not server.messages("alice", "INBOX")
    committed = lines(imap_log, "committed as intake")
    assert [r.getMessage().split(": ", 1)[1] for r in committed] == [
        f"uid 1 committed as intake {pollers.accepted[0].intake_id}",
        f"uid 2 committed as intake {pollers.accepted[1].intake_id}",
    ]


def test_failed_commit_leaves_the_message_untouched_until_the_next_pass(
    server: Dovecot, pollers: Pollers, imap_log: pytest.LogCaptureFixture
) -> None:
    attempts: list[str] = []
    looked = threading.Event()

    def flaky(raw: bytes, source: str) -> Accepted:
        attempts.append(source)
        if len(attempts) == 1:
            raise peewee.OperationalError("database is locked")
        looked.wait(WAIT)
        return pollers.commit(raw, source)

    server.append("alice", "INBOX", mail("flaky"))
    pollers.start(server, accept=flaky)
    wait_for(lambda: attempts, "the first attempt")
    inbox = server.messages("alice", "INBOX")
    assert list(inbox) == [mid("flaky")]
    assert SEEN not in inbox[mid("flaky")] and DELETED not in inbox[mid("flaky")]
    assert not server.messages("alice", "Processed") and not pollers.message_ids()
    looked.set()

    wait_for(lambda: pollers.message_ids() == [mid("flaky")], "the retried commit")
    wait_for(lambda: list(server.messages("alice", "Processed")) == [mid("flaky")], "the move")
    assert not server.messages("alice", "INBOX")
    assert len(attempts) == 2 and attempts[0] == attempts[1]
    assert attempts[0].startswith("imap://alice@127.0.0.1:") and attempts[0].endswith(";UID=1")
    (failure,) = lines(imap_log, "commit failed")
    assert failure.levelno == logging.ERROR
    assert "uid 1 stays on the server: database is locked; retrying in" in failure.getMessage()


def test_seen_mode_flags_mail_and_remembers_the_last_uid(
    server: Dovecot, any_pollers: Pollers
) -> None:
    fetched: list[str] = []

    def counting(raw: bytes, source: str) -> Accepted:
        fetched.append(str(header_message_id(raw)))
        return any_pollers.commit(raw, source)

    server.append("alice", "INBOX", mail("read-before"), flags=[SEEN])
    server.append("alice", "INBOX", mail("unread"))
    any_pollers.start(server, accept=counting, processed_folder="")
    wait_for(lambda: SEEN in server.messages("alice", "INBOX")[mid("unread")], "\\Seen set")
    assert any_pollers.message_ids() == [mid("unread")]  # the one read before is not taken
    wait_for(lambda: ImapState.get().last_uid == 2, "last_uid saved")

    # Marked unread again by someone: not taken again (its UID is behind us); new mail is.
    with server.client("alice") as client:
        client.select_folder("INBOX")
        client.remove_flags([2], [SEEN])
    server.append("alice", "INBOX", mail("later"))
    wait_for(lambda: len(any_pollers.message_ids()) == 2, "the later mail")
    assert fetched == [mid("unread"), mid("later")]
    assert set(server.messages("alice", "INBOX")) == {
        mid(t) for t in ("read-before", "unread", "later")
    }
    with server.client("alice") as client:
        assert not client.folder_exists("Processed")
    wait_for(lambda: ImapState.get().last_uid == 3, "last_uid saved")


def test_reconnects_after_the_server_restarts(
    server: Dovecot, pollers: Pollers, imap_log: pytest.LogCaptureFixture
) -> None:
    pollers.start(server)
    server.append("alice", "INBOX", mail("before"))
    wait_for(lambda: pollers.message_ids() == [mid("before")], "mail before the restart")

    server.stop()
    wait_for(lambda: lines(imap_log, "connection failed"), "the poller noticing")
    server.start()
    server.append("alice", "INBOX", mail("after"))
    wait_for(lambda: len(pollers.message_ids()) == 2, "mail after the restart")
    wait_for(lambda: len(server.messages("alice", "Processed")) == 2, "both moved")
    assert all(r.levelno == logging.WARNING for r in lines(imap_log, "connection failed"))
    assert len(lines(imap_log, "connected;")) >= 2


def test_uidvalidity_change_rescans_without_duplicates(
    server: Dovecot, any_pollers: Pollers, imap_log: pytest.LogCaptureFixture
) -> None:
    with server.client("alice") as client:
        client.create_folder("Support")
    server.append("alice", "Support", mail("one"), mail("two"))
    any_pollers.start(server, folder="Support", processed_folder="")
    wait_for(lambda: any_pollers.message_ids() == [mid("one"), mid("two")], "the first two")
    before = wait_for(ImapState.get, "last_uid 2", lambda state: state.last_uid == 2)

    # The folder is deleted and recreated (new UIDVALIDITY, UIDs from 1 again) and
    # the old mail comes back unread beside a new message.
    with server.client("alice") as client:
        client.delete_folder("Support")
        client.create_folder("Support")
    server.append("alice", "Support", mail("one"), mail("two"), mail("three"))

    wait_for(lambda: len(any_pollers.message_ids()) == 3, "the new message")
    assert any_pollers.message_ids() == sorted([mid("one"), mid("two"), mid("three")])
    wait_for(
        lambda: all(SEEN in f for f in server.messages("alice", "Support").values()),
        "all three flagged",
    )
    after = wait_for(ImapState.get, "last_uid 3", lambda state: state.last_uid == 3)
    assert after.uidvalidity != before.uidvalidity
    assert lines(imap_log, f"UIDVALIDITY changed from {before.uidvalidity}")
    assert [a.duplicate for a in any_pollers.accepted] == [False, False, True, True, False]


def test_wrong_password_is_logged_and_retried_while_another_mailbox_works(
    server: Dovecot, pollers: Pollers, imap_log: pytest.LogCaptureFixture
) -> None:
    pollers.start(server, "alice", password_env="PW_WRONG")
    pollers.start(server, "bob")
    server.append("bob", "INBOX", mail("for-bob"))
    wait_for(lambda: pollers.message_ids() == [mid("for-bob")], "bob's mail")

    failures = wait_for(lambda: lines(imap_log, "login failed"), "a retry", lambda x: len(x) > 1)
    assert all(r.levelno == logging.ERROR for r in failures)
    expected = (
        f"alice@127.0.0.1:{server.port}/INBOX: login failed: "
        "[AUTHENTICATIONFAILED] Authentication failed.; retrying in "
    )
    assert failures[0].getMessage().startswith(expected)
    assert "not-the-password" not in imap_log.text and "\n" not in failures[0].getMessage()
    assert not any(r.exc_info for r in failures)


def test_missing_password_variable_is_logged_not_raised(
    server: Dovecot, pollers: Pollers, imap_log: pytest.LogCaptureFixture
) -> None:
    pollers.start(server, password_env="PW_NOBODY_SET")
    (first, *_) = wait_for(lambda: lines(imap_log, "no password"), "the error")
    assert "environment variable PW_NOBODY_SET is unset or empty; retrying in" in first.getMessage()


@pytest.mark.parametrize("capability", ["UIDPLUS", "no UIDPLUS"])
def test_server_without_idle_and_move_is_polled_and_copied(
    capability: str,
    servers: Callable[..., Dovecot],
    pollers: Pollers,
    imap_log: pytest.LogCaptureFixture,
) -> None:
    basic = "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE"
    server = servers(capability=f"{basic} UIDPLUS" if capability == "UIDPLUS" else basic)
    server.append("alice", "INBOX", mail("old"), mail("deleted-by-someone"))
    with server.client("alice") as client:  # \Deleted mail is never taken
        client.select_folder("INBOX")
        client.add_flags([2], [DELETED])
    pollers.start(server)
    wait_for(lambda: pollers.message_ids() == [mid("old")], "the first poll")
    server.append("alice", "INBOX", mail("polled"))
    wait_for(lambda: len(pollers.message_ids()) == 2, "the next poll", timeout=4)
    wait_for(lambda: len(server.messages("alice", "Processed")) == 2, "both copied")
    inbox = server.messages("alice", "INBOX")
    # UID EXPUNGE removes only ours; a plain EXPUNGE every \Deleted message.
    expected = [mid("deleted-by-someone")] if capability == "UIDPLUS" else []
    assert list(inbox) == expected
    assert lines(imap_log, "connected; polling every 1 s")


def test_refused_idle_falls_back_to_polling(
    server: Dovecot,
    pollers: Pollers,
    imap_log: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(client: IMAPClient) -> None:
        raise IMAPClientError("Unexpected IDLE response: b'A001 BAD Not now'")

    monkeypatch.setattr(IMAPClient, "idle", refuse)
    pollers.start(server)
    (failure,) = wait_for(lambda: lines(imap_log, "IDLE failed"), "the refusal")
    assert failure.levelno == logging.WARNING
    wait_for(lambda: lines(imap_log, "connected; polling every 1 s"), "polling")
    server.append("alice", "INBOX", mail("polled"))
    wait_for(lambda: pollers.message_ids() == [mid("polled")], "the polled mail", timeout=4)


@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_tls_modes(
    tls: str, certificate: Certificate, servers: Callable[..., Dovecot], pollers: Pollers
) -> None:
    server = servers(certificate=certificate)
    port = server.tls_port if tls == "ssl" else server.port
    pollers.start(server, tls=tls, port=port, ssl_context=certificate.client_context())
    server.append("alice", "INBOX", mail(f"over-{tls}"))
    wait_for(lambda: pollers.message_ids() == [mid(f"over-{tls}")], "mail over TLS")


def test_untrusted_certificate_is_refused_and_retried(
    certificate: Certificate,
    servers: Callable[..., Dovecot],
    pollers: Pollers,
    imap_log: pytest.LogCaptureFixture,
) -> None:
    server = servers(certificate=certificate)
    pollers.start(server, tls="ssl", port=server.tls_port)  # system CAs only
    server.append("alice", "INBOX", mail("never"))
    failures = wait_for(
        lambda: lines(imap_log, "certificate not trusted"), "a retry", lambda x: len(x) > 1
    )
    assert "CERTIFICATE_VERIFY_FAILED" in failures[0].getMessage()
    assert failures[0].levelno == logging.ERROR and not pollers.message_ids()


def test_stop_returns_promptly_while_idling(
    server: Dovecot, pollers: Pollers, imap_log: pytest.LogCaptureFixture
) -> None:
    imap_log.set_level(logging.DEBUG, logger="maildesk.imap")
    pollers.start(server, timing=dataclasses.replace(DEFAULT_TIMING, timeout=5))
    wait_for(lambda: lines(imap_log, ": in IDLE"), "the poller inside IDLE")
    assert pollers.stop_all() < DEFAULT_TIMING.idle_check + 1


def test_mail_announced_with_the_idle_continuation_is_seen(server: Dovecot) -> None:
    """Dovecot sends mail that arrived just before IDLE in the packet of "+ idling"."""
    with server.client("alice") as client:
        client.select_folder("INBOX")
        client.idle()
        assert not _unread_input(client, 5)
        client.idle_done()
        server.append("alice", "INBOX", mail("just-before"))
        client.idle()
        assert _unread_input(client, 5)
        assert (1, b"EXISTS") in client.idle_done()[1]


CRASHING_POLLER = textwrap.dedent(
    """
    import os, sys, threading
    from maildesk.config import ImapConfig
    from maildesk.inbound import intake
    from maildesk.inbound.imap import ImapPoller
    from maildesk.tickets.desk import utcnow
    from maildesk.store.db import open_database

    url, port = sys.argv[1], int(sys.argv[2])
    db = open_database(url)

    def accept(raw, source):
        accepted = intake.accept(db, raw, source=source, now=utcnow())
        print("committed", accepted.intake_id, flush=True)
        threading.Event().wait()  # SIGKILLed here: committed, never moved

    mailbox = ImapConfig("127.0.0.1", port, "none", "alice", "PW_ALICE", "INBOX", "Processed", 60)
    ImapPoller(mailbox, accept, db=db, environ=os.environ).run(threading.Event())
    """
)


def test_killed_between_commit_and_move_refetches_and_stores_once(
    server: Dovecot, any_pollers: Pollers, database_url: str
) -> None:
    server.append("alice", "INBOX", mail("crash"))
    env = {**os.environ, "PW_ALICE": USERS["alice"]}
    command = [sys.executable, "-c", CRASHING_POLLER, database_url, str(server.port)]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        assert child.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            assert selector.select(WAIT), "the child never committed"
        line = child.stdout.readline().decode()
        os.kill(child.pid, signal.SIGKILL)
        _, errors = child.communicate()
    assert line.startswith("committed "), errors.decode()
    assert any_pollers.message_ids() == [mid("crash")]
    assert list(server.messages("alice", "INBOX")) == [mid("crash")]  # never acknowledged

    any_pollers.start(server)  # the restart
    wait_for(lambda: list(server.messages("alice", "Processed")) == [mid("crash")], "the move")
    assert any_pollers.message_ids() == [mid("crash")]
    (refetched,) = any_pollers.accepted
    assert refetched.duplicate and refetched.intake_id == int(line.split()[1])


def test_two_instances_poll_one_mailbox_once_and_take_over(
    server: Dovecot, any_db: peewee.Database, imap_log: pytest.LogCaptureFixture
) -> None:
    """Two instances on one PostgreSQL with the same mailbox (each poller on a thread,
    so on a database session, of its own): every message is fetched once and moved
    once; when the instance polling it stops, the other takes the mailbox over."""
    if not isinstance(any_db, peewee.PostgresqlDatabase):
        pytest.skip("SQLite: one instance per database file, no lock to share")
    tags = [f"shared{i}" for i in range(12)]
    server.append("alice", "INBOX", *(mail(tag) for tag in tags[:6]))
    instances = [Pollers(any_db), Pollers(any_db)]
    try:
        for instance in instances:
            instance.start(server)
        wait_for(lambda: instances[0].message_ids(), "the first mail", lambda ids: len(ids) == 6)
        for tag in tags[6:]:  # one at a time: IDLE wakes both instances for each
            server.append("alice", "INBOX", mail(tag))
        moved = wait_for(
            lambda: server.messages("alice", "Processed"), "all moved", lambda f: len(f) == 12
        )
        assert sorted(moved) == sorted(mid(tag) for tag in tags)
        assert not server.messages("alice", "INBOX")
        fetched = [a for instance in instances for a in instance.accepted]
        assert len(fetched) == 12 and not any(a.duplicate for a in fetched)
        holder, other = sorted(instances, key=lambda i: len(i.accepted), reverse=True)
        assert not other.accepted
        assert lines(imap_log, "another instance polls this mailbox")

        holder.stop_all()  # its thread closes its connection: the lock goes with it
        server.append("alice", "INBOX", mail("after"))
        wait_for(lambda: other.accepted, "the other instance taking over")
        wait_for(lambda: mid("after") in server.messages("alice", "Processed"), "the move")
        assert [a.duplicate for a in other.accepted] == [False]
        assert lines(imap_log, "taking over the mailbox")
    finally:
        for instance in instances:
            instance.stop_all()


def test_a_message_taken_in_by_smtp_is_a_duplicate_when_it_comes_by_imap(
    server: Dovecot, any_pollers: Pollers
) -> None:
    """The same message by SMTP (CRLF, as received) and then from a mailbox (another
    route: trace fields on top, trailing blanks): one intake."""
    by_smtp = mail("twice").replace(b"About twice.", b"About twice.\r\nFrom me,\r\nCustomer")
    first = intake.accept(any_pollers.db, by_smtp, source="smtp:test", now=utcnow())
    by_imap = (
        b"Return-Path: <customer@example.org>\r\nDelivered-To: support@example.com\r\n"
        b"Received: from mx.example.org by imap.example.com; Mon, 06 Jan 2025 10:00:01 +0000\r\n"
        + by_smtp.replace(b"Customer\r\n", b"Customer  \r\n")
        + b"\r\n"
    )
    server.append("alice", "INBOX", by_imap)
    any_pollers.start(server)
    wait_for(lambda: any_pollers.accepted, "the IMAP copy taken in")
    [again] = any_pollers.accepted
    assert again.duplicate and again.intake_id == first.intake_id
    assert Intake.select().count() == 1
