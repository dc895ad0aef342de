"""Close and confirm on the status page in a real browser: Debian's Chromium, headless,
driven by Playwright, against `maildesk run` with an aiosmtpd sink as the relay (SQLite
and PostgreSQL). The pages work without script; the CSP allows none inline."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.conftest import Install
from tests.conversation import customer_mail, text_of
from tests.daemon import Daemon
from tests.sink import Sink
from tests.test_conversation_daemon import mails_to, submit, wait_until
from tests.test_web_browser import browser, daemon, sign_in, sink  # noqa: F401 - fixtures

LINK = re.compile(r"https?://[^/\s]+(/t/SUP-\d+/[0-9a-f-]+(?:/confirm)?)")


def link_in(relay: Sink, address: str, words: str, suffix: str = "") -> str:
    """The path of the status link (with `suffix`) in the mail to `address` with `words`."""
    mail = wait_until(
        lambda: next((m for m in mails_to(relay, address) if words in text_of(m)), None),
        what=f"the mail with {words!r}",
    )
    paths = [p for p in LINK.findall(text_of(mail)) if p.endswith(suffix)]
    assert paths, text_of(mail)
    return paths[0]


def console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def test_close_and_confirm_on_the_status_page(
    browser: Browser,  # noqa: F811 - the fixture
    daemon: Daemon,  # noqa: F811
    sink: Sink,  # noqa: F811
    desk: Install,
) -> None:
    submit(daemon, customer_mail(subject="Printer on fire"))
    submit(daemon, customer_mail(subject="Invoice question"))
    base = f"http://127.0.0.1:{daemon.web_port}"
    first = link_in(sink, "carl@customer.test", "SUP-00001")
    context = browser.new_context()
    page = context.new_page()
    errors = console_errors(page)
    try:
        # an open request: "Close my request"
        page.goto(base + first)
        page.get_by_role("button", name="Close my request").click()
        expect(page.locator(".notice")).to_contain_text("Your request is closed")
        expect(page.locator(".badge")).to_have_text("Closed")
        expect(page.get_by_role("button", name="Close my request")).to_have_count(0)

        # Ann resolves the other one; Carl confirms from the link in her mail
        agent = browser.new_context()
        ann = agent.new_page()
        sign_in(ann, base, "ann@example.com")
        ann.goto(f"{base}/tickets/SUP-00002")
        controls = ann.locator("form[action='/tickets/SUP-00002/update']").first
        controls.locator("select[name=status]").select_option("resolved")
        controls.locator("button[type=submit]").click()
        expect(ann.locator(".badge").first).to_contain_text("esolved")
        agent.close()
        confirm = link_in(sink, "carl@customer.test", "Yes, it is solved", "/confirm")
        page.goto(base + confirm)
        expect(page.locator("h1")).to_have_text("Is your problem solved?")
        page.get_by_role("button", name="Yes, it is solved").click()
        expect(page.locator(".notice")).to_contain_text("Your request is closed")
        expect(page.locator(".badge")).to_have_text("Closed")
        assert not errors, errors  # no CSP violations, no script errors
    finally:
        context.close()
    for label, kind in (("SUP-00001", "closed_by_customer"), ("SUP-00002", "resolution_confirmed")):
        shown = desk.json("tickets", "show", label)
        assert shown["status"] == "closed"
        assert [e["actor"] for e in shown["events"] if e["type"] == kind] == ["carl@customer.test"]
