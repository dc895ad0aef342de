"""The widget for other sites (/widget.js, /widget.css) and the /submit form it opens:
embedded and pre-filled, without inline script or style, and its proof of work
(missing, forged, expired, unfinished and reused challenges refused; a good one
taken once), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from maildesk.core import proof_of_work
from maildesk.knowledge import articles, catalog
from maildesk.store.models import Attachment, Event, Ticket
from maildesk.web.context import SUGGEST_PER_MINUTE
from tests.conftest import Install, write_config
from tests.web_support import Site, site

POW = "[web]\nport = 0\nsubmit_pow_bits = 8\n"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CHALLENGE = re.compile(r'name="pow_challenge" value="([^"]+)"')
FIELDS = """
[[field]]
name = "order"
label = "Order number"
type = "text"
submit = true
"""


def form_of(s: Site, path: str = "/submit") -> tuple[str, str]:
    """The CSRF token and the proof-of-work challenge of a fresh form."""
    page = s.client.get(path).text
    token, challenge = CSRF.search(page), CHALLENGE.search(page)
    assert token and challenge, page
    return token.group(1), challenge.group(1)


def post(s: Site, data: dict[str, Any], path: str = "/submit", **kwargs: Any) -> Any:
    """A filled-in form with its work done (what `data` gives overrides it)."""
    token, challenge = form_of(s, path.split("?")[0])
    fields = {
        "csrf": token,
        "name": "Erin",
        "email": "erin@customer.test",
        "subject": "Cannot log in",
        "description": "The login page says no.",
        "website": "",
        "pow_challenge": challenge,
        "pow_counter": proof_of_work.solve(challenge),
    }
    return s.client.post(path, data=fields | data, **kwargs)


def test_widget_files_are_small_typed_and_kept(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url) as s:
        script = s.client.get("/widget.js")
        assert script.status_code == 200 and len(script.content) < 10 * 1024
        assert script.headers["content-type"].startswith("text/javascript")
        assert "max-age=86400" in script.headers["cache-control"]
        assert "/widget.css" in script.text and "/submit" in script.text
        assert ".style" not in script.text and "innerHTML" not in script.text  # classes only
        style = s.client.get("/widget.css")
        assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


def test_the_embedded_form_is_framable_prefilled_and_free_of_inline_code(
    tmp_path: Path, database_url: str
) -> None:
    with site(tmp_path, database_url, extra=POW + '[[category]]\nname = "Billing"\n') as s:
        query = "name=Erin+E.&email=erin@customer.test&subject=Hi&category=Billing"
        page = s.client.get(f"/submit?embed=1&theme=dark&{query}")
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors *" in csp and "x-frame-options" not in page.headers
        assert "script-src 'self';" in csp and "style-src 'self';" in csp
        assert "unsafe-inline" not in csp
        html = page.text
        assert re.findall(r"<script[^>]*>", html) == [
            '<script src="/static/maildesk.js" defer>',
            '<script src="/static/live.js" defer>',
            '<script src="/static/submit.js" defer>',
        ]
        assert "<style" not in html and " style=" not in html and " on" not in html.lower()
        assert 'value="Erin E."' in html and 'value="erin@customer.test"' in html
        assert "<option selected>Billing</option>" in html
        assert 'action="/submit?embed=1"' in html and 'class="customer embed dark"' in html
        assert "This form needs JavaScript" in html  # in <noscript>, for browsers without
        login = s.client.get("/login")
        assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
        assert login.headers["x-frame-options"] == "DENY"


def test_without_proof_of_work_the_form_needs_no_script(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra="[web]\nport = 0\nsubmit_pow_bits = 0\n") as s:
        page = s.client.get("/submit").text
        assert "pow_challenge" not in page and "needs JavaScript" not in page
        token = CSRF.search(page)
        assert token
        fields = {"csrf": token.group(1), "email": "erin@customer.test", "subject": "Hi"}
        done = s.client.post("/submit", data=fields | {"description": "Hello."})
        assert done.status_code == 200 and "SUP-00001" in done.text


def test_a_good_challenge_is_taken_once(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra=POW) as s:
        token, challenge = form_of(s)
        work = {"pow_challenge": challenge, "pow_counter": proof_of_work.solve(challenge)}
        done = post(s, work, "/submit?embed=1")
        assert done.status_code == 200 and "SUP-00001" in done.text
        assert "sent a confirmation to erin@customer.test" in done.text
        assert "Send another request" not in done.text  # the compact page of the widget
        created = Event.get(Event.type == "created")
        assert created.data["source"] == "web:widget"
        again = post(s, work | {"csrf": token})
        assert again.status_code == 422 and proof_of_work.REUSED in again.text
        assert Ticket.select().count() == 1


def insufficient(challenge: str, bits: int) -> str:
    """A counter whose hash has fewer than `bits` leading zero bits."""
    text = challenge.rsplit(".", 1)[0]
    return next(str(c) for c in range(100) if proof_of_work.work_done(text, str(c)) < bits)


def test_bad_work_is_refused_with_a_clear_message(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra=POW) as s:
        _, challenge = form_of(s)
        nonce, issued, bits, mac = challenge.split(".")
        old = proof_of_work.issue(s.web.secret, int(time.time()) - 31 * 60, 8)
        weak = proof_of_work.issue(s.web.secret, int(time.time()), 1)  # signed, but too easy
        forged = f"{nonce}.{issued}.1.{mac}"
        cases = [
            ({"pow_challenge": "", "pow_counter": ""}, proof_of_work.MISSING),
            ({"pow_challenge": challenge, "pow_counter": ""}, proof_of_work.MISSING),
            ({"pow_challenge": forged, "pow_counter": proof_of_work.solve(forged)}, "not valid"),
            ({"pow_challenge": "a.b", "pow_counter": "1"}, proof_of_work.FORGED),
            ({"pow_challenge": old, "pow_counter": proof_of_work.solve(old)}, "open too long"),
            (
                {"pow_challenge": challenge, "pow_counter": insufficient(challenge, 8)},
                "not finished",
            ),
            ({"pow_challenge": weak, "pow_counter": insufficient(weak, 8)}, "not finished"),
            ({"pow_challenge": challenge, "pow_counter": "x1"}, "not finished"),
        ]
        for work, message in cases:
            answer = post(s, work)
            assert answer.status_code == 422, work
            assert message.replace("'", "&#39;") in answer.text, (work, answer.text)
            assert 'value="Cannot log in"' in answer.text  # the form comes back filled in
        assert Ticket.select().count() == 0


def test_honeypot_and_limit_still_turn_posts_away(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra=POW + "submit_per_hour = 2\n") as s:
        bot = post(s, {"website": "http://spam.example"})
        assert bot.status_code == 200 and "We received your message" in bot.text
        assert Ticket.select().count() == 0
        assert post(s, {}).status_code == 200
        blocked = post(s, {})
        assert blocked.status_code == 429 and "retry-after" in blocked.headers
        assert Ticket.select().count() == 1


def test_custom_fields_and_files_are_stored(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra=POW + FIELDS) as s:
        assert 'name="field_order"' in s.client.get("/submit?embed=1").text
        files = {"files": ("screen.txt", b"error 42", "text/plain")}
        done = post(s, {"field_order": "A-4711"}, "/submit?embed=1", files=files)
        assert done.status_code == 200 and "SUP-00001" in done.text
        shown = s.desk.json("tickets", "show", "SUP-00001")
        assert shown["fields"]["order"] == "A-4711"
        assert [a.filename for a in Attachment.select()] == ["screen.txt"]


@pytest.mark.parametrize("bits", [-1, 25])
def test_the_setting_is_checked(tmp_path: Path, database_url: str, bits: int) -> None:
    config = write_config(tmp_path, database_url, f"[web]\nport = 0\nsubmit_pow_bits = {bits}\n")
    answer = Install(config, database_url, tmp_path).run("tickets", "list", "--json")
    assert answer.exit_code == 2 and "submit_pow_bits" in answer.output


def test_articles_are_suggested_as_the_subject_is_typed(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, extra=POW) as s:
        draft = articles.draft(
            slug="printer-e42", title="Printer shows error E42", body="Error E42: the tray.",
            published=True,
        )  # fmt: skip
        catalog.create(s.runtime.db, draft, s.web.desks, s.runtime.clock())
        page = s.client.get("/submit").text
        assert 'class="article-hints" hidden' in page  # shown by the script only
        found = s.client.get("/submit-articles", params={"q": "printer error E42"})
        assert found.status_code == 200
        assert found.json() == {
            "articles": [{"title": "Printer shows error E42", "url": "/kb/printer-e42"}]
        }
        assert s.client.get("/submit-articles?q=invoice+refund").json() == {"articles": []}
        assert s.client.get("/submit-articles?q=").json() == {"articles": []}
        unknown = s.client.get("/submit-articles?desk=nosuch&q=printer")
        assert unknown.status_code == 404 and "nosuch" in unknown.json()["error"]
        for _ in range(SUGGEST_PER_MINUTE - 4):
            assert s.client.get("/submit-articles?q=printer").status_code == 200
        limited = s.client.get("/submit-articles?q=printer")
        assert limited.status_code == 429 and "retry-after" in limited.headers
