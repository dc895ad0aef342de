"""A ticket opened *to* a customer on the web ("New ticket", /tickets/new) and by the
API (POST /api/tickets with `outbound`): the agent's text is the first message, sent
to the customer from the desk address. Through the real app, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.tickets import agents
from tests.conversation import customer_mail
from tests.web_support import Site, site

FIELDS = '[[field]]\nname = "order"\nlabel = "Order"\ntype = "text"\n'


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, extra=FIELDS) as running:
        running.add_agent("ann@example.com", "Ann Agent")
        running.add_agent("bob@example.com", "Bob Agent")
        yield running


def show(web: Site, label: str = "SUP-00001") -> dict[str, Any]:
    answer = web.cli("tickets", "show", "--json", label)
    assert answer.exit_code == 0, answer.output
    document: dict[str, Any] = json.loads(answer.stdout)
    return document


def outbox(web: Site) -> list[dict[str, Any]]:
    answer = web.cli("outbox", "list", "--json")
    assert answer.exit_code == 0, answer.output
    listed: list[dict[str, Any]] = json.loads(answer.stdout)
    return listed


def test_the_new_ticket_form_offers_known_customers_without_script(web: Site) -> None:
    web.ingest(customer_mail("Dora Customer <dora@customer.test>", subject="Hello"))
    assert web.client.get("/tickets/new", follow_redirects=False).status_code == 303  # sign in
    web.sign_in("ann@example.com")
    queue = web.client.get("/")
    assert 'href="/tickets/new"' in queue.text
    page = web.client.get("/tickets/new")
    assert page.status_code == 200
    assert 'list="known-contacts"' in page.text
    assert '<option value="dora@customer.test">Dora Customer</option>' in page.text
    assert 'name="field_order"' in page.text and 'name="priority"' in page.text


def test_opening_a_ticket_to_a_customer_on_the_web(web: Site) -> None:
    web.sign_in("ann@example.com")
    form = {
        "requester": "carl@customer.test",
        "name": "Carl Customer",
        "subject": "Your replacement printer",
        "text": "Hello Carl,\nyour replacement ships today.",
        "priority": "high",
        "assignee": "bob@example.com",
        "field_order": "A-1234",
    }
    answer = web.post("/tickets/new", form, form_page="/tickets/new")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/tickets/SUP-00001"
    ticket = show(web)
    assert ticket["requester"] == {"email": "carl@customer.test", "name": "Carl Customer"}
    assert (ticket["status"], ticket["priority"], ticket["assignee"]) == (
        "waiting_on_customer",
        "high",
        "bob@example.com",
    )
    assert ticket["fields"]["order"] == "A-1234"
    assert [(m["kind"], m["direction"], m["from"]) for m in ticket["messages"]] == [
        ("agent", "outbound", "ann@example.com")
    ]
    assert ticket["messages"][0]["body_text"] == "Hello Carl,\nyour replacement ships today."
    sent = [row for row in outbox(web) if "carl@customer.test" in row["to"]]
    assert [row["subject"] for row in sent] == ["[SUP-00001] Your replacement printer"]
    assert [row["to"] for row in outbox(web) if row["purpose"] == "assigned"] == [
        ["bob@example.com"]
    ]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"requester": "carl at customer"}, "not a usable e-mail address"),
        ({"requester": "bob@example.com"}, "belongs to this desk"),
        ({"text": "  "}, "write the message"),
        ({"field_order": "x" * 2000}, "#set"),
    ],
)
def test_the_form_refuses_bad_input(web: Site, change: dict[str, str], error: str) -> None:
    web.sign_in("ann@example.com")
    form = {"requester": "carl@customer.test", "subject": "Hi", "text": "Hello", **change}
    answer = web.post("/tickets/new", form, form_page="/tickets/new")
    assert answer.status_code == 422 and error in answer.text
    assert [row for row in outbox(web) if "carl@customer.test" in row["to"]] == []


def test_the_form_needs_its_csrf_token(web: Site) -> None:
    web.sign_in("ann@example.com")
    form = {"requester": "carl@customer.test", "subject": "Hi", "text": "Hello", "csrf": "x"}
    answer = web.client.post("/tickets/new", data=form, follow_redirects=False)
    assert answer.status_code == 403
    assert outbox(web) == []


def test_the_api_opens_a_ticket_to_a_customer(web: Site) -> None:
    token = agents.create_token(web.runtime.db, "ann@example.com", "test", web.runtime.clock())
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "requester": {"email": "carl@customer.test", "name": "Carl Customer"},
        "subject": "Your order",
        "body": "Hello Carl, it ships today.",
        "priority": "urgent",
        "fields": {"order": "A-77"},
        "outbound": True,
    }
    answer = web.client.post("/api/tickets", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    document = answer.json()
    assert document["ticket"] == "SUP-00001"
    assert (document["status"], document["priority"], document["assignee"]) == (
        "waiting_on_customer",
        "urgent",
        "ann@example.com",
    )
    assert document["fields"]["order"] == "A-77"
    assert [m["direction"] for m in document["messages"]] == ["outbound"]
    assert [r["subject"] for r in outbox(web) if "carl@customer.test" in r["to"]] == [
        "[SUP-00001] Your order"
    ]
    for bad, error in (
        ({**body, "outbound": True, "body": None}, "body"),
        ({**body, "requester": {"email": "ann@example.com"}}, "belongs to this desk"),
        ({**body, "assignee": "nobody@customer.test"}, "#assign"),
        ({k: v for k, v in body.items() if k != "outbound"} | {"assignee": "me"}, "outbound"),
    ):
        refused = web.client.post("/api/tickets", json=bad, headers=headers)
        assert refused.status_code in (400, 422), refused.text
        assert error in refused.text
    described = web.client.get("/api/openapi.json").json()
    schema = described["components"]["schemas"]["NewTicket"]["properties"]
    assert "outbound" in schema and "assignee" in schema


def test_requester_in_the_reply_box_changes_the_requester(web: Site) -> None:
    web.ingest(customer_mail(subject="Printer on fire"))
    web.sign_in("ann@example.com")
    form = {"text": "#requester dora@customer.test Dora\n\nDora handles this now.", "kind": "note"}
    answer = web.post("/tickets/SUP-00001/reply", form, form_page="/tickets/SUP-00001")
    assert answer.status_code == 303, answer.text
    ticket = show(web)
    assert ticket["requester"] == {"email": "dora@customer.test", "name": "Dora"}
    assert "requester_changed" in [e["type"] for e in ticket["events"]]
    bad = {"text": "#requester bob@example.com\n\nx", "kind": "note"}
    refused = web.post("/tickets/SUP-00001/reply", bad, form_page="/tickets/SUP-00001")
    assert refused.status_code == 422 and "an agent, not a customer" in refused.text
    assert show(web)["requester"]["email"] == "dora@customer.test"
