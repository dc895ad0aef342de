"""Customers' sign-in to the portal (/portal): links by mail, sessions on the server.

A customer asks for a link with their address. When the address is one of our
contacts, a random token is recorded (its SHA-256 only: `PortalToken`) and mailed
(`outbound.portal_mail`) in one transaction; an unknown address gets nothing, and
the same work is done up to that point. The link names the contact and the token
(`<contact id>-<token>`): it signs in that contact once, before it expires, and only
that contact (a token shown with another contact's id is refused).

Signing in starts a `PortalSession` (the SHA-256 of the cookie's random id), apart
from agents' `WebSession`s; signing out, "sign out everywhere" and an admin's
`maildesk portal revoke` set its `revoked_at`, so a copied cookie is then worthless.

These functions run in the web's (or the CLI's) database threads.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import secrets
from dataclasses import dataclass

import peewee

from maildesk.core.message import Address
from maildesk.core.outgoing import Unsendable
from maildesk.outbound.compose import Mailer
from maildesk.outbound.portal_mail import queue_sign_in
from maildesk.store.db import write_transaction
from maildesk.store.models import Contact, PortalSession, PortalToken
from maildesk.store.repo import primary

LINK = re.compile(r"([1-9][0-9]{0,17})-([A-Za-z0-9_-]{20,64})")
SEEN_EVERY = dt.timedelta(minutes=5)  # how often a session's last_seen_at is written


def hashed(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Refusal(enum.StrEnum):
    """Why a sign-in link does not sign in."""

    UNKNOWN = "unknown"  # no such link (mistyped, another contact's, or never made)
    USED = "used"
    EXPIRED = "expired"


@dataclass(frozen=True)
class LinkState:
    contact_id: int
    refusal: Refusal | None


def request_link(
    db: peewee.Database,
    mailer: Mailer,
    email: str,
    client: str,
    now: dt.datetime,
    minutes: int,
    url_of: UrlOf,
) -> bool:
    """Mail a sign-in link to `email` if it is a contact's; returns whether one was
    queued. The lookup and the transaction happen either way."""
    token = secrets.token_urlsafe(32)
    with write_transaction(db):
        PortalToken.delete().where(
            PortalToken.expires_at <= now - dt.timedelta(days=1)
        ).execute()  # spent links are kept a day, for "this link was used" pages
        contact = Contact.get_or_none(Contact.email == email)
        if contact is None:
            return False
        person = primary(contact)
        link = f"{person.id}-{token}"
        try:
            queue_sign_in(mailer, Address(person.name, contact.email), url_of(link), minutes, now)
        except Unsendable:
            return False
        PortalToken.create(
            token_hash=hashed(token),
            contact=person,
            created_at=now,
            expires_at=now + dt.timedelta(minutes=minutes),
            client=client[:64],
        )
    return True


class UrlOf:
    """The full URL of a sign-in link (`/portal/in/<link>` under [desk] base_url)."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")

    def __call__(self, link: str) -> str:
        return f"{self.base}/portal/in/{link}"


def _token_row(link: str) -> tuple[int, PortalToken | None]:
    match = LINK.fullmatch(link)
    if match is None:
        return 0, None
    contact_id, token = int(match.group(1)), match.group(2)
    row = PortalToken.get_or_none(PortalToken.token_hash == hashed(token))
    if row is None or row.contact_id != contact_id:
        return contact_id, None
    return contact_id, row


def check_link(link: str, now: dt.datetime) -> LinkState:
    """Whether `link` would sign in now (nothing is changed)."""
    contact_id, row = _token_row(link)
    return LinkState(contact_id, _refusal(row, now))


def _refusal(row: PortalToken | None, now: dt.datetime) -> Refusal | None:
    if row is None:
        return Refusal.UNKNOWN
    if row.used_at is not None:
        return Refusal.USED
    if row.expires_at <= now:
        return Refusal.EXPIRED
    return None


def sign_in(
    db: peewee.Database, link: str, now: dt.datetime, hours: int
) -> tuple[str | None, Refusal | None]:
    """Spend `link` and start a session: (the session id for the cookie, None), or
    (None, why not). The link is marked used in the same transaction, and only if it
    was still unused, so two tabs confirming at once sign in once."""
    sid = secrets.token_urlsafe(32)
    with write_transaction(db):
        _, row = _token_row(link)
        refusal = _refusal(row, now)
        if row is None or refusal is not None:
            return None, refusal
        spent = (
            PortalToken.update(used_at=now)
            .where((PortalToken.id == row.id) & PortalToken.used_at.is_null())
            .execute()
        )
        if not spent:
            return None, Refusal.USED
        PortalSession.delete().where(
            PortalSession.expires_at <= now - dt.timedelta(days=1)
        ).execute()
        PortalSession.create(
            sid_hash=hashed(sid),
            contact=row.contact_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(hours=hours),
        )
    return sid, None


def contact_of(db: peewee.Database, sid: str, now: dt.datetime) -> Contact | None:
    """The person (primary row) of a live session, else None; notes the visit."""
    row = PortalSession.get_or_none(
        (PortalSession.sid_hash == hashed(sid))
        & (PortalSession.expires_at > now)
        & PortalSession.revoked_at.is_null()
    )
    if row is None:
        return None
    if now - row.last_seen_at >= SEEN_EVERY:
        with write_transaction(db):
            PortalSession.update(last_seen_at=now).where(PortalSession.id == row.id).execute()
    return primary(Contact.get_by_id(row.contact_id))


def end(db: peewee.Database, sid: str, now: dt.datetime) -> None:
    with write_transaction(db):
        PortalSession.update(revoked_at=now).where(
            (PortalSession.sid_hash == hashed(sid)) & PortalSession.revoked_at.is_null()
        ).execute()


def end_all(db: peewee.Database, contact_id: int, now: dt.datetime) -> int:
    """Revoke every live session of the person; returns how many there were."""
    with write_transaction(db):
        return (
            PortalSession.update(revoked_at=now)
            .where(
                (PortalSession.contact == contact_id)
                & PortalSession.revoked_at.is_null()
                & (PortalSession.expires_at > now)
            )
            .execute()
        )


def person_by_email(email: str) -> Contact | None:
    contact = Contact.get_or_none(Contact.email == email.strip().lower())
    return None if contact is None else primary(contact)


def sessions_of(contact_id: int, now: dt.datetime) -> list[PortalSession]:
    """The person's live sessions, newest first."""
    return list(
        PortalSession.select()
        .where(
            (PortalSession.contact == contact_id)
            & PortalSession.revoked_at.is_null()
            & (PortalSession.expires_at > now)
        )
        .order_by(PortalSession.created_at.desc(), PortalSession.id.desc())
    )
