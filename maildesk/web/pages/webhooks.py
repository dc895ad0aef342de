"""The webhooks page (admins, /admin/webhooks): the endpoints with their deliveries
counted, adding one (its secret shown on the answer, once), removing one, a signed
test event sent now; and /admin/webhooks/deliveries, the recent deliveries with a
retry for the failed ones -- the same as `maildesk webhooks list`, `add`, `remove`,
`test`, `deliveries` and `retry`.

The work is `events.hooks` and `events.deliveries`, in the web's database threads. A
new endpoint's URL is checked as the CLI checks it (`hooks.problems`): a private or
loopback address is refused unless `[webhooks] allowed_networks` lists its network,
so this page cannot be used to reach what only maildesk can reach. Endpoints of
maildesk.toml are listed, and tested, but removed only from the file. The secret is
never put in the session, a URL or the log.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.core.event_names import ALL, EVENTS
from maildesk.core.vocabulary import ADMIN_ROLES
from maildesk.events import deliveries, hooks, worker
from maildesk.events.deliveries import Outcome
from maildesk.events.targets import Targets
from maildesk.store.models import Agent
from maildesk.web.context import Web, checked_form, redirect, require, text_field, web_of

PAGE = "/admin/webhooks"
DELIVERIES = f"{PAGE}/deliveries"
SHOWN = 200  # the newest deliveries listed; the CLI takes --limit
MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL: anything larger is no row


def _flash(request: Request) -> str:
    notice = request.session.pop("flash", "")
    return notice if isinstance(notice, str) else ""


def _row_id(form: FormData) -> int:
    text = text_field(form, "id")
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise HTTPException(400, "give a webhook or delivery id")
    return int(text)


async def _admin(request: Request) -> tuple[Agent, Web, FormData]:
    """The admin, the `Web` and the posted form, after the role and CSRF checks."""
    admin = require(request, ADMIN_ROLES)
    return admin, web_of(request), await checked_form(request)


async def show(request: Request, status: int = 200, **shown: Any) -> Response:
    """The endpoints and the form to add one; `shown`: what a POST answers with on the
    page itself (a problem and what was typed, a new secret, a test's answer)."""
    require(request, ADMIN_ROLES)
    web = web_of(request)
    listed = await web.call(hooks.listing, web.db)
    return web.page(
        request,
        "admin_webhooks.html",
        status_code=status,
        active="webhooks",
        hooks=listed,
        events=EVENTS,
        all_events=ALL,
        desk_choices=[(d.slug, d.name) for d in web.desks.all] if web.desks.several else [],
        allowed=web.config.webhooks.allowed_networks,
        notice=_flash(request),
        **{"error": "", "typed": None, "secret": "", "added": None, "tested": None, **shown},
    )


async def page(request: Request) -> Response:
    return await show(request)


async def add(request: Request) -> Response:
    admin, web, form = await _admin(request)
    url = text_field(form, "url").strip()
    events = [v for v in form.getlist("event") if isinstance(v, str)]
    desk = text_field(form, "desk") or None
    internal = text_field(form, "internal") == "yes"
    typed = {"url": url, "events": events, "desk": desk or "", "internal": internal}
    try:
        endpoint, secret = await web.call(
            hooks.add_checked, web.db, url, events, desk, internal, admin.email, web.clock(),
            web.desks.slugs, Targets.of(web.config.webhooks.allowed_networks),
        )  # fmt: skip
    except hooks.Refused as exc:
        return await show(request, 422, error=str(exc), typed=typed)
    return await show(request, added=endpoint, secret=secret)  # shown once, never again


async def remove(request: Request) -> Response:
    _, web, form = await _admin(request)
    ident = str(_row_id(form))
    try:
        await web.call(hooks.find, web.db, ident)
    except hooks.HookError as exc:
        raise HTTPException(404, str(exc)) from None
    try:
        gone = await web.call(hooks.remove, web.db, ident, web.clock())
    except hooks.HookError as exc:  # one of maildesk.toml
        raise HTTPException(409, str(exc)) from None
    request.session["flash"] = (
        f"Removed webhook #{gone.id} ({gone.url}); its undelivered events failed."
    )
    return redirect(PAGE)


async def test(request: Request) -> Response:
    """POST a signed webhook.test to the endpoint now, and show its answer."""
    _, web, form = await _admin(request)
    try:
        row = await web.call(hooks.find, web.db, str(_row_id(form)))
    except hooks.HookError as exc:
        raise HTTPException(404, str(exc)) from None
    endpoint = hooks.endpoint_of(row)
    try:
        key = endpoint.key(web.environ)
    except hooks.HookError as exc:
        return await show(request, 422, error=str(exc))
    answer = await worker.test(endpoint, key, web.config.webhooks, web.clock())
    tested = {
        "url": endpoint.url,
        "ok": answer.outcome is Outcome.DELIVERED,
        "detail": answer.detail,
    }
    return await show(request, tested=tested)


# -- deliveries ----------------------------------------------------------------------------


async def delivery_page(request: Request) -> Response:
    require(request, ADMIN_ROLES)
    web = web_of(request)
    params = request.query_params
    state = params.get("state") or None
    if state is not None and state not in deliveries.STATES:
        raise HTTPException(400, f"state: one of {', '.join(deliveries.STATES)}")
    chosen = params.get("webhook") or ""
    if chosen and not (chosen.isascii() and chosen.isdigit() and int(chosen) <= MAX_ID):
        raise HTTPException(400, "webhook: an endpoint's id")
    webhook = int(chosen) if chosen else None
    found = await web.call(deliveries.listing, web.db, web.desks, state, webhook, SHOWN)
    listed = await web.call(hooks.listing, web.db)
    return web.page(
        request,
        "admin_webhook_deliveries.html",
        active="webhooks",
        deliveries=found,
        hooks=listed,
        states=deliveries.STATES,
        state=state or "",
        webhook=webhook,
        shown=SHOWN,
        notice=_flash(request),
    )


async def retry(request: Request) -> Response:
    """Send failed deliveries again: one (`id`) or every failed one (`id=all`)."""
    _, web, form = await _admin(request)
    every = text_field(form, "id") == "all"
    ids = [] if every else [_row_id(form)]
    count = await web.call(deliveries.retry, web.db, ids, web.clock(), all_failed=every)
    if not every and not count:
        raise HTTPException(404, f"no failed delivery {ids[0]} (of an endpoint still there)")
    web.on_mail()  # the daemon's webhook worker sends them now
    request.session["flash"] = f"{count} deliveries queued again (the same webhook-id each)."
    return redirect(DELIVERIES)


routes = [
    Route(PAGE, page, methods=["GET"]),
    Route(f"{PAGE}/add", add, methods=["POST"]),
    Route(f"{PAGE}/remove", remove, methods=["POST"]),
    Route(f"{PAGE}/test", test, methods=["POST"]),
    Route(DELIVERIES, delivery_page, methods=["GET"]),
    Route(f"{PAGE}/retry", retry, methods=["POST"]),
]
