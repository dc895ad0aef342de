"""The API under test on two desks: tokens of agents of each desk, a manager, an admin,
and answers checked against the schemas /api/openapi.json publishes for them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema

from maildesk.tickets import agents
from tests.conftest import SUPPORT_AND_BILLING
from tests.conversation import customer_mail
from tests.web_support import Site, site

CARL = "carl@customer.test"
DORA = "dora@customer.test"
CONFIG = SUPPORT_AND_BILLING + '\n[[category]]\nname = "Billing"\n'
PEOPLE = (
    ("ann@example.com", "Ann", "agent", ()),
    ("bill@example.com", "Bill", "agent", ("billing",)),
    ("mia@example.com", "Mia", "manager", ("support",)),
    ("root@example.com", "Root", "admin", ()),
)


@contextmanager
def two_desks(root: Path, database_url: str, extra: str = "") -> Iterator[Site]:
    """SUP-00001 (Carl, support) and BIL-00002 (Dora, billing); Ann works support, Bill
    billing, Mia manages support, Root is an admin."""
    with site(root, database_url, extra=CONFIG + extra) as running:
        now = running.runtime.clock()
        for email, name, role, desks in PEOPLE:
            agents.add_agent(running.runtime.db, email, name, role, None, now, desks=desks)
        running.ingest(customer_mail(CARL, subject="Printer on fire"))
        running.ingest(customer_mail(DORA, subject="Secret invoice", to="billing@example.com"))
        yield running


def bearer(s: Site, email: str) -> dict[str, str]:
    token = agents.create_token(s.runtime.db, email, "test", s.runtime.clock())
    return {"Authorization": f"Bearer {token}"}


def described(s: Site) -> dict[str, Any]:
    answer = s.client.get("/api/openapi.json")
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def answer_validator(
    document: dict[str, Any], path: str, method: str, status: int
) -> jsonschema.Draft202012Validator:
    """The published schema of that answer, its references resolved in the document."""
    response = document["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def model_validator(document: dict[str, Any], model: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{model}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def check_answer(document: dict[str, Any], path: str, method: str, answer: Any) -> Any:
    """`answer`'s JSON, after checking it against the schema published for its status."""
    body = answer.json()
    answer_validator(document, path, method, answer.status_code).validate(body)
    return body
