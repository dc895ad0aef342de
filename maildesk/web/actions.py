"""What people do on the web, turned into mail and taken in like mail.

An agent's reply or field change, a customer's reply on their status page, a new
ticket from /submit or the API: each is written as a MIME message and goes through
intake and the pipeline (`Runtime.ingest`), so it is stored, threaded, checked,
answered and notified exactly as the same mail would be. The agent's mail is built
here from the signed-in session, so the pipeline trusts it without
Authentication-Results (its intake source is one of `pipeline.SIGNED_IN_SOURCES`).

These functions run in the web's database threads.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime

from maildesk.core.addresses import is_bare_address
from maildesk.core.commands import parse_reply
from maildesk.core.match import strip_tags
from maildesk.core.message import parse_address, parse_typed_address
from maildesk.core.reply_address import is_our_address
from maildesk.inbound.intake import Envelope
from maildesk.pipeline.flow import Outcome
from maildesk.pipeline.ingest import Runtime
from maildesk.settings.desks import DeskProfile
from maildesk.store import repo
from maildesk.store.models import Agent, Contact, Event, Ticket
from maildesk.tickets import followers, held
from maildesk.web.context import Web


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


class Refused(ValueError):
    """The input cannot become mail (a bad address, an empty message, ...)."""


def _one_line(value: str) -> str:
    return " ".join(value.split())


def compose(
    web: Web,
    *,
    name: str,
    email: str,
    subject: str,
    text: str,
    uploads: Sequence[Upload] = (),
    to: str,
) -> bytes:
    """A plain mail from `name <email>` to the desk address `to`, with `uploads`
    attached."""
    desk = to
    email = email.strip()
    message = EmailMessage()
    try:
        local, _, domain = email.rpartition("@")
        author = HeaderAddress(display_name=_one_line(name), username=local, domain=domain)
        message["From"] = author
    except (ValueError, IndexError) as exc:
        raise Refused(f"not a usable e-mail address: {email!r}") from exc
    if not is_bare_address(email):
        raise Refused(f"not a usable e-mail address: {email!r}")
    message["To"] = desk
    message["Subject"] = _one_line(subject) or "(no subject)"
    message["Date"] = format_datetime(web.clock())
    message["Message-ID"] = f"<web.{secrets.token_hex(12)}@{desk.rpartition('@')[2]}>"
    message.set_content(text or "", cte="quoted-printable")
    for upload in uploads:
        maintype, _, subtype = upload.content_type.partition("/")
        if not maintype or not subtype or any(c.isspace() for c in upload.content_type):
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(
            upload.data, maintype=maintype, subtype=subtype, filename=upload.filename
        )
    return bytes(message)


def _ingest(web: Web, raw: bytes, source: str, sender: str, to: str) -> Outcome:
    runtime = Runtime(web.desk, web.pipeline)
    return runtime.ingest(raw, source=source, envelope=Envelope(sender, (to,)))


def _tagged(web: Web, ticket: Ticket) -> str:
    return f"Re: [{web.label(ticket)}] {ticket.subject}"


# -- agents --------------------------------------------------------------------------


def command_errors(web: Web, ticket: Ticket, text: str, agent: Agent | None = None) -> list[str]:
    """What is wrong with the #command block of `text` for this ticket (empty: fine),
    the same checks the pipeline makes of mail (of `agent`'s mail, when given)."""
    prefix = web.desk.desk_of(ticket).prefix
    reply = parse_reply(text, prefix=prefix, priorities=web.config.tickets.priorities)
    errors = [str(e) for e in reply.errors]
    changes = web.desk.changes(web.clock(), lambda *a: None, with_sla=False)
    canned = web.desk.mailer.renderer(ticket.desk).canned_names()
    errors += changes.check(ticket, reply.commands, canned, agent)
    mentions = followers.check_mentions(
        ticket, reply.body, reply.is_note, repo.active_agents(), web.desk.mailer.of_desk
    )
    errors += mentions.errors
    if agent is not None:  # `#send` here sends the agent's reply held from mail
        errors += held.send_problems(ticket, agent, reply.commands)
    return errors


def agent_mail(
    web: Web,
    agent: Agent,
    ticket: Ticket,
    text: str,
    *,
    commands: Sequence[str] = (),
    note: bool = False,
    uploads: Sequence[Upload] = (),
    source: str = "web",
) -> Outcome:
    """The agent's reply (or note, or just #commands) to `ticket`, as if mailed."""
    block = [c.strip() for c in commands if c.strip()] + (["#note"] if note else [])
    body = "\n".join(block) + ("\n\n" if block and text.strip() else "") + text.strip()
    if not body:
        raise Refused("nothing to send: write a reply or change something")
    errors = command_errors(web, ticket, body, agent)
    if errors:
        raise Refused("; ".join(errors))
    raw = compose(
        web,
        name=agent.name,
        email=agent.email,
        subject=_tagged(web, ticket),
        text=body,
        uploads=uploads,
        to=web.desk.mailer.desk_address(ticket),
    )
    return _ingest(web, raw, source, agent.email, web.desk.mailer.desk_address(ticket))


# -- customers -----------------------------------------------------------------------


def customer_reply(
    web: Web, ticket: Ticket, person: Contact, text: str, uploads: Sequence[Upload] = ()
) -> Outcome:
    """A participant's reply from the status page their link opens, as if mailed by
    them (`person`: whom the link was signed for, requester or CC)."""
    if not text.strip() and not uploads:
        raise Refused("write a message first")
    raw = compose(
        web,
        name=person.name,
        email=person.email,
        subject=_tagged(web, ticket),
        text=text.strip(),
        uploads=uploads,
        to=web.desk.mailer.desk_address(ticket),
    )
    return _ingest(web, raw, "web:status", person.email, web.desk.mailer.desk_address(ticket))


def new_ticket(
    web: Web,
    *,
    name: str,
    email: str,
    subject: str,
    text: str,
    uploads: Sequence[Upload] = (),
    source: str = "web:submit",
    desk: DeskProfile | None = None,
) -> Outcome:
    """A new ticket (of `desk`; default: the default desk) from a form or a program.
    Ticket tags in the subject are removed: this way in never writes into an existing
    ticket."""
    to = (desk or web.desks.default).address
    if not text.strip():
        raise Refused("describe the problem first")
    # Read as mail reads a From header, so `bob@example.com(x)`, `<BOB@Example.com>` or
    # `bob@example.com.` are Bob here too, and what is checked is what is mailed.
    # Any reading that names the desk or an agent is refused as such, before the
    # stricter reading of what a person may type.
    claimed = parse_address(email)
    if claimed is not None and (
        is_our_address(claimed.key, web.desk.our_addresses)
        or Agent.get_or_none(Agent.email == claimed.key)
    ):
        raise Refused("that address belongs to this desk: use your own")
    address = parse_typed_address(email)
    if address is None:
        raise Refused(f"not a usable e-mail address: {email.strip()[:200]!r}")
    raw = compose(
        web,
        name=name,
        email=address.email,
        subject=strip_tags(subject, web.desks.prefixes),
        text=text.strip(),
        uploads=uploads,
        to=to,
    )
    return _ingest(web, raw, source, address.email, to)


# -- agents opening a ticket to a customer -----------------------------------------------


def ticket_to_customer(
    web: Web,
    agent: Agent,
    *,
    email: str,
    name: str,
    subject: str,
    text: str,
    commands: Sequence[str] = (),
    uploads: Sequence[Upload] = (),
    desk: DeskProfile | None = None,
    source: str = "web",
) -> Outcome:
    """A new ticket to a customer, opened by the signed-in agent: `text` is its first
    message, sent to them from the desk address. Mailed as the agent's `#requester`
    mail would be, with `commands` (`#priority`, `#assign`, `#set` ...) in its block."""
    claimed = parse_address(email)
    if claimed is not None and (
        is_our_address(claimed.key, web.desk.our_addresses)
        or Agent.get_or_none(Agent.email == claimed.key)
    ):
        raise Refused("that address belongs to this desk: give the customer's")
    address = parse_typed_address(email)
    if address is None:
        raise Refused(f"not a usable e-mail address: {email.strip()[:200]!r}")
    if not text.strip():
        raise Refused("write the message for the customer first")
    person = _one_line(name) or address.name
    block = [f"#requester {address.email} {person}".strip()]
    block += [_one_line(c) for c in commands if c.strip()]
    parsed = parse_reply(
        "\n".join(block), prefix=web.prefixes, priorities=web.config.tickets.priorities
    )
    if parsed.errors:
        raise Refused("; ".join(str(e) for e in parsed.errors))
    to = (desk or web.desks.default).address
    raw = compose(
        web,
        name=agent.name,
        email=agent.email,
        subject=strip_tags(subject, web.desks.prefixes),
        text="\n".join(block) + "\n\n" + text.strip(),
        uploads=uploads,
        to=to,
    )
    outcome = _ingest(web, raw, source, agent.email, to)
    rejected = _rejected(web, outcome)
    if rejected:
        raise Refused(f"{outcome.ticket} opened, nothing sent: {'; '.join(rejected)}")
    return outcome


def _rejected(web: Web, outcome: Outcome) -> list[str]:
    """The errors the pipeline found in the commands of the mail that opened a ticket
    (the mail is then kept as an internal note of it and nothing is sent)."""
    number = web.desk.labels.find(outcome.ticket or "") if outcome.action == "created" else None
    if number is None:
        return []
    event = (
        Event.select()
        .join(Ticket)
        .where((Ticket.number == number) & (Event.type == "commands_rejected"))
        .first()
    )
    return [] if event is None else [str(e) for e in event.data.get("errors", [])]
