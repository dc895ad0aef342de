"""Customer records: `maildesk contacts ...` and `maildesk orgs ...`, the contact and
organization pages, /api/contacts and /api/orgs, and tickets shared on status pages.

Tickets come from real mail through `maildesk ingest` or the pipeline; everything runs
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.core.links import status_url
from maildesk.queries import contacts as records
from maildesk.settings.desks import Scope
from maildesk.settings.fields import Fields
from maildesk.store.models import Contact, Organization, Ticket
from maildesk.tickets import agents
from tests.conftest import SUPPORT_AND_BILLING, Install, opened
from tests.conversation import customer_mail
from tests.web_support import Site, site

CARL = "Carl Customer <carl@customer.test>"


def ingest(desk: Install, frm: str, subject: str, cc: str = "") -> str:
    """A customer's new ticket, as `maildesk ingest` takes it in; its label."""
    [line] = desk.ingest(customer_mail(frm=frm, subject=subject, cc=cc))
    assert line["action"] == "created", line
    return str(line["ticket"])


def failed(desk: Install, *args: str) -> tuple[int, str]:
    result = desk.run(*args)
    assert result.stdout == "", result.stdout
    return result.exit_code, result.stderr


# -- the CLI ----------------------------------------------------------------------------


def test_contacts_show_json_lists_every_address_and_ticket_after_a_merge(desk: Install) -> None:
    first = ingest(desk, CARL, "Printer on fire")
    second = ingest(desk, "Carl at home <carl.home@private.test>", "Laptop too")
    third = ingest(desk, "Dora <dora@customer.test>", "Both of us", cc="carl.home@private.test")
    other = ingest(desk, "Eve <eve@elsewhere.test>", "Not Carl's")

    before = desk.json("contacts", "show", "CARL@customer.test")
    assert before["addresses"] == ["carl@customer.test"]
    assert [t["label"] for t in before["tickets"]] == [first]

    merged = desk.run("contacts", "merge", "carl@customer.test", "carl.home@private.test")
    assert merged.exit_code == 0, merged.output + merged.stderr

    record = desk.json("contacts", "show", "carl.home@private.test")  # any address
    assert record["email"] == "carl@customer.test" and record["name"] == "Carl Customer"
    assert record["addresses"] == ["carl@customer.test", "carl.home@private.test"]
    assert record["organization"] is None and record["notes"] == "" and record["fields"] == {}
    listed = {t["number"]: t for t in desk.json("tickets", "list")}
    roles = {t["label"]: t["role"] for t in record["tickets"]}
    assert roles == {first: "requester", second: "requester", third: "cc"}
    assert other not in roles
    for ticket in record["tickets"]:
        assert set(ticket) >= {"number", "label", "subject", "status", "role", "created_at"}
        assert listed[ticket["label"]]["subject"] == ticket["subject"]
        assert listed[ticket["label"]]["updated_at"] == ticket["updated_at"]
        assert ticket["label"] == f"SUP-{ticket['number']:05d}"

    again = desk.run("contacts", "merge", "carl.home@private.test", "carl@customer.test")
    assert again.exit_code == 2 and "already an address" in again.stderr
    assert len(desk.json("contacts", "list")) == 3  # Carl (two addresses), Dora, Eve


def test_organizations_by_domain_and_by_hand(desk: Install) -> None:
    ingest(desk, CARL, "One")
    ingest(desk, "Dora <dora@eu.customer.test>", "Two")
    ingest(desk, "Zed <zed@freemail.test>", "Three")
    added = desk.run("orgs", "add", "Customer Inc", "--domain", "customer.test")
    assert added.exit_code == 0, added.output + added.stderr

    def members(org: str) -> list[str]:
        return [c["email"] for c in desk.json("contacts", "list", "--org", org)]

    assert members("customer inc") == ["carl@customer.test", "dora@eu.customer.test"]
    # A more specific domain of another organization wins for its addresses.
    assert desk.run("orgs", "add", "Customer EU", "--domain", "EU.Customer.Test.").exit_code == 0
    assert members("Customer Inc") == ["carl@customer.test"]
    assert members("Customer EU") == ["dora@eu.customer.test"]
    # By hand: zed joins, carl leaves; by domain again, carl comes back.
    assert desk.run("contacts", "set", "zed@freemail.test", "--org", "Customer Inc").exit_code == 0
    assert desk.run("contacts", "set", "carl@customer.test", "--org", "none").exit_code == 0
    assert members("Customer Inc") == ["zed@freemail.test"]
    assert desk.json("contacts", "show", "carl@customer.test")["organization"] is None
    assert desk.run("contacts", "set", "carl@customer.test", "--org", "auto").exit_code == 0
    assert members("Customer Inc") == ["carl@customer.test", "zed@freemail.test"]
    # Someone new at the domain belongs at once; the org shows their tickets.
    new = ingest(desk, "Nina <nina@customer.test>", "Four")
    shown = desk.json("orgs", "show", "Customer Inc")
    assert shown["domains"] == ["customer.test"] and shown["members"] == 3
    assert new in [t["label"] for t in shown["tickets"]]
    assert {t["requester"]["email"] for t in shown["tickets"]} == {
        "carl@customer.test",
        "zed@freemail.test",
        "nina@customer.test",
    }
    # Dropping the domain keeps the hand-set member only.
    assert desk.run("orgs", "set", "Customer Inc", "--no-domains").exit_code == 0
    assert members("Customer Inc") == ["zed@freemail.test"]
    record = desk.json("contacts", "show", "nina@customer.test")
    assert record["organization"] is None
    orgs = {o["name"]: o for o in desk.json("orgs", "list")}
    assert orgs["Customer Inc"]["members"] == 1 and orgs["Customer EU"]["members"] == 1


def test_contact_notes_and_name_are_kept_on_the_person(desk: Install) -> None:
    ingest(desk, CARL, "One")
    ingest(desk, "carl.home@private.test", "Two")
    assert desk.run("contacts", "set", "carl.home@private.test", "--notes", "VIP").exit_code == 0
    assert (
        desk.run("contacts", "set", "carl@customer.test", "--notes", "Calls a lot").exit_code == 0
    )
    assert (
        desk.run("contacts", "merge", "carl@customer.test", "carl.home@private.test").exit_code == 0
    )
    set_name = desk.run("contacts", "set", "carl.home@private.test", "--name", "Carl C.")
    assert set_name.exit_code == 0
    record = desk.json("contacts", "show", "carl@customer.test")
    assert record["notes"] == "Calls a lot\n\nVIP" and record["name"] == "Carl C."
    assert [c["email"] for c in desk.json("contacts", "list", "--search", "HOME")] == [
        "carl@customer.test"
    ]


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (("contacts", "show", "nobody@customer.test"), 1, "no contact nobody@customer.test"),
        (("contacts", "show", "not an address"), 2, "not an e-mail address"),
        (("contacts", "show", "nobody@customer.test", "--json"), 1, "no contact"),
        (("contacts", "set", "carl@customer.test"), 2, "nothing to change"),
        (("contacts", "set", "carl@customer.test", "--org", "Nowhere"), 1, "no organization"),
        (("contacts", "merge", "carl@customer.test", "ghost@customer.test"), 1, "no contact"),
        (("contacts", "merge", "carl@customer.test"), 2, "Missing argument"),
        (("orgs", "add", "none"), 2, "not an organization name"),
        (("orgs", "add", "12345"), 2, "not an organization name"),
        (("orgs", "add", "Acme"), 2, "exists already"),
        (("orgs", "add", "Other", "--domain", "acme.test"), 2, "belongs to 'Acme'"),
        (("orgs", "add", "Other", "--domain", "not a domain"), 2, "not a mail domain"),
        (("orgs", "add", "Other", "--domain", "localhost"), 2, "not a mail domain"),
        (("orgs", "set", "Acme"), 2, "nothing to change"),
        (("orgs", "set", "Acme", "--domain", "a.test", "--no-domains"), 2, "not both"),
        (("orgs", "show", "Nowhere"), 1, "no organization 'Nowhere'"),
        (("orgs", "show", "999"), 1, "no organization"),
    ],
)
def test_bad_arguments_are_one_line_on_stderr(
    desk: Install, args: tuple[str, ...], status: int, says: str
) -> None:
    ingest(desk, CARL, "One")
    assert desk.run("orgs", "add", "Acme", "--domain", "acme.test").exit_code == 0
    code, stderr = failed(desk, *args)
    assert code == status, stderr
    assert says in stderr and stderr.startswith("maildesk: ") and "Traceback" not in stderr


def test_every_command_and_option_has_help(desk: Install) -> None:
    for group in ("contacts", "orgs"):
        listing = desk.run(group, "--help")
        assert listing.exit_code == 0
    for command in (
        ("contacts", "list"),
        ("contacts", "show"),
        ("contacts", "set"),
        ("contacts", "merge"),
        ("orgs", "list"),
        ("orgs", "show"),
        ("orgs", "add"),
        ("orgs", "set"),
    ):
        text = desk.run(*command, "--help").stdout
        options = re.findall(r"^\s+(--[a-z-]+)(.*)$", text, re.M)
        assert options, command
        for name, rest in options:
            assert rest.strip() or name == "--help", (command, name)


# -- the web: pages and API ---------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url) as running:
        running.add_agent("ann@example.com", "Ann")
        yield running


@pytest.fixture
def token(web: Site) -> str:
    return agents.create_token(web.runtime.db, "ann@example.com", "test", web.runtime.clock())


def contact_id(email: str) -> int:
    return int(Contact.get(Contact.email == email).id)


def api(web: Site, method: str, path: str, token: str | None, body: Any = None) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return web.client.request(method, path, json=body, headers=headers)


def test_api_routes_need_a_token(web: Site, token: str) -> None:
    web.ingest(customer_mail())
    carl = contact_id("carl@customer.test")
    for method, path in (
        ("GET", "/api/contacts"),
        ("GET", f"/api/contacts/{carl}"),
        ("PATCH", f"/api/contacts/{carl}"),
        ("GET", "/api/orgs"),
        ("POST", "/api/orgs"),
        ("GET", "/api/orgs/1"),
        ("PATCH", "/api/orgs/1"),
    ):
        for bad_token in (None, "mdk_not-a-token"):
            answer = api(web, method, path, bad_token, {"name": "Mallory"})
            assert answer.status_code == 401, (method, path)
            assert "Carl" not in answer.text
    assert Contact.get_by_id(carl).name == "Carl Customer"


def test_api_reads_and_changes_records(web: Site, token: str) -> None:
    web.ingest(customer_mail())
    web.ingest(customer_mail(frm="Dora <dora@customer.test>", subject="Mine"))
    carl = contact_id("carl@customer.test")
    added = api(
        web, "POST", "/api/orgs", token, {"name": "Customer Inc", "domains": ["customer.test"]}
    )
    assert added.status_code == 201, added.text
    org = added.json()
    assert org["members"] == 2 and org["shared_tickets"] is False
    assert sorted(t["subject"] for t in org["tickets"]) == ["Mine", "Printer on fire"]

    record = api(web, "GET", f"/api/contacts/{carl}", token).json()
    assert record["organization"] == {"id": org["id"], "name": "Customer Inc"}
    assert [t["label"] for t in record["tickets"]] == ["SUP-00001"]

    changed = api(
        web,
        "PATCH",
        f"/api/contacts/{carl}",
        token,
        {"notes": "Prefers phone", "organization": None},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["notes"] == "Prefers phone" and changed.json()["organization"] is None
    listed = api(web, "GET", "/api/contacts", token).json()["contacts"]
    assert [c["email"] for c in listed] == ["carl@customer.test", "dora@customer.test"]
    page = api(web, "GET", "/api/contacts?limit=1&offset=1", token).json()["contacts"]
    assert [c["email"] for c in page] == ["dora@customer.test"]
    found = api(web, "GET", "/api/contacts?q=dora", token).json()["contacts"]
    assert [c["email"] for c in found] == ["dora@customer.test"]
    members = api(web, "GET", f"/api/contacts?org={org['id']}", token).json()["contacts"]
    assert [c["email"] for c in members] == ["dora@customer.test"]

    shared = api(web, "PATCH", f"/api/orgs/{org['id']}", token, {"shared_tickets": True})
    assert shared.status_code == 200 and shared.json()["shared_tickets"] is True
    assert [o["name"] for o in api(web, "GET", "/api/orgs", token).json()["organizations"]] == [
        "Customer Inc"
    ]


def test_api_unknown_ids_are_404_and_bad_values_422(web: Site, token: str) -> None:
    web.ingest(customer_mail())
    carl = contact_id("carl@customer.test")
    org = api(web, "POST", "/api/orgs", token, {"name": "Acme", "domains": ["acme.test"]}).json()
    for method, path in (
        ("GET", "/api/contacts/999999"),
        ("PATCH", "/api/contacts/999999"),
        ("GET", "/api/contacts/abc"),
        ("GET", "/api/contacts/99999999999999999999999"),
        ("GET", "/api/orgs/999999"),
        ("PATCH", "/api/orgs/999999"),
        ("GET", "/api/orgs/-1"),
    ):
        answer = api(web, method, path, token, {"name": "X"})
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]
    refused: list[tuple[str, str, Any]] = [
        ("PATCH", f"/api/contacts/{carl}", {"organization": 999999}),
        ("PATCH", f"/api/contacts/{carl}", {"name": "x" * 501}),
        ("POST", "/api/orgs", {"name": "acme"}),  # exists, in another case
        ("POST", "/api/orgs", {"name": "none"}),
        ("POST", "/api/orgs", {"name": "Beta", "domains": ["acme.test"]}),
        ("POST", "/api/orgs", {"name": "Beta", "domains": ["no such thing"]}),
        ("PATCH", f"/api/orgs/{org['id']}", {"name": " "}),
    ]
    for method, path, body in refused:
        answer = api(web, method, path, token, body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["errors"]
    malformed: list[tuple[str, str, Any]] = [
        ("PATCH", f"/api/contacts/{carl}", {}),
        ("PATCH", f"/api/contacts/{carl}", {"organization": "Acme"}),
        ("PATCH", f"/api/contacts/{carl}", {"email": "x@y.test"}),
        ("PATCH", f"/api/contacts/{carl}", {"name": None}),
        ("POST", "/api/orgs", {"domains": []}),
        ("POST", "/api/orgs", {"name": "Gamma", "shared_tickets": "yes"}),
        ("PATCH", f"/api/orgs/{org['id']}", {}),
    ]
    for method, path, body in malformed:
        assert api(web, method, path, token, body).status_code == 400, body
    assert api(web, "GET", "/api/contacts?limit=0", token).status_code == 400
    assert api(web, "GET", "/api/contacts?sort=name", token).status_code == 400
    record = api(web, "GET", f"/api/contacts/{carl}", token).json()
    assert record["name"] == "Carl Customer" and record["organization"] is None
    assert [o["name"] for o in api(web, "GET", "/api/orgs", token).json()["organizations"]] == [
        "Acme"
    ]


def test_contact_and_org_pages_for_signed_in_agents(web: Site) -> None:
    web.ingest(customer_mail())
    web.ingest(customer_mail(frm="Dora <dora@customer.test>", subject="Dora's request"))
    carl = contact_id("carl@customer.test")
    for path in ("/contacts", f"/contacts/{carl}", "/orgs"):
        answer = web.client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert web.sign_in("ann@example.com").status_code == 303

    ticket_page = web.client.get("/tickets/SUP-00001").text
    assert f'href="/contacts/{carl}"' in ticket_page
    listing = web.client.get("/contacts?q=carl").text
    assert f"/contacts/{carl}" in listing and "dora@customer.test" not in listing

    added = web.post(
        "/orgs",
        {"name": "Customer Inc", "domains": "customer.test", "shared_tickets": "yes"},
        form_page="/orgs",
    )
    assert added.status_code == 303, added.text
    org_path = added.headers["location"]
    org_page = web.client.get(org_path).text
    assert "SUP-00001" in org_page and "Dora&#39;s request" in org_page

    saved = web.post(
        f"/contacts/{carl}",
        {"name": "Carl C.", "notes": "Never on Fridays <b>", "organization": "none"},
        form_page=f"/contacts/{carl}",
    )
    assert saved.status_code == 303
    page = web.client.get(f"/contacts/{carl}").text
    assert "Never on Fridays &lt;b&gt;" in page and "Carl C." in page and "SUP-00001" in page
    assert "SUP-00001" not in web.client.get(org_path).text  # carl left the organization

    stolen = web.client.post(f"/contacts/{carl}", data={"notes": "x"}, follow_redirects=False)
    assert stolen.status_code == 403
    bad = web.post(f"/contacts/{carl}", {"organization": "999999"}, form_page=f"/contacts/{carl}")
    assert bad.status_code == 422 and "no organization" in bad.text
    assert web.client.get("/contacts/999999").status_code == 404
    assert web.client.get("/orgs/nope").status_code == 404
    assert Contact.get_by_id(carl).notes == "Never on Fridays <b>"


# -- status pages: shared tickets -----------------------------------------------------------


def shown(web: Site, path: str) -> str:
    """The status page at `path`, which must open."""
    answer = web.client.get(path)
    assert answer.status_code == 200, answer.text
    return str(answer.text)


def link(web: Site, number: int, email: str) -> str:
    """The status link maildesk mails to `email` for ticket `number`."""
    contact = Contact.get(Contact.email == email)
    url = status_url("http://testserver", f"SUP-{number:05d}", number, web.web.secret, contact.id)
    return url.removeprefix("http://testserver")


def test_members_see_each_others_tickets_only_when_their_org_shares(web: Site) -> None:
    web.ingest(customer_mail(frm="Carl <carl@customer.test>", subject="Carl's printer"))
    web.ingest(customer_mail(frm="Dora <dora@customer.test>", subject="Dora's secret plan"))
    web.ingest(customer_mail(frm="Eve <eve@elsewhere.test>", subject="Eve's own"))
    web.ingest(customer_mail(frm="Mal <mal@evil.test>", subject="Mallory's own"))
    assert web.cli("orgs", "add", "Customer Inc", "--domain", "customer.test").exit_code == 0
    assert (
        web.cli("orgs", "add", "Evil", "--domain", "evil.test", "--shared-tickets").exit_code == 0
    )

    carls, doras = link(web, 1, "carl@customer.test"), link(web, 2, "dora@customer.test")
    eves, mals = link(web, 3, "eve@elsewhere.test"), link(web, 4, "mal@evil.test")
    secret = "Dora&#39;s secret plan"
    assert secret not in shown(web, carls)  # not shared yet

    shared = web.cli("orgs", "set", "Customer Inc", "--shared-tickets")
    assert shared.exit_code == 0
    page = shown(web, carls)
    assert secret in page and "SUP-00002" in page and "Eve" not in page
    assert "Carl&#39;s printer" in shown(web, doras)
    # Outsiders never see them: no organization, another (sharing) organization.
    for outsider in (eves, mals):
        text = shown(web, outsider)
        assert secret not in text and "SUP-00002" not in text and "Carl&#39;s" not in text
    # A foreign token on a member's ticket reveals nothing.
    foreign = re.sub(r"/t/SUP-00004/", "/t/SUP-00001/", mals)
    answer = web.client.get(foreign)
    assert answer.status_code == 404 and secret not in answer.text
    # Leaving the organization by hand ends it at once.
    assert web.cli("contacts", "set", "carl@customer.test", "--org", "none").exit_code == 0
    assert secret not in shown(web, carls)
    assert web.cli("contacts", "set", "carl@customer.test", "--org", "auto").exit_code == 0
    assert secret in shown(web, carls)
    assert web.cli("orgs", "set", "Customer Inc", "--no-shared-tickets").exit_code == 0
    assert secret not in shown(web, carls)
    assert Ticket.select().count() == 4


def test_ticket_lists_of_a_record_keep_to_the_desks_given(desk: Install, database_url: str) -> None:
    """What the web and the API pass for an agent limited to some desks (or
    categories): the contact and the organization stay readable, the tickets of other
    desks (or categories) are not there."""
    first = ingest(desk, CARL, "On our desk")
    second = ingest(desk, "carl@customer.test", "On the other desk")
    assert desk.run("orgs", "add", "Customer Inc", "--domain", "customer.test").exit_code == 0
    with opened(database_url):
        Ticket.update(desk="other").where(Ticket.number == int(second[4:])).execute()
        ours = Ticket.get(Ticket.number == int(first[4:])).desk
        carl = Contact.get(Contact.email == "carl@customer.test")
        organization = Organization.get(Organization.name == "Customer Inc")

        def label(ticket: Ticket) -> str:
            return f"SUP-{ticket.number:05d}"

        def labels(rows: list[dict[str, Any]]) -> list[str]:
            return [row["label"] for row in rows]

        none = Fields(())
        every = records.contact_detail(carl, label, fields=none)
        assert labels(every["tickets"]) == [second, first]
        mine = records.contact_detail(carl, label, Scope((ours,), ours), fields=none)
        assert labels(mine["tickets"]) == [first] and mine["email"] == "carl@customer.test"
        assert records.contact_detail(carl, label, Scope((), ours), fields=none)["tickets"] == []
        billing_only = Scope(None, ours, ("Billing",))
        uncategorised = records.contact_detail(carl, label, billing_only, fields=none)
        assert uncategorised["tickets"] == []  # of a category the reader is not limited to
        other = Scope(("other",), ours)
        theirs = records.organization_detail(organization, label, other, fields=none)
        assert labels(theirs["tickets"]) == [second] and theirs["members"] == 1


TWO_DESKS = SUPPORT_AND_BILLING


@pytest.fixture
def two_desks(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, extra=TWO_DESKS) as running:
        running.add_agent("ann@example.com", "Ann", "admin")
        added = running.cli(
            "agents", "add", "bob@example.com", "--name", "Bob", "--desk", "billing",
            "--password-stdin", input="correct horse battery\n",
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        yield running


def test_an_agent_reads_the_tickets_of_their_desks_only(two_desks: Site) -> None:
    web = two_desks
    web.ingest(customer_mail(frm=CARL, subject="Support: printer"))
    web.ingest(customer_mail(frm=CARL, subject="Billing: invoice", to="billing@example.com"))
    web.ingest(customer_mail(frm="Dora <dora@customer.test>", subject="Dora's support question"))
    web.ingest(
        customer_mail(
            frm="Dora <dora@customer.test>", subject="Dora's bill", to="billing@example.com"
        )
    )
    assert (
        web.cli(
            "orgs", "add", "Customer Inc", "--domain", "customer.test", "--shared-tickets"
        ).exit_code
        == 0
    )
    carl = contact_id("carl@customer.test")
    labels = {t.subject: web.web.desk.label(t) for t in Ticket.select()}
    assert labels["Support: printer"].startswith("SUP-") and labels["Billing: invoice"].startswith(
        "BIL-"
    )

    ann = agents.create_token(web.runtime.db, "ann@example.com", "t", web.runtime.clock())
    bob = agents.create_token(web.runtime.db, "bob@example.com", "t", web.runtime.clock())
    everything = api(web, "GET", f"/api/contacts/{carl}", ann).json()
    assert {t["label"] for t in everything["tickets"]} == {
        labels["Support: printer"],
        labels["Billing: invoice"],
    }
    billing = api(web, "GET", f"/api/contacts/{carl}", bob).json()
    assert [t["label"] for t in billing["tickets"]] == [labels["Billing: invoice"]]
    assert "printer" not in json.dumps(billing)
    org = api(web, "GET", "/api/orgs/1", bob).json()
    assert sorted(t["subject"] for t in org["tickets"]) == ["Billing: invoice", "Dora's bill"]

    assert web.sign_in("bob@example.com").status_code == 303
    page = web.client.get(f"/contacts/{carl}").text
    assert labels["Billing: invoice"] in page and "printer" not in page
    org_page = web.client.get("/orgs/1").text
    assert "Dora&#39;s bill" in org_page and "support question" not in org_page

    # The status page of a support ticket lists the members' support tickets only.
    status = shown(web, link(web, int(labels["Support: printer"][4:]), "carl@customer.test"))
    assert "Dora&#39;s support question" in status and "Dora&#39;s bill" not in status
