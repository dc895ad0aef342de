"""Live updates: the event log followed as it grows, and fanned out to the agents' open
pages (`web.pages.live` streams each page's share to its browser as Server-Sent Events).

One `Live` per process, built and started by the composition root (`daemon.app`):

* the follower reads the `Event` rows after the last one it saw, in commit order
  (`events.log`: one indexed query) whenever it is woken: on PostgreSQL by LISTEN
  (`events.notify`, the event table's trigger), so every instance sees every
  instance's changes; on SQLite
  by this process's own commits (`wake`) and by a poll every second (other processes
  such as `maildesk ingest` write there too);
* each open page has a `Stream`: a bounded queue of notes, filtered by the agent's
  scope when it was opened (an agent never hears of a ticket they may not see) and,
  for a ticket page, by its ticket. A browser that does not keep up is not allowed to
  grow its queue: what is queued is dropped for one "reload" note;
* presence ("Ann is viewing", "Bob is replying") is a board of marks that expire on
  their own (`events.presence`), shared across instances through NOTIFY.

Everything here runs on the event loop but the database reads (a thread of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import peewee

from maildesk.events import log as event_log
from maildesk.events import notify
from maildesk.events.presence import Board, Present
from maildesk.settings.desks import Scope
from maildesk.store.db import is_postgres
from maildesk.store.executor import DbExecutor
from maildesk.store.models import Event, Ticket
from maildesk.tickets.desk import Desk

T = TypeVar("T")
log = logging.getLogger(__name__)

POLL_SQLITE = 1.0  # seconds: one indexed query when nothing woke the follower
POLL_POSTGRES = 15.0  # only in case a notification was lost with its connection
TICK = 0.5  # seconds between sweeps of the presence board
BATCH = 500  # events read at once
QUEUE_SIZE = 200  # notes a stream may hold before its browser is told to reload
PRESENCE_SECONDS = 30.0  # a mark not renewed for this long is gone


@dataclass(frozen=True)
class Change:
    """One event of the log, with what decides who may hear of it."""

    event_id: int
    ticket_id: int
    label: str
    desk: str
    category: str | None
    type: str
    message_id: int | None


@dataclass(frozen=True)
class Note:
    """What a stream sends its browser: `kind` names the SSE event."""

    kind: str  # change | presence | reload | close (ends the stream, never sent)
    ticket: str = ""  # the ticket's label
    data: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None

    def sse(self) -> dict[str, Any]:
        body = {"ticket": self.ticket, **self.data} if self.ticket else dict(self.data)
        message: dict[str, Any] = {"event": self.kind, "data": json.dumps(body)}
        if self.id is not None:
            message["id"] = self.id
        return message


RELOAD = Note("reload")
CLOSE = Note("close")


class Stream:
    """One open page's share of the notes."""

    def __init__(
        self,
        agent_id: int,
        name: str,
        scope: Scope | None,
        ticket: tuple[int, str] | None,
        size: int = QUEUE_SIZE,
    ) -> None:
        self.agent_id = agent_id
        self.name = name
        self.scope = scope
        self.ticket_id: int | None = ticket[0] if ticket is not None else None
        self.label = ticket[1] if ticket is not None else ""
        self.queue: asyncio.Queue[Note] = asyncio.Queue(size)
        self.overflows = 0

    def wants(self, change: Change) -> bool:
        if self.ticket_id is not None and change.ticket_id != self.ticket_id:
            return False
        return self.scope is None or self.scope.covers(change.desk, change.category)

    def offer(self, note: Note) -> None:
        """Queue `note`; when full, everything queued gives way to one "reload"."""
        try:
            self.queue.put_nowait(note)
        except asyncio.QueueFull:
            self.overflows += 1
            self._replace_all(CLOSE if note is CLOSE else RELOAD)

    def close(self) -> None:
        self.offer(CLOSE)

    async def next(self, timeout: float) -> Note | None:
        """The next note, or None after `timeout` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def _replace_all(self, note: Note) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(note)


class Cursor:
    """Where the follower is in the log (commit order, `events.log`); used from the
    follower's thread only."""

    def __init__(self, desk: Desk, after: event_log.Position):
        self.desk = desk
        self.last = after

    def read(self, batch: int = BATCH) -> list[Change]:
        """The events after the last one read."""
        events = event_log.after(self.desk.db, self.last, batch)
        if not events:
            return []
        self.last = event_log.Position.of(events[-1])
        ids = {event.ticket_id for event in events}
        tickets = {
            t.id: t
            for t in Ticket.select(
                Ticket.id, Ticket.number, Ticket.desk, Ticket.seq, Ticket.category
            ).where(Ticket.id.in_(list(ids)))
        }
        return [
            self._change(event, tickets[event.ticket_id])
            for event in events
            if event.ticket_id in tickets
        ]

    def _change(self, event: Event, ticket: Ticket) -> Change:
        data = event.data if isinstance(event.data, dict) else {}
        message = data.get("message") if event.type == "message_added" else None
        return Change(
            event_id=event.id,
            ticket_id=ticket.id,
            label=self.desk.label(ticket),
            desk=ticket.desk,
            category=ticket.category,
            type=event.type,
            message_id=message if isinstance(message, int) else None,
        )


class Live:
    """The process's follower, streams and presence board (see the module docstring)."""

    def __init__(
        self,
        desk: Desk,
        *,
        presence_seconds: float = PRESENCE_SECONDS,
        queue_size: int = QUEUE_SIZE,
        poll_seconds: float | None = None,
    ) -> None:
        self.desk = desk
        self.postgres = is_postgres(desk.db)
        self.presence_seconds = presence_seconds
        self.queue_size = queue_size
        self.poll_seconds = poll_seconds or (POLL_POSTGRES if self.postgres else POLL_SQLITE)
        self.board = Board()
        self.instance = secrets.token_hex(8)  # tells our own NOTIFYs from the others'
        self.listener: notify.Listener | None = None
        self._streams: set[Stream] = set()
        self._woken = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: DbExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False

    # -- life ------------------------------------------------------------------------

    async def start(self) -> None:
        """Follow the log from its end (on the running loop); on PostgreSQL, listen."""
        self._loop = asyncio.get_running_loop()
        self._executor = DbExecutor(self.desk.db, 1, "live")
        cursor = Cursor(self.desk, await self._call(lambda: event_log.end(self.desk.db)))
        self._tasks.append(asyncio.create_task(self._follow(cursor), name="live-follower"))
        db = self.desk.db
        if isinstance(db, peewee.PostgresqlDatabase):
            self.listener = notify.Listener(db, self.wake, self._heard)
            self._tasks.append(asyncio.create_task(self.listener.run(), name="live-listener"))

    async def stop(self) -> None:
        """End every stream (their pages reconnect to another instance, or later) and
        stop following. Safe to call twice, or without `start`."""
        self._stopped = True
        for stream in list(self._streams):
            stream.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            await asyncio.to_thread(self._executor.join, 10.0)
            self._executor = None

    def wake(self) -> None:
        """Something was committed: read the log now (from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._woken.set)

    # -- streams ---------------------------------------------------------------------

    @contextlib.contextmanager
    def stream(
        self, agent_id: int, name: str, scope: Scope | None, ticket: tuple[int, str] | None
    ) -> Iterator[Stream]:
        """A stream for one page while the block runs; a ticket page's agent is
        "viewing" the ticket meanwhile."""
        opened = Stream(agent_id, name, scope, ticket, self.queue_size)
        if self._stopped:
            opened.close()  # shutting down: the page comes back to another instance
        self._streams.add(opened)
        if opened.ticket_id is not None:
            self.present(opened.ticket_id, agent_id, name, "viewing")
        try:
            yield opened
        finally:
            self._streams.discard(opened)
            ticket_id = opened.ticket_id
            if ticket_id is not None and not any(
                s.ticket_id == ticket_id and s.agent_id == agent_id for s in self._streams
            ):
                self.withdraw(ticket_id, agent_id)

    @property
    def streams(self) -> int:
        return len(self._streams)

    # -- presence --------------------------------------------------------------------

    def present(self, ticket_id: int, agent_id: int, name: str, state: str) -> None:
        """Mark the agent `state` on the ticket here and, on PostgreSQL, everywhere."""
        self._apply(ticket_id, agent_id, name, state, self.presence_seconds)
        self._tell(ticket_id, agent_id, name, state, self.presence_seconds)

    def withdraw(self, ticket_id: int, agent_id: int) -> None:
        self._apply(ticket_id, agent_id, "", "gone", 0.0)
        self._tell(ticket_id, agent_id, "", "gone", 0.0)

    def shown(self, ticket_id: int) -> tuple[Present, ...]:
        return self.board.shown(ticket_id)

    def _apply(self, ticket_id: int, agent_id: int, name: str, state: str, ttl: float) -> None:
        if state == "gone":
            changed = self.board.leave(ticket_id, agent_id)
        else:
            changed = self.board.mark(ticket_id, agent_id, name, state, ttl)
        if changed:
            self._presence_changed(ticket_id)

    def _presence_changed(self, ticket_id: int) -> None:
        for stream in list(self._streams):
            if stream.ticket_id == ticket_id:
                stream.offer(Note("presence", stream.label))

    def _tell(self, ticket_id: int, agent_id: int, name: str, state: str, ttl: float) -> None:
        if not self.postgres or self._executor is None:
            return
        payload = json.dumps(
            {"i": self.instance, "t": ticket_id, "a": agent_id, "n": name, "s": state, "ttl": ttl}
        )
        future = self._executor.submit(notify.send, self.desk.db, payload)
        future.add_done_callback(_log_failure)

    def _heard(self, payload: str) -> None:
        """Another instance's presence note."""
        try:
            note = json.loads(payload)
            if note["i"] == self.instance:
                return
            ticket_id, agent_id = int(note["t"]), int(note["a"])
            state, name, ttl = str(note["s"]), str(note["n"]), float(note["ttl"])
        except (ValueError, KeyError, TypeError):
            log.warning("live updates: ignored a malformed notification")
            return
        if state in ("viewing", "replying", "gone"):
            self._apply(ticket_id, agent_id, name, state, min(ttl, self.presence_seconds))

    # -- the follower ----------------------------------------------------------------

    async def _follow(self, cursor: Cursor) -> None:
        due = time.monotonic() + self.poll_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), TICK)
            for ticket_id in self.board.expire():
                self._presence_changed(ticket_id)
            if not self._woken.is_set() and time.monotonic() < due:
                continue
            self._woken.clear()
            due = time.monotonic() + self.poll_seconds
            try:
                changes = await self._call(cursor.read)
            except peewee.PeeweeException as exc:
                log.warning("live updates: reading the event log failed: %s", exc)
                continue
            for change in changes:
                self._publish(change)
            if len(changes) >= BATCH:
                self._woken.set()  # more to read

    def _publish(self, change: Change) -> None:
        data = {"type": change.type, "event": change.event_id, "message": change.message_id}
        note = Note("change", change.label, data, id=str(change.event_id))
        for stream in list(self._streams):
            if stream.wants(change):
                stream.offer(note)

    async def _call(self, fn: Callable[[], T]) -> T:
        assert self._executor is not None, "Live.start() first"
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)


def _log_failure(future: Any) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("live updates: could not notify the other instances: %s", exc)
