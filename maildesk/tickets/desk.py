"""The desk: the services every part of maildesk shares, built once per process, for
every configured desk (`settings.desks`: each one's identity, templates and policies
are looked up by the ticket's desk).

Where it sits: the composition roots (`daemon.app` for `maildesk run`,
`pipeline.ingest.open_runtime` for the other commands) build one `Desk` from the
`Config` and the database, and hand it to the pipeline, the jobs, the web view
and the CLI; nobody builds these services a second time or reaches through
another part for them.

    config -> desks, custom fields (of tickets, contacts, organizations)
           -> templates per desk (overrides checked) -> mailer (compose into the outbox)
           -> policies (SLA, routing)       -> SLA clock, automation, escalation
    database -> secret key (signs links and reply addresses), read once, lazily
             -> the articles by word, for suggestions (`knowledge.index`), kept current

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
from maildesk.knowledge.index import ArticleIndex
from maildesk.outbound.compose import Mailer
from maildesk.outbound.render import Renderer, TemplateError
from maildesk.settings.desks import DeskProfile, Desks
from maildesk.settings.fields import Fields
from maildesk.store import repo
from maildesk.store.models import Ticket
from maildesk.tickets.automation import Automation
from maildesk.tickets.changes import TicketChanges
from maildesk.tickets.escalation import Escalation
from maildesk.tickets.labels import Labels
from maildesk.tickets.policies import Policies, build_policies
from maildesk.tickets.sla_clock import SlaTracker


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Desk:
    """The services of the configured desks, on one database."""

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
        self.desks = Desks.from_config(config)
        self.fields = Fields.from_config(config)  # the tickets'
        self.contact_fields = Fields.from_config(config, "contact")
        self.organization_fields = Fields.from_config(config, "organization")
        self.labels = Labels(self.desks, per_desk=config.tickets.numbering == "desk")
        self.our_addresses = self.desks.our_addresses
        self.renderers = (
            load_renderers(self.desks)
            if renderer is None
            else {desk.slug: renderer for desk in self.desks.all}
        )
        self.renderer = self.renderers[self.desks.default.slug]
        self.policies: Policies = build_policies(config)
        self.sla = SlaTracker(self.policies)
        self.automation = Automation(db, self.policies)
        self.mailer = Mailer(config, self.desks, self.renderers, lambda: self.secret)
        self.escalation = Escalation(db, config, self.mailer, self.sla, self.labels)
        self.articles = ArticleIndex()

    @property
    def category_names(self) -> tuple[str, ...]:
        """The configured categories' names (`[[category]]`), each once: what an agent
        may be limited to."""
        return tuple(dict.fromkeys(entry.name.strip() for entry in self.config.category))

    def desk_of(self, ticket: Ticket) -> DeskProfile:
        return self.desks.get(ticket.desk)

    def label(self, ticket: Ticket) -> str:
        """`SUP-00042`: the number the ticket shows, with its desk's prefix."""
        return self.labels.of(ticket)

    def changes(
        self, now: dt.datetime, log: Callable[..., None], with_sla: bool = True
    ) -> TicketChanges:
        """`TicketChanges` on this desk's database, SLA clocks, custom fields and desks
        (whose agents `#assign` may name)."""
        return TicketChanges(
            self.db,
            self.labels,
            now,
            log,
            self.sla if with_sla else None,
            self.fields,
            self.desks,
            self.policies,
            self.config.sla.timezone,
        )

    def label_of(self, number: int) -> str:
        """The label of the ticket of this number (its desk looked up)."""
        return self.labels.of_number(number)

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


def load_renderers(desks: Desks) -> dict[str, Renderer]:
    """Each desk's templates, by slug (desks with the same folder share one renderer)."""
    by_folder: dict[str, Renderer] = {}
    renderers = {}
    for index, desk in enumerate(desks.all):
        if desk.templates not in by_folder:
            key = "outbound.templates" if not desks.several else f"desks[{index}].templates"
            by_folder[desk.templates] = load_renderer(desk.templates, key)
        renderers[desk.slug] = by_folder[desk.templates]
    return renderers


def load_renderer(folder: str, key: str = "outbound.templates") -> Renderer:
    """The templates; with the admin's overrides (`folder`; empty: none), every one of
    them rendered once with sample values, so a broken override stops the start
    (ConfigError) instead of failing on real mail later. The built-ins alone are not
    checked again: the tests check them, and rendering them all cost every command
    (`maildesk ingest` of one message) about 0.16 s of CPU."""
    path = Path(folder) if folder else None
    try:
        renderer = Renderer(path)
        if path is not None:
            renderer.check()
    except TemplateError as exc:
        raise ConfigError(key, str(exc)) from exc
    return renderer
