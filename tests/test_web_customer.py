"""The customer pages: status page, reply from the page, satisfaction, the /submit form.

Through the real app and a real database (SQLite and PostgreSQL), with no sign-in:
the status link's token is the only key."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import TimestampSigner

from maildesk.core.links import ticket_token
from maildesk.store.models import Agent, Attachment, Event, Message, Outbox, Satisfaction, Ticket
from maildesk.tickets import agents
from maildesk.web import actions
from maildesk.web.pages import submit as customer
from tests.conversation import customer_mail
from tests.web_support import CSRF, Site, site

START = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
SECRET_WORD = "ZEBRA-PLUTONIUM"
XSS = '<script>alert("x")</script>'


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def web(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[Site]:
    with site(tmp_path, database_url, clock=clock) as running:
        add_ann(running)
        yield running


def add_ann(s: Site) -> None:
    """An agent without a web password (none of these pages needs a sign-in)."""
    agents.add_agent(s.runtime.db, "ann@example.com", "Ann", "agent", None, s.runtime.clock())


def status_path(s: Site, number: int) -> str:
    return f"/t/SUP-{number:05d}/{ticket_token(s.web.secret, number)}"


def ticket(number: int) -> Ticket:
    return Ticket.get(Ticket.number == number)


def agent_says(s: Site, number: int, text: str, *commands: str, note: bool = False) -> None:
    """Ann answers through the same path as the agents' web page."""
    ann = Agent.get(Agent.email == "ann@example.com")
    actions.agent_mail(s.web, ann, ticket(number), text, commands=commands, note=note)


def with_attachment(name: str, data: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carl Customer <carl@customer.test>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "Re: [SUP-00001] Logs attached"
    msg["Message-ID"] = "<logs.1@customer.test>"
    msg.set_content("See the attached log.")
    msg.add_attachment(data, maintype="text", subtype="plain", filename=name)
    return bytes(msg)


def reply(s: Site, path: str, data: dict[str, Any], **kwargs: Any) -> Any:
    return s.client.post(path + "/reply", data=data, follow_redirects=False, **kwargs)


def page_csrf(s: Site, path: str) -> str:
    found = CSRF.search(s.client.get(path).text)
    assert found, path
    return found.group(1)


# -- the status page ------------------------------------------------------------------


def test_status_page_shows_the_public_thread_only(web: Site) -> None:
    web.ingest(
        customer_mail(
            frm=f'"{XSS}" <carl@customer.test>', subject=f"Broken {XSS}", body=f"Help {XSS}"
        )
    )
    agent_says(web, 1, "We are looking into it.")
    agent_says(web, 1, f"Internal: the admin password is {SECRET_WORD}.", note=True)
    web.ingest(with_attachment('<img src=x onerror="alert(1)">.txt', b"x" * 2048))
    page = web.client.get(status_path(web, 1))
    assert page.status_code == 200
    html = page.text
    assert "We are looking into it." in html
    assert "Ann via Test Support" in html
    assert SECRET_WORD not in html and "ann@example.com" not in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)" in html
    assert "<img src=x" not in html and "onerror" in html  # listed, inert
    assert "(2.0 KB)" in html  # attachments by name and size only
    assert "We&#39;re on it" in html and 'class="customer"' in html
    assert "/tickets/" not in html  # no way into the agents' pages
    assert "set-cookie" not in page.headers  # customers get no session


def test_links_that_are_not_right_all_get_the_same_404(web: Site) -> None:
    web.ingest(customer_mail(subject="First"))
    web.ingest(customer_mail(frm="dora@customer.test", subject="Second"))
    good = ticket_token(web.web.secret, 1)
    tampered = good[:-1] + ("0" if good[-1] != "0" else "1")
    paths = [
        f"/t/SUP-00001/{tampered}",
        f"/t/SUP-00001/{ticket_token(web.web.secret, 2)}",  # another ticket's token
        f"/t/SUP-00099/{ticket_token(web.web.secret, 99)}",  # a right token, no ticket
        f"/t/SUP-xyz/{good}",
        "/t/SUP-00001",
        "/t/SUP-00001/",
        f"/t/SUP-00001/{'é' * 32}",
        f"/t/SUP-00001/{tampered}/rate",
        f"/t/99999999999999999999999/{good}",
    ]
    answers = [web.client.get(path) for path in paths]
    assert [a.status_code for a in answers] == [404] * len(paths)
    assert len({a.text for a in answers}) == 1
    posted = reply(web, f"/t/SUP-00001/{tampered}", {"csrf": "x", "text": "hi"})
    assert posted.status_code == 404
    assert web.client.get(status_path(web, 1)).status_code == 200
    assert web.client.get(f"/t/sup-1/{good.upper()}").status_code == 200


def test_a_merged_tickets_link_shows_the_ticket_it_joined(web: Site) -> None:
    web.ingest(customer_mail(subject="Old problem"))
    web.ingest(customer_mail(subject="Same problem again"))
    agent_says(web, 1, "", "#merge SUP-00002")
    page = web.client.get(status_path(web, 1))
    assert page.status_code == 200
    assert "Same problem again" in page.text and "SUP-00002" in page.text


# -- replying from the page -----------------------------------------------------------


def test_a_reply_from_the_page_is_taken_in_like_mail(web: Site) -> None:
    web.ingest(customer_mail())
    agent_says(web, 1, "Is it still burning?")
    assert ticket(1).status == "waiting_on_customer"
    path = status_path(web, 1)
    token = page_csrf(web, path)
    answer = reply(
        web,
        path,
        {"csrf": token, "text": f"Yes, still. {XSS}"},
        files={"files": ("photo.txt", b"smoke", "text/plain")},
    )
    assert answer.status_code == 303 and answer.headers["location"] == path + "?sent=1"
    assert ticket(1).status == "open"
    last = Message.select().where(Message.ticket == ticket(1)).order_by(Message.id.desc()).get()
    assert last.kind == "customer" and last.from_email == "carl@customer.test"
    assert last.body_text.startswith("Yes, still.")
    assert [a.filename for a in Attachment.select().where(Attachment.message == last)] == [
        "photo.txt"
    ]
    told = Outbox.select().where(Outbox.purpose == "notify_reply").get()
    assert told.recipients == ["ann@example.com"]
    page = web.client.get(answer.headers["location"])
    assert "Thanks, we got your message" in page.text and "Yes, still." in page.text
    assert "&lt;script&gt;" in page.text and XSS not in page.text


def link_in_mail_to(s: Site, address: str) -> str:
    """The status link in the latest customer mail delivered to `address`."""
    rows = Outbox.select().where(Outbox.audience == "customer").order_by(Outbox.id.desc())
    row = next(r for r in rows if address in r.recipients)
    text = s.runtime.desk.mailer.compose(row.draft).decode("utf-8", "replace")
    found = re.search(r"http://testserver(/t/SUP-\d+/[0-9a-f-]+)", text)
    assert found, text
    return found.group(1)


def test_each_participant_posts_with_their_own_link_as_themselves(web: Site) -> None:
    web.ingest(customer_mail())
    agent_says(web, 1, "Looking into it.", "#cc add dora@customer.test")
    carls, doras = (
        link_in_mail_to(web, "carl@customer.test"),
        link_in_mail_to(web, "dora@customer.test"),
    )
    assert carls != doras
    page = web.client.get(doras)
    assert page.status_code == 200 and "Your link, dora@customer.test" in page.text
    sent = reply(web, doras, {"csrf": page_csrf(web, doras), "text": "Dora here."})
    assert sent.status_code == 303
    sent = reply(web, carls, {"csrf": page_csrf(web, carls), "text": "Carl here."})
    assert sent.status_code == 303
    old = status_path(web, 1)  # the requester's link from before stays the requester's
    sent = reply(web, old, {"csrf": page_csrf(web, old), "text": "Carl again."})
    assert sent.status_code == 303
    posted = Message.select().where(
        Message.body_text.contains("here.") | Message.body_text.contains("again.")
    )
    assert sorted((m.from_email, m.body_text.strip()) for m in posted) == [
        ("carl@customer.test", "Carl again."),
        ("carl@customer.test", "Carl here."),
        ("dora@customer.test", "Dora here."),
    ]
    assert all(m.ticket.number == 1 and m.kind == "customer" for m in posted)


def test_a_participants_link_cannot_be_turned_into_anothers(web: Site) -> None:
    web.ingest(customer_mail())
    agent_says(web, 1, "Looking into it.", "#cc add dora@customer.test")
    doras = link_in_mail_to(web, "dora@customer.test")
    carl = ticket(1).requester_id
    dora_id, token = doras.rsplit("/", 1)[1].split("-")
    flipped = token[:-1] + ("1" if token.endswith("0") else "0")
    base = doras.rsplit("/", 1)[0]
    for forged in (f"{carl}-{token}", token, f"{dora_id}-{flipped}", f"{int(dora_id) + 1}-{token}"):
        assert web.client.get(f"{base}/{forged}").status_code == 404, forged
        answer = reply(web, f"{base}/{forged}", {"csrf": "x", "text": "as someone else"})
        assert answer.status_code == 404, forged
    agent_says(web, 1, "", "#cc remove dora@customer.test")
    assert web.client.get(doras).status_code == 404  # no longer on the ticket: no key
    assert web.client.get(f"{doras}/rate").status_code == 404
    assert Message.select().where(Message.body_text.contains("someone else")).count() == 0


def test_a_reply_needs_the_pages_form_token_and_some_text(web: Site) -> None:
    web.ingest(customer_mail(subject="First"))
    web.ingest(customer_mail(frm="dora@customer.test", subject="Second"))
    path = status_path(web, 1)
    other = page_csrf(web, status_path(web, 2))
    for data in (
        {"text": "no token"},
        {"csrf": "forged", "text": "bad"},
        {"csrf": other},
        {"csrf": "é", "text": "not ASCII"},
    ):
        assert reply(web, path, data | {"text": "hi"}).status_code == 403
    empty = reply(web, path, {"csrf": page_csrf(web, path), "text": "   "})
    assert empty.status_code == 422 and "write a message first" in empty.text
    assert Message.select().where(Message.ticket == ticket(1)).count() == 1


def test_a_reply_to_a_long_closed_ticket_starts_a_new_one(web: Site, clock: Clock) -> None:
    web.ingest(customer_mail())
    agent_says(web, 1, "Fixed, closing.", "#close")
    path = status_path(web, 1)
    assert "Writing here reopens it" in web.client.get(path).text
    clock.now += dt.timedelta(days=30)
    assert "starts a new request" in web.client.get(path).text
    answer = reply(web, path, {"csrf": page_csrf(web, path), "text": "It is back."})
    assert answer.headers["location"] == path + "?sent=new"
    assert ticket(1).status == "closed"
    assert Message.get(Message.body_text.startswith("It is back.")).ticket.number == 2


# -- satisfaction ---------------------------------------------------------------------


def rate(s: Site, path: str, data: dict[str, Any]) -> Any:
    return s.client.post(path + "/rate", data=data, follow_redirects=False)


def test_rating_only_after_resolution_once_and_changeable_for_a_week(
    web: Site, clock: Clock
) -> None:
    web.ingest(customer_mail())
    path = status_path(web, 1)
    token = page_csrf(web, path)
    early = web.client.get(path + "/rate")
    assert "once it is resolved" in early.text and 'name="score"' not in early.text
    assert rate(web, path, {"csrf": token, "score": "5"}).status_code == 409

    agent_says(web, 1, "Done.", "#resolve")
    preselected = web.client.get(path + "/rate?score=4").text
    assert re.search(r'value="4" required checked', preselected)
    for bad in ("0", "6", "abc", "", "٣"):
        assert rate(web, path, {"csrf": token, "score": bad}).status_code == 400
    too_long = rate(web, path, {"csrf": token, "score": "3", "comment": "x" * 4001})
    assert too_long.status_code == 400
    assert rate(web, path, {"csrf": "forged", "score": "3"}).status_code == 403
    assert Satisfaction.select().count() == 0

    given = rate(web, path, {"csrf": token, "score": "4", "comment": f"Quick {XSS}"})
    assert given.status_code == 303 and given.headers["location"] == path + "/rate?saved=1"
    row = Satisfaction.get()
    assert (row.score, row.comment, row.created_at) == (4, f"Quick {XSS}", START)

    clock.now = START + dt.timedelta(days=6)
    assert rate(web, path, {"csrf": token, "score": "5"}).status_code == 303
    row = Satisfaction.get()
    assert (row.score, row.created_at, row.updated_at) == (5, START, clock.now)
    assert Satisfaction.select().count() == 1

    clock.now = START + dt.timedelta(days=8)
    locked = web.client.get(path + "/rate")
    assert "5 · Excellent" in locked.text and 'name="score"' not in locked.text
    assert rate(web, path, {"csrf": token, "score": "1"}).status_code == 409
    assert Satisfaction.get().score == 5
    events = Event.select().where(Event.type == "satisfaction_rated").order_by(Event.id)
    assert [(e.actor, e.data) for e in events] == [
        ("carl@customer.test", {"score": 4}),
        ("carl@customer.test", {"score": 5, "before": 4}),
    ]
    assert "Rate our help" in web.client.get(path).text


# -- the /submit form ---------------------------------------------------------------


def submit(s: Site, data: dict[str, Any], token: str | None = None, **kwargs: Any) -> Any:
    fields = {
        "csrf": token if token is not None else page_csrf(s, "/submit"),
        "name": "Erin",
        "email": "erin@customer.test",
        "subject": "Cannot log in",
        "description": "The login page says no.",
        "website": "",
    }
    return s.client.post("/submit", data=fields | data, follow_redirects=False, **kwargs)


def test_submit_opens_a_ticket_like_a_mail_would(web: Site) -> None:
    page = web.client.get("/submit")
    assert page.status_code == 200 and 'name="website"' in page.text and 'class="hp"' in page.text
    assert 'name="category"' not in page.text  # no categories configured
    done = submit(
        web,
        {"subject": f"Login {XSS}", "name": XSS},
        files={"files": ("error.txt", b"stack", "text/plain")},
    )
    assert done.status_code == 200 and "SUP-00001" in done.text
    created = ticket(1)
    assert created.subject == f"Login {XSS}" and created.requester.email == "erin@customer.test"
    ack = Outbox.get(Outbox.purpose == "ack")
    assert ack.recipients == ["erin@customer.test"] and ack.ticket_id == created.id
    assert Attachment.get().filename == "error.txt"
    source = Event.get((Event.ticket == created) & (Event.type == "created")).data["source"]
    assert source == "web:submit"


def test_submit_sets_a_chosen_category(tmp_path: Path, database_url: str) -> None:
    extra = '[[category]]\nname = "Billing"\nagents = ["ann@example.com"]\nassign = "round_robin"\n'
    with site(tmp_path, database_url, extra=extra) as s:
        add_ann(s)
        assert "<option>Billing</option>" in s.client.get("/submit").text
        assert submit(s, {"category": "Hacking"}).status_code == 422
        assert submit(s, {"category": "Billing"}).status_code == 200
        created = ticket(1)
        assert created.category == "Billing" and created.assignee.email == "ann@example.com"
        changed = Event.get(Event.type == "category_changed")
        assert changed.data == {"before": None, "after": "Billing"}


def test_the_honeypot_pretends_and_creates_nothing(web: Site) -> None:
    answer = submit(web, {"website": "http://spam.example"})
    assert answer.status_code == 200 and "We received your message" in answer.text
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0


BAD_SUBMISSIONS = [
    ({"email": "not-an-email"}, "e-mail address we can answer to"),
    ({"email": "ann@example.com"}, "belongs to this desk"),  # an agent's
    ({"email": "Support@Example.com"}, "belongs to this desk"),  # the desk's own
    ({"description": "  "}, "describe the problem"),
    ({"subject": ""}, "give your request a subject"),
]


def test_submit_refuses_bad_input_with_the_form_refilled(web: Site) -> None:
    for data, message in BAD_SUBMISSIONS:
        answer = submit(web, {"subject": f"Keep {XSS}"} | data)
        assert answer.status_code == 422 and message in answer.text, data
        if "subject" not in data:
            assert "Keep &lt;script&gt;" in answer.text
    assert Ticket.select().count() == 0


# Ways of writing an agent's or the desk's address that mail reads as that address.
CLAIMS = (
    "ann@example.com(Ann)",
    '"Ann" <ANN@Example.com>',
    "ann@example.com.",
    " Ann@Example.COM ",
    "Support <support@EXAMPLE.com.>",
    "(desk) support@example.com",
    "support+billing@example.com",
)


def test_submit_reads_the_address_as_mail_does(web: Site) -> None:
    for claim in CLAIMS:
        answer = submit(web, {"email": claim})
        assert answer.status_code == 422 and "belongs to this desk" in answer.text, claim
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0
    done = submit(web, {"email": '"Erin" <Erin@Customer.test.>'})
    assert done.status_code == 200 and ticket(1).requester.email == "erin@customer.test"


def test_submit_needs_a_fresh_form_token(web: Site) -> None:
    old = TimestampSigner(web.web.secret, salt="maildesk.submit-form")
    old.get_timestamp = lambda: int(dt.datetime.now().timestamp()) - 2 * 24 * 3600  # type: ignore[method-assign]
    for token in ("", "forged", old.sign(b"submit").decode(), "é"):
        answer = submit(web, {"subject": "Kept"}, token=token)
        assert answer.status_code == 403 and 'value="Kept"' in answer.text
    assert Ticket.select().count() == 0


def test_submit_never_writes_into_an_existing_ticket(web: Site) -> None:
    web.ingest(customer_mail(frm="erin@customer.test", subject="First"))
    answer = submit(web, {"subject": "[SUP-00001] more about it", "email": "erin@customer.test"})
    assert answer.status_code == 200 and "SUP-00002" in answer.text
    assert Message.select().where(Message.ticket == ticket(1)).count() == 1
    assert ticket(2).subject == "more about it"


def test_submit_is_limited_per_client(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra="[web]\nport = 0\nsubmit_per_hour = 2\n") as s:
        token = page_csrf(s, "/submit")
        assert [submit(s, {}, token).status_code for _ in range(2)] == [200, 200]
        blocked = submit(s, {}, token)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert "Too many requests" in blocked.text
        assert Ticket.select().count() == 2


def test_uploads_are_capped(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra="[web]\nport = 0\nmax_upload_size = 1024\n") as s:
        big = {"files": ("big.bin", b"x" * 5000, "application/octet-stream")}
        assert submit(s, {}, files=big).status_code == 413
        huge = {"files": ("huge.bin", b"x" * 400_000, "application/octet-stream")}
        assert submit(s, {}, files=huge).status_code == 413
        s.ingest(customer_mail())
        path = status_path(s, 1)
        answer = reply(s, path, {"csrf": page_csrf(s, path), "text": "file"}, files=big)
        assert answer.status_code == 413
        assert Ticket.select().count() == 1 and Message.select().count() == 1


def test_concurrent_uploads_stay_within_the_body_budget(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten 1 MB posts at once against a 3 MiB budget: three are held (and taken in),
    seven are refused with 503 at once; the server never holds more than the budget."""
    gate = threading.Event()
    open_request = customer.open_request

    def held(*args: Any) -> Any:  # the accepted ones wait here, bodies still held
        assert gate.wait(60)
        return open_request(*args)

    monkeypatch.setattr(customer, "open_request", held)
    extra = "[web]\nport = 0\nmax_upload_size = 1048576\nmax_body_memory = 3145728\n"
    with site(tmp_path, database_url, extra=extra) as s:
        token = page_csrf(s, "/submit")
        upload = {"files": ("log.bin", b"x" * 1_000_000, "application/octet-stream")}
        with ThreadPoolExecutor(max_workers=10) as pool:
            posts = [pool.submit(submit, s, {}, token, files=upload) for _ in range(10)]
            try:
                done: set[Any] = set()
                while len(done) < 7:
                    done, _ = wait(posts, timeout=60, return_when=FIRST_COMPLETED)
                    assert done, "no answer within a minute"
                    done = {p for p in posts if p.done()}
                busy = [p.result() for p in done]
                assert len(busy) == 7 and all(a.status_code == 503 for a in busy)
                assert all(int(a.headers["retry-after"]) > 0 for a in busy)
                budget = s.web.body_budget
                assert 3_000_000 < budget.in_use <= budget.total == 3 * 1024 * 1024
            finally:
                gate.set()
            answers = [p.result() for p in posts]
        assert sorted(a.status_code for a in answers) == [200] * 3 + [503] * 7
        assert budget.peak <= budget.total and budget.in_use == 0
        assert Ticket.select().count() == 3


def test_submit_may_be_framed_by_the_configured_sites(tmp_path: Path, database_url: str) -> None:
    extra = '[web]\nport = 0\nframe_ancestors = ["https://www.example.org"]\n'
    with site(tmp_path, database_url, extra=extra) as s:
        for answer in (s.client.get("/submit"), submit(s, {"email": "bad"})):
            csp = answer.headers["content-security-policy"]
            assert "frame-ancestors https://www.example.org" in csp
            assert "'none'" not in csp.split("frame-ancestors")[1]
            assert "default-src 'none'" in csp and "x-frame-options" not in answer.headers
        status = s.client.get("/t/SUP-00001/x")
        assert "frame-ancestors 'none'" in status.headers["content-security-policy"]


def test_submit_is_not_framed_when_no_site_may(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra="[web]\nport = 0\nframe_ancestors = []\n") as s:
        answer = s.client.get("/submit")
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY"
