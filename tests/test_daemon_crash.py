"""Crash safety of `maildesk run`: mail keeps arriving from several clients while the
daemon is killed with SIGKILL at random moments and restarted. Every message that
received a 250 is stored exactly once and becomes exactly one ticket (SQLite and
PostgreSQL), with its bytes in the database, a folder or an S3 bucket.

The clients behave like MTAs: a message that got no 250 (connection refused or
lost, a 4xx) is sent again until it gets one, so a message committed just before
a kill, whose 250 was lost, arrives twice and must be recognised.
"""

from __future__ import annotations

import hashlib
import os
import random
import smtplib
import threading
import time
from dataclasses import dataclass, field

import pytest

from maildesk.config import load_config, read_environ
from maildesk.store import repo
from maildesk.store.blobs import Blobs, attach
from maildesk.store.models import Blob, Intake, Message, Quarantine, Ticket
from tests.conftest import Install, opened, write_config
from tests.daemon import Daemon, daemon_config
from tests.storage import s3_server, storage_for  # noqa: F401
from tests.test_daemon import SUPPORT, mail

SLOW = os.environ.get("MAILDESK_SLOW_TESTS") == "1"
DEADLINE = 300.0  # seconds: every loop below ends by then
RETRY_PAUSE = 0.02  # seconds between attempts at the same message
THINK = 0.05  # seconds between a 250 and the next message


@dataclass
class Traffic:
    """Clients sending new messages for as long as the daemon is being killed (at least
    `min_per_client` each), every message until it got a 250, wherever the daemon is."""

    clients: int
    min_per_client: int
    port: int | None = None  # None while the daemon is down
    sent: list[str] = field(default_factory=list)  # Message-IDs, each sent until a 250
    accepted: dict[str, int] = field(default_factory=dict)  # Message-ID -> 250s received
    errors: list[str] = field(default_factory=list)
    attempts: int = 0
    failures: int = 0  # attempts that got no 250
    in_flight: int = 0  # transfers begun whose reply has not come yet
    changed: threading.Condition = field(default_factory=threading.Condition)
    kills_done: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run_client(self, client: int) -> None:
        n = 0
        while not (self.kills_done.is_set() and n >= self.min_per_client):
            message_id = f"<c{client}-{n}@customer.example>"
            with self.lock:
                self.sent.append(message_id)
            raw = mail(
                f"Crash test {client}-{n}",
                sender=f"client{client}.{n}@customer.example",
                message_id=message_id,
                body=f"Message {n} of client {client}.\n" * 50,
            )
            while not self._deliver(raw, f"client{client}.{n}@customer.example"):
                if self.stop.is_set():
                    return
                time.sleep(RETRY_PAUSE)
            with self.lock:
                self.accepted[message_id] = self.accepted.get(message_id, 0) + 1
            n += 1
            time.sleep(THINK)

    def _deliver(self, raw: bytes, sender: str) -> bool:
        port = self.port
        if port is None:
            return False
        with self.changed:
            self.attempts += 1
            self.in_flight += 1
            self.changed.notify_all()
        try:
            smtp = smtplib.SMTP("127.0.0.1", port, timeout=10)
            try:
                smtp.sendmail(sender, [SUPPORT], raw)
            finally:
                smtp.close()  # no QUIT: the 250 is what counts
        except smtplib.SMTPResponseException as exc:
            self._landed(failed=True)
            if exc.smtp_code >= 500:
                self.errors.append(f"{sender}: {exc.smtp_code} {exc.smtp_error!r}")
                self.stop.set()
            return False
        except (OSError, smtplib.SMTPException):
            self._landed(failed=True)
            return False  # refused, reset, lost: the daemon is down or was killed
        self._landed(failed=False)
        return True

    def _landed(self, failed: bool) -> None:
        with self.changed:
            self.in_flight -= 1
            self.failures += failed

    def wait_for_transfer(self, timeout: float) -> None:
        """Return once some client is in the middle of a transfer (or after `timeout`)."""
        with self.changed:
            self.changed.wait_for(lambda: self.in_flight > 0, timeout)


def crash_and_recover(
    desk: Install, kills: int, clients: int, min_per_client: int, storage: str = ""
) -> None:
    """`storage`: a [storage] section (default: bytes in the database)."""
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    write_config(desk.root, desk.database_url, storage + daemon_config())
    daemon = Daemon(desk.config_path, desk.root)
    traffic = Traffic(clients, min_per_client)
    threads = [
        threading.Thread(target=traffic.run_client, args=(c,), daemon=True) for c in range(clients)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + DEADLINE
    try:
        for _ in range(kills):
            daemon.start()
            traffic.port = daemon.port
            time.sleep(rng.uniform(0.05, 0.4))
            traffic.wait_for_transfer(timeout=5.0)  # so that the kill hits one
            traffic.port = None
            daemon.kill()
            assert time.monotonic() < deadline, "too slow"
        daemon.start()
        traffic.port = daemon.port
        traffic.kills_done.set()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not traffic.errors, traffic.errors
        assert not any(t.is_alive() for t in threads), f"undelivered after {DEADLINE} s"
        wait_until_processed(desk.database_url, len(traffic.sent), deadline)
        assert daemon.stop() == 0, daemon.log
    finally:
        traffic.stop.set()
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.kill()
    check_stored_exactly_once(desk.database_url, traffic, kills, seed)


def wait_until_processed(url: str, count: int, deadline: float) -> None:
    with opened(url):
        while True:
            processed = Intake.select().where(Intake.state != "pending").count()
            if processed >= count or time.monotonic() > deadline:
                return
            time.sleep(0.1)


def check_stored_exactly_once(url: str, traffic: Traffic, kills: int, seed: int) -> None:
    expected = traffic.sent
    assert sorted(traffic.accepted) == sorted(expected), f"seed {seed}"
    with opened(url):
        intakes = [row.message_id for row in Intake.select(Intake.message_id)]
        messages = [row.message_id for row in Message.select(Message.message_id)]
        assert sorted(intakes) == sorted(expected), f"intake rows, seed {seed}"
        assert sorted(messages) == sorted(expected), f"message rows, seed {seed}"
        assert Ticket.select().count() == len(expected), f"seed {seed}"
        assert Intake.select().where(Intake.state != "processed").count() == 0
        assert Quarantine.select().count() == 0
    # The kills really hit the traffic: each came while a transfer was under way, so
    # attempts failed and were repeated (a kill just after the 250 went out misses).
    assert traffic.failures >= kills // 4, (traffic.failures, traffic.attempts, len(expected))
    assert traffic.attempts == len(expected) + traffic.failures


def test_sigkill_under_load_loses_and_duplicates_nothing(desk: Install) -> None:
    crash_and_recover(desk, kills=20, clients=4, min_per_client=10)


@pytest.mark.parametrize("backend", ["filesystem", "s3"])
def test_sigkill_with_bytes_outside_the_database_loses_nothing(
    desk: Install,
    backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = storage_for(backend, desk.root, request, monkeypatch)
    crash_and_recover(desk, kills=8, clients=3, min_per_client=6, storage=storage.section)
    config = load_config(desk.config_path)
    with opened(desk.database_url) as db:
        attach(db, Blobs(config.storage, read_environ()))
        for blob in Blob.select():  # every committed row names complete bytes
            assert blob.location == backend
            assert hashlib.sha256(repo.blob_bytes(blob.sha256)).hexdigest() == blob.sha256


@pytest.mark.slow
@pytest.mark.skipif(not SLOW, reason="soak test: set MAILDESK_SLOW_TESTS=1")
def test_sigkill_soak(desk: Install) -> None:
    crash_and_recover(desk, kills=150, clients=8, min_per_client=50)
