"""Sign-ins kept on the server (`WebSession` rows), so signing out really ends them.

The session cookie (signed by Starlette's SessionMiddleware) carries a random
session id; only its SHA-256 is stored. `SignedInAgent` accepts a cookie only while
its row lives: signing out deletes the row, "sign out everywhere" (the agent's own
menu, or an admin on /admin/agents) deletes all of an agent's rows, and so do a
password change and deactivation (`maildesk.tickets.agents`). A copied cookie is then as
good as none.

These functions run in the web's database threads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import peewee

from maildesk.store.db import write_transaction
from maildesk.store.models import Agent, WebSession


def sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def start(db: peewee.Database, agent: Agent, now: dt.datetime, hours: int) -> str:
    """A new session of `agent`; returns its id (for the cookie only, never stored).
    Expired rows are swept here, so the table holds about the live sessions."""
    sid = secrets.token_urlsafe(32)
    with write_transaction(db):
        WebSession.delete().where(WebSession.expires_at <= now).execute()
        WebSession.create(
            agent=agent,
            sid_hash=sid_hash(sid),
            created_at=now,
            expires_at=now + dt.timedelta(hours=hours),
        )
    return sid


def agent_of(sid: str, now: dt.datetime) -> Agent | None:
    """The agent of a live session, else None."""
    row = (
        WebSession.select(WebSession, Agent)
        .join(Agent)
        .where((WebSession.sid_hash == sid_hash(sid)) & (WebSession.expires_at > now))
        .first()
    )
    return None if row is None else row.agent


def end(db: peewee.Database, sid: str) -> None:
    with write_transaction(db):
        WebSession.delete().where(WebSession.sid_hash == sid_hash(sid)).execute()


def end_all(db: peewee.Database, agent_id: int) -> int:
    """End every session of the agent; returns how many there were."""
    with write_transaction(db):
        return WebSession.delete().where(WebSession.agent == agent_id).execute()
