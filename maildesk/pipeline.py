"""The pipeline: a stored message becomes part of a ticket.

    intake (raw bytes committed)            -> inbound/intake.py
    parse        bytes -> ParsedMessage     -> core/message.py
    classify     automated mail?            -> core/autoreply.py
    match        which ticket, if any       -> core/match.py
    store        ticket, message, attachments, participants, events (one transaction)
    failures     -> quarantine with the error; `maildesk quarantine retry` runs it again

One message is one transaction; one bad message never blocks the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import peewee

from maildesk.config import Config
from maildesk.core.autoreply import Classification, classify
from maildesk.core.match import (
    Action,
    Decision,
    Sender,
    candidate_numbers,
    decide,
    format_number,
    strip_tags,
    thread_refs,
)
from maildesk.core.message import Address, ParsedMessage, parse_message
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Attachment, Intake, Message, Quarantine, Ticket

log = logging.getLogger(__name__)

NO_SUBJECT = "(no subject)"


class Unprocessable(Exception):
    """The message cannot become part of a ticket as it is (kept in quarantine)."""


@dataclass(frozen=True)
class Outcome:
    """What became of one message; the `ingest --json` line is made from it."""

    intake_id: int
    action: str  # created | appended | duplicate | quarantined | ignored
    ticket: str | None
    message_id: str | None
    reason: str


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Pipeline:
    def __init__(
        self, db: peewee.Database, config: Config, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.prefix = config.desk.ticket_prefix
        self.our_addresses = frozenset(a.lower() for a in config.desk.addresses)
        self._secret: bytes | None = None

    # -- entry points -------------------------------------------------------------

    def process(self, intake_id: int) -> Outcome:
        """Run one stored message through the pipeline; failures go to quarantine."""
        try:
            with write_transaction(self.db):
                return self._process(intake_id)
        except Exception as exc:  # noqa: BLE001 - any failure must quarantine, not escape
            return self._quarantine(intake_id, exc)

    def process_pending(self, ids: Iterable[int]) -> list[Outcome]:
        return [self.process(intake_id) for intake_id in ids]

    def duplicate(self, intake_id: int, message_id: str | None) -> Outcome:
        """The outcome to report for a redelivered message (already stored)."""
        intake = Intake.get_by_id(intake_id)
        ticket = Ticket.get_by_id(intake.ticket_id) if intake.ticket_id else None
        return Outcome(
            intake_id,
            "duplicate",
            self._label(ticket),
            message_id,
            f"already stored (intake {intake_id}, {intake.state})",
        )

    # -- the flow -----------------------------------------------------------------

    def _process(self, intake_id: int) -> Outcome:
        intake = Intake.get_by_id(intake_id)
        if intake.state == "processed":
            return self._outcome(intake)
        now = self.clock()
        parsed = parse_message(repo.blob_bytes(intake.raw_id))
        classification = classify(parsed, intake.envelope_from)
        sender = self._sender(parsed, intake)
        decision = self._match(parsed, sender, classification, now)
        ticket = self._apply(decision, parsed, classification, sender, intake, now)
        return self._finish(intake, decision, ticket, now)

    def _sender(self, parsed: ParsedMessage, intake: Intake) -> Sender:
        address = self._sender_address(parsed, intake)
        email = address.key
        return Sender(
            email=email,
            is_agent=email in repo.active_agent_emails(),
            is_ours=email in self.our_addresses,
        )

    def _sender_address(self, parsed: ParsedMessage, intake: Intake) -> Address:
        if parsed.from_ is not None and "@" in parsed.from_.email:
            return parsed.from_
        for address in parsed.reply_to:
            if "@" in address.email:
                return address
        envelope = (intake.envelope_from or "").strip()
        if "@" in envelope:
            local, _, domain = envelope.rpartition("@")
            return Address(name="", email=f"{local}@{domain.lower()}")
        raise Unprocessable("no sender address (From, Reply-To and envelope sender all missing)")

    def _match(
        self,
        parsed: ParsedMessage,
        sender: Sender,
        classification: Classification,
        now: dt.datetime,
    ) -> Decision:
        refs = thread_refs(
            parsed.in_reply_to, parsed.references, parsed.subject, self.prefix, self.secret
        )
        known = repo.tickets_of_message_ids(refs.message_ids)
        facts = repo.ticket_facts(candidate_numbers(refs, known.values()))
        return decide(
            refs, facts, known, sender, classification, now, self.config.tickets.reopen_days
        )

    def _apply(
        self,
        decision: Decision,
        parsed: ParsedMessage,
        classification: Classification,
        sender: Sender,
        intake: Intake,
        now: dt.datetime,
    ) -> Ticket | None:
        if decision.action is Action.IGNORE:
            return None
        address = self._sender_address(parsed, intake)
        if decision.action is Action.CREATE:
            ticket = self._open_ticket(parsed, classification, address, decision, intake, now)
        else:
            assert decision.ticket is not None
            ticket = Ticket.get(Ticket.number == decision.ticket)
            if not classification.automated and not sender.is_agent:
                self._customer_replied(ticket, decision, sender, now)
        self._add_message(ticket, parsed, classification, sender, intake, now)
        if not classification.automated and not sender.is_agent:
            self._add_recipients_as_cc(ticket, parsed, sender, now)
        ticket.updated_at = now
        ticket.save()
        return ticket

    def _open_ticket(
        self,
        parsed: ParsedMessage,
        classification: Classification,
        address: Address,
        decision: Decision,
        intake: Intake,
        now: dt.datetime,
    ) -> Ticket:
        requester = repo.contact_for(address.key, address.name, now)
        ticket = Ticket.create(
            number=repo.next_ticket_number(self.db),
            subject=strip_tags(parsed.subject, self.prefix) or NO_SUBJECT,
            status="new",
            priority=self.config.tickets.default_priority,
            requester=requester,
            automated=classification.automated,
            created_at=now,
            updated_at=now,
        )
        repo.add_participant(ticket, requester, "requester")
        data: dict[str, object] = {"subject": ticket.subject, "source": intake.source}
        if classification.automated:
            data["automated"] = f"{classification.kind}: {classification.reason}"
        repo.record_event(ticket, address.key, "created", data, now)
        if decision.untrusted:
            labels = [format_number(self.prefix, n) for n in decision.untrusted]
            repo.record_event(
                ticket,
                "system",
                "reference_not_trusted",
                {"referenced": labels, "reason": "sender is not a participant"},
                now,
            )
        if decision.follows is not None:
            label = format_number(self.prefix, decision.follows)
            repo.record_event(ticket, "system", "follows", {"ticket": label}, now)
        return ticket

    def _add_message(
        self,
        ticket: Ticket,
        parsed: ParsedMessage,
        classification: Classification,
        sender: Sender,
        intake: Intake,
        now: dt.datetime,
    ) -> Message:
        author = parsed.from_ or Address(name="", email=sender.email)
        message = Message.create(
            ticket=ticket,
            intake=intake,
            message_id=parsed.message_id,
            in_reply_to=list(parsed.in_reply_to),
            references=list(parsed.references),
            direction="inbound",
            kind="agent" if sender.is_agent else "customer",
            mail_kind=str(classification.kind),
            from_email=sender.email,
            from_name=author.name,
            to=[a.key for a in parsed.to],
            cc=[a.key for a in parsed.cc],
            subject=parsed.subject,
            body_text=parsed.text,
            body_html=parsed.html,
            sent_at=parsed.date,
            created_at=now,
        )
        for part in parsed.attachments:
            Attachment.create(
                message=message,
                blob=repo.put_blob(part.data, now),
                filename=part.filename,
                content_type=part.content_type,
                size=len(part.data),
                content_id=part.content_id,
                inline=part.inline,
            )
        repo.record_event(
            ticket,
            sender.email,
            "message_added",
            {"message": message.id, "kind": message.kind, "mail_kind": message.mail_kind},
            now,
        )
        return message

    def _add_recipients_as_cc(
        self, ticket: Ticket, parsed: ParsedMessage, sender: Sender, now: dt.datetime
    ) -> None:
        """People the customer copied become participants, so their replies thread."""
        skip = self.our_addresses | repo.active_agent_emails() | {sender.email}
        for address in (*parsed.to, *parsed.cc):
            if address.key in skip or "@" not in address.key:
                continue
            contact = repo.contact_for(address.key, address.name, now)
            if repo.add_participant(ticket, contact, "cc"):
                repo.record_event(ticket, sender.email, "cc_added", {"email": address.key}, now)

    def _customer_replied(
        self, ticket: Ticket, decision: Decision, sender: Sender, now: dt.datetime
    ) -> None:
        """A customer's answer puts the ticket back in the agents' court."""
        if decision.reopen:
            self._set_status(ticket, "open", sender.email, now, reopened=True)
        elif ticket.status == "waiting_on_customer":
            self._set_status(ticket, "open", sender.email, now)

    def _set_status(
        self, ticket: Ticket, status: str, actor: str, now: dt.datetime, reopened: bool = False
    ) -> None:
        before = ticket.status
        if before == status:
            return
        ticket.status = status
        if reopened:
            ticket.resolved_at = None
            ticket.closed_at = None
        repo.record_event(
            ticket,
            actor,
            "reopened" if reopened else "status_changed",
            {"before": before, "after": status},
            now,
        )

    def _finish(
        self, intake: Intake, decision: Decision, ticket: Ticket | None, now: dt.datetime
    ) -> Outcome:
        intake.state = "processed"
        intake.action = str(decision.action)
        intake.reason = decision.reason
        intake.ticket = ticket
        intake.processed_at = now
        intake.save()
        Quarantine.update(resolved_at=now, updated_at=now).where(
            (Quarantine.intake == intake) & Quarantine.resolved_at.is_null()
        ).execute()
        return self._outcome(intake)

    # -- failure ------------------------------------------------------------------

    def _quarantine(self, intake_id: int, exc: Exception) -> Outcome:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        trace = traceback.format_exc()
        log.warning("intake %s quarantined: %s", intake_id, error)
        now = self.clock()
        with write_transaction(self.db):
            intake = Intake.get_by_id(intake_id)
            intake.state = "quarantined"
            intake.action = "quarantined"
            intake.reason = error
            intake.save()
            entry = Quarantine.get_or_none(Quarantine.intake == intake)
            if entry is None:
                Quarantine.create(
                    intake=intake, error=error, traceback=trace, created_at=now, updated_at=now
                )
            else:
                entry.error, entry.traceback, entry.updated_at = error, trace, now
                entry.attempts += 1
                entry.resolved_at = None
                entry.save()
            return self._outcome(intake)

    # -- helpers ------------------------------------------------------------------

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            configured = self.config.desk.secret_key
            self._secret = configured.encode() if configured else repo.stored_secret_key(self.db)
        return self._secret

    def _label(self, ticket: Ticket | None) -> str | None:
        return None if ticket is None else format_number(self.prefix, ticket.number)

    def _outcome(self, intake: Intake) -> Outcome:
        ticket = Ticket.get_by_id(intake.ticket_id) if intake.ticket_id else None
        return Outcome(
            intake.id,
            intake.action or intake.state,
            self._label(ticket),
            intake.message_id,
            intake.reason or "",
        )
