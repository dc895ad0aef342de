"""Signed links in customer mail: a ticket's status page, its satisfaction form, and
the knowledge-base articles suggested for it.

Where it sits in the flow: `outbound.compose` puts these links in the
acknowledgement and in later customer mail, each participant's copy carrying a
link signed for that participant (`/t/SUP-00042/<contact id>-<token>`); the web
view (`/t/...`) reads the token with `link_holder` to learn who is viewing, and
answers 404 to anything else. A token is an HMAC of the ticket number (and the
participant) under the desk's secret key: unguessable, nothing to store, and a
link signed for one participant cannot be turned into another's. Links made
before per-participant links (`/t/SUP-00042/<token>`) stand for the ticket's
requester and keep working.

Pure: values in, strings out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

TOKEN_HEX_LENGTH = 32  # 128 bits
_PARTICIPANT = re.compile(r"([1-9][0-9]{0,17})-([0-9a-fA-F]{32})")


@dataclass(frozen=True)
class LinkHolder:
    """Whom a link was signed for."""

    contact_id: int | None  # None: the ticket's requester (a link without a participant)


def _hmac(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[:TOKEN_HEX_LENGTH]


def ticket_token(secret: bytes, number: int) -> str:
    """The requester's token, as links carried it before they named a participant."""
    return _hmac(secret, f"ticket-link:{number}")


def participant_token(secret: bytes, number: int, contact_id: int) -> str:
    """`<contact id>-<token>`: the link of one participant (requester or CC)."""
    return f"{contact_id}-{_hmac(secret, f'ticket-link:{number}:contact:{contact_id}')}"


def verify_token(secret: bytes, number: int, token: str) -> bool:
    return hmac.compare_digest(ticket_token(secret, number), token.strip().lower())


def link_holder(secret: bytes, number: int, token: str) -> LinkHolder | None:
    """Whom `token` was signed for on ticket `number`; None if it is not one of ours."""
    token = token.strip().lower()
    found = _PARTICIPANT.fullmatch(token)
    if found is None:
        return LinkHolder(None) if verify_token(secret, number, token) else None
    contact_id = int(found.group(1))
    expected = participant_token(secret, number, contact_id)
    return LinkHolder(contact_id) if hmac.compare_digest(expected, token) else None


def status_url(
    base_url: str, label: str, number: int, secret: bytes, contact_id: int | None = None
) -> str:
    """`https://help.example.com/t/SUP-00042/7-<token>` (contact 7's own link); without
    `contact_id`, the requester's link of old."""
    token = (
        ticket_token(secret, number)
        if contact_id is None
        else participant_token(secret, number, contact_id)
    )
    return f"{base_url.rstrip('/')}/t/{label}/{token}"


def satisfaction_url(
    base_url: str, label: str, number: int, secret: bytes, contact_id: int | None = None
) -> str:
    return status_url(base_url, label, number, secret, contact_id) + "/rate"


def agent_url(base_url: str, label: str) -> str:
    """The ticket in the admin web view (needs a sign-in)."""
    return f"{base_url.rstrip('/')}/tickets/{label}"


def article_token(secret: bytes, number: int, slug: str, contact_id: int) -> str:
    """`<contact id>-<token>`: an article suggested on ticket `number` to one participant
    (the link lets them close their request from the article)."""
    return f"{contact_id}-{_hmac(secret, f'kb-link:{number}:{slug}:contact:{contact_id}')}"


def article_holder(secret: bytes, number: int, slug: str, token: str) -> LinkHolder | None:
    """Whom an article link's `token` was signed for; None if it is not one of ours."""
    found = _PARTICIPANT.fullmatch(token.strip().lower())
    if found is None:
        return None
    contact_id = int(found.group(1))
    expected = article_token(secret, number, slug, contact_id)
    return LinkHolder(contact_id) if hmac.compare_digest(expected, found.group(0)) else None


def article_url(
    base_url: str, slug: str, label: str, number: int, secret: bytes, contact_id: int
) -> str:
    """`https://help.example.com/kb/reset-password?ticket=SUP-00042&t=7-<token>`."""
    token = article_token(secret, number, slug, contact_id)
    return f"{base_url.rstrip('/')}/kb/{slug}?ticket={label}&t={token}"


def public_article_path(slug: str, desk: str, default: str) -> str:
    """An article's page in the help center: `/kb/SLUG` for the default desk's,
    `/kb/SLUG?desk=DESK` for another desk's (a slug names one article of a desk)."""
    return f"/kb/{slug}" if desk == default else f"/kb/{slug}?desk={desk}"
