"""The portal's sign-in link, queued in the outbox like any other mail.

Where it sits in the flow: a customer asks /portal for a sign-in link
(`web.pages.portal`); the web's database thread records the link's token
(`web.portal_auth`) and, in the same transaction, queues this mail. It is about no
ticket: From and Reply-To are the default desk's address, and it is automatic
(`Auto-Submitted: auto-generated`), so an auto-responder never answers it.
"""

from __future__ import annotations

import datetime as dt
import secrets

from maildesk.core.message import Address
from maildesk.core.outgoing import Outgoing, check_headers
from maildesk.outbound.compose import Mailer, _desk_context
from maildesk.outbound.draft import Draft, to_json
from maildesk.store import rows
from maildesk.store.models import Outbox
from maildesk.store.scope import current

PURPOSE = "portal_link"
AUDIENCE = "customer"


def queue_sign_in(mailer: Mailer, to: Address, url: str, minutes: int, now: dt.datetime) -> Outbox:
    """Queue the sign-in link `url` (valid `minutes`) to `to`. Raises Unsendable when
    the address cannot take mail (the caller sends nothing then)."""
    desk = mailer.desks.default
    domain = desk.address.rpartition("@")[2]
    subject = f"Your sign-in link to {desk.name}"
    headers = Outgoing(
        from_=Address(desk.name, desk.address),
        to=(to,),
        reply_to=Address(desk.name, desk.address),
        subject=subject,
        message_id=f"<portal.{secrets.token_hex(12)}@{domain}>",
        date=now,
        text="",
        html="",
        auto_submitted="auto-generated",
        loop=desk.address,
    )
    check_headers(headers)
    context = {
        "desk": _desk_context(desk, desk.address),
        "name": to.name,
        "sign_in_url": url,
        "minutes": minutes,
    }
    values = {
        "message_id": headers.message_id,
        "purpose": PURPOSE,
        "audience": AUDIENCE,
        "ticket": None,
        "automatic": True,
        "envelope_from": desk.address,
        "recipients": [to.email],
        "subject": subject,
        "raw": None,
        "draft": to_json(Draft(PURPOSE, context, headers)),
        "status": "pending",
        "next_attempt_at": now,
        "give_up_at": now + dt.timedelta(hours=mailer.config.outbound.give_up_hours),
        "created_at": now,
    }
    return rows.create(current(), Outbox, values)
