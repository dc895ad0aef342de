"""Split and linked tickets on the web and through the API: "Split from here" on the
ticket page, the linked-tickets card and its controls, the reply box's "also send to
the linked tickets", and the API's `links`, link/unlink endpoints and `reply_linked`.

On SQLite and PostgreSQL. The mail way in is in test_links.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.store.models import Message, Outbox, Ticket
from tests.api_support import bearer, described, two_desks
from tests.conversation import customer_mail
from tests.web_support import Site, site

CARL = "Carl Customer <carl@customer.test>"
DORA = "Dora Customer <dora@customer.test>"


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url) as running:
        running.add_agent("ann@example.com", "Ann")
        assert running.sign_in("ann@example.com").status_code == 303
        yield running


def ticket_row(label: str) -> Ticket:
    return Ticket.get(Ticket.number == int(label.split("-")[1]))


def bodies(label: str) -> list[str]:
    query = Message.select().where(Message.ticket == ticket_row(label)).order_by(Message.id)
    return [m.body_text.strip() for m in query]


def ingest(web: Site, raw: bytes) -> str:
    outcome = web.runtime.ingest(raw, source="test")
    assert outcome.ticket is not None, outcome
    return outcome.ticket


def page(web: Site, label: str) -> str:
    answer = web.client.get(f"/tickets/{label}")
    assert answer.status_code == 200
    return str(answer.text)


def update(web: Site, label: str, **fields: object) -> Any:
    return web.post(f"/tickets/{label}/update", fields, form_page=f"/tickets/{label}")


def three_messages(web: Site) -> list[int]:
    label = ingest(web, customer_mail(CARL, subject="Printer on fire"))
    for body in ("Also the scanner.", "And the fax."):
        mail = customer_mail(CARL, subject=f"Re: [{label}] Printer on fire", body=body)
        assert ingest(web, mail) == label
    query = Message.select().where(Message.ticket == ticket_row(label)).order_by(Message.id)
    return [m.id for m in query]


def test_split_from_here_moves_the_message_and_those_ticked(web: Site) -> None:
    first, second, third = three_messages(web)
    shown = page(web, "SUP-00001")
    assert "Split from here" in shown and f'name="take" value="{third}"' in shown

    assert web.client.post("/tickets/SUP-00001/split", data={"from": second}).status_code == 403
    earlier = web.post(
        "/tickets/SUP-00001/split", {"from": second, "take": [first]}, "/tickets/SUP-00001"
    )
    assert earlier.status_code == 422 and "only later messages" in earlier.text

    answer = web.post("/tickets/SUP-00001/split", {"from": second}, "/tickets/SUP-00001")
    assert answer.status_code == 303 and answer.headers["location"] == "/tickets/SUP-00002"
    assert bodies("SUP-00002") == ["Also the scanner."]  # the fax was not ticked: it stays
    assert bodies("SUP-00001")[1:] == ["And the fax."]
    new = ticket_row("SUP-00002")
    assert new.requester_id == ticket_row("SUP-00001").requester_id and new.status == "open"
    assert 'href="/tickets/SUP-00001"' in page(web, "SUP-00002")
    assert 'href="/tickets/SUP-00002"' in page(web, "SUP-00001")
    assert "split into" in page(web, "SUP-00001")  # the event log


def test_split_of_every_message_is_refused(web: Site) -> None:
    first, second, third = three_messages(web)
    answer = web.post(
        "/tickets/SUP-00001/split",
        {"from": first, "take": [second, third]},
        "/tickets/SUP-00001",
    )
    assert answer.status_code == 422 and "nothing would be left" in answer.text
    assert Ticket.select().count() == 1


def test_links_show_on_both_pages_and_unlink(web: Site) -> None:
    ingest(web, customer_mail(CARL, subject="Printer on fire"))
    ingest(web, customer_mail(DORA, subject="Printers down"))
    assert update(web, "SUP-00001", link="SUP-00002").status_code == 303
    for here, there, subject in (
        ("SUP-00001", "SUP-00002", "Printers down"),
        ("SUP-00002", "SUP-00001", "Printer on fire"),
    ):
        shown = page(web, here)
        assert f'<a href="/tickets/{there}">{there}</a> {subject}' in shown
    refused = update(web, "SUP-00001", link="SUP-00001")
    assert refused.status_code == 422 and "that is this ticket" in refused.text
    assert update(web, "SUP-00002", unlink="SUP-00001").status_code == 303
    assert 'href="/tickets/SUP-00002"' not in page(web, "SUP-00001")


def test_the_reply_box_also_sends_to_the_incidents_tickets(web: Site) -> None:
    ingest(web, customer_mail(CARL, subject="Mail is down"))
    ingest(web, customer_mail(DORA, subject="Cannot send"))
    assert "linked ticket" not in page(web, "SUP-00001")
    assert update(web, "SUP-00002", link="SUP-00001", link_as="incident").status_code == 303
    assert "Also send to the 1 linked ticket of this incident" in page(web, "SUP-00001")
    answer = web.post(
        "/tickets/SUP-00001/reply",
        {"text": "Mail works again.", "kind": "reply", "reply_linked": "1"},
        "/tickets/SUP-00001",
    )
    assert answer.status_code == 303
    assert bodies("SUP-00002")[-1] == "Mail works again."
    sent = Outbox.select().where(
        (Outbox.ticket == ticket_row("SUP-00002")) & (Outbox.purpose == "agent_reply")
    )
    assert [row.recipients for row in sent] == [["dora@customer.test"]]


# -- the API ------------------------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with two_desks(tmp_path, database_url) as running:
        running.ingest(customer_mail(CARL, subject="Mail is down for everyone"))  # SUP-00003
        yield running


def test_api_links_unlinks_and_replies_to_linked_tickets(api: Site) -> None:
    ann = bearer(api, "ann@example.com")
    path = "/api/tickets/SUP-00001/links"
    made = api.client.post(path, json={"ticket": "SUP-00003", "relation": "incident"}, headers=ann)
    assert made.status_code == 201, made.text
    assert [(x["ticket"], x["relation"]) for x in made.json()["links"]] == [("SUP-00003", "parent")]
    incident = api.client.get("/api/tickets/SUP-00003", headers=ann).json()
    assert [(x["ticket"], x["relation"]) for x in incident["links"]] == [("SUP-00001", "child")]

    reply = {"text": "Mail is back.", "reply_linked": True}
    sent = api.client.post("/api/tickets/SUP-00003/messages", json=reply, headers=ann)
    assert sent.status_code == 201, sent.text
    child = api.client.get("/api/tickets/SUP-00001", headers=ann).json()
    assert child["messages"][-1]["body_text"] == "Mail is back."
    assert [m["to"] for m in child["mail"] if m["purpose"] == "agent_reply"] == [
        ["carl@customer.test"]
    ]

    gone = api.client.delete(f"{path}/SUP-00003", headers=ann)
    assert gone.status_code == 200 and gone.json()["links"] == []
    again = api.client.delete(f"{path}/SUP-00003", headers=ann)
    assert again.status_code == 422 and "not linked" in again.json()["error"]


def test_api_never_links_across_desks(api: Site) -> None:
    root = bearer(api, "root@example.com")  # an admin sees every desk, yet cannot link them
    answer = api.client.post("/api/tickets/SUP-00001/links", json={"ticket": "2"}, headers=root)
    assert answer.status_code == 422 and "no such ticket" in answer.json()["error"]
    assert "Secret invoice" not in answer.text
    bill = bearer(api, "bill@example.com")  # billing's agent does not see SUP-00001 at all
    hidden = api.client.post("/api/tickets/SUP-00001/links", json={"ticket": "2"}, headers=bill)
    assert hidden.status_code == 404
    bad = api.client.post(
        "/api/tickets/SUP-00001/links", json={"ticket": "SUP-3", "relation": "x"}, headers=root
    )
    assert bad.status_code == 400


def test_api_describes_the_link_routes(api: Site) -> None:
    paths = described(api)["paths"]
    assert "post" in paths["/api/tickets/{label}/links"]
    assert "delete" in paths["/api/tickets/{label}/links/{other}"]
