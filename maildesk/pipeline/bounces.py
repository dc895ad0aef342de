"""The pipeline's bounce stage: a bounce of mail we sent belongs to that mail's ticket.

Where it sits in the flow: after classify, before match (`pipeline.flow`). Automated
mail that `core.bounces.read_bounce` reads as a bounce is tied to the outbox row of
the mail that bounced, by the original Message-ID it quotes: one of our signed ids
(`core.msgid`) that is also in the outbox, so the id is ours and we know whom that
mail went to. Each recipient the bounce reports on must be one that mail went to
(each copy of our mail goes to one person): a forged bounce naming any other address
marks nothing.

A bounce that names no mail of ours goes on as any automated mail does (stored,
never a ticket, never answered). What the flow does with a matched one:

- a system entry on the ticket (recipient, status, diagnostic; the raw mail kept as
  for all mail) and `bounce_received` in its log, for every action;
- a permanent failure (`Action: failed`, a 5.x.x status) of mail to a customer marks
  the contact undeliverable (`tickets.undeliverable`) and tells the assignee (or
  everyone on duty); a delay (4.x.x) only is stored, the server is still trying.
"""

from __future__ import annotations

from dataclasses import dataclass

from maildesk.core.bounces import Bounce, Recipient
from maildesk.core.msgid import verify_message_id
from maildesk.store.models import Outbox

CUSTOMER = "customer"  # outbox audience (outbound.compose.CUSTOMER)


@dataclass(frozen=True)
class Matched:
    """A bounce of one of our mails."""

    outbox: Outbox  # the mail that bounced
    number: int  # its ticket's number
    reported: tuple[Recipient, ...]  # the recipients named that the mail went to
    strangers: tuple[str, ...]  # addresses named that it did not go to (marked never)

    @property
    def failed(self) -> tuple[Recipient, ...]:
        """The permanent failures of mail to a customer: addresses to mark undeliverable."""
        if self.outbox.audience != CUSTOMER:
            return ()
        return tuple(r for r in self.reported if r.permanent)


def match(bounce: Bounce, secret: bytes) -> Matched | None:
    """The mail of ours `bounce` is about, or None (not ours: handled as any automated
    mail)."""
    for message_id in bounce.original_ids:
        number = verify_message_id(message_id, secret)
        if number is None:
            continue
        row = Outbox.get_or_none(Outbox.message_id == message_id)
        if row is None or row.ticket_id is None:
            continue
        sent_to = {str(a).lower() for a in row.recipients}
        reported = tuple(r for r in bounce.recipients if r.email in sent_to)
        strangers = tuple(r.email for r in bounce.recipients if r.email not in sent_to)
        return Matched(row, number, reported, strangers)
    return None


def entry_text(matched: Matched) -> str:
    """The system entry shown on the ticket."""
    row = matched.outbox
    lines = [f"Delivery report for our mail {row.message_id} ({row.purpose}):", ""]
    for r in matched.reported:
        outcome = "failed permanently" if r.permanent else r.action
        lines.append(f"{r.email}: {outcome}{f' ({r.status})' if r.status else ''}")
        if r.diagnostic:
            lines.append(f"  {r.diagnostic}")
    if not matched.reported:
        lines.append("It names no recipient of that mail: nothing was marked.")
    if matched.strangers:
        lines.append(f"Not recipients of that mail, ignored: {', '.join(matched.strangers)}")
    return "\n".join(lines)


def event_data(matched: Matched, recipient: Recipient) -> dict[str, object]:
    return {
        "to": recipient.email,
        "action": recipient.action,
        "status": recipient.status,
        "diagnostic": recipient.diagnostic,
        "permanent": recipient.permanent,
        "outbox": matched.outbox.id,
        "purpose": matched.outbox.purpose,
    }


def reason(recipient: Recipient) -> str:
    """What the contact record says of the failure."""
    return " ".join(part for part in (recipient.status, recipient.diagnostic) if part) or (
        recipient.action
    )
