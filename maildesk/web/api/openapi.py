"""GET /api/openapi.json: the API described as OpenAPI 3.1, built from its route table
(`routes.routes`, each with its `Operation`) and the JSON schemas of its request
models (`models`), with the bearer token every route but this one needs.

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
from maildesk.web.api import agents, models, records
from maildesk.web.api.routes import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, ApiRoute
from maildesk.web.api.routes import routes as ticket_routes
from maildesk.web.context import Web, web_of

PATH = "/api/openapi.json"
REF = "#/components/schemas/{model}"
SCHEME = "bearerToken"
ERRORS = {
    400: "a malformed request: not JSON, the wrong fields or types",
    401: "no token, or not a live token of an active agent",
    403: "the token's agent is not an admin",
    404: "no such ticket, contact, organization or agent (or not one the token's agent sees)",
    413: "the body is too large",
    422: "a value the desk refuses (each problem a line of errors)",
}
DOCUMENT_MODELS: tuple[type[BaseModel], ...] = (
    models.NewTicket,
    models.TicketChange,
    models.NewMessage,
    models.ContactChange,
    models.NewOrganization,
    models.OrganizationChange,
    models.NewAgent,
    models.AgentChange,
    models.Error,
)
PATH_PARAMETERS = {
    "label": "the ticket, SUP-00042 or 42",
    "contact_id": "the contact's id (any of a person's addresses has one)",
    "org_id": "the organization's id",
    "email": "the agent's address",
}


def api_routes() -> list[ApiRoute]:
    return [*ticket_routes, *records.routes, *agents.routes]


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
        "org": {"type": "integer", "minimum": 1, "description": "an organization's id"},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    }


def component_schemas(priorities: tuple[str, ...]) -> dict[str, Any]:
    _, found = models_json_schema(
        [(model, "validation") for model in DOCUMENT_MODELS], ref_template=REF
    )
    schemas: dict[str, Any] = found["$defs"]
    schemas["TicketChange"]["properties"]["priority"]["enum"] = list(priorities)
    return schemas


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(status: int) -> dict[str, Any]:
    return {"description": ERRORS[status], "content": _json({"$ref": REF.format(model="Error")})}


def operation(route: ApiRoute, queries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec = route.operation
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
         "description": PATH_PARAMETERS[name]}
        for name in route.param_convertors
    ] + [{"name": name, "in": "query", "schema": queries[name]} for name in spec.query]  # fmt: skip
    document: dict[str, Any] = {
        "operationId": route.name,
        "summary": spec.summary,
        "security": [{SCHEME: []}],
        "parameters": parameters,
        "responses": {
            str(status): {"description": "done", "content": _json({"type": "object"})}
            for status in (spec.status, *spec.also)
        },
    }
    failures = [400, 401]
    if spec.admin:
        failures.append(403)
    if route.param_convertors:
        failures.append(404)
    if spec.body is not None:
        ref = {"$ref": REF.format(model=spec.body.__name__)}
        document["requestBody"] = {"required": True, "content": _json(ref)}
        failures += [413, 422]
    document["responses"] |= {str(status): _error(status) for status in failures}
    return document


def document(web: Web) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API this desk serves."""
    priorities = web.config.tickets.priorities
    queries = query_schemas(priorities, web.desks.slugs)
    paths: dict[str, dict[str, Any]] = {}
    for route in api_routes():
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route, queries)
    paths[PATH] = {
        "get": {
            "operationId": "openapi",
            "summary": "This description (no token needed)",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": _json({})}},
        }
    }
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
