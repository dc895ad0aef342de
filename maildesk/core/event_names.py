"""What a webhook calls each entry of the event log: the public event names, and which
entries are internal (sent only to endpoints that ask for internal events).

Where it sits: the webhook cursor (`events.fanout`) asks `public_event` for each new
entry of the log; `[[webhook]] events` and `maildesk webhooks add --event` take the
names below. Pure: names and one small function over plain values.

An entry of the log maps to at most one public event, so a receiver that takes `*`
sees each change once: a status moved to closed is `ticket.closed`, not also
`ticket.updated`. Entry types this table does not name (new ones included) count
as internal until they are added here: nothing reaches a receiver by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from maildesk.core.vocabulary import CLOSED

CREATED = "ticket.created"
UPDATED = "ticket.updated"
ASSIGNED = "ticket.assigned"
MESSAGE_ADDED = "ticket.message.added"
CLOSED_EVENT = "ticket.closed"
RATED = "ticket.rated"
SLA_WARNING = "ticket.sla.warning"
SLA_BREACHED = "ticket.sla.breached"

EVENTS = (
    CREATED,
    UPDATED,
    ASSIGNED,
    MESSAGE_ADDED,
    CLOSED_EVENT,
    RATED,
    SLA_WARNING,
    SLA_BREACHED,
)
ALL = "*"

# Log entries and the public event each one is (a status change is decided below).
PUBLIC: Mapping[str, str] = {
    "created": CREATED,
    "message_added": MESSAGE_ADDED,  # an internal note's: internal
    "assigned": ASSIGNED,
    "satisfaction_rated": RATED,
    "sla_warning": SLA_WARNING,
    "sla_breached": SLA_BREACHED,
    "reopened": UPDATED,
    # The customer's own answers to a request (`tickets.customer_close`).
    "closed_by_customer": CLOSED_EVENT,
    "resolution_confirmed": CLOSED_EVENT,
    "reopened_by_customer": UPDATED,
    "priority_changed": UPDATED,
    "category_changed": UPDATED,
    "desk_changed": UPDATED,
    "field_changed": UPDATED,
    "tags_changed": UPDATED,
    "cc_added": UPDATED,
    "cc_removed": UPDATED,
    "merged": UPDATED,
    "merged_into": UPDATED,
    "routed": UPDATED,
    "kb_linked": UPDATED,
    "requester_changed": UPDATED,
    "linked": UPDATED,
    "unlinked": UPDATED,
    "split_into": UPDATED,
    "split_from": UPDATED,
    "replied_linked": UPDATED,
    "time_logged": UPDATED,
    "snoozed": UPDATED,
    "unsnoozed": UPDATED,
    "woken": UPDATED,
    "close_warning": UPDATED,
    "bounce_received": UPDATED,
    "address_undeliverable": UPDATED,
    "address_deliverable": UPDATED,
}
# Entries that are internal changes (`ticket.updated`, only for endpoints that take
# internal events): who follows a ticket, whom a note mentions, and one agent's own
# reminders (`#remind` and its mail).
INTERNAL = frozenset({"followed", "unfollowed", "mentioned", "reminder_set", "reminder_sent"})
# Entries that repeat what another entry of the same change already says.
# A reply held as stale is its internal note's `message_added`; a held reply sent
# (`#send`) or replaced by a newer one, the `message_added` of the reply that went out.
# The SLA's own: a first or next response is the agent's message, a next response's
# clock starts with the customer's; warnings and breaches name their target in data.
REPEATS = frozenset(
    {
        "auto_closed",
        "first_response",
        "forwarded",
        "reply_held",
        "held_reply_sent",
        "held_reply_dropped",
        "next_response",
        "next_response_started",
    }
)


@dataclass(frozen=True)
class PublicEvent:
    name: str  # one of EVENTS
    internal: bool  # only for endpoints that take internal events


def public_event(entry_type: str, data: Mapping[str, Any]) -> PublicEvent | None:
    """The public event a log entry is, or None when it is sent to no endpoint."""
    if entry_type in REPEATS:
        return None
    if entry_type == "status_changed":
        name = CLOSED_EVENT if data.get("after") == CLOSED else UPDATED
        return PublicEvent(name, False)
    if entry_type == "message_added":
        return PublicEvent(MESSAGE_ADDED, data.get("kind") == "note")
    if entry_type in INTERNAL:
        return PublicEvent(UPDATED, True)
    known = PUBLIC.get(entry_type)
    if known is None or entry_type in INTERNAL:
        return PublicEvent(UPDATED, True)
    return PublicEvent(known, False)


def wanted(names: tuple[str, ...] | list[str], event: str) -> bool:
    """Whether an endpoint subscribed to `names` takes `event`."""
    return ALL in names or event in names
