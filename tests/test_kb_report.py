"""The knowledge base's report: `maildesk report kb` and the Knowledge base section of
/reports, on a constructed month (SQLite and PostgreSQL).

The period is March 2026 (UTC). Each figure has rows just outside the period, on a
merged or automated ticket, or of another desk, that must not count, so each one
could come out wrong on its own."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.knowledge import articles, catalog
from maildesk.queries import kb_report
from maildesk.store.models import (
    Agent,
    Article,
    ArticleView,
    ArticleVote,
    Contact,
    Event,
    Message,
    Ticket,
)
from maildesk.tickets.agents import hash_password
from tests.web_support import PASSWORD, Site, site

NOW = dt.datetime(2026, 4, 2, 12, 0, tzinfo=dt.UTC)
SINCE, UNTIL = "2026-03-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00"
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


def at(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def web(tmp_path: Path, database_url: str, password_hash: str) -> Iterator[Site]:
    with site(tmp_path, database_url, extra=TWO_DESKS, clock=lambda: NOW) as running:
        for email, role in (("mia@example.com", "manager"), ("ada@example.com", "admin")):
            Agent.create(
                email=email, name=email[:3], role=role, password_hash=password_hash, created_at=NOW
            )
        populate(running)
        yield running


class Month:
    """Tickets, events, views and votes, written through the models."""

    def __init__(self) -> None:
        self.customer = Contact.create(email="c@customer.test", name="C", created_at=at(1, 1))
        self.number = 0

    def ticket(
        self, subject: str, body: str, created: dt.datetime, desk: str = "support", **extra: Any
    ) -> Ticket:
        self.number += 1
        ticket = Ticket.create(
            number=self.number, seq=self.number, desk=desk, subject=subject, status="open",
            priority="low", requester=self.customer, created_at=created, updated_at=created,
            **extra,
        )  # fmt: skip
        for n, text in enumerate((body, "A later message: invoice charged twice.")):
            Message.create(
                ticket=ticket, direction="inbound", kind="customer", from_email="c@customer.test",
                subject=subject, body_text=text, created_at=created + dt.timedelta(minutes=n),
            )  # fmt: skip
        return ticket

    @staticmethod
    def event(ticket: Ticket, kind: str, data: dict[str, Any], moment: dt.datetime) -> None:
        Event.create(ticket=ticket, at=moment, actor="system", type=kind, data=data)


def article(s: Site, slug: str, desk: str = "support", published: bool = True) -> Article:
    draft = articles.draft(
        slug=slug, title=f"Title of {slug}", body="x", published=published, desk=desk
    )
    return catalog.create(s.runtime.db, draft, s.web.desks, at(1, 1))


def populate(s: Site) -> None:
    a, b = article(s, "printer-jam"), article(s, "password-reset", published=False)
    billing = article(s, "refunds", desk="billing")
    month = Month()
    suggested = "kb_suggested"
    # Suggestions: printer-jam twice, password-reset once, a deleted article once.
    one = month.ticket("Printer jam", "The printer jams on every page.", at(3, 3))
    month.event(one, suggested, {"articles": ["printer-jam", "password-reset"]}, at(3, 3))
    two = month.ticket("Paper stuck", "Paper is stuck in the printer.", at(3, 5))
    month.event(two, suggested, {"articles": ["printer-jam"]}, at(3, 5))
    month.event(two, "kb_self_served", {"article": "printer-jam"}, at(3, 6))
    three = month.ticket("Old slug", "Something about an old article.", at(3, 7))
    month.event(three, suggested, {"articles": ["gone-article"]}, at(3, 7))
    # No suggestion: the gaps. Words of one ticket only do not count.
    four = month.ticket("Invoice charged twice", "My invoice was charged twice.", at(3, 10))
    month.event(four, "kb_linked", {"article": "password-reset"}, at(3, 11))
    month.ticket("Refund please", "Please refund: the invoice charged twice.", at(3, 12))
    month.ticket("Export report", "The CSV export fails.", at(3, 8))
    # Not counted anywhere: merged, automated, before or after the period, another desk.
    month.ticket("Invoice charged twice", "invoice charged twice", at(3, 15), merged_into=four)
    month.ticket("Invoice charged twice", "invoice charged twice", at(3, 16), automated=True)
    before = month.ticket("Printer", "printer printer", at(2, 20))
    month.event(before, suggested, {"articles": ["printer-jam"]}, at(2, 20))
    month.event(before, "kb_linked", {"article": "printer-jam"}, at(3, 20))  # counts: in March
    month.event(before, "kb_linked", {"article": "printer-jam"}, at(4, 1, 0))  # until: excluded
    later = month.ticket("Invoice charged twice", "invoice charged twice", at(4, 1, 1))
    month.event(later, suggested, {"articles": ["printer-jam"]}, at(4, 1, 1))
    bill = month.ticket(
        "Refund invoice charged twice", "invoice charged twice", at(3, 18), "billing"
    )
    month.event(bill, suggested, {"articles": ["refunds", "printer-jam"]}, at(3, 18))
    # Views per UTC day: the first and last day of March count, the days around do not.
    for item, day, views in (
        (a, dt.date(2026, 2, 28), 50), (a, dt.date(2026, 3, 1), 3),
        (a, dt.date(2026, 3, 31), 2), (a, dt.date(2026, 4, 1), 70),
        (b, dt.date(2026, 3, 15), 1), (billing, dt.date(2026, 3, 9), 4),
    ):  # fmt: skip
        ArticleView.create(article=item, day=day, views=views)
    for item, ticket, visitor, helpful, moment in (
        (a, one, None, True, at(3, 4)), (a, None, "v1", False, at(3, 9)),
        (a, None, "v2", True, at(2, 27)), (b, two, None, False, at(3, 21)),
        (billing, None, "v3", True, at(3, 19)),
    ):  # fmt: skip
        ArticleVote.create(
            article=item, ticket=ticket, visitor=visitor, helpful=helpful, created_at=moment
        )


def figures(document: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        f"{row['desk']}/{row['slug']}": (
            row["title"], row["views"], row["suggested"], row["helpful"], row["not_helpful"],
            row["self_served"], row["linked"],
        )
        for row in document["articles"]
    }  # fmt: skip


def test_per_article_figures_of_the_period(web: Site) -> None:
    document = web.desk.json("report", "kb", "--since", SINCE, "--until", UNTIL)
    assert figures(document) == {
        #                          title, views, suggested, yes, no, self-served, linked
        "support/printer-jam": ("Title of printer-jam", 5, 2, 1, 1, 1, 1),
        "support/password-reset": ("Title of password-reset", 1, 1, 0, 1, 0, 1),
        "support/gone-article": (None, 0, 1, 0, 0, 0, 0),
        "billing/refunds": ("Title of refunds", 4, 1, 1, 0, 0, 0),
        "billing/printer-jam": (None, 0, 1, 0, 0, 0, 0),  # billing has no such article
    }
    assert document["totals"] == {
        "views": 10, "suggested": 6, "helpful": 2, "not_helpful": 2, "self_served": 1,
        "linked": 2, "helpfulness": 0.5,
    }  # fmt: skip
    [first] = [r for r in document["articles"] if r["slug"] == "printer-jam" and r["title"]]
    assert first["helpfulness"] == 0.5 and first["published"] is True
    assert document["articles"][0]["slug"] == "printer-jam"  # the busiest first


def test_one_desk_and_the_gaps(web: Site) -> None:
    document = web.desk.json(
        "report", "kb", "--since", SINCE, "--until", UNTIL, "--desk", "support"
    )
    assert set(figures(document)) == {
        "support/printer-jam", "support/password-reset", "support/gone-article",
    }  # fmt: skip
    gaps = document["gaps"]
    # New in March, of support, neither merged nor automated: 6; without a suggestion: 3.
    assert (gaps["created"], gaps["unsuggested"], gaps["examined"]) == (6, 3, 3)
    # Each word once per ticket, from the subject and the first message only (the second
    # message of every ticket says "invoice charged twice" and must not count).
    assert gaps["words"] == [
        {"text": "charged", "tickets": 2},
        {"text": "invoice", "tickets": 2},
        {"text": "twice", "tickets": 2},
    ]
    assert gaps["phrases"] == [
        {"text": "charged twice", "tickets": 2},
        {"text": "invoice charged", "tickets": 2},
    ]


def test_the_gaps_read_the_latest_tickets_only(web: Site) -> None:
    since, until = dt.datetime.fromisoformat(SINCE), dt.datetime.fromisoformat(UNTIL)
    scope = web.web.desks.scope(["support"])
    found = kb_report.gaps(since, until, scope, limit=2)
    assert (found.unsuggested, found.examined) == (3, 2)
    assert [t.text for t in found.words] == ["charged", "invoice", "twice"]  # not the export's
    alone = kb_report.gaps(since, until, scope, limit=1)
    assert alone.examined == 1 and alone.words == []  # one ticket: no word in two


def test_the_text_report_and_usage_errors(web: Site) -> None:
    result = web.cli("report", "kb", "--since", SINCE, "--until", UNTIL, "--desk", "support")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(re.fullmatch(r"support/printer-jam\s+5\s+2\s+1\s+1\s+1\s+1", ln) for ln in lines)
    assert any("gone-article (no such article now)" in ln for ln in lines)
    assert "Gaps: 3 of 6 new tickets got no suggestion" in result.stdout
    assert "charged twice (2)" in result.stdout
    assert web.cli("report", "kb", "--desk", "nosuch").exit_code == 2
    backwards = web.cli("report", "kb", "--since", UNTIL, "--until", SINCE)
    assert backwards.exit_code == 2 and "--since must be before --until" in backwards.stderr


def test_the_reports_page_shows_the_knowledge_base(web: Site) -> None:
    web.sign_in("ada@example.com")
    page = web.client.get("/reports?since=2026-03-01&until=2026-03-31")
    assert page.status_code == 200
    section = html.unescape(page.text.split('id="kb"', 1)[1])
    row = re.search(r"Title of printer-jam.*?</tr>", section, re.DOTALL)
    assert row
    assert re.findall(r'<td class="num">(\d+)', row.group(0)) == ["5", "2", "1", "1", "1", "1"]
    assert "gone-article" in section and "(no such article now)" in section
    assert "3 of 7 new tickets got no suggestion" in section  # both desks: billing's has one
    assert re.search(r"<td>charged twice</td><td class=\"num\">2</td>", section)

    # A manager of billing only sees billing's articles and tickets.
    web.cli("agents", "set", "mia@example.com", "--desk", "billing")
    web.sign_in("mia@example.com")
    mine = html.unescape(web.client.get("/reports?since=2026-03-01&until=2026-03-31").text)
    section = mine.split('id="kb"', 1)[1]
    assert "Title of refunds" in section and "Title of printer-jam" not in section
    assert "0 of 1 new tickets got no suggestion" in section
