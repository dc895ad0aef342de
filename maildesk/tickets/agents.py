"""Agents: the people who answer tickets (and admins and managers), kept in the database."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

import peewee
from argon2 import PasswordHasher

from maildesk.core.addresses import plain_address
from maildesk.core.vocabulary import ROLES
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Agent, AgentDesk, ApiToken, WebSession

MIN_PASSWORD = 8
TOKEN_PREFIX = "mdk_"


class AgentError(ValueError):
    """An agent cannot be added or changed as asked."""


def desks_of(agent: Agent, default: str) -> frozenset[str] | None:
    """The desks (slugs) whose tickets the agent sees: None for every desk (an admin).
    An agent or manager without any desk works the default desk; tickets of any other
    desk are not there for them (404, never 403)."""
    return repo.agent_desks([agent], default)[agent.id]


def set_desks(db: peewee.Database, agent: Agent, slugs: Iterable[str]) -> None:
    """The agent works exactly these desks from now on."""
    slugs = sorted(set(slugs))
    with write_transaction(db):
        AgentDesk.delete().where(AgentDesk.agent == agent).execute()
        for slug in slugs:
            AgentDesk.create(agent=agent, desk=slug)


def add_agent(
    db: peewee.Database,
    email: str,
    name: str,
    role: str,
    password: str | None,
    now: dt.datetime,
) -> Agent:
    address = plain_address(email)
    if address is None:
        raise AgentError(f"not an e-mail address: {email.strip()!r}")
    email = address
    if role not in ROLES:
        raise AgentError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    with write_transaction(db):
        if Agent.get_or_none(Agent.email == email) is not None:
            raise AgentError(f"agent {email} already exists")
        return Agent.create(
            email=email,
            name=name.strip(),
            role=role,
            password_hash=hash_password(password) if password else None,
            created_at=now,
        )


def update_agent(
    db: peewee.Database,
    email: str,
    *,
    name: str | None = None,
    role: str | None = None,
    active: bool | None = None,
    away: bool | None = None,
) -> Agent:
    """Change what is given (None: keep it)."""
    if role is not None and role not in ROLES:
        raise AgentError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    with write_transaction(db):
        agent = Agent.get_or_none(Agent.email == email.strip().lower())
        if agent is None:
            raise AgentError(f"no agent {email.strip().lower()}")
        for field, value in (("name", name), ("role", role), ("active", active), ("away", away)):
            if value is not None:
                setattr(agent, field, value.strip() if isinstance(value, str) else value)
        agent.save()
        if active is False:  # an inactive agent keeps no web session
            WebSession.delete().where(WebSession.agent == agent).execute()
        return agent


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AgentError(f"a password needs at least {MIN_PASSWORD} characters")
    return PasswordHasher().hash(password)


def _agent(email: str) -> Agent:
    agent = Agent.get_or_none(Agent.email == email.strip().lower())
    if agent is None:
        raise AgentError(f"no agent {email.strip().lower()}")
    return agent


def set_password(db: peewee.Database, email: str, password: str | None) -> Agent:
    """Set (None: remove) the agent's web sign-in password; their sessions end."""
    hashed = hash_password(password) if password is not None else None
    with write_transaction(db):
        agent = _agent(email)
        agent.password_hash = hashed
        agent.save()
        WebSession.delete().where(WebSession.agent == agent).execute()
        return agent


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: peewee.Database, email: str, name: str, now: dt.datetime) -> str:
    """A new API token for the agent; only its hash is kept, so it is shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(db):
        ApiToken.create(
            agent=_agent(email),
            name=name.strip()[:100],
            token_hash=token_hash(token),
            created_at=now,
        )
    return token


def revoke_token(db: peewee.Database, token_id: int, now: dt.datetime) -> ApiToken:
    with write_transaction(db):
        row = ApiToken.get_or_none(ApiToken.id == token_id)
        if row is None:
            raise AgentError(f"no API token {token_id}")
        if row.revoked_at is None:
            row.revoked_at = now
            row.save()
        return row


def list_tokens(email: str | None = None) -> list[ApiToken]:
    query = ApiToken.select(ApiToken, Agent).join(Agent).order_by(ApiToken.id)
    if email is not None:
        query = query.where(Agent.email == email.strip().lower())
    return list(query)


def agent_for_token(db: peewee.Database, token: str, now: dt.datetime) -> Agent | None:
    """The active agent a live token belongs to (its last use is noted), else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = (
        ApiToken.select(ApiToken, Agent)
        .join(Agent)
        .where((ApiToken.token_hash == token_hash(token)) & ApiToken.revoked_at.is_null())
        .first()
    )
    if row is None or not row.agent.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        with write_transaction(db):
            ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
    return row.agent


def list_agents() -> list[Agent]:
    return list(Agent.select().order_by(Agent.email))
