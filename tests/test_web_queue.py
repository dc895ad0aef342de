"""The agents' queue (GET /) and its bulk changes (POST /bulk): filters, search, sorting,
pagination, bad input, and changes made through the mail pipeline.

Through the real app on a real database (SQLite and PostgreSQL); tickets come in as
mail, and the times the SLA pass would set are written into the database."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee
import pytest

from maildesk.settings.desks import DeskProfile, Desks
from maildesk.store.models import Agent, Event, Outbox, Ticket, TicketTag
from maildesk.tickets.labels import Labels
from maildesk.web import listing
from tests.conversation import customer_mail
from tests.web_support import Site, site

PAGE_SIZE = 5
CONFIG = f"""
[web]
port = 0
page_size = {PAGE_SIZE}

[[category]]
name = "Hardware"
"""
ROW = re.compile(r'<a href="/tickets/(SUP-\d{5})">')


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, CONFIG) as running:
        running.add_agent("ann@example.com", "Ann")
        # Bob never signs in: his row is all the queue needs (the CLI costs a second).
        Agent.create(email="bob@example.com", name="Bob", created_at=dt.datetime.now(dt.UTC))
        yield running


def mail_in(web: Site, subject: str, sender: str = "", body: str = "Hello.") -> Ticket:
    """A new ticket from a customer's mail (each from their own address by default)."""
    count = Ticket.select().count()
    frm = sender or f"Customer {count + 1} <c{count + 1}@customer.test>"
    web.ingest(customer_mail(frm=frm, subject=subject, body=body))
    ticket = Ticket.select().order_by(Ticket.id.desc()).get()
    assert ticket.subject == subject
    return ticket


def change(ticket: Ticket, **fields: Any) -> None:
    Ticket.update(**fields).where(Ticket.id == ticket.id).execute()


def label(ticket: Ticket) -> str:
    return f"SUP-{ticket.number:05d}"


def shown(web: Site, query: str = "") -> list[str]:
    """The ticket labels the queue lists for `query`, in order."""
    response = web.client.get(f"/?{query}", follow_redirects=False)
    assert response.status_code == 200, response.text
    return ROW.findall(response.text)


def agent_id(email: str) -> int:
    return Agent.get(Agent.email == email).id


def signed_in(web: Site, email: str = "ann@example.com") -> Site:
    assert web.sign_in(email).status_code == 303
    return web


# -- the default view and the filters ----------------------------------------------------


def test_the_queue_needs_a_session(web: Site) -> None:
    response = web.client.get("/?status=all&sort=created", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/%3Fstatus%3Dall%26sort%3Dcreated"
    bulk = web.client.post("/bulk", data={"ticket": "1"}, follow_redirects=False)
    assert bulk.status_code == 303 and bulk.headers["location"] == "/login?next=/bulk"


def test_the_default_view_lists_open_tickets_only(web: Site) -> None:
    new = mail_in(web, "New one", "Nina Newman <nina@customer.test>")
    working = mail_in(web, "Being worked on")
    waiting = mail_in(web, "Waiting for the customer")
    resolved = mail_in(web, "Resolved one")
    closed = mail_in(web, "Closed one")
    merged = mail_in(web, "Merged one")
    change(working, status="in_progress")
    change(waiting, status="waiting_on_customer")
    change(resolved, status="resolved")
    change(closed, status="closed")
    change(merged, status="open", merged_into=new.id)
    signed_in(web)

    page = web.client.get("/")
    assert set(ROW.findall(page.text)) == {label(new), label(working), label(waiting)}
    assert "Open tickets" in page.text and "3 tickets" in page.text
    assert "Nina Newman" in page.text and "nina@customer.test" in page.text
    assert '<span class="muted">unassigned</span>' in page.text
    assert 'class="badge status-new" href="/?status=new"' in page.text
    assert "<time" in page.text and "&lt;1m</time>" in page.text  # age, humanised
    assert 'class="badge ok"' in page.text and "first response in" in page.text  # SLA badge
    assert f'name="ticket" value="{new.id}"' in page.text
    assert set(shown(web, "status=all")) == {
        label(t) for t in (new, working, waiting, resolved, closed)
    }
    assert shown(web, "status=resolved") == [label(resolved)]
    assert shown(web, "status=closed") == [label(closed)]
    assert shown(web, "status=in_progress") == [label(working)]


def test_filters(web: Site) -> None:
    printer = mail_in(web, "Printer jams")
    invoice = mail_in(web, "Invoice wrong")
    login = mail_in(web, "Cannot log in")
    other = mail_in(web, "Something else")
    change(printer, priority="urgent", category="Hardware", assignee=agent_id("ann@example.com"))
    change(invoice, priority="low", category="Billing", assignee=agent_id("bob@example.com"))
    change(login, priority="urgent")
    TicketTag.create(ticket=printer.id, tag="vip")
    TicketTag.create(ticket=login.id, tag="vip")
    signed_in(web)

    assert set(shown(web, "priority=urgent")) == {label(printer), label(login)}
    assert shown(web, "category=Billing") == [label(invoice)]
    assert shown(web, "assignee=mine") == [label(printer)]
    assert shown(web, "assignee=bob@example.com") == [label(invoice)]
    assert set(shown(web, "assignee=unassigned")) == {label(login), label(other)}
    assert set(shown(web, "tag=vip")) == {label(printer), label(login)}
    assert shown(web, "tag=VIP&priority=urgent&assignee=unassigned") == [label(login)]
    assert shown(web, "priority=urgent&category=Billing") == []

    page = web.client.get("/?tag=vip&priority=urgent")
    assert 'href="/?tag=vip" aria-label="remove the priority filter"' in page.text
    assert 'href="/?priority=urgent" aria-label="remove the tag filter"' in page.text
    # categories: the configured one and those in use
    assert '<option value="Hardware">' in page.text and '<option value="Billing">' in page.text
    mine = web.client.get("/?assignee=mine")
    assert '<a href="/?assignee=mine" aria-current="page">Mine</a>' in mine.text


def test_sla_filters_read_the_stored_due_times(web: Site) -> None:
    late = mail_in(web, "Overdue")
    close_call = mail_in(web, "Nearly due")
    relaxed = mail_in(web, "Plenty of time")
    answered = mail_in(web, "Answered, resolution late")
    hour, now = dt.timedelta(hours=1), dt.datetime.now(dt.UTC)
    change(late, first_response_due=now - hour, first_response_warn_at=now - 2 * hour)
    change(close_call, first_response_due=now + hour, first_response_warn_at=now - hour)
    change(relaxed, first_response_due=now + 9 * hour, first_response_warn_at=now + 8 * hour)
    change(
        answered,
        first_response_at=now - 5 * hour,
        first_response_due=now - 6 * hour,
        resolution_due=now - hour,
    )
    signed_in(web)

    assert set(shown(web, "sla=breached")) == {label(late), label(answered)}
    assert shown(web, "sla=at_risk") == [label(close_call)]
    page = web.client.get("/?sla=at_risk").text
    assert 'class="badge risk"' in page and "first response in" in page
    overdue = web.client.get("/?sla=breached").text
    assert (
        'class="badge breached"' in overdue
        and "resolution 1h" in overdue
        and "m overdue" in overdue
    )


# -- search ---------------------------------------------------------------------------


def test_search(web: Site) -> None:
    toaster = mail_in(web, "Kitchen trouble", body="The toaster smokes since Monday.")
    mail_in(web, "Other trouble", body="The kettle is cold.")
    paula = mail_in(web, "Hello", "Paula <paula@far.test>", body="Nothing special.")
    signed_in(web)

    assert shown(web, "q=toaster") == [label(toaster)]
    assert shown(web, "q=paula%40far.test") == [label(paula)]
    assert shown(web, "q=toaster+kettle") == []  # every word must match
    jump = web.client.get(f"/?q={label(toaster)}", follow_redirects=False)
    assert jump.status_code == 303 and jump.headers["location"] == f"/tickets/{label(toaster)}"
    hashed = web.client.get(f"/?q=%23{paula.number}", follow_redirects=False)
    assert hashed.headers["location"] == f"/tickets/{label(paula)}"
    assert shown(web, "q=SUP-09999") == []  # no such ticket: searched for instead


# -- sorting and pages ------------------------------------------------------------------


def test_sort_orders(web: Site) -> None:
    first = mail_in(web, "First")
    second = mail_in(web, "Second")
    third = mail_in(web, "Third")
    day, now = dt.timedelta(days=1), dt.datetime.now(dt.UTC)
    change(first, created_at=now - 3 * day, updated_at=now, priority="low")
    change(second, created_at=now - 2 * day, updated_at=now - 2 * day, priority="urgent")
    change(third, created_at=now - day, updated_at=now - day, priority="medium")
    for ticket, due in ((first, now + day), (second, None), (third, now + dt.timedelta(hours=1))):
        change(ticket, first_response_due=due, resolution_due=None)
    signed_in(web)
    one, two, three = label(first), label(second), label(third)

    assert shown(web) == [one, three, two]  # most recently updated first
    assert shown(web, "sort=created") == [three, two, one]
    assert shown(web, "sort=created&dir=asc") == [one, two, three]
    assert shown(web, "sort=priority") == [two, three, one]
    assert shown(web, "sort=priority&dir=asc") == [one, three, two]
    assert shown(web, "sort=due") == [three, one, two]  # soonest first, none last
    assert shown(web, "sort=due&dir=desc") == [one, three, two]  # none still last
    page = web.client.get("/?sort=created").text
    assert 'href="/?sort=created&amp;dir=asc">Age</a> ↓' in page  # click again: flip


def test_pages(web: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    tickets = [mail_in(web, f"Ticket {n}") for n in range(7)]
    now = dt.datetime.now(dt.UTC)
    for n, ticket in enumerate(tickets):
        change(ticket, created_at=now - dt.timedelta(minutes=n))
    signed_in(web)
    newest_first = [label(t) for t in tickets]

    page = web.client.get("/?sort=created&priority=medium").text
    assert ROW.findall(page) == newest_first[:PAGE_SIZE]
    assert "7 tickets" in page and "page 1 of 2" in page and 'rel="prev"' not in page
    assert 'rel="next" href="/?priority=medium&amp;sort=created&amp;page=2"' in page
    second = web.client.get("/?priority=medium&sort=created&page=2").text
    assert ROW.findall(second) == newest_first[PAGE_SIZE:]
    assert "page 2 of 2" in second and 'rel="next"' not in second
    assert 'rel="prev" href="/?priority=medium&amp;sort=created"' in second
    beyond = web.client.get("/?page=9").text
    assert ROW.findall(beyond) == [] and "No tickets on this page" in beyond

    monkeypatch.setattr(listing, "COUNT_CAP", 6)  # the count stops at the cap
    capped = web.client.get("/").text
    assert "6+ tickets" in capped and "page 1<" in capped and 'rel="next"' in capped


BAD_QUERIES = {
    "status=bogus": "unknown status",
    "priority=extreme": "unknown priority",
    "sort=name": "unknown sort",
    "dir=up": "unknown dir",
    "sla=late": "unknown sla",
    "page=0": "page must be",
    "page=abc": "page must be",
    "page=" + "9" * 40: "page must be",
    "assignee=nobody%40example.com": "no agent nobody@example.com",
    "assignee=somebody": "assignee must be",
    "tag=two+words": "not a tag",
    "category=" + "c" * 101: "not a category",
    "category=a%00b": "not a category",
    "q=" + "x" * 201: "not a search",
    "q=a%00b": "not a search",
    "assignee=a%00b%40example.com": "assignee must be",
}


def test_bad_parameters_are_400(web: Site) -> None:
    signed_in(web)
    for query, message in BAD_QUERIES.items():
        response = web.client.get(f"/?{query}")
        assert response.status_code == 400, query
        assert message in response.text and "<script>" not in response.text, query


# -- bulk changes ----------------------------------------------------------------------


def test_bulk_change_goes_through_the_pipeline(web: Site) -> None:
    one = mail_in(web, "One")
    two = mail_in(web, "Two")
    untouched = mail_in(web, "Three")
    signed_in(web)
    before = Outbox.select().where(Outbox.purpose == "assigned").count()

    response = web.post(
        "/bulk",
        {
            "ticket": [str(one.id), str(two.id)],
            "assignee": "bob@example.com",
            "status": "in_progress",
            "priority": "high",
            "back": "status=all&sort=created&page=1",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/?status=all&sort=created"
    for ticket in (one, two):
        now = Ticket.get_by_id(ticket.id)
        assert (now.status, now.priority) == ("in_progress", "high")
        assert now.assignee_id == agent_id("bob@example.com")
        events = {e.type: e for e in Event.select().where(Event.ticket == ticket.id)}
        assert events["assigned"].actor == "ann@example.com"
        assert events["assigned"].data == {"before": None, "after": "bob@example.com"}
        assert events["status_changed"].data == {"before": "new", "after": "in_progress"}
        assert events["priority_changed"].data == {"before": "medium", "after": "high"}
    assert Ticket.get_by_id(untouched.id).assignee_id is None
    notices = Outbox.select().where(Outbox.purpose == "assigned")
    assert notices.count() == before + 2
    assert all(n.recipients == ["bob@example.com"] for n in notices)

    page = web.client.get(response.headers["location"])
    assert "Updated 2 tickets." in page.text  # shown once
    assert "Updated 2 tickets." not in web.client.get("/").text


def test_bulk_assign_to_me_even_long_closed_but_not_merged(web: Site) -> None:
    mine = mail_in(web, "Mine now")
    old = mail_in(web, "Closed long ago")
    merged = mail_in(web, "Merged away")
    change(old, status="closed", closed_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    change(merged, merged_into=mine.id)
    signed_in(web)
    selected = [str(mine.id), "999999", str(old.id), str(merged.id)]
    response = web.post("/bulk", {"ticket": selected, "assignee": "me"})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert Ticket.get_by_id(mine.id).assignee_id == agent_id("ann@example.com")
    assert Outbox.select().where(Outbox.purpose == "assigned").count() == 0  # yourself
    # a long closed ticket is still the agent's to change: no new ticket, not reopened
    assert Ticket.get_by_id(old.id).assignee_id == agent_id("ann@example.com")
    assert Ticket.get_by_id(old.id).status == "closed"
    assert Ticket.select().count() == 3
    assert Ticket.get_by_id(merged.id).assignee_id is None
    flash = web.client.get("/").text
    assert "Updated 2 tickets." in flash and "no ticket with id 999999" in flash
    assert f"{label(merged)} was merged into another ticket" in flash

    web.post("/bulk", {"ticket": str(mine.id), "assignee": "none"})
    assert Ticket.get_by_id(mine.id).assignee_id is None


def test_bulk_refuses_bad_input(web: Site) -> None:
    ticket = mail_in(web, "Target")
    signed_in(web)
    no_token = web.client.post(
        "/bulk", data={"ticket": str(ticket.id), "status": "closed"}, follow_redirects=False
    )
    assert no_token.status_code == 403
    forged = web.client.post(
        "/bulk",
        data={"csrf": "forged", "ticket": str(ticket.id), "status": "closed"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert Ticket.get_by_id(ticket.id).status == "new"

    too_many = [str(n) for n in range(1, 202)]
    for data in (
        {"ticket": too_many, "status": "open"},
        {"ticket": "one", "status": "open"},
        {"ticket": str(ticket.id), "status": "finished"},
        {"ticket": str(ticket.id), "priority": "extreme"},
        {"ticket": str(ticket.id), "assignee": "nobody@example.com"},
        {"ticket": str(ticket.id), "assignee": "not an address"},
    ):
        assert web.post("/bulk", data).status_code == 400, data

    offsite = web.post(
        "/bulk", {"ticket": str(ticket.id), "status": "open", "back": "https://evil.example/"}
    )
    assert offsite.headers["location"] == "/"
    nothing = web.post("/bulk", {"status": "open", "back": "tag=vip"})
    assert nothing.status_code == 303 and nothing.headers["location"] == "/?tag=vip"
    assert "Select at least one ticket." in web.client.get("/?tag=vip").text


def test_user_text_renders_escaped(web: Site) -> None:
    mail_in(
        web,
        "<script>alert(1)</script>",
        '"<script>alert(2)</script>" <evil@customer.test>',
        body="<img src=x onerror=alert(3)>",
    )
    signed_in(web)
    page = web.client.get("/?q=evil%40customer.test").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    searched = web.client.get("/?q=%3Cscript%3Ealert").text
    assert "<script>alert" not in searched
    category = web.client.get("/?category=%3Cscript%3Ealert(4)%3C/script%3E")
    assert category.status_code == 200
    assert "<script>alert" not in category.text and "&lt;script&gt;alert(4)" in category.text


# -- the pure helpers -------------------------------------------------------------------


def test_ages_are_humanised() -> None:
    now = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    for delta, text in (
        (dt.timedelta(seconds=59), "<1m"),
        (dt.timedelta(seconds=-30), "<1m"),  # a clock a little ahead
        (dt.timedelta(minutes=42), "42m"),
        (dt.timedelta(hours=3, minutes=59), "3h"),
        (dt.timedelta(days=2, hours=23), "2d"),
        (dt.timedelta(days=400), "1y"),
    ):
        assert listing.age(now - delta, now) == text


def test_labels_that_jump_to_a_ticket(db: peewee.Database) -> None:
    desk = DeskProfile("default", "Support", "SUP", ("support@example.com",), "", "", "")
    labels = Labels(Desks([desk]), per_desk=False)  # a number names its ticket
    for q, number in (("SUP-00042", 42), ("sup-7", 7), ("[SUP-12]", 12), ("#42", 42)):
        assert listing.label_number(q, labels) == number
    for q in ("42", "#0", "SUP-0", "hello", "ABC-00042", "#42 printer"):
        assert listing.label_number(q, labels) is None


def test_links_keep_the_other_filters() -> None:
    view = listing.parse_filters(
        {"tag": "VIP", "priority": "high", "page": "3", "utm": "x"}, ("low", "high")
    )
    assert view == listing.Filters(tag="vip", priority="high", page=3)
    assert view.link(status="all") == "/?status=all&priority=high&tag=vip"
    assert view.without("tag") == "/?priority=high"
    assert view.link(page=4) == "/?priority=high&tag=vip&page=4"
    assert view.sort_link("created") == "/?priority=high&tag=vip&sort=created"
    assert [name for name, _, _ in view.active()] == ["priority", "tag"]
    created = listing.Filters(sort="created")
    assert created.sort_link("created") == "/?sort=created&dir=asc"
    assert listing.Filters(sort="created", dir="asc").sort_link("created") == "/?sort=created"
