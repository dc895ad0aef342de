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


def hash_password(password: str) -> str:
    return PasswordHasher().hash(password)


def list_agents() -> list[Agent]:
    return list(Agent.select().order_by(Agent.email))
