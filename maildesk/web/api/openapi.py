"""GET /api/openapi.json: the API described as OpenAPI 3.1, built from its route table
(`table.api_routes`, each route with its `Operation`) and the JSON schemas of the
models that check its requests (`models`) and describe its answers (`answers`), with
the bearer token every route but this one and its page (`docs`) needs.

The description is public: it holds the shape of the API and the desk's priority
names, no ticket, person or token, and a program needs it before it has a token.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from maildesk import __version__
from maildesk.core.commands import STATUSES
from maildesk.events.deliveries import STATES
from maildesk.web.api import models, table
from maildesk.web.api.routes import DEFAULT_LIMIT, MAX_LIMIT, MAX_NUMBER, MAX_OFFSET, ApiRoute
from maildesk.web.context import Web, web_of

PATH = "/api/openapi.json"
DOCS = "/api/docs"
REF = "#/components/schemas/{model}"
JSON = "application/json"
SCHEME = "bearerToken"
ERRORS = {
    400: "a malformed request: not JSON, the wrong fields or types",
    401: "no token, or not a live token of an active agent",
    403: "the token's agent's role may not do this",
    404: "no such ticket, contact, organization, agent, webhook or delivery (or not one the"
    " token's agent sees)",
    409: "not here: a webhook of maildesk.toml is changed in the file",
    413: "the body is too large",
    422: "a value the desk refuses (each problem a line of errors)",
}
PATH_PARAMETERS = {
    "label": "the ticket, SUP-00042 or 42",
    "contact_id": "the contact's id (any of a person's addresses has one)",
    "org_id": "the organization's id",
    "email": "the agent's address",
    "webhook_id": "the webhook endpoint's id",
    "delivery_id": "the webhook delivery's id",
    "other": "the linked ticket, SUP-00017 or 17",
}


def api_routes() -> list[ApiRoute]:
    return table.api_routes()


def document_models(routes: list[ApiRoute]) -> list[type[BaseModel]]:
    """The models the routes name (bodies, forms, answers), each once, and `Error`;
    the models they hold come along as their schemas refer to them."""
    found: dict[type[BaseModel], None] = {}
    for route in routes:
        spec = route.operation
        found |= {model: None for model in (spec.body, spec.form, spec.answer) if model}
    return [*found, models.Error]


def query_schemas(
    priorities: tuple[str, ...], desks: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    """The query parameters of GET /api/tickets, as `routes.listing_of` reads them."""
    text = {"type": "string"}
    return {
        "status": {"type": "string", "enum": list(STATUSES)},
        "priority": {"type": "string", "enum": list(priorities)},
        "assignee": {"type": "string", "description": "an agent's address, me, or none"},
        "category": text,
        "tag": text,
        "desk": {
            "type": "string",
            "enum": list(desks),
            "description": "a desk's slug (repeat for several)",
        },
        "field": {
            "type": "string",
            "pattern": "^[a-z][a-z0-9_]*=",
            "description": "NAME=VALUE: a custom field's value (repeat: all must match)",
        },
        "q": {"type": "string", "description": "words to search for"},
        "snoozed": {
            "type": "string",
            "enum": ["true", "false"],
            "description": "true: only tickets snoozed with #snooze; false: none of them",
        },
        "after": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_NUMBER,
            "default": 0,
            "description": "an event's id: the page starts after it",
        },
        "since": {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601, UTC without an offset (default: 30 days before until)",
        },
        "until": {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601, UTC without an offset; exclusive (default: now)",
        },
        "org": {"type": "integer", "minimum": 1, "description": "an organization's id"},
        "email": {"type": "string", "format": "email", "description": "one of the addresses"},
        "state": {"type": "string", "enum": list(STATES)},
        "webhook": {"type": "integer", "minimum": 1, "description": "a webhook endpoint's id"},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    }


def component_schemas(priorities: tuple[str, ...]) -> dict[str, Any]:
    _, found = models_json_schema(
        [(model, "validation") for model in document_models(api_routes())], ref_template=REF
    )
    schemas: dict[str, Any] = found["$defs"]
    schemas["TicketChange"]["properties"]["priority"]["enum"] = list(priorities)
    return schemas


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _error(status: int) -> dict[str, Any]:
    return {"description": ERRORS[status], "content": _json({"$ref": REF.format(model="Error")})}


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def _forbidden(route: ApiRoute) -> str:
    roles = ("admin",) if route.operation.admin else route.operation.roles
    return f"the token's agent is not an {' or a '.join(roles)}"


def operation(route: ApiRoute, queries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec = route.operation
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
         "description": PATH_PARAMETERS[name]}
        for name in route.param_convertors
    ] + [{"name": name, "in": "query", "schema": queries[name]} for name in spec.query]  # fmt: skip
    answer = _ref(spec.answer) if spec.answer else {"type": "object"}
    document: dict[str, Any] = {
        "operationId": route.name,
        "summary": spec.summary,
        "tags": [route.path.split("/")[2]],
        "security": [{SCHEME: []}],
        "parameters": parameters,
        "responses": {
            str(status): {"description": "done", "content": _json(answer)}
            for status in (spec.status, *spec.also)
        },
    }
    if spec.description:
        document["description"] = spec.description
    failures = [400, 401]
    if spec.admin or spec.roles:
        failures.append(403)
    if route.param_convertors:
        failures.append(404)
    if spec.body is not None:
        content = _json(_ref(spec.body))
        if spec.form is not None:
            content["multipart/form-data"] = {"schema": _ref(spec.form)}
        document["requestBody"] = {"required": True, "content": content}
        failures += [413, 422]
    failures += [status for status in spec.failures if status not in failures]
    document["responses"] |= {str(status): _error(status) for status in failures}
    if 403 in failures:
        document["responses"]["403"]["description"] = _forbidden(route)
    return document


def public(operation_id: str, summary: str, media_type: str) -> dict[str, Any]:
    """A route that needs no token: this description, and its page."""
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["description"],
            "security": [],
            "responses": {"200": {"description": "done", "content": {media_type: {}}}},
        }
    }


def document(web: Web) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API this desk serves."""
    priorities = web.config.tickets.priorities
    queries = query_schemas(priorities, web.desks.slugs)
    paths: dict[str, dict[str, Any]] = {}
    for route in api_routes():
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route, queries)
    paths[PATH] = public("openapi", "This description, as OpenAPI 3.1 (no token)", JSON)
    paths[DOCS] = public("docs", "This description as a page to read (no token)", "text/html")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{web.config.desk.name} API",
            "version": __version__,
            "description": "Tickets for programs, acting as the token's agent (README: API).",
        },
        "servers": [{"url": web.config.desk.base_url.rstrip("/")}],
        "paths": paths,
        "components": {
            "schemas": component_schemas(priorities),
            "securitySchemes": {
                SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from `maildesk agents token EMAIL`",
                }
            },
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(document(web_of(request)))


routes = [Route(PATH, openapi, methods=["GET"])]
