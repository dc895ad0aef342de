"""The customer portal (/portal): sign-in links by mail, customer sessions, the list of
a customer's requests, a ticket's thread and the reply from it.

Through the real app and a real database (SQLite and PostgreSQL); the sign-in link is
taken from the mail queued in the outbox, as the customer would read it."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.store.models import (
    Agent,
    Contact,
    Message,
    Outbox,
    PortalSession,
    PortalToken,
    Ticket,
)
from maildesk.tickets import agents
from maildesk.web import actions, portal_auth
from maildesk.web.pages import portal
from tests.conversation import customer_mail
from tests.web_support import CSRF, Site, site

START = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the CLI reads the real clock
LINK = re.compile(r"http://testserver(/portal/in/[0-9]+-[A-Za-z0-9_-]+)")
CARL = "carl@customer.test"
DORA = "dora@customer.test"
SECRET_NOTE = "ZEBRA-PLUTONIUM"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def start(tmp_path: Path, database_url: str, clock: Clock, extra: str = "") -> Any:
    return site(tmp_path, database_url, extra, clock=clock)


@pytest.fixture
def web(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[Site]:
    with start(tmp_path, database_url, clock) as running:
        with_tickets(running)
        yield running


def with_tickets(s: Site) -> None:
    """Carl's SUP-00001 (with a note), Dora's SUP-00002, Carl's SUP-00003 resolved."""
    agents.add_agent(s.runtime.db, "ann@example.com", "Ann", "agent", None, s.runtime.clock())
    s.ingest(customer_mail(frm=f"Carl Customer <{CARL}>", subject="Printer on fire"))
    s.ingest(customer_mail(frm=f"Dora <{DORA}>", subject="Dora's secret plans"))
    s.ingest(
        customer_mail(
            frm=f"Carl Customer <{CARL}>", subject="Invoice question", body="Charged twice?\n"
        )
    )
    ann = Agent.get(Agent.email == "ann@example.com")
    actions.agent_mail(s.web, ann, ticket(s, 1), "We are on it.")
    actions.agent_mail(s.web, ann, ticket(s, 1), f"Note: {SECRET_NOTE}", note=True)
    actions.agent_mail(s.web, ann, ticket(s, 3), "Paid, thanks.", commands=["#status resolved"])


def ticket(s: Site, number: int) -> Any:
    return Ticket.get(Ticket.number == number)


def form_csrf(s: Site, path: str) -> str:
    found = CSRF.search(s.client.get(path).text)
    assert found, path
    return found.group(1)


def ask(s: Site, email: str) -> Any:
    """Ask for a link, from a browser not signed in (the same client address)."""
    browser = s.another_browser()
    token = form_csrf(browser, "/portal")
    return browser.client.post("/portal/link", data={"csrf": token, "email": email})


def links_to(s: Site, email: str) -> list[str]:
    """The sign-in links mailed to `email`, from the composed mails in the outbox."""
    found = []
    for row in Outbox.select().where(Outbox.purpose == "portal_link").order_by(Outbox.id):
        if email in row.recipients:
            text = s.web.desk.mailer.compose(row.draft).decode()
            match = LINK.search(text.replace("=\n", ""))
            assert match, text
            found.append(match.group(1))
    return found


def confirm(s: Site, path: str) -> Any:
    token = form_csrf(s, path)
    return s.client.post(path, data={"csrf": token}, follow_redirects=False)


def signed_in(s: Site, email: str) -> None:
    assert ask(s, email).status_code == 200
    answer = confirm(s, links_to(s, email)[-1])
    assert answer.status_code == 303, answer.text


# -- signing in -------------------------------------------------------------------------


def test_a_link_from_the_mail_signs_in_once_with_a_cookie_of_its_own(web: Site) -> None:
    answer = ask(web, "Carl@Customer.test")
    assert answer.status_code == 200
    assert "If carl@customer.test is an address we know" in answer.text
    [path] = links_to(web, CARL)
    shown = web.client.get(path)  # what a mail scanner fetching the link does
    assert shown.status_code == 200 and "Sign in" in shown.text
    assert "maildesk_portal" not in shown.headers.get("set-cookie", "")
    assert PortalToken.get().used_at is None
    answer = confirm(web, path)
    assert answer.status_code == 303 and answer.headers["location"] == "/portal"
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("maildesk_portal=")
    assert "path=/portal" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "maildesk_session" not in cookie  # not an agent's session
    assert PortalToken.get().token_hash not in answer.text
    listing = web.client.get("/portal")
    assert "SUP-00001" in listing.text and "SUP-00003" in listing.text
    assert "SUP-00002" not in listing.text and "secret plans" not in listing.text
    assert web.client.get("/").status_code in (303, 200)  # agents' pages: no sign-in
    assert "Queue" not in web.client.get("/", follow_redirects=True).text


def test_expired_reused_and_foreign_links_are_refused(web: Site, clock: Clock) -> None:
    signed_in(web, CARL)
    [used] = links_to(web, CARL)
    again = web.another_browser()
    assert again.client.get(used).status_code == 410
    token = portal.link_csrf(web.web, used.rpartition("/")[2])  # the form from before
    second = web.client.post(used, data={"csrf": token})
    assert second.status_code == 410 and "already used" in second.text
    assert PortalSession.select().count() == 1

    ask(web, DORA)
    dora_link = links_to(web, DORA)[-1]
    dora_id = Contact.get(Contact.email == DORA).id
    carl_id = Contact.get(Contact.email == CARL).id
    foreign = dora_link.replace(f"/in/{dora_id}-", f"/in/{carl_id}-")
    stranger = web.another_browser()
    assert stranger.client.get(foreign).status_code == 404
    token = portal.link_csrf(web.web, foreign.rpartition("/")[2])
    posted = stranger.client.post(foreign, data={"csrf": token}, follow_redirects=False)
    assert posted.status_code == 404 and "not valid" in posted.text
    assert "maildesk_portal" not in posted.headers.get("set-cookie", "")

    clock.now += dt.timedelta(minutes=16)  # [web] portal_link_minutes = 15
    late = stranger.client.get(dora_link)
    assert late.status_code == 410 and "expired" in late.text
    posted = stranger.client.post(
        dora_link, data={"csrf": portal.link_csrf(web.web, dora_link.rpartition("/")[2])}
    )
    assert posted.status_code == 410
    assert PortalSession.select().count() == 1


def test_an_unknown_address_gets_the_same_answer_and_no_mail(web: Site) -> None:
    known = ask(web, CARL)
    unknown = ask(web, "nobody@customer.test")
    assert (known.status_code, unknown.status_code) == (200, 200)
    assert known.text.replace(CARL, "X") == unknown.text.replace("nobody@customer.test", "X")
    assert links_to(web, "nobody@customer.test") == []
    assert Outbox.select().where(Outbox.purpose == "portal_link").count() == 1
    bad = ask(web, "not an address")
    assert bad.status_code == 422 and "e-mail address" in bad.text
    stale = web.another_browser().client.post(
        "/portal/link", data={"csrf": "forged", "email": CARL}
    )
    assert stale.status_code == 403


def test_the_lookup_happens_after_the_answer_for_known_and_unknown_alike(
    web: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No early return for an unknown address: both answers are made before the
    lookup, which then runs the same way for both (and mails the known one only)."""
    looked_up: list[str] = []
    real = portal_auth.request_link

    def recorded(*args: Any) -> bool:
        looked_up.append(args[2])
        return real(*args)

    monkeypatch.setattr(portal_auth, "request_link", recorded)
    ask(web, CARL)
    ask(web, "nobody@customer.test")
    assert looked_up == [CARL, "nobody@customer.test"]
    assert [len(links_to(web, a)) for a in (CARL, "nobody@customer.test")] == [1, 0]


def test_link_requests_are_limited_per_address_and_per_client(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    extra = "[web]\nport = 0\nportal_links_per_hour = 2\nportal_requests_per_hour = 4\n"
    with start(tmp_path, database_url, clock, extra) as s:
        with_tickets(s)
        assert [ask(s, CARL).status_code for _ in range(3)] == [200, 200, 429]
        limited = ask(s, CARL)
        assert limited.status_code == 429 and "try again in 60 minute(s)" in limited.text
        assert int(limited.headers["retry-after"]) > 0
        assert len(links_to(s, CARL)) == 2
        # Other addresses from the same client: the client's own limit.
        assert [ask(s, a).status_code for a in (DORA, "x@customer.test", "y@c.test")] == [
            200,
            200,
            429,
        ]


# -- the list, a ticket, a reply ----------------------------------------------------------


def test_filters_and_search_and_the_thread_without_notes(web: Site) -> None:
    signed_in(web, CARL)
    resolved = web.client.get("/portal?status=resolved").text
    assert "SUP-00003" in resolved and "SUP-00001" not in resolved
    waiting = web.client.get("/portal?status=waiting").text
    assert "SUP-00001" in waiting and "SUP-00003" not in waiting  # Ann answered it
    assert "SUP-00001" not in web.client.get("/portal?status=open").text
    found = web.client.get("/portal?q=printer").text
    assert "SUP-00001" in found and "SUP-00003" not in found
    assert "SUP-00001" not in web.client.get(f"/portal?q={SECRET_NOTE}").text  # notes: never
    page = web.client.get("/portal/t/SUP-00001")
    assert page.status_code == 200
    assert "We are on it." in page.text and SECRET_NOTE not in page.text
    assert web.client.get("/portal/t/SUP-00002").status_code == 404
    assert web.client.get("/portal/t/SUP-00099").status_code == 404


def test_a_reply_from_the_portal_is_the_customers_mail(web: Site) -> None:
    signed_in(web, CARL)
    token = form_csrf(web, "/portal/t/SUP-00001")
    answer = web.client.post(
        "/portal/t/SUP-00001/reply",
        data={"csrf": token, "text": "It is still burning."},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"].endswith("?sent=1")
    last = Message.select().order_by(Message.id.desc()).get()
    assert (last.ticket.number, last.kind, last.from_email) == (1, "customer", CARL)
    assert "It is still burning." in last.body_text
    forged = web.client.post(
        "/portal/t/SUP-00001/reply", data={"csrf": "x", "text": "hi"}, follow_redirects=False
    )
    assert forged.status_code == 403
    other = web.client.post(
        "/portal/t/SUP-00002/reply", data={"csrf": token, "text": "hi"}, follow_redirects=False
    )
    assert other.status_code == 404
    empty = web.client.post("/portal/t/SUP-00001/reply", data={"csrf": token, "text": " "})
    assert empty.status_code == 422


def test_the_organization_decides_whether_colleagues_tickets_show(web: Site) -> None:
    assert web.cli("orgs", "add", "Customer", "--domain", "customer.test").exit_code == 0
    signed_in(web, CARL)
    assert "SUP-00002" not in web.client.get("/portal").text
    assert web.client.get("/portal/t/SUP-00002").status_code == 404
    assert web.cli("orgs", "set", "Customer", "--shared-tickets").exit_code == 0
    listing = web.client.get("/portal").text
    assert "SUP-00002" in listing and "from Dora" in listing
    shared = web.client.get("/portal/t/SUP-00002")
    assert shared.status_code == 200 and "a colleague" in shared.text
    assert 'action="/portal/t/SUP-00002/reply"' not in shared.text
    token = form_csrf(web, "/portal")
    refused = web.client.post("/portal/t/SUP-00002/reply", data={"csrf": token, "text": "hi"})
    assert refused.status_code == 422
    assert web.cli("orgs", "set", "Customer", "--no-shared-tickets").exit_code == 0
    assert web.client.get("/portal/t/SUP-00002").status_code == 404


# -- sessions --------------------------------------------------------------------------


def test_sessions_are_listed_and_revoked_by_an_admin(web: Site) -> None:
    signed_in(web, CARL)
    other = web.another_browser()
    signed_in(other, CARL)
    listed = web.cli("portal", "sessions", CARL, "--json")
    assert listed.exit_code == 0 and len(json.loads(listed.output)) == 2
    revoked = web.cli("portal", "revoke", CARL)
    assert revoked.exit_code == 0 and "2 portal session(s) revoked" in revoked.output
    for browser in (web, other):
        assert "Mail me a sign-in link" in browser.client.get("/portal").text
        assert browser.client.get("/portal/t/SUP-00001", follow_redirects=False).status_code == 303
    assert json.loads(web.cli("portal", "sessions", CARL, "--json").output) == []
    unknown = web.cli("portal", "revoke", "nobody@customer.test")
    assert unknown.exit_code == 1 and "no contact" in unknown.output


def test_sign_out_and_sign_out_everywhere(web: Site) -> None:
    signed_in(web, CARL)
    other = web.another_browser()
    signed_in(other, CARL)
    token = form_csrf(web, "/portal")
    out = web.client.post("/portal/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and 'maildesk_portal=""' in out.headers["set-cookie"]
    assert "Mail me a sign-in link" in web.client.get("/portal").text
    assert "SUP-00001" in other.client.get("/portal").text  # the other browser stays
    signed_in(web, CARL)
    token = form_csrf(web, "/portal")
    web.client.post("/portal/logout/everywhere", data={"csrf": token})
    assert "Mail me a sign-in link" in other.client.get("/portal").text
    assert PortalSession.select().where(PortalSession.revoked_at.is_null()).count() == 0


def test_new_request_opens_the_form_filled_in(web: Site) -> None:
    signed_in(web, CARL)
    listing = web.client.get("/portal").text
    assert "/submit?name=Carl+Customer&amp;email=carl%40customer.test" in listing
    form = web.client.get("/submit?name=Carl+Customer&email=carl%40customer.test").text
    assert 'value="Carl Customer"' in form and f'value="{CARL}"' in form


def test_the_cookie_is_secure_on_https(tmp_path: Path, database_url: str, clock: Clock) -> None:
    with site(tmp_path, database_url, clock=clock, base_url="https://testserver") as s:
        with_tickets(s)
        assert ask(s, CARL).status_code == 200
        row = Outbox.get(Outbox.purpose == "portal_link")
        text = s.web.desk.mailer.compose(row.draft).decode()
        match = re.search(r"https://testserver(/portal/in/\S+)", text)
        assert match, text
        answer = confirm(s, match.group(1))
        assert answer.status_code == 303
        assert "secure" in answer.headers["set-cookie"].lower()
        assert "SUP-00001" in s.client.get("/portal").text
