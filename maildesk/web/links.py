"""A customer's status link, checked: which ticket it opens and whose key it is.

The status link in customer mail (`/t/SUP-00042/<contact id>-<token>`, `core.links`)
is one participant's key to one ticket. Links without a contact id, from before,
are the requester's. Anything wrong with a link (label, token, ticket, a CC no
longer on the ticket) gets the same 404. Used by the customer pages
(`pages.status`, `pages.rating`), in the web's database threads where they read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.exceptions import HTTPException

from maildesk.core import links
from maildesk.store import repo
from maildesk.store.models import Contact, Participant, Ticket
from maildesk.web.context import Web, find_ticket

NOT_FOUND = "There is no such page. Please check that the link is complete."
TOKEN = re.compile(r"(?:[1-9][0-9]{0,17}-)?[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class Link:
    """A checked status link: the ticket number it was made for, its token, and the
    participant it was signed for (None: the requester, on a link from before)."""

    number: int
    token: str
    label: str
    contact_id: int | None

    @property
    def path(self) -> str:
        return f"/t/{self.label}/{self.token}"


def parse_link(web: Web, label: str, token: str) -> Link:
    """The link's number and holder, if its token is one we made for it; else 404."""
    number = web.desk.labels.find(label)
    shown = web.desks.read_label(label)
    if number is None or shown is None or not TOKEN.fullmatch(token):
        raise HTTPException(404, NOT_FOUND)
    holder = links.link_holder(web.secret, number, token)
    if holder is None:
        raise HTTPException(404, NOT_FOUND)
    return Link(number, token.lower(), shown, holder.contact_id)


def linked_ticket(link: Link) -> Ticket:
    """The ticket the link shows: its own, or the one it was merged into (404 if gone)."""
    ticket = find_ticket(link.number)
    if ticket is None:
        raise HTTPException(404, NOT_FOUND)
    return repo.survivor(ticket)


def viewer(link: Link) -> Contact:
    """Who holds the link: the participant it was signed for, while they are one (the
    requester or a CC of the linked ticket, or of the ticket it joined); else 404."""
    ticket = find_ticket(link.number)
    if ticket is None:
        raise HTTPException(404, NOT_FOUND)
    if link.contact_id is None or link.contact_id == ticket.requester_id:
        return Contact.get_by_id(ticket.requester_id)
    survivor = repo.survivor(ticket)
    on_ticket = Participant.select().where(
        (Participant.contact == link.contact_id)
        & Participant.ticket.in_(sorted({ticket.id, survivor.id}))
    )
    if link.contact_id != survivor.requester_id and not on_ticket.exists():
        raise HTTPException(404, NOT_FOUND)
    return Contact.get_by_id(link.contact_id)


async def link_of(web: Web, path_params: dict[str, str]) -> Link:
    """The link in a `/t/{label}/{token}...` path (its label looked up in the web's
    database threads)."""
    return await web.call(parse_link, web, path_params["label"], path_params["token"])
