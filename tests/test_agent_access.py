"""Who sees which tickets, and who manages the agents: agents limited to categories
within their desks, and /api/agents.

Written as security tests, through the real entry points (the CLI, the web test
client signed in through /login, the API with bearer tokens), on SQLite and
PostgreSQL: an agent limited to categories, or working another desk, finds nothing
of a ticket outside their reach (404, never 403: not there, not forbidden) in the
queue, on ticket pages, in searches, counts, files, raw mail, customer records,
reports, CSV exports, the API, notifications, SLA warnings and the digest; only an
admin's token adds or changes agents; bad input is refused with the API's errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.store.models import Agent, AgentCategory, Contact, Ticket
from maildesk.tickets import agents
from tests.conftest import SUPPORT_AND_BILLING, Install, write_config
from tests.conversation import customer_mail, maildir_mails, recipients, text_of
from tests.mailfactory import with_attachments
from tests.web_support import PASSWORD, Site, site

DESKS = (
    SUPPORT_AND_BILLING
    + """

[[category]]
name = "Refunds"
desks = ["billing"]

[[category]]
name = "Invoices"
desks = ["billing"]

[[category]]
name = "Hardware"

[[rule]]
name = "refunds"
keyword = ["refund"]
set_category = "Refunds"
stop = true

[[rule]]
name = "invoices"
keyword = ["invoice"]
set_category = "Invoices"
stop = true

[[rule]]
name = "hardware"
keyword = ["printer"]
set_category = "Hardware"
stop = true
"""
)

MAILS = (  # SUP-00001 .. BIL-00005, in this order
    ("Carl <carl@customer.test>", "support@example.com", "Printer on fire", "The printer burns."),
    ("Dora <dora@customer.test>", "billing@example.com", "Money back", "A refund, please."),
    (
        "Erin <erin@customer.test>",
        "billing@example.com",
        "Charged twice",
        "The invoice came twice.",
    ),
    ("Fay <fay@customer.test>", "billing@example.com", "Just saying hello", "Hello there."),
    ("Dora <dora@customer.test>", "billing@example.com", "March", "Where is my invoice?"),
)
THEIRS = "Money back"  # the one ticket of Rita's category (Refunds)
NOT_THEIRS = ("Printer on fire", "Charged twice", "Just saying hello", "March")

# Who is who: Rita works billing, limited to refunds; Mona manages billing, limited to
# refunds; Bill works all of billing; Sam works support; Root is an admin.
STAFF = (
    ("root@example.com", "Root", ("--role", "admin")),
    ("sam@example.com", "Sam", ("--desk", "support")),
    ("bill@example.com", "Bill", ("--desk", "billing")),
    ("rita@example.com", "Rita", ("--desk", "billing", "--category", "refunds")),
    (
        "mona@example.com",
        "Mona",
        ("--role", "manager", "--desk", "billing", "--category", "Refunds"),
    ),
)


def add_staff(run: Any) -> None:
    for email, name, options in STAFF:
        result = run("agents", "add", email, "--name", name, *options, "--password-stdin",
                     input=PASSWORD + "\n")  # fmt: skip
        assert result.exit_code == 0, result.output


@pytest.fixture
def desk(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, extra=DESKS) as running:
        add_staff(running.cli)
        for frm, to, subject, body in MAILS:
            running.ingest(customer_mail(frm, subject=subject, body=body, to=to))
        yield running


def bearer(s: Site, email: str) -> dict[str, str]:
    token = agents.create_token(s.runtime.db, email, "test", s.runtime.clock())
    return {"Authorization": f"Bearer {token}"}


def browser(s: Site, email: str) -> Site:
    signed = s.another_browser()
    assert signed.sign_in(email).status_code == 303
    return signed


def listed(s: Site) -> dict[str, Any]:
    """`maildesk agents list --json`, by address."""
    return {a["email"]: a for a in s.desk.json("agents", "list")}


def leaks(text: str) -> list[str]:
    return [subject for subject in NOT_THEIRS if subject in text]


# -- setting an agent's categories ------------------------------------------------------


def test_categories_from_the_command_line(tmp_path: Path, database_url: str) -> None:
    install = Install(write_config(tmp_path, database_url, DESKS), database_url, tmp_path)
    added = install.run("agents", "add", "rita@example.com", "--name", "Rita", "--desk",
                        "billing", "--category", " REFUNDS ", "--category", "invoices")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "desks billing; categories Invoices, Refunds" in added.stdout
    [rita] = install.json("agents", "list")
    assert rita["categories"] == ["Invoices", "Refunds"]  # as configured

    unknown = install.run("agents", "add", "x@example.com", "--name", "X", "--category", "Nope")
    assert unknown.exit_code == 2 and "'Nope'" in unknown.stderr and "Refunds" in unknown.stderr
    admin = install.run("agents", "add", "y@example.com", "--name", "Y", "--role", "admin",
                        "--category", "Refunds")  # fmt: skip
    assert admin.exit_code == 2 and "admin" in admin.stderr
    assert [a["email"] for a in install.json("agents", "list")] == ["rita@example.com"]

    changed = install.run("agents", "set", "rita@example.com", "--category", "hardware")
    assert changed.exit_code == 0 and "categories Hardware" in changed.stdout
    both = install.run("agents", "set", "rita@example.com", "--category", "Hardware",
                       "--all-categories")  # fmt: skip
    assert both.exit_code == 2
    bad = install.run("agents", "set", "rita@example.com", "--category", "Nope", "--away")
    assert bad.exit_code == 2 and "Nope" in bad.stderr
    [rita] = install.json("agents", "list")
    assert rita["categories"] == ["Hardware"] and rita["away"] is False  # nothing changed
    cleared = install.run("agents", "set", "rita@example.com", "--all-categories")
    assert cleared.exit_code == 0 and "categories" not in cleared.stdout
    assert install.json("agents", "list")[0]["categories"] is None

    install.run("agents", "add", "root@example.com", "--name", "Root", "--role", "admin")
    refused = install.run("agents", "set", "root@example.com", "--category", "Refunds")
    assert refused.exit_code == 1 and "admin" in refused.stderr
    # An agent limited to a category who becomes an admin sees every category.
    install.run("agents", "set", "rita@example.com", "--category", "Refunds")
    install.run("agents", "set", "rita@example.com", "--role", "admin")
    assert install.json("agents", "list")[0]["categories"] is None


def test_admins_set_categories_on_the_admin_page(desk: Site) -> None:
    root = browser(desk, "root@example.com")
    page = root.client.get("/admin/agents").text
    assert 'name="category" value="Refunds"' in page
    form = {"email": "sam@example.com", "role": "agent", "active": "yes", "away": "no",
            "has_categories": "1", "category": ["Hardware"]}  # fmt: skip
    assert root.post("/admin/agents/change", form, form_page="/admin/agents").status_code == 303
    assert listed(desk)["sam@example.com"]["categories"] == ["Hardware"]
    refused = root.post("/admin/agents/change", {**form, "category": ["Nope"]}, "/admin/agents")
    assert refused.status_code == 422 and "no category" in refused.text
    cleared = root.post("/admin/agents/change", {**form, "category": []}, "/admin/agents")
    assert cleared.status_code == 303
    assert AgentCategory.select().join(Agent).where(Agent.email == "sam@example.com").count() == 0
    added = root.post(
        "/admin/agents/add",
        {"email": "new@example.com", "name": "New", "role": "agent", "has_desks": "1",
         "desk": ["billing"], "has_categories": "1", "category": ["Invoices", "Nope"]},
        "/admin/agents",
    )  # fmt: skip
    assert added.status_code == 422
    assert Agent.get_or_none(Agent.email == "new@example.com") is None  # all of it, or nothing


# -- what a category-limited agent sees ------------------------------------------------------


def test_the_web_view_shows_only_the_tickets_in_reach(desk: Site) -> None:
    rita = browser(desk, "rita@example.com")
    queue = rita.client.get("/", params={"status": "all"}).text
    assert THEIRS in queue and leaks(queue) == []
    assert "1 ticket" in queue  # the count too
    for words in ("invoice", "twice", "hello", "printer"):
        found = rita.client.get("/", params={"q": words, "status": "all"}).text
        assert leaks(found) == [], words
    filtered = rita.client.get("/", params={"category": "Invoices", "status": "all"}).text
    assert leaks(filtered) == [] and "0 tickets" in filtered
    for label in ("BIL-00003", "BIL-00004", "BIL-00005", "SUP-00001", "3"):
        page = rita.client.get(f"/tickets/{label}")
        assert page.status_code == 404, label
        assert leaks(page.text) == []
        jump = rita.client.get("/", params={"q": label}, follow_redirects=False)
        assert label not in jump.headers.get("location", "")
    assert rita.client.get("/tickets/BIL-00002").status_code == 200
    # A bulk change leaves a ticket out of reach alone.
    invoice = Ticket.get(Ticket.number == 3)
    rita.post("/bulk", {"ticket": [str(invoice.id)], "priority": "urgent"})
    assert Ticket.get_by_id(invoice.id).priority != "urgent"

    sam = browser(desk, "sam@example.com")  # another desk: none of billing's
    queue = sam.client.get("/", params={"status": "all"}).text
    assert "Printer on fire" in queue and THEIRS not in queue
    assert sam.client.get("/tickets/BIL-00002").status_code == 404

    bill = browser(desk, "bill@example.com")  # every category of billing
    queue = bill.client.get("/", params={"status": "all"}).text
    assert all(s in queue for s in (THEIRS, "Charged twice", "Just saying hello", "March"))


def test_customer_records_show_only_the_tickets_in_reach(desk: Site) -> None:
    erin = Contact.get(Contact.email == "erin@customer.test").id  # of an invoice only
    dora = Contact.get(Contact.email == "dora@customer.test").id  # a refund and an invoice
    rita = browser(desk, "rita@example.com")
    assert rita.client.get(f"/contacts/{erin}").status_code == 404
    assert "erin@" not in rita.client.get("/contacts", params={"q": "erin"}).text
    record = rita.client.get(f"/contacts/{dora}").text
    assert THEIRS in record and "March" not in record

    token = bearer(desk, "rita@example.com")
    listed = desk.client.get("/api/contacts", headers=token).json()["contacts"]
    assert {c["email"] for c in listed} == {"dora@customer.test"}
    assert desk.client.get(f"/api/contacts/{erin}", headers=token).status_code == 404
    shown = desk.client.get(f"/api/contacts/{dora}", headers=token).json()
    assert [t["label"] for t in shown["tickets"]] == ["BIL-00002"]


def test_files_and_raw_mail_out_of_reach_are_not_there(desk: Site) -> None:
    raw = with_attachments(
        to="billing@example.com",
        subject="Invoice copy",
        body="The invoice, attached.\n",
        attachments=(("invoice.pdf", "application/pdf", b"%PDF-1.4 secret invoice"),),
    )
    desk.ingest(raw)
    ticket = Ticket.get(Ticket.subject == "Invoice copy")
    assert ticket.category == "Invoices"
    message = ticket.messages.get()
    label = f"BIL-{ticket.number:05d}"
    paths = (
        f"/attachments/{message.attachments.get().id}/invoice.pdf",
        f"/tickets/{label}/messages/{message.id}/original",
        f"/tickets/{label}/messages/{message.id}/html",
    )
    bill = browser(desk, "bill@example.com")
    assert bill.client.get(paths[0]).content == b"%PDF-1.4 secret invoice"
    assert bill.client.get(paths[1]).status_code == 200
    rita = browser(desk, "rita@example.com")
    for path in paths:
        answer = rita.client.get(path)
        assert answer.status_code == 404, path
        assert b"secret invoice" not in answer.content


def test_the_api_shows_only_the_tickets_in_reach(desk: Site) -> None:
    rita = bearer(desk, "rita@example.com")

    def listed(**params: str) -> list[str]:
        answer = desk.client.get("/api/tickets", params=params, headers=rita)
        assert answer.status_code == 200, answer.text
        return [t["number"] for t in answer.json()["tickets"]]

    assert listed() == ["BIL-00002"]
    assert listed(status="new") == ["BIL-00002"]
    assert listed(q="invoice") == [] and listed(q="hello") == []
    assert listed(category="Invoices") == [] and listed(category="refunds") == []
    assert listed(desk="support") == []
    for method, path, body in (
        ("GET", "/api/tickets/BIL-00003", None),
        ("GET", "/api/tickets/4", None),
        ("PATCH", "/api/tickets/BIL-00003", {"priority": "high"}),
        ("POST", "/api/tickets/BIL-00005/messages", {"text": "hello"}),
        ("GET", "/api/tickets/SUP-00001", None),
    ):
        answer = desk.client.request(method, path, json=body, headers=rita)
        assert answer.status_code == 404, (method, path)
        assert leaks(answer.text) == []
    assert Ticket.get(Ticket.number == 3).priority != "high"
    assert desk.client.get("/api/tickets/BIL-00002", headers=rita).json()["subject"] == THEIRS
    # Merging into a ticket out of reach: as if there were none.
    merge = {"text": "#merge BIL-00003", "note": True}
    answer = desk.client.post("/api/tickets/BIL-00002/messages", json=merge, headers=rita)
    assert answer.status_code == 422 and "no such ticket" in answer.text
    assert Ticket.get(Ticket.number == 2).merged_into_id is None

    # New tickets: of one of their categories, which they then see.
    new = {"requester": {"email": "gus@customer.test"}, "body": "Help", "desk": "billing"}
    refused = desk.client.post("/api/tickets", json=new, headers=rita)
    assert refused.status_code == 422 and "category" in refused.json()["error"]
    for category in ("Invoices", "Hardware"):
        other = desk.client.post("/api/tickets", json={**new, "category": category}, headers=rita)
        assert other.status_code == 422, category
    made = desk.client.post("/api/tickets", json={**new, "category": "refunds"}, headers=rita)
    assert made.status_code == 201, made.text
    assert made.json()["category"] == "refunds"
    assert made.json()["ticket"] in listed()

    sam = bearer(desk, "sam@example.com")  # another desk
    assert desk.client.get("/api/tickets/BIL-00002", headers=sam).status_code == 404


def test_assigning_a_ticket_to_an_agent_who_does_not_see_it_is_refused(desk: Site) -> None:
    bill = bearer(desk, "bill@example.com")
    answer = desk.client.patch("/api/tickets/BIL-00003", json={"assignee": "rita@example.com"},
                               headers=bill)  # fmt: skip
    assert answer.status_code == 422 and "not an active agent" in answer.text
    assert Ticket.get(Ticket.number == 3).assignee_id is None
    ok = desk.client.patch("/api/tickets/BIL-00002", json={"assignee": "rita@example.com"},
                           headers=bill)  # fmt: skip
    assert ok.status_code == 200, ok.text
    # The category changed by the same request counts.
    both = {"category": "Refunds", "assignee": "rita@example.com"}
    moved = desk.client.patch("/api/tickets/BIL-00004", json=both, headers=bill)
    assert moved.status_code == 200, moved.text
    rita = browser(desk, "rita@example.com")
    assert rita.client.get("/tickets/BIL-00004").status_code == 200


def test_reports_and_exports_cover_the_tickets_in_reach(desk: Site) -> None:
    mona = browser(desk, "mona@example.com")
    page = mona.client.get("/reports")
    assert page.status_code == 200
    assert "Refunds" in page.text and "Invoices" not in page.text
    export = mona.client.get("/tickets.csv").text
    assert THEIRS in export and leaks(export) == []
    by_category = mona.client.get("/reports/category.csv").text
    assert "Refunds" in by_category and "Invoices" not in by_category
    daily = mona.client.get("/reports/daily.csv").text
    assert sum(int(line.split(",")[1]) for line in daily.splitlines()[1:]) == 1  # created
    assert mona.client.get("/tickets.csv", params={"desk": "support"}).status_code == 404
    billing = mona.client.get("/tickets.csv", params={"desk": "billing"}).text
    assert THEIRS in billing and leaks(billing) == []

    root = browser(desk, "root@example.com")
    everything = root.client.get("/tickets.csv").text
    assert THEIRS in everything and len(leaks(everything)) == len(NOT_THEIRS)


def test_notifications_warnings_and_digests_reach_only_those_who_see_the_ticket(
    tmp_path: Path, database_url: str
) -> None:
    sla = """
[sla]
timezone = "Europe/Berlin"
targets = ["urgent 1h 8h", "high 4h 24h", "medium 8h 72h", "low 24h 168h"]
warn_percent = 75
digest_time = "08:00"
"""
    install = Install(write_config(tmp_path, database_url, DESKS + sla), database_url, tmp_path)
    add_staff(install.run)
    friday = "2025-11-21T17:30:00+01:00"
    for frm, to, subject, body in MAILS:
        raw = customer_mail(frm, subject=subject, body=body, to=to)
        result = install.run("ingest", "--now", friday, "-", input=raw)
        assert result.exit_code == 0, result.output
    scan = install.run("sla", "scan", "--now", "2025-11-24T15:30:00+01:00")  # warnings
    assert scan.exit_code == 0, scan.output
    told: dict[tuple[str, str], set[str]] = {}
    for row in install.json("outbox", "list"):
        if row["purpose"] in ("notify_new", "sla_warning"):
            told.setdefault((row["ticket"], row["purpose"]), set()).update(row["to"])
    everyone = {"root@example.com"}  # an admin sees every ticket
    for purpose in ("notify_new", "sla_warning"):
        refund = told[("BIL-00002", purpose)]
        assert refund == {*everyone, "bill@example.com", "rita@example.com"}, purpose
        for label in ("BIL-00003", "BIL-00004", "BIL-00005"):
            assert told[(label, purpose)] == {*everyone, "bill@example.com"}, (label, purpose)
        assert told[("SUP-00001", purpose)] == {*everyone, "sam@example.com"}, purpose

    digest = install.run("digest", "send", "--now", "2025-11-24T12:00:00+01:00")
    assert digest.exit_code == 0, digest.output
    install.run("outbox", "send")
    mails = maildir_mails(tmp_path / "outbox")
    [mona] = [m for m in mails if "mona@example.com" in recipients(m)]
    text = text_of(mona)
    assert THEIRS in text and leaks(text) == []


# -- /api/agents --------------------------------------------------------------------------


def emails(answer: Any) -> set[str]:
    assert answer.status_code == 200, answer.text
    return {a["email"] for a in answer.json()["agents"]}


def test_agents_see_the_agents_who_share_a_desk(desk: Site) -> None:
    sam, rita, root = (bearer(desk, f"{n}@example.com") for n in ("sam", "rita", "root"))
    assert emails(desk.client.get("/api/agents", headers=sam)) == {
        "sam@example.com",
        "root@example.com",
    }
    assert emails(desk.client.get("/api/agents", headers=rita)) == {
        "root@example.com",
        "bill@example.com",
        "rita@example.com",
        "mona@example.com",
    }
    everyone = desk.client.get("/api/agents", headers=root).json()["agents"]
    assert len(everyone) == len(STAFF)
    by_email = {a["email"]: a for a in everyone}
    assert by_email["root@example.com"]["desks"] is None
    assert by_email["root@example.com"]["categories"] is None
    assert by_email["rita@example.com"] == {
        "email": "rita@example.com",
        "name": "Rita",
        "role": "agent",
        "active": True,
        "away": False,
        "desks": ["billing"],
        "categories": ["Refunds"],
    }
    assert by_email["bill@example.com"]["categories"] is None
    assert desk.client.get("/api/agents/Rita@Example.com", headers=rita).json()["name"] == "Rita"
    for path in ("/api/agents/rita@example.com", "/api/agents/nobody@example.com"):
        answer = desk.client.get(path, headers=sam)
        assert answer.status_code == 404, path
        assert "Rita" not in answer.text and answer.json()["errors"]
    assert desk.client.get("/api/agents", params={"role": "x"}, headers=sam).status_code == 400
    assert desk.client.get("/api/agents").status_code == 401


def test_only_an_admins_token_adds_or_changes_agents(desk: Site) -> None:
    new = {"email": "nia@example.com", "name": "Nia"}
    for who in ("rita", "mona", "sam", "bill"):
        token = bearer(desk, f"{who}@example.com")
        posted = desk.client.post("/api/agents", json=new, headers=token)
        assert posted.status_code == 403, who
        for target in ("rita@example.com", "nobody@example.com", f"{who}@example.com"):
            changed = desk.client.patch(f"/api/agents/{target}", json={"role": "admin"},
                                        headers=token)  # fmt: skip
            assert changed.status_code == 403, (who, target)
            assert changed.json()["errors"]
    assert Agent.get_or_none(Agent.email == "nia@example.com") is None
    assert not Agent.select().where(Agent.role == "admin", Agent.email != "root@example.com")


def test_admins_add_and_change_agents_through_the_api(desk: Site) -> None:
    root = bearer(desk, "root@example.com")

    def post(body: dict[str, Any]) -> Any:
        return desk.client.post("/api/agents", json=body, headers=root)

    def patch(email: str, body: dict[str, Any]) -> Any:
        return desk.client.patch(f"/api/agents/{email}", json=body, headers=root)

    person = {"email": "Nia@Example.com", "name": "Nia", "role": "manager", "password": PASSWORD}
    made = post({**person, "desks": ["billing"], "categories": ["invoices"]})
    assert made.status_code == 201, made.text
    assert made.json() == {
        "email": "nia@example.com",
        "name": "Nia",
        "role": "manager",
        "active": True,
        "away": False,
        "desks": ["billing"],
        "categories": ["Invoices"],
    }
    nia = browser(desk, "nia@example.com")  # signs in with that password, sees invoices only
    queue = nia.client.get("/", params={"status": "all"}).text
    assert "Charged twice" in queue and THEIRS not in queue

    refused = {
        "not an address": {"email": "nope", "name": "X"},
        "no name": {"email": "x@example.com", "name": " "},
        "a role": {"email": "x@example.com", "name": "X", "role": "boss"},
        "a desk": {"email": "x@example.com", "name": "X", "desks": ["nosuch"]},
        "no desk": {"email": "x@example.com", "name": "X", "desks": []},
        "a category": {"email": "x@example.com", "name": "X", "categories": ["Nope"]},
        "an admin's": {"email": "x@example.com", "name": "X", "role": "admin",
                       "categories": ["Refunds"]},
        "a password": {"email": "x@example.com", "name": "X", "password": "short"},
        "taken": {"email": "nia@example.com", "name": "Nia again"},
    }  # fmt: skip
    for why, body in refused.items():
        answer = post(body)
        assert answer.status_code == 422, (why, answer.text)
        assert answer.json()["errors"], why
    assert "'nosuch'" in post(refused["a desk"]).json()["error"]
    assert "'Nope'" in post(refused["a category"]).json()["error"]
    for shape in ({"email": "x@example.com"}, {"email": "x@example.com", "name": "X", "role": 5},
                  {"email": "x@example.com", "name": "X", "owner": "me"}, ["x"]):  # fmt: skip
        assert post(shape).status_code == 400, shape  # type: ignore[arg-type]
    assert Agent.get_or_none(Agent.email == "x@example.com") is None

    changed = patch("rita@example.com", {"categories": None, "away": True, "name": "Rita R"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["categories"] is None and changed.json()["away"] is True
    rita = browser(desk, "rita@example.com")  # now every category of billing
    assert "Charged twice" in rita.client.get("/", params={"status": "all"}).text
    moved = patch("rita@example.com", {"desks": ["support"], "categories": ["Hardware"]})
    assert moved.json()["desks"] == ["support"] and moved.json()["categories"] == ["Hardware"]
    for body in ({"desks": ["nosuch"]}, {"desks": []}, {"categories": ["Nope"]},
                 {"role": "boss"}, {"name": ""}):  # fmt: skip
        answer = patch("rita@example.com", body)
        assert answer.status_code == 422, (body, answer.text)
    for body in ({}, {"active": "no"}, {"email": "x@example.com"}):
        assert patch("rita@example.com", body).status_code == 400, body
    assert listed(desk)["rita@example.com"]["desks"] == ["support"]  # nothing else changed
    assert patch("nobody@example.com", {"away": True}).status_code == 404
    last = patch("root@example.com", {"role": "agent"})
    assert last.status_code == 422 and "at least one active admin" in last.text
    assert patch("root@example.com", {"active": False}).status_code == 422
    assert Agent.get(Agent.email == "root@example.com").role == "admin"


def test_an_inactive_agents_token_reads_nothing(desk: Site) -> None:
    rita = bearer(desk, "rita@example.com")
    root = bearer(desk, "root@example.com")
    off = desk.client.patch("/api/agents/rita@example.com", json={"active": False}, headers=root)
    assert off.status_code == 200 and off.json()["active"] is False
    for path in ("/api/agents", "/api/tickets", "/api/tickets/BIL-00002"):
        assert desk.client.get(path, headers=rita).status_code == 401, path
