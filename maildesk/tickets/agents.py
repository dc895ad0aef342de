"""Agents: the people who answer tickets (and admins and managers), kept in the database.

What an agent sees is their `Scope`: the tickets of the desks they work (none given:
the default desk) in the categories they are limited to (none given: every
category). Admins see every ticket. Everything that reads tickets for an agent (the
web view, the API, the reports, the notifications) asks `scope_of` here (several
agents at once: `store.repo.agent_scopes`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import peewee
from argon2 import PasswordHasher

from maildesk.core.addresses import plain_address
from maildesk.core.vocabulary import ROLES
from maildesk.settings.desks import Desks, Scope
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Agent, AgentCategory, AgentDesk, ApiToken, WebSession

MIN_PASSWORD = 8
TOKEN_PREFIX = "mdk_"


class AgentError(ValueError):
    """An agent cannot be added or changed as asked."""


def scope_of(agent: Agent, desks: Desks) -> Scope | None:
    """What `agent` sees (`store.repo.agent_scopes`); another ticket is not there for
    them (404)."""
    return repo.agent_scopes([agent], desks)[agent.id]


def colleagues(viewer: Agent, candidates: Iterable[Agent], default: str) -> list[Agent]:
    """Those of `candidates` who share a desk with `viewer`: all of them for an admin;
    an admin shares every desk."""
    candidates = list(candidates)
    works = repo.agent_desks([viewer, *candidates], default)
    mine = works[viewer.id]
    if mine is None:
        return candidates
    return [a for a in candidates if (theirs := works[a.id]) is None or theirs & mine]


def set_desks(db: peewee.Database, agent: Agent, slugs: Iterable[str]) -> None:
    """The agent works exactly these desks from now on."""
    slugs = sorted(set(slugs))
    with write_transaction(db):
        AgentDesk.delete().where(AgentDesk.agent == agent).execute()
        for slug in slugs:
            AgentDesk.create(agent=agent, desk=slug)


def check_desks(slugs: Iterable[str], desks: Desks) -> list[str]:
    """`slugs` if each is a configured desk's, else AgentError naming the first other."""
    slugs = list(slugs)
    for slug in slugs:
        if not desks.known(slug):
            raise AgentError(f"no desk {slug[:40]!r} (desks: {', '.join(desks.slugs)})")
    return slugs


def category_names(names: Iterable[str], known: Iterable[str]) -> list[str]:
    """`names` as configured (`known`: the `[[category]]` names), in any case and
    spacing, sorted; AgentError naming the first that is not configured."""
    by_key: dict[str, str] = {}
    for name in known:
        by_key.setdefault(name.lower(), name)
    chosen: set[str] = set()
    for name in names:
        found = by_key.get(" ".join(name.split()).lower())
        if found is None:
            listed = ", ".join(sorted(set(by_key.values()), key=str.lower)) or "none configured"
            raise AgentError(f"no category {name.strip()[:60]!r} (categories: {listed})")
        chosen.add(found)
    return sorted(chosen, key=str.lower)


def set_categories(
    db: peewee.Database, agent: Agent, names: Iterable[str], known: Iterable[str]
) -> list[str]:
    """The agent sees the tickets of these categories only from now on (none: every
    category); each one of `known`, the configured categories. The names stored, as
    configured. Admins see every category: limiting one is refused."""
    chosen = category_names(names, known)
    with write_transaction(db):
        if chosen and agent.role == "admin":
            raise AgentError(f"{agent.email} is an admin, who sees every category")
        AgentCategory.delete().where(AgentCategory.agent == agent).execute()
        for name in chosen:
            AgentCategory.create(agent=agent, category=name)
    return chosen


def _check_admin_left(agent: Agent, role: str | None, active: bool | None) -> None:
    """AgentError when demoting or deactivating `agent` would leave no active admin:
    nobody could manage the agents from the web or the API any more."""
    if agent.role != "admin" or not ((role is not None and role != "admin") or active is False):
        return
    others = (
        Agent.select()
        .where((Agent.role == "admin") & Agent.active & (Agent.id != agent.id))
        .count()
    )
    if others == 0:
        raise AgentError("the desk needs at least one active admin")


def describe(agents: Sequence[Agent], default: str) -> list[dict[str, Any]]:
    """The agents as JSON: `desks` the slugs they work (None: every desk, an admin),
    `categories` those they are limited to (None: every category)."""
    works = repo.agent_desks(agents, default)
    limits = repo.agent_categories(agents)
    return [
        {
            "email": a.email,
            "name": a.name,
            "role": a.role,
            "active": a.active,
            "away": a.away,
            "desks": None if (desks := works[a.id]) is None else sorted(desks),
            "categories": None if (names := limits[a.id]) is None else sorted(names, key=str.lower),
        }
        for a in agents
    ]


def add_agent(
    db: peewee.Database,
    email: str,
    name: str,
    role: str,
    password: str | None,
    now: dt.datetime,
    *,
    desks: Sequence[str] = (),
    categories: Sequence[str] = (),
    known_categories: Iterable[str] = (),
) -> Agent:
    """A new agent working `desks` (none: the default desk), limited to `categories`
    (none: every category; each one of `known_categories`): all of it, or nothing.
    The caller has checked the desks' slugs (`check_desks`)."""
    address = plain_address(email)
    if address is None:
        raise AgentError(f"not an e-mail address: {email.strip()!r}")
    email = address
    if not name.strip():
        raise AgentError("an agent needs a name")
    if role not in ROLES:
        raise AgentError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    with write_transaction(db):
        if Agent.get_or_none(Agent.email == email) is not None:
            raise AgentError(f"agent {email} already exists")
        agent = Agent.create(
            email=email,
            name=name.strip(),
            role=role,
            password_hash=hash_password(password) if password else None,
            created_at=now,
        )
        if desks:
            set_desks(db, agent, desks)
        if categories:
            set_categories(db, agent, categories, known_categories)
        return agent


def update_agent(
    db: peewee.Database,
    email: str,
    *,
    name: str | None = None,
    role: str | None = None,
    active: bool | None = None,
    away: bool | None = None,
    desks: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    known_categories: Iterable[str] = (),
    keep_an_admin: bool = False,
) -> Agent:
    """Change what is given (None: keep it), all of it or nothing: `desks` replaces the
    desks the agent works (at least one; slugs checked by the caller), `categories`
    those they are limited to (empty: every category). `keep_an_admin`: refuse to
    demote or deactivate the last active admin (the web and the API, where nobody could
    undo it; the command line can)."""
    if role is not None and role not in ROLES:
        raise AgentError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if name is not None and not name.strip():
        raise AgentError("an agent needs a name")
    if desks is not None and not desks:
        raise AgentError("an agent works at least one desk")
    with write_transaction(db):
        agent = _agent(email)
        if keep_an_admin:
            _check_admin_left(agent, role, active)
        for field, value in (("name", name), ("role", role), ("active", active), ("away", away)):
            if value is not None:
                setattr(agent, field, value.strip() if isinstance(value, str) else value)
        agent.save()
        if active is False:  # an inactive agent keeps no web session
            WebSession.delete().where(WebSession.agent == agent).execute()
        if desks is not None:
            set_desks(db, agent, desks)
        if categories is not None:
            set_categories(db, agent, categories, known_categories)
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
