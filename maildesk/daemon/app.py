"""Composition root of the daemon (`maildesk run`): build, start, serve, stop.

    config -> database (migrated) -> desk: the services, once (tickets.desk)
           -> pipeline (pipeline.flow) -> pipeline worker (pipeline.worker)
           -> outbox worker -> relay or maildir (outbound.worker)
           -> jobs: SLA pass, auto-close, daily digest (jobs.runner)
           -> webhooks: the event log's cursor, signed deliveries (events.worker),
              in a process of its own (daemon.webhooks)
           -> live updates: event log follower, streams, presence (events.live)
           -> web view (web.app), served by uvicorn (web.server)
           -> SMTP/LMTP listener (inbound.smtp)
           -> IMAP pollers, one thread per [[imap]] (inbound.imap)
    signals: SIGTERM/SIGINT stop, SIGHUP reloads; systemd: READY, STOPPING, WATCHDOG

Everything runs on one asyncio loop; database work runs in `DbExecutor`
threads (peewee is synchronous): one set commits incoming mail (grouped:
`inbound.group_commit`), one thread runs the pipeline in short batches that
give way to those commits (`pipeline.worker.Share`), so processing keeps up
with a steady stream of mail and delays an acknowledgement by one batch at most.
Nothing here is global: `Daemon` is built from the config it is given and
the CLI (`maildesk.cli`) is the only caller.

Shutdown order: stop accepting (close server sockets, stop pollers), let
transfers in flight finish within `[daemon] shutdown_timeout` (idle sessions
get 421, what is left after that is closed: the sender retries), stop the
pipeline worker after the message in hand, then the outbox worker after the
mail in hand, close the database. Whatever was
committed but not yet processed is processed at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import peewee

from maildesk import __version__
from maildesk.config import Config, ConfigError, password_from_env, security_warnings
from maildesk.daemon import logs
from maildesk.daemon.systemd import Notifier
from maildesk.daemon.webhooks import WebhookProcess
from maildesk.events import hooks
from maildesk.events.live import Live
from maildesk.inbound.group_commit import GroupCommit
from maildesk.inbound.imap import ImapPoller
from maildesk.inbound.intake import Accepted, Delivery, Envelope, accept
from maildesk.inbound.smtp import Credentials, Handler, Listener, starttls_context
from maildesk.jobs.runner import JobRunner, Jobs
from maildesk.outbound.transport import make_transport
from maildesk.outbound.worker import OutboxWorker
from maildesk.pipeline.flow import Pipeline, describe
from maildesk.pipeline.worker import PipelineWorker, Traffic
from maildesk.store import repo
from maildesk.store.blobs import BlobError, Blobs, attach, open_blobs
from maildesk.store.db import is_postgres, open_database, upgrade
from maildesk.store.executor import DbExecutor
from maildesk.tickets.desk import Desk, utcnow
from maildesk.web.app import create_app, open_web
from maildesk.web.server import WebServer

log = logging.getLogger(__name__)

# Settings a SIGHUP applies to the running daemon; the others need a restart.
RELOADABLE = ("desk", "tickets", "security", "logging")
# Commits run in parallel on PostgreSQL; SQLite has one writer at a time anyway.
INTAKE_THREADS_POSTGRES = 4
INTAKE_THREADS_SQLITE = 1
SHUTDOWN_GRACE = 10.0  # seconds past shutdown_timeout for the worker and the threads
# The loop thread holds the GIL while it parses SMTP data; a database thread that
# returns from SQLite waits for it up to the switch interval (5 ms by default) at
# every statement, and each wait delays a 250. At 0.5 ms the commit threads get
# their turn sooner: about 20% more messages per second under load (bench/smtp).
GIL_SWITCH_INTERVAL = 0.0005


class StartupError(Exception):
    """The daemon cannot start (database unreachable, port taken, ...): one line."""


class Daemon:
    """The long-running service. `serve()` returns after a clean shutdown."""

    def __init__(
        self,
        config: Config,
        *,
        environ: Mapping[str, str],
        reload_config: Callable[[], Config],
        ready_file: Path | None = None,
    ) -> None:
        self.config = config
        self._environ = environ
        self._reload_config = reload_config
        self._ready_file = ready_file
        self.db = open_database(config.database.url)
        # What a bad config breaks comes first (ConfigError), before any thread starts.
        blobs = open_blobs(config.storage, environ)
        attach(self.db, blobs)
        _check_storage(blobs)
        self.desk = Desk(self.db, config, utcnow)
        pipeline = Pipeline(self.desk)
        transport = make_transport(config.outbound, environ, Path.cwd())
        writers = INTAKE_THREADS_POSTGRES if is_postgres(self.db) else INTAKE_THREADS_SQLITE
        self._intake_executor = DbExecutor(self.db, writers, "intake")
        self._group_commit = GroupCommit(self.db, self._intake_executor, writers, utcnow)
        self._pipeline_executor = DbExecutor(self.db, 1, "pipeline")
        self._outbox_executor = DbExecutor(self.db, 1, "outbox")
        self._jobs_executor = DbExecutor(self.db, 1, "jobs")
        problems = hooks.check_secrets(config.webhook, environ)
        if problems:
            raise ConfigError(*problems[0])
        # A delivery in flight may take its timeout, connecting and reading included.
        self._webhooks_grace = 2.0 * config.webhooks.timeout + 5
        if config.path is None:  # `maildesk run` always has one
            raise StartupError(
                "the daemon needs a configuration file (its webhook sender reads it)"
            )
        self.webhooks = WebhookProcess(config.path, environ, self._webhooks_grace)
        self.outbox = OutboxWorker(
            self.db,
            self._outbox_executor,
            transport,
            self.desk.mailer.compose,
            config.outbound,
            utcnow,
        )
        self.live = Live(self.desk)
        self.jobs = JobRunner(
            Jobs(self.desk),
            self._jobs_executor,
            float(config.sla.scan_interval),
            utcnow,
            self._committed,
        )
        self.web = open_web(self.desk, pipeline, self._committed, self.live, environ)
        self._web_server: WebServer | None = None
        self.traffic = Traffic()
        self.worker = PipelineWorker(
            pipeline,
            self._pipeline_executor,
            self.traffic,
            on_processed=self._committed,
        )
        self._notifier = Notifier(os.environ)  # systemd's variables, not settings
        self._stop = asyncio.Event()
        self._listeners: list[Listener] = []
        self._handlers: list[Handler] = []
        self._pollers_stop = threading.Event()
        self._poller_threads: list[threading.Thread] = []
        self._watchdog: asyncio.Task[None] | None = None

    # -- the whole life --------------------------------------------------------------

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._install_signal_handlers(loop)
        try:
            await self._migrate()
            await self._start(loop)
            # Started once the listeners answer: at start-up the worker has what a
            # crash left behind to process, and the listeners come first.
            worker = loop.create_task(self.worker.run(), name="pipeline-worker")
            sender = loop.create_task(self.outbox.run(), name="outbox-worker")
            jobs = loop.create_task(self.jobs.run(), name="jobs")
            webhooks = loop.create_task(self.webhooks.run(), name="webhooks")
            try:
                await self._stop.wait()
                await self._shutdown()
            finally:
                self.jobs.stop()
                await self._stop_worker(worker)
                await _finish(jobs, SHUTDOWN_GRACE, "scheduled jobs")
                await self._stop_outbox(sender)
                self.webhooks.stop()
                await _finish(webhooks, self._webhooks_grace, "webhooks")
                await self.webhooks.finish()
        finally:
            self._pollers_stop.set()  # also when start-up failed half-way
            if self._watchdog is not None:
                self._watchdog.cancel()
            await self.live.stop()
            await self._close_executors()
            self._remove_signal_handlers(loop)
            self._remove_ready_file()
        log.info("stopped")

    async def _migrate(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            applied = await loop.run_in_executor(self._pipeline_executor, upgrade, self.db)
            desks = self.desk.desks
            slug = desks.default.slug
            adopted = await loop.run_in_executor(
                self._pipeline_executor, repo.adopt_tickets, self.db, slug, desks.slugs
            )
            switched_off = await loop.run_in_executor(
                self._pipeline_executor, hooks.sync_config, self.db, self.config.webhook, utcnow()
            )
        except peewee.PeeweeException as exc:
            raise StartupError(f"database error: {_one_line(exc)}") from exc
        if applied:
            log.info("database upgraded: %s", ", ".join(applied))
        if switched_off:
            log.info("%d webhook(s) no longer in the configuration were switched off", switched_off)
        if adopted:
            log.info("%d tickets of no configured desk joined the default desk %s", adopted, slug)

    async def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        addresses = await self._start_listeners()
        if self.config.web.enabled:
            await self.live.start()
        addresses += await self._start_web()
        self._start_pollers(loop)
        self._write_ready_file(addresses)
        status = "; ".join(f"{name} on {addr}" for name, addr in addresses) or "no listeners"
        if self._poller_threads:
            status += f"; {len(self._poller_threads)} IMAP mailbox(es)"
        log.info("maildesk %s running (%s), pid %d", __version__, status, os.getpid())
        if not addresses and not self._poller_threads:
            log.warning("[smtp] is disabled and there is no [[imap]] mailbox: no mail comes in")
        for warning in security_warnings(self.config):
            log.warning("%s", warning)
        self._notifier.ready(status)
        if self._notifier.watchdog_interval is not None:
            self._watchdog = loop.create_task(
                self._ping_watchdog(self._notifier.watchdog_interval), name="watchdog"
            )

    async def _shutdown(self) -> None:
        timeout = float(self.config.daemon.shutdown_timeout)
        log.info("shutting down (up to %.0f s for transfers in flight)", timeout)
        self._notifier.stopping("shutting down")
        self._pollers_stop.set()
        await self.live.stop()  # ends the open streams, so the web server stops at once
        await asyncio.gather(
            *(listener.shutdown(timeout) for listener in self._listeners),
            self._join_pollers(timeout),
            *([self._web_server.stop()] if self._web_server else []),
        )

    async def _stop_worker(self, task: asyncio.Task[None]) -> None:
        """Let the worker finish the message in hand (within SHUTDOWN_GRACE)."""
        self.worker.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_GRACE)
        except TimeoutError:
            log.warning("pipeline worker still busy after %.0f s; leaving it", SHUTDOWN_GRACE)

    async def _stop_outbox(self, task: asyncio.Task[None]) -> None:
        """Let the outbox worker finish the mail in hand (within shutdown_timeout)."""
        self.outbox.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), float(self.config.daemon.shutdown_timeout))
        except TimeoutError:
            log.warning("outbox worker still sending; its mail is sent again after restart")

    async def _close_executors(self) -> None:
        executors = (
            self._intake_executor,
            self._pipeline_executor,
            self._outbox_executor,
            self._jobs_executor,
            self.web.executor,
        )
        for executor in executors:
            executor.shutdown(wait=False)
            if not await asyncio.to_thread(executor.join, SHUTDOWN_GRACE):
                log.warning("database threads still busy after %.0f s", SHUTDOWN_GRACE)

    def _committed(self) -> None:
        """Ticket changes were committed here (the pipeline, the web, a job): send
        their mail and their webhooks, and tell the open pages without waiting for the
        next poll."""
        self.outbox.wake()
        self.webhooks.wake()
        self.live.wake()

    # -- inbound ---------------------------------------------------------------------

    async def commit(self, raw: bytes, envelope: Envelope, source: str) -> Accepted:
        """Intake for the listeners: commit (grouped), then wake the worker."""
        accepted = await self._group_commit.commit(Delivery(raw, source, envelope))
        if not accepted.duplicate:
            self.worker.wake()
        return accepted

    def _start_pollers(self, loop: asyncio.AbstractEventLoop) -> None:
        """One thread per [[imap]] mailbox; each commits through `accept` on its own
        connection and wakes the pipeline worker on the loop."""

        def committer(envelope: Envelope | None) -> Callable[[bytes, str], Accepted]:
            def commit(raw: bytes, source: str) -> Accepted:
                accepted = accept(self.db, raw, source=source, envelope=envelope, now=utcnow())
                if not accepted.duplicate:
                    loop.call_soon_threadsafe(self.worker.wake)
                return accepted

            return commit

        for index, mailbox in enumerate(self.config.imap):
            # A mailbox of one desk: its mail is for that desk, as if delivered there.
            desk = self.desk.desks.get(mailbox.desk) if mailbox.desk else None
            envelope = None if desk is None else Envelope(None, (desk.address,))
            commit = committer(envelope)
            poller = ImapPoller(mailbox, commit, db=self.db, environ=self._environ)
            thread = threading.Thread(
                target=poller.run, args=(self._pollers_stop,), name=f"imap-{index}", daemon=True
            )
            thread.start()
            self._poller_threads.append(thread)
            log.info("imap: polling %s", poller.name)

    async def _join_pollers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._poller_threads:
            await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s: still busy after %.0f s; leaving it", thread.name, timeout)

    async def _start_listeners(self) -> list[tuple[str, str]]:
        smtp = self.config.smtp
        if not smtp.enabled:
            return []
        protocol = "lmtp" if smtp.lmtp else "smtp"
        handler = Handler(self.desk.our_addresses, self.commit, protocol)  # every desk's
        listener = Listener(
            handler,
            self.traffic,
            host=smtp.host,
            port=smtp.port,
            lmtp=smtp.lmtp,
            max_message_size=smtp.max_message_size,
            hostname=smtp.hostname,
            tls_context=starttls_context(self.config.smtp),
            credentials=self._credentials(),
        )
        try:
            bound = await listener.start()
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {smtp.host}:{smtp.port} ({listener.protocol_name}): "
                f"{exc.strerror or exc}"
            ) from exc
        self._handlers.append(handler)
        self._listeners.append(listener)
        result = []
        for host, port in bound:
            shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            log.info("%s: listening on %s", listener.protocol_name, shown)
            result.append((listener.protocol_name, shown))
        return result

    async def _start_web(self) -> list[tuple[str, str]]:
        web = self.config.web
        if not web.enabled:
            return []
        server = WebServer(create_app(self.web), web.host, web.port)
        try:
            shown = await server.start()
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {web.host}:{web.port} (web): {exc.strerror or exc}"
            ) from exc
        self._web_server = server
        log.info("web: listening on http://%s/", shown)
        return [("web", shown)]

    def _credentials(self) -> Credentials | None:
        smtp = self.config.smtp
        if not smtp.auth_username:
            return None
        password = password_from_env(smtp.auth_password_env, self._environ)
        if password is None:
            raise ConfigError(
                "smtp.auth_password_env",
                f"environment variable {smtp.auth_password_env or '(none)'} is unset or empty; "
                "it must hold the password for auth_username",
            )
        return Credentials(smtp.auth_username, password)

    # -- signals, reload, systemd ----------------------------------------------------

    def _install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._request_stop, signum)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def _remove_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)

    def _request_stop(self, signum: int) -> None:
        if self._stop.is_set():
            log.info("%s: already shutting down", signal.Signals(signum).name)
            return
        log.info("%s received", signal.Signals(signum).name)
        self._stop.set()

    def reload(self) -> None:
        """SIGHUP: apply what can change safely (as `maildesk run --help` says)."""
        old = self.config
        try:
            new = self._reload_config()
            merged = dataclasses.replace(old, **{name: getattr(new, name) for name in RELOADABLE})
            pipeline = Pipeline(Desk(self.db, merged, utcnow))
        except ConfigError as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            return
        logs.set_level(new.logging.level)
        for handler in self._handlers:
            handler.addresses = pipeline.desk.our_addresses
        self.worker.pipeline = pipeline
        self.config = merged
        pending = [
            field.name
            for field in dataclasses.fields(Config)
            if field.name not in RELOADABLE + ("path",)
            and getattr(old, field.name) != getattr(new, field.name)
        ]
        log.info("configuration reloaded from %s", new.path or "defaults")
        for warning in security_warnings(merged):
            log.warning("%s", warning)
        if pending:
            log.warning("changes to [%s] take effect after a restart", "], [".join(pending))

    async def _ping_watchdog(self, interval: float) -> None:
        # Pinged from the loop itself: a loop that hangs stops the pings, and systemd
        # restarts the service.
        while True:
            self._notifier.watchdog()
            await asyncio.sleep(interval)

    # -- ready file ------------------------------------------------------------------

    def _write_ready_file(self, addresses: list[tuple[str, str]]) -> None:
        if self._ready_file is None:
            return
        listeners: dict[str, list[str]] = {}
        for name, address in addresses:
            listeners.setdefault(name, []).append(address)
        document = {"pid": os.getpid(), "listeners": listeners}
        temporary = self._ready_file.with_name(self._ready_file.name + ".tmp")
        try:
            temporary.write_text(json.dumps(document) + "\n", encoding="utf-8")
            temporary.replace(self._ready_file)  # readers never see a half-written file
        except OSError as exc:
            raise StartupError(
                f"cannot write the ready file {self._ready_file}: {exc.strerror or exc}"
            ) from exc

    def _remove_ready_file(self) -> None:
        if self._ready_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self._ready_file.unlink()


def run(
    config: Config,
    *,
    environ: Mapping[str, str],
    reload_config: Callable[[], Config],
    ready_file: Path | None = None,
) -> None:
    """Run the daemon until SIGTERM/SIGINT; raises StartupError or ConfigError."""
    logs.configure(config.logging.level)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)  # the daemon owns this process
    daemon = Daemon(config, environ=environ, reload_config=reload_config, ready_file=ready_file)
    asyncio.run(daemon.serve())


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


async def _finish(task: asyncio.Task[None], timeout: float, what: str) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        log.warning("%s still busy after %.0f s; leaving them", what, timeout)


def _check_storage(blobs: Blobs) -> None:
    """Say at the start when the byte store cannot be written: the daemon runs on (the
    store may come back), but until it does, mail is refused with a temporary error
    (nothing is acknowledged that is not stored) and the log says why."""
    try:
        where = blobs.check()
    except BlobError as exc:
        log.error(
            "storage cannot be written (mail is refused with a temporary error until it can): %s",
            describe(exc),
        )
        return
    log.info("storage: %s", where)
