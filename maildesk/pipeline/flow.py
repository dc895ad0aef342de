"""The pipeline: a stored message becomes part of a ticket.

    intake (raw bytes committed)            -> inbound/intake.py
    parse        bytes -> ParsedMessage     -> core/message/
    classify     automated mail?            -> core/autoreply.py
    bounce       a bounce of our mail?      -> core/bounces.py, pipeline/bounces.py: a system
                 entry on its ticket; a permanent failure marks the address undeliverable
    match        which ticket, if any       -> core/match.py
    limit        too many new tickets from one sender (core/addresses.py: without +tag):
                 append instead; from one domain: open, but tell no agent
    store        ticket, message, attachments, participants, events
    customer     new ticket: acknowledgement + agents notified; reply: assignee (and
                 followers) notified
    agent        verified? (sent to their signed reply address, core/reply_address.py;
                 or core/authres.py) -> #commands (core/commands.py, tickets/changes.py)
                 and @mentions (core/mentions.py, tickets/followers.py: only in a note)
                 -> reply relayed to the customer, or kept as an internal note (the
                 agents it mentions and the ticket's followers told);
                 unverified: a flagged note, and the agent told how to reply so it counts
                 a new mail of theirs that forwards a customer's (core/forwards.py) or
                 starts with #requester: the ticket is opened for that customer
    late         answered or resolved after the due time: the breach escalated
                 (tickets/escalation.py), unless the SLA pass did already
    mail         outbox rows (outbound/compose.py), sent later by outbound/worker.py
    failures     -> quarantine with the error; `maildesk quarantine retry` runs it again

Each message is one transaction (or one savepoint in a batch), mail included: a
bad message is rolled back alone and quarantined, and never blocks the others.
A failing database (locked too long, disk full, connection lost: see
`store.db.is_transient`) is not the message's fault: the error is raised, the
message stays pending, and the pipeline worker (or the next `ingest`) tries again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from maildesk.core.addresses import domain_of, rate_key
from maildesk.core.authres import verify_sender
from maildesk.core.autoreply import Classification, classify
from maildesk.core.bounces import read_bounce
from maildesk.core.commands import (
    Assign,
    LinkArticle,
    ParsedReply,
    SendHeld,
    SetRequester,
    Split,
    UseTemplate,
    parse_reply,
)
from maildesk.core.customer_words import Wish, read_wish
from maildesk.core.forwards import Forward, find_forward, strip_forward_prefix
from maildesk.core.links import article_page
from maildesk.core.match import (
    Action,
    Decision,
    Sender,
    candidate_numbers,
    decide,
    strip_tags,
    subject_labels,
    thread_refs,
)
from maildesk.core.message import Address, ParsedMessage, parse_message
from maildesk.core.message import Attachment as MailPart
from maildesk.core.quoting import split_reply
from maildesk.core.reply_address import ReplyToken, base_address, is_our_address, reply_tokens
from maildesk.core.routing import MailFacts
from maildesk.core.vocabulary import AGENT_REPLIED, RESOLVED, replied_status
from maildesk.knowledge import catalog
from maildesk.outbound.compose import Shown
from maildesk.pipeline import bounces
from maildesk.store import repo, rows
from maildesk.store.db import is_transient, keeping_cause, using, write_transaction
from maildesk.store.models import (
    Agent,
    Attachment,
    Intake,
    Message,
    Quarantine,
    Ticket,
)
from maildesk.tickets import (
    customer_close,
    expectations,
    followers,
    held,
    meanwhile,
    next_response,
    undeliverable,
)
from maildesk.tickets.agents import scope_of
from maildesk.tickets.changes import Applied, TicketChanges, set_stamps
from maildesk.tickets.desk import Desk
from maildesk.tickets.links import TicketLinks
from maildesk.tickets.sla_clock import SLA_FIELDS

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


# Intake sources whose mail maildesk built itself for a signed-in agent (web.actions):
# never set for mail that came in from outside.
SIGNED_IN_SOURCES = frozenset({"web", "api"})


@dataclass
class _Mail:
    """One message on its way through the pipeline, and what is learnt about it."""

    intake: Intake
    parsed: ParsedMessage
    classification: Classification
    author: Address  # who wrote it (From, else Reply-To, else the envelope sender)
    sender: Sender
    agents: frozenset[str]  # active agents' addresses, read once per message
    active_agents: list[Agent]  # the same agents
    now: dt.datetime
    # A valid signed reply address among the recipients (the agent's own, if several).
    reply_token: ReplyToken | None = None
    reply_ticket: int | None = None  # the number of the ticket it names (merges followed)
    events: list[dict[str, Any]] = field(default_factory=list)  # written in one go
    capped: bool = False  # over the sender's hourly limit of new tickets
    quiet: str = ""  # why agents are not told about this new ticket (its domain's limit)

    def event(self, ticket: Ticket, actor: str, type_: str, data: dict[str, Any]) -> None:
        self.events.append(
            {"ticket": ticket, "at": self.now, "actor": actor, "type": type_, "data": data}
        )


class Pipeline:
    """Runs stored messages through the flow, on the desk's database and services."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.db = desk.db

    # -- entry points -------------------------------------------------------------

    def process(self, intake_id: int, raw: bytes | None = None) -> Outcome:
        """Run one stored message through the pipeline; failures go to quarantine, and
        a failing database raises (the message stays as it was: pending, or in
        quarantine). `raw`: its bytes when the caller still holds them."""
        try:
            with write_transaction(self.db):
                outcome = self._process(intake_id, raw)
                if outcome is None:  # processed earlier: report what became of it
                    intake = Intake.get_by_id(intake_id)
                    outcome = self._outcome(intake, self._ticket_of(intake))
                return outcome
        except Exception as exc:  # noqa: BLE001 - any failure must quarantine, not escape
            return self._failed(intake_id, exc)

    def process_batch(self, items: Sequence[tuple[int, bytes | None]]) -> list[Outcome | None]:
        """Several stored messages (id, raw bytes if at hand) in one transaction, each
        in a savepoint of its own: one disk sync for the batch, and a failing message
        is rolled back alone and quarantined. A database failure raises (nothing of
        the batch is processed then; the messages stay pending). None for a message
        another worker processed meanwhile."""
        with write_transaction(self.db):
            return self._each_in_savepoint(items, deadline=None)

    def process_pending(self, limit: int, seconds: float) -> list[Outcome]:
        """The background worker's entry: the oldest pending messages (at most `limit`,
        and no more once `seconds` have passed: the transaction holds the write path
        that incoming mail needs), in one transaction, a savepoint each, as
        `process_batch`. Empty when nothing is pending (or, on PostgreSQL, all of it
        is held by other instances)."""
        with write_transaction(self.db):
            claimed = repo.claim_pending_intakes(self.db, limit)
            items = [(intake_id, None) for intake_id in claimed]
            deadline = time.monotonic() + seconds
            return [o for o in self._each_in_savepoint(items, deadline) if o is not None]

    def _each_in_savepoint(
        self, items: Sequence[tuple[int, bytes | None]], deadline: float | None
    ) -> list[Outcome | None]:
        """In the caller's transaction: each message in a savepoint; a failing message is
        quarantined alone, a failing database raises. Past `deadline` (monotonic) the
        messages left are not touched (they stay pending)."""
        outcomes: list[Outcome | None] = []
        agents = repo.active_agents()  # read once for the whole batch
        for intake_id, raw in items:
            if deadline is not None and outcomes and time.monotonic() >= deadline:
                break
            try:
                with keeping_cause(self.db.atomic()):
                    outcomes.append(self._process(intake_id, raw, agents))
            except Exception as exc:  # noqa: BLE001 - any message fault quarantines
                if is_transient(exc):
                    raise
                outcomes.append(self._record_quarantine(intake_id, exc))
        return outcomes

    def duplicate(self, intake_id: int, message_id: str | None) -> Outcome:
        """The outcome to report for a redelivered message (already stored)."""
        with using(self.db):
            intake = Intake.get_by_id(intake_id)
            ticket = self._ticket_of(intake)
        return Outcome(
            intake_id,
            "duplicate",
            self._label(ticket),
            message_id,
            f"already stored (intake {intake_id}, {intake.state})",
        )

    # -- the flow -----------------------------------------------------------------

    def _process(
        self, intake_id: int, raw: bytes | None, agents: list[Agent] | None = None
    ) -> Outcome | None:
        """None when another worker has processed the message meanwhile. `agents`: the
        active agents, when the caller has read them already."""
        intake = repo.lock_intake(self.db, intake_id)
        if intake.state == "processed":
            return None
        raw = raw if raw is not None else repo.blob_bytes(intake.raw_id)
        parsed = parse_message(raw)
        mail = self._understand(intake, parsed, agents)
        bounced = self._bounce(mail, raw)
        if bounced is not None:
            return bounced
        was_undeliverable = self._wrote_again(mail)
        decision = self._limit_new_tickets(self._match(mail), mail)
        ticket = self._apply(decision, mail)
        if ticket is not None and was_undeliverable is not None:
            mail.event(
                ticket,
                mail.sender.email,
                undeliverable.CLEARED,
                {"email": mail.sender.email, "by": "mail", "reason": was_undeliverable},
            )
        repo.record_events(mail.events)
        if ticket is not None:  # answered or resolved after the due time, unseen by a pass
            self.desk.escalation.late(ticket, mail.now)
        return self._finish(mail, decision, ticket)

    def _understand(
        self, intake: Intake, parsed: ParsedMessage, agents: list[Agent] | None
    ) -> _Mail:
        """Classify the message and say who sent it."""
        author = self._author(parsed, intake)
        active = repo.active_agents() if agents is None else agents
        addresses = frozenset(a.email for a in active)
        sender = Sender(
            email=author.key,
            is_agent=author.key in addresses,
            is_ours=is_our_address(author.key, self.desk.our_addresses),
            looped=any(
                value.strip().strip("<>").lower() in self.desk.our_addresses
                for value in parsed.headers.get("x-loop", ())
            ),
        )
        return _Mail(
            intake=intake,
            parsed=parsed,
            classification=classify(parsed, intake.envelope_from),
            author=author,
            sender=sender,
            agents=addresses,
            active_agents=active,
            now=self.desk.clock(),
            reply_token=self._reply_token(intake, parsed, author, active),
        )

    def _reply_token(
        self, intake: Intake, parsed: ParsedMessage, author: Address, agents: list[Agent]
    ) -> ReplyToken | None:
        """The signed reply address the mail was sent to (envelope, To, Cc), if any; of
        several, the one made for the agent whose address the mail is from."""
        addresses = [str(a) for a in intake.envelope_to or ()]
        addresses += [a.email for a in (*parsed.to, *parsed.cc)]
        tokens = reply_tokens(addresses, self.desk.our_addresses, self.desk.secret)
        own = [t for t in tokens for a in agents if a.id == t.agent_id and a.email == author.key]
        return next(iter(own or tokens), None)

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
        """Which ticket the mail belongs to. An agent's mail joins only a ticket of a
        desk they work: another desk's ticket is not there for them, so their mail is
        matched as anyone else's would be (no commands, nothing relayed as theirs)."""
        decision = self._match_as_sender(mail)
        if decision.ticket is None or not mail.sender.is_agent:
            return decision
        if self._of_their_desks(self._agent_of(mail), decision.ticket):
            return decision
        mail.sender = dataclasses.replace(mail.sender, is_agent=False)
        return self._match_as_sender(mail)

    @staticmethod
    def _of_desk(ticket: Ticket, numbers: Sequence[int]) -> list[int]:
        """Those of the tickets `numbers` that are of `ticket`'s desk, in order."""
        if not numbers:
            return []
        query = Ticket.select(Ticket.number).where(
            Ticket.number.in_(list(numbers)) & (Ticket.desk == ticket.desk)
        )
        same = {number for (number,) in rows.tuples(query)}
        return [n for n in numbers if n in same]

    def _of_their_desks(self, agent: Agent, number: int) -> bool:
        desk = Ticket.select(Ticket.desk).where(Ticket.number == number).scalar()
        scope = scope_of(agent, self.desk.desks)
        stored = None if scope is None else scope.stored
        return desk is None or stored is None or desk in stored

    def _match_as_sender(self, mail: _Mail) -> Decision:
        signed = self._reply_ticket(mail)
        if signed is not None:
            return signed
        parsed = mail.parsed
        tagged = self.desk.labels.numbers(subject_labels(parsed.subject, self.desk.desks.prefixes))
        refs = thread_refs(parsed.in_reply_to, parsed.references, tagged, self.desk.secret)
        refs = TicketLinks.follow_splits(refs)
        known = repo.tickets_of_message_ids(refs.message_ids)
        facts = repo.ticket_facts(candidate_numbers(refs, known.values()))
        return decide(
            refs,
            facts,
            known,
            mail.sender,
            mail.classification,
            mail.now,
            self.desk.config.tickets.reopen_days,
        )

    def _reply_ticket(self, mail: _Mail) -> Decision | None:
        """Agent mail sent to a signed reply address joins the ticket the address names,
        whichever agent it was made for: it is our signed proof of the ticket, as a
        signed Message-ID is. Whether it also proves the agent is `_agent_doubt`'s."""
        token, sender = mail.reply_token, mail.sender
        if token is None or not sender.is_agent or sender.is_ours or sender.looped:
            return None
        ticket = rows.get(self.db, Ticket, "number", token.number)
        if ticket is None:
            return None
        mail.reply_ticket = repo.survivor(ticket).number
        return Decision(Action.APPEND, "sent to a signed reply address", ticket=mail.reply_ticket)

    def _limit_new_tickets(self, decision: Decision, mail: _Mail) -> Decision:
        """Over `max_new_per_sender_per_hour` (robot+1@ and robot+2@ are one sender), a
        sender's mail joins their latest ticket (stored, never lost; no acknowledgement,
        no notification). Over `max_new_per_domain_per_hour`, the ticket is opened (its
        sender is someone else) but no agent is mailed about it."""
        if decision.action is not Action.CREATE:
            return decision
        since = mail.now - dt.timedelta(hours=1)
        appended = self._over_sender_limit(mail, since)
        if appended is not None:
            return appended
        domain = domain_of(mail.sender.email)
        recent = rows.count_since(self.db, Ticket, "rate_domain", domain, "created_at", since)
        limit = self.desk.config.tickets.max_new_per_domain_per_hour
        if recent >= limit:
            mail.quiet = f"{limit} new tickets from {domain} in the last hour: agents not mailed"
        return decision

    def _over_sender_limit(self, mail: _Mail, since: dt.datetime) -> Decision | None:
        """Append to the sender's latest ticket if they opened their share since `since`."""
        key = rate_key(mail.sender.email)
        limit = self.desk.config.tickets.max_new_per_sender_per_hour
        if rows.count_since(self.db, Ticket, "rate_key", key, "created_at", since) < limit:
            return None
        latest = (
            Ticket.select()
            .where(Ticket.rate_key == key)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .first()
        )
        assert latest is not None  # the count found it
        mail.capped = True
        return Decision(
            Action.APPEND,
            f"{limit} new tickets from this sender in the last hour: appended to the latest",
            ticket=repo.survivor(latest).number,
        )

    def _apply(self, decision: Decision, mail: _Mail) -> Ticket | None:
        if decision.action is Action.IGNORE:
            return None
        if decision.action is Action.CREATE:
            return self._new_ticket(decision, mail)
        assert decision.ticket is not None
        # Locked and read inside this transaction: a change made meanwhile (another
        # instance, the web, a job) is seen, never overwritten with stale values.
        ticket = repo.lock_ticket(self.db, decision.ticket)
        assert ticket is not None  # tickets are never deleted
        if mail.capped:
            mail.event(ticket, "system", "rate_limited", {"reason": decision.reason})
        if mail.sender.is_agent:
            self._agent_mail(ticket, mail)
        else:
            self._customer_mail(ticket, decision, mail)
        ticket.updated_at = mail.now
        rows.update(self.db, ticket)
        return ticket

    # -- bounces ------------------------------------------------------------------

    def _bounce(self, mail: _Mail, raw: bytes) -> Outcome | None:
        """A bounce of mail we sent: a system entry on its ticket; a permanent failure
        marks the address undeliverable and tells the agents (see pipeline/bounces.py).
        None: not a bounce of ours, so it goes on as any automated mail does."""
        if not mail.classification.automated:
            return None
        found = read_bounce(raw)
        matched = None if found is None else bounces.match(found, self.desk.secret)
        if matched is None:
            return None
        ticket = repo.lock_ticket(self.db, matched.number)
        assert ticket is not None  # the outbox row names it; tickets are never deleted
        self._add_message(ticket, mail, kind="system", body=bounces.entry_text(matched))
        for recipient in matched.reported:
            data = bounces.event_data(matched, recipient)
            mail.event(ticket, "system", "bounce_received", data)
        marked = []
        for recipient in matched.failed:
            reason = bounces.reason(recipient)
            if undeliverable.mark(recipient.email, reason, mail.now) is not None:
                marked.append(recipient.email)
                data = {"email": recipient.email, "reason": reason}
                mail.event(ticket, "system", undeliverable.MARKED, data)
        if matched.failed:
            self.desk.mailer.bounced(
                ticket, matched.failed, marked, mail.active_agents, mail.now, mail.event
            )
        ticket.updated_at = mail.now
        rows.update(self.db, ticket)
        repo.record_events(mail.events)
        to = ", ".join(r.email for r in matched.reported) or "no recipient of it"
        decision = Decision(
            Action.APPEND, f"bounce of our mail {matched.outbox.message_id} ({to})", ticket.number
        )
        return self._finish(mail, decision, ticket)

    def _wrote_again(self, mail: _Mail) -> str | None:
        """Mail written by an address marked undeliverable clears the mark (its reason;
        None: it had none). Before the mail is handled, so that its answers go out."""
        if mail.classification.automated or mail.sender.is_ours:
            return None
        return undeliverable.clear_on_mail(mail.sender.email)

    # -- customers ----------------------------------------------------------------

    def _new_ticket(self, decision: Decision, mail: _Mail) -> Ticket:
        """A new ticket: acknowledged to whoever wrote (unless automated), agents told.
        One opened by unverified mail from an agent's address is neither: its message
        is a flagged note, and only that agent is told (`_unverified`). A verified
        agent's forward or `#requester` mail opens it for the customer instead
        (`_opened_by_agent`)."""
        if mail.sender.is_agent:
            agent = self._agent_of(mail)
            if not self._agent_doubt(mail, agent, None):
                opened = self._opened_by_agent(decision, mail, agent)
                if opened is not None:
                    return opened
        ticket = self._open_ticket(decision, mail)
        if mail.sender.is_agent:
            agent = self._agent_of(mail)
            doubt = self._agent_doubt(mail, agent, ticket)
            if doubt:
                self._unverified(ticket, mail, agent, doubt)
                return ticket
        message = self._add_message(ticket, mail)
        classification = mail.classification
        if not classification.automated and not mail.sender.is_agent:
            self._add_recipients_as_cc(ticket, mail)
        automated = None
        suggested: list[tuple[str, str]] = []
        if classification.automated:
            automated = f"{classification.kind}: {classification.reason}"
        else:
            suggested = self._suggestions(ticket, message, mail)
            expected = expectations.context(
                expectations.current(self.desk.policies, ticket, mail.now), mail.now
            )
            self.desk.mailer.ack(ticket, message, mail.now, mail.event, suggested, expected)
        if mail.quiet:
            log.warning("%s: %s", self._label(ticket), mail.quiet)
            mail.event(ticket, "system", "rate_limited", {"reason": mail.quiet})
            return ticket
        self.desk.mailer.notify_new(
            ticket, message, automated, mail.active_agents, mail.now, mail.event, suggested
        )
        return ticket

    def _customer_mail(self, ticket: Ticket, decision: Decision, mail: _Mail) -> None:
        """A customer's answer puts the ticket back in the agents' court."""
        if mail.classification.automated:  # a bounce or auto-reply to our mail: kept, unanswered
            self._add_message(ticket, mail)
            return
        if self._customer_decided(ticket, mail):
            return
        self._set_status(
            ticket, replied_status(ticket.status, decision.reopen), mail, decision.reopen
        )
        if ticket.snoozed_until is not None:  # the customer wrote: back in the queue now
            until, ticket.snoozed_until = ticket.snoozed_until, None
            data = {"until": until.isoformat(), "reason": "customer reply"}
            mail.event(ticket, mail.sender.email, "unsnoozed", data)
        message = self._add_message(ticket, mail)
        self._add_recipients_as_cc(ticket, mail)
        if self.desk.sla.customer_wrote(ticket, mail.now):  # an answer is due again
            next_response.started(ticket)
            due = ticket.next_response_due
            mail.event(
                ticket,
                mail.sender.email,
                "next_response_started",
                {"message": message.id, "due": None if due is None else due.isoformat()},
            )
        if not mail.capped:
            self.desk.mailer.notify_reply(
                ticket, message, decision.reopen, mail.active_agents, mail.now, mail.event
            )

    def _customer_decided(self, ticket: Ticket, mail: _Mail) -> bool:
        """A reply whose first line closes the request (or confirms its resolution), or
        says that its resolution did not solve it (`core.customer_words`), from the
        ticket's requester or a CC: done, with the rest of the text kept as their
        message (`tickets.customer_close`). False: an ordinary reply."""
        said = read_wish(split_reply(mail.parsed.text).visible or mail.parsed.text)
        if said is None or mail.sender.email not in repo.participant_emails(ticket):
            return False
        if said.wish is Wish.REOPEN and not customer_close.may_reopen(ticket):
            return False  # "not solved" of a request not resolved: just their words
        if said.rest:
            self._add_message(ticket, mail, body=said.rest)
        email = mail.sender.email
        if said.wish is Wish.CLOSE:  # closed already: nothing more to do
            customer_close.close(self.desk, ticket, email, mail.now, mail.event, said.rest)
        else:
            customer_close.reopen(self.desk, ticket, email, mail.now, mail.event, said.rest)
        return True

    def _open_ticket(
        self,
        decision: Decision,
        mail: _Mail,
        person: Address | None = None,
        subject: str | None = None,
    ) -> Ticket:
        """The new ticket, routed (`[[rule]]`), with its SLA clocks set and, by its
        category, assigned. `person`: its requester (default: who wrote the mail)."""
        person = person or mail.author
        requester = repo.contact_for(person.key, person.name, mail.now)
        if subject is None:
            subject = strip_tags(mail.parsed.subject, self.desk.desks.prefixes)
        subject = subject or NO_SUBJECT
        envelope, headers = self._recipients(mail)
        desk = self.desk.desks.for_mail(envelope, headers)
        routing = self.desk.automation.routed(self._facts(mail), desk.slug)
        number = repo.next_ticket_number(self.db)
        values = {
            "number": number,
            "seq": self.desk.labels.seq_for(self.db, desk.slug, number),
            "desk": desk.slug,
            "subject": subject,
            "status": "new",
            "priority": routing.priority or self.desk.config.tickets.default_priority,
            "category": routing.category,
            "requester": requester,
            "automated": mail.classification.automated,
            "created_at": mail.now,
            "updated_at": mail.now,
            "mailbox": self._mailbox(mail),
            "rate_key": rate_key(requester.email),
            "rate_domain": domain_of(requester.email),
        }
        draft = Ticket(**values)
        self.desk.sla.start(draft)
        for name in SLA_FIELDS:
            values[name] = getattr(draft, name)
        ticket = rows.create(self.db, Ticket, values)
        repo.add_participant(ticket, requester, "requester", new_ticket=True)
        data: dict[str, Any] = {"subject": ticket.subject, "source": mail.intake.source}
        if mail.classification.automated:
            data["automated"] = f"{mail.classification.kind}: {mail.classification.reason}"
        mail.event(ticket, mail.sender.email, "created", data)
        # The tickets it refers to, for its agents: those of its own desk only (another
        # desk's are not there for them, not even as a label that exists).
        untrusted = self._of_desk(ticket, decision.untrusted)
        if untrusted:
            mail.event(
                ticket,
                "system",
                "reference_not_trusted",
                {
                    "referenced": [self.desk.label_of(n) for n in untrusted],
                    "reason": "sender is not a participant",
                },
            )
        for number in self._of_desk(ticket, [] if decision.follows is None else [decision.follows]):
            mail.event(ticket, "system", "follows", {"ticket": self.desk.label_of(number)})
        self.desk.automation.record(ticket, routing, mail.event)
        if self.desk.automation.auto_assign(ticket, mail.active_agents, mail.now, mail.event):
            rows.update(self.db, ticket)
        return ticket

    def _facts(self, mail: _Mail) -> MailFacts:
        parsed = mail.parsed
        envelope = [str(a).lower() for a in mail.intake.envelope_to or ()]
        return MailFacts(
            recipients=tuple(
                dict.fromkeys([*envelope, *(a.key for a in (*parsed.to, *parsed.cc))])
            ),
            sender=mail.sender.email,
            subject=parsed.subject,
            body=parsed.text,
        )

    @staticmethod
    def _recipients(mail: _Mail) -> tuple[list[str], list[str]]:
        """The envelope recipients and the addresses in To and Cc, lower-cased."""
        envelope = [str(a).lower() for a in mail.intake.envelope_to or ()]
        return envelope, [a.key for a in (*mail.parsed.to, *mail.parsed.cc)]

    def _mailbox(self, mail: _Mail) -> str | None:
        """Which of our addresses the mail came to (`support+x@` is `support@`): replies
        go out from it. The same order as the desk is chosen in (`Desks.for_mail`)."""
        envelope, headers = self._recipients(mail)
        for address in (*envelope, *headers):
            base = base_address(address, self.desk.our_addresses)
            if base is not None:
                return base
        return None

    def _suggestions(self, ticket: Ticket, message: Message, mail: _Mail) -> list[tuple[str, str]]:
        """The published articles of the ticket's desk that match the customer's mail
        (`[kb]`), as (slug, title), logged as `kb_suggested`."""
        kb = self.desk.config.kb
        found = catalog.suggested(
            self.db,
            self.desk.articles,
            ticket.desk,
            self.desk.desks.default.slug,
            ticket.subject,
            message.body_text,
            kb.suggestions,
            kb.min_words,
        )
        if found:
            mail.event(ticket, "system", "kb_suggested", {"articles": [a.slug for a in found]})
        return [(a.slug, a.title) for a in found]

    # -- agents -------------------------------------------------------------------

    def _agent_mail(self, ticket: Ticket, mail: _Mail) -> None:
        """An agent answered: their #commands, then the reply relayed to the customer
        (or kept as an internal note). Only for a verified agent (design invariant 5)."""
        agent = self._agent_of(mail)
        doubt = self._agent_doubt(mail, agent, ticket)
        if doubt:
            self._unverified(ticket, mail, agent, doubt)
            return
        self._as_agent(ticket, mail, agent, may_hold=True)

    def _as_agent(self, ticket: Ticket, mail: _Mail, agent: Agent, *, may_hold: bool) -> None:
        """A verified agent's reply: checked whole, held when stale (`may_hold`, see
        `_held_as_stale`), else applied and relayed (or kept as a note)."""
        prefix = self.desk.desk_of(ticket).prefix
        reply = parse_reply(
            mail.parsed.text, prefix=prefix, priorities=self.desk.config.tickets.priorities
        )
        changes = self.desk.changes(mail.now, mail.event)
        canned_names = self.desk.mailer.renderer(ticket.desk).canned_names()
        errors = [str(e) for e in reply.errors]
        split_ids = self._split_ids(ticket, mail, reply)
        errors += changes.check(ticket, reply.commands, canned_names, agent, split_ids)
        mentions = followers.check_mentions(
            ticket, reply.body, reply.is_note, mail.active_agents, self.desk.mailer.of_desk
        )
        errors += mentions.errors
        errors += held.send_problems(ticket, agent, reply.commands)
        if errors:  # nothing applied, nothing relayed: kept as a note, the agent told why
            self._add_message(ticket, mail, kind="note")
            mail.event(ticket, agent.email, "commands_rejected", {"errors": errors})
            self.desk.mailer.command_error(
                ticket, agent, errors, True, mail.now, mail.event, mail.parsed.message_id
            )
            return
        if may_hold and self._held_as_stale(ticket, mail, agent, reply):
            return
        if any(isinstance(c, SendHeld) for c in reply.commands):
            self._send_held(ticket, mail, agent)  # alone in its reply (`held.send_problems`)
            return
        applied = changes.apply(ticket, reply.commands, agent)
        text = self._reply_text(ticket, reply, applied.canned, applied.articles)
        relayed = False
        if reply.is_note:
            if text:
                note = self._add_message(ticket, mail, kind="note", body=text)
                self._noted(ticket, note, agent, mentions.agents, mail)
        elif text:
            message = self._add_message(ticket, mail, kind="agent", direction="outbound", body=text)
            if not applied.status_set:
                changes.set_status(ticket, AGENT_REPLIED, agent.email)
            self.desk.mailer.relay(
                ticket,
                message,
                text,
                agent,
                mail.now,
                mail.event,
                resolved=ticket.status == RESOLVED,
                attachments=self._attachments_to_relay(message),
            )
            relayed = True
            held.drop(ticket, agent, mail.now, mail.event)  # this reply answers instead
            if ticket.first_response_at is None:
                self.desk.sla.responded(ticket, mail.now)
                mail.event(ticket, agent.email, "first_response", {"message": message.id})
            else:
                self._next_response(ticket, message, agent, mail)
        if applied.resolved and not relayed:
            self.desk.mailer.resolved(ticket, mail.now, mail.event)
        if applied.assigned_to is not None and applied.assigned_to.id != agent.id:
            self.desk.mailer.assigned(ticket, applied.assigned_to, agent.name, mail.now, mail.event)
        if applied.reply_linked and relayed:
            self._reply_linked(ticket, text, agent, mail, changes)
        if applied.split and split_ids:
            rows.update(self.db, ticket)
            changes.links.split(ticket, split_ids, agent.email)
        if applied.merge_target is not None:
            rows.update(self.db, ticket)
            changes.merge(ticket, applied.merge_target, agent.email)

    def _noted(
        self, ticket: Ticket, note: Message, agent: Agent, named: Sequence[Agent], mail: _Mail
    ) -> None:
        """An internal note: the agents it mentions follow the ticket and are told, then
        the other followers hear of it (`tickets.followers`)."""
        if named:
            data = {"agents": [a.email for a in named], "message": note.id}
            mail.event(ticket, agent.email, "mentioned", data)
            for other in named:
                how = followers.MENTION
                followers.follow(ticket, other, how, mail.now, agent.email, mail.event)
            self.desk.mailer.mentioned(ticket, note, named, agent, mail.now, mail.event)
        self.desk.mailer.notify_note(ticket, note, agent, named, mail.now, mail.event)

    def _split_ids(self, ticket: Ticket, mail: _Mail, reply: ParsedReply) -> list[int] | None:
        """For `#split`: the messages it moves, from the message the agent answers (the
        one their notification told of, or a message of the ticket itself) on. None:
        the mail answers no message of this ticket."""
        split = next((c for c in reply.commands if isinstance(c, Split)), None)
        if split is None:
            return None
        first = TicketLinks.answered(
            ticket, [*mail.parsed.in_reply_to, *reversed(mail.parsed.references)]
        )
        if first is None:
            return None
        return TicketLinks.from_message(ticket, first, split.only)

    def _reply_linked(
        self, ticket: Ticket, text: str, agent: Agent, mail: _Mail, changes: TicketChanges
    ) -> None:
        """`#reply-linked` on an incident: the reply also goes to each of its tickets'
        requester and CCs, as an agent message of that ticket (its own mail, its own
        status links). The incident's other commands are its own."""
        parent = self.desk.label(ticket)
        answered: list[str] = []
        for child in changes.links.children(ticket):
            child = repo.lock_ticket_id(self.db, child.id)
            message = rows.create(
                self.db,
                Message,
                {
                    "ticket": child,
                    "direction": "outbound",
                    "kind": "agent",
                    "from_email": agent.email,
                    "from_name": agent.name,
                    "subject": child.subject,
                    "body_text": text,
                    "created_at": mail.now,
                },
            )
            mail.event(
                child,
                agent.email,
                "message_added",
                {"message": message.id, "kind": "agent", "incident": parent},
            )
            changes.set_status(child, AGENT_REPLIED, agent.email)
            self.desk.mailer.relay(
                child, message, text, agent, mail.now, mail.event, resolved=False
            )
            if child.first_response_at is None:
                self.desk.sla.responded(child, mail.now)
                mail.event(child, agent.email, "first_response", {"message": message.id})
            child.updated_at = mail.now
            rows.update(self.db, child)
            answered.append(self.desk.label(child))
        mail.event(ticket, agent.email, "replied_linked", {"tickets": answered})

    def _held_as_stale(self, ticket: Ticket, mail: _Mail, agent: Agent, reply: ParsedReply) -> bool:
        """Hold a mailed reply to the customer that answers a notification older than
        what others wrote since (`tickets.meanwhile`, the web reply box's definition):
        kept as an internal note, nothing applied or relayed, the agent shown what came
        and told how to `#send` it. Notes and replies of commands only are not held:
        nothing of theirs reaches the customer. Mail made on the web or the API is not
        checked here: the web reply box checks against the page it was written on."""
        if mail.intake.source in SIGNED_IN_SOURCES or reply.is_note:
            return False
        to_customer = split_reply(reply.body).visible.strip() or any(
            isinstance(c, UseTemplate | LinkArticle) for c in reply.commands
        )
        if not to_customer:
            return False
        written = split_reply(reply.body).visible
        parsed = mail.parsed
        seen = meanwhile.seen_by_notification(ticket.id, [*parsed.in_reply_to, *parsed.references])
        if seen is None:
            return False
        arrived = meanwhile.arrived_since(ticket.id, seen, agent.email)
        if not arrived:
            return False
        reason = f"held: {len(arrived)} message(s) came after the notification it answers"
        note = self._add_message(ticket, mail, kind="note", flag=reason)
        held.hold(ticket, agent, mail.intake, note, mail.now, mail.event)
        mail.event(
            ticket,
            agent.email,
            "reply_held",
            {"message": note.id, "arrived": [a.id for a in arrived]},
        )
        shown = [Shown(a.who, "", a.text, a.created_at) for a in arrived]
        self.desk.mailer.reply_held(
            ticket,
            agent,
            shown,
            [a.kind for a in arrived],
            written,
            mail.now,
            mail.event,
            parsed.message_id,
        )
        return True

    def _send_held(self, ticket: Ticket, mail: _Mail, agent: Agent) -> None:
        """`#send`: the agent's held reply goes through as it was written, once; the
        `#send` mail proved the agent, the held mail is taken as theirs."""
        intake = held.release(ticket, agent, mail.now, mail.event)
        if intake is None:  # another `#send` took it meanwhile
            return
        parsed = parse_message(repo.blob_bytes(intake.raw_id))
        earlier = self._understand(intake, parsed, mail.active_agents)
        earlier.now, earlier.events = mail.now, mail.events  # written with this mail's
        self._as_agent(ticket, earlier, agent, may_hold=False)

    def _next_response(self, ticket: Ticket, message: Message, agent: Agent, mail: _Mail) -> None:
        """A public answer ends the next-response cycle waiting for it, if any."""
        seconds = self.desk.sla.answered(ticket, mail.now)
        if seconds is None:
            return
        next_response.answered(ticket, mail.now, seconds)
        mail.event(
            ticket, agent.email, "next_response", {"message": message.id, "seconds": seconds}
        )

    def _agent_of(self, mail: _Mail) -> Agent:
        return next(a for a in mail.active_agents if a.email == mail.sender.email)

    def _agent_doubt(self, mail: _Mail, agent: Agent, ticket: Ticket | None) -> str:
        """Why mail from an agent's address must not act as the agent ("" if it may).

        Verified (design invariant 5): written on the web or API by the signed-in
        agent; sent to the signed reply address made for this agent and this ticket;
        passing DMARC (or aligned DKIM/SPF) at `trusted_authserv_id`; or, only where
        the admin chose to trust it, the From header alone. A `dmarc=fail` there
        outweighs the reply address (which a forwarded notification gives away)."""
        if mail.intake.source in SIGNED_IN_SOURCES:
            return ""  # written by maildesk for the agent signed in to the web view or API
        classification = mail.classification
        if classification.automated:
            return f"automatic mail from an agent's address ({classification.reason})"
        security = self.desk.config.security
        verdict = None
        if security.trusted_authserv_id:
            parsed = mail.parsed
            verdict = verify_sender(
                parsed.headers, mail.author.email, security.trusted_authserv_id, parsed.header_order
            )
            if verdict.refuted:  # the domain owner's DMARC says it is not theirs: no proof helps
                return f"sender not verified: {verdict.reason}"
        token = mail.reply_token
        if token is None:
            reasons = ["not sent to the agent's signed reply address"]
        elif token.agent_id != agent.id:
            reasons = ["sent to another agent's signed reply address"]
        elif ticket is None or mail.reply_ticket != ticket.number:
            reasons = ["sent to a signed reply address of another ticket"]
        else:
            return ""
        if verdict is not None:
            if verdict.ok:
                return ""
            reasons.append(verdict.reason)
        if security.trust_from_header:
            return ""  # the admin's explicit, warned-about choice
        return f"sender not verified: {'; '.join(reasons)}"

    def _unverified(self, ticket: Ticket, mail: _Mail, agent: Agent, doubt: str) -> None:
        """Mail that claims to be an agent's but is not verified: a flagged internal note,
        nothing applied or relayed; the agent is told why and how to reply so it counts
        (not for automatic mail, which never gets an answer; the notice is capped)."""
        self._add_message(ticket, mail, kind="note", flag=doubt)
        mail.event(ticket, "system", "agent_mail_flagged", {"reason": doubt})
        if mail.classification.automated:
            return
        parsed = mail.parsed
        self.desk.mailer.unverified(
            ticket, agent, doubt, parsed.text, mail.now, mail.event, parsed.message_id
        )

    def _reply_text(
        self, ticket: Ticket, reply: ParsedReply, canned: list[str], articles: list[str]
    ) -> str:
        """What the customer reads: the agent's new text (without the quoted history
        their mail client added), then any canned responses, then the articles `#kb`
        linked (title and address)."""
        parts = [split_reply(reply.body).visible.strip()]
        for name in canned:
            parts.append(self.desk.mailer.canned(ticket, name).strip())
        for slug in articles:
            article = catalog.find(ticket.desk, slug)
            if article is not None:
                desk = self.desk.desks.get(ticket.desk)
                default = self.desk.desks.default.slug
                url = article_page(desk.base_url, desk.slug, default, article.slug)
                parts.append(f"{article.title}\n{url}")
        return "\n\n".join(part for part in parts if part)

    @staticmethod
    def _attachments_to_relay(message: Message) -> list[int]:
        """The agent's attachments (inline images belong to their own signature)."""
        query = Attachment.select(Attachment.id, Attachment.inline, Attachment.content_id)
        query = query.where(Attachment.message == message).order_by(Attachment.id)
        return [a.id for a in query if not (a.inline and a.content_id)]

    # -- agents opening tickets ---------------------------------------------------

    def _opened_by_agent(self, decision: Decision, mail: _Mail, agent: Agent) -> Ticket | None:
        """A verified agent's new mail to the desk that forwards a customer's message
        (`core/forwards.py`) or starts with `#requester`: the ticket is the customer's.
        None for any other new mail of theirs (a ticket of their own, as before).

        Its #command block is all-or-nothing, as on a reply: any bad line and the mail
        is kept as an internal note of the new ticket, nothing is sent, the agent gets
        the error mail."""
        parsed = mail.parsed
        priorities = self.desk.config.tickets.priorities
        reply = parse_reply(parsed.text, prefix=self.desk.desks.prefixes, priorities=priorities)
        chosen = next((c for c in reply.commands if isinstance(c, SetRequester)), None)
        tz = parsed.date.tzinfo if parsed.date is not None else None
        forward = find_forward(reply.body, parsed.attachments, tz)
        if forward is not None and self._not_a_customer(forward.sender.key, mail):
            forward = None  # our own mail, or a colleague's: not a customer's ticket
        if chosen is None and forward is None and reply.ok:
            return None
        person = forward.sender if forward is not None else mail.author
        if chosen is not None:
            person = Address(name=chosen.name or "", email=chosen.email)
        subject = strip_forward_prefix(strip_tags(parsed.subject, self.desk.desks.prefixes))
        if forward is not None and forward.subject:
            subject = strip_forward_prefix(forward.subject)
        ticket = self._open_ticket(decision, mail, person, subject)
        commands = list(reply.commands)
        if forward is None and not any(isinstance(c, Assign) for c in commands):
            commands.append(Assign(None, to_sender=True))  # the one who wrote to them
        changes = self.desk.changes(mail.now, mail.event)
        canned = self.desk.mailer.renderer(ticket.desk).canned_names()
        errors = [str(e) for e in reply.errors] + changes.check(ticket, commands, canned, agent)
        errors += self._opening_errors(reply, chosen, forward)
        if errors:
            self._add_message(ticket, mail, kind="note")
            mail.event(ticket, agent.email, "commands_rejected", {"errors": errors})
            self.desk.mailer.command_error(
                ticket, agent, errors, True, mail.now, mail.event, parsed.message_id
            )
            return ticket
        applied = changes.apply(ticket, commands, agent)
        if forward is not None:
            self._forwarded(ticket, mail, agent, forward)
        else:
            self._opened_to_customer(ticket, mail, agent, reply, applied)
        if applied.assigned_to is not None and applied.assigned_to.id != agent.id:
            self.desk.mailer.assigned(ticket, applied.assigned_to, agent.name, mail.now, mail.event)
        rows.update(self.db, ticket)
        return ticket

    def _not_a_customer(self, email: str, mail: _Mail) -> bool:
        return email in mail.agents or is_our_address(email, self.desk.our_addresses)

    def _opening_errors(
        self, reply: ParsedReply, chosen: SetRequester | None, forward: Forward | None
    ) -> list[str]:
        """What `#requester` on a new mail needs beyond a valid address."""
        if chosen is None:
            return []
        if is_our_address(chosen.email, self.desk.our_addresses):
            return [f"#requester {chosen.email}: an address of this desk, not a customer"]
        has_text = reply.body.strip() or any(isinstance(c, UseTemplate) for c in reply.commands)
        if forward is None and not reply.is_note and not has_text:
            return ["#requester: write the message for the customer below the commands"]
        return []

    def _forwarded(self, ticket: Ticket, mail: _Mail, agent: Agent, forward: Forward) -> None:
        """The customer's message as they wrote it, the agent's words above the forward
        as an internal note. No acknowledgement goes to the customer (they did not write
        to us); the agents on duty are told as of any new ticket."""
        message = self._add_message(
            ticket,
            mail,
            kind="customer",
            body=forward.text,
            original=forward,
            attachments=forward.attachments,
        )
        mail.event(
            ticket,
            agent.email,
            "forwarded",
            {"from": forward.sender.key, "style": forward.style, "message": message.id},
        )
        if forward.note or forward.others:
            self._add_message(
                ticket, mail, kind="note", body=forward.note, attachments=forward.others
            )
        if mail.quiet:
            mail.event(ticket, "system", "rate_limited", {"reason": mail.quiet})
            return
        self.desk.mailer.notify_new(ticket, message, None, mail.active_agents, mail.now, mail.event)

    def _opened_to_customer(
        self, ticket: Ticket, mail: _Mail, agent: Agent, reply: ParsedReply, applied: Applied
    ) -> None:
        """`#requester` on a new mail: the agent's text is the ticket's first message,
        sent to the customer from the desk address as any reply is (`#note`: kept)."""
        text = self._reply_text(ticket, reply, applied.canned, applied.articles)
        if reply.is_note:
            self._add_message(ticket, mail, kind="note", body=text)
            return
        message = self._add_message(ticket, mail, kind="agent", direction="outbound", body=text)
        if not applied.status_set:
            self.desk.changes(mail.now, mail.event).set_status(ticket, AGENT_REPLIED, agent.email)
        self.desk.mailer.relay(
            ticket,
            message,
            text,
            agent,
            mail.now,
            mail.event,
            resolved=ticket.status == RESOLVED,
            attachments=self._attachments_to_relay(message),
        )
        self.desk.sla.responded(ticket, mail.now)
        mail.event(ticket, agent.email, "first_response", {"message": message.id})

    # -- storing ------------------------------------------------------------------

    def _add_message(
        self,
        ticket: Ticket,
        mail: _Mail,
        *,
        kind: str | None = None,
        direction: str = "inbound",
        body: str | None = None,
        flag: str = "",
        original: Forward | None = None,
        attachments: Sequence[MailPart] | None = None,
    ) -> Message:
        """The message as stored in the ticket: `kind` customer|agent|note (default: by
        sender), `body` the text shown (default: all the text; the raw mail is kept).
        `original`: a forwarded message, stored as its sender wrote it (sender, date,
        Message-ID); `attachments`: instead of the mail's."""
        parsed = mail.parsed
        if kind is None:
            kind = "agent" if mail.sender.is_agent else "customer"
        author = mail.author if original is None else original.sender
        from_email = mail.sender.email if original is None else original.sender.key
        sent_at = parsed.date if original is None else original.date or parsed.date
        message = rows.create(
            self.db,
            Message,
            {
                "ticket": ticket,
                "intake": mail.intake,
                "message_id": (original and original.message_id) or parsed.message_id,
                "in_reply_to": list(parsed.in_reply_to),
                "references": list(parsed.references),
                "direction": direction,
                "kind": kind,
                "mail_kind": str(mail.classification.kind),
                "flagged": bool(flag),
                "flag_reason": flag or None,
                "from_email": from_email,
                "from_name": author.name,
                "to": [a.key for a in parsed.to],
                "cc": [a.key for a in parsed.cc],
                "subject": parsed.subject,
                "body_text": parsed.text if body is None else body,
                "body_html": parsed.html if body is None else None,
                "sent_at": sent_at,
                "created_at": mail.now,
            },
        )
        for part in parsed.attachments if attachments is None else attachments:
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
        skip = mail.agents | {mail.sender.email}
        for address in (*mail.parsed.to, *mail.parsed.cc):
            if address.key in skip or "@" not in address.key:
                continue
            if is_our_address(address.key, self.desk.our_addresses):  # subaddresses too
                continue
            contact = repo.contact_for(address.key, address.name, mail.now)
            if repo.add_participant(ticket, contact, "cc"):
                mail.event(ticket, mail.sender.email, "cc_added", {"email": address.key})

    def _set_status(self, ticket: Ticket, status: str, mail: _Mail, reopened: bool = False) -> None:
        before = ticket.status
        if before == status:
            return
        ticket.status = status
        set_stamps(ticket, status, mail.now)
        self.desk.sla.status_changed(ticket, before, mail.now)
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
            Quarantine.update(resolved_at=mail.now, updated_at=mail.now, discarded_at=None).where(
                (Quarantine.intake == intake) & Quarantine.resolved_at.is_null()
            ).execute()
        return self._outcome(intake, ticket)

    # -- failure ------------------------------------------------------------------

    def _failed(self, intake_id: int, exc: Exception) -> Outcome:
        """After the message's transaction rolled back: quarantine it, unless it was the
        database that failed (then raise: it stays pending, to be tried again)."""
        if is_transient(exc):
            log.warning("intake %s not processed, database failing: %s", intake_id, describe(exc))
            raise exc
        with write_transaction(self.db):
            return self._record_quarantine(intake_id, exc)

    def _record_quarantine(self, intake_id: int, exc: Exception) -> Outcome:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        trace = traceback.format_exc()
        log.warning("intake %s quarantined: %s", intake_id, error)
        now = self.desk.clock()
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
            entry.resolved_at = entry.discarded_at = None  # failed again: open again
            entry.save()
        return self._outcome(intake, None)

    # -- helpers ------------------------------------------------------------------

    def _label(self, ticket: Ticket | None) -> str | None:
        return None if ticket is None else self.desk.label(ticket)

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


def describe(exc: BaseException) -> str:
    """`Type: message`, on one line, for logs and the quarantine."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())
