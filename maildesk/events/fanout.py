"""The webhook cursor: new entries of the event log -> one delivery row per endpoint
that wants each, written with the cursor's move in one transaction.

Where it sits: the daemon's webhook worker (`events.worker`) runs a pass when the
pipeline, the web or a job has written events, and every second for what other
instances and the CLI wrote. The deliveries it writes are sent by `events.deliveries`.

Nothing is lost and nothing is written twice: the rows and the cursor commit
together, so a pass that dies leaves both as they were. The cursor is a position in
the log's commit order (`events.log`), so an event whose transaction commits late
still comes after it; and on PostgreSQL one instance at a time writes a pass (a
transaction-level advisory lock; the others skip), and only from where the cursor
still is.

The cursor was set after the events of the time of migrations/0019 (a new
installation: before its first event) and moves with the log whether or not there
are endpoints: an endpoint receives what happens after it exists, not the history.
Each body is fixed here (the ticket as it is at this pass) and kept once per event
(`webhook_payload`), so every endpoint and every attempt gets the same bytes under
the same webhook-id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import peewee

from maildesk.core.event_names import MESSAGE_ADDED, PublicEvent, public_event, wanted
from maildesk.core.links import agent_url
from maildesk.events import log
from maildesk.events.hooks import Endpoint, active
from maildesk.events.log import Position
from maildesk.queries.serialize import iso, message_detail, ticket_fields, ticket_summary
from maildesk.settings.desks import Desks
from maildesk.settings.fields import Fields
from maildesk.store import rows
from maildesk.store.db import advisory_key, is_postgres, read_snapshot, write_transaction
from maildesk.store.models import (
    Contact,
    Event,
    KeyValue,
    Message,
    Ticket,
    WebhookDelivery,
    WebhookPayload,
)

CURSOR = "webhooks.cursor"  # KeyValue: "tx:id", the last event a pass took
BATCH = 500  # events per pass
LOCK = advisory_key("maildesk webhooks cursor")
# Message fields a receiver gets (the flags are the agents' business).
MESSAGE_KEYS = (
    "id", "message_id", "direction", "kind", "from", "from_name", "to", "cc", "subject",
    "body_text", "created_at", "attachments",
)  # fmt: skip


def position(db: peewee.Database) -> Position | None:
    row = KeyValue.get_or_none(KeyValue.name == CURSOR)
    return None if row is None else Position.parse(row.value)


def _move(db: peewee.Database, to: Position, new: bool) -> None:
    if new:
        rows.insert(db, KeyValue, {"name": CURSOR, "value": str(to)})
    else:
        KeyValue.update(value=str(to)).where(KeyValue.name == CURSOR).execute()


@dataclass(frozen=True)
class Pass:
    events: int  # log entries the cursor moved past
    deliveries: int  # rows written


def fan_out(
    db: peewee.Database, desks: Desks, fields: Fields, now: dt.datetime, limit: int = BATCH
) -> Pass:
    """One pass of the cursor (see the module's docstring): the events after it and
    their bodies are read in a snapshot, with no lock held (a pass reads tickets,
    messages and builds JSON: it must not keep the pipeline's commits waiting); then
    one short write transaction stores the rows and moves the cursor, if it is still
    where the pass read it (else another pass moved it: nothing is written)."""
    with read_snapshot(db):
        at = position(db)
        events = [] if at is None else log.after(db, at, limit)
        endpoints = active(db) if events else []
        sends = _sends(events, endpoints, desks, fields) if endpoints else []
    if at is not None and not events:
        return Pass(0, 0)
    with write_transaction(db):
        if is_postgres(db):
            row = db.execute_sql("SELECT pg_try_advisory_xact_lock(%s)", (LOCK,)).fetchone()
            if not row[0]:
                return Pass(0, 0)  # another instance is at it
        now_at = position(db)
        if at is None:
            if now_at is None:
                _move(db, log.end(db), new=True)
            return Pass(0, 0)
        if now_at != at:
            return Pass(0, 0)  # another pass moved it meanwhile
        written = _store(db, sends, now)
        _move(db, Position.of(events[-1]), new=False)
    return Pass(len(events), written)


def _store(db: peewee.Database, sends: Sequence[Send], now: dt.datetime) -> int:
    """Each event's body once, and a pending delivery per endpoint pointing at it."""
    if not sends:
        return 0
    rows.insert_many(
        db,
        WebhookPayload,
        [{"event_id": send.event.id, "body": send.body, "created_at": now} for send in sends],
    )
    payloads = dict(
        rows.tuples(
            WebhookPayload.select(WebhookPayload.event_id, WebhookPayload.id).where(
                WebhookPayload.event_id.in_([send.event.id for send in sends])
            )
        )
    )
    written = [
        {
            "webhook": endpoint.id,
            "ticket": send.event.ticket_id,
            "event_id": send.event.id,
            "msg_id": f"evt_{send.event.id}",
            "type": send.name,
            "payload": payloads[send.event.id],
            "state": "pending",
            "attempts": 0,
            "last_error": "",
            "next_at": now,
            "created_at": now,
        }
        for send in sends
        for endpoint in send.endpoints
    ]
    rows.insert_many(db, WebhookDelivery, written)
    return len(written)


@dataclass(frozen=True)
class Send:
    """An event's body, and the endpoints it goes to."""

    event: Event
    name: str  # the public event's name
    body: str
    endpoints: Sequence[Endpoint]


def _sends(
    events: Sequence[Event], endpoints: Sequence[Endpoint], desks: Desks, fields: Fields
) -> list[Send]:
    wanted_by = []
    for event in events:
        public = public_event(event.type, event.data)
        if public is None:
            continue
        takers = [e for e in endpoints if _takes(e, public)]
        if takers:
            wanted_by.append((event, public, takers))
    if not wanted_by:
        return []
    # What the bodies show, read once per pass: the tickets (with their requesters)
    # and the messages, a query each.
    tickets = _tickets({event.ticket_id for event, _, _ in wanted_by}, desks, fields)
    messages = _messages(
        [
            event.data.get("message")
            for event, public, _ in wanted_by
            if public.name == MESSAGE_ADDED
        ]
    )
    result = []
    for event, public, takers in wanted_by:
        if event.ticket_id not in tickets:
            continue
        slug, ticket = tickets[event.ticket_id]
        takers = [e for e in takers if e.desk is None or e.desk == slug]
        if not takers:
            continue
        result.append(Send(event, public.name, _body(public, event, ticket, messages), takers))
    return result


def _takes(endpoint: Endpoint, public: PublicEvent) -> bool:
    return (endpoint.internal or not public.internal) and wanted(endpoint.events, public.name)


def _tickets(ids: set[int], desks: Desks, fields: Fields) -> dict[int, tuple[str, dict[str, Any]]]:
    found = {}
    query = (
        Ticket.select(Ticket, Contact)
        .join(Contact, on=(Ticket.requester == Contact.id))
        .where(Ticket.id.in_(list(ids)))
    )
    for ticket in query:
        summary = ticket_summary(ticket, desks)
        desk = desks.get(ticket.desk)
        found[ticket.id] = (
            desk.slug,
            {
                **summary,
                "first_response_at": iso(ticket.first_response_at),
                "first_response_due": iso(ticket.first_response_due),
                "resolution_due": iso(ticket.resolution_due),
                "resolved_at": iso(ticket.resolved_at),
                "closed_at": iso(ticket.closed_at),
                "fields": ticket_fields(ticket, fields),
                "url": agent_url(desk.base_url, summary["number"]),
            },
        )
    return found


def _messages(ids: Sequence[object]) -> dict[int, Message]:
    wanted_ids = [i for i in ids if isinstance(i, int)]
    if not wanted_ids:
        return {}
    return {m.id: m for m in Message.select().where(Message.id.in_(wanted_ids))}


def _body(
    public: PublicEvent, event: Event, ticket: dict[str, Any], messages: dict[int, Message]
) -> str:
    data: dict[str, Any] = {
        "ticket": ticket,
        "event": {
            "id": event.id,
            "type": event.type,
            "actor": event.actor,
            "at": iso(event.at),
            "data": event.data,
        },
    }
    if public.name == MESSAGE_ADDED:
        message = messages.get(event.data.get("message"))  # type: ignore[arg-type]
        if message is not None:
            detail = message_detail(message)
            data["message"] = {key: detail[key] for key in MESSAGE_KEYS}
    document = {"type": public.name, "timestamp": iso(event.at), "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)
