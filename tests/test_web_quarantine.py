"""The quarantine page: failed messages listed, downloadable raw, retried after a fix
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import maildesk.pipeline.flow as pipeline
from maildesk.store.models import Quarantine, Ticket
from tests.conversation import customer_mail
from tests.web_support import Site, site

PAGE = "/admin/quarantine"


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url) as running:
        running.add_agent("ada@example.com", "Ada", "admin")
        running.add_agent("ann@example.com", "Ann")
        yield running


def test_failed_mail_is_listed_and_retried_after_the_fix(
    web: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(raw: bytes) -> None:
        raise RuntimeError("parser bug <b>")

    monkeypatch.setattr(pipeline, "parse_message", broken)
    raw = customer_mail(subject="Printer on fire")
    web.ingest(raw)
    monkeypatch.undo()
    web.sign_in("ann@example.com")
    assert web.client.get(PAGE).status_code == 403  # admins only
    web.sign_in("ada@example.com")
    page = web.client.get(PAGE)
    assert page.status_code == 200
    assert "parser bug &lt;b&gt;" in page.text and "Retry all 1" in page.text
    entry = Quarantine.get()
    download = web.client.get(f"{PAGE}/{entry.id}.eml")
    assert download.content == raw
    assert download.headers["content-disposition"].startswith("attachment")
    assert web.client.get(f"{PAGE}/999.eml").status_code == 404

    no_token = web.client.post(f"{PAGE}/retry", data={"id": "all"}, follow_redirects=False)
    assert no_token.status_code == 403
    assert web.post(f"{PAGE}/retry", {"id": "999"}, PAGE).status_code == 404
    assert web.post(f"{PAGE}/retry", {"id": "x"}, PAGE).status_code == 400
    done = web.post(f"{PAGE}/retry", {"id": str(entry.id)}, PAGE)
    assert done.status_code == 303
    after = web.client.get(PAGE).text
    assert "Retried 1: 1 taken in, 0 failed again." in after and "The quarantine is empty." in after
    assert Ticket.get().subject == "Printer on fire"


def test_discard_one_and_all_from_the_page(web: Site) -> None:
    for n in range(3):
        web.ingest(b"Subject: junk %d\r\nMessage-ID: <j%d@x>\r\n\r\nbody\r\n" % (n, n))
    first, second, third = Quarantine.select().order_by(Quarantine.id)
    web.sign_in("ann@example.com")
    assert web.post(f"{PAGE}/discard", {"id": "all"}, "/").status_code == 403  # admins only
    web.sign_in("ada@example.com")
    page = web.client.get(PAGE).text
    assert page.count('action="/admin/quarantine/discard"') == 4  # one per entry, and all
    assert "Discard all 3" in page

    no_token = web.client.post(f"{PAGE}/discard", data={"id": "all"}, follow_redirects=False)
    assert no_token.status_code == 403
    assert web.post(f"{PAGE}/discard", {"id": "999"}, PAGE).status_code == 404
    assert web.post(f"{PAGE}/discard", {"id": "x"}, PAGE).status_code == 400
    assert Quarantine.select().where(Quarantine.discarded_at.is_null(False)).count() == 0

    assert web.post(f"{PAGE}/discard", {"id": str(first.id)}, PAGE).status_code == 303
    page = web.client.get(PAGE).text
    assert "Discarded 1" in page and "Discard all 2" in page
    assert f"{PAGE}/{first.id}.eml" not in page
    assert web.client.get(f"{PAGE}/{first.id}.eml").status_code == 200  # the raw is kept
    assert web.post(f"{PAGE}/discard", {"id": "all"}, PAGE).status_code == 303
    page = web.client.get(PAGE).text
    assert "Discarded 2" in page and "The quarantine is empty." in page
    discarded = Quarantine.select().where(Quarantine.discarded_at.is_null(False))
    assert sorted(q.id for q in discarded) == [first.id, second.id, third.id]
    # Retry all (open entries only) leaves the junk alone; by its ID it is retried.
    assert web.post(f"{PAGE}/retry", {"id": "all"}, PAGE).status_code == 303
    assert "Retried 0" in web.client.get(PAGE).text
    assert web.post(f"{PAGE}/retry", {"id": str(first.id)}, PAGE).status_code == 303
    assert Quarantine.get_by_id(first.id).discarded_at is None  # failed again: open again
