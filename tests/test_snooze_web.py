"""Snooze and reminders on the web (the ticket page's snooze card, the queue's
"snoozed" view) and through the API (POST /api/tickets/{label}/snooze and
/reminders, GET /api/tickets?snoozed=), with the jobs run by `sla scan --now`. Through
the real app and a real database (SQLite and PostgreSQL), on a fixed clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.store.models import Outbox, Reminder, Ticket
from maildesk.tickets import agents
from tests.api_support import check_answer, described
from tests.conversation import customer_mail
from tests.web_support import Site, site

NOW = dt.datetime(2025, 11, 24, 9, 0, tzinfo=dt.UTC)  # 10:00 in Berlin
CONFIG = '[sla]\ntimezone = "Europe/Berlin"\nbusiness_hours = ["24/7"]\n'
LABEL = "SUP-00001"


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, extra=CONFIG, clock=lambda: NOW) as running:
        running.add_agent("ann@example.com", "Ann")
        running.add_agent("bob@example.com", "Bob")
        running.ingest(customer_mail(subject="Printer on fire"))
        yield running


def update(web: Site, **fields: object) -> Any:
    return web.post(f"/tickets/{LABEL}/update", fields, form_page=f"/tickets/{LABEL}")


def queue_labels(web: Site, query: str = "") -> list[str]:
    page = web.client.get(f"/{query}")
    assert page.status_code == 200, page.text
    return sorted(set(part.split('"')[0] for part in page.text.split('data-ticket="')[1:]))


def snoozed_until() -> dt.datetime | None:
    value: dt.datetime | None = Ticket.get(Ticket.number == 1).snoozed_until
    return value


def test_the_snooze_card_hides_the_ticket_until_its_time(web: Site) -> None:
    web.sign_in("ann@example.com")
    assert queue_labels(web) == [LABEL]
    assert update(web, snooze="1d").status_code == 303
    assert snoozed_until() == NOW + dt.timedelta(days=1)
    assert queue_labels(web) == []
    assert queue_labels(web, "?status=snoozed") == [LABEL]
    assert "until 2025-11-25 09:00 UTC" in web.client.get("/?status=snoozed").text
    assert "Snoozed until" in web.client.get(f"/tickets/{LABEL}").text
    # a date and time of the picker, in the desk's time zone, wins over a quick choice
    assert update(web, snooze="1h", snooze_until="2025-12-01T08:30").status_code == 303
    assert snoozed_until() == dt.datetime(2025, 12, 1, 7, 30, tzinfo=dt.UTC)
    # a time that has passed is refused, and nothing changes
    refused = update(web, snooze_until="2025-11-20T08:30")
    assert refused.status_code == 422 and "has passed" in refused.text
    assert snoozed_until() == dt.datetime(2025, 12, 1, 7, 30, tzinfo=dt.UTC)
    # the jobs wake it at its time and tell the agents on duty (nobody is assigned)
    scan = web.cli("sla", "scan", "--now", "2025-12-01T08:30:00+01:00")
    assert scan.exit_code == 0 and "1 woken" in scan.stdout, scan.output
    told = Outbox.select().where(Outbox.purpose == "snooze_ended")
    assert sorted(row.recipients[0] for row in told) == ["ann@example.com", "bob@example.com"]
    assert queue_labels(web) == [LABEL] and queue_labels(web, "?status=snoozed") == []


def test_wake_it_now(web: Site) -> None:
    web.sign_in("ann@example.com")
    update(web, snooze="3d")
    assert "wake it now" in web.client.get(f"/tickets/{LABEL}").text
    assert update(web, snooze="none").status_code == 303
    assert snoozed_until() is None and queue_labels(web) == [LABEL]


def test_reminders_from_the_ticket_page(web: Site) -> None:
    web.sign_in("bob@example.com")
    assert update(web, remind_at="2h", remind_text="call Carl back").status_code == 303
    page = web.client.get(f"/tickets/{LABEL}").text
    assert "call Carl back" in page and "bob@example.com" in page
    (row,) = Reminder.select()
    assert row.due_at == NOW + dt.timedelta(hours=2) and row.sent_at is None
    refused = update(web, remind_at="", remind_text="no time")
    assert refused.status_code == 422 and "needs a time" in refused.text
    assert Reminder.select().count() == 1
    scan = web.cli("sla", "scan", "--now", "2025-11-24T13:00:00+01:00")
    assert "1 reminders" in scan.stdout, scan.output
    (mail,) = Outbox.select().where(Outbox.purpose == "reminder")
    assert mail.recipients == ["bob@example.com"]
    assert "(sent)" in web.client.get(f"/tickets/{LABEL}").text


class Api:
    def __init__(self, web: Site) -> None:
        token = agents.create_token(web.runtime.db, "ann@example.com", "test", NOW)
        self.web = web
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.web.client.get(path, params=params, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.web.client.post(path, json=body, headers=self.headers)


def test_the_api_snoozes_and_sets_reminders(web: Site) -> None:
    api = Api(web)
    document = described(web)
    path = "/api/tickets/{label}/snooze"
    answer = api.post(f"/api/tickets/{LABEL}/snooze", {"until": "2025-11-26 09:00"})
    assert answer.status_code == 200, answer.text
    body = check_answer(document, path, "post", answer)
    assert body["snoozed_until"] == "2025-11-26T08:00:00+00:00"
    assert [t["number"] for t in api.get("/api/tickets", snoozed="true").json()["tickets"]] == [
        LABEL
    ]
    assert api.get("/api/tickets", snoozed="false").json()["tickets"] == []
    assert api.get("/api/tickets", snoozed="maybe").status_code == 400
    answer = api.post(f"/api/tickets/{LABEL}/reminders", {"at": "1d", "text": "chase it"})
    assert answer.status_code == 201, answer.text
    body = check_answer(document, "/api/tickets/{label}/reminders", "post", answer)
    (reminder,) = body["reminders"]
    assert (reminder["agent"], reminder["due_at"], reminder["text"]) == (
        "ann@example.com",
        "2025-11-25T09:00:00+00:00",
        "chase it",
    )
    for route, bad in (
        ("snooze", {"until": "soon"}),
        ("snooze", {"until": "2025-11-01"}),
        ("reminders", {"at": "2h", "text": "two\n#close"}),
        ("reminders", {"at": "tomorrow", "text": "x"}),
    ):
        refused = api.post(f"/api/tickets/{LABEL}/{route}", bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["errors"]
    assert api.post(f"/api/tickets/{LABEL}/snooze", {"bogus": 1}).status_code == 400
    assert Reminder.select().count() == 1
    answer = api.post(f"/api/tickets/{LABEL}/snooze", {"until": None})
    assert answer.status_code == 200 and answer.json()["snoozed_until"] is None
    types = [e["type"] for e in answer.json()["events"]]
    assert types.count("snoozed") == 1 and types.count("unsnoozed") == 1


def test_the_daemons_pass_runs_them_too(web: Site) -> None:
    """`Jobs.run`, what the daemon's scheduler calls every `[sla] scan_interval`."""
    from maildesk.jobs.runner import Jobs

    api = Api(web)
    assert api.post(f"/api/tickets/{LABEL}/snooze", {"until": "1h"}).status_code == 200
    assert api.post(f"/api/tickets/{LABEL}/reminders", {"at": "1h", "text": "x"}).status_code == 201
    jobs = Jobs(web.runtime.desk)
    assert jobs.run(NOW + dt.timedelta(minutes=59))["woken"] == 0
    done = jobs.run(NOW + dt.timedelta(hours=1))
    assert (done["woken"], done["reminders"]) == (1, 1)
    again = jobs.run(NOW + dt.timedelta(hours=2))
    assert (again["woken"], again["reminders"]) == (0, 0)
