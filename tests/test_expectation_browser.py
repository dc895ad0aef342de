"""The status page's SLA countdown in Chromium, with the browser's clock frozen
(Playwright's `page.clock`): a ticket created on Friday evening shows its first
answer due on Monday and a countdown that stands still over the weekend, then runs
once business hours begin. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from maildesk.core.links import ticket_token
from tests.browser import launch
from tests.conversation import customer_mail
from tests.test_expectation import BERLIN, CARL, FRIDAY_1830, SLA, Clock
from tests.test_web_ticket import served
from tests.web_support import Site, site

SUNDAY_0630 = dt.datetime(2025, 11, 23, 6, 30, tzinfo=BERLIN)
MONDAY_1030 = dt.datetime(2025, 11, 24, 10, 30, tzinfo=BERLIN)


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, SLA, clock=Clock(FRIDAY_1830.astimezone(dt.UTC))) as s:
        yield s


def test_the_countdown_of_a_friday_evening_ticket_waits_for_monday(web: Site) -> None:
    web.ingest(customer_mail(CARL))
    path = f"/t/SUP-00001/{ticket_token(web.web.secret, 1)}"
    with served(web) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        page.clock.install(time=FRIDAY_1830)
        page.goto(base + path)
        page.clock.pause_at(FRIDAY_1830 + dt.timedelta(seconds=1))  # time moves when told
        section = page.locator(".expectation")
        expect(section).to_contain_text("Our team is away until Monday 09:00 (Europe/Berlin).")
        expect(section).to_contain_text("We answer within 8 business hours: by Monday 17:00.")
        left = section.locator(".countdown .left")
        state = section.locator(".countdown .state")
        expect(left).to_have_text("8 h 0 min 0 s of business time left")
        expect(state).to_have_text("The clock stands outside our business hours.")
        # Friday night and the weekend: the script runs, the countdown stands.
        page.clock.run_for("00:00:05")
        expect(left).to_have_text("8 h 0 min 0 s of business time left")
        page.clock.pause_at(SUNDAY_0630)
        page.clock.run_for("00:00:02")
        expect(left).to_have_text("8 h 0 min 0 s of business time left")
        expect(state).to_have_text("The clock stands outside our business hours.")
        # Monday 10:30 in Berlin: an hour and a half of business time has gone.
        page.clock.pause_at(MONDAY_1030)
        page.clock.run_for("00:00:01")
        expect(left).to_have_text("6 h 29 min 59 s of business time left")
        expect(state).to_have_text("The clock is running now.")
        page.clock.run_for("00:00:10")
        expect(left).to_have_text("6 h 29 min 49 s of business time left")
        browser.close()
