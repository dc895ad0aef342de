"""Several desks in one instance: mail finds its desk, each desk speaks with its own
name, address, prefix and signature, and an agent of one desk finds nothing of
another (404, as if it did not exist) through the web, the API or mail.

Through the real entry points (`maildesk ingest` and the CLI, the web test client, the
API with a bearer token), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.config import ConfigError, load_config
from maildesk.inbound.intake import Envelope
from maildesk.store.models import Contact, Ticket
from maildesk.tickets import agents
from tests import dovecot
from tests.conftest import Install, write_config
from tests.conversation import customer_mail, maildir_mails, recipients, reply, text_of
from tests.daemon import Daemon, daemon_config
from tests.dovecot import Dovecot
from tests.mailfactory import with_attachments
from tests.web_support import Site, site

TWO_DESKS = """
[[desks]]
slug = "support"
name = "Acme Support"
ticket_prefix = "SUP"
addresses = ["support@example.com"]
signature = "The Acme support team"

[[desks]]
slug = "billing"
name = "Acme Billing"
ticket_prefix = "BIL"
addresses = ["billing@example.com"]
base_url = "https://billing.example.com"
signature = "Acme Billing, accounts department"

[[rule]]
name = "invoices"
keyword = ["invoice"]
add_tags = ["invoice"]
desks = ["billing"]

[[field]]
name = "order"
label = "Order number"
type = "link"
link_template = "https://shop.example.com/orders/{value}"

[[field]]
name = "amount"
type = "number"
desks = ["billing"]

[[field]]
name = "plan"
type = "select"
options = ["Basic", "Pro"]

[[field]]
name = "vip"
type = "checkbox"
"""

CARL = "Carl Customer <carl@customer.test>"
DORA = "Dora Debtor <dora@customer.test>"


class Room:
    def __init__(self, desk: Install) -> None:
        self.desk = desk
        self.seen = 0

    def send(self, raw: bytes) -> dict[str, Any]:
        [line] = self.desk.ingest(raw)
        return line

    def out(self) -> list[Any]:
        result = self.desk.run("outbox", "send")
        assert result.exit_code == 0, result.output
        folder = self.desk.root / "outbox"
        mails = maildir_mails(folder) if folder.exists() else []
        new, self.seen = mails[self.seen :], len(mails)
        return new


@pytest.fixture
def room(tmp_path: Path, database_url: str) -> Room:
    write_config(tmp_path, database_url, TWO_DESKS)
    install = Install(tmp_path / "maildesk.toml", database_url, tmp_path)
    for email, name, desks in (
        ("sam@example.com", "Sam Support", ["--desk", "support"]),
        ("bill@example.com", "Bill Billing", ["--desk", "billing"]),
        ("max@example.com", "Max Both", ["--desk", "support", "--desk", "billing"]),
    ):
        result = install.run("agents", "add", email, "--name", name, *desks)
        assert result.exit_code == 0, result.output
    return Room(install)


def only(mails: list[Any], address: str) -> Any:
    found = [m for m in mails if address in recipients(m)]
    assert len(found) == 1, [(m["To"], m["Subject"]) for m in mails]
    return found[0]


# -- mail finds its desk ----------------------------------------------------------------


def test_mail_to_a_desk_address_opens_a_ticket_of_that_desk(room: Room) -> None:
    line = room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    assert line["ticket"] == "BIL-00001"
    line = room.send(customer_mail(CARL, subject="Printer on fire"))
    assert line["ticket"] == "SUP-00002"  # one sequence of numbers, each desk's prefix

    bil = room.desk.json("tickets", "show", "BIL-00001")
    assert bil["desk"] == "billing" and bil["number"] == "BIL-00001"
    assert bil["tags"] == ["invoice"]  # the billing desk's rule
    sup = room.desk.json("tickets", "show", "2")
    assert sup["desk"] == "support" and sup["tags"] == []  # not the support desk's rule
    listed = room.desk.json("tickets", "list", "--desk", "billing")
    assert [t["number"] for t in listed] == ["BIL-00001"]
    bad = room.desk.run("tickets", "list", "--desk", "nosuch")
    assert bad.exit_code == 2 and "billing" in bad.stderr


def test_each_desk_speaks_with_its_own_name_address_prefix_and_signature(room: Room) -> None:
    room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    mails = room.out()
    ack = only(mails, "dora@customer.test")
    assert ack["Subject"] == "Re: [BIL-00001] Invoice twice"
    assert ack["From"].addresses[0].display_name == "Acme Billing"
    assert ack["From"].addresses[0].addr_spec == "billing@example.com"
    assert ack["Reply-To"].addresses[0].addr_spec == "billing@example.com"
    text = text_of(ack)
    assert "Acme Billing, accounts department" in text
    assert "https://billing.example.com/t/BIL-00001/" in text
    for leak in ("Acme Support", "support@example.com", "SUP-", "The Acme support team"):
        assert leak not in str(ack), leak  # nothing of the other desk, headers or body

    # Only the agents of the billing desk hear of it.
    told = {a for m in mails if m is not ack for a in recipients(m)}
    assert told == {"bill@example.com", "max@example.com"}


def test_envelope_recipient_decides_before_to_and_cc(two: Site) -> None:
    raw = customer_mail(
        CARL, subject="Both of you", to="support@example.com", cc="billing@example.com"
    )
    envelope = Envelope("carl@customer.test", ("billing+x@example.com",))
    outcome = two.runtime.ingest(raw, source="test", envelope=envelope)
    assert outcome.ticket == "BIL-00003"
    assert Ticket.get(Ticket.number == 3).mailbox == "billing@example.com"


def test_to_before_cc_and_unknown_addresses_go_to_the_default_desk(room: Room) -> None:
    raw = customer_mail(
        CARL, subject="Both of you", to="support@example.com", cc="billing@example.com"
    )
    assert room.send(raw)["ticket"] == "SUP-00001"
    raw = customer_mail(CARL, subject="Hello", to="billing@example.com", cc="support@example.com")
    assert room.send(raw)["ticket"] == "BIL-00002"
    raw = customer_mail(DORA, subject="Lost", to="someone@elsewhere.test", cc="")
    assert room.send(raw)["ticket"] == "SUP-00003"  # the first desk is the default


def test_replies_with_any_desks_tag_join_their_ticket(room: Room) -> None:
    room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    ack = only(room.out(), "dora@customer.test")
    line = room.send(reply(ack, DORA, "Any news?"))
    assert line["ticket"] == "BIL-00001" and line["action"] == "appended"
    # A tag alone (no thread headers) from the participant joins too.
    raw = customer_mail(DORA, subject="Re: [BIL-00001] Invoice twice", body="Still waiting")
    assert room.send(raw)["ticket"] == "BIL-00001"


# -- agents and their desks -------------------------------------------------------------


def test_agents_belong_to_desks(room: Room) -> None:
    listed = {a["email"]: a["desks"] for a in room.desk.json("agents", "list")}
    assert listed == {
        "sam@example.com": ["support"],
        "bill@example.com": ["billing"],
        "max@example.com": ["billing", "support"],
    }
    result = room.desk.run("agents", "add", "x@example.com", "--name", "X", "--desk", "nosuch")
    assert result.exit_code == 2 and "nosuch" in result.stderr
    assert room.desk.json("agents", "list")[-1]["email"] != "x@example.com"
    result = room.desk.run("agents", "set", "sam@example.com", "--desk", "billing")
    assert result.exit_code == 0 and "desks billing" in result.stdout
    result = room.desk.run("agents", "add", "root@example.com", "--name", "Root", "--role", "admin")
    assert "every desk" in result.stdout


def test_merging_into_another_desks_ticket_is_refused(room: Room) -> None:
    room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    room.send(customer_mail(CARL, subject="Printer on fire"))
    notice = only(room.out(), "sam@example.com")  # of SUP-00002
    room.send(reply(notice, "Sam Support <sam@example.com>", "#merge SUP-1\n\nSame thing."))
    ticket = room.desk.json("tickets", "show", "2")
    rejected = [e for e in ticket["events"] if e["type"] == "commands_rejected"]
    assert rejected and "no such ticket" in rejected[0]["data"]["errors"][0]
    assert ticket["merged_into"] is None


def test_an_agent_cannot_write_into_another_desks_ticket_by_its_tag(
    tmp_path: Path, database_url: str
) -> None:
    # Even where the From header alone is trusted, a tag is no way in for an agent of
    # another desk: their mail is matched as anyone's, a new ticket of their own.
    extra = TWO_DESKS + "[security]\ntrust_from_header = true\n"
    desk = Install(write_config(tmp_path, database_url, extra), database_url, tmp_path)
    for email, slug in (("sam@example.com", "support"), ("bill@example.com", "billing")):
        assert desk.run("agents", "add", email, "--name", "A", "--desk", slug).exit_code == 0
    room = Room(desk)
    room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    room.out()
    commands = "#status closed\n#priority urgent\n\nRefund done, Dora."
    forged = customer_mail(
        "Sam Support <sam@example.com>", subject="Re: [BIL-00001] Invoice twice", body=commands
    )
    line = room.send(forged)
    assert line["action"] == "created" and line["ticket"].startswith("SUP-")
    bil = desk.json("tickets", "show", "BIL-00001")
    assert (bil["status"], bil["priority"]) == ("new", "medium")
    assert [m["from"] for m in bil["messages"]] == ["dora@customer.test"]
    mails = room.out()
    assert not [m for m in mails if "dora@customer.test" in recipients(m)]
    assert not [m for m in mails if "bill@example.com" in recipients(m)]
    assert not [m for m in mails if "BIL-00001" in str(m)]  # sam's new ticket's mail only
    events = desk.json("tickets", "show", line["ticket"])["events"]
    assert "BIL-00001" not in str(events)  # not even as a label that exists

    # The billing desk's agent is let in the same way.
    own = customer_mail(
        "Bill Billing <bill@example.com>", subject="Re: [BIL-00001] Invoice twice", body=commands
    )
    assert room.send(own)["ticket"] == "BIL-00001"
    assert desk.json("tickets", "show", "BIL-00001")["status"] == "closed"


# -- custom fields by mail ------------------------------------------------------------------


def test_set_custom_fields_by_mail(room: Room) -> None:
    room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    notice = only(room.out(), "bill@example.com")
    body = "#set order A-1234\n#set amount 12.50\n#set plan pro\n#set vip yes\n\nChecking."
    room.send(reply(notice, "Bill Billing <bill@example.com>", body))
    ticket = room.desk.json("tickets", "show", "BIL-1")
    assert ticket["fields"] == {"order": "A-1234", "amount": 12.5, "plan": "Pro", "vip": True}
    assert ticket["field_links"] == {"order": "https://shop.example.com/orders/A-1234"}
    changed = [e["data"] for e in ticket["events"] if e["type"] == "field_changed"]
    assert {"field": "amount", "before": [], "after": ["12.5"]} in changed
    relayed = only(room.out(), "dora@customer.test")
    assert "#set" not in text_of(relayed) and "Checking." in text_of(relayed)

    # Clearing one; a bad value rejects the whole reply (nothing applied, nothing sent).
    room.send(reply(notice, "Bill Billing <bill@example.com>", "#set vip none\n\nDone."))
    assert room.desk.json("tickets", "show", "BIL-1")["fields"]["vip"] is None
    room.out()
    bad = "#set amount lots\n#set plan Pro\n\nShould not go out."
    room.send(reply(notice, "Bill Billing <bill@example.com>", bad))
    mails = room.out()
    assert not [m for m in mails if "dora@customer.test" in recipients(m)]
    error = only(mails, "bill@example.com")
    assert "amount: not a number" in text_of(error)
    ticket = room.desk.json("tickets", "show", "BIL-1")
    assert ticket["fields"]["plan"] == "Pro" and ticket["fields"]["amount"] == 12.5

    # A field of another desk, or none at all, is unknown here.
    room.send(customer_mail(CARL, subject="Printer on fire"))
    notice = only(room.out(), "sam@example.com")
    room.send(reply(notice, "Sam Support <sam@example.com>", "#set amount 5\n\nHm."))
    ticket = room.desk.json("tickets", "show", "SUP-2")
    assert "amount" not in ticket["fields"]
    [rejected] = [e for e in ticket["events"] if e["type"] == "commands_rejected"]
    assert "amount: no such field" in rejected["data"]["errors"][0]


FIELD_RULES = """
[[rule]]
name = "pro customers"
field = ["plan=pro"]
set_priority = "urgent"
set_category = "priority-care"
add_tags = ["pro"]
desks = ["billing"]

[[rule]]
name = "vip"
field = ["vip=yes"]
add_tags = ["vip"]
"""


def test_routing_rules_on_custom_fields(tmp_path: Path, database_url: str) -> None:
    path = write_config(tmp_path, database_url, TWO_DESKS + FIELD_RULES)
    desk = Install(path, database_url, tmp_path)
    added = desk.run("agents", "add", "bill@example.com", "--name", "Bill", "--desk", "billing")
    assert added.exit_code == 0, added.output
    room = Room(desk)
    room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    notice = only(room.out(), "bill@example.com")
    bill = "Bill Billing <bill@example.com>"

    # Setting the field makes the rule act: priority, category (with its SLA) and tags.
    room.send(reply(notice, bill, "#set plan pro\n\nChecking."))
    ticket = desk.json("tickets", "show", "BIL-1")
    assert (ticket["priority"], ticket["category"]) == ("urgent", "priority-care")
    assert ticket["tags"] == ["invoice", "pro"]  # the mail rule's, then the field rule's
    routed = [e for e in ticket["events"] if e["type"] == "routed"][-1]  # after the mail's
    assert routed["actor"] == "system"
    assert routed["data"]["rules"] == ["pro customers"] and routed["data"]["field"] == "plan"

    # The agent lowers the priority; later field changes do not raise it again.
    room.send(reply(notice, bill, "#priority low\n#set order A-1\n\nOk."))
    assert desk.json("tickets", "show", "BIL-1")["priority"] == "low"
    # In one reply, the agent's own command wins over what a rule sets.
    room.send(reply(notice, bill, "#set plan basic\n\nDowngraded."))
    room.send(reply(notice, bill, "#priority medium\n#set plan pro\n#set vip yes\n\nBack."))
    ticket = desk.json("tickets", "show", "BIL-1")
    assert ticket["priority"] == "medium" and ticket["tags"] == ["invoice", "pro", "vip"]

    # A rule limited to the billing desk does nothing on a support ticket.
    desk.run("agents", "add", "sam@example.com", "--name", "Sam", "--desk", "support")
    room.send(customer_mail(CARL, subject="Printer on fire"))
    notice = only(room.out(), "sam@example.com")
    room.send(reply(notice, "Sam <sam@example.com>", "#set plan pro\n\nHm."))
    ticket = desk.json("tickets", "show", "SUP-2")
    assert ticket["fields"]["plan"] == "Pro" and ticket["priority"] == "medium"
    assert ticket["tags"] == []


def dora_asks(form: str) -> dict[str, str]:
    """What Dora fills in on the billing desk's /submit form (`form`: the page)."""
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token
    return {
        "csrf": token.group(1),
        "name": "Dora",
        "email": "dora@customer.test",
        "subject": "Charged twice",
        "description": "Please refund.",
        "field_plan": "Pro",
    }


def test_a_routing_rule_on_a_field_from_the_submit_form_and_the_api(
    tmp_path: Path, database_url: str
) -> None:
    extra = TWO_DESKS.replace(
        'name = "plan"\ntype = "select"', 'name = "plan"\ntype = "select"\nsubmit = true'
    )
    with site(tmp_path, database_url, extra=extra + FIELD_RULES) as s:
        s.add_agent("root@example.com", "Root", role="admin")
        form = s.client.get("/submit/billing")
        done = s.client.post("/submit/billing", data=dora_asks(form.text))
        assert done.status_code == 200 and "BIL-00001" in done.text
        ticket = s.desk.json("tickets", "show", "BIL-1")
        assert (ticket["priority"], ticket["category"], ticket["tags"]) == (
            "urgent",
            "priority-care",
            ["pro"],
        )

        s.ingest(customer_mail(CARL, subject="Question", to="billing@example.com"))
        headers = bearer(s, "root@example.com")
        changed = s.client.patch(
            "/api/tickets/BIL-00002", json={"fields": {"vip": True}}, headers=headers
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["tags"] == ["vip"]


def test_a_rule_on_a_field_that_does_not_exist_or_a_value_it_cannot_take(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/maildesk.db"
    for condition, message in (
        ('"colour=red"', "colour: no such field"),
        ('"plan=Platinum"', "Platinum"),
        ('"plan"', "NAME=VALUE"),
    ):
        extra = TWO_DESKS + f'[[rule]]\nfield = [{condition}]\nadd_tags = ["x"]\n'
        desk = Install(write_config(tmp_path, url, extra), url, tmp_path)
        result = desk.run("check-config")
        assert result.exit_code != 0 and "rule[1].field" in result.stderr, result.stderr
        assert message in result.stderr


def test_filter_tickets_on_a_field(room: Room) -> None:
    for subject in ("One", "Two", "Three"):
        room.send(customer_mail(CARL, subject=subject))
    for notice in [m for m in room.out() if "sam@example.com" in recipients(m)]:
        plan = "Pro" if "Two" in str(notice["Subject"]) else "Basic"
        room.send(reply(notice, "Sam Support <sam@example.com>", f"#set plan {plan}\n#note"))
    listed = room.desk.json("tickets", "list", "--field", "plan=pro")
    assert [t["subject"] for t in listed] == ["Two"]
    assert len(room.desk.json("tickets", "list", "--field", "plan=Basic")) == 2
    bad = room.desk.run("tickets", "list", "--field", "plan=Gold")
    assert bad.exit_code == 2 and "not one of" in bad.stderr
    bad = room.desk.run("tickets", "list", "--field", "colour=red")
    assert bad.exit_code == 2 and "no such field" in bad.stderr


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        (TWO_DESKS.replace('slug = "billing"', 'slug = "support"'), "desks[1].slug", "already"),
        (TWO_DESKS.replace('"BIL"', '"SUP"'), "desks[1].ticket_prefix", "already"),
        (
            TWO_DESKS.replace('["billing@example.com"]', '["SUPPORT@example.com"]'),
            "desks[1].addresses",
            "already",
        ),
        (
            TWO_DESKS.replace('desks = ["billing"]', 'desks = ["biling"]', 1),
            "rule[0].desks",
            "did you mean",
        ),
        (TWO_DESKS.replace('slug = "billing"', 'slug = "Bill ing"'), "desks[1].slug", "lower-case"),
        ('[[field]]\nname = "x"\ntype = "select"\n', "field[0].options", "needs options"),
        (
            '[[field]]\nname = "x"\ntype = "multiselect"\noptions = ["a,b"]\n',
            "field[0].options",
            "no commas",
        ),
        ('[[field]]\nname = "x"\ntype = "link"\n', "field[0].link_template", "{value}"),
        ('[[field]]\nname = "x"\ntype = "colour"\n', "field[0].type", "one of"),
        ('[[field]]\nname = "x"\n[[field]]\nname = "x"\n', "field[1].name", "already"),
        ('[[field]]\nname = "Bad Name"\n', "field[0].name", "lower-case"),
        ('[[field]]\nname = "x"\nrequired = true\n', "field[0].required", "submit"),
    ],
)
def test_bad_desk_and_field_settings_name_their_key(
    tmp_path: Path, extra: str, key: str, words: str
) -> None:
    path = write_config(tmp_path, "sqlite:///x.db", extra)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key and words in str(caught.value)


# -- isolation: web and API ---------------------------------------------------------------


@pytest.fixture
def two(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, extra=TWO_DESKS) as running:
        running.add_agent("sam@example.com", "Sam Support")
        running.add_agent("bill@example.com", "Bill Billing")
        assert running.cli("agents", "set", "bill@example.com", "--desk", "billing").exit_code == 0
        running.add_agent("root@example.com", "Root", role="admin")
        running.ingest(customer_mail(CARL, subject="Printer on fire"))
        running.ingest(
            customer_mail(DORA, subject="Secret invoice of Dora", to="billing@example.com")
        )
        yield running


def bearer(s: Site, email: str) -> dict[str, str]:
    token = agents.create_token(s.runtime.db, email, "test", s.runtime.clock())
    return {"Authorization": f"Bearer {token}"}


def test_an_agent_sees_nothing_of_another_desk_in_the_web_view(two: Site) -> None:
    assert two.sign_in("sam@example.com").status_code == 303
    queue = two.client.get("/", params={"status": "all"})
    assert "Printer on fire" in queue.text
    assert "Secret invoice" not in queue.text and "BIL-" not in queue.text
    for path in ("/tickets/BIL-00002", "/tickets/2", "/tickets/SUP-00002"):
        page = two.client.get(path)
        assert page.status_code == 404, path
        assert "Secret invoice" not in page.text
    search = two.client.get("/", params={"q": "invoice", "status": "all"})
    assert "Secret invoice" not in search.text
    found = two.client.get("/", params={"q": "BIL-00002"}, follow_redirects=False)
    assert found.status_code != 303 or "BIL-00002" not in found.headers.get("location", "")

    bill = two.another_browser()
    assert bill.sign_in("bill@example.com").status_code == 303
    assert "Secret invoice of Dora" in bill.client.get("/tickets/BIL-00002").text
    assert bill.client.get("/tickets/SUP-00001").status_code == 404

    root = two.another_browser()
    assert root.sign_in("root@example.com").status_code == 303
    everything = root.client.get("/", params={"status": "all"}).text
    assert "Secret invoice" in everything and "Printer on fire" in everything


def test_an_agent_sees_nothing_of_another_desk_through_the_api(two: Site) -> None:
    sam = bearer(two, "sam@example.com")
    listed = two.client.get("/api/tickets", headers=sam).json()["tickets"]
    assert [t["number"] for t in listed] == ["SUP-00001"]
    asked = two.client.get("/api/tickets", params={"desk": "billing"}, headers=sam).json()
    assert asked["tickets"] == []
    searched = two.client.get("/api/tickets", params={"q": "invoice"}, headers=sam).json()
    assert searched["tickets"] == []
    for method, path, body in (
        ("GET", "/api/tickets/BIL-00002", None),
        ("GET", "/api/tickets/2", None),
        ("PATCH", "/api/tickets/2", {"priority": "high"}),
        ("POST", "/api/tickets/2/messages", {"text": "hello"}),
    ):
        answer = two.client.request(method, path, json=body, headers=sam)
        assert answer.status_code == 404, (method, path)
        assert "invoice" not in answer.text.lower()
    assert Ticket.get(Ticket.number == 2).priority != "high"
    made = two.client.post(
        "/api/tickets",
        json={"requester": {"email": "eve@customer.test"}, "body": "x", "desk": "billing"},
        headers=sam,
    )
    assert made.status_code == 422 and "desk" in made.text

    bill = bearer(two, "bill@example.com")
    document = two.client.get("/api/tickets/BIL-00002", headers=bill).json()
    assert document["desk"] == "billing" and document["fields"] == {
        "order": None,
        "amount": None,
        "plan": None,
        "vip": None,
    }


def test_fields_through_the_api(two: Site) -> None:
    bill = bearer(two, "bill@example.com")
    changed = two.client.patch(
        "/api/tickets/BIL-00002",
        json={"fields": {"amount": 99, "plan": "basic", "vip": False, "order": "X9"}},
        headers=bill,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["fields"] == {"order": "X9", "amount": 99, "plan": "Basic", "vip": False}
    for bad in (
        {"amount": "lots"},
        {"plan": "Gold"},
        {"nosuch": 1},
        {"vip": [1]},
        {"amount": {}},
        {"order note": "x"},  # never the field `order` with the value "note x"
        {"Order": "x"},
    ):
        answer = two.client.patch("/api/tickets/BIL-00002", json={"fields": bad}, headers=bill)
        assert answer.status_code == 422, bad
    unchanged = two.client.get("/api/tickets/BIL-00002", headers=bill).json()["fields"]
    assert unchanged["order"] == "X9" and unchanged["amount"] == 99
    cleared = two.client.patch(
        "/api/tickets/BIL-00002", json={"fields": {"amount": None}}, headers=bill
    )
    assert cleared.json()["fields"]["amount"] is None
    listed = two.client.get("/api/tickets", params={"field": "plan=Basic"}, headers=bill).json()
    assert [t["number"] for t in listed["tickets"]] == ["BIL-00002"]
    answer = two.client.get("/api/tickets", params={"field": "plan"}, headers=bill)
    assert answer.status_code == 400

    made = two.client.post(
        "/api/tickets",
        json={
            "requester": {"email": "eve@customer.test"},
            "body": "Charged twice",
            "desk": "billing",
            "fields": {"amount": "7.00", "plan": "Pro"},
        },
        headers=bill,
    )
    assert made.status_code == 201, made.text
    assert made.json()["number"].startswith("BIL-")
    assert made.json()["fields"]["amount"] == 7 and made.json()["fields"]["plan"] == "Pro"


# -- the ticket page, the queue and the customer's pages ----------------------------------


def test_fields_on_the_ticket_page(two: Site) -> None:
    assert two.sign_in("bill@example.com").status_code == 303
    page = two.client.get("/tickets/BIL-00002")
    assert "Order number" in page.text and 'name="field_amount"' in page.text
    changed = two.post(
        "/tickets/BIL-00002/update",
        {
            "was_field_order": "",
            "field_order": "A 7/x",  # a space: not a link value
            "was_field_amount": "",
            "field_amount": "3",
        },
        form_page="/tickets/BIL-00002",
    )
    assert changed.status_code == 422 and "order" in changed.text
    assert Ticket.get(Ticket.number == 2).field_rows.count() == 0  # all or nothing
    changed = two.post(
        "/tickets/BIL-00002/update",
        {
            "was_field_order": "",
            "field_order": "A7/x",
            "was_field_amount": "",
            "field_amount": "3",
            "has_field_vip": "1",
        },
        form_page="/tickets/BIL-00002",
    )
    assert changed.status_code == 303, changed.text
    page = two.client.get("/tickets/BIL-00002").text
    assert 'href="https://shop.example.com/orders/A7%2Fx"' in page  # the value quoted
    assert "field changed" in page
    # The support desk's page has no billing field.
    sam = two.another_browser()
    sam.sign_in("sam@example.com")
    assert 'name="field_amount"' not in sam.client.get("/tickets/SUP-00001").text


def test_queue_filters_on_desk_and_field(two: Site) -> None:
    bill = bearer(two, "bill@example.com")
    two.client.patch("/api/tickets/BIL-00002", json={"fields": {"plan": "Pro"}}, headers=bill)
    root = two.another_browser()
    root.sign_in("root@example.com")
    both = root.client.get("/", params={"status": "all"}).text
    assert "Acme Billing" in both and "Acme Support" in both  # the desk column
    billing = root.client.get("/", params={"status": "all", "desk": "billing"}).text
    assert "Secret invoice" in billing and "Printer on fire" not in billing
    pro = root.client.get("/", params={"status": "all", "field": "plan=pro"}).text
    assert "Secret invoice" in pro and "Printer on fire" not in pro
    assert root.client.get("/", params={"field": "plan=Gold"}).status_code == 400
    assert root.client.get("/", params={"field": "nosuch=1"}).status_code == 400
    # An agent asking for another desk gets nothing of it.
    sam = two.another_browser()
    sam.sign_in("sam@example.com")
    asked = sam.client.get("/", params={"status": "all", "desk": "billing"}).text
    assert "Secret invoice" not in asked and "Printer on fire" not in asked
    assert "Acme Billing" not in sam.client.get("/", params={"status": "all"}).text


def test_bulk_changes_skip_another_desks_tickets(two: Site) -> None:
    two.sign_in("sam@example.com")
    billing_id = Ticket.get(Ticket.number == 2).id
    answer = two.post("/bulk", {"ticket": [str(billing_id)], "priority": "urgent"})
    assert answer.status_code == 303
    assert Ticket.get(Ticket.number == 2).priority != "urgent"


def test_status_page_is_the_desks_and_shows_public_fields(
    tmp_path: Path, database_url: str
) -> None:
    extra = TWO_DESKS.replace(
        'name = "plan"\ntype = "select"', 'name = "plan"\ntype = "select"\npublic = true'
    )
    with site(tmp_path, database_url, extra=extra) as s:
        s.add_agent("root@example.com", "Root", role="admin")
        s.ingest(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
        headers = bearer(s, "root@example.com")
        fields = {"plan": "Pro", "amount": 98765}
        changed = s.client.patch("/api/tickets/BIL-00001", json={"fields": fields}, headers=headers)
        assert changed.status_code == 200, changed.text
        link = s.runtime.desk.mailer.status_url(Ticket.get(Ticket.number == 1))
        page = s.client.get(link.removeprefix("http://testserver"))
        assert page.status_code == 200, link
        assert "Acme Billing" in page.text and "Acme Support" not in page.text
        assert "Pro" in page.text  # public
        assert "98765" not in page.text  # amount is not public


def test_submit_form_per_desk_with_fields(tmp_path: Path, database_url: str) -> None:
    extra = TWO_DESKS.replace(
        'name = "amount"\ntype = "number"',
        'name = "amount"\ntype = "number"\nsubmit = true\nrequired = true',
    ).replace('name = "plan"\ntype = "select"', 'name = "plan"\ntype = "select"\nsubmit = true')
    with site(tmp_path, database_url, extra=extra) as s:
        form = s.client.get("/submit/billing")
        assert form.status_code == 200 and 'name="field_amount"' in form.text
        assert "Acme Billing" in form.text
        assert 'name="field_amount"' not in s.client.get("/submit").text  # billing only
        assert s.client.get("/submit/nosuch").status_code == 404
        fields = dora_asks(form.text)
        missing = s.client.post("/submit/billing", data=fields)
        assert missing.status_code == 422 and "amount" in missing.text
        bad = s.client.post("/submit/billing", data={**fields, "field_amount": "lots"})
        assert bad.status_code == 422
        done = s.client.post("/submit/billing", data={**fields, "field_amount": "19.90"})
        assert done.status_code == 200 and "BIL-00001" in done.text
        ticket = s.desk.json("tickets", "show", "BIL-1")
        assert ticket["desk"] == "billing"
        assert ticket["fields"]["amount"] == 19.9 and ticket["fields"]["plan"] == "Pro"


# -- reports, exports and the digest --------------------------------------------------------


def test_a_managers_reports_and_exports_cover_their_desks_only(two: Site) -> None:
    mia_desk = ("--role", "manager", "--desk", "support", "--password-stdin")
    added = two.cli("agents", "add", "mia@example.com", "--name", "Mia", *mia_desk,
                    input="correct horse battery\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    mia = two.another_browser()
    assert mia.sign_in("mia@example.com").status_code == 303
    page = mia.client.get("/reports")
    assert page.status_code == 200
    assert "Bill Billing" not in page.text  # another desk's agent
    export = mia.client.get("/tickets.csv").text
    assert "Printer on fire" in export and "Secret invoice" not in export
    assert export.splitlines()[0].endswith("sla_breached,desk,order,amount,plan,vip")
    daily = mia.client.get("/reports/daily.csv").text
    assert sum(int(line.split(",")[1]) for line in daily.splitlines()[1:]) == 1  # created
    assert mia.client.get("/reports", params={"desk": "billing"}).status_code == 404
    assert mia.client.get("/tickets.csv", params={"desk": "billing"}).status_code == 404

    root = two.another_browser()
    root.sign_in("root@example.com")
    everything = root.client.get("/tickets.csv").text
    assert "Printer on fire" in everything and "Secret invoice" in everything
    billing = root.client.get("/tickets.csv", params={"desk": "billing"}).text
    assert "Secret invoice" in billing and "Printer on fire" not in billing


def test_each_manager_gets_a_digest_per_desk(room: Room) -> None:
    write_config(
        room.desk.root, room.desk.database_url, TWO_DESKS + '\n[sla]\ndigest_time = "08:00"\n'
    )
    room.desk.run("agents", "add", "mia@example.com", "--name", "Mia", "--role", "manager",
                  "--desk", "support", "--desk", "billing")  # fmt: skip
    room.desk.run("agents", "add", "ola@example.com", "--name", "Ola", "--role", "manager",
                  "--desk", "billing")  # fmt: skip
    room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    room.send(customer_mail(CARL, subject="Printer on fire"))
    room.out()
    # Yesterday noon: after the digest time, and the mail due to go out now.
    noon = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(hour=12, minute=0)
    day = noon.date().isoformat()
    result = room.desk.run("digest", "send", "--now", noon.isoformat())
    assert result.exit_code == 0 and "queued" in result.stderr, result.output
    digests = [m for m in room.out() if str(m["Subject"]).startswith("SLA digest")]
    got = sorted((next(iter(recipients(m))), str(m["Subject"])) for m in digests)
    assert got == [
        ("mia@example.com", f"SLA digest {day}: Acme Billing"),
        ("mia@example.com", f"SLA digest {day}: Acme Support"),
        ("ola@example.com", f"SLA digest {day}: Acme Billing"),
    ]
    for mail in digests:
        text = text_of(mail)
        if "Billing" in str(mail["Subject"]):
            assert (
                "Printer on fire" not in text
                and mail["From"].addresses[0].addr_spec == "billing@example.com"
            )
        else:
            assert "Invoice twice" not in text
    again = room.desk.run("digest", "send", "--now", (noon + dt.timedelta(hours=1)).isoformat())
    assert "no digest due" in again.stderr


# -- tickets from before there were desks ---------------------------------------------------


def test_a_single_desk_install_moving_to_several_desks_keeps_its_tickets(
    tmp_path: Path, database_url: str
) -> None:
    write_config(tmp_path, database_url)
    install = Install(tmp_path / "maildesk.toml", database_url, tmp_path)
    install.ingest(customer_mail(CARL, subject="Before the desks"))
    assert install.json("tickets", "show", "1")["desk"] == "default"
    with site(tmp_path, database_url, extra=TWO_DESKS) as s:  # the desks added
        s.add_agent("sam@example.com", "Sam Support")
        assert s.cli("agents", "set", "sam@example.com", "--desk", "support").exit_code == 0
        listed = s.client.get("/api/tickets", headers=bearer(s, "sam@example.com")).json()
        assert [t["number"] for t in listed["tickets"]] == ["SUP-00001"]
        ticket = s.desk.json("tickets", "show", "1")
        assert ticket["desk"] == "support"


def test_tickets_from_before_desks_join_the_default_desk(tmp_path: Path, database_url: str) -> None:
    write_config(tmp_path, database_url)
    install = Install(tmp_path / "maildesk.toml", database_url, tmp_path)
    install.ingest(customer_mail(CARL, subject="Old one"))
    config = load_config(tmp_path / "maildesk.toml")
    from maildesk.store.db import open_database, using

    db = open_database(config.database.url)
    with using(db):
        Ticket.update(desk="").execute()  # as migration 0011 leaves them
    db.close()
    write_config(tmp_path, database_url, TWO_DESKS)
    ticket = install.json("tickets", "show", "1")
    assert ticket["desk"] == "support" and ticket["number"] == "SUP-00001"
    assert [t["number"] for t in install.json("tickets", "list", "--desk", "support")] == [
        "SUP-00001"
    ]


def test_admins_set_an_agents_desks_on_the_admin_page(two: Site) -> None:
    two.sign_in("root@example.com")
    page = two.client.get("/admin/agents").text
    assert 'name="desk" value="billing"' in page
    changed = two.post(
        "/admin/agents/change",
        {"email": "sam@example.com", "role": "agent", "active": "yes", "away": "no",
         "has_desks": "1", "desk": ["billing", "support"]},
        form_page="/admin/agents",
    )  # fmt: skip
    assert changed.status_code == 303
    listed = {a["email"]: a["desks"] for a in two.desk.json("agents", "list")}
    assert listed["sam@example.com"] == ["billing", "support"]
    for desks in ([], ["nosuch"]):
        refused = two.post(
            "/admin/agents/change",
            {"email": "sam@example.com", "has_desks": "1", "desk": desks},
            form_page="/admin/agents",
        )
        assert refused.status_code == 422
    added = two.post(
        "/admin/agents/add",
        {"email": "new@example.com", "name": "New", "role": "agent", "has_desks": "1",
         "desk": ["billing"]},
        form_page="/admin/agents",
    )  # fmt: skip
    assert added.status_code == 303
    listed = {a["email"]: a["desks"] for a in two.desk.json("agents", "list")}
    assert listed["new@example.com"] == ["billing"]


def test_a_desk_has_its_own_sla(room: Room) -> None:
    sla = """
[sla]
targets = ["medium 8h 72h"]

[[sla_policy]]
category = "*"
desks = ["billing"]
targets = ["medium 1h 4h"]
"""
    write_config(room.desk.root, room.desk.database_url, TWO_DESKS + sla)
    room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    room.send(customer_mail(CARL, subject="Printer on fire"))
    billing = room.desk.json("tickets", "show", "1")
    support = room.desk.json("tickets", "show", "2")
    assert billing["first_response_due"] < support["first_response_due"]
    assert billing["resolution_due"] < support["resolution_due"]
    everyone = TWO_DESKS + sla.replace('desks = ["billing"]\n', "")
    write_config(room.desk.root, room.desk.database_url, everyone)
    refused = room.desk.run("tickets", "list")
    assert refused.exit_code == 2
    assert "sla_policy[0].category" in refused.stderr and "needs desks" in refused.stderr


# -- through the daemon's SMTP listener --------------------------------------------------


def test_the_listener_takes_every_desks_addresses_and_the_envelope_decides(
    tmp_path: Path, database_url: str
) -> None:
    write_config(tmp_path, database_url, TWO_DESKS + daemon_config())
    install = Install(tmp_path / "maildesk.toml", database_url, tmp_path)
    daemon = Daemon(install.config_path, tmp_path).start()
    try:
        with daemon.smtp() as smtp:
            # To: support, delivered for billing (as an MTA routes a copy): billing's ticket.
            raw = customer_mail(DORA, subject="Invoice twice", to="support@example.com")
            assert smtp.sendmail("dora@customer.test", ["billing+inv@example.com"], raw) == {}
            raw = customer_mail(CARL, subject="Printer on fire")
            assert smtp.sendmail("carl@customer.test", ["support@example.com"], raw) == {}
            try:
                smtp.sendmail("eve@customer.test", ["sales@example.com"], raw)
                refused = False
            except smtplib.SMTPRecipientsRefused:
                refused = True
            assert refused  # no desk's address
        daemon.wait_for_line("accepted intake 2")  # both stored; the worker makes the tickets
        deadline = time.monotonic() + 20
        while len(install.json("tickets", "list")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert daemon.stop() == 0, daemon.log
    listed = {t["subject"]: t["number"] for t in install.json("tickets", "list")}
    assert listed == {"Invoice twice": "BIL-00001", "Printer on fire": "SUP-00002"}


def test_another_desks_files_and_raw_mail_are_not_there(two: Site) -> None:
    raw = with_attachments(
        to="billing@example.com",
        subject="Invoice copy",
        attachments=(("invoice.pdf", "application/pdf", b"%PDF-1.4 secret invoice"),),
    )
    two.ingest(raw)
    ticket = Ticket.get(Ticket.subject == "Invoice copy")
    label = f"BIL-{ticket.number:05d}"
    message = ticket.messages.get()
    attachment = message.attachments.get()
    paths = (
        f"/attachments/{attachment.id}/invoice.pdf",
        f"/tickets/{label}/messages/{message.id}/original",
        f"/tickets/{label}/messages/{message.id}/html",
    )
    bill = two.another_browser()
    bill.sign_in("bill@example.com")
    assert bill.client.get(paths[0]).content == b"%PDF-1.4 secret invoice"
    assert bill.client.get(paths[1]).status_code == 200
    two.sign_in("sam@example.com")
    for path in paths:
        answer = two.client.get(path)
        assert answer.status_code == 404, path
        assert b"secret invoice" not in answer.content


def test_sla_warnings_and_breaches_go_to_the_tickets_desk(room: Room) -> None:
    sla = """
[sla]
timezone = "Europe/Berlin"
targets = ["urgent 1h 8h", "high 4h 24h", "medium 8h 72h", "low 24h 168h"]
warn_percent = 75
escalation_addresses = ["boss@example.com"]
"""
    write_config(room.desk.root, room.desk.database_url, TWO_DESKS + sla)
    for email, name, desk in (
        ("mia@example.com", "Mia", "support"),
        ("ola@example.com", "Ola", "billing"),
    ):
        added = room.desk.run(
            "agents", "add", email, "--name", name, "--role", "manager", "--desk", desk
        )
        assert added.exit_code == 0, added.output
    friday = "2025-11-21T17:30:00+01:00"
    for raw in (
        customer_mail(DORA, subject="Invoice twice", to="billing@example.com"),
        customer_mail(CARL, subject="Printer on fire"),
    ):
        result = room.desk.run("ingest", "--now", friday, "-", input=raw)
        assert result.exit_code == 0, result.output
    for now in ("2025-11-24T15:30:00+01:00", "2025-11-24T18:00:00+01:00"):  # warn, breach
        scan = room.desk.run("sla", "scan", "--now", now)
        assert scan.exit_code == 0, scan.output
    told: dict[tuple[str, str], set[str]] = {}
    for row in room.desk.json("outbox", "list"):
        if row["purpose"] in ("sla_warning", "sla_breach"):
            told.setdefault((row["ticket"][:3], row["purpose"]), set()).update(row["to"])
    assert told == {
        ("BIL", "sla_warning"): {"bill@example.com", "max@example.com"},
        ("BIL", "sla_breach"): {"boss@example.com", "ola@example.com"},
        ("SUP", "sla_warning"): {"sam@example.com", "max@example.com"},
        ("SUP", "sla_breach"): {"boss@example.com", "mia@example.com"},
    }


def test_a_customer_known_only_to_another_desk_is_not_there(two: Site) -> None:
    two.ingest(customer_mail("Gus Only-Billing <gus@elsewhere.test>", to="billing@example.com"))
    gus = Contact.get(Contact.email == "gus@elsewhere.test").id
    dora = Contact.get(Contact.email == "dora@customer.test").id
    sam, bill = bearer(two, "sam@example.com"), bearer(two, "bill@example.com")
    listed = two.client.get("/api/contacts", headers=sam).json()["contacts"]
    assert {c["email"] for c in listed} == {"carl@customer.test"}  # of support's tickets
    searched = two.client.get("/api/contacts", params={"q": "gus"}, headers=sam).json()
    assert searched["contacts"] == []
    for contact in (gus, dora):
        assert two.client.get(f"/api/contacts/{contact}", headers=sam).status_code == 404
        changed = two.client.patch(f"/api/contacts/{contact}", json={"notes": "x"}, headers=sam)
        assert changed.status_code == 404
    assert Contact.get_by_id(gus).notes == ""
    assert two.client.get(f"/api/contacts/{gus}", headers=bill).status_code == 200
    two.sign_in("sam@example.com")
    assert "gus@elsewhere.test" not in two.client.get("/contacts", params={"q": "gus"}).text
    assert two.client.get(f"/contacts/{gus}").status_code == 404
    assert two.post(f"/contacts/{gus}", {"notes": "x"}).status_code == 404
    # Once the person writes to support too, support's agents meet them.
    two.ingest(customer_mail("Gus <gus@elsewhere.test>", subject="Now support"))
    assert two.client.get(f"/contacts/{gus}").status_code == 200


def test_an_imap_mailbox_of_one_desk(tmp_path: Path) -> None:
    """`[[imap]] desk`: the mailbox's mail is that desk's, whatever its To says (mail
    forwarded or Bcc'd into the billing mailbox); another mailbox's To decides."""
    if not dovecot.available():
        pytest.skip("dovecot not installed (scripts/setup --test installs it)")
    url = f"sqlite:///{tmp_path}/maildesk.db"
    server = Dovecot({"support": "support-pw", "billing": "billing-pw"})
    server.start()
    try:
        forwarded = customer_mail(DORA, subject="Forwarded invoice", to="dora-boss@customer.test")
        server.append("billing", "INBOX", forwarded)
        server.append("support", "INBOX", customer_mail(CARL, subject="Printer on fire"))
        mailboxes = "".join(
            f"""
[[imap]]
host = "127.0.0.1"
port = {server.port}
tls = "none"
username = "{user}"
password_env = "TEST_IMAP_PASSWORD_{user.upper()}"
desk = "{desk}"
"""
            for user, desk in (("support", ""), ("billing", "billing"))
        )
        config = write_config(tmp_path, url, TWO_DESKS + daemon_config() + mailboxes)
        install = Install(config, url, tmp_path)
        env = {
            "TEST_IMAP_PASSWORD_SUPPORT": "support-pw",
            "TEST_IMAP_PASSWORD_BILLING": "billing-pw",
        }
        running = Daemon(config, tmp_path, env).start()
        try:
            deadline = time.monotonic() + 20
            while len(install.json("tickets", "list")) < 2 and time.monotonic() < deadline:
                running.wait_for_line("imap: polling")
                time.sleep(0.05)
        finally:
            assert running.stop() == 0, running.log
        listed = {t["subject"]: t["number"] for t in install.json("tickets", "list")}
        assert listed["Forwarded invoice"].startswith("BIL-")
        assert listed["Printer on fire"].startswith("SUP-")
    finally:
        server.close()


def test_an_imap_mailbox_names_a_desk_that_exists(tmp_path: Path) -> None:
    extra = TWO_DESKS + '[[imap]]\nhost = "h"\nusername = "u"\npassword_env = "P"\ndesk = "bill"\n'
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, "sqlite:///x.db", extra))
    assert caught.value.key == "imap[0].desk" and "did you mean 'billing'" in str(caught.value)


def test_check_config_lists_the_desks(room: Room) -> None:
    result = room.desk.run("check-config")
    assert result.exit_code == 0, result.output
    assert "desk support: Acme Support <support@example.com>, prefix SUP" in result.stdout
    assert "desk billing: Acme Billing <billing@example.com>, prefix BIL" in result.stdout


def test_date_and_multiselect_fields_by_mail(room: Room) -> None:
    extra = (
        '\n[[field]]\nname = "renewal"\ntype = "date"\n'
        '\n[[field]]\nname = "modules"\ntype = "multiselect"\noptions = ["Mail", "Chat", "Voice"]\n'
    )
    write_config(room.desk.root, room.desk.database_url, TWO_DESKS + extra)
    room.send(customer_mail(CARL, subject="Renewal"))
    notice = only(room.out(), "sam@example.com")
    room.send(
        reply(
            notice,
            "Sam Support <sam@example.com>",
            "#set renewal 2027-03-01\n#set modules voice, mail\n#note",
        )
    )
    fields = room.desk.json("tickets", "show", "1")["fields"]
    assert fields["renewal"] == "2027-03-01" and fields["modules"] == ["Mail", "Voice"]
    for bad in ("#set renewal 2027-3-1", "#set renewal 2027-02-30", "#set modules Fax"):
        room.send(reply(notice, "Sam Support <sam@example.com>", f"{bad}\n#note"))
    fields = room.desk.json("tickets", "show", "1")["fields"]
    assert fields["renewal"] == "2027-03-01" and fields["modules"] == ["Mail", "Voice"]
    rejected = [
        e
        for e in room.desk.json("tickets", "show", "1")["events"]
        if e["type"] == "commands_rejected"
    ]
    assert len(rejected) == 3
