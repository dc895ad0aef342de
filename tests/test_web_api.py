"""The JSON API: bearer tokens, listing and search, ticket documents, changes as mail.

Through the real app and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.store.models import ApiToken, Event, Message, Outbox, Ticket
from maildesk.tickets import agents
from tests.conversation import customer_mail
from tests.web_support import Site, site

CONFIG = '[tickets]\nmax_new_per_sender_per_hour = 2\n\n[[category]]\nname = "Billing"\n'


class Api:
    """The test client with Ann's token."""

    def __init__(self, s: Site, token: str) -> None:
        self.s = s
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.s.client.get(path, params=params, headers=self.headers)

    def send(self, method: str, path: str, body: Any) -> Any:
        return self.s.client.request(method, path, json=body, headers=self.headers)


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, extra=CONFIG) as running:
        for email, name in (("ann@example.com", "Ann"), ("bob@example.com", "Bob")):
            agents.add_agent(
                running.runtime.db, email, name, "agent", None, running.runtime.clock()
            )
        yield running


@pytest.fixture
def api(web: Site) -> Api:
    token = agents.create_token(web.runtime.db, "ann@example.com", "test", web.runtime.clock())
    return Api(web, token)


def ticket(number: int) -> Ticket:
    return Ticket.get(Ticket.number == number)


# -- tokens ---------------------------------------------------------------------------


def test_requests_need_a_live_token(web: Site, api: Api) -> None:
    assert api.get("/api/tickets").status_code == 200
    for headers in ({}, {"Authorization": "Bearer mdk_nope"}, {"Authorization": "Basic eDp5"}):
        answer = web.client.get("/api/tickets", headers=headers)
        assert answer.status_code == 401 and "error" in answer.json()
        assert answer.headers["www-authenticate"].startswith("Bearer")
    made = web.cli("agents", "token", "bob@example.com")
    assert made.exit_code == 0, made.output
    revoked = made.stdout.strip()
    bob = web.client.get("/api/tickets", headers={"Authorization": f"Bearer {revoked}"})
    assert bob.status_code == 200
    row = ApiToken.select().order_by(ApiToken.id.desc()).get()
    assert web.cli("agents", "tokens", "--revoke", str(row.id)).exit_code == 0
    answer = web.client.get("/api/tickets", headers={"Authorization": f"Bearer {revoked}"})
    assert answer.status_code == 401
    assert web.cli("agents", "set", "ann@example.com", "--inactive").exit_code == 0
    assert api.get("/api/tickets").status_code == 401


# -- reading --------------------------------------------------------------------------


def test_list_filters_and_searches(web: Site, api: Api) -> None:
    web.ingest(customer_mail(subject="Printer on fire", body="The toner smells."))
    web.ingest(customer_mail(frm="dora@customer.test", subject="Invoice wrong"))
    web.ingest(customer_mail(frm="erin@customer.test", subject="Password reset"))
    assert api.send("PATCH", "/api/tickets/SUP-00002", {"priority": "high"}).status_code == 200
    assert api.send("PATCH", "/api/tickets/3", {"assignee": "me", "tags_add": ["vip"]}).is_success

    def numbers(**params: Any) -> list[str]:
        answer = api.get("/api/tickets", **params)
        assert answer.status_code == 200, answer.text
        return [t["number"] for t in answer.json()["tickets"]]

    assert sorted(numbers()) == ["SUP-00001", "SUP-00002", "SUP-00003"]
    assert numbers(priority="high") == ["SUP-00002"]
    assert numbers(assignee="me") == numbers(tag="VIP") == ["SUP-00003"]
    assert sorted(numbers(assignee="none")) == ["SUP-00001", "SUP-00002"]
    assert numbers(q="toner") == ["SUP-00001"] and numbers(q="toner", status="closed") == []
    page = api.get("/api/tickets", limit=1, offset=1).json()
    assert (page["limit"], page["offset"], len(page["tickets"])) == (1, 1, 1)
    first = api.get("/api/tickets").json()["tickets"][0]
    assert set(first) >= {"number", "subject", "status", "requester", "assignee", "tags"}
    for params in ({"limit": "0"}, {"limit": "201"}, {"offset": "-1"}, {"limit": "x"}):
        assert api.get("/api/tickets", **params).status_code == 400
    for params in ({"status": "sleeping"}, {"priority": "meh"}, {"sort": "id"}):
        answer = api.get("/api/tickets", **params)
        assert answer.status_code == 400 and answer.json()["error"]


def test_a_ticket_is_the_document_of_tickets_show(web: Site, api: Api) -> None:
    web.ingest(customer_mail())
    note = {"text": "Internal: printer is ours.", "note": True}
    assert api.send("POST", "/api/tickets/SUP-00001/messages", note).status_code == 201
    answer = api.get("/api/tickets/SUP-00001")
    assert answer.status_code == 200
    document = answer.json()
    shown = web.cli("tickets", "show", "--json", "SUP-00001")
    expected = json.loads(shown.stdout)
    assert {k: v for k, v in document.items() if k != "sla"} == {
        k: v for k, v in expected.items() if k != "sla"
    }
    assert "sla" in document and "mail" in document
    assert [m["kind"] for m in document["messages"]] == ["customer", "note"]
    assert api.get("/api/tickets/1").json()["number"] == "SUP-00001"
    for label in ("SUP-00002", "nonsense", "99999999999999999999999"):
        missing = api.get(f"/api/tickets/{label}")
        assert missing.status_code == 404 and "error" in missing.json()


# -- creating -------------------------------------------------------------------------


def test_create_applies_fields_as_the_agent(web: Site, api: Api) -> None:
    body = {
        "requester": {"email": "fay@customer.test", "name": "Fay <b>"},
        "subject": "Called about the invoice [SUP-00007]",
        "body": "She says the invoice is twice the price.",
        "priority": "high",
        "category": "Billing",
        "tags": ["phone", "vip"],
    }
    answer = api.send("POST", "/api/tickets", body)
    assert answer.status_code == 201, answer.text
    document = answer.json()
    assert document["ticket"] == document["number"] == "SUP-00001"
    assert (document["priority"], document["category"], document["tags"]) == (
        "high",
        "Billing",
        ["phone", "vip"],
    )
    assert document["subject"] == "Called about the invoice"
    assert document["requester"] == {"email": "fay@customer.test", "name": "Fay <b>"}
    ack = Outbox.get(Outbox.purpose == "ack")
    assert ack.recipients == ["fay@customer.test"]
    changed = Event.get(Event.type == "priority_changed")
    assert changed.actor == "ann@example.com"
    created = Event.get(Event.type == "created")
    assert created.data["source"] == "api"

    transcript = [
        {"from": "customer", "text": "My parcel never came."},
        {"from": "agent", "text": "I will check with the courier."},
    ]
    body = {"requester": {"email": "gus@customer.test", "name": "Gus"}, "transcript": transcript}
    answer = api.send("POST", "/api/tickets", body)
    assert answer.status_code == 201, answer.text
    text = answer.json()["messages"][0]["body_text"]
    assert "Gus:\nMy parcel never came." in text and "Ann:\nI will check" in text

    body = {"requester": {"email": "gus@customer.test"}, "body": "And another thing."}
    assert api.send("POST", "/api/tickets", body).status_code == 201
    over = api.send("POST", "/api/tickets", body | {"priority": "urgent"})  # 3rd in an hour
    assert over.status_code == 202
    assert over.json()["action"] == "appended" and over.json()["ticket"] == "SUP-00003"
    assert ticket(3).priority != "urgent"


BAD_CREATIONS = [
    {"subject": "no requester", "body": "x"},
    {"requester": "gus@customer.test", "body": "x"},
    {"requester": {"email": 5}, "body": "x"},
    {"requester": {"email": "gus@customer.test", "phone": "1"}, "body": "x"},
    {"requester": {"email": "gus@customer.test"}},
    {"requester": {"email": "gus@customer.test"}, "body": "x", "transcript": []},
    {"requester": {"email": "gus@customer.test"}, "transcript": [{"from": "bot", "text": "x"}]},
    {"requester": {"email": "gus@customer.test"}, "body": "x", "tags": "vip"},
    {"requester": {"email": "gus@customer.test"}, "body": "x", "priority": 3},
    {"requester": {"email": "gus@customer.test"}, "body": "x", "colour": "red"},
]


def test_create_checks_its_input(web: Site, api: Api) -> None:
    for body in BAD_CREATIONS:
        answer = api.send("POST", "/api/tickets", body)
        assert answer.status_code == 400 and answer.json()["error"], body
    refused = [
        ({"priority": "whenever"}, "unknown priority"),
        ({"tags": ["two words"]}, "not a tag"),
        ({"category": "Billing\n#close"}, "not one line"),
        ({"requester": {"email": "bob@example.com"}}, "belongs to this desk"),
        ({"requester": {"email": "not an address"}}, "not a usable e-mail address"),
        ({"body": " "}, "describe the problem"),
    ]
    for change, message in refused:
        body = {"requester": {"email": "gus@customer.test"}, "body": "Help"} | change
        answer = api.send("POST", "/api/tickets", body)
        assert answer.status_code == 422 and message in answer.json()["error"], change
        assert all(isinstance(e, str) for e in answer.json()["errors"])
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0


def test_create_reads_the_requester_as_mail_does(web: Site, api: Api) -> None:
    claims = (
        "bob@example.com(x)",
        '"Bob" <BOB@Example.com>',
        "bob@example.com.",
        "bob@example.com ",
        "Desk <Support@Example.com.>",
        "support+billing@example.com",
        "Someone bob@example.com",  # read leniently as Bob: refused as Bob
    )
    for claim in claims:
        body = {"requester": {"email": claim}, "body": "Help"}
        answer = api.send("POST", "/api/tickets", body)
        assert answer.status_code == 422, (claim, answer.text)
        assert "belongs to this desk" in answer.json()["errors"][0], claim
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0


# -- changing -------------------------------------------------------------------------


def test_patch_changes_fields_through_commands(web: Site, api: Api) -> None:
    web.ingest(customer_mail(cc="dora@customer.test"))
    change = {
        "status": "in progress",
        "assignee": "bob@example.com",
        "tags_add": ["printer", "fire"],
        "cc_add": ["hal@customer.test"],
        "cc_remove": ["dora@customer.test"],
        "category": "Billing",
    }
    answer = api.send("PATCH", "/api/tickets/SUP-00001", change)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert (document["status"], document["assignee"], document["category"]) == (
        "in_progress",
        "bob@example.com",
        "Billing",
    )
    assert document["tags"] == ["fire", "printer"] and document["cc"] == ["hal@customer.test"]
    assigned = Outbox.get(Outbox.purpose == "assigned")
    assert assigned.recipients == ["bob@example.com"]
    more = {"assignee": None, "tags_remove": ["fire"], "category": None}
    document = api.send("PATCH", "/api/tickets/1", more).json()
    assert (document["assignee"], document["tags"], document["category"]) == (
        None,
        ["printer"],
        None,
    )
    actors = {e.actor for e in Event.select().where(Event.type.in_(["assigned", "tags_changed"]))}
    assert actors == {"ann@example.com"}


def test_patch_refuses_bad_values(web: Site, api: Api) -> None:
    web.ingest(customer_mail())
    web.ingest(customer_mail(subject="Another"))
    refused = [
        {"status": "sleeping"},
        {"assignee": "nobody@example.com"},
        {"status": "open\n#merge SUP-00002"},
        {"tags_add": ["-fire"]},
        {"cc_remove": ["never@customer.test"]},
    ]
    for change in refused:
        answer = api.send("PATCH", "/api/tickets/SUP-00001", change)
        assert answer.status_code == 422, change
        assert answer.json()["errors"], change
    for change in ({}, {"status": 5}, {"status": None}, {"tags_add": "fire"}, {"owner": "me"}):
        assert api.send("PATCH", "/api/tickets/SUP-00001", change).status_code == 400, change
    assert api.send("PATCH", "/api/tickets/SUP-00009", {"status": "open"}).status_code == 404
    assert (ticket(1).status, ticket(1).merged_into_id) == ("new", None)


def test_replies_reach_the_customer_and_notes_do_not(web: Site, api: Api) -> None:
    web.ingest(customer_mail())
    mails = Outbox.select().where(Outbox.audience == "customer")
    before = mails.count()
    path = "/api/tickets/SUP-00001/messages"
    answer = api.send("POST", path, {"text": "Please unplug it."})
    assert answer.status_code == 201, answer.text
    message = answer.json()["message"]
    assert (message["kind"], message["body_text"]) == ("agent", "Please unplug it.")
    relayed = Outbox.get(Outbox.purpose == "agent_reply")
    assert relayed.recipients == ["carl@customer.test"] and mails.count() == before + 1
    assert ticket(1).status == "waiting_on_customer"
    note = api.send("POST", path, {"text": "He sounds stressed.", "note": True})
    assert note.status_code == 201 and note.json()["message"]["kind"] == "note"
    assert mails.count() == before + 1
    for body in ({"text": ""}, {"text": "x", "note": "yes"}, {"note": True}, {"text": 1}):
        assert api.send("POST", path, body).status_code == 400, body
    commands = api.send("POST", path, {"text": "#prio high\nThanks"})
    assert commands.status_code == 422 and "#priority" in commands.json()["error"]
    assert Message.select().count() == 3


def test_bad_requests_get_json_errors(web: Site, api: Api) -> None:
    web.ingest(customer_mail())
    url = "/api/tickets/SUP-00001"
    raw = [
        ("application/json", b"{not json"),
        ("application/json", b"[1, 2]"),
        ("application/json", b"[" * 100_000),
        ("application/json", b"\xff\xfe\x00"),
        ("text/plain", b'{"status": "open"}'),
        ("application/x-www-form-urlencoded", b"status=open"),
    ]
    for content_type, data in raw:
        headers = api.headers | {"Content-Type": content_type}
        answer = web.client.request("PATCH", url, content=data, headers=headers)
        assert answer.status_code == 400 and answer.json()["error"], (content_type, data[:10])
    assert api.get("/api/nothing-here").status_code == 404
    wrong_method = web.client.delete(url, headers=api.headers)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]
    assert ticket(1).status == "new"


def test_a_lone_surrogate_is_a_json_400(web: Site, api: Api) -> None:
    web.ingest(customer_mail())
    requests = [
        ("POST", "/api/tickets", rb'{"requester": {"email": "gus@customer.test"}, "body": "x",'),
        ("PATCH", "/api/tickets/SUP-00001", rb'{"category": "Billing",'),
        ("POST", "/api/tickets/SUP-00001/messages", rb'{"note": true,'),
    ]
    for method, url, start in requests:
        for tail in (rb' "subject": "\ud800"}', rb' "\udfff": "x"}', rb' "text": "a\udc80b"}'):
            headers = api.headers | {"Content-Type": "application/json"}
            answer = web.client.request(method, url, content=start + tail, headers=headers)
            assert answer.status_code == 400, (url, tail, answer.text)
            assert answer.json()["errors"] == [answer.json()["error"]], answer.text
    assert Ticket.select().count() == 1 and Message.select().count() == 1
