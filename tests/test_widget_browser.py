"""The widget on another site, in a real browser: a page served from another loopback
origin (its own CSP allowing maildesk's origin for script, style and frame) loads
/widget.js by one script tag; the button opens the /submit form in a dialog, the
form's script does the proof of work, and the dialog shows the new ticket's number
(SQLite and PostgreSQL, against `maildesk run`)."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.browser import launch
from tests.conftest import Install, write_config
from tests.daemon import Daemon, daemon_config
from tests.sink import Sink
from tests.test_conversation_daemon import mails_to, outbound, wait_until

# The host's own CSP: maildesk's origin for script, style and frame (as the README says).
HOST_CSP = (
    "default-src 'self'; img-src data:; script-src 'self' {desk}; style-src 'self' {desk}; "
    "frame-src {desk}"
)
HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>Example shop</title>
<link rel="icon" href="data:,">
</head>
<body>
<h1>Example shop</h1>
<script src="{desk}/widget.js" data-name="Erin" data-email="erin@customer.test"
  data-label="Need help?" data-theme="dark" data-position="bottom-left" async></script>
</body>
</html>
"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


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


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
PRINTER = """---
title: Printer shows error E42
slug: printer-e42
published: true
---
Error E42: open the tray and take out the jammed paper.
"""


@pytest.fixture
def daemon(desk: Install, sink: Sink, tmp_path: Path) -> Iterator[Daemon]:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "printer.md").write_text(PRINTER, encoding="utf-8")
    imported = desk.run("kb", "import", str(tmp_path / "kb"))
    assert imported.exit_code == 0, imported.output
    config = daemon_config(web=True).replace("[web]\n", "[web]\nsubmit_pow_bits = 16\n", 1)
    write_config(desk.root, desk.database_url, config, outbound(sink))
    running = Daemon(desk.config_path, desk.root).start()
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log


@contextlib.contextmanager
def host_site(root: Path, desk_origin: str) -> Iterator[str]:
    """A page of another site, on another loopback port, with the widget's tag."""
    root.mkdir()
    (root / "index.html").write_text(
        HOST_PAGE.format(desk=desk_origin, csp=HOST_CSP.format(desk=desk_origin)), encoding="utf-8"
    )
    handler = functools.partial(QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_widget_on_another_site_opens_submits_and_shows_the_number(
    browser: Browser, daemon: Daemon, sink: Sink, desk: Install, tmp_path: Path
) -> None:
    origin = f"http://127.0.0.1:{daemon.web_port}"
    with host_site(tmp_path / "shop", origin) as shop:
        assert not shop.startswith(origin)
        context = browser.new_context(viewport={"width": 1000, "height": 800})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(shop)
            button = page.get_by_role("button", name="Need help?")
            expect(button).to_have_class("maildesk-widget-button maildesk-dark maildesk-left")
            button.click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_be_visible()
            expect(page.get_by_role("button", name="Close")).to_be_focused()
            form = page.frame_locator("iframe.maildesk-widget-frame")
            expect(form.locator("body")).to_have_class("customer embed dark")  # data-theme
            expect(form.locator("input[name=pow_counter]")).not_to_have_value("")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            kind = "postgres" if desk.database_url.startswith("postgres") else "sqlite"
            page.screenshot(path=str(ARTIFACTS / f"widget-{kind}.png"))
            expect(form.locator("input[name=email]")).to_have_value("erin@customer.test")
            expect(form.locator("input[name=name]")).to_have_value("Erin")
            # The dialog is a small screen: the form comes in steps.
            expect(form.locator("input[name=subject]")).to_be_hidden()
            form.locator(".form-step.current .step-next").click()
            expect(form.locator("input[name=email]")).to_be_hidden()
            form.locator("input[name=subject]").fill("Where is my parcel?")
            form.locator(".form-step.current .step-next").click()
            form.locator("textarea[name=description]").fill("Order 4711 has not arrived.")
            form.get_by_role("button", name="Send").click()
            done = form.locator("#submitted")
            expect(done).to_contain_text("SUP-00001", timeout=60_000)
            mailed = "sent a confirmation to erin@customer.test"
            expect(form.locator("main")).to_contain_text(mailed)
            page.keyboard.press("Escape")  # focus is in the form's frame
            expect(dialog).to_be_hidden()
            expect(button).to_be_focused()
            assert errors == []
        finally:
            context.close()
    acks = wait_until(lambda: mails_to(sink, "erin@customer.test"), what="the acknowledgement")
    assert "SUP-00001" in str(acks[0]["Subject"])
    assert desk.json("tickets", "show", "SUP-00001")["subject"] == "Where is my parcel?"


def test_the_full_form_on_a_wide_screen_suggests_articles_and_takes_dropped_files(
    browser: Browser, daemon: Daemon, desk: Install
) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"http://127.0.0.1:{daemon.web_port}/submit")
        # One page: every field shown, no step buttons.
        expect(page.locator("textarea[name=description]")).to_be_visible()
        expect(page.locator(".step-next").first).to_be_hidden()
        page.fill("input[name=email]", "erin@customer.test")
        page.fill("input[name=subject]", "printer error E42")
        hint = page.locator(".article-hints a")
        expect(hint).to_have_text("Printer shows error E42")
        expect(hint).to_have_attribute("href", "/kb/printer-e42")
        page.fill("textarea[name=description]", "It blinks.")
        dropped = page.evaluate_handle(
            """() => {
                const data = new DataTransfer();
                data.items.add(new File(["error log"], "e42.txt", {type: "text/plain"}));
                return data;
            }"""
        )
        page.dispatch_event("form.submit-form", "drop", {"dataTransfer": dropped})
        assert page.eval_on_selector("input[type=file]", "i => i.files[0].name") == "e42.txt"
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#submitted")).to_contain_text("SUP-00001", timeout=60_000)
        expect(page.get_by_role("link", name="Send another request")).to_be_visible()
        assert errors == []
    finally:
        context.close()
    shown = desk.json("tickets", "show", "SUP-00001")
    assert shown["subject"] == "printer error E42"
    assert "e42.txt" in json.dumps(shown["messages"])  # the dropped file came along
