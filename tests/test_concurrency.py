"""Concurrency on one database (SQLite and PostgreSQL): two `maildesk ingest` processes
at once store every message once, with unique, gapless ticket numbers; changes to one
ticket at once each start from what the one before wrote."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest

from maildesk.store.models import Event, Ticket
from maildesk.tickets import agents
from maildesk.web import app as web_app
from tests.conftest import Install
from tests.conversation import customer_mail
from tests.test_ingest import mail
from tests.web_support import site

PER_PROCESS = 25


def test_two_processes_ingesting_at_once(desk: Install, tmp_path: Path) -> None:
    assert desk.run("db", "upgrade").exit_code == 0
    folders = []
    for worker in ("a", "b"):
        folder = tmp_path / worker
        folder.mkdir()
        for i in range(PER_PROCESS):
            raw = mail(
                sender=f"{worker}{i}@customer.example",
                subject=f"{worker} {i}",
                message_id=f"<{worker}{i}@customer.example>",
            )
            (folder / f"{i:03d}.eml").write_bytes(raw)
        # The same message reaches both processes: it must be stored once.
        (folder / "shared.eml").write_bytes(mail(message_id="<shared@x.example>"))
        folders.append(folder)
    lines = desk.ingest_at_once(*folders)
    assert len(lines) == 2 * (PER_PROCESS + 1)
    created = [x["ticket"] for x in lines if x["action"] == "created"]
    assert sorted(x["action"] for x in lines if x["message_id"] == "<shared@x.example>") == [
        "created",
        "duplicate",
    ]
    assert len(created) == 2 * PER_PROCESS + 1
    assert len(set(created)) == len(created)  # unique numbers
    numbers = sorted(int(t.split("-")[1]) for t in created)
    assert numbers == list(range(1, len(created) + 1))
    tickets = desk.json("tickets", "list", "--limit", "1000")
    assert len(tickets) == len(created)


PRIORITY_CHANGES = 18
CHANGE_THREADS = 6


def test_concurrent_priority_changes_link_up(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Priority changes to one ticket at once, each request in a database thread of its
    own (its own connection), through the JSON API: every `before` is the `after` of
    the change before it, and the last `after` is the ticket's priority."""
    monkeypatch.setattr(web_app, "WEB_THREADS", CHANGE_THREADS)
    with site(tmp_path, database_url) as s:
        agents.add_agent(s.runtime.db, "ann@example.com", "Ann", "agent", None, s.runtime.clock())
        token = agents.create_token(s.runtime.db, "ann@example.com", "test", s.runtime.clock())
        s.ingest(customer_mail())
        headers = {"Authorization": f"Bearer {token}"}
        wanted = [("high", "low", "urgent")[i % 3] for i in range(PRIORITY_CHANGES)]

        def change(priority: str) -> int:
            answer = s.client.patch(
                "/api/tickets/SUP-00001", json={"priority": priority}, headers=headers
            )
            return int(answer.status_code)

        with ThreadPoolExecutor(CHANGE_THREADS) as pool:
            assert list(pool.map(change, wanted)) == [200] * PRIORITY_CHANGES
        events = list(Event.select().where(Event.type == "priority_changed").order_by(Event.id))
        ticket = Ticket.get(Ticket.number == 1)
    assert events, "no priority change recorded"
    chain = [(e.data["before"], e.data["after"]) for e in events]
    assert chain[0][0] == "medium"
    for (_, after), (before, _) in pairwise(chain):
        assert before == after, chain
    assert chain[-1][1] == ticket.priority
