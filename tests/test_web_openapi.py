"""GET /api/openapi.json: an OpenAPI 3.1 description of the API as served, whose
request schemas refuse what the API refuses.

Through the real app and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from starlette.routing import Route

from maildesk.core.commands import STATUSES
from maildesk.tickets import agents
from tests.conversation import customer_mail
from tests.test_web_api import BAD_CREATIONS
from tests.web_support import Site, site

PRIORITIES = ("low", "normal", "high")
CONFIG = """
[tickets]
priorities = ["low", "normal", "high"]
default_priority = "normal"

[sla]
targets = ["high 4h 24h", "normal 8h 72h", "low 24h 168h"]
"""


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, extra=CONFIG) as running:
        agents.add_agent(
            running.runtime.db, "ann@example.com", "Ann", "agent", None, running.runtime.clock()
        )
        yield running


@pytest.fixture
def token(web: Site) -> str:
    return agents.create_token(web.runtime.db, "ann@example.com", "test", web.runtime.clock())


def described(web: Site) -> dict[str, Any]:
    answer = web.client.get("/api/openapi.json")  # no token: it holds no data
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = answer.json()
    return document


def validator(document: dict[str, Any], model: str) -> jsonschema.Draft202012Validator:
    """A validator of one component schema, its references resolved in the document."""
    schema = {"$ref": f"#/components/schemas/{model}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_the_document_is_openapi_3_1_and_lists_every_api_route(web: Site) -> None:
    document = described(web)
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] and document["info"]["version"]
    assert {"paths", "components"} <= set(document)
    scheme = document["components"]["securitySchemes"]
    assert [s["scheme"] for s in scheme.values()] == ["bearer"]
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)

    served = {
        (route.path, method.lower())
        for route in web.client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    listed = {(path, method) for path, item in document["paths"].items() for method in item}
    assert listed == served
    for (path, method), operation in (
        (key, document["paths"][key[0]][key[1]]) for key in sorted(listed)
    ):
        assert operation["responses"], (path, method)
        guarded = path not in ("/api/openapi.json", "/api/docs")  # public: no data
        assert bool(operation["security"]) == guarded, (path, method)
        if guarded:
            assert "401" in operation["responses"]
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert "{" + parameter["name"] + "}" in path


def test_the_listed_parameters_and_enums_are_what_the_api_takes(web: Site, token: str) -> None:
    document = described(web)
    headers = {"Authorization": f"Bearer {token}"}
    parameters = document["paths"]["/api/tickets"]["get"]["parameters"]
    query = {p["name"]: p["schema"] for p in parameters}
    assert query["status"]["enum"] == list(STATUSES)
    assert query["priority"]["enum"] == list(PRIORITIES)
    for name, schema in query.items():
        for value in schema.get("enum", []):
            answer = web.client.get("/api/tickets", params={name: value}, headers=headers)
            assert answer.status_code == 200, (name, value)
        refused = "enum" in schema or "pattern" in schema or schema["type"] == "integer"
        answer = web.client.get("/api/tickets", params={name: "sleeping"}, headers=headers)
        assert answer.status_code == (400 if refused else 200), name
    limit = query["limit"]
    for value, ok in ((limit["minimum"], True), (limit["maximum"], True), (0, False)):
        answer = web.client.get("/api/tickets", params={"limit": value}, headers=headers)
        assert (answer.status_code == 200) == ok, value
    unlisted = web.client.get("/api/tickets", params={"sort": "id"}, headers=headers)
    assert unlisted.status_code == 400


def test_each_request_schema_refuses_what_the_api_refuses(web: Site, token: str) -> None:
    web.ingest(customer_mail())
    document = described(web)
    headers = {"Authorization": f"Bearer {token}"}
    for method, path in (
        ("post", "/api/tickets"),
        ("patch", "/api/tickets/{label}"),
        ("post", "/api/tickets/{label}/messages"),
    ):
        body = document["paths"][path][method]["requestBody"]
        assert body["content"]["application/json"]["schema"]["$ref"].startswith("#/components")

    def api(method: str, path: str, body: Any) -> int:
        answer = web.client.request(method, path, json=body, headers=headers)
        assert answer.json().get("error", "x"), answer.text
        return answer.status_code

    creation = validator(document, "NewTicket")
    empty = {"requester": {"email": "gus@customer.test"}, "transcript": []}
    for body in [*BAD_CREATIONS, empty]:
        assert not creation.is_valid(body), body
        assert api("POST", "/api/tickets", body) == 400, body
    good = {"requester": {"email": "gus@customer.test"}, "body": "Help", "priority": "high"}
    assert creation.is_valid(good) and api("POST", "/api/tickets", good) == 201

    change = validator(document, "TicketChange")
    properties = document["components"]["schemas"]["TicketChange"]["properties"]
    assert properties["status"]["enum"] == list(STATUSES)
    assert properties["priority"]["enum"] == list(PRIORITIES)
    for shape in ({}, {"status": 5}, {"status": None}, {"tags_add": "fire"}, {"owner": "me"}):
        assert not change.is_valid(shape), shape
        assert api("PATCH", "/api/tickets/SUP-00001", shape) == 400, shape
    for value in ("sleeping", "urgent"):  # the right shape, not a value the desk takes
        field = "status" if value == "sleeping" else "priority"
        assert not change.is_valid({field: value})
        assert api("PATCH", "/api/tickets/SUP-00001", {field: value}) == 422, value
    for priority in PRIORITIES:
        assert change.is_valid({"priority": priority})
        assert api("PATCH", "/api/tickets/SUP-00001", {"priority": priority}) == 200
    for status in ("open", "in_progress", "resolved"):
        assert change.is_valid({"status": status})
        assert api("PATCH", "/api/tickets/SUP-00001", {"status": status}) == 200, status

    message = validator(document, "NewMessage")
    for body in ({"text": ""}, {"text": " "}, {"text": "x", "note": "yes"}, {"note": True}):
        assert not message.is_valid(body), body
        assert api("POST", "/api/tickets/SUP-00001/messages", body) == 400, body
    note = {"text": "Internal.", "note": True}
    assert message.is_valid(note) and api("POST", "/api/tickets/SUP-00001/messages", note) == 201
