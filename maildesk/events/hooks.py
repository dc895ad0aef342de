"""The webhook endpoints in the database: those of maildesk.toml kept in step, those an
admin adds and removes, and what their deliveries look like.

Every endpoint is a row of `webhook`, so its deliveries (`webhook_delivery`) name it
across restarts: a [[webhook]] is the row with key "config:" + its name (or URL),
updated at each start from the file and switched off when it leaves the file (its
undelivered events are then failed, not sent to an address nobody configured any
more). An admin's endpoint gets a secret maildesk generates, shown once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import peewee

from maildesk.config import WebhookConfig
from maildesk.events.signing import SecretError, new_secret, secret_bytes
from maildesk.events.targets import Targets, refusal
from maildesk.settings import checks
from maildesk.store.db import read_snapshot, write_transaction
from maildesk.store.models import Webhook, WebhookDelivery
from maildesk.store.scope import using

CONFIG = "config"
ADMIN = "admin"
REMOVED = "the endpoint was removed"


class HookError(Exception):
    """A webhook that cannot be added, removed or signed for: one line."""


class Refused(HookError):
    """A new endpoint the desk refuses: each problem a line."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Endpoint:
    """An active endpoint, as the cursor and the sender read it."""

    id: int
    name: str
    url: str
    events: tuple[str, ...]
    desk: str | None
    internal: bool
    secret_env: str
    secret: str | None

    def key(self, environ: Mapping[str, str]) -> bytes:
        """The signing key (raises HookError when the secret is missing or malformed)."""
        if self.secret:
            text, where = self.secret, "its stored secret"
        else:
            text, where = environ.get(self.secret_env, ""), f"${self.secret_env}"
            if not text.strip():
                raise HookError(f"webhook {self.name}: {where} is unset or empty")
        try:
            return secret_bytes(text)
        except SecretError as exc:
            raise HookError(f"webhook {self.name}: {where} {exc}") from None


def config_key(hook: WebhookConfig) -> str:
    return f"{CONFIG}:{hook.name or hook.url}"


def endpoint_of(row: Webhook) -> Endpoint:
    name = row.key.split(":", 1)[1] if row.origin == CONFIG else f"#{row.id}"
    return Endpoint(
        row.id,
        name,
        row.url,
        tuple(row.events),
        row.desk,
        row.internal,
        row.secret_env,
        row.secret,
    )


def check_secrets(
    hooks: Sequence[WebhookConfig], environ: Mapping[str, str]
) -> list[tuple[str, str]]:
    """What is wrong with the [[webhook]] secrets in this environment: (key, problem)."""
    problems = []
    for index, hook in enumerate(hooks):
        try:
            Endpoint(
                0, hook.name or hook.url, hook.url, (), None, False, hook.secret_env, None
            ).key(environ)
        except HookError as exc:
            problems.append((f"webhook[{index}].secret_env", str(exc)))
    return problems


def sync_config(db: peewee.Database, hooks: Sequence[WebhookConfig], now: dt.datetime) -> int:
    """Make the config endpoints' rows what maildesk.toml says; returns how many were
    switched off because they left the file."""
    with write_transaction(db):
        wanted = {config_key(hook): hook for hook in hooks}
        for key, hook in wanted.items():
            values = {
                "url": hook.url,
                "events": list(hook.events),
                "desk": hook.desk or None,
                "internal": hook.internal,
                "secret_env": hook.secret_env,
                "secret": None,
                "active": True,
            }
            if not Webhook.update(**values).where(Webhook.key == key).execute():
                Webhook.create(
                    key=key, origin=CONFIG, created_at=now, created_by="config", **values
                )
        gone = [
            row.id
            for row in Webhook.select(Webhook.id).where(
                (Webhook.origin == CONFIG) & Webhook.active & Webhook.key.not_in(list(wanted))
            )
        ]
        if gone:
            Webhook.update(active=False).where(Webhook.id.in_(gone)).execute()
            _fail_pending(gone, now)
    return len(gone)


def _fail_pending(ids: list[int], now: dt.datetime) -> None:
    WebhookDelivery.update(state="failed", last_error=REMOVED, lease_until=None).where(
        WebhookDelivery.webhook.in_(ids) & (WebhookDelivery.state == "pending")
    ).execute()


def active(db: peewee.Database) -> list[Endpoint]:
    with using(db):
        rows = Webhook.select().where(Webhook.active).order_by(Webhook.id)
        return [endpoint_of(row) for row in rows]


def add(
    db: peewee.Database,
    url: str,
    events: Sequence[str],
    desk: str | None,
    internal: bool,
    by: str,
    now: dt.datetime,
) -> tuple[Endpoint, str]:
    """A new admin endpoint and its secret (shown once; kept to sign with)."""
    secret = new_secret()
    with write_transaction(db):
        row = Webhook.create(
            key=f"{ADMIN}:{uuid.uuid4().hex}",
            origin=ADMIN,
            url=url,
            events=list(events),
            desk=desk or None,
            internal=internal,
            secret=secret,
            created_at=now,
            created_by=by,
        )
    return endpoint_of(row), secret


def problems(
    url: str, events: Sequence[str], desk: str | None, desks: Sequence[str], targets: Targets
) -> list[str]:
    """What is wrong with a new endpoint (nothing: an empty list), for the admin page
    and the API: the URL's form, its addresses (resolved now, `targets.refusal`), the
    event names and the desk."""
    found = []
    try:
        checks.webhook_url(url)
    except ValueError as exc:
        found.append(f"url: {exc}")
    else:
        refused = refusal(url, targets)
        if refused:
            found.append(f"url: {refused}")
    try:
        checks.webhook_events(tuple(events))
    except ValueError as exc:
        found.append(f"events: {exc}")
    if desk and desk not in desks:
        found.append(f"desk: no desk {desk[:40]!r} (desks: {', '.join(desks)})")
    return found


def add_checked(
    db: peewee.Database,
    url: str,
    events: Sequence[str],
    desk: str | None,
    internal: bool,
    by: str,
    now: dt.datetime,
    desks: Sequence[str],
    targets: Targets,
) -> tuple[Endpoint, str]:
    """`add`, once `problems` finds none (else Refused)."""
    found = problems(url, events, desk, desks, targets)
    if found:
        raise Refused(found)
    return add(db, url, tuple(dict.fromkeys(events)), desk, internal, by, now)


def find(db: peewee.Database, ident: str) -> Webhook:
    """An endpoint by its id (#3 or 3) or, for a config one, its name or URL."""
    with using(db):
        text = ident.removeprefix("#")
        row = None
        if text.isdigit():
            row = Webhook.get_or_none(Webhook.id == int(text))
        if row is None:
            row = Webhook.get_or_none(Webhook.key == f"{CONFIG}:{ident}")
        if row is None or not row.active:
            raise HookError(f"no webhook {ident}")
        return row


def remove(db: peewee.Database, ident: str, now: dt.datetime) -> Webhook:
    """Switch an admin endpoint off (its undelivered events fail); config ones live in
    maildesk.toml and leave with it."""
    row = find(db, ident)
    if row.origin == CONFIG:
        raise HookError(f"webhook {ident} is set in maildesk.toml ([[webhook]]); remove it there")
    with write_transaction(db):
        Webhook.update(active=False).where(Webhook.id == row.id).execute()
        _fail_pending([row.id], now)
    return row


def listing(db: peewee.Database) -> list[dict[str, Any]]:
    """The active endpoints with their deliveries counted by state (JSON-ready)."""
    with read_snapshot(db):
        counts: dict[tuple[int, str], int] = {}
        query = WebhookDelivery.select(
            WebhookDelivery.webhook, WebhookDelivery.state, peewee.fn.COUNT(WebhookDelivery.id)
        ).group_by(WebhookDelivery.webhook, WebhookDelivery.state)
        for hook_id, state, count in query.tuples().iterator():  # type: ignore[misc]
            counts[int(hook_id), str(state)] = int(count)
        result = []
        for row in Webhook.select().where(Webhook.active).order_by(Webhook.id):
            endpoint = endpoint_of(row)
            result.append(
                {
                    "id": row.id,
                    "name": endpoint.name,
                    "origin": row.origin,
                    "url": row.url,
                    "events": list(row.events),
                    "desk": row.desk,
                    "internal": row.internal,
                    "secret_env": row.secret_env or None,
                    "created_at": row.created_at.isoformat(),
                    "created_by": row.created_by,
                    "deliveries": {
                        state: counts.get((row.id, state), 0)
                        for state in ("pending", "delivered", "failed")
                    },
                }
            )
        return result
