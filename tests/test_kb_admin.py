"""The knowledge base on the web: the editor at /admin/kb (admins, and managers for
their desks) and the "Check these first" step of /submit.

Through the real app and a real database (SQLite and PostgreSQL), signed in through
/login, every POST with its CSRF token."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.knowledge import articles, catalog
from maildesk.store.models import Article, Outbox, Ticket
from tests.web_support import CSRF, Site, site

PAGE = "/admin/kb"
TWO_DESKS = """
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
HOSTILE = """Fine **bold** text.

<script>alert("body")</script>

[click me](javascript:alert(1)) and <img src=x onerror="alert(2)">

<a href="https://evil.example" onclick="alert(3)">raw link</a>
"""


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url) as running:
        running.add_agent("ada@example.com", "Ada", "admin")
        running.add_agent("mia@example.com", "Mia", "manager")
        running.add_agent("ann@example.com", "Ann")
        yield running


def article_form(**values: Any) -> dict[str, Any]:
    form = {
        "title": "Printer shows error E42",
        "slug": "",
        "category": "Hardware",
        "tags": "printer, paper",
        "body": "Error E42 means the **paper tray** is jammed.",
    }
    return form | values


def only_article() -> Article:
    [article] = list(Article.select())
    return article


def test_agents_are_refused_and_the_menu_shows_the_editor_to_whom_it_may(web: Site) -> None:
    assert web.client.get(PAGE, follow_redirects=False).status_code == 303  # sign in first
    web.sign_in("ann@example.com")
    assert 'href="/admin/kb"' not in web.client.get("/").text
    for path in (PAGE, f"{PAGE}/new"):
        assert web.client.get(path).status_code == 403
    token = web.csrf("/")
    refused = web.client.post(f"{PAGE}/new", data={"csrf": token, **article_form()})
    assert refused.status_code == 403 and Article.select().count() == 0
    for who in ("ada@example.com", "mia@example.com"):
        web.sign_in(who)
        assert 'href="/admin/kb"' in web.client.get("/").text
        assert web.client.get(PAGE).status_code == 200


def test_create_preview_publish_edit_and_delete(web: Site) -> None:
    web.sign_in("ada@example.com")
    blank = web.client.get(f"{PAGE}/new")
    assert blank.status_code == 200 and 'name="body"' in blank.text

    # Preview renders the Markdown on the server and saves nothing.
    shown = web.post(f"{PAGE}/new", article_form(preview="yes"), form_page=f"{PAGE}/new")
    assert shown.status_code == 200 and 'id="preview"' in shown.text
    assert "<strong>paper tray</strong>" in shown.text
    assert 'value="Printer shows error E42"' in shown.text  # the form keeps what was typed
    assert Article.select().count() == 0

    # Save: a draft, its slug made from the title; back to its form (PRG).
    made = web.post(f"{PAGE}/new", article_form(), form_page=f"{PAGE}/new")
    assert made.status_code == 303
    article = only_article()
    assert made.headers["location"] == f"{PAGE}/{article.id}"
    assert (article.slug, article.published, article.tags) == (
        "printer-shows-error-e42",
        False,
        "printer paper",
    )
    assert article.desk == web.web.desks.default.slug
    listing = web.client.get(PAGE).text
    assert "Printer shows error E42" in listing and "draft" in listing
    found = catalog.suggested(
        web.web.db, web.web.desk.articles, article.desk, article.desk, "Printer error", "E42", 3, 2
    )
    assert found == []  # a draft is never suggested

    # Edit: publish it under a shorter slug.
    form_page = f"{PAGE}/{article.id}"
    edited = web.post(
        form_page,
        article_form(slug="printer-e42", published="yes", body="Open the **tray**."),
        form_page=form_page,
    )
    assert edited.status_code == 303
    saved = only_article()
    assert (saved.slug, saved.published, saved.body) == (
        "printer-e42",
        True,
        "Open the **tray**.\n",
    )
    assert "Saved and published printer-e42." in web.client.get(form_page).text
    assert "published" in web.client.get(PAGE).text
    listed = web.desk.json("kb", "list", "--published")
    assert [a["slug"] for a in listed] == ["printer-e42"]

    # Delete asks first; the POST needs the form token.
    asked = web.client.get(f"{form_page}/delete")
    assert asked.status_code == 200 and "Delete this article?" in asked.text
    no_token = web.client.post(f"{form_page}/delete", follow_redirects=False)
    assert no_token.status_code == 403 and Article.select().count() == 1
    gone = web.post(f"{form_page}/delete", {}, form_page=f"{form_page}/delete")
    assert gone.status_code == 303 and gone.headers["location"] == PAGE
    assert Article.select().count() == 0
    assert "Deleted printer-e42" in web.client.get(PAGE).text
    assert web.client.get(form_page).status_code == 404


def test_hostile_markdown_is_escaped_in_the_preview(web: Site) -> None:
    web.sign_in("ada@example.com")
    shown = web.post(
        f"{PAGE}/new",
        article_form(title='<b onmouseover="x">T</b>', body=HOSTILE, preview="yes"),
        form_page=f"{PAGE}/new",
    )
    assert shown.status_code == 200
    preview = shown.text.split('id="preview"', 1)[1]
    assert "<strong>bold</strong>" in preview
    assert "<script>" not in preview and "&lt;script&gt;" in preview
    assert 'href="javascript' not in preview and "<img" not in preview
    assert not re.search(r"<[^>]*\bon\w+=", preview)  # no handler in any tag, only as text
    assert '<a href="https://evil.example"' not in preview  # raw HTML is text, not a link
    assert "<b onmouseover" not in shown.text and "&lt;b onmouseover" in shown.text


@pytest.mark.parametrize(
    ("values", "problem", "field"),
    [
        ({"slug": "Bad Slug!"}, "slug: 1-100 lower-case letters", "slug"),
        ({"title": "   "}, "title: required", "title"),
        ({"title": "x" * 201}, "title: at most 200 characters", "title"),
        ({"tags": "ok b/ad"}, "tags: 'b/ad' is not one word", "tags"),
        ({"body": "x" * 200_001}, "body: at most 200000 characters", "body"),
    ],
)
def test_a_bad_form_is_shown_again_with_the_problem(
    web: Site, values: dict[str, str], problem: str, field: str
) -> None:
    web.sign_in("ada@example.com")
    answer = web.post(f"{PAGE}/new", article_form(**values), form_page=f"{PAGE}/new")
    assert answer.status_code == 422 and problem in html.unescape(answer.text)
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', answer.text), field
    if "body" not in values:
        assert "Error E42 means the **paper tray**" in html.unescape(answer.text)  # as typed
    assert Article.select().count() == 0


def test_a_slug_is_one_articles_per_desk(web: Site) -> None:
    web.sign_in("ada@example.com")
    assert web.post(f"{PAGE}/new", article_form(slug="e42"), form_page=PAGE).status_code == 303
    again = web.post(f"{PAGE}/new", article_form(slug="e42", title="Other"), form_page=PAGE)
    assert again.status_code == 422 and "is another article's" in html.unescape(again.text)
    other = web.post(f"{PAGE}/new", article_form(slug="e43", title="Other"), form_page=PAGE)
    assert other.status_code == 303
    second = Article.get(Article.slug == "e43")
    renamed = web.post(f"{PAGE}/{second.id}", article_form(slug="e42"), form_page=PAGE)
    assert renamed.status_code == 422 and Article.get_by_id(second.id).slug == "e43"


def test_managers_edit_the_articles_of_their_desks_only(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra=TWO_DESKS) as s:
        s.add_agent("ada@example.com", "Ada", "admin")
        result = s.cli(
            "agents", "add", "mia@example.com", "--name", "Mia", "--role", "manager",
            "--desk", "billing", "--password-stdin", input="correct horse battery\n",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        now = s.runtime.clock()
        for desk, slug in (("support", "printer"), ("billing", "refunds")):
            draft = articles.draft(slug=slug, title=slug.title(), body="x", desk=desk)
            catalog.create(s.runtime.db, draft, s.web.desks, now)
        support = Article.get(Article.desk == "support")

        s.sign_in("ada@example.com")
        listing = s.client.get(PAGE).text
        assert "Printer" in listing and "Refunds" in listing and "Acme Billing" in listing
        assert "Refunds" not in s.client.get(f"{PAGE}?desk=support").text

        s.sign_in("mia@example.com")
        listing = s.client.get(PAGE).text
        assert "Refunds" in listing and "Printer" not in listing
        assert s.client.get(f"{PAGE}/{support.id}").status_code == 404
        assert s.client.get(f"{PAGE}?desk=support").status_code == 404
        assert s.post(f"{PAGE}/{support.id}/delete", {}, PAGE).status_code == 404
        moved = s.post(f"{PAGE}/new", article_form(desk="support"), form_page=PAGE)
        assert moved.status_code == 422 and "not one of your desks" in moved.text
        made = s.post(f"{PAGE}/new", article_form(desk="billing"), form_page=PAGE)
        assert made.status_code == 303
        assert Article.get(Article.slug == "printer-shows-error-e42").desk == "billing"
        assert Article.select().where(Article.desk == "support").count() == 1


# -- /submit: "Check these first" -----------------------------------------------------


def publish(s: Site, slug: str, title: str, body: str, published: bool = True) -> None:
    draft = articles.draft(slug=slug, title=title, body=body, published=published)
    catalog.create(s.runtime.db, draft, s.web.desks, s.runtime.clock())


def request_form(s: Site, **values: Any) -> dict[str, Any]:
    token = CSRF.search(s.client.get("/submit").text)
    assert token
    return {
        "csrf": token.group(1),
        "name": "Erin",
        "email": "erin@customer.test",
        "subject": "Printer error",
        "description": "Hello,\nmy printer shows error E42 since this morning.\n",
        "website": "",
    } | values


def hidden_fields(page: str) -> dict[str, list[str]]:
    """The hidden fields of the "Check these first" form, as a form to post again."""
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page):
        fields.setdefault(name, []).append(html.unescape(value))
    return fields


@pytest.fixture
def shop(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, extra="[web]\nport = 0\nsubmit_per_hour = 2\n") as s:
        publish(s, "printer-e42", "Printer shows <error> E42", "Error E42: the printer tray.")
        publish(s, "printer-draft", "Printer error E42, a draft", "Printer error E42.", False)
        yield s


def test_matching_articles_come_first_and_sending_anyway_keeps_the_request(shop: Site) -> None:
    checked = shop.client.post("/submit", data=request_form(shop))
    assert checked.status_code == 200 and "Check these first" in checked.text
    assert 'href="/kb/printer-e42"' in checked.text
    assert "Printer shows &lt;error&gt; E42" in checked.text  # escaped
    assert "printer-draft" not in checked.text  # drafts are never suggested
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0
    fields = hidden_fields(checked.text)
    assert fields["description"] == ["Hello,\nmy printer shows error E42 since this morning.\n"]
    assert fields["subject"] == ["Printer error"] and fields["email"] == ["erin@customer.test"]

    # The check opened nothing, so it does not count against submit_per_hour (2).
    assert shop.client.post("/submit", data=request_form(shop)).status_code == 200
    sent = shop.client.post("/submit", data=fields | {"step": "send"})
    assert sent.status_code == 200 and "SUP-00001" in sent.text
    ticket = Ticket.get()
    assert ticket.subject == "Printer error" and ticket.requester.email == "erin@customer.test"
    assert ticket.messages[0].body_text.startswith("Hello,\nmy printer shows error E42")
    assert Outbox.select().where(Outbox.purpose == "ack").count() == 1
    again = shop.client.post("/submit", data=fields | {"step": "send"})
    assert again.status_code == 200 and "SUP-00002" in again.text
    assert shop.client.post("/submit", data=fields | {"step": "send"}).status_code == 429


def test_changing_the_request_goes_back_to_the_form(shop: Site) -> None:
    checked = shop.client.post("/submit", data=request_form(shop, subject="Printer <E42>"))
    back = shop.client.post("/submit", data=hidden_fields(checked.text) | {"step": "edit"})
    assert back.status_code == 200 and "<textarea" in back.text
    assert 'value="Printer &lt;E42&gt;"' in back.text and "Check these first" not in back.text
    assert Ticket.select().count() == 0


def test_without_a_good_match_or_with_files_it_is_sent_at_once(shop: Site) -> None:
    plain = shop.client.post(
        "/submit", data=request_form(shop, subject="Invoice", description="Charged twice.")
    )
    assert plain.status_code == 200 and "SUP-00001" in plain.text
    with_files = shop.client.post(
        "/submit",
        data=request_form(shop),
        files={"files": ("e42.txt", b"log", "text/plain")},
    )
    assert with_files.status_code == 200 and "SUP-00002" in with_files.text
    assert Ticket.select().count() == 2


def test_no_check_step_when_suggestions_are_off(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra="[kb]\nsuggestions = 0\n") as s:
        publish(s, "printer-e42", "Printer shows error E42", "Error E42: the printer tray.")
        sent = s.client.post("/submit", data=request_form(s))
        assert sent.status_code == 200 and "SUP-00001" in sent.text


def test_another_desks_articles_are_not_suggested(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra=TWO_DESKS) as s:
        draft = articles.draft(
            slug="printer-e42", title="Printer error E42", body="Printer error E42.",
            published=True, desk="billing",
        )  # fmt: skip
        catalog.create(s.runtime.db, draft, s.web.desks, s.runtime.clock())
        sent = s.client.post("/submit", data=request_form(s))
        assert "SUP-00001" in sent.text  # the support desk's form: nothing of billing's
        token = CSRF.search(s.client.get("/submit/billing").text)
        assert token
        checked = s.client.post("/submit/billing", data=request_form(s, csrf=token.group(1)))
        assert "Check these first" in checked.text
        assert 'href="/kb/d/billing/printer-e42"' in checked.text
