"""The quarantine page: failed messages listed, downloadable raw, retried after a fix
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import maildesk.pipeline as pipeline
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
