"""The customer portal in Chromium, against the real daemon: a customer asks for a
sign-in link, takes it from the mail the outbox sent, confirms, filters and searches
their requests, opens one and replies; the reply lands as their message."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.browser import launch
from tests.conftest import Install, write_config
from tests.conversation import customer_mail, text_of
from tests.daemon import Daemon, daemon_config
from tests.sink import Sink
from tests.test_conversation_daemon import mails_to, messages_of, outbound, submit, wait_until

CARL = "carl@customer.test"
LINK = re.compile(r"https?://[^/\s]+(/portal/in/[0-9]+-[A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch(playwright)
        yield launched
        launched.close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


@pytest.fixture
def daemon(desk: Install, sink: Sink) -> Iterator[Daemon]:
    write_config(desk.root, desk.database_url, daemon_config(web=True), outbound(sink))
    running = Daemon(desk.config_path, desk.root).start()
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log


def sign_in_link(sink: Sink) -> str:
    def found() -> str | None:
        for mail in mails_to(sink, CARL):
            match = LINK.search(text_of(mail))
            if match:
                return match.group(1)
        return None

    return wait_until(found, what="the sign-in link at the relay")


def test_a_customer_signs_in_by_mail_filters_and_replies(
    browser: Browser, daemon: Daemon, sink: Sink, desk: Install
) -> None:
    submit(daemon, customer_mail(subject="Printer on fire"))
    submit(daemon, customer_mail("Dora <dora@customer.test>", subject="Dora's plans"))
    submit(daemon, customer_mail(subject="Invoice question", body="Charged twice?\n"))
    messages_of(desk, "SUP-00003", 1)
    base = f"http://127.0.0.1:{daemon.web_port}"
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{base}/portal")
        page.fill("input[name=email]", CARL)
        page.click("form[action='/portal/link'] button[type=submit]")
        expect(page.locator("h1")).to_have_text("Check your mail")

        page.goto(base + sign_in_link(sink))
        page.click("form button[type=submit]")
        expect(page).to_have_url(f"{base}/portal")
        rows = page.locator("table.tickets tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("table.tickets")).not_to_contain_text("Dora")

        page.click("nav.filters >> text=Resolved")
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text("No requests to show.")
        page.click("nav.filters >> text=All")
        page.fill("input[name=q]", "twice")
        page.press("input[name=q]", "Enter")
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text("Invoice question")

        page.click("text=SUP-00003")
        expect(page).to_have_url(f"{base}/portal/t/SUP-00003")
        page.fill("textarea[name=text]", "It was the March invoice.")
        page.click("form[action='/portal/t/SUP-00003/reply'] button[type=submit]")
        expect(page.locator(".notice")).to_have_text("Thanks, we got your message.")
        expect(page.locator(".entry.customer").last).to_contain_text("It was the March invoice.")
        stored = messages_of(desk, "SUP-00003", 2)["messages"][-1]
        assert stored["kind"] == "customer"
        assert CARL in str(stored["from"]) and "March invoice" in stored["body_text"]
        assert not errors, errors  # no CSP violations, no script errors
    finally:
        context.close()
