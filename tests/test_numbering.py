"""Ticket numbers per desk (`[tickets] numbering = "desk"`): each desk counts its own
tickets (SUP-00001 and BIL-00001 are two tickets), every label anyone writes (a
subject tag, `#merge`, the CLI, a URL, the API, a status link) names the ticket of
that desk, numbers stay unique under concurrent writers, and an installation can
switch between one shared sequence and one per desk without a label ever naming two
tickets.

Through the real entry points, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.config import ConfigError, load_config
from maildesk.store.models import Ticket
from tests.conftest import Install, write_config
from tests.conversation import customer_mail, reply, text_of
from tests.test_desks import CARL, DORA, TWO_DESKS, Room, bearer, only
from tests.web_support import Site, site

PER_DESK = """
[tickets]
numbering = "desk"
"""

BILL = "Bill Billing <bill@example.com>"


def install(root: Path, url: str, numbering: str = "desk") -> Install:
    extra = TWO_DESKS + f'\n[tickets]\nnumbering = "{numbering}"\n'
    return Install(write_config(root, url, extra), url, root)


@pytest.fixture
def room(tmp_path: Path, database_url: str) -> Room:
    desk = install(tmp_path, database_url)
    for email, name, slug in (
        ("sam@example.com", "Sam Support", "support"),
        ("bill@example.com", "Bill Billing", "billing"),
    ):
        result = desk.run("agents", "add", email, "--name", name, "--desk", slug)
        assert result.exit_code == 0, result.output
    return Room(desk)


def test_each_desk_counts_its_own_tickets(room: Room) -> None:
    sent = [
        ("billing@example.com", DORA, "Invoice twice"),
        ("support@example.com", CARL, "Printer on fire"),
        ("billing@example.com", CARL, "Refund"),
        ("support@example.com", DORA, "Password"),
    ]
    labels = [room.send(customer_mail(frm, subject=s, to=to))["ticket"] for to, frm, s in sent]
    assert labels == ["BIL-00001", "SUP-00001", "BIL-00002", "SUP-00002"]

    shown = room.desk.json("tickets", "show", "BIL-00001")
    assert (shown["number"], shown["subject"], shown["desk"]) == (
        "BIL-00001",
        "Invoice twice",
        "billing",
    )
    assert room.desk.json("tickets", "show", "sup-1")["subject"] == "Printer on fire"
    # Bare digits are the default (first) desk's.
    assert room.desk.json("tickets", "show", "2")["subject"] == "Password"
    missing = room.desk.run("tickets", "show", "BIL-00003")
    assert missing.exit_code == 1 and "no ticket BIL-00003" in missing.stderr
    listed = room.desk.json("tickets", "list", "--desk", "billing")
    assert sorted(t["number"] for t in listed) == ["BIL-00001", "BIL-00002"]

    # What the customer gets says the desk's own label, and its status link opens it.
    mails = room.out()
    ack = only([m for m in mails if "Refund" in str(m["Subject"])], "carl@customer.test")
    assert ack["Subject"] == "Re: [BIL-00002] Refund"
    assert "https://billing.example.com/t/BIL-00002/" in text_of(ack)


def test_a_tag_names_the_ticket_of_its_desk(room: Room) -> None:
    room.send(customer_mail(CARL, subject="Printer on fire"))  # SUP-00001
    room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    # Dora's tag is her own ticket's, though ticket number 1 is Carl's.
    line = room.send(customer_mail(DORA, subject="Re: [BIL-00001] Invoice twice", body="Well?"))
    assert (line["ticket"], line["action"]) == ("BIL-00001", "appended")
    # Carl writing with Dora's tag is not let into her ticket: a new one, the tag noted.
    raw = customer_mail(
        CARL, subject="Re: [BIL-00001] Invoice twice", body="Hi", to="billing@example.com"
    )
    line = room.send(raw)
    assert line["action"] == "created" and line["ticket"] == "BIL-00002"
    events = room.desk.json("tickets", "show", "BIL-00002")["events"]
    untrusted = [e["data"] for e in events if e["type"] == "reference_not_trusted"]
    assert untrusted and untrusted[0]["referenced"] == ["BIL-00001"]
    assert len(room.desk.json("tickets", "show", "BIL-00001")["messages"]) == 2


def test_merge_names_a_ticket_of_the_same_desk(room: Room) -> None:
    room.send(customer_mail(CARL, subject="Printer on fire"))  # SUP-00001, number 1
    room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    room.send(customer_mail(DORA, subject="Invoice again", to="billing@example.com"))
    notice = only(
        [m for m in room.out() if "Invoice again" in str(m["Subject"])], "bill@example.com"
    )
    assert "[BIL-00002]" in str(notice["Subject"])
    # `1` is this desk's BIL-00001, not ticket number 1 (SUP-00001).
    room.send(reply(notice, BILL, "#merge 1\n\nSame invoice."))
    merged = room.desk.json("tickets", "show", "BIL-00002")
    assert merged["merged_into"] == "BIL-00001"
    survivor = room.desk.json("tickets", "show", "BIL-00001")
    assert [e["data"] for e in survivor["events"] if e["type"] == "merged"][0]["ticket"] == (
        "BIL-00002"
    )
    assert room.desk.json("tickets", "show", "SUP-00001")["merged_into"] is None


def test_a_merge_into_a_label_of_no_ticket_is_refused_with_the_label(room: Room) -> None:
    room.send(customer_mail(DORA, subject="Invoice twice", to="billing@example.com"))
    notice = only(room.out(), "bill@example.com")
    room.send(reply(notice, BILL, "#merge 7\n\nSame invoice."))
    events = room.desk.json("tickets", "show", "BIL-00001")["events"]
    [rejected] = [e["data"] for e in events if e["type"] == "commands_rejected"]
    assert rejected["errors"] == ["#merge BIL-00007: no such ticket"]


@pytest.fixture
def two(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, extra=TWO_DESKS + PER_DESK) as running:
        running.add_agent("sam@example.com", "Sam Support")
        running.add_agent("bill@example.com", "Bill Billing")
        assert running.cli("agents", "set", "bill@example.com", "--desk", "billing").exit_code == 0
        running.ingest(customer_mail(CARL, subject="Printer on fire"))
        running.ingest(customer_mail(DORA, subject="Secret invoice", to="billing@example.com"))
        yield running


def test_the_web_and_the_api_read_each_desks_labels(two: Site) -> None:
    assert two.sign_in("bill@example.com").status_code == 303
    page = two.client.get("/tickets/BIL-00001")
    assert page.status_code == 200 and "Secret invoice" in page.text
    found = two.client.get("/", params={"q": "bil-1"}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == "/tickets/BIL-00001"
    assert two.client.get("/tickets/SUP-00001").status_code == 404  # the other desk's

    sam = two.another_browser()
    assert sam.sign_in("sam@example.com").status_code == 303
    assert "Printer on fire" in sam.client.get("/tickets/SUP-00001").text
    assert sam.client.get("/tickets/BIL-00001").status_code == 404

    shown = two.client.get("/api/tickets/BIL-00001", headers=bearer(two, "bill@example.com"))
    assert shown.status_code == 200
    assert (shown.json()["number"], shown.json()["subject"]) == ("BIL-00001", "Secret invoice")
    other = two.client.get("/api/tickets/BIL-00001", headers=bearer(two, "sam@example.com"))
    assert other.status_code == 404

    created = two.client.post(
        "/api/tickets",
        headers=bearer(two, "bill@example.com"),
        json={
            "requester": {"email": "erin@customer.test"},
            "subject": "Direct debit",
            "body": "Please set one up.",
            "desk": "billing",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["ticket"] == "BIL-00002"


def test_the_status_link_of_a_desk_numbered_ticket(two: Site) -> None:
    dora = Ticket.get(Ticket.number == 2)  # BIL-00001
    link = two.runtime.desk.mailer.status_url(dora)
    assert link.startswith("https://billing.example.com/t/BIL-00001/")
    path = link.removeprefix("https://billing.example.com")
    page = two.client.get(path)
    assert page.status_code == 200 and "Secret invoice" in page.text
    # The same token under the label of ticket number 1 (or of number 2 in the other
    # desk's spelling) opens nothing.
    for forged in (path.replace("BIL-00001", "SUP-00001"), path.replace("BIL-00001", "SUP-2")):
        assert two.client.get(forged).status_code == 404


def test_switching_between_shared_and_per_desk_numbers(tmp_path: Path, database_url: str) -> None:
    shared = install(tmp_path, database_url, "shared")

    def send(to: str, subject: str) -> str:
        [line] = shared.ingest(customer_mail(CARL, subject=subject, to=to))
        return line["ticket"]

    assert send("support@example.com", "one") == "SUP-00001"
    assert send("billing@example.com", "two") == "BIL-00002"
    install(tmp_path, database_url, "desk")
    assert send("support@example.com", "three") == "SUP-00002"
    assert send("billing@example.com", "four") == "BIL-00003"  # after BIL-00002
    assert send("billing@example.com", "five") == "BIL-00004"
    install(tmp_path, database_url, "shared")
    assert send("billing@example.com", "six") == "BIL-00006"  # the shared sequence again
    install(tmp_path, database_url, "desk")
    assert send("billing@example.com", "seven") == "BIL-00007"  # never a label twice
    assert send("support@example.com", "eight") == "SUP-00003"

    subjects = {
        label: shared.json("tickets", "show", label)["subject"]
        for label in ("SUP-00001", "BIL-00002", "SUP-00002", "BIL-00003", "BIL-00006")
    }
    assert subjects == {
        "SUP-00001": "one",
        "BIL-00002": "two",
        "SUP-00002": "three",
        "BIL-00003": "four",
        "BIL-00006": "six",
    }


PER_PROCESS = 12


def test_two_processes_numbering_two_desks_at_once(tmp_path: Path, database_url: str) -> None:
    desk = install(tmp_path, database_url)
    assert desk.run("db", "upgrade").exit_code == 0
    folders = []
    for worker in ("a", "b"):
        folder = tmp_path / worker
        folder.mkdir()
        for i in range(PER_PROCESS):
            to = ("support@example.com", "billing@example.com")[i % 2]
            frm = f"{worker}{i}@customer.test"
            (folder / f"{i:03d}.eml").write_bytes(customer_mail(frm, subject=f"{i}", to=to))
        folders.append(folder)
    created = [line["ticket"] for line in desk.ingest_at_once(*folders)]
    for prefix in ("SUP", "BIL"):
        numbers = sorted(int(t.split("-")[1]) for t in created if t.startswith(prefix))
        assert numbers == list(range(1, PER_PROCESS + 1)), prefix  # unique and gapless


def test_numbering_is_shared_or_desk(tmp_path: Path) -> None:
    path = write_config(tmp_path, "sqlite:///x.db", '[tickets]\nnumbering = "brand"\n')
    with pytest.raises(ConfigError, match=r"tickets\.numbering"):
        load_config(path)
