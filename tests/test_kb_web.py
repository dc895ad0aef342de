"""The help center on the web: /kb/ (listing and search), /kb/SLUG (an article, its
views), a desk's own /kb/d/DESK/, and "Did this answer your question?" from the
acknowledgement's signed suggestion link (closing the request as self-served) or
from a plain article page (a visitor's answer).

Through the real app on a real database (SQLite and PostgreSQL), with no sign-in;
articles come in through `maildesk kb import`, tickets through real mail."""

from __future__ import annotations

import datetime as dt
import email
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from maildesk.core.links import article_token, participant_token
from maildesk.knowledge import feedback
from maildesk.store.db import open_database, using
from maildesk.store.models import (
    Article,
    ArticleView,
    ArticleVote,
    Contact,
    Event,
    Message,
    Outbox,
    Ticket,
)
from maildesk.web.pages.article import VISITOR_COOKIE
from tests.browser import launch
from tests.conftest import Install, write_config
from tests.conversation import POLICY, customer_mail, text_of
from tests.daemon import Daemon, daemon_config
from tests.test_kb import ARTICLES, folder_of
from tests.test_web_customer import Clock, add_ann, agent_says, status_path
from tests.web_support import CSRF, Site, site

PRINTER_MAIL = "Hello, my printer shows error E42 since this morning."
LINK = re.compile(r"http://testserver(/kb/[a-z0-9-]+\?ticket=[A-Z]+-\d+&t=[0-9a-f-]+)")
QUESTION = "Did this answer your question?"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def web(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[Site]:
    with site(tmp_path, database_url, clock=clock) as running:
        add_ann(running)
        imported = running.cli("kb", "import", str(folder_of(tmp_path, ARTICLES)))
        assert imported.exit_code == 0, imported.output
        yield running


def ticket(number: int) -> Ticket:
    return Ticket.get(Ticket.number == number)


def mail_of(row: Outbox, s: Site) -> EmailMessage:
    raw = s.runtime.desk.mailer.compose(row.draft)
    parsed = email.message_from_bytes(raw, policy=POLICY)
    assert isinstance(parsed, EmailMessage)
    return parsed


def ack_link(s: Site, number: int = 1) -> str:
    """The article link in ticket `number`'s acknowledgement (path and query)."""
    ack = Outbox.get((Outbox.purpose == "ack") & (Outbox.ticket == ticket(number)))
    found = LINK.search(text_of(mail_of(ack, s)))
    assert found, text_of(mail_of(ack, s))
    return found.group(1)


def page_csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


def answer(s: Site, path: str, value: str, csrf: str | None = None) -> object:
    data = {"answer": value}
    if csrf is None:
        csrf = page_csrf(s.client.get(path).text)
    if csrf:
        data["csrf"] = csrf
    return s.client.post(path, data=data, follow_redirects=False)


def events(number: int, type_: str) -> list[Event]:
    query = Event.select().where((Event.ticket == ticket(number)) & (Event.type == type_))
    return list(query.order_by(Event.id))


def printer() -> Article:
    return Article.get(Article.slug == "printer-e42")


# -- listing and search ----------------------------------------------------------------


def test_the_help_center_lists_published_articles_by_category(web: Site) -> None:
    page = web.client.get("/kb/")
    assert page.status_code == 200
    html = page.text
    assert "Test Support: help center" in html
    assert "<h2>Accounts</h2>" in html and "<h2>Hardware</h2>" in html
    assert html.index("Accounts") < html.index("Resetting your password") < html.index("Hardware")
    assert 'href="/kb/printer-e42"' in html and 'href="/kb/reset-password"' in html
    assert "long story" not in html and "jams-draft" not in html  # drafts are not listed
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "set-cookie" not in page.headers  # no session for customers
    assert web.client.get("/kb", follow_redirects=False).headers["location"] == "/kb/"


def test_search_ranks_matches_and_no_words_list_everything(web: Site) -> None:
    found = web.client.get("/kb/", params={"q": "printer jammed"}).text
    assert "1 article for" in found and 'href="/kb/printer-e42"' in found
    assert "reset-password" not in found
    assert 'href="/kb/reset-password"' in web.client.get("/kb/?q=passwords").text  # stemmed
    # Not all words anywhere: the articles holding two of them.
    loose = web.client.get("/kb/", params={"q": "printer tray zebra"}).text
    assert 'href="/kb/printer-e42"' in loose
    assert "No article matches" in web.client.get("/kb/?q=zebra").text
    for nothing in ("", "   ", "the and", '"*) OR'):  # no telling words: everything
        listed = web.client.get("/kb/", params={"q": nothing}).text
        assert 'href="/kb/printer-e42"' in listed and 'href="/kb/reset-password"' in listed
        assert "jams-draft" not in listed


def test_drafts_and_unknown_articles_are_404(web: Site) -> None:
    assert web.client.get("/kb/jams-draft").status_code == 404
    assert web.client.get("/kb/no-such-article").status_code == 404
    assert web.client.get("/kb/d/nosuch/").status_code == 404
    assert web.client.get("/kb/d/nosuch/printer-e42").status_code == 404
    assert answer(web, "/kb/jams-draft", "yes", csrf="x").status_code in (403, 404)


def test_an_article_page_shows_it_and_counts_views_per_day(web: Site, clock: Clock) -> None:
    page = web.client.get("/kb/printer-e42")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Printer shows error E42</h1>" in html and "Hardware" in html
    assert "Updated <time" in html and "paper tray of the printer is jammed" in html
    assert QUESTION in html and ">Yes</button>" in html  # a visitor is asked too
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{VISITOR_COOKIE}=") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower() and "Path=/kb" in cookie
    web.client.get("/kb/printer-e42")
    clock.now += dt.timedelta(days=1)
    web.client.get("/kb/printer-e42")
    counted = ArticleView.select().where(ArticleView.article == printer())
    assert sorted((v.day, v.views) for v in counted) == [
        (clock.now.date() - dt.timedelta(days=1), 2),
        (clock.now.date(), 1),
    ]


def test_views_are_counted_exactly_under_concurrent_opens(web: Site) -> None:
    article_id = printer().id
    day = dt.date(2025, 3, 3)
    url = web.desk.database_url
    database = open_database(url)

    def opens(_: int) -> None:
        try:
            with using(database):
                for _ in range(10):
                    feedback.count_view(database, article_id, day)
        finally:
            database.close()  # this thread's connection

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(opens, range(4)))
    row = ArticleView.get((ArticleView.article == article_id) & (ArticleView.day == day))
    assert row.views == 40


# -- several desks ------------------------------------------------------------------------

DESKS = """
[[desks]]
slug = "support"
name = "Acme Support"
ticket_prefix = "SUP"
addresses = ["support@example.com"]

[[desks]]
slug = "billing"
name = "Acme Billing"
ticket_prefix = "BIL"
addresses = ["billing@example.com"]
"""

BILLING = {
    "refund.md": """---
title: Refunds for double charges
slug: refund
category: Invoices
desk: billing
published: true
---
A double charge on your invoice is refunded within five days.
""",
    "shared.md": """---
title: Billing's contact page
slug: contact
desk: billing
published: true
---
Write to billing.
""",
    "contact.md": """---
title: Support's contact page
slug: contact
published: true
---
Write to support.
""",
}


def test_each_desk_has_its_own_help_center(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra=DESKS) as s:
        assert s.cli("kb", "import", str(folder_of(tmp_path, BILLING))).exit_code == 0
        home = s.client.get("/kb/").text
        assert "Acme Support: help center" in home and "Support&#39;s contact page" in home
        assert "Refunds" not in home and 'href="/kb/d/billing/"' in home
        billing = s.client.get("/kb/d/billing/").text
        assert "Acme Billing: help center" in billing and "<h2>Invoices</h2>" in billing
        assert 'href="/kb/d/billing/refund"' in billing and 'href="/kb/"' in billing
        assert "Billing&#39;s contact page" in billing and "Support&#39;s" not in billing
        assert "Refunds" in s.client.get("/kb/d/billing/?q=refund").text
        assert s.client.get("/kb/refund").status_code == 404  # not the default desk's
        page = s.client.get("/kb/d/billing/refund")
        assert page.status_code == 200 and "Acme Billing" in page.text
        assert "Write to billing." in s.client.get("/kb/d/billing/contact").text
        assert "Write to support." in s.client.get("/kb/contact").text
        assert s.client.get("/kb/d/billing", follow_redirects=False).status_code == 308

        # A suggestion from a billing ticket's acknowledgement: billing's article.
        s.ingest(
            customer_mail(
                to="billing@example.com",
                subject="Double charge",
                body="My invoice shows a double charge, I want a refund.",
            )
        )
        path = ack_link(s)
        assert path.startswith("/kb/refund?ticket=BIL-00001&t=")
        shown = s.client.get(path)
        assert shown.status_code == 200 and "Refunds for double charges" in shown.text
        assert "Acme Billing" in shown.text and "Yes, close my request" in shown.text
        assert answer(s, path, "yes").status_code == 303
        assert ticket(1).status == "resolved"


# -- "Did this answer your question?" from the acknowledgement -------------------------


def test_yes_closes_the_request_from_the_acknowledgement_link(web: Site) -> None:
    web.ingest(customer_mail(subject="Printer error", body=PRINTER_MAIL))
    path = ack_link(web)
    assert path.startswith("/kb/printer-e42?ticket=SUP-00001&t=")
    page = web.client.get(path)
    assert page.status_code == 200 and QUESTION in page.text
    assert "Yes, close my request" in page.text and "Your request SUP-00001" in page.text

    done = answer(web, path, "yes")
    assert done.status_code == 303
    assert done.headers["location"] == path + "&answered=closed#answer"
    after = web.client.get(done.headers["location"]).text
    assert "Your request SUP-00001 is now closed" in after

    closed = ticket(1)
    assert closed.status == "resolved" and closed.resolved_at is not None
    [changed] = events(1, "status_changed")
    assert changed.actor == "carl@customer.test"
    assert changed.data == {"before": "new", "after": "resolved"}
    [served] = events(1, "kb_self_served")
    assert served.actor == "carl@customer.test" and served.data == {"article": "printer-e42"}
    [note] = Message.select().where((Message.ticket == closed) & (Message.kind == "note"))
    assert note.body_text == (
        "Closed by the customer: article Printer shows error E42 answered the question."
    )
    resolved = Outbox.get((Outbox.purpose == "resolved") & (Outbox.ticket == closed))
    assert resolved.recipients == ["carl@customer.test"]
    assert "/rate" in text_of(mail_of(resolved, web))  # the usual notice, rating link and all
    [vote] = ArticleVote.select()
    assert vote.ticket_id == closed.id and vote.helpful and vote.visitor is None

    # Agents see the note; the customer's status page does not.
    status = web.client.get(status_path(web, 1)).text
    assert "Closed by the customer" not in status and "Resolved" in status

    # Answering again on a resolved request records the answer, nothing more.
    assert "Yes, close my request" not in web.client.get(path).text
    assert answer(web, path, "yes").headers["location"].endswith("answered=yes#answer")
    assert len(events(1, "status_changed")) == 1 and len(events(1, "kb_self_served")) == 1
    assert [e.data for e in events(1, "kb_vote")] == [{"article": "printer-e42", "helpful": True}]
    assert ArticleVote.select().count() == 1
    assert Outbox.select().where(Outbox.purpose == "resolved").count() == 1


def test_no_keeps_the_request_open_and_a_later_answer_replaces_it(web: Site) -> None:
    web.ingest(customer_mail(subject="Printer error", body=PRINTER_MAIL))
    path = ack_link(web)
    done = answer(web, path, "no")
    assert done.status_code == 303
    assert "stays open" in web.client.get(done.headers["location"]).text
    assert ticket(1).status == "new"
    [vote_event] = events(1, "kb_vote")
    assert vote_event.actor == "carl@customer.test"
    assert vote_event.data == {"article": "printer-e42", "helpful": False}
    assert [v.helpful for v in ArticleVote.select()] == [False]
    assert not events(1, "kb_self_served")
    assert "You answered: no" in web.client.get(path).text

    assert answer(web, path, "no").status_code == 303  # voting twice: still one vote
    assert answer(web, path, "yes").status_code == 303
    assert [v.helpful for v in ArticleVote.select()] == [True]
    assert ticket(1).status == "resolved"


def test_links_that_are_not_ours_show_no_question_and_cannot_answer(web: Site) -> None:
    web.ingest(customer_mail(subject="Printer error", body=PRINTER_MAIL))
    web.ingest(customer_mail("Dora <dora@customer.test>", subject="Printer", body=PRINTER_MAIL))
    path = ack_link(web, 1)
    token = path.rpartition("t=")[2]
    secret = web.web.secret
    carl = ticket(1).requester_id
    dora = ticket(2).requester_id
    tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
    refused = [
        f"/kb/printer-e42?ticket=SUP-00001&t={tampered}",  # tampered
        f"/kb/printer-e42?ticket=SUP-00001&t={article_token(secret, 2, 'printer-e42', dora)}",
        f"/kb/printer-e42?ticket=SUP-00002&t={token}",  # ticket 1's token on ticket 2
        f"/kb/printer-e42?ticket=SUP-00099&t={token}",  # a label of no ticket
        f"/kb/printer-e42?ticket=SUP-00001&t={article_token(secret, 1, 'reset-password', carl)}",
        f"/kb/printer-e42?ticket=SUP-00001&t={article_token(secret, 1, 'printer-e42', dora)}",
        "/kb/printer-e42?ticket=SUP-00001&t=",
        "/kb/printer-e42?ticket=nonsense&t=zz",
    ]
    csrf = page_csrf(web.client.get(path).text)  # a real token of the real link
    for bad in refused:
        page = web.client.get(bad)
        assert page.status_code == 200, bad
        assert "Printer shows error E42" in page.text and QUESTION not in page.text, bad
        assert "set-cookie" not in page.headers
        assert answer(web, bad, "yes", csrf=csrf).status_code == 404, bad
    assert ticket(1).status == "new" and ticket(2).status == "new"
    assert ArticleVote.select().count() == 0
    assert Event.select().where(Event.type.in_(("kb_vote", "kb_self_served"))).count() == 0


def test_an_answer_without_its_form_token_is_refused(web: Site) -> None:
    web.ingest(customer_mail(subject="Printer error", body=PRINTER_MAIL))
    path = ack_link(web)
    assert answer(web, path, "yes", csrf="").status_code == 403
    assert answer(web, path, "yes", csrf="0" * 32).status_code == 403
    assert answer(web, path, "maybe").status_code == 400
    # A visitor's form token is bound to their cookie: none, or another's, is refused.
    visitor_csrf = page_csrf(web.client.get("/kb/printer-e42").text)
    stranger = web.another_browser()
    assert answer(stranger, "/kb/printer-e42", "yes", csrf=visitor_csrf).status_code == 403
    assert answer(stranger, "/kb/printer-e42", "yes", csrf="").status_code == 403
    assert ticket(1).status == "new" and ArticleVote.select().count() == 0


# -- visitors -----------------------------------------------------------------------------


def test_a_visitor_answers_once_per_article(web: Site) -> None:
    done = answer(web, "/kb/printer-e42", "yes")
    assert done.status_code == 303
    assert done.headers["location"] == "/kb/printer-e42?answered=visitor#answer"
    assert "Thank you for your feedback" in web.client.get(done.headers["location"]).text
    assert answer(web, "/kb/printer-e42", "no").status_code == 303
    [vote] = ArticleVote.select()
    assert vote.ticket_id is None and not vote.helpful
    assert vote.visitor is not None and len(vote.visitor) == 64
    assert web.client.cookies[VISITOR_COOKIE] not in vote.visitor  # only a hash is kept
    assert "You answered: no" in web.client.get("/kb/printer-e42").text
    other = web.another_browser()
    assert answer(other, "/kb/printer-e42", "yes").status_code == 303
    assert sorted(v.helpful for v in ArticleVote.select()) == [False, True]


def test_answers_are_limited_per_client(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra="[kb]\nvotes_per_hour = 2\n") as s:
        assert s.cli("kb", "import", str(folder_of(tmp_path, ARTICLES))).exit_code == 0
        assert answer(s, "/kb/printer-e42", "yes").status_code == 303
        assert answer(s, "/kb/reset-password", "yes").status_code == 303
        limited = answer(s, "/kb/printer-e42", "no")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert [v.helpful for v in ArticleVote.select().order_by(ArticleVote.id)] == [True, True]


# -- the status page ------------------------------------------------------------------------


def test_the_status_page_links_the_suggested_articles(web: Site) -> None:
    web.ingest(customer_mail(subject="Printer error", body=PRINTER_MAIL))
    html = web.client.get(status_path(web, 1)).text
    assert "Articles that may help" in html and "Printer shows error E42" in html
    found = re.search(
        r'href="http://testserver(/kb/printer-e42\?ticket=SUP-00001&amp;t=[^"]+)"', html
    )
    assert found, html
    path = found.group(1).replace("&amp;", "&")
    assert path == ack_link(web)  # the requester's own signed link
    assert "Yes, close my request" in web.client.get(path).text

    # A CC's status page links the articles for the CC.
    agent_says(web, 1, "Adding Dora.", "#cc add dora@customer.test")
    dora = Contact.get(Contact.email == "dora@customer.test").id
    theirs = web.client.get(f"/t/SUP-00001/{participant_token(web.web.secret, 1, dora)}").text
    assert f"ticket=SUP-00001&amp;t={dora}-" in theirs

    # An article unpublished since is not offered any more.
    Article.update(published=False).where(Article.slug == "printer-e42").execute()
    assert "Articles that may help" not in web.client.get(status_path(web, 1)).text


# -- in a real browser ----------------------------------------------------------------------

HOSTILE = """---
title: Tricky <script>window.__xss = "title"</script> article
slug: tricky
category: <b>Oops</b>
published: true
---
<script>window.__xss = "script"; alert("script")</script>

[Click me](javascript:window.__xss='link')

<img src=x onerror="window.__xss='img'">

![picture](x" onerror="window.__xss='alt')

<a href="javascript:window.__xss='raw'">raw link</a> <svg onload="window.__xss='svg'"></svg>

[entity](jav&#x61;script:window.__xss='entity') <javascript:window.__xss='auto'>

[data](data:text/html,<script>alert(1)</script>) and [fine](https://example.com/help)

Plain **bold** text.
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch(playwright)
        yield launched
        launched.close()


def test_hostile_markdown_stays_inert_in_the_browser(browser: Browser, desk: Install) -> None:
    imported = desk.run("kb", "import", str(folder_of(desk.root, {"tricky.md": HOSTILE})))
    assert imported.exit_code == 0, imported.output
    write_config(desk.root, desk.database_url, daemon_config(web=True))
    daemon = Daemon(desk.config_path, desk.root).start()
    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        base = f"http://127.0.0.1:{daemon.web_port}"
        page.goto(f"{base}/kb/")
        page.click("text=Tricky")
        expect(page).to_have_url(f"{base}/kb/tricky")
        body = page.locator(".kb-body")
        expect(body.locator("strong")).to_have_text("bold")
        expect(body).to_contain_text('<script>window.__xss = "script"')  # shown as text
        expect(page.locator("h1")).to_contain_text("<script>")
        assert body.locator("script").count() == 0
        assert page.locator("[onerror]").count() == 0
        hrefs = body.locator("a").evaluate_all("links => links.map(a => a.href)")
        assert hrefs == ["https://example.com/help"], hrefs
        for src in body.locator("img").evaluate_all("imgs => imgs.map(i => i.src)"):
            assert src.startswith(base), src
        page.wait_for_timeout(300)  # an image error would have fired by now
        assert page.evaluate("window.__xss") is None
        assert not dialogs, dialogs

        # The question works without JavaScript's help: a form and a redirect.
        page.click("button[value=no]")
        expect(page.locator(".notice")).to_have_text("Thank you for your feedback.")
        assert page.evaluate("window.__xss") is None and not dialogs
        assert not errors, errors  # no CSP violations, no script errors
    finally:
        context.close()
        assert daemon.stop() == 0, daemon.log
