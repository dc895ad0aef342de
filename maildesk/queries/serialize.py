"""Tickets, messages and queue rows as plain dicts: the JSON contract of the CLI.

Times are ISO 8601 with offset; ticket numbers are labels (`SUP-00042`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from maildesk.settings.desks import Desks
from maildesk.settings.fields import Fields
from maildesk.store import repo
from maildesk.store.models import (
    Agent,
    Attachment,
    Event,
    Message,
    Outbox,
    Quarantine,
    Reminder,
    Ticket,
)
from maildesk.tickets import time_spent as spent
from maildesk.tickets import undeliverable
from maildesk.tickets.links import linked


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _agent_email(agent_id: int | None) -> str | None:
    return None if agent_id is None else Agent.get_by_id(agent_id).email


def ticket_summary(ticket: Ticket, desks: Desks) -> dict[str, Any]:
    return {
        "number": desks.label(ticket.desk, ticket.seq),
        "desk": desks.get(ticket.desk).slug,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "tags": repo.ticket_tags(ticket),
        "requester": {"email": ticket.requester.email, "name": ticket.requester.name},
        "assignee": _agent_email(ticket.assignee_id),
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "sla_breached": bool(ticket.first_response_breached_at or ticket.resolution_breached_at),
        "snoozed_until": iso(ticket.snoozed_until),
    }


def ticket_fields(ticket: Ticket, fields: Fields) -> dict[str, Any]:
    """The ticket's custom fields as JSON: every field its desk and category have (null
    or [] when not set), and any other configured field that holds a value."""
    if not fields.all:
        return {}  # only configured fields are shown
    stored = repo.ticket_fields(ticket.id)
    shown = {}
    for definition in fields.all:
        values = stored.get(definition.name, [])
        if values or definition.applies(ticket.desk, ticket.category):
            shown[definition.name] = definition.typed(values)
    return shown


def field_links(ticket: Ticket, fields: Fields) -> dict[str, str]:
    """The record URLs of the ticket's link fields that are set."""
    return fields.links(repo.ticket_fields(ticket.id))


def ticket_detail(ticket: Ticket, desks: Desks, fields: Fields | None = None) -> dict[str, Any]:
    merged = Ticket.get_by_id(ticket.merged_into_id) if ticket.merged_into_id else None
    cc = sorted(repo.participant_emails(ticket) - {ticket.requester.email})
    messages = Message.select().where(Message.ticket == ticket).order_by(Message.id)
    events = Event.select().where(Event.ticket == ticket).order_by(Event.id)
    return {
        **ticket_summary(ticket, desks),
        "cc": cc,
        "automated": ticket.automated,
        "undeliverable": undeliverable.marked_on_ticket(ticket),  # requester, CCs
        "first_response_at": iso(ticket.first_response_at),
        "first_response_due": iso(ticket.first_response_due),
        "resolution_due": iso(ticket.resolution_due),
        "next_response_due": iso(
            ticket.next_response_due if ticket.next_response_at is None else None
        ),  # while a customer message waits for an answer
        "resolved_at": iso(ticket.resolved_at),
        "closed_at": iso(ticket.closed_at),
        "sla_paused": ticket.sla_paused_at is not None,
        "first_response_breached": ticket.first_response_breached_at is not None,
        "resolution_breached": ticket.resolution_breached_at is not None,
        "escalation_level": ticket.escalation_level,
        "fields": ticket_fields(ticket, fields or Fields(())),
        "field_links": field_links(ticket, fields or Fields(())),
        "merged_into": desks.label(merged.desk, merged.seq) if merged else None,
        "links": ticket_links(ticket, desks),
        "time_spent": time_spent(ticket),
        "close_warned_at": iso(ticket.close_warned_at),
        "reminders": reminders(ticket),
        "messages": [message_detail(m) for m in messages],
        "events": [event_detail(e) for e in events],
        "mail": [
            {k: v for k, v in outbox_entry(row, desks).items() if k != "ticket"}
            for row in Outbox.select().where(Outbox.ticket == ticket).order_by(Outbox.id)
        ],
    }


def ticket_links(ticket: Ticket, desks: Desks) -> list[dict[str, Any]]:
    """The tickets linked to this one (`#link`, `#incident`, `#split`): `relation` is
    related, parent (the incident this one belongs to) or child (one it answers)."""
    return [
        {
            "ticket": desks.label(found.ticket.desk, found.ticket.seq),
            "subject": found.ticket.subject,
            "status": found.ticket.status,
            "relation": found.relation,
        }
        for found in linked(ticket)
    ]


def time_spent(ticket: Ticket) -> dict[str, Any]:
    """The time agents recorded on the ticket (`#time`): in all, and each entry."""
    entries = spent.entries(ticket.id)
    return {
        "minutes": sum(e.minutes for e in entries),
        "entries": [{"agent": e.agent, "minutes": e.minutes, "at": iso(e.at)} for e in entries],
    }


def reminders(ticket: Ticket) -> list[dict[str, Any]]:
    """The ticket's `#remind` reminders, the next due first."""
    rows = Reminder.select().where(Reminder.ticket == ticket).order_by(Reminder.due_at, Reminder.id)
    return [
        {
            "id": r.id,
            "agent": _agent_email(r.agent_id),
            "due_at": iso(r.due_at),
            "text": r.text,
            "created_at": iso(r.created_at),
            "sent_at": iso(r.sent_at),
        }
        for r in rows
    ]


def message_detail(message: Message) -> dict[str, Any]:
    attachments = Attachment.select().where(Attachment.message == message).order_by(Attachment.id)
    return {
        "id": message.id,
        "message_id": message.message_id,
        "direction": message.direction,
        "kind": message.kind,
        "mail_kind": message.mail_kind,
        "flagged": message.flagged,
        "flag_reason": message.flag_reason,
        "from": message.from_email,
        "from_name": message.from_name,
        "to": message.to,
        "cc": message.cc,
        "subject": message.subject,
        "body_text": message.body_text,
        "has_html": message.body_html is not None,
        "sent_at": iso(message.sent_at),  # its Date (a forwarded message's: the original's)
        "created_at": iso(message.created_at),
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.blob_id,
                "content_id": a.content_id,
                "inline": a.inline,
            }
            for a in attachments
        ],
    }


def event_detail(event: Event) -> dict[str, Any]:
    return {"at": iso(event.at), "actor": event.actor, "type": event.type, "data": event.data}


def quarantine_entry(entry: Quarantine) -> dict[str, Any]:
    intake = entry.intake
    return {
        "id": entry.id,
        "intake_id": intake.id,
        "source": intake.source,
        "message_id": intake.message_id,
        "received_at": iso(intake.received_at),
        "error": entry.error,
        "attempts": entry.attempts,
        "created_at": iso(entry.created_at),
        "updated_at": iso(entry.updated_at),
        "traceback": entry.traceback,
        "state": quarantine_state(entry),
        "discarded_at": iso(entry.discarded_at),
        "resolved_at": iso(entry.resolved_at),
    }


def quarantine_state(entry: Quarantine) -> str:
    """open | discarded | resolved (see `maildesk.pipeline.quarantine`)."""
    if entry.resolved_at is not None:
        return "resolved"
    return "open" if entry.discarded_at is None else "discarded"


def outbox_entry(row: Outbox, desks: Desks) -> dict[str, Any]:
    seq = getattr(row, "ticket_seq", None)  # see outbound.outbox.list_rows
    slug = getattr(row, "ticket_desk", None)
    return {
        "id": row.id,
        "message_id": row.message_id,
        "purpose": row.purpose,
        "audience": row.audience,
        "ticket": None if seq is None else desks.label(slug, seq),
        "to": list(row.recipients),
        "subject": row.subject,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at) if row.status == "pending" else None,
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
    }
