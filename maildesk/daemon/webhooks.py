"""The webhook worker in a process of its own, beside `maildesk run`.

Sending webhooks costs CPU per request (a signed POST each, 2,000 a second at 100
mails a second and 10 endpoints); in the daemon's process it would share one
interpreter lock with the pipeline, and slow the mail down. So the daemon starts
`maildesk webhooks work` (a child, hidden from `--help`) that runs `events.worker`
on its own database connection, and wakes it through its stdin (a byte, at most
every `WAKE_DELAY` seconds) whenever the daemon has committed events. Nothing else
passes between them: the deliveries are rows, so a child that dies loses nothing
(the daemon starts another after a pause, and the leases of what was in flight
run out). The child stops when its stdin closes (the daemon stops, or dies) or on
SIGTERM, after the deliveries in flight. It takes the daemon's configuration file
and environment, `.env` included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from concurrent.futures import Executor
from pathlib import Path

import peewee

from maildesk.config import Config
from maildesk.daemon import logs
from maildesk.events.worker import WebhookWorker
from maildesk.settings.desks import Desks
from maildesk.settings.fields import Fields
from maildesk.store.db import open_database
from maildesk.store.executor import DbExecutor
from maildesk.tickets.desk import utcnow

log = logging.getLogger(__name__)

WAKE_DELAY = 0.02  # seconds: wakes closer together than this are sent as one
RESTART_PAUSE = 1.0  # seconds before a child that died is started again; doubles
RESTART_MAX = 60.0
NICE = 10  # the child's CPU priority below the daemon's (see `work`)


class WebhookProcess:
    """The daemon's handle on the child: `run` keeps one alive until `stop`."""

    def __init__(self, config_path: Path, environ: Mapping[str, str], stop_timeout: float):
        self._command = [
            sys.executable, "-m", "maildesk", "webhooks", "work", "--config", str(config_path),
        ]  # fmt: skip
        self._environ = dict(environ)
        self._stop_timeout = stop_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = asyncio.Event()
        self._wake_due = False

    def wake(self) -> None:
        """Events were committed: tell the child (soon, once for several)."""
        if self._wake_due or self._proc is None:
            return
        self._wake_due = True
        asyncio.get_running_loop().call_later(WAKE_DELAY, self._send_wake)

    def _send_wake(self) -> None:
        self._wake_due = False
        proc = self._proc
        if proc is not None and proc.stdin is not None and proc.returncode is None:
            with contextlib.suppress(OSError, RuntimeError):
                proc.stdin.write(b"w")

    def stop(self) -> None:
        self._stopping.set()
        self._tell_to_stop()

    def _tell_to_stop(self) -> None:
        """The child finishes what is in flight, then exits (a child still starting up
        has nothing in flight: SIGTERM ends it at once)."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        if proc.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                proc.stdin.close()

    async def run(self) -> None:
        pause = RESTART_PAUSE
        while not self._stopping.is_set():
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *self._command, stdin=asyncio.subprocess.PIPE, env=self._environ
                )
            except OSError as exc:
                outcome = f"could not be started ({exc.strerror or exc})"
            else:
                log.info("webhooks: sender started, pid %d", self._proc.pid)
                if self._stopping.is_set():  # `stop` came while it was being started
                    self._tell_to_stop()
                outcome = f"exited with {await self._proc.wait()}"
            if self._stopping.is_set():
                break
            log.error("webhooks: the sender %s; starting another in %.0f s", outcome, pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)
            pause = min(RESTART_MAX, pause * 2)

    async def finish(self) -> None:
        """After `stop`: wait for the child, then make sure it is gone."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        try:
            await asyncio.wait_for(proc.wait(), self._stop_timeout)
        except TimeoutError:
            log.warning("webhooks: the sender is still busy; stopping it")
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def work(config: Config, environ: Mapping[str, str]) -> None:
    """The child: the webhook worker until stdin closes or SIGTERM."""
    logs.configure(config.logging.level)
    # Mail first: when the CPU is short (a burst of mail), the daemon taking it in runs
    # before the sender, and the deliveries catch up as soon as the burst is taken.
    with contextlib.suppress(OSError):
        os.nice(NICE)
    db = open_database(config.database.url)
    if isinstance(db, peewee.SqliteDatabase):
        # Everything this process writes follows from what the daemon wrote with a
        # full sync (the event log): a delivery row, a cursor move, a lease or a
        # result that a power cut takes back is written again (the pass runs again, the
        # row is sent again under its webhook-id). So its commits need not wait for
        # the disk, and do not.
        db.pragma("synchronous", "normal", permanent=True)
    executor = DbExecutor(db, 1, "webhooks")
    worker = WebhookWorker(
        db,
        executor,
        Desks.from_config(config),
        Fields.from_config(config),
        config.webhooks,
        environ,
        utcnow,
    )
    try:
        asyncio.run(_serve(worker))
    finally:
        _close(executor)
        db.close()


async def _serve(worker: WebhookWorker) -> None:
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, False)

    def readable() -> None:
        try:
            data = os.read(stdin, 4096)
        except BlockingIOError:
            return
        if data:
            worker.wake()
        else:  # the daemon closed it, or died
            loop.remove_reader(stdin)
            worker.stop()

    loop.add_reader(stdin, readable)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    await worker.run()


def _close(executor: Executor) -> None:
    executor.shutdown(wait=True)
