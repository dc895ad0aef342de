"""The desk: the services every part of maildesk shares, built once per process.

Where it sits: the composition roots (`daemon.app` for `maildesk run`,
`pipeline.ingest.open_runtime` for the other commands) build one `Desk` from the
`Config` and the database, and hand it to the pipeline, the jobs, the web view
and the CLI; nobody builds these services a second time or reaches through
another part for them.

    config -> templates (overrides checked) -> mailer (compose mail into the outbox)
           -> policies (SLA, routing)       -> SLA clock, automation, escalation
    database -> secret key (signs links and reply addresses), read once, lazily

A bad override template or rule is a `ConfigError` here, at start-up, never on
real mail (`maildesk check-config` renders the built-in templates too).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path

import peewee

from maildesk.config import Config, ConfigError
from maildesk.outbound.compose import Mailer
from maildesk.outbound.render import Renderer, TemplateError
from maildesk.store import repo
from maildesk.tickets.automation import Automation
from maildesk.tickets.escalation import Escalation
from maildesk.tickets.policies import Policies, build_policies
from maildesk.tickets.sla_clock import SlaTracker


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Desk:
    """The configured desk's services, on one database."""

    def __init__(
        self,
        db: peewee.Database,
        config: Config,
        clock: Callable[[], dt.datetime] = utcnow,
        renderer: Renderer | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.prefix = config.desk.ticket_prefix
        self.our_addresses = frozenset(a.lower() for a in config.desk.addresses)
        self.renderer = load_renderer(config) if renderer is None else renderer
        self.policies: Policies = build_policies(config)
        self.sla = SlaTracker(self.policies)
        self.automation = Automation(db, self.policies)
        self.mailer = Mailer(config, self.renderer, lambda: self.secret)
        self.escalation = Escalation(db, config, self.mailer, self.sla)

    @functools.cached_property
    def secret(self) -> bytes:
        """The key that signs status links and reply addresses: `[desk] secret_key`,
        else the one maildesk generated and keeps in the database (read on first use,
        after the schema is migrated)."""
        configured = self.config.desk.secret_key
        return configured.encode() if configured else repo.stored_secret_key(self.db)


class OnDesk:
    """For what works on one desk (a command's runtime, the web view): the desk's
    config, database and clock at hand."""

    desk: Desk

    @property
    def config(self) -> Config:
        return self.desk.config

    @property
    def db(self) -> peewee.Database:
        return self.desk.db

    @property
    def clock(self) -> Callable[[], dt.datetime]:
        return self.desk.clock


def load_renderer(config: Config) -> Renderer:
    """The templates; with the admin's overrides, every one of them rendered once with
    sample values, so a broken override stops the start (ConfigError) instead of
    failing on real mail later. The built-ins alone are not checked again: the tests
    check them, and rendering them all cost every command (`maildesk ingest` of one
    message) about 0.16 s of CPU."""
    folder = template_dir(config)
    try:
        renderer = Renderer(folder)
        if folder is not None:
            renderer.check()
    except TemplateError as exc:
        raise ConfigError("outbound.templates", str(exc)) from exc
    return renderer


def template_dir(config: Config) -> Path | None:
    """The admin's own templates (`[outbound] templates`; the config made a relative
    folder from the file relative to the file's folder)."""
    folder = config.outbound.templates
    return Path(folder) if folder else None
