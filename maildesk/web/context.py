"""What every handler needs: the config, the database threads, the pipeline, the
templates, the limits, and the helpers for sessions, CSRF tokens and pages."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import jinja2
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from maildesk.core.vocabulary import ADMIN_ROLES, KB_ROLES, REPORT_ROLES, ROLES
from maildesk.events.live import Live
from maildesk.pipeline.flow import Pipeline
from maildesk.settings.desks import Desks, Scope
from maildesk.store.executor import DbExecutor
from maildesk.store.models import Agent, Ticket
from maildesk.tickets.agents import scope_of
from maildesk.tickets.desk import Desk, OnDesk
from maildesk.web.limits import FORM_OVERHEAD, BodyBudget, RateLimit

T = TypeVar("T")

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "web"
LOGIN_WINDOW = 15 * 60.0
SUGGEST_PER_MINUTE = 30  # article look-ups as a /submit subject is typed, per client
# Paths without a session: static files, the API (tokens), customer pages (signed links).
# The customer portal (/portal) keeps sessions of its own (`portal_auth`), never agents'.
SESSION_FREE = ("/static/", "/api/", "/t/", "/submit", "/kb", "/healthz", "/portal")


@dataclass
class Web(OnDesk):
    desk: Desk
    pipeline: Pipeline  # the web's own mail (replies, notes, /submit) goes through it
    executor: DbExecutor
    on_mail: Callable[[], None] = lambda: None  # mail was queued: wake the outbox worker
    live: Live | None = (
        None  # live updates (events.live); None: the pages never change by themselves
    )
    environ: Mapping[str, str] = field(default_factory=dict)  # [[webhook]] secret_env
    templates: jinja2.Environment = field(init=False)
    login_limit: RateLimit = field(init=False)
    submit_limit: RateLimit = field(init=False)
    kb_vote_limit: RateLimit = field(init=False)
    portal_address_limit: RateLimit = field(init=False)  # sign-in links per address
    portal_client_limit: RateLimit = field(init=False)  # sign-in links per client
    suggest_limit: RateLimit = field(init=False)
    body_budget: BodyBudget = field(init=False)

    def __post_init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(
            desk=self.config.desk,
            label=self.label,
            example_label=self.desk.desks.default.label(42),
            several_desks=self.desk.desks.several,
            report_roles=REPORT_ROLES,
            admin_roles=ADMIN_ROLES,
            kb_roles=KB_ROLES,
        )
        web = self.config.web
        self.login_limit = RateLimit(web.login_attempts, LOGIN_WINDOW)
        self.submit_limit = RateLimit(web.submit_per_hour, 3600.0)
        self.kb_vote_limit = RateLimit(self.config.kb.votes_per_hour, 3600.0)
        self.portal_address_limit = RateLimit(web.portal_links_per_hour, 3600.0)
        self.portal_client_limit = RateLimit(web.portal_requests_per_hour, 3600.0)
        self.suggest_limit = RateLimit(SUGGEST_PER_MINUTE, 60.0)
        # One request of the largest kind (files and their form) always fits.
        largest = web.max_upload_size + FORM_OVERHEAD
        self.body_budget = BodyBudget(max(web.max_body_memory, largest))

    # -- database work, off the loop ---------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` in the web's database threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    # -- small shared helpers ----------------------------------------------------------

    @property
    def secret(self) -> bytes:
        return self.desk.secret

    @property
    def desks(self) -> Desks:
        return self.desk.desks

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Every desk's ticket prefix."""
        return self.desk.desks.prefixes

    def label(self, ticket: Ticket) -> str:
        """`SUP-00042`: the ticket's number with its desk's prefix."""
        return self.desk.label(ticket)

    def scope_of(self, agent: Agent) -> Scope | None:
        """The tickets `agent` sees: of their desks, in their categories; None for
        every ticket (an admin; an agent of every desk and category): nothing to
        filter on. Any other ticket is not there for them (404, never 403). In the
        web's database threads."""
        return scope_of(agent, self.desks)

    def sees(self, agent: Agent, ticket: Ticket) -> bool:
        """Whether `agent` may see `ticket` (in the web's database threads)."""
        scope = self.scope_of(agent)
        return scope is None or scope.covers(ticket.desk, ticket.category)

    async def ticket_number(self, label: str) -> int:
        """The number of the ticket a `SUP-00042` path segment names, else 404."""
        number = await self.call(self.desk.labels.find, label)
        if number is None:
            raise HTTPException(404, "no such ticket")
        return number

    @property
    def secure_cookies(self) -> bool:
        setting = self.config.web.secure_cookies
        if setting == "auto":
            return self.config.desk.base_url.lower().startswith("https://")
        return setting == "yes"

    def client(self, request: Request) -> str:
        """The client's address: the peer, or what a trusted proxy forwarded."""
        peer = request.client.host if request.client else "unknown"
        if peer in self.config.web.trusted_proxies:
            forwarded = request.headers.get("x-forwarded-for", "")
            hops = [h.strip() for h in forwarded.split(",") if h.strip()]
            while hops and hops[-1] in self.config.web.trusted_proxies:
                hops.pop()
            if hops:
                return hops[-1]
        return peer

    # -- pages ---------------------------------------------------------------------------

    def page(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """Render templates/web/`name` with the signed-in agent (if any) and a CSRF token."""
        context.setdefault("agent", request.scope.get("agent"))
        if "csrf" not in context:  # customer pages pass their own, and have no session
            context["csrf"] = csrf_token(request) if _has_session(request) else ""
        context.setdefault("request", request)
        context.setdefault("active", "")
        html = self.templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status_code)

    def customer_csrf(self, token: str) -> str:
        """The CSRF token of a customer page: bound to its (secret) link."""
        return hmac.new(self.secret, f"csrf:{token}".encode(), hashlib.sha256).hexdigest()[:32]


def web_of(request: Request) -> Web:
    """The `Web` the application was built with (`app.create_app` keeps it in the app's
    state), for handlers, which are plain functions of the request."""
    web = request.app.state.web
    assert isinstance(web, Web)
    return web


# -- sessions and CSRF -------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    session = request.session
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


async def checked_form(request: Request, expected: str | None = None) -> FormData:
    """The posted form, after its CSRF token was checked (403 if missing or wrong).
    `expected`: the token to compare with (default: the session's)."""
    form = await request.form()
    given = form.get("csrf")
    want = expected if expected is not None else request.session.get("csrf")
    if not isinstance(given, str) or not isinstance(want, str) or not want:
        raise HTTPException(403, "missing form token: reload the page and try again")
    if not hmac.compare_digest(given.encode(), want.encode()):
        raise HTTPException(403, "stale form token: reload the page and try again")
    return form


def text_field(form: FormData, name: str) -> str:
    """A form field's text ("" when missing or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _has_session(request: Request) -> bool:
    """Pages for agents keep a session; customer pages and the API never do."""
    return "session" in request.scope and not request.url.path.startswith(SESSION_FREE)


def password_mark(agent: Agent) -> str:
    """Changes when the password does: a session made before a change is void."""
    return hashlib.sha256((agent.password_hash or "").encode()).hexdigest()[:16]


def signed_in(request: Request) -> Agent | None:
    agent = request.scope.get("agent")
    return agent if isinstance(agent, Agent) else None


def require(request: Request, roles: tuple[str, ...] = ROLES) -> Agent:
    """The signed-in agent, if their role is among `roles`; else a redirect to sign in
    (no session) or 403 (the wrong role)."""
    agent = signed_in(request)
    if agent is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, headers={"Location": f"/login?next={_quote(target)}"})
    if agent.role not in roles:
        raise HTTPException(403, "your role may not see this page")
    return agent


def _quote(value: str) -> str:
    return quote(value, safe="/")


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def find_ticket(number: int) -> Ticket | None:
    return Ticket.get_or_none(Ticket.number == number)
