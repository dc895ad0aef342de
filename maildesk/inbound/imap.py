"""IMAP poller: take new mail from one mailbox folder, commit it, then acknowledge it.

Where this sits in the flow: an intake source beside the SMTP listener. The
daemon (`maildesk.daemon.app`) runs one poller per ``[[imap]]`` mailbox, each on a
thread of its own::

    poller = ImapPoller(mailbox, accept, db=db, environ=environ)
    thread = threading.Thread(target=poller.run, args=(stop,), name="imap-0")
    thread.start()
    ...
    stop.set()
    thread.join()

``accept(raw, source)`` must commit the raw bytes durably and return the
`intake.Accepted` (the daemon wraps `intake.accept` and wakes its pipeline
worker); ``db`` holds the poller's own small state (table ``imap_state``); ``environ`` is
where the password is looked up (`config.read_environ`). `run` returns within
about `ImapTiming.idle_check` seconds of ``stop`` being set, IDLE or not (a
connect or command blocked on an unresponsive server can take up to
`ImapTiming.timeout`), and never raises.

A pass over the folder, for each new message in UID order:

1. ``UID FETCH BODY.PEEK[]``: reading never sets ``\\Seen``;
2. ``accept()``: the commit. If it raises, the pass ends, the message stays on
   the server untouched and the next pass (after a backoff) tries again;
3. only then the acknowledgement: ``UID MOVE`` to ``processed_folder`` (created
   when missing); COPY + ``\\Deleted`` + ``UID EXPUNGE`` where the server has no
   MOVE; or, when ``processed_folder`` is empty, ``\\Seen`` and the UID is
   remembered, so only unseen mail above it is ever taken.

A crash between 2 and 3 makes the next pass fetch the message again; intake
recognises it (Message-ID, else the bytes) and it is stored once. A changed
UIDVALIDITY (the folder was recreated; noticed at the next SELECT, and a server
that complains during IDLE is reconnected to) restarts from UID 0: the whole
folder is rescanned and intake's dedupe keeps anything from being stored twice.

Between passes the poller waits in IDLE, left and re-entered every
`ImapTiming.idle_renew` seconds (servers may drop IDLE after 29 minutes, and a
silently dead connection shows up then), or polls every ``poll_interval``
seconds where the server has no IDLE or IDLE failed. Any failure (connection,
login, database, commit) closes the connection, is logged as one line on
logger ``maildesk.imap`` and is retried after an exponential backoff with
jitter (`ImapTiming.backoff_start` doubling up to `ImapTiming.backoff_max`).

Several instances (``maildesk run`` on one PostgreSQL, the same ``[[imap]]``
mailboxes): before it connects, a poller takes a session-level PostgreSQL
advisory lock named after the mailbox (host, port, username, folder) on its
thread's database connection, and checks it still holds it before each pass.
So each mailbox is polled by one instance; the others try again every
`ImapTiming.lock_retry` seconds, and one of them takes over when the holder
stops or dies (the server ends a dead session and its locks with it). On
SQLite, one instance per database file, there is nothing to coordinate.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import selectors
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import peewee
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from maildesk.config import ImapConfig, password_from_env
from maildesk.inbound.intake import Accepted
from maildesk.store.db import advisory_key, holds_session_lock, try_session_lock, write_transaction
from maildesk.store.models import ImapState

__all__ = ["DEFAULT_TIMING", "AcceptFn", "ImapPoller", "ImapTiming"]

log = logging.getLogger("maildesk.imap")

AcceptFn = Callable[[bytes, str], Accepted]
"""Commit ``raw`` (named ``source``) durably; raise when it could not be stored."""

SEEN = rb"\Seen"
DELETED = rb"\Deleted"
BODY = b"BODY[]"
MAX_DOUBLINGS = 30  # keeps 2**n a float; the delay is capped long before
_BYTES_REPR = re.compile(r"b(['\"])(.*)\1")


@dataclass(frozen=True)
class ImapTiming:
    """How long the poller waits for what, in seconds; the defaults suit production."""

    idle_renew: float = 20 * 60  # leave and re-enter IDLE (RFC 2177: servers may end it at 29 min)
    idle_check: float = 1.0  # how often a waiting poller looks at `stop`
    backoff_start: float = 1.0  # first delay after a failure; doubles per failure in a row
    backoff_max: float = 5 * 60
    timeout: float = 60.0  # connect and read timeout of the socket
    lock_retry: float = 30.0  # how often an instance standing by tries to take the mailbox


DEFAULT_TIMING = ImapTiming()


class MissingPassword(Exception):
    """The environment variable named by ``password_env`` is unset or empty."""


class CommitFailed(Exception):
    """accept() raised: the message stays on the server for the next pass."""


class IdleFailed(Exception):
    """The server refused IDLE although it advertised it: poll from now on."""


class LockLost(Exception):
    """This instance no longer holds the mailbox's lock (its database session was
    lost): stop polling, another instance may have taken over."""


# How each failure is logged (first match wins); anything else is unexpected and
# logged with its traceback. All of them are retried after a backoff.
FAILURES: tuple[tuple[type[BaseException], int, str], ...] = (
    (LoginError, logging.ERROR, "login failed"),
    (MissingPassword, logging.ERROR, "no password"),
    (CommitFailed, logging.ERROR, "commit failed"),
    (IdleFailed, logging.WARNING, "IDLE failed, polling from now on"),
    (LockLost, logging.WARNING, "lost the mailbox lock"),
    (peewee.PeeweeException, logging.ERROR, "database error"),
    (ssl.SSLCertVerificationError, logging.ERROR, "server certificate not trusted"),
    (OSError, logging.WARNING, "connection failed"),
    (IMAPClientError, logging.WARNING, "connection failed"),
)


@dataclass
class _Folder:
    """The selected folder as the poller tracks it."""

    uidvalidity: int
    last_uid: int  # highest UID taken in; used in \Seen mode only


class ImapPoller:
    """Takes new mail from one ``[[imap]]`` mailbox into intake; see the module docstring."""

    def __init__(
        self,
        mailbox: ImapConfig,
        accept: AcceptFn,
        *,
        db: peewee.Database,
        environ: Mapping[str, str],
        ssl_context: ssl.SSLContext | None = None,
        timing: ImapTiming = DEFAULT_TIMING,
    ) -> None:
        """``ssl_context`` None verifies the server against the system's CAs."""
        self.mailbox = mailbox
        self.name = f"{mailbox.username}@{mailbox.host}:{mailbox.port}/{mailbox.folder}"
        self._accept = accept
        self._db = db
        self._environ = environ
        self._ssl_context = ssl_context
        self._timing = timing
        self._failures = 0  # in a row; sets the next backoff
        self._idle_failed = False
        self._lock_key = mailbox_lock_key(mailbox)
        self._standing_by = False  # another instance holds the mailbox (logged once)

    def run(self, stop: threading.Event) -> None:
        """Take in mail until ``stop`` is set (a worker thread's target); never raises."""
        try:
            while not stop.is_set():
                try:
                    self._session(stop)
                except Exception as exc:
                    self._retry_later(exc, stop)
        finally:
            self._close_db()

    # ---- one connection ----------------------------------------------------

    def _session(self, stop: threading.Event) -> None:
        """Connect, then pass and wait until ``stop``; raises on any failure. Returns
        at once, after waiting `lock_retry`, while another instance holds the mailbox."""
        if not self._take_mailbox():
            stop.wait(self._timing.lock_retry)
            return
        password = password_from_env(self.mailbox.password_env, self._environ)
        if password is None:
            raise MissingPassword(
                f"environment variable {self.mailbox.password_env} is unset or empty"
            )
        client = self._connect(password)
        try:
            folder = self._open_folder(client)
            self._serve(client, folder, stop)
        except BaseException:
            with contextlib.suppress(OSError):
                client.shutdown()
            raise
        with contextlib.suppress(OSError, IMAPClientError):
            client.logout()  # closes the socket even when the server does not answer

    def _connect(self, password: str) -> IMAPClient:
        mailbox = self.mailbox
        client = IMAPClient(
            mailbox.host,
            port=mailbox.port,
            ssl=mailbox.tls == "ssl",
            ssl_context=self._ssl_context,
            timeout=self._timing.timeout,
        )
        try:
            if mailbox.tls == "starttls":
                client.starttls(self._ssl_context)
            client.login(mailbox.username, password)
        except BaseException:
            with contextlib.suppress(OSError):
                client.shutdown()
            raise
        return client

    def _open_folder(self, client: IMAPClient) -> _Folder:
        target = self.mailbox.processed_folder
        if target and not client.folder_exists(target):
            client.create_folder(target)
            client.subscribe_folder(target)
            log.info("%s: created folder %s", self.name, target)
        selected = client.select_folder(self.mailbox.folder)
        return self._load_state(int(selected[b"UIDVALIDITY"]))

    def _serve(self, client: IMAPClient, folder: _Folder, stop: threading.Event) -> None:
        idle = client.has_capability("IDLE") and not self._idle_failed
        log.info(
            "%s: connected; %s",
            self.name,
            "waiting with IDLE" if idle else f"polling every {self.mailbox.poll_interval} s",
        )
        while not stop.is_set():
            if not holds_session_lock(self._db, self._lock_key):
                raise LockLost("the database session holding it ended")
            taken = self._take_new_mail(client, folder, stop)
            self._failures = 0
            if taken:
                # Mail that arrived during the pass was announced in replies we did
                # not read for it (EXISTS): look again before waiting.
                continue
            if idle:
                self._idle(client, stop)
            else:
                stop.wait(self.mailbox.poll_interval)

    # ---- a pass ------------------------------------------------------------

    def _take_new_mail(self, client: IMAPClient, folder: _Folder, stop: threading.Event) -> int:
        """Commit, then acknowledge, every new message; returns how many were taken."""
        taken = 0
        for uid in self._new_uids(client, folder):
            if stop.is_set():
                break
            raw = self._fetch(client, uid)
            if raw is None:
                continue  # expunged by someone else since the search
            try:
                accepted = self._accept(raw, self._source(folder, uid))
            except Exception as exc:
                raise CommitFailed(f"uid {uid} stays on the server: {exc}") from exc
            if accepted.duplicate:
                log.info("%s: uid %d is intake %d already", self.name, uid, accepted.intake_id)
            else:
                log.info("%s: uid %d committed as intake %d", self.name, uid, accepted.intake_id)
            self._acknowledge(client, uid)
            if not self.mailbox.processed_folder:
                self._save_last_uid(folder, uid)
            taken += 1
        return taken

    def _new_uids(self, client: IMAPClient, folder: _Folder) -> list[int]:
        if self.mailbox.processed_folder:
            # Everything still here is new: taken mail leaves the folder.
            return sorted(client.search(["NOT", "DELETED"]))
        # "n:*" always matches the highest UID, even below n: filter again.
        found = client.search(["UNSEEN", "NOT", "DELETED", "UID", f"{folder.last_uid + 1}:*"])
        return sorted(uid for uid in found if uid > folder.last_uid)

    def _fetch(self, client: IMAPClient, uid: int) -> bytes | None:
        data = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(BODY)
        return None if data is None else bytes(data)

    def _acknowledge(self, client: IMAPClient, uid: int) -> None:
        target = self.mailbox.processed_folder
        if not target:
            client.add_flags([uid], [SEEN], silent=True)
        elif client.has_capability("MOVE"):
            client.move([uid], target)
        else:
            client.copy([uid], target)
            client.add_flags([uid], [DELETED], silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge([uid])
            else:
                # Without UIDPLUS only a plain EXPUNGE exists; it also removes other
                # \Deleted mail here, which maildesk never takes and a client would expunge.
                client.expunge()

    def _source(self, folder: _Folder, uid: int) -> str:
        """An RFC 5092 IMAP URL naming the message, for intake's `source`."""
        mailbox = self.mailbox
        user = urllib.parse.quote(mailbox.username, safe="")
        path = urllib.parse.quote(mailbox.folder, safe="/")
        return (
            f"imap://{user}@{mailbox.host}:{mailbox.port}/{path}"
            f";UIDVALIDITY={folder.uidvalidity}/;UID={uid}"
        )

    # ---- waiting -------------------------------------------------------------

    def _idle(self, client: IMAPClient, stop: threading.Event) -> None:
        """Wait in IDLE until the server says anything, `idle_renew` passes or ``stop``."""
        try:
            client.idle()
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            self._idle_failed = True
            raise IdleFailed(str(exc)) from exc
        log.debug("%s: in IDLE", self.name)  # the server said "+ idling"
        try:
            deadline = time.monotonic() + self._timing.idle_renew
            with selectors.DefaultSelector() as selector:
                selector.register(client.socket(), selectors.EVENT_READ)
                news = _unread_input(client, self._timing.timeout)
                while not news and not stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    news = bool(selector.select(min(left, self._timing.idle_check)))
        finally:
            # Reads whatever the server sent (a dead connection fails here, and the
            # session reconnects); the pass that follows looks at the folder itself.
            _, responses = client.idle_done()
        complaint = _complaint(responses)
        if complaint:
            # E.g. Dovecot, when the selected folder was deleted and recreated, answers
            # NO to everything while still showing the old folder: start over.
            raise IMAPClientAbortError(f"server said during IDLE: {complaint}")

    def _retry_later(self, exc: Exception, stop: threading.Event) -> None:
        self._close_db()  # the failure may have broken this thread's connection
        delay = self._next_delay()
        for kind, level, what in FAILURES:
            if isinstance(exc, kind):
                log.log(level, "%s: %s: %s; retrying in %.1f s", self.name, what,
                        _one_line(exc), delay)  # fmt: skip
                break
        else:
            log.error("%s: unexpected error; retrying in %.1f s", self.name, delay, exc_info=exc)
        stop.wait(delay)

    def _next_delay(self) -> float:
        """Exponential backoff with jitter: somewhere in the upper half of the doubled delay."""
        timing = self._timing
        doublings = min(self._failures, MAX_DOUBLINGS)
        ceiling = min(timing.backoff_max, timing.backoff_start * 2**doublings)
        self._failures += 1
        return random.uniform(ceiling / 2, ceiling)

    # ---- state in the database ------------------------------------------------

    def _take_mailbox(self) -> bool:
        """The mailbox's advisory lock, taken on this thread's connection (PostgreSQL)."""
        if try_session_lock(self._db, self._lock_key):
            if self._standing_by:
                log.info("%s: taking over the mailbox from another instance", self.name)
            self._standing_by = False
            return True
        if not self._standing_by:
            log.info(
                "%s: another instance polls this mailbox; trying again every %.0f s",
                self.name,
                self._timing.lock_retry,
            )
        self._standing_by = True
        return False

    def _where(self) -> Any:
        mailbox = self.mailbox
        return (
            (ImapState.host == mailbox.host.lower())
            & (ImapState.port == mailbox.port)
            & (ImapState.username == mailbox.username)
            & (ImapState.folder == mailbox.folder)
        )

    def _load_state(self, uidvalidity: int) -> _Folder:
        """The stored state of the folder; a new UIDVALIDITY starts over from UID 0."""
        with write_transaction(self._db):
            row = ImapState.get_or_none(self._where())
            if row is None:
                mailbox = self.mailbox
                ImapState.create(host=mailbox.host.lower(), port=mailbox.port,
                                 username=mailbox.username, folder=mailbox.folder,
                                 uidvalidity=uidvalidity, last_uid=0)  # fmt: skip
                return _Folder(uidvalidity, 0)
            if row.uidvalidity == uidvalidity:
                return _Folder(uidvalidity, row.last_uid)
            ImapState.update(uidvalidity=uidvalidity, last_uid=0).where(self._where()).execute()
        log.warning(
            "%s: UIDVALIDITY changed from %d to %d: rescanning the whole folder "
            "(mail taken in before is recognised, not stored again)",
            self.name,
            row.uidvalidity,
            uidvalidity,
        )
        return _Folder(uidvalidity, 0)

    def _save_last_uid(self, folder: _Folder, uid: int) -> None:
        with write_transaction(self._db):
            ImapState.update(last_uid=uid).where(self._where()).execute()
        folder.last_uid = uid

    def _close_db(self) -> None:
        """Close this thread's connection (peewee keeps one per thread)."""
        with contextlib.suppress(peewee.PeeweeException):
            if not self._db.is_closed():
                self._db.close()


def mailbox_lock_key(mailbox: ImapConfig) -> int:
    """The advisory lock key of a mailbox: the same in every instance with this mailbox."""
    name = (
        f"maildesk imap {mailbox.host.lower()}:{mailbox.port}/{mailbox.username}/{mailbox.folder}"
    )
    return advisory_key(name)


def _unread_input(client: IMAPClient, timeout: float) -> bool:
    """Whether imaplib already holds server data that a poll of the socket cannot see.

    Dovecot, for one, sends the EXISTS of mail that arrived after our last SEARCH
    in the same packet as the "+ idling" continuation, and imaplib reads it into
    its buffer along with that line. imapclient offers no way to ask, so this
    looks at imaplib: its own buffer list on Python 3.14+, before that the socket
    file's buffer (peeked without blocking).
    """
    imap = client._imap
    sock = client.socket()
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    buffered = getattr(imap, "_readbuf", None)
    if buffered is not None:
        return any(buffered)
    sock.setblocking(False)
    try:
        return bool(imap.file.peek(1))
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    finally:
        sock.settimeout(timeout)


def _complaint(responses: list[Any]) -> str | None:
    """An untagged NO, BAD or BYE, or a new UIDVALIDITY, among responses to IDLE."""
    for response in filter(None, responses):
        kind, text = response[0], b" ".join(r for r in response[1:] if isinstance(r, bytes))
        if kind in (b"NO", b"BAD", b"BYE") or (kind == b"OK" and text.startswith(b"[UIDVALIDITY")):
            return " ".join([kind.decode(), text.decode("utf-8", "replace")])
    return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    quoted = _BYTES_REPR.fullmatch(text)  # imaplib hands over server text as bytes
    return (quoted.group(2) if quoted else text) or type(exc).__name__
