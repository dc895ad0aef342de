"""POST /api/tickets/bulk and GET /api/tickets/{label}/events: each ticket changed as
PATCH changes one, the log read back a page at a time, and nothing of another desk
touched or shown.

Through the real app and a real database (SQLite and PostgreSQL); every answer is held
to the schema /api/openapi.json publishes for it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.store.models import ApiToken, Event, Outbox, Ticket
from tests.api_support import bearer, check_answer, described, model_validator, two_desks
from tests.conversation import customer_mail
from tests.web_support import Site

BULK = "/api/tickets/bulk"
EVENTS = "/api/tickets/{label}/events"


@pytest.fixture
def two(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with two_desks(tmp_path, database_url) as running:
        running.ingest(customer_mail("erin@customer.test", subject="Password reset"))  # 3
        yield running


def ticket(number: int) -> Ticket:
    return Ticket.get(Ticket.number == number)


def test_bulk_changes_each_ticket_as_patch_does(two: Site) -> None:
    document = described(two)
    ann = bearer(two, "ann@example.com")
    change = {"status": "in progress", "assignee": "bob@example.com", "tags_add": ["batch"]}
    refused = two.client.post(BULK, json={"tickets": ["SUP-00001"], "changes": change}, headers=ann)
    assert refused.status_code == 200  # Bob is no agent here: refused per ticket
    assert check_answer(document, BULK, "post", refused) == {
        "changed": 0,
        "results": [
            {
                "ticket": "SUP-00001",
                "ok": False,
                "errors": [refused.json()["results"][0]["errors"][0]],
            }
        ],
    }
    assert "bob@example.com" in refused.json()["results"][0]["errors"][0]
    assert ticket(1).status == "new"

    change["assignee"] = "me"
    body = {"tickets": ["SUP-00001", "3"], "changes": change}
    answer = two.client.post(BULK, json=body, headers=ann)
    assert answer.status_code == 200, answer.text
    assert check_answer(document, BULK, "post", answer) == {
        "changed": 2,
        "results": [
            {"ticket": "SUP-00001", "ok": True, "errors": []},
            {"ticket": "SUP-00003", "ok": True, "errors": []},
        ],
    }
    for number in (1, 3):
        changed = ticket(number)
        assert (changed.status, changed.assignee.email) == ("in_progress", "ann@example.com")
        kinds = {e.type: e.actor for e in Event.select().where(Event.ticket == changed)}
        assert kinds["status_changed"] == kinds["assigned"] == "ann@example.com"
        assert kinds["tags_changed"] == "ann@example.com"
    # As PATCH would: the same ticket document afterwards.
    shown = two.client.get("/api/tickets/SUP-00003", headers=ann).json()
    assert (shown["status"], shown["assignee"], shown["tags"]) == (
        "in_progress",
        "ann@example.com",
        ["batch"],
    )

    resolved = two.client.post(
        BULK, json={"tickets": ["1", "SUP-00001"], "changes": {"status": "resolved"}}, headers=ann
    )
    results = check_answer(document, BULK, "post", resolved)["results"]
    assert [r["ok"] for r in results] == [True, False] and "more than once" in results[1]["errors"][
        0
    ]
    assert (
        Outbox.select()
        .where((Outbox.purpose == "resolved") & (Outbox.ticket == ticket(1).id))
        .count()
        == 1
    )


def test_bulk_never_touches_what_the_agent_does_not_see(two: Site) -> None:
    document = described(two)
    for who in ("ann@example.com", "mia@example.com"):  # an agent, a manager: support only
        body = {
            "tickets": ["BIL-00002", "2", "SUP-00001", "SUP-99999", "nonsense"],
            "changes": {"priority": "urgent", "status": "closed"},
        }
        answer = two.client.post(BULK, json=body, headers=bearer(two, who))
        results = check_answer(document, BULK, "post", answer)["results"]
        assert [(r["ticket"], r["ok"]) for r in results] == [
            ("BIL-00002", False),
            ("2", False),
            ("SUP-00001", True),
            ("SUP-99999", False),
            ("nonsense", False),
        ]
        # Another desk's ticket answers exactly as one that does not exist.
        assert results[0]["errors"] == results[1]["errors"] == results[3]["errors"]
        assert "invoice" not in answer.text.lower() and "Billing" not in answer.text
        assert (ticket(2).priority, ticket(2).status) != ("urgent", "closed")
        assert (
            Event.select().where((Event.ticket == ticket(2).id) & (Event.actor == who)).count() == 0
        )
        assert two.client.patch(
            "/api/tickets/SUP-00001", json={"status": "open"}, headers=bearer(two, who)
        ).is_success
    bill = bearer(two, "bill@example.com")
    answer = two.client.post(
        BULK, json={"tickets": ["BIL-00002"], "changes": {"priority": "high"}}, headers=bill
    )
    assert answer.json()["changed"] == 1 and ticket(2).priority == "high"


def test_bulk_bodies_and_tokens_are_checked(two: Site) -> None:
    document = described(two)
    shape = model_validator(document, "BulkChange")
    ann = bearer(two, "ann@example.com")
    many = [f"SUP-{n:05d}" for n in range(1, 102)]
    bad = [
        {"tickets": many, "changes": {"priority": "high"}},
        {"tickets": [], "changes": {"priority": "high"}},
        {"tickets": ["SUP-00001"]},
        {"tickets": ["SUP-00001"], "changes": {}},
        {"tickets": ["SUP-00001"], "changes": {"owner": "me"}},
        {"tickets": "SUP-00001", "changes": {"priority": "high"}},
        {"tickets": [1], "changes": {"priority": "high"}},
        {"tickets": ["SUP-00001"], "changes": {"priority": "high"}, "dry_run": True},
    ]
    for body in bad:
        answer = two.client.post(BULK, json=body, headers=ann)
        assert answer.status_code == 400, body
        assert not shape.is_valid(body), body
        check_answer(document, BULK, "post", answer)
    too_many = two.client.post(BULK, json=bad[0], headers=ann).json()["error"]
    assert too_many == "tickets: at most 100 tickets at once (not 101)"
    for content_type, raw in (("application/json", b"{not json"), ("text/plain", b"{}")):
        headers = ann | {"Content-Type": content_type}
        assert two.client.post(BULK, content=raw, headers=headers).status_code == 400
    # A value no command line can hold refuses the whole request, before any ticket.
    smuggled = {"tickets": ["SUP-00001"], "changes": {"status": "open\n#merge SUP-00003"}}
    answer = two.client.post(BULK, json=smuggled, headers=ann)
    assert answer.status_code == 422 and check_answer(document, BULK, "post", answer)["errors"]

    ok = {"tickets": ["SUP-00001"], "changes": {"priority": "high"}}
    revoked = bearer(two, "ann@example.com")
    row = ApiToken.select().order_by(ApiToken.id.desc()).get()
    assert two.cli("agents", "tokens", "--revoke", str(row.id)).exit_code == 0
    for headers in (
        {},
        revoked,
        {"Authorization": "Bearer mdk_" + "x" * 43},
        {"Authorization": "Basic eDp5"},
    ):
        answer = two.client.post(BULK, json=ok, headers=headers)
        assert answer.status_code == 401, headers
        check_answer(document, BULK, "post", answer)
    assert ticket(1).priority != "high" and ticket(1).status == "new"


def test_events_are_read_a_page_at_a_time_oldest_first(two: Site) -> None:
    document = described(two)
    ann = bearer(two, "ann@example.com")
    for change in (
        {"priority": "high"},
        {"status": "open"},
        {"assignee": "me"},
        {"tags_add": ["x"]},
    ):
        assert two.client.patch("/api/tickets/SUP-00001", json=change, headers=ann).is_success
    path = "/api/tickets/SUP-00001/events"
    whole = check_answer(document, EVENTS, "get", two.client.get(path, headers=ann))
    assert whole["ticket"] == "SUP-00001" and whole["next_after"] is None
    ids = [e["id"] for e in whole["events"]]
    assert ids == sorted(ids) and len(ids) >= 6
    shown = json.loads(two.cli("tickets", "show", "--json", "SUP-00001").stdout)["events"]
    assert [{k: v for k, v in e.items() if k != "id"} for e in whole["events"]] == shown
    assert {"priority_changed", "status_changed", "assigned", "tags_changed"} <= {
        e["type"] for e in whole["events"] if e["actor"] == "ann@example.com"
    }

    paged, after = [], 0
    for _ in range(len(ids)):  # bounded: at least one event a page
        page = two.client.get(path, params={"limit": 2, "after": after}, headers=ann)
        page_body = check_answer(document, EVENTS, "get", page)
        paged += page_body["events"]
        if page_body["next_after"] is None:
            break
        after = page_body["next_after"]
    assert paged == whole["events"]
    last = two.client.get(path, params={"after": ids[-1]}, headers=ann).json()
    assert last["events"] == [] and last["next_after"] is None

    for params in (
        {"limit": "0"},
        {"limit": "201"},
        {"after": "-1"},
        {"after": "x"},
        {"page": "2"},
    ):
        answer = two.client.get(path, params=params, headers=ann)
        assert answer.status_code == 400, params
        check_answer(document, EVENTS, "get", answer)
    for label in ("BIL-00002", "2", "SUP-99999", "nonsense"):
        answer = two.client.get(f"/api/tickets/{label}/events", headers=ann)
        assert answer.status_code == 404 and "invoice" not in answer.text.lower(), label
        check_answer(document, EVENTS, "get", answer)
    assert two.client.get(path).status_code == 401
    bill = two.client.get("/api/tickets/BIL-00002/events", headers=bearer(two, "bill@example.com"))
    assert bill.status_code == 200 and bill.json()["events"][0]["type"] == "created"
