"""The customer's answers on the status page: "Close my request", "Yes, it is solved"
and "No, it is not solved", through the real app (the test client), and the links of
the mail telling of a resolution, whose GET only asks. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.core.links import ticket_token
from maildesk.store.models import Agent, Event, Message, Outbox, Ticket
from maildesk.tickets import agents
from maildesk.web import actions
from tests.conversation import customer_mail
from tests.web_support import CSRF, Site, site

START = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, clock=lambda: START) as running:
        agents.add_agent(running.runtime.db, "ann@example.com", "Ann", "agent", None, START)
        running.ingest(customer_mail())
        yield running


def status_path(s: Site, number: int = 1) -> str:
    return f"/t/SUP-{number:05d}/{ticket_token(s.web.secret, number)}"


def ticket() -> Ticket:
    return Ticket.get(Ticket.number == 1)


def agent_says(s: Site, text: str, *commands: str) -> None:
    ann = Agent.get(Agent.email == "ann@example.com")
    actions.agent_mail(s.web, ann, ticket(), text, commands=commands)


def page_csrf(s: Site, path: str) -> str:
    found = CSRF.search(s.client.get(path).text)
    assert found, path
    return found.group(1)


def post(s: Site, path: str, data: dict[str, Any]) -> Any:
    return s.client.post(path, data=data, follow_redirects=False)


def logged(kind: str) -> list[Event]:
    return list(Event.select().where((Event.ticket == ticket()) & (Event.type == kind)))


def test_close_my_request(web: Site) -> None:
    agent_says(web, "Looking into it.", "#assign me")
    path = status_path(web)
    page = web.client.get(path)
    assert "Close my request" in page.text and "Yes, it is solved" not in page.text
    token = page_csrf(web, path)
    before = ticket().status
    assert before not in ("resolved", "closed")
    answer = post(web, path + "/close", {"csrf": token})
    assert answer.status_code == 303 and answer.headers["location"] == path + "?done=closed"
    assert ticket().status == "closed"
    [entry] = logged("closed_by_customer")
    assert entry.actor == "carl@customer.test"
    assert (
        entry.data == {"before": "in_progress", "after": "closed"}
        or entry.data["after"] == "closed"
    )
    assert Outbox.select().where(Outbox.purpose == "customer_decided").count() == 1
    shown = web.client.get(answer.headers["location"]).text
    assert "Your request is closed" in shown and "Close my request" not in shown
    # pressed again (a second tab): nothing more happens
    again = post(web, path + "/close", {"csrf": token})
    assert again.headers["location"] == path + "?done=unchanged"
    assert len(logged("closed_by_customer")) == 1


def test_confirm_and_not_solved_after_a_resolution(web: Site) -> None:
    agent_says(web, "Fixed.", "#assign me", "#status resolved")
    path = status_path(web)
    page = web.client.get(path).text
    assert "Yes, it is solved" in page and "No, it is not solved" in page
    assert "Close my request" not in page
    token = page_csrf(web, path)
    answer = post(web, path + "/reopen", {"csrf": token, "text": "It smokes again."})
    assert answer.headers["location"] == path + "?done=reopened"
    assert ticket().status == "open"
    [entry] = logged("reopened_by_customer")
    assert entry.actor == "carl@customer.test"
    last = Message.select().where(Message.ticket == ticket()).order_by(Message.id.desc()).get()
    assert last.kind == "customer" and last.body_text == "It smokes again."
    decided = Outbox.select().where(Outbox.purpose == "customer_decided").get()
    assert decided.recipients == ["ann@example.com"]
    # resolved again, then confirmed
    agent_says(web, "Now it is fixed.", "#status resolved")
    answer = post(web, path + "/confirm", {"csrf": token})
    assert answer.headers["location"] == path + "?done=closed"
    assert ticket().status == "closed" and len(logged("resolution_confirmed")) == 1


def test_a_link_from_mail_only_asks(web: Site) -> None:
    agent_says(web, "Fixed.", "#status resolved")
    path = status_path(web)
    for action, button in (("confirm", "Yes, it is solved"), ("reopen", "No, it is not solved")):
        page = web.client.get(f"{path}/{action}")
        assert page.status_code == 200 and button in page.text
        assert f'action="{path}/{action}"' in page.text
    assert ticket().status == "resolved"  # opening the links changed nothing
    assert not logged("resolution_confirmed") and not logged("reopened_by_customer")


def test_reopen_without_a_resolution_does_nothing(web: Site) -> None:
    path = status_path(web)
    page = web.client.get(path + "/reopen")
    assert "nothing to do" in page.text and "<textarea" not in page.text
    answer = post(web, path + "/reopen", {"csrf": page_csrf(web, path), "text": "hm"})
    assert answer.headers["location"] == path + "?done=unchanged"
    assert ticket().status == "new" and not logged("reopened_by_customer")


def test_bad_posts_are_refused(web: Site) -> None:
    path = status_path(web)
    assert post(web, path + "/close", {"csrf": "forged"}).status_code == 403
    tampered = path[:-4] + "0000"
    assert post(web, tampered + "/close", {"csrf": "x"}).status_code == 404
    assert web.client.get(tampered + "/confirm").status_code == 404
    assert ticket().status == "new"
