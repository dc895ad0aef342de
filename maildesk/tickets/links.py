"""Tickets that belong together: links (`#link`, `#incident`, `#unlink`) and splits
(`#split`, the ticket page's "Split from here").

Where it sits in the flow: `TicketChanges` checks and applies the link commands of an
agent's reply through `TicketLinks`; the pipeline splits after it stored the reply
(the messages to move were chosen before), and answers an incident's tickets
(`#reply-linked`) with `children`. The web and the API call the same methods.

A link is one `TicketLink` row per pair of tickets of one desk: `related` (kept with
the lower ticket id first: the pair has no direction) or `parent` (from the incident to
a ticket it answers). A merged ticket is linked through its survivor. Every change is
logged on both tickets (design invariant 7).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import peewee

from maildesk.core.commands import LinkKind
from maildesk.core.match import ThreadRefs, TicketLabel, strip_tags
from maildesk.core.vocabulary import OPEN
from maildesk.store import repo, rows
from maildesk.store.models import Contact, Intake, Message, Outbox, Participant, Ticket, TicketLink
from maildesk.tickets.labels import Labels
from maildesk.tickets.sla_clock import SLA_FIELDS, SlaTracker

EventLog = Callable[[Ticket, str, str, dict[str, Any]], None]

_REPLY_PREFIX = re.compile(r"^(\s*(re|aw|sv|wg|fwd?)\s*:\s*)+", re.I)

# How a linked ticket stands to the one being looked at.
RELATED = "related"
PARENT = "parent"  # it is this ticket's incident
CHILD = "child"  # this ticket is its incident


@dataclass(frozen=True)
class Linked:
    """A ticket linked to the one being looked at, and how (`RELATED|PARENT|CHILD`)."""

    ticket: Ticket
    relation: str


def linked(ticket: Ticket) -> list[Linked]:
    """The tickets linked to `ticket`, oldest link first."""
    query = (
        TicketLink.select()
        .where((TicketLink.source == ticket) | (TicketLink.target == ticket))
        .order_by(TicketLink.id)
    )
    found: list[Linked] = []
    for link in query:
        mine = link.source_id == ticket.id
        other = Ticket.get_by_id(link.target_id if mine else link.source_id)
        relation = RELATED if link.kind != PARENT else CHILD if mine else PARENT
        found.append(Linked(other, relation))
    return found


class TicketLinks:
    def __init__(
        self,
        db: peewee.Database,
        labels: Labels,
        now: dt.datetime,
        log: EventLog,
        sla: SlaTracker | None = None,
    ) -> None:
        self.db = db
        self.labels = labels
        self.now = now
        self.log = log
        self.sla = sla  # starts the clocks of a ticket split off

    # -- reading ------------------------------------------------------------------------

    def find(self, ticket: Ticket, label: TicketLabel) -> Ticket | str:
        """The ticket `label` names for a link from `ticket` (merges followed), or why
        there is none. Another desk's ticket is "no such ticket": it is not there."""
        number = next(iter(self.labels.numbers([label], ticket.desk)), 0)
        other = Ticket.get_or_none(Ticket.number == number)
        if other is None:
            return "no such ticket"
        other = repo.survivor(other)
        if other.desk != ticket.desk:
            return "no such ticket"
        if other.id == ticket.id:
            return "that is this ticket"
        return other

    @staticmethod
    def of(ticket: Ticket) -> list[Linked]:
        return linked(ticket)

    def children(self, ticket: Ticket) -> list[Ticket]:
        """The tickets `ticket` is the incident of, each at its survivor, of its desk."""
        found: dict[int, Ticket] = {}
        for linked in self.of(ticket):
            if linked.relation != CHILD:
                continue
            child = repo.survivor(linked.ticket)
            if child.desk == ticket.desk and child.id != ticket.id:
                found.setdefault(child.id, child)
        return list(found.values())

    @staticmethod
    def between(one: Ticket, other: Ticket) -> TicketLink | None:
        return TicketLink.get_or_none(
            ((TicketLink.source == one) & (TicketLink.target == other))
            | ((TicketLink.source == other) & (TicketLink.target == one))
        )

    # -- changes ------------------------------------------------------------------------

    def link(self, ticket: Ticket, other: Ticket, kind: LinkKind, actor: str) -> bool:
        """Relate the two tickets (`RELATED`), or make `other` the incident `ticket`
        belongs to (`PARENT`); False when they already were linked so."""
        source, target = (
            (other, ticket)
            if kind is LinkKind.PARENT
            else sorted((ticket, other), key=lambda t: t.id)
        )
        existing = self.between(ticket, other)
        if existing is not None:
            if (existing.kind, existing.source_id) == (kind.value, source.id):
                return False
            existing.delete_instance()
        rows.insert(
            self.db,
            TicketLink,
            {
                "source": source,
                "target": target,
                "kind": kind.value,
                "created_at": self.now,
                "created_by": actor,
            },
        )
        ours, theirs = self.labels.of(ticket), self.labels.of(other)
        if kind is LinkKind.PARENT:
            self.log(ticket, actor, "linked", {"ticket": theirs, "relation": PARENT})
            self.log(other, actor, "linked", {"ticket": ours, "relation": CHILD})
        else:
            self.log(ticket, actor, "linked", {"ticket": theirs, "relation": RELATED})
            self.log(other, actor, "linked", {"ticket": ours, "relation": RELATED})
        return True

    def unlink(self, ticket: Ticket, other: Ticket, actor: str) -> bool:
        """False when the two were not linked."""
        existing = self.between(ticket, other)
        if existing is None:
            return False
        existing.delete_instance()
        self.log(ticket, actor, "unlinked", {"ticket": self.labels.of(other)})
        self.log(other, actor, "unlinked", {"ticket": self.labels.of(ticket)})
        return True

    # -- splitting ----------------------------------------------------------------------

    @staticmethod
    def answered(ticket: Ticket, message_ids: Sequence[str]) -> Message | None:
        """The message of `ticket` a reply answers: the first of its referenced ids
        (`message_ids`, nearest first) that is a message of the ticket, or our mail
        about one (a notification, a relayed reply)."""
        for mid in dict.fromkeys(message_ids):
            message = Message.get_or_none((Message.message_id == mid) & (Message.ticket == ticket))
            if message is not None:
                return message
            sent = Outbox.get_or_none(
                (Outbox.message_id == mid) & Outbox.ticket_message.is_null(False)
            )
            if sent is not None:
                about = Message.get_by_id(sent.ticket_message_id)
                if about.ticket_id == ticket.id:
                    return about
        return None

    @staticmethod
    def follow_splits(refs: ThreadRefs) -> ThreadRefs:
        """`refs` as they read once messages were split off to another ticket: mail we
        sent about a moved message was signed for the old ticket, yet a reply to it
        belongs where the message is now; so does a reply to a moved message itself.
        Only the nearest reference (In-Reply-To) is followed so. Our own mail is proof
        of the ticket as its signature is; a customer's message only counts for its
        ticket's participants (the older signed references are set aside for it)."""
        if not refs.signed_numbers or not refs.message_ids:
            return refs
        nearest = refs.message_ids[0]
        sent = (
            Outbox.select(Ticket.number).join(Ticket).where(Outbox.message_id == nearest).scalar()
        )
        if sent is not None:
            numbers = (int(sent), *refs.signed_numbers)
            return dataclasses.replace(refs, signed_numbers=tuple(dict.fromkeys(numbers)))
        stored = Message.select(Message.ticket).where(Message.message_id == nearest).scalar()
        if stored is None:
            return refs
        signed = Ticket.select(Ticket.id).where(Ticket.number.in_(list(refs.signed_numbers)))
        if stored in {t.id for t in signed}:
            return refs  # still where the signed references say
        # The message's ticket is linked to a signed one (as a split leaves them), and is
        # none of them: the message was moved away from the thread's old ticket.
        linked = TicketLink.select().where(
            ((TicketLink.source == stored) & TicketLink.target.in_(signed))
            | ((TicketLink.target == stored) & TicketLink.source.in_(signed))
        )
        if not linked.exists():
            return refs
        return dataclasses.replace(refs, signed_numbers=())

    @staticmethod
    def from_message(ticket: Ticket, first: Message, only: bool) -> list[int]:
        """The ids of the messages a split from `first` moves: it alone (`only`), or it
        and every later message of the ticket."""
        if only:
            return [first.id]
        later = (Message.created_at > first.created_at) | (
            (Message.created_at == first.created_at) & (Message.id >= first.id)
        )
        query = Message.select(Message.id).where((Message.ticket == ticket) & later)
        return [m.id for m in query.order_by(Message.created_at, Message.id)]

    @staticmethod
    def split_problem(ticket: Ticket, message_ids: Sequence[int]) -> str:
        """Why these messages cannot be split off `ticket` ("" if they can)."""
        if not message_ids:
            return "no message to move"
        ids = set(message_ids)
        query = Message.select(Message.id).where(Message.ticket == ticket)
        have = {m.id for m in query}
        if not ids <= have:
            return "not a message of this ticket"
        if ids == have:
            return "that is every message of the ticket: nothing would be left"
        return ""

    def split(self, ticket: Ticket, message_ids: Sequence[int], actor: str) -> Ticket:
        """A new ticket for the same requester and CCs with these messages (and the mail
        sent about them, so replies to it thread there), linked to `ticket` as related.
        The customer gets no mail now: the next reply on the new ticket carries its
        label and status link."""
        ids = list(message_ids)
        first = (
            Message.select()
            .where(Message.id.in_(ids))
            .order_by(Message.created_at, Message.id)
            .first()
        )
        assert first is not None  # checked by `split_problem`
        new = self._new_ticket(ticket, first)
        Message.update(ticket=new).where(Message.id.in_(ids)).execute()
        Outbox.update(ticket=new).where(Outbox.ticket_message.in_(ids)).execute()
        intakes = Message.select(Message.intake).where(
            Message.id.in_(ids) & Message.intake.is_null(False)
        )
        Intake.update(ticket=new).where(Intake.id.in_(intakes)).execute()
        for participant in Participant.select().where(Participant.ticket == ticket):
            contact = Contact.get_by_id(participant.contact_id)
            if participant.role != "requester":
                repo.add_participant(new, contact, participant.role)
        old_label, new_label = self.labels.of(ticket), self.labels.of(new)
        self.log(new, actor, "created", {"subject": new.subject, "source": "split"})
        self.log(ticket, actor, "split_into", {"ticket": new_label, "messages": ids})
        self.log(new, actor, "split_from", {"ticket": old_label, "messages": ids})
        self.link(ticket, new, LinkKind.RELATED, actor)
        ticket.updated_at = self.now
        rows.update(self.db, ticket)
        return new

    def _new_ticket(self, ticket: Ticket, first: Message) -> Ticket:
        number = repo.next_ticket_number(self.db)
        requester = Contact.get_by_id(ticket.requester_id)
        prefixes = self.labels.desks.prefixes
        values: dict[str, Any] = {
            "number": number,
            "seq": self.labels.seq_for(self.db, ticket.desk, number),
            "desk": ticket.desk,
            "subject": _REPLY_PREFIX.sub("", strip_tags(first.subject, prefixes)) or ticket.subject,
            "status": OPEN,
            "priority": ticket.priority,
            "category": ticket.category,
            "requester": requester,
            "automated": ticket.automated,
            "created_at": self.now,
            "updated_at": self.now,
            "mailbox": ticket.mailbox,
            "rate_key": ticket.rate_key,
            "rate_domain": ticket.rate_domain,
        }
        if self.sla is not None:
            draft = Ticket(**values)
            self.sla.start(draft)
            for name in SLA_FIELDS:
                values[name] = getattr(draft, name)
        new = rows.create(self.db, Ticket, values)
        repo.add_participant(new, requester, "requester", new_ticket=True)
        return new
