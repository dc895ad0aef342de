"""GET /api/docs: the API's OpenAPI description (`openapi.document`) as a page for
people, rendered on the server (templates/web/api_docs.html).

Every path and method with its summary, parameters, request bodies and answers, then
every schema with its fields: read from the very document GET /api/openapi.json serves,
so the page never says other than the description. Plain HTML under the web's strict
CSP (no script, nothing from elsewhere); public, as the description is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.web.api import openapi
from maildesk.web.context import web_of

METHODS = ("get", "post", "put", "patch", "delete")
CONSTRAINTS = (
    ("minimum", "at least {}"),
    ("maximum", "at most {}"),
    ("minLength", "at least {} characters"),
    ("minItems", "at least {} entries"),
    ("maxItems", "at most {} entries"),
    ("minProperties", "at least {} field"),
    ("pattern", "matching {}"),
    ("default", "default {}"),
)


@dataclass(frozen=True)
class Piece:
    """Part of a type's description; `ref`: the schema the text names (a link)."""

    text: str
    ref: str = ""


@dataclass(frozen=True)
class Row:
    """A parameter, or a field of a schema."""

    name: str
    type: list[Piece]
    required: bool
    notes: str
    where: str = ""  # a parameter's place: path or query


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    token: bool
    parameters: list[Row]
    bodies: list[tuple[str, list[Piece]]]  # media type, schema
    answers: list[tuple[str, str, list[Piece]]]  # status, meaning, schema


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    fields: list[Row]
    source: str  # the JSON schema itself


@dataclass
class Page:
    title: str
    version: str
    description: str
    server: str
    token: str
    groups: dict[str, list[Operation]] = field(default_factory=dict)
    schemas: list[Schema] = field(default_factory=list)


def type_of(schema: dict[str, Any]) -> list[Piece]:
    """A schema's type in words: `list of string`, `NewTicket`, `integer or null`."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return [Piece(name, name)]
    for key in ("anyOf", "oneOf"):
        if key in schema and all(isinstance(option, dict) for option in schema[key]):
            pieces: list[Piece] = []
            for option in schema[key]:
                pieces += [Piece(" or ")] if pieces else []
                pieces += type_of(option)
            return pieces
    kind = schema.get("type")
    if kind == "array":
        return [Piece("list of "), *type_of(schema.get("items", {}))]
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return [Piece("object of "), *type_of(schema["additionalProperties"])]
    if "contentMediaType" in schema:
        return [Piece("file")]
    text = " or ".join(kind) if isinstance(kind, list) else str(kind or "any value")
    return [Piece(f"{text} ({schema['format']})" if "format" in schema else text)]


def notes_of(schema: dict[str, Any]) -> str:
    """What a parameter or field means, and what values it takes."""
    parts = [str(schema["description"])] if schema.get("description") else []
    if "enum" in schema:
        parts.append("one of " + ", ".join(str(value) for value in schema["enum"]))
    for key, words in CONSTRAINTS:
        if key in schema:
            parts.append(words.format(json.dumps(schema[key], ensure_ascii=False)))
    return "; ".join(parts)


def operation_of(path: str, method: str, spec: dict[str, Any]) -> Operation:
    parameters = [
        Row(
            p["name"],
            type_of(p.get("schema", {})),
            bool(p.get("required")),
            "; ".join(filter(None, (p.get("description", ""), notes_of(p.get("schema", {}))))),
            p["in"],
        )
        for p in spec.get("parameters", [])
    ]
    body = spec.get("requestBody", {}).get("content", {})
    answers = [
        (status, str(answer.get("description", "")), _content_type(answer))
        for status, answer in sorted(spec.get("responses", {}).items())
    ]
    return Operation(
        method=method.upper(),
        path=path,
        anchor=f"op-{spec.get('operationId', method + path)}",
        summary=str(spec.get("summary", "")),
        description=str(spec.get("description", "")),
        token=bool(spec.get("security")),
        parameters=parameters,
        bodies=[(kind, type_of(media.get("schema", {}))) for kind, media in body.items()],
        answers=answers,
    )


def _content_type(answer: dict[str, Any]) -> list[Piece]:
    for media in answer.get("content", {}).values():
        if media.get("schema"):
            return type_of(media["schema"])
    return []


def schema_of(name: str, schema: dict[str, Any]) -> Schema:
    required = set(schema.get("required", []))
    fields = [
        Row(prop, type_of(spec), prop in required, notes_of(spec))
        for prop, spec in schema.get("properties", {}).items()
    ]
    return Schema(
        name=name,
        description=str(schema.get("description", "")),
        fields=fields,
        source=json.dumps(schema, indent=2, ensure_ascii=False),
    )


def page_of(document: dict[str, Any]) -> Page:
    """The page's view of an OpenAPI document: operations by tag, then schemas."""
    info = document.get("info", {})
    scheme: dict[str, Any] = next(
        iter(document["components"].get("securitySchemes", {}).values()), {}
    )
    page = Page(
        title=str(info.get("title", "API")),
        version=str(info.get("version", "")),
        description=str(info.get("description", "")),
        server=str((document.get("servers") or [{}])[0].get("url", "")),
        token=str(scheme.get("description", "")),
    )
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                tag = (item[method].get("tags") or ["other"])[0]
                page.groups.setdefault(tag, []).append(operation_of(path, method, item[method]))
    page.schemas = [
        schema_of(name, schema)
        for name, schema in sorted(document["components"].get("schemas", {}).items())
    ]
    return page


async def docs(request: Request) -> Response:
    web = web_of(request)
    page = page_of(openapi.document(web))
    return web.page(request, "api_docs.html", doc=page, openapi_path=openapi.PATH)


routes = [Route(openapi.DOCS, docs, methods=["GET"])]
