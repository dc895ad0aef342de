"""Agents: the people who answer tickets (and admins and managers), kept in the database."""

from __future__ import annotations

import datetime as dt

import peewee
from argon2 import PasswordHasher

from maildesk.store.db import write_transaction
from maildesk.store.models import Agent

ROLES = ("agent", "admin", "manager")


class AgentError(ValueError):
    """An agent cannot be added or changed as asked."""


def add_agent(
    db: peewee.Database,
    email: str,
    name: str,
    role: str,
    password: str | None,
    now: dt.datetime,
) -> Agent:
    email = email.strip().lower()
    if "@" not in email or any(c.isspace() for c in email):
        raise AgentError(f"not an e-mail address: {email!r}")
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
        return agent


def hash_password(password: str) -> str:
    return PasswordHasher().hash(password)


def list_agents() -> list[Agent]:
    return list(Agent.select().order_by(Agent.email))
