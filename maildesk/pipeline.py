"""The pipeline: a stored message becomes part of a ticket.

    intake (raw bytes committed)            -> inbound/intake.py
    parse        bytes -> ParsedMessage     -> core/message/
    classify     automated mail?            -> core/autoreply.py
    match        which ticket, if any       -> core/match.py
    store        ticket, message, attachments, participants, events (one transaction)
    failures     -> quarantine with the error; `maildesk quarantine retry` runs it again

Each message is one transaction (or one savepoint in a batch): a bad message is
rolled back alone and quarantined, and never blocks the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from maildesk.store import repo, rows
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


@dataclass
class _Mail:
    """One message on its way through the pipeline, and what is learnt about it."""

    intake: Intake
    parsed: ParsedMessage
    classification: Classification
    author: Address  # who wrote it (From, else Reply-To, else the envelope sender)
    sender: Sender
    agents: frozenset[str]  # active agents' addresses, read once per message
    now: dt.datetime
    events: list[dict[str, Any]] = field(default_factory=list)  # written in one go

    def event(self, ticket: Ticket, actor: str, type_: str, data: dict[str, Any]) -> None:
        self.events.append(
            {"ticket": ticket, "at": self.now, "actor": actor, "type": type_, "data": data}
        )


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

    def process(self, intake_id: int, raw: bytes | None = None) -> Outcome:
        """Run one stored message through the pipeline; failures go to quarantine.
        `raw`: its bytes when the caller still holds them (saves reading them back)."""
        try:
            with write_transaction(self.db):
                outcome = self._process(intake_id, raw)
                if outcome is None:  # processed earlier: report what became of it
                    intake = Intake.get_by_id(intake_id)
                    outcome = self._outcome(intake, self._ticket_of(intake))
                return outcome
        except Exception as exc:  # noqa: BLE001 - any failure must quarantine, not escape
            return self._quarantine(intake_id, exc)

    def process_if_pending(self, intake_id: int) -> Outcome | None:
        """The background worker's entry: like `process`, but None (nothing done) when
        the message is already processed, quarantined, or held by another instance."""
        try:
            with write_transaction(self.db):
                if not repo.claim_pending_intake(self.db, intake_id):
                    return None
                return self._process(intake_id, None)
        except Exception as exc:  # noqa: BLE001 - any failure must quarantine, not escape
            return self._quarantine(intake_id, exc)

    def process_batch(self, items: Sequence[tuple[int, bytes | None]]) -> list[Outcome | None]:
        """Several stored messages (id, raw bytes if at hand) in one transaction, each
        in a savepoint of its own: one disk sync for the batch, and a failing message
        is rolled back alone and quarantined. A database failure raises (nothing of
        the batch is processed then; the messages stay pending). None for a message
        another worker processed meanwhile."""
        outcomes: list[Outcome | None] = []
        with write_transaction(self.db):
            for intake_id, raw in items:
                try:
                    with self.db.atomic():
                        outcomes.append(self._process(intake_id, raw))
                except peewee.OperationalError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any message fault quarantines
                    outcomes.append(self._record_quarantine(intake_id, exc))
        return outcomes

    def duplicate(self, intake_id: int, message_id: str | None) -> Outcome:
        """The outcome to report for a redelivered message (already stored)."""
        intake = Intake.get_by_id(intake_id)
        return Outcome(
            intake_id,
            "duplicate",
            self._label(self._ticket_of(intake)),
            message_id,
            f"already stored (intake {intake_id}, {intake.state})",
        )

    # -- the flow -----------------------------------------------------------------

    def _process(self, intake_id: int, raw: bytes | None) -> Outcome | None:
        """None when another worker has processed the message meanwhile."""
        intake = repo.lock_intake(self.db, intake_id)
        if intake.state == "processed":
            return None
        parsed = parse_message(raw if raw is not None else repo.blob_bytes(intake.raw_id))
        mail = self._understand(intake, parsed)
        decision = self._match(mail)
        ticket = self._apply(decision, mail)
        repo.record_events(mail.events)
        return self._finish(mail, decision, ticket)

    def _understand(self, intake: Intake, parsed: ParsedMessage) -> _Mail:
        """Classify the message and say who sent it."""
        author = self._author(parsed, intake)
        agents = repo.active_agent_emails()
        sender = Sender(
            email=author.key,
            is_agent=author.key in agents,
            is_ours=author.key in self.our_addresses,
        )
        return _Mail(
            intake=intake,
            parsed=parsed,
            classification=classify(parsed, intake.envelope_from),
            author=author,
            sender=sender,
            agents=agents,
            now=self.clock(),
        )

    def _author(self, parsed: ParsedMessage, intake: Intake) -> Address:
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

    def _match(self, mail: _Mail) -> Decision:
        parsed = mail.parsed
        refs = thread_refs(
            parsed.in_reply_to, parsed.references, parsed.subject, self.prefix, self.secret
        )
        known = repo.tickets_of_message_ids(refs.message_ids)
        facts = repo.ticket_facts(candidate_numbers(refs, known.values()))
        return decide(
            refs,
            facts,
            known,
            mail.sender,
            mail.classification,
            mail.now,
            self.config.tickets.reopen_days,
        )

    def _apply(self, decision: Decision, mail: _Mail) -> Ticket | None:
        if decision.action is Action.IGNORE:
            return None
        human_customer = not mail.classification.automated and not mail.sender.is_agent
        if decision.action is Action.CREATE:
            ticket = self._open_ticket(decision, mail)
        else:
            assert decision.ticket is not None
            ticket = rows.get(self.db, Ticket, "number", decision.ticket)
            if human_customer:
                self._customer_replied(ticket, decision, mail)
            ticket.updated_at = mail.now
            rows.update(self.db, ticket)
        self._add_message(ticket, mail)
        if human_customer:
            self._add_recipients_as_cc(ticket, mail)
        return ticket

    def _open_ticket(self, decision: Decision, mail: _Mail) -> Ticket:
        requester = repo.contact_for(mail.author.key, mail.author.name, mail.now)
        ticket = rows.create(
            self.db,
            Ticket,
            {
                "number": repo.next_ticket_number(self.db),
                "subject": strip_tags(mail.parsed.subject, self.prefix) or NO_SUBJECT,
                "status": "new",
                "priority": self.config.tickets.default_priority,
                "requester": requester,
                "automated": mail.classification.automated,
                "created_at": mail.now,
                "updated_at": mail.now,
            },
        )
        repo.add_participant(ticket, requester, "requester", new_ticket=True)
        data: dict[str, Any] = {"subject": ticket.subject, "source": mail.intake.source}
        if mail.classification.automated:
            data["automated"] = f"{mail.classification.kind}: {mail.classification.reason}"
        mail.event(ticket, mail.sender.email, "created", data)
        if decision.untrusted:
            labels = [format_number(self.prefix, n) for n in decision.untrusted]
            mail.event(
                ticket,
                "system",
                "reference_not_trusted",
                {"referenced": labels, "reason": "sender is not a participant"},
            )
        if decision.follows is not None:
            label = format_number(self.prefix, decision.follows)
            mail.event(ticket, "system", "follows", {"ticket": label})
        return ticket

    def _add_message(self, ticket: Ticket, mail: _Mail) -> Message:
        parsed = mail.parsed
        message = rows.create(
            self.db,
            Message,
            {
                "ticket": ticket,
                "intake": mail.intake,
                "message_id": parsed.message_id,
                "in_reply_to": list(parsed.in_reply_to),
                "references": list(parsed.references),
                "direction": "inbound",
                "kind": "agent" if mail.sender.is_agent else "customer",
                "mail_kind": str(mail.classification.kind),
                "from_email": mail.sender.email,
                "from_name": mail.author.name,
                "to": [a.key for a in parsed.to],
                "cc": [a.key for a in parsed.cc],
                "subject": parsed.subject,
                "body_text": parsed.text,
                "body_html": parsed.html,
                "sent_at": parsed.date,
                "created_at": mail.now,
            },
        )
        for part in parsed.attachments:
            rows.insert(
                self.db,
                Attachment,
                {
                    "message": message,
                    "blob": repo.put_blob(part.data, mail.now),
                    "filename": part.filename,
                    "content_type": part.content_type,
                    "size": len(part.data),
                    "content_id": part.content_id,
                    "inline": part.inline,
                },
            )
        mail.event(
            ticket,
            mail.sender.email,
            "message_added",
            {"message": message.id, "kind": message.kind, "mail_kind": message.mail_kind},
        )
        return message

    def _add_recipients_as_cc(self, ticket: Ticket, mail: _Mail) -> None:
        """People the customer copied become participants, so their replies thread."""
        skip = self.our_addresses | mail.agents | {mail.sender.email}
        for address in (*mail.parsed.to, *mail.parsed.cc):
            if address.key in skip or "@" not in address.key:
                continue
            contact = repo.contact_for(address.key, address.name, mail.now)
            if repo.add_participant(ticket, contact, "cc"):
                mail.event(ticket, mail.sender.email, "cc_added", {"email": address.key})

    def _customer_replied(self, ticket: Ticket, decision: Decision, mail: _Mail) -> None:
        """A customer's answer puts the ticket back in the agents' court."""
        if decision.reopen:
            self._set_status(ticket, "open", mail, reopened=True)
        elif ticket.status == "waiting_on_customer":
            self._set_status(ticket, "open", mail)

    def _set_status(self, ticket: Ticket, status: str, mail: _Mail, reopened: bool = False) -> None:
        before = ticket.status
        if before == status:
            return
        ticket.status = status
        if reopened:
            ticket.resolved_at = None
            ticket.closed_at = None
        kind = "reopened" if reopened else "status_changed"
        mail.event(ticket, mail.sender.email, kind, {"before": before, "after": status})

    def _finish(self, mail: _Mail, decision: Decision, ticket: Ticket | None) -> Outcome:
        intake = mail.intake
        was_quarantined = intake.state == "quarantined"
        intake.state = "processed"
        intake.action = str(decision.action)
        intake.reason = decision.reason
        intake.ticket = ticket
        intake.processed_at = mail.now
        rows.update(self.db, intake)
        if was_quarantined:
            Quarantine.update(resolved_at=mail.now, updated_at=mail.now).where(
                (Quarantine.intake == intake) & Quarantine.resolved_at.is_null()
            ).execute()
        return self._outcome(intake, ticket)

    # -- failure ------------------------------------------------------------------

    def _quarantine(self, intake_id: int, exc: Exception) -> Outcome:
        with write_transaction(self.db):
            return self._record_quarantine(intake_id, exc)

    def _record_quarantine(self, intake_id: int, exc: Exception) -> Outcome:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        trace = traceback.format_exc()
        log.warning("intake %s quarantined: %s", intake_id, error)
        now = self.clock()
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
        return self._outcome(intake, None)

    # -- helpers ------------------------------------------------------------------

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            configured = self.config.desk.secret_key
            self._secret = configured.encode() if configured else repo.stored_secret_key(self.db)
        return self._secret

    def _label(self, ticket: Ticket | None) -> str | None:
        return None if ticket is None else format_number(self.prefix, ticket.number)

    def _ticket_of(self, intake: Intake) -> Ticket | None:
        return Ticket.get_by_id(intake.ticket_id) if intake.ticket_id else None

    def _outcome(self, intake: Intake, ticket: Ticket | None) -> Outcome:
        return Outcome(
            intake.id,
            intake.action or intake.state,
            self._label(ticket),
            intake.message_id,
            intake.reason or "",
        )
