"""Custom fields on customer records: `[[field]]` with `record = "contact"` or
`"organization"`, set and shown through `maildesk contacts/orgs ...`, the customer and
organization pages and /api/contacts, /api/orgs; kept when contacts merge; limited to
some desks' agents when the field says so.

Tickets come from real mail (`maildesk ingest`, or the pipeline under the web site);
everything runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.config import ConfigError, load_config
from maildesk.store.models import Contact, ContactField, Organization
from maildesk.tickets import agents
from tests.conftest import SUPPORT_AND_BILLING, Install, opened, write_config
from tests.conversation import customer_mail
from tests.web_support import PASSWORD, Site, site

DESKS_AND_FIELDS = (
    SUPPORT_AND_BILLING
    + """

[[field]]
name = "order"
type = "link"
link_template = "https://shop.example.com/orders/{value}"

[[field]]
name = "tier"
record = "contact"
type = "select"
options = ["Gold", "Silver"]

[[field]]
name = "crm"
label = "CRM record"
record = "contact"
type = "link"
link_template = "https://crm.example.com/people/{value}"

[[field]]
name = "remark"
label = "Remark"
record = "contact"

[[field]]
name = "langs"
record = "contact"
type = "multiselect"
options = ["en", "de", "fr"]

[[field]]
name = "since"
record = "contact"
type = "date"

[[field]]
name = "vip"
record = "contact"
type = "checkbox"

[[field]]
name = "credit"
label = "Credit limit"
record = "contact"
type = "number"
desks = ["billing"]

[[field]]
name = "tier"
record = "organization"
type = "select"
options = ["Enterprise", "SMB"]

[[field]]
name = "seats"
record = "organization"
type = "number"

[[field]]
name = "account"
record = "organization"
type = "link"
link_template = "https://erp.example.com/accounts/{value}"
"""
)

CARL = "Carl Customer <carl@customer.test>"
EMPTY_CONTACT = {
    "tier": None,
    "crm": None,
    "remark": None,
    "langs": [],
    "since": None,
    "vip": None,
    "credit": None,
}


@pytest.fixture
def desk(tmp_path: Path, database_url: str) -> Install:
    return Install(write_config(tmp_path, database_url, DESKS_AND_FIELDS), database_url, tmp_path)


def ingest(desk: Install, frm: str, subject: str = "Help", to: str = "support@example.com") -> None:
    [line] = desk.ingest(customer_mail(frm=frm, subject=subject, to=to))
    assert line["action"] == "created", line


def ok(desk: Install, *args: str) -> str:
    result = desk.run(*args)
    assert result.exit_code == 0, result.output + result.stderr
    return str(result.stdout)


def refused(desk: Install, *args: str) -> str:
    """A usage error (exit 2), one line on stderr; what it says."""
    result = desk.run(*args)
    assert result.exit_code == 2, (args, result.output, result.stderr)
    assert result.stdout == "" and result.stderr.startswith("maildesk: "), result.stderr
    assert "Traceback" not in result.stderr
    return str(result.stderr)


# -- the configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ('[[field]]\nname = "x"\nrecord = "contact"\nsubmit = true\n', "field[0].submit", "ticket"),
        (
            '[[field]]\nname = "x"\nrecord = "organization"\npublic = true\n',
            "field[0].public",
            "only ticket fields",
        ),
        (
            '[[field]]\nname = "x"\nrecord = "contact"\ncategories = ["refunds"]\n',
            "field[0].categories",
            "contact field",
        ),
        (
            '[[field]]\nname = "x"\nrecord = "contact"\nsubmit = true\nrequired = true\n',
            "field[0].submit",
            "only ticket fields",
        ),
        ('[[field]]\nname = "x"\nrecord = "customer"\n', "field[0].record", "one of"),
        (
            '[[field]]\nname = "x"\nrecord = "contact"\n' * 2,
            "field[1].name",
            "already field[0] of the contact records",
        ),
        (
            '[[field]]\nname = "x"\nrecord = "contact"\ntype = "link"\n',
            "field[0].link_template",
            "{value}",
        ),
        (
            '[[field]]\nname = "x"\nrecord = "contact"\ndesks = ["nowhere"]\n',
            "field[0].desks",
            "desk",
        ),
    ],
)
def test_bad_record_field_settings_name_their_key(
    tmp_path: Path, extra: str, key: str, words: str
) -> None:
    path = write_config(tmp_path, "sqlite:///x.db", extra)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key and words in str(caught.value)


def test_a_name_is_one_field_per_kind_of_record(tmp_path: Path) -> None:
    """`tier` of contacts and of organizations, and a contact field named like a
    ticket's own key, are fine; the file's [[field]] entries go to their records."""
    extra = DESKS_AND_FIELDS + '\n[[field]]\nname = "status"\nrecord = "contact"\n'
    config = load_config(write_config(tmp_path, "sqlite:///x.db", extra))
    by_record: dict[str, list[str]] = {}
    for field in config.field:
        by_record.setdefault(field.record, []).append(field.name)
    assert by_record == {
        "ticket": ["order"],
        "contact": ["tier", "crm", "remark", "langs", "since", "vip", "credit", "status"],
        "organization": ["tier", "seats", "account"],
    }


# -- the CLI ---------------------------------------------------------------------------------


def test_contact_fields_through_the_cli(desk: Install) -> None:
    ingest(desk, CARL)
    ingest(desk, "Dora <dora@customer.test>")
    assert desk.json("contacts", "show", "carl@customer.test")["fields"] == EMPTY_CONTACT

    ok(
        desk, "contacts", "set", "CARL@customer.test", "--field", "tier=gold", "--field",
        "crm=C-7", "--field", "langs=fr, EN", "--field", "since=2024-02-29", "--field",
        "vip=yes", "--field", "credit=12.50", "--field", "remark=Calls <b>late</b>",
    )  # fmt: skip
    record = desk.json("contacts", "show", "carl@customer.test")
    assert record["fields"] == {
        "tier": "Gold",
        "crm": "C-7",
        "remark": "Calls <b>late</b>",
        "langs": ["en", "fr"],
        "since": "2024-02-29",
        "vip": True,
        "credit": 12.5,
    }
    assert record["field_links"] == {"crm": "https://crm.example.com/people/C-7"}
    text = ok(desk, "contacts", "show", "carl@customer.test")
    assert 'crm: "C-7" <https://crm.example.com/people/C-7>' in text and "langs: en, fr" in text

    listed = {c["email"]: c["fields"] for c in desk.json("contacts", "list")}
    assert listed["carl@customer.test"]["tier"] == "Gold"
    assert listed["dora@customer.test"] == EMPTY_CONTACT

    def having(*filters: str) -> list[str]:
        args = [arg for f in filters for arg in ("--field", f)]
        return [c["email"] for c in desk.json("contacts", "list", *args)]

    assert having("tier=GOLD") == ["carl@customer.test"]
    assert having("langs=fr", "vip=true") == ["carl@customer.test"]
    assert having("credit=12.5") == ["carl@customer.test"]  # canonical: 12.50 is 12.5
    assert having("tier=Silver") == [] and having("langs=de") == []

    ok(desk, "contacts", "set", "carl@customer.test", "--field", "tier=", "--field", "langs=none")
    cleared = desk.json("contacts", "show", "carl@customer.test")["fields"]
    assert cleared["tier"] is None and cleared["langs"] == [] and cleared["crm"] == "C-7"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--field", "since=2024-02-30"), "since: not a date"),
        (("--field", "tier=Bronze"), "'Bronze' is not one of Gold, Silver"),
        (("--field", "credit=lots"), "credit: not a number"),
        (("--field", "crm=two words"), "crm: one word"),
        (("--field", "order=A-1"), "order: no such field"),  # a ticket field
        (("--field", "seats=3"), "seats: no such field"),  # an organization field
        (("--field", "nosuch=1"), "nosuch: no such field"),
        (("--field", "tier"), "write a field as NAME=VALUE"),
        (("--field", "tier=Gold", "--field", "tier=Silver"), "tier: given twice"),
        (("--name", "Carl", "--field", "vip=maybe"), "vip: yes or no"),
    ],
)
def test_bad_contact_fields_change_nothing(desk: Install, args: tuple[str, ...], says: str) -> None:
    ingest(desk, CARL)
    ok(desk, "contacts", "set", "carl@customer.test", "--field", "tier=Silver")
    stderr = refused(desk, "contacts", "set", "carl@customer.test", *args)
    assert says in stderr, stderr
    record = desk.json("contacts", "show", "carl@customer.test")
    assert record["name"] == "Carl Customer"
    assert record["fields"] == {**EMPTY_CONTACT, "tier": "Silver"}


def test_bad_filters_are_usage_errors(desk: Install) -> None:
    ingest(desk, CARL)
    assert "order: no such field" in refused(desk, "contacts", "list", "--field", "order=1")
    assert "not one of" in refused(desk, "contacts", "list", "--field", "tier=Bronze")
    assert "NAME=VALUE" in refused(desk, "contacts", "list", "--field", "tier")


def test_organization_fields_through_the_cli(desk: Install) -> None:
    ingest(desk, CARL)
    ok(desk, "orgs", "add", "Acme", "--domain", "customer.test", "--field", "seats=50",
       "--field", "tier=smb")  # fmt: skip
    shown = desk.json("orgs", "show", "Acme")
    assert shown["fields"] == {"tier": "SMB", "seats": 50, "account": None}
    assert shown["field_links"] == {}
    before = shown["updated_at"]

    ok(desk, "orgs", "set", "acme", "--field", "account=A-1", "--field", "seats=")
    shown = desk.json("orgs", "show", "Acme")
    assert shown["fields"] == {"tier": "SMB", "seats": None, "account": "A-1"}
    assert shown["field_links"] == {"account": "https://erp.example.com/accounts/A-1"}
    assert shown["updated_at"] >= before
    assert shown["domains"] == ["customer.test"] and shown["members"] == 1  # the rest kept
    assert "account: " in ok(desk, "orgs", "show", "Acme")
    [listed] = desk.json("orgs", "list")
    assert listed["fields"] == shown["fields"]

    assert "Gold' is not one of Enterprise, SMB" in refused(
        desk, "orgs", "set", "Acme", "--field", "tier=Gold"
    )
    assert "crm: no such field" in refused(desk, "orgs", "set", "Acme", "--field", "crm=x")
    assert "seats: not a number" in refused(desk, "orgs", "add", "Beta", "--field", "seats=x")
    assert [o["name"] for o in desk.json("orgs", "list")] == ["Acme"]  # Beta not added
    # The contact's `tier` is another field than the organization's.
    assert desk.json("contacts", "show", "carl@customer.test")["fields"]["tier"] is None


def test_merging_keeps_the_survivors_values_and_fills_the_gaps(
    desk: Install, database_url: str
) -> None:
    ingest(desk, CARL)
    ingest(desk, "Carl at home <carl@home.test>")
    ok(desk, "contacts", "set", "carl@customer.test", "--field", "tier=Gold", "--field",
       "langs=en")  # fmt: skip
    ok(desk, "contacts", "set", "carl@home.test", "--field", "tier=Silver", "--field",
       "crm=H-1", "--field", "langs=de,fr", "--field", "vip=no")  # fmt: skip
    ok(desk, "contacts", "merge", "carl@customer.test", "carl@home.test")

    fields = desk.json("contacts", "show", "carl@home.test")["fields"]
    assert fields == {**EMPTY_CONTACT, "tier": "Gold", "langs": ["en"], "crm": "H-1", "vip": False}
    assert [c["email"] for c in desk.json("contacts", "list", "--field", "crm=H-1")] == [
        "carl@customer.test"
    ]
    assert desk.json("contacts", "list", "--field", "tier=Silver") == []
    # Set through a merged address: the person's record changes.
    ok(desk, "contacts", "set", "carl@home.test", "--field", "remark=two addresses")
    assert desk.json("contacts", "show", "carl@customer.test")["fields"]["remark"] == (
        "two addresses"
    )
    with opened(database_url):
        home = Contact.get(Contact.email == "carl@home.test")
        assert ContactField.select().where(ContactField.contact == home.id).count() == 0


# -- the web: API and pages ------------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    """Two desks: Ann works both (admin), Sam support, Bob billing."""
    with site(tmp_path, database_url, extra=DESKS_AND_FIELDS) as running:
        running.add_agent("ann@example.com", "Ann", "admin")
        for email, name, slug in (
            ("sam@example.com", "Sam", "support"),
            ("bob@example.com", "Bob", "billing"),
        ):
            added = running.cli(
                "agents", "add", email, "--name", name, "--desk", slug, "--password-stdin",
                input=PASSWORD + "\n",
            )  # fmt: skip
            assert added.exit_code == 0, added.output
        running.ingest(customer_mail(frm=CARL, subject="Printer"))
        running.ingest(customer_mail(frm=CARL, subject="Invoice", to="billing@example.com"))
        running.ingest(customer_mail(frm="Dora <dora@customer.test>", subject="Mine"))
        yield running


def bearer(web: Site, email: str) -> dict[str, str]:
    token = agents.create_token(web.runtime.db, email, "test", web.runtime.clock())
    return {"Authorization": f"Bearer {token}"}


def contact_id(email: str) -> int:
    return int(Contact.get(Contact.email == email).id)


def test_contact_fields_through_the_api(web: Site) -> None:
    ann = bearer(web, "ann@example.com")
    carl = contact_id("carl@customer.test")
    path = f"/api/contacts/{carl}"
    assert web.client.get(path, headers=ann).json()["fields"] == EMPTY_CONTACT

    body = {
        "tier": "silver",
        "langs": ["fr", "de"],
        "vip": False,
        "credit": "7.00",
        "crm": "C-9",
        "since": "2025-01-31",
    }
    changed = web.client.patch(path, json={"fields": body}, headers=ann)
    assert changed.status_code == 200, changed.text
    expected = {
        **EMPTY_CONTACT,
        "tier": "Silver",
        "langs": ["de", "fr"],
        "vip": False,
        "credit": 7,
        "crm": "C-9",
        "since": "2025-01-31",
    }
    assert changed.json()["fields"] == expected
    assert changed.json()["field_links"] == {"crm": "https://crm.example.com/people/C-9"}
    assert web.client.get(path, headers=ann).json()["fields"] == expected

    for bad in (
        {"tier": "Bronze"},
        {"since": "2025-13-01"},
        {"credit": "lots"},
        {"order": "A-1"},  # a ticket field
        {"seats": 3},  # an organization field
        {"nosuch": 1},
        {"Tier": "Gold"},
        {"vip": [1]},
        {"remark": {}},
        {"remark": "two\nlines"},
        {"tier": "none"},  # null clears
        {"tier": ""},
        {"tier": "Gold", "since": "yesterday"},  # all or nothing
    ):
        answer = web.client.patch(path, json={"fields": bad}, headers=ann)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["errors"][0].startswith("fields."), answer.text
    assert web.client.patch(path, json={"fields": 5}, headers=ann).status_code == 400
    assert web.client.get(path, headers=ann).json()["fields"] == expected

    cleared = web.client.patch(path, json={"fields": {"tier": None, "langs": []}}, headers=ann)
    assert cleared.json()["fields"] == {**expected, "tier": None, "langs": []}
    also = web.client.patch(path, json={"name": "Carl C.", "fields": {"vip": True}}, headers=ann)
    assert also.json()["name"] == "Carl C." and also.json()["fields"]["vip"] is True

    def listed(*filters: str) -> list[str]:
        params = [("field", f) for f in filters]
        answer = web.client.get("/api/contacts", params=params, headers=ann)
        assert answer.status_code == 200, answer.text
        return [c["email"] for c in answer.json()["contacts"]]

    assert listed("vip=yes", "credit=7") == ["carl@customer.test"]
    assert listed("vip=no") == []
    all_of_them = web.client.get("/api/contacts", headers=ann).json()["contacts"]
    assert {c["email"]: c["fields"]["vip"] for c in all_of_them} == {
        "carl@customer.test": True,
        "dora@customer.test": None,
    }
    for bad_filter in ("vip", "order=1", "tier=Bronze"):
        answer = web.client.get("/api/contacts", params={"field": bad_filter}, headers=ann)
        assert answer.status_code == 400, bad_filter


def test_organization_fields_through_the_api(web: Site) -> None:
    ann = bearer(web, "ann@example.com")
    made = web.client.post(
        "/api/orgs",
        json={"name": "Acme", "domains": ["customer.test"], "fields": {"seats": 12}},
        headers=ann,
    )
    assert made.status_code == 201, made.text
    org = made.json()
    assert org["fields"] == {"tier": None, "seats": 12, "account": None}
    path = f"/api/orgs/{org['id']}"
    hostile = "javascript:alert(1)"  # one word: a valid link value, URL-encoded into the URL
    changed = web.client.patch(
        path, json={"fields": {"account": hostile, "tier": "enterprise"}}, headers=ann
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["fields"] == {"tier": "Enterprise", "seats": 12, "account": hostile}
    assert changed.json()["field_links"] == {
        "account": "https://erp.example.com/accounts/javascript%3Aalert%281%29"
    }
    assert changed.json()["shared_tickets"] is False and changed.json()["members"] == 2
    [listed] = web.client.get("/api/orgs", headers=ann).json()["organizations"]
    assert listed["fields"] == changed.json()["fields"]
    for bad in ({"tier": "Gold"}, {"crm": "x"}, {"seats": True}):
        answer = web.client.patch(path, json={"fields": bad}, headers=ann)
        assert answer.status_code == 422, (bad, answer.text)
    refused = web.client.post(
        "/api/orgs", json={"name": "Beta", "fields": {"seats": "many"}}, headers=ann
    )
    assert refused.status_code == 422
    assert Organization.select().count() == 1


def test_fields_limited_to_a_desk_and_contacts_of_other_desks(web: Site) -> None:
    """Carl wrote to both desks, Dora to support only: Bob (billing) gets 404 for Dora,
    as before; `credit` (billing's) is there for Bob and Ann, not for Sam."""
    sam, bob = bearer(web, "sam@example.com"), bearer(web, "bob@example.com")
    carl, dora = contact_id("carl@customer.test"), contact_id("dora@customer.test")

    for method in ("GET", "PATCH"):
        answer = web.client.request(
            method, f"/api/contacts/{dora}", json={"fields": {"tier": "Gold"}}, headers=bob
        )
        assert answer.status_code == 404, (method, answer.text)
    assert ContactField.select().count() == 0
    assert (
        web.client.get("/api/contacts", params={"field": "tier=Gold"}, headers=bob).json()[
            "contacts"
        ]
        == []
    )

    set_credit = web.client.patch(
        f"/api/contacts/{carl}", json={"fields": {"credit": 100, "tier": "Gold"}}, headers=bob
    )
    assert set_credit.status_code == 200, set_credit.text
    assert set_credit.json()["fields"]["credit"] == 100
    for_sam = web.client.get(f"/api/contacts/{carl}", headers=sam).json()
    assert "credit" not in for_sam["fields"] and for_sam["fields"]["tier"] == "Gold"
    assert "100" not in json.dumps(for_sam["fields"])
    answer = web.client.patch(f"/api/contacts/{carl}", json={"fields": {"credit": 1}}, headers=sam)
    assert answer.status_code == 422 and "credit: no such field" in answer.text
    answer = web.client.get("/api/contacts", params={"field": "credit=100"}, headers=sam)
    assert answer.status_code == 400
    listed = web.client.get("/api/contacts", headers=sam).json()["contacts"]
    assert all("credit" not in c["fields"] for c in listed)
    assert web.client.get(f"/api/contacts/{carl}", headers=bob).json()["fields"]["credit"] == 100

    # The pages alike.
    browser = web.another_browser()
    assert browser.sign_in("bob@example.com").status_code == 303
    assert browser.client.get(f"/contacts/{dora}").status_code == 404
    answer = browser.post(f"/contacts/{dora}", {"field_tier": "Gold"}, form_page="/contacts")
    assert answer.status_code == 404
    assert "Credit limit" in browser.client.get(f"/contacts/{carl}").text
    assert web.sign_in("sam@example.com").status_code == 303
    page = web.client.get(f"/contacts/{carl}").text
    assert "Credit limit" not in page and 'name="field_credit"' not in page
    saved = web.post(
        f"/contacts/{carl}", {"field_credit": "5", "field_tier": "Silver"}, form_page="/contacts"
    )
    assert saved.status_code == 303  # a field Sam does not have is no input of his form
    fields = web.client.get(f"/api/contacts/{carl}", headers=bob).json()["fields"]
    assert fields["credit"] == 100 and fields["tier"] == "Silver"


def test_contact_page_shows_and_edits_fields(web: Site) -> None:
    carl = contact_id("carl@customer.test")
    path = f"/contacts/{carl}"
    assert web.sign_in("ann@example.com").status_code == 303
    page = web.client.get(path).text
    assert "CRM record" in page and 'name="field_crm"' in page and 'name="field_langs"' in page

    form = {
        "was_field_tier": "",
        "field_tier": "Gold",
        "was_field_crm": "",
        "field_crm": "javascript:alert(1)",
        "was_field_remark": "",
        "field_remark": "<script>alert('x')</script>",
        "has_field_langs": "1",
        "field_langs": ["en", "de"],
        "was_field_since": "",
        "field_since": "2026-03-01",
    }
    saved = web.post(path, form, form_page=path)
    assert saved.status_code == 303, saved.text
    page = web.client.get(path).text
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert 'href="https://crm.example.com/people/javascript%3Aalert%281%29"' in page
    assert 'href="javascript:' not in page
    record = web.client.get(f"/api/contacts/{carl}", headers=bearer(web, "ann@example.com")).json()
    assert record["fields"]["langs"] == ["en", "de"] and record["fields"]["tier"] == "Gold"
    assert record["name"] == "Carl Customer"  # not in this form: kept

    # A page loaded before someone else's change does not undo it.
    assert web.cli("contacts", "set", "carl@customer.test", "--field", "tier=Silver").exit_code == 0
    stale = web.post(
        path, {"was_field_tier": "Gold", "field_tier": "Gold", "notes": "hi"}, form_page=path
    )
    assert stale.status_code == 303
    assert Contact.get_by_id(carl).notes == "hi"
    assert "Silver" in web.client.get(path).text

    bad = web.post(
        path, {"was_field_since": "", "field_since": "31/12/2026", "notes": "lost"}, form_page=path
    )
    assert bad.status_code == 422 and "since: not a date" in bad.text
    assert Contact.get_by_id(carl).notes == "hi"  # all or nothing
    forged = web.client.post(path, data={"field_tier": "Gold"}, follow_redirects=False)
    assert forged.status_code == 403

    listing = web.client.get("/contacts", params={"field": "tier=silver"}).text
    assert f"/contacts/{carl}" in listing and "dora@customer.test" not in listing
    assert web.client.get("/contacts", params={"field": "order=1"}).status_code == 400


def test_organization_page_shows_and_edits_fields(web: Site) -> None:
    assert web.cli("orgs", "add", "Acme", "--domain", "customer.test", "--shared-tickets",
                   "--field", "account=A-1").exit_code == 0  # fmt: skip
    org = Organization.get(Organization.name == "Acme")
    path = f"/orgs/{org.id}"
    assert web.sign_in("ann@example.com").status_code == 303
    page = web.client.get(path).text
    assert 'href="https://erp.example.com/accounts/A-1"' in page and 'name="field_seats"' in page

    form = {
        "name": "Acme",
        "domains": "customer.test",
        "shared_tickets": "yes",
        "was_field_seats": "",
        "field_seats": "25",
        "was_field_account": "A-1",
        "field_account": "",
    }
    saved = web.post(path, form, form_page=path)
    assert saved.status_code == 303, saved.text
    shown = json.loads(web.cli("orgs", "show", "Acme", "--json").stdout)
    assert shown["fields"] == {"tier": None, "seats": 25, "account": None}
    assert shown["shared_tickets"] is True

    bad = web.post(path, {**form, "was_field_seats": "25", "field_seats": "x"}, form_page=path)
    assert bad.status_code == 422 and "seats: not a number" in bad.text
