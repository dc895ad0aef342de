"""The API's webhooks, an admin's (403 for any other token): the endpoints and their
deliveries, as `maildesk webhooks ...` and /admin/webhooks have them.

  GET    /api/webhooks                                the active endpoints
  POST   /api/webhooks                                a new one (`models.NewWebhook`): 201
                                                      with its secret, this once
  DELETE /api/webhooks/{webhook_id}                   switch one off (409: a [[webhook]])
  POST   /api/webhooks/{webhook_id}/test              a signed webhook.test sent now
  GET    /api/webhooks/deliveries                     newest first (state, webhook, limit)
  POST   /api/webhooks/deliveries/{delivery_id}/retry a failed one sent again
  POST   /api/webhooks/deliveries/retry               every failed one sent again

The work is `events.hooks` and `events.deliveries`. A new endpoint is checked as the
admin page checks it (`hooks.problems`): a URL that is not http(s), a private or
loopback address that `[webhooks] allowed_networks` does not list, an unknown event or
desk is a 422 naming it.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maildesk.core.vocabulary import ADMIN_ROLES
from maildesk.events import deliveries, hooks, worker
from maildesk.events.deliveries import Outcome
from maildesk.events.targets import Targets
from maildesk.store.models import Agent
from maildesk.web.api.answers import (
    DeliveryList,
    NewWebhookAnswer,
    Retried,
    WebhookList,
    WebhookRemoved,
    WebhookTest,
)
from maildesk.web.api.models import NewWebhook
from maildesk.web.api.routes import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ApiRoute,
    Operation,
    Rejected,
    bad,
    body_of,
    choice_param,
    number_param,
    signed,
)
from maildesk.web.context import Web, web_of

DELIVERY_PARAMS = ("state", "webhook", "limit")
MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL: anything larger is no row


def add(web: Web, admin: Agent, spec: NewWebhook) -> dict[str, Any]:
    try:
        endpoint, secret = hooks.add_checked(
            web.db, spec.url.strip(), spec.events, spec.desk, spec.internal, admin.email,
            web.clock(), web.desks.slugs, Targets.of(web.config.webhooks.allowed_networks),
        )  # fmt: skip
    except hooks.Refused as exc:
        raise Rejected(exc.problems) from None
    [entry] = [h for h in hooks.listing(web.db) if h["id"] == endpoint.id]
    return {**entry, "secret": secret}


def row_id(request: Request, name: str) -> int:
    """A path's id; 404 for anything that is not one."""
    text = request.path_params[name]
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise HTTPException(404, f"no {name.replace('_id', '')} {text[:40]}")
    return int(text)


def remove(web: Web, webhook_id: int) -> dict[str, Any]:
    found(web, webhook_id)
    try:
        hooks.remove(web.db, str(webhook_id), web.clock())
    except hooks.HookError as exc:  # one of maildesk.toml
        raise HTTPException(409, str(exc)) from None
    return {"removed": webhook_id}


def found(web: Web, webhook_id: int) -> hooks.Endpoint:
    """The active endpoint of that id, else 404."""
    try:
        return hooks.endpoint_of(hooks.find(web.db, str(webhook_id)))
    except hooks.HookError as exc:
        raise HTTPException(404, str(exc)) from None


def delivery_listing(web: Web, state: str | None, webhook: int | None, limit: int) -> Any:
    return deliveries.listing(web.db, web.desks, state, webhook, limit)


# -- routes ---------------------------------------------------------------------------


async def admin_of(web: Web, request: Request) -> Agent:
    """The token's agent, if an admin; 403 for anyone else."""
    agent = await signed(web, request)
    if agent.role not in ADMIN_ROLES:
        raise HTTPException(403, "only an admin's token may see or change webhooks")
    return agent


def no_params(request: Request) -> None:
    if request.query_params:
        raise bad(f"{request.method} {request.url.path} takes no parameters")


async def list_webhooks(request: Request) -> Response:
    web = web_of(request)
    await admin_of(web, request)
    no_params(request)
    return JSONResponse({"webhooks": await web.call(hooks.listing, web.db)})


async def post_webhook(request: Request) -> Response:
    web = web_of(request)
    admin = await admin_of(web, request)
    spec = await body_of(web, request, NewWebhook)
    return JSONResponse(await web.call(add, web, admin, spec), 201)


async def delete_webhook(request: Request) -> Response:
    web = web_of(request)
    await admin_of(web, request)
    return JSONResponse(await web.call(remove, web, row_id(request, "webhook_id")))


async def test_webhook(request: Request) -> Response:
    web = web_of(request)
    await admin_of(web, request)
    endpoint = await web.call(found, web, row_id(request, "webhook_id"))
    try:
        key = endpoint.key(web.environ)
    except hooks.HookError as exc:
        raise Rejected([str(exc)]) from None
    answer = await worker.test(endpoint, key, web.config.webhooks, web.clock())
    return JSONResponse(
        {
            "url": endpoint.url,
            "delivered": answer.outcome is Outcome.DELIVERED,
            "status": answer.status,
            "detail": answer.detail,
        }
    )


async def list_deliveries(request: Request) -> Response:
    web = web_of(request)
    await admin_of(web, request)
    params = request.query_params
    unknown = sorted(set(params) - set(DELIVERY_PARAMS))
    if unknown:
        raise bad(f"unknown parameter {unknown[0]!r} (parameters: {', '.join(DELIVERY_PARAMS)})")
    state = choice_param(params, "state", deliveries.STATES)
    webhook = number_param(params, "webhook", 0, 1, MAX_ID) if "webhook" in params else None
    limit = number_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    found = await web.call(delivery_listing, web, state, webhook, limit)
    return JSONResponse({"deliveries": found})


async def retry_delivery(request: Request) -> Response:
    web = web_of(request)
    await admin_of(web, request)
    delivery_id = row_id(request, "delivery_id")
    count = await web.call(deliveries.retry, web.db, [delivery_id], web.clock())
    if not count:
        raise HTTPException(404, f"no failed delivery {delivery_id} (of an endpoint still there)")
    web.on_mail()  # the daemon's webhook worker sends it now
    return JSONResponse({"retried": count})


async def retry_failed(request: Request) -> Response:
    web = web_of(request)
    await admin_of(web, request)
    no_params(request)
    count = await web.call(deliveries.retry, web.db, [], web.clock(), all_failed=True)
    web.on_mail()
    return JSONResponse({"retried": count})


routes = [
    ApiRoute("/api/webhooks", "GET", list_webhooks, Operation(
        "List the webhook endpoints, as `maildesk webhooks list --json`", 200,
        admin=True, answer=WebhookList,
    )),
    ApiRoute("/api/webhooks", "POST", post_webhook, Operation(
        "Add a webhook endpoint; its signing secret is answered this once", 201, NewWebhook,
        admin=True, answer=NewWebhookAnswer,
        description="A private or loopback address is refused (422) unless [webhooks]"
        " allowed_networks lists its network.",
    )),
    ApiRoute("/api/webhooks/deliveries", "GET", list_deliveries, Operation(
        "List webhook deliveries, newest first", 200, query=DELIVERY_PARAMS,
        admin=True, answer=DeliveryList,
    )),
    ApiRoute("/api/webhooks/deliveries/retry", "POST", retry_failed, Operation(
        "Send every failed delivery again (same webhook-id and body)", 200,
        admin=True, answer=Retried,
    )),
    ApiRoute("/api/webhooks/deliveries/{delivery_id}/retry", "POST", retry_delivery, Operation(
        "Send a failed delivery again (same webhook-id and body)", 200,
        admin=True, answer=Retried,
    )),
    ApiRoute("/api/webhooks/{webhook_id}", "DELETE", delete_webhook, Operation(
        "Remove a webhook endpoint added here or by the CLI; its undelivered events fail",
        200, admin=True, answer=WebhookRemoved, failures=(409,),
        description="A [[webhook]] of maildesk.toml is removed from the file (409 here).",
    )),
    ApiRoute("/api/webhooks/{webhook_id}/test", "POST", test_webhook, Operation(
        "Send a signed webhook.test event to an endpoint now; its answer", 200,
        admin=True, answer=WebhookTest, failures=(422,),
        description="422: a [[webhook]] whose secret_env is unset. A receiver's refusal is"
        " a 200 with delivered false.",
    )),
]  # fmt: skip
