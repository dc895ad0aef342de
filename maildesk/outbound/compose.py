"""Mail about tickets, queued in the outbox inside the caller's transaction.

Where it sits in the flow: the pipeline (and the jobs) call a `Mailer` method
while they change a ticket; the mail becomes an `Outbox` row in the same
transaction, so a ticket change and the mail it causes are committed together
or not at all, and the outbox worker (`outbound.worker`) sends it later.

What is fixed here, in the transaction: the recipients, the ticket tag in the
subject, a signed Message-ID (`core.msgid`) so a reply proves its ticket,
In-Reply-To/References continuing the thread its audience has seen (the
customer's thread: their messages and our mail to them; the agents' thread: the
notifications), From the desk address the ticket came in on, Reply-To that
address too or, in mail to an agent, the agent's signed reply address for the
ticket (`core.reply_address`: a reply to it proves the agent wrote it), and the
template with its values. Header problems are refused here. The templates
are rendered and the MIME built once, before the first attempt
(`outbound.draft`, `Mailer.compose`).

Loop and abuse protection (design invariant 3): automatic mail to customers
is capped per address and hour (`[outbound] auto_limit_per_hour`, the address
taken without its +tag: `core.addresses.rate_key`) and per domain and hour
(`auto_limit_per_domain_per_hour`); mail over a cap is held (an outbox row in
status `held` with the reason, never sent unless an admin retries it). The
notice to an agent about mail from their address that did not count
(`Mailer.unverified`) is capped too. Tickets opened by automated mail never get
automatic mail; our own addresses (and their `+` subaddresses) never receive
mail from us, nor does automatic mail go to an address marked undeliverable by a
bounce (`tickets.undeliverable`; an agent's reply still goes). What is held or
skipped is noted in the ticket's event log.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from maildesk.config import Config
from maildesk.core.addresses import domain_of, rate_key
from maildesk.core.bounces import Recipient
from maildesk.core.commands import cheat_sheet
from maildesk.core.links import agent_url, article_page, article_url, satisfaction_url, status_url
from maildesk.core.message import Address
from maildesk.core.msgid import make_message_id
from maildesk.core.outgoing import (
    Outgoing,
    Part,
    Unsendable,
    check_headers,
    tagged_subject,
    thread_headers,
)
from maildesk.core.quoting import split_reply
from maildesk.core.reply_address import is_our_address, reply_address
from maildesk.core.vocabulary import ASSIGNABLE_ROLES
from maildesk.outbound.draft import Draft, compose, from_json, to_json
from maildesk.outbound.render import Renderer
from maildesk.settings.desks import DeskProfile, Desks
from maildesk.store import repo, rows
from maildesk.store.models import Agent, Attachment, Contact, Message, Outbox, Participant, Ticket
from maildesk.store.scope import current
from maildesk.tickets import followers

log = logging.getLogger(__name__)

CUSTOMER = "customer"
AGENTS = "agents"
MANAGERS = "managers"
EXCERPT_CHARS = 500
UNVERIFIED = "unverified"  # the purpose of the notice about agent mail that did not count
REPLY_HELD = "reply_held"  # the notice that an agent's stale reply was held
HELD_KINDS = {
    "customer": "the customer's reply",
    "agent": "a reply",
    "note": "an internal note",
    "system": "a system message",
}

# `log(ticket, actor, type, data)`: where the caller keeps the ticket's events.
EventLog = Callable[[Ticket, str, str, dict[str, Any]], None]


@dataclass(frozen=True)
class Shown:
    """A message as the templates show it."""

    from_name: str
    from_email: str
    text: str
    at: dt.datetime
    attachments: tuple[dict[str, Any], ...] = ()

    def context(self) -> dict[str, Any]:
        return {
            "from_name": self.from_name or self.from_email,
            "from_email": self.from_email,
            "text": self.text,
            "at": self.at,
            "attachments": list(self.attachments),
        }


class Mailer:
    def __init__(
        self,
        config: Config,
        desks: Desks,
        renderers: Mapping[str, Renderer],
        secret: Callable[[], bytes],
    ) -> None:
        """`renderers`: each desk's templates, by slug (every desk has one)."""
        self.config = config
        self.desks = desks
        self._renderers = dict(renderers)
        self._secret = secret
        self.our_addresses = desks.our_addresses
        self._cheat_sheets = {
            desk.slug: cheat_sheet(prefix=desk.prefix, priorities=config.tickets.priorities)
            for desk in desks.all
        }

    def renderer(self, slug: str | None = None) -> Renderer:
        """The templates of a desk (the default desk's for None or a slug no longer
        configured, as `Desks.get` reads it)."""
        return self._renderers[self.desks.get(slug).slug]

    # -- to the customer ------------------------------------------------------------

    def ack(
        self,
        ticket: Ticket,
        first: Message,
        now: dt.datetime,
        log_: EventLog,
        articles: Sequence[tuple[str, str]] = (),
        expectation: Mapping[str, Any] | None = None,
    ) -> None:
        """The acknowledgement of a new ticket, to whoever opened it, with the articles
        (slug, title) suggested for it, each a link signed for the recipient, and when
        to expect an answer (`tickets.expectations.context`; None: no target, no word)."""
        context = {
            "message_excerpt": _excerpt(first.body_text),
            "articles": [{"slug": slug, "title": title} for slug, title in articles],
            "expectation": None if expectation is None else dict(expectation),
        }
        chain = [first.message_id] if first.message_id else []  # the thread so far
        self._to_customer(
            ticket, "ack", context, now, log_, to_all=False, automatic="auto-replied", chain=chain
        )

    def relay(
        self,
        ticket: Ticket,
        message: Message,
        body: str,
        agent: Agent,
        now: dt.datetime,
        log_: EventLog,
        *,
        resolved: bool,
        attachments: Sequence[int] = (),
    ) -> Outbox | None:
        """An agent's reply, sent to the requester and the CCs from the desk address."""
        context = {
            "body": body,
            "agent_name": agent.name if self.config.outbound.show_agent_name else None,
            "quoted": [shown.context() for shown in self._last_customer_message(ticket, message)],
            "resolved": resolved,
            **(self._resolution_links(ticket) if resolved else {"satisfaction_url": None}),
        }  # the links: each recipient's own, filled in by `_to_customer`
        name = self.desks.get(ticket.desk).name
        sender = f"{agent.name} via {name}" if self.config.outbound.show_agent_name else name
        return self._to_customer(
            ticket,
            "agent_reply",
            context,
            now,
            log_,
            to_all=True,
            automatic=None,
            message=message,
            sender_name=sender,
            attachments=attachments,
        )

    def resolved(self, ticket: Ticket, now: dt.datetime, log_: EventLog) -> None:
        """The resolution, with links to confirm it or say it is not solved; the
        satisfaction question too, unless `[tickets] rating_delay_hours` asks it later
        (`jobs.rating`)."""
        context = self._resolution_links(ticket)
        self._to_customer(
            ticket, "resolved", context, now, log_, to_all=True, automatic="auto-generated"
        )

    def _resolution_links(self, ticket: Ticket) -> dict[str, Any]:
        """What a mail telling of the resolution links: "Yes, solved" and "Not solved"
        (`web.pages.customer_close`), and the satisfaction question unless `[tickets]
        rating_delay_hours` asks it later. Signed per recipient by `_links_for`."""
        asks = self.config.tickets.rating_delay_hours <= 0
        return {
            "satisfaction_url": self._satisfaction_url(ticket) if asks else None,
            "solved_url": True,
        }

    def satisfaction(self, ticket: Ticket, now: dt.datetime, log_: EventLog) -> None:
        """The satisfaction question, asked `[tickets] rating_delay_hours` after the
        resolution (`jobs.rating`)."""
        context = {"satisfaction_url": self._satisfaction_url(ticket)}
        self._to_customer(
            ticket, "satisfaction", context, now, log_, to_all=True, automatic="auto-generated"
        )

    def auto_close(self, ticket: Ticket, days: int, now: dt.datetime, log_: EventLog) -> None:
        self._to_customer(
            ticket, "auto_close", {"days": days}, now, log_, to_all=True, automatic="auto-generated"
        )

    def close_warning(
        self, ticket: Ticket, close_date: str, now: dt.datetime, log_: EventLog
    ) -> None:
        """The ticket waits on the customer: it closes on `close_date` (a local date)
        unless they reply (`jobs.waiting_close`)."""
        context = {"close_date": close_date}
        self._to_customer(
            ticket, "close_warning", context, now, log_, to_all=True, automatic="auto-generated"
        )

    def waiting_closed(self, ticket: Ticket, days: int, now: dt.datetime, log_: EventLog) -> None:
        self._to_customer(
            ticket, "waiting_closed", {"days": days}, now, log_, to_all=True,
            automatic="auto-generated",
        )  # fmt: skip

    # -- to agents ------------------------------------------------------------------

    def snooze_ended(
        self,
        ticket: Ticket,
        agents: Sequence[Agent],
        until: dt.datetime,
        now: dt.datetime,
        log_: EventLog,
    ) -> None:
        """A snoozed ticket is back in the queue: tell `agents` (`jobs.snooze`)."""
        self._to_agents(ticket, "snooze_ended", agents, {"until": until}, now, log_)

    def reminder(
        self,
        ticket: Ticket,
        agent: Agent,
        text: str,
        due: dt.datetime,
        now: dt.datetime,
        log_: EventLog,
    ) -> None:
        """`#remind`: the agent's own reminder about the ticket (`jobs.snooze`)."""
        self._to_agents(ticket, "reminder", [agent], {"text": text, "due": due}, now, log_)

    def notify_new(
        self,
        ticket: Ticket,
        message: Message,
        automated: str | None,
        agents: Sequence[Agent],
        now: dt.datetime,
        log_: EventLog,
        articles: Sequence[tuple[str, str]] = (),
    ) -> None:
        """A new ticket: tell everyone on duty (`agents`: the active ones), with the
        articles (slug, title) suggested to the customer, which `#kb SLUG` links."""
        on_duty = self.on_duty(agents)
        if not self.config.outbound.notify_agents or not on_duty:
            return
        desk = self.desks.get(ticket.desk)
        context = {
            "message": self._shown(message).context(),
            "automated": automated,
            "articles": [
                {
                    "slug": slug,
                    "title": title,
                    "url": article_page(desk.base_url, desk.slug, self.desks.default.slug, slug),
                }
                for slug, title in articles
            ],
        }
        self._to_agents(ticket, "notify_new", on_duty, context, now, log_, about=message)

    def customer_decided(
        self, ticket: Ticket, who: str, kind: str, said: str, now: dt.datetime, log_: EventLog
    ) -> None:
        """A customer closed the ticket, confirmed its resolution or said it is not
        solved (`kind`, `tickets.customer_close`): tell its assignee, with what they
        wrote (`said`)."""
        if not self.config.outbound.notify_agents or ticket.assignee_id is None:
            return
        agent = Agent.get_or_none(Agent.id == ticket.assignee_id)
        if agent is None or not agent.active:
            return
        context = {"who": who, "kind": kind, "said": said}
        self._to_agents(ticket, "customer_decided", [agent], context, now, log_)

    def notify_reply(
        self,
        ticket: Ticket,
        message: Message,
        reopened: bool,
        agents: Sequence[Agent],
        now: dt.datetime,
        log_: EventLog,
    ) -> None:
        """The customer answered: tell the assignee, or everyone on duty if nobody is,
        and the ticket's followers (`tickets.followers`), each once."""
        assignee = [a for a in agents if a.id == ticket.assignee_id]
        told = assignee or self.on_duty(agents)
        if not self.config.outbound.notify_agents:
            return
        told += followers.to_notify(ticket, told, self.of_desk)
        if not told:
            return
        context = {
            "message": self._shown(message).context(),
            "automated": None,
            "reopened": reopened,
        }
        self._to_agents(ticket, "notify_reply", told, context, now, log_, about=message)

    def assigned(
        self, ticket: Ticket, agent: Agent, by: str, now: dt.datetime, log_: EventLog
    ) -> None:
        latest = (
            Message.select()
            .where((Message.ticket == ticket) & (Message.kind == "customer"))
            .order_by(Message.created_at.desc(), Message.id.desc())
            .first()
        )
        context = {
            "assigned_by": by,
            "message": None if latest is None else self._shown(latest).context(),
        }
        self._to_agents(ticket, "assigned", [agent], context, now, log_)

    def command_error(
        self,
        ticket: Ticket,
        agent: Agent,
        errors: Sequence[str],
        kept_as_note: bool,
        now: dt.datetime,
        log_: EventLog,
        in_reply_to: str | None,
    ) -> None:
        context = {"errors": list(errors), "kept_as_note": kept_as_note}
        self._to_agents(ticket, "command_error", [agent], context, now, log_, parent=in_reply_to)

    def unverified(
        self,
        ticket: Ticket,
        agent: Agent,
        reason: str,
        text: str,
        now: dt.datetime,
        log_: EventLog,
        in_reply_to: str | None,
    ) -> None:
        """Mail from `agent`'s address did not count as theirs: tell them why, and that a
        reply to this notice (its Reply-To is their signed address) does.

        Whoever forges the agent's address chooses how often this is sent, so it is
        capped twice: one notice per agent and ticket per hour, and the notices to one
        agent count against `[outbound] auto_limit_per_hour` like any automatic mail
        to one address (a forger can name many tickets by their subject tags)."""
        skip = self._unverified_skip(ticket, agent, now)
        if skip:
            log_(ticket, "system", "mail_skipped", {"purpose": UNVERIFIED, "reason": skip})
            return
        context = {"reason": reason, "excerpt": _excerpt(text)}
        self._to_agents(
            ticket, UNVERIFIED, [agent], context, now, log_, parent=in_reply_to, rate=True
        )

    def reply_held(
        self,
        ticket: Ticket,
        agent: Agent,
        arrived: Sequence[Shown],
        kinds: Sequence[str],
        text: str,
        now: dt.datetime,
        log_: EventLog,
        in_reply_to: str | None,
    ) -> None:
        """`agent`'s reply was held as stale: what was said since the notification it
        answered (`arrived`, each of its kind in `kinds`), and how to send it anyway
        (`#send` in a reply to this mail, whose Reply-To is their signed address)."""
        shown = [
            s.context() | {"what": HELD_KINDS.get(kind, kind)}
            for s, kind in zip(arrived, kinds, strict=True)
        ]
        context = {"arrived": shown, "excerpt": _excerpt(text)}
        self._to_agents(ticket, REPLY_HELD, [agent], context, now, log_, parent=in_reply_to)

    def _unverified_skip(self, ticket: Ticket, agent: Agent, now: dt.datetime) -> str:
        since = now - dt.timedelta(hours=1)
        recent = Outbox.select(Outbox.id).where(
            (Outbox.rate_key == rate_key(agent.email))
            & (Outbox.created_at > since)
            & (Outbox.purpose == UNVERIFIED)
            & (Outbox.ticket == ticket)
        )
        if recent.exists():
            return f"{agent.email} was told about unverified mail on this ticket within the hour"
        return self._over_limit(agent.email, now) or ""

    # -- mentions and followers -------------------------------------------------------

    def mentioned(
        self,
        ticket: Ticket,
        note: Message,
        agents: Sequence[Agent],
        by: Agent,
        now: dt.datetime,
        log_: EventLog,
    ) -> None:
        """An internal note named `agents` with @: each gets the note and the ticket's
        link (not the note's author)."""
        named = [a for a in agents if a.id != by.id]
        if not named:
            return
        context = {"message": self._shown(note).context(), "mentioned_by": by.name or by.email}
        self._to_agents(ticket, "mentioned", named, context, now, log_)

    def notify_note(
        self,
        ticket: Ticket,
        note: Message,
        by: Agent,
        told: Sequence[Agent],
        now: dt.datetime,
        log_: EventLog,
    ) -> None:
        """An internal note: tell the ticket's followers, except its author and the
        agents `told` of it already (those it mentions)."""
        if not self.config.outbound.notify_agents:
            return
        to = followers.to_notify(ticket, [*told, by], self.of_desk, by.email)
        if not to:
            return
        context = {"message": self._shown(note).context(), "noted_by": by.name or by.email}
        self._to_agents(ticket, "notify_note", to, context, now, log_)

    # -- bounces --------------------------------------------------------------------------

    def bounced(
        self,
        ticket: Ticket,
        failed: Sequence[Recipient],
        marked: Sequence[str],
        agents: Sequence[Agent],
        now: dt.datetime,
        log_: EventLog,
    ) -> None:
        """Our mail to a customer failed permanently: tell the assignee, or everyone on
        duty if nobody is (`marked`: the addresses now marked undeliverable)."""
        assignee = [a for a in agents if a.id == ticket.assignee_id]
        told = assignee or self.on_duty(agents)
        if not self.config.outbound.notify_agents or not told:
            return
        context = {
            "failed": [
                {"email": r.email, "status": r.status, "diagnostic": r.diagnostic} for r in failed
            ],
            "marked": list(marked),
        }
        self._to_agents(ticket, "bounce", told, context, now, log_)

    def _deliverable(
        self,
        ticket: Ticket,
        purpose: str,
        people: list[tuple[Address, int]],
        log_: EventLog,
    ) -> list[tuple[Address, int]]:
        """`people` without the contacts marked undeliverable: automatic mail to them is
        skipped (and noted in the log) until they write again or an agent clears them."""
        marked = {
            c.id
            for c in Contact.select(Contact.id).where(
                Contact.id.in_([cid for _, cid in people]) & Contact.undeliverable_at.is_null(False)
            )
        }
        if not marked:
            return people
        skipped = [a.key for a, cid in people if cid in marked]
        data = {"purpose": purpose, "to": skipped, "reason": "undeliverable"}
        log_(ticket, "system", "mail_skipped", data)
        return [(a, cid) for a, cid in people if cid not in marked]

    # -- SLA ------------------------------------------------------------------------------

    def sla_warning(
        self,
        ticket: Ticket,
        target: str,
        due: dt.datetime,
        agents: Sequence[Agent],
        now: dt.datetime,
        log_: EventLog,
    ) -> None:
        """A target will soon be missed: tell who works the ticket."""
        left = max(0, int((due - now).total_seconds()))
        context = {"target": target, "due": due, "time_left_seconds": left}
        self._to_agents(ticket, "sla_warning", agents, context, now, log_)

    def sla_breach(
        self,
        ticket: Ticket,
        target: str,
        due: dt.datetime,
        level: int,
        bumped_from: str | None,
        to: Sequence[Address],
        now: dt.datetime,
        log_: EventLog,
    ) -> None:
        """A target was missed: escalate to the escalation addresses and managers."""
        context = {
            "target": target,
            "due": due,
            "breached_at": due,  # recorded at the due time itself
            "escalation_level": level,
            "priority_bumped_from": bumped_from,
        }
        self._to_staff(ticket, "sla_breach", to, context, now, log_)

    def digest(
        self,
        manager: Agent,
        figures: dict[str, Any],
        day: str,
        now: dt.datetime,
        desk: DeskProfile | None = None,
    ) -> Outbox | None:
        """The daily SLA digest of one desk (default: the default desk) to one manager
        (a mail about no single ticket)."""
        desk = desk or self.desks.default
        desk_address = desk.address
        domain = desk_address.rpartition("@")[2]
        subject = self._digest_subject(day, desk)
        headers = Outgoing(
            from_=Address(desk.name, desk_address),
            to=(Address(manager.name, manager.email),),
            reply_to=Address(desk.name, desk_address),
            subject=subject,
            message_id=f"<digest.{day}.{secrets.token_hex(8)}@{domain}>",
            date=now,
            text="",
            html="",
            auto_submitted="auto-generated",
            loop=desk_address,
        )
        try:
            check_headers(headers)
        except Unsendable as exc:
            log.warning("digest to %s not sent: %s", manager.email, exc)
            return None
        context = self._digest_context(figures, manager.name, day, desk)
        values = {
            "message_id": headers.message_id,
            "purpose": "digest",
            "audience": MANAGERS,
            "ticket": None,
            "automatic": True,
            "envelope_from": desk_address,
            "recipients": [manager.email],
            "subject": subject,
            "raw": None,
            "draft": to_json(Draft("digest", context, headers)),
            "status": "pending",
            "next_attempt_at": now,
            "give_up_at": now + dt.timedelta(hours=self.config.outbound.give_up_hours),
            "created_at": now,
        }
        return rows.create(current(), Outbox, values)

    def preview_digest(
        self, figures: dict[str, Any], day: str, now: dt.datetime, desk: DeskProfile | None = None
    ) -> str:
        """The digest's subject and text part, as `maildesk digest send --dry-run` shows it."""
        desk = desk or self.desks.default
        context = self._digest_context(figures, "(manager)", day, desk)
        rendered = self.renderer(desk.slug).render("digest", context)
        return f"Subject: {self._digest_subject(day, desk)}\n\n{rendered.text}"

    @staticmethod
    def _digest_subject(day: str, desk: DeskProfile) -> str:
        return f"SLA digest {day}: {desk.name}"

    def _digest_context(
        self, figures: dict[str, Any], name: str, day: str, desk: DeskProfile
    ) -> dict[str, Any]:
        return {
            "desk": _desk_context(desk, desk.address),
            "digest": figures,
            "manager_name": name,
            "date": day,
            "timezone": self.config.sla.timezone,
        }

    def canned(self, ticket: Ticket, name: str) -> str:
        """A canned response (`#template NAME`), filled in for this ticket."""
        context = self._common(ticket, self.label(ticket), self.desk_address(ticket))
        # The text becomes the body that every participant reads, by mail and on the
        # status page: a status link in it would hand one person's key to the others.
        # Each copy's footer carries its own recipient's link instead.
        del context["status_url"]
        return self.renderer(ticket.desk).canned(name, context)

    def compose(self, draft: dict[str, Any]) -> bytes:
        """A queued mail's bytes, from the draft its outbox row keeps (see outbound.draft).
        Raises TemplateError or Unsendable."""
        desk = draft.get("context", {}).get("desk", {})
        slug = desk.get("slug") if isinstance(desk, dict) else None
        return compose(from_json(draft), self.renderer(slug), _attachments)

    @staticmethod
    def on_duty(agents: Sequence[Agent]) -> list[Agent]:
        """Who gets notifications among active `agents`: agents and admins not away."""
        return [a for a in agents if a.active and not a.away and a.role in ASSIGNABLE_ROLES]

    # -- the common path --------------------------------------------------------------

    def _to_customer(
        self,
        ticket: Ticket,
        purpose: str,
        extra: dict[str, Any],
        now: dt.datetime,
        log_: EventLog,
        *,
        to_all: bool,
        automatic: str | None,
        message: Message | None = None,
        sender_name: str | None = None,
        attachments: Sequence[int] = (),
        chain: Sequence[str] | None = None,
    ) -> Outbox | None:
        """`chain`: the customer's thread, when the caller knows it (else looked up)."""
        requester = ticket.requester
        people = [(Address(requester.name, requester.email), requester.id)]
        people += self._cc_of(ticket) if to_all else []
        held = None
        if automatic is not None:
            if ticket.automated:
                log_(ticket, "system", "mail_skipped", {"purpose": purpose, "reason": "automated"})
                return None
            held = self._over_limit(requester.email, now)
        people = [(a, cid) for a, cid in people if not self._ours(a)]
        if automatic is not None:
            people = self._deliverable(ticket, purpose, people, log_)
        if not people:
            return None
        to = [a for a, cid in people if cid == requester.id]
        cc = [a for a, cid in people if cid != requester.id]
        if chain is None:
            chain = self._customer_chain(ticket)
        # One copy per person, each delivered to that person alone and carrying their own
        # status link; the headers still show everyone the mail went to.
        copies: list[Outbox] = []
        try:
            for address, contact_id in people:
                copies.append(
                    self._queue(
                        ticket,
                        purpose,
                        CUSTOMER,
                        to,
                        cc,
                        self._links_for(ticket, contact_id, extra),
                        chain,
                        now,
                        automatic=automatic,
                        message=message,
                        sender_name=sender_name,
                        attachments=attachments,
                        # The caps count a mail once, not once per copy.
                        rate_for=requester.email if automatic and not copies else None,
                        held=held,
                        envelope=(address,),
                    )
                )
        except Unsendable as exc:
            log_(ticket, "system", "mail_rejected", {"purpose": purpose, "reason": str(exc)})
            return None
        recipients = [a.key for a in to + cc]
        if held is not None:
            log.warning("%s: %s mail held: %s", self.label(ticket), purpose, held)
            outboxes = [copy.id for copy in copies]
            data = {"purpose": purpose, "to": recipients, "reason": held, "outbox": outboxes[0]}
            if len(outboxes) > 1:
                data["outboxes"] = outboxes
            log_(ticket, "system", "mail_held", data)
            return copies[0]
        log_(ticket, "system", "mail_queued", {"purpose": purpose, "to": recipients})
        return copies[0]

    def _to_agents(
        self,
        ticket: Ticket,
        purpose: str,
        agents: Iterable[Agent],
        extra: dict[str, Any],
        now: dt.datetime,
        log_: EventLog,
        parent: str | None = None,
        rate: bool = False,
        about: Message | None = None,
    ) -> None:
        """`about`: the message the mail tells of (a reply to it `#split`s from there)."""
        to = [Address(a.name, a.email) for a in self.of_desk(ticket, agents)]
        self._to_staff(ticket, purpose, to, extra, now, log_, parent, rate, about)

    def of_desk(self, ticket: Ticket, agents: Iterable[Agent]) -> list[Agent]:
        """Those of `agents` who see the ticket (`store.repo.agent_scopes`: of its desk,
        and of its category for an agent limited to some): nobody hears of a ticket
        that is not there for them. A ticket of a desk no longer configured is the
        default desk's, as its label is."""
        agents = list(agents)
        slug = self.desks.get(ticket.desk).slug
        seen = repo.agent_scopes(agents, self.desks)
        return [
            a
            for a in agents
            if (scope := seen[a.id]) is None or scope.covers(slug, ticket.category)
        ]

    def _to_staff(
        self,
        ticket: Ticket,
        purpose: str,
        addresses: Sequence[Address],
        extra: dict[str, Any],
        now: dt.datetime,
        log_: EventLog,
        parent: str | None = None,
        rate: bool = False,
        about: Message | None = None,
    ) -> None:
        """Agents, managers, escalation addresses: one mail each, in the agents' thread.
        An agent's has their signed reply address as its Reply-To. `rate`: counted
        against the address's hourly cap of automatic mail."""
        unique = {a.key: a for a in addresses if not self._ours(a)}
        to = list(unique.values())
        if not to:
            return
        chain = self._agents_chain(ticket)
        if parent:
            chain.append(parent)
        cheat = self._cheat_sheets[self.desks.get(ticket.desk).slug]
        extra = {"cheat_sheet": cheat, **extra}
        agent_ids = _agent_ids(unique)
        # One mail per agent: nobody sees who else was told, a bounce names its address,
        # and each agent's Reply-To is theirs alone.
        for address in to:
            try:
                self._queue(
                    ticket,
                    purpose,
                    AGENTS,
                    [address],
                    [],
                    extra,
                    chain,
                    now,
                    automatic="auto-generated",
                    reply_agent=agent_ids.get(address.key),
                    rate_for=address.key if rate else None,
                    message=about,
                )
            except Unsendable as exc:
                reason = str(exc)
                log_(ticket, "system", "mail_rejected", {"purpose": purpose, "reason": reason})
        log_(ticket, "system", "mail_queued", {"purpose": purpose, "to": [a.key for a in to]})

    def _queue(
        self,
        ticket: Ticket,
        purpose: str,
        audience: str,
        to: Sequence[Address],
        cc: Sequence[Address],
        extra: dict[str, Any],
        chain: Sequence[str],
        now: dt.datetime,
        *,
        automatic: str | None,
        message: Message | None = None,
        sender_name: str | None = None,
        attachments: Sequence[int] = (),
        rate_for: str | None = None,
        held: str | None = None,
        reply_agent: int | None = None,
        envelope: Sequence[Address] | None = None,
    ) -> Outbox:
        """`rate_for`: the address whose caps this mail counts against; `held`: why the
        mail is held instead of sent (over a cap); `reply_agent`: the id of the agent the
        mail goes to, whose signed reply address becomes its Reply-To; `envelope`: whom
        this copy is delivered to (default: everyone in To and Cc)."""
        label = self.label(ticket)
        desk_address = self.desk_address(ticket)
        reply_to = desk_address
        if reply_agent is not None:
            reply_to = reply_address(desk_address, ticket.number, reply_agent, self._secret())
        context = {**self._common(ticket, label, desk_address), **extra}
        in_reply_to, references = thread_headers(chain)
        domain = desk_address.rpartition("@")[2]
        message_id = make_message_id(label, ticket.number, self._secret(), domain)
        subject = tagged_subject(ticket.subject, label, reply=bool(chain))
        headers = Outgoing(
            from_=Address(sender_name or self.desks.get(ticket.desk).name, desk_address),
            to=tuple(to),
            cc=tuple(cc),
            reply_to=Address(self.desks.get(ticket.desk).name, reply_to),
            subject=subject,
            message_id=message_id,
            date=now,
            text="",
            html="",
            in_reply_to=in_reply_to,
            references=references,
            auto_submitted=automatic,
            loop=desk_address,
            extra_headers=(("X-Maildesk-Ticket", label),),
        )
        check_headers(headers)  # refused now, in the ticket's log, not at sending time
        draft = Draft(purpose, context, headers, tuple(attachments))
        outbound = self.config.outbound
        values = {
            "message_id": message_id,
            "purpose": purpose,
            "audience": audience,
            "ticket": ticket,
            "ticket_message": message,
            "automatic": automatic is not None,
            "envelope_from": desk_address,
            "recipients": [a.key for a in (envelope if envelope is not None else (*to, *cc))],
            "rate_key": None if rate_for is None else rate_key(rate_for),
            "rate_domain": None if rate_for is None else domain_of(rate_for),
            "subject": subject,
            "raw": None,  # composed from the draft before the first attempt
            "draft": to_json(draft),
            "status": "pending" if held is None else "held",
            "last_error": held,
            "next_attempt_at": now,
            "give_up_at": now + dt.timedelta(hours=outbound.give_up_hours),
            "created_at": now,
        }
        return rows.create(current(), Outbox, values)  # the hot path: cached SQL

    # -- facts --------------------------------------------------------------------------

    def label(self, ticket: Ticket) -> str:
        return self.desks.get(ticket.desk).label(ticket.seq)

    def _ours(self, address: Address) -> bool:
        """One of our addresses, or a subaddress of one: we never mail ourselves."""
        return is_our_address(address.key, self.our_addresses)

    def desk_address(self, ticket: Ticket) -> str:
        """Where the ticket's mail comes from: the address of its desk it came in on."""
        desk = self.desks.get(ticket.desk)
        mailbox = ticket.mailbox
        if mailbox and mailbox.lower() in desk.addresses:
            return str(mailbox).lower()
        return desk.address

    def status_url(self, ticket: Ticket, contact_id: int | None = None) -> str:
        """The status link signed for one participant (None: the requester's link of old)."""
        return status_url(
            self.desks.get(ticket.desk).base_url,
            self.label(ticket),
            ticket.number,
            self._secret(),
            contact_id,
        )

    def _satisfaction_url(self, ticket: Ticket, contact_id: int | None = None) -> str:
        return satisfaction_url(
            self.desks.get(ticket.desk).base_url,
            self.label(ticket),
            ticket.number,
            self._secret(),
            contact_id,
        )

    def _links_for(self, ticket: Ticket, contact_id: int, extra: dict[str, Any]) -> dict[str, Any]:
        """`extra` with the status (and satisfaction) link of one recipient: a copy sent
        to a CC must never carry the requester's key to the ticket."""
        links: dict[str, Any] = {"status_url": self.status_url(ticket, contact_id)}
        if extra.get("satisfaction_url"):
            links["satisfaction_url"] = self._satisfaction_url(ticket, contact_id)
        if extra.get("solved_url"):  # the resolved notice's answers (`web.pages.customer_close`)
            links["solved_url"] = f"{links['status_url']}/confirm"
            links["not_solved_url"] = f"{links['status_url']}/reopen"
        if extra.get("articles"):
            links["articles"] = [
                {**article, "url": self.article_url(ticket, article["slug"], contact_id)}
                for article in extra["articles"]
            ]
        return {**extra, **links}

    def article_url(self, ticket: Ticket, slug: str, contact_id: int) -> str:
        """A suggested article's link, signed for one participant of the ticket."""
        base = self.desks.get(ticket.desk).base_url
        return article_url(
            base, slug, self.label(ticket), ticket.number, self._secret(), contact_id
        )

    def _common(self, ticket: Ticket, label: str, desk_address: str) -> dict[str, Any]:
        requester = ticket.requester
        assignee = Agent.get_or_none(Agent.id == ticket.assignee_id) if ticket.assignee_id else None
        desk = self.desks.get(ticket.desk)
        return {
            "desk": _desk_context(desk, desk_address),
            "ticket": {
                "label": label,
                "subject": ticket.subject,
                "status": ticket.status,
                "priority": ticket.priority,
                "category": ticket.category,
                "tags": repo.ticket_tags(ticket),
                "requester_name": requester.name or requester.email,
                "requester_email": requester.email,
                "assignee_name": None if assignee is None else assignee.name,
                "created_at": ticket.created_at,
            },
            "status_url": self.status_url(ticket),
            "ticket_url": agent_url(desk.base_url, label),
        }

    def _cc_of(self, ticket: Ticket) -> list[tuple[Address, int]]:
        """The ticket's CCs, with their contact ids."""
        query = (
            Contact.select(Contact.id, Contact.email, Contact.name)
            .join(Participant)
            .where((Participant.ticket == ticket) & (Participant.role == "cc"))
            .order_by(Participant.id)
        )
        return [(Address(c.name, c.email), c.id) for c in query]

    def _over_limit(self, address: str, now: dt.datetime) -> str | None:
        """Why automatic mail to `address` must be held now (None: it may go): its
        address (without +tag) or its domain had their hourly share. Held mail does not
        count, so the caps are on mail sent."""
        since = now - dt.timedelta(hours=1)
        db = current()
        outbound = self.config.outbound
        key, domain = rate_key(address), domain_of(address)
        for field, value, limit in (
            ("rate_key", key, outbound.auto_limit_per_hour),
            ("rate_domain", domain, outbound.auto_limit_per_domain_per_hour),
        ):
            sent = rows.count_since(
                db, Outbox, field, value, "created_at", since, "automatic", ("status", "held")
            )
            if sent >= limit:
                return f"{value} had {limit} automatic mails in the last hour"
        return None

    def _customer_chain(self, ticket: Ticket) -> list[str]:
        """The customer's thread, oldest first: their messages and our mail to them."""
        theirs = (
            Message.select(Message.message_id, Message.created_at)
            .where(
                (Message.ticket == ticket)
                & (Message.kind == "customer")
                & Message.message_id.is_null(False)
            )
            .tuples()
        )
        copies = (
            Outbox.select(Outbox.message_id, Outbox.created_at, Outbox.purpose)
            .where(
                (Outbox.ticket == ticket)
                & (Outbox.audience == CUSTOMER)
                & (Outbox.status != "held")  # never sent: not in the customer's thread
            )
            .order_by(Outbox.created_at, Outbox.id)
        )
        # Each participant gets a copy of their own; the first of each mail (queued at
        # one time, for one purpose) stands for it in the thread.
        firsts: dict[tuple[dt.datetime, str], str] = {}
        for mid, at, purpose in rows.tuples(copies):
            firsts.setdefault((at, purpose), mid)
        ours = [(mid, at) for (at, _), mid in firsts.items()]
        return [mid for mid, _ in sorted([*theirs, *ours], key=lambda row: row[1])]

    def _agents_chain(self, ticket: Ticket) -> list[str]:
        ours = (
            Outbox.select(Outbox.message_id)
            .where((Outbox.ticket == ticket) & (Outbox.audience == AGENTS))
            .order_by(Outbox.created_at, Outbox.id)
        )
        return [mid for (mid,) in rows.tuples(ours)]

    def _last_customer_message(self, ticket: Ticket, before: Message) -> list[Shown]:
        latest = (
            Message.select()
            .where(
                (Message.ticket == ticket)
                & (Message.kind == "customer")
                & (Message.id != before.id)
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .first()
        )
        return [] if latest is None else [self._shown(latest)]

    def _shown(self, message: Message) -> Shown:
        attachments = tuple(
            {"filename": a.filename, "size": a.size}
            for a in Attachment.select(Attachment.filename, Attachment.size).where(
                Attachment.message == message
            )
        )
        return Shown(
            from_name=message.from_name,
            from_email=message.from_email,
            text=split_reply(message.body_text).visible or message.body_text,
            at=message.created_at,
            attachments=attachments,
        )


def _desk_context(desk: DeskProfile, address: str) -> dict[str, Any]:
    """What templates know of the desk (`desk.name`, `desk.address`, ...)."""
    return {
        "slug": desk.slug,
        "name": desk.name,
        "address": address,
        "base_url": desk.base_url,
        "signature": desk.signature,
    }


def _excerpt(text: str) -> str:
    text = text.strip()
    if len(text) <= EXCERPT_CHARS:
        return text
    return text[:EXCERPT_CHARS].rsplit(" ", 1)[0] + " …"


def _agent_ids(addresses: Iterable[str]) -> dict[str, int]:
    """The agent id of each of these addresses that is an agent's."""
    keys = sorted(addresses)
    query = Agent.select(Agent.id, Agent.email).where(Agent.email.in_(keys))
    return {agent.email: agent.id for agent in query}


def _attachments(ids: Sequence[int]) -> list[Part]:
    query = Attachment.select().where(Attachment.id.in_(list(ids))).order_by(Attachment.id)
    return [
        Part(a.filename, a.content_type, repo.blob_bytes(a.blob_id), a.content_id, a.inline)
        for a in query
    ]
