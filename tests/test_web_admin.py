"""Admin pages: agents and API tokens, through the web view (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.store.models import Agent, ApiToken, WebSession
from maildesk.tickets import agents
from tests.web_support import Site, site

PAGE = "/admin/agents"


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url) as running:
        running.add_agent("ada@example.com", "Ada", "admin")
        running.add_agent("ann@example.com", "Ann")
        yield running


def test_only_admins_see_the_agents(web: Site) -> None:
    assert web.client.get(PAGE, follow_redirects=False).status_code == 303
    web.sign_in("ann@example.com")
    assert web.client.get(PAGE).status_code == 403
    web.sign_in("ada@example.com")
    page = web.client.get(PAGE)
    assert page.status_code == 200
    assert "ann@example.com" in page.text and "password set" in page.text


def test_add_change_and_reset_an_agent(web: Site) -> None:
    web.sign_in("ada@example.com")
    added = web.post(
        f"{PAGE}/add",
        {"email": "Bob@Example.com", "name": "Bob <b>", "role": "manager", "password": ""},
        form_page=PAGE,
    )
    assert added.status_code == 303
    page = web.client.get(PAGE).text
    assert "Added manager bob@example.com." in page and "Bob &lt;b&gt;" in page
    bad = web.post(f"{PAGE}/add", {"email": "nope", "name": "X", "role": "agent"}, form_page=PAGE)
    assert bad.status_code == 422 and "not an e-mail address" in bad.text
    changed = web.post(
        f"{PAGE}/change",
        {"email": "ann@example.com", "role": "agent", "active": "yes", "away": "yes"},
        form_page=PAGE,
    )
    assert changed.status_code == 303
    assert Agent.get(Agent.email == "ann@example.com").away
    short = web.post(f"{PAGE}/password", {"email": "bob@example.com", "password": "x"}, PAGE)
    assert short.status_code == 422 and "at least 8 characters" in short.text
    ok = web.post(f"{PAGE}/password", {"email": "bob@example.com", "password": "a long one!"}, PAGE)
    assert ok.status_code == 303
    assert web.sign_in("bob@example.com", "a long one!").status_code == 303


def test_the_last_admin_stays(web: Site) -> None:
    web.sign_in("ada@example.com")
    for change in ({"role": "agent"}, {"active": "no"}):
        answer = web.post(f"{PAGE}/change", {"email": "ada@example.com", **change}, PAGE)
        assert answer.status_code == 422 and "at least one active admin" in answer.text
    assert Agent.get(Agent.email == "ada@example.com").role == "admin"


def test_tokens_are_shown_once_and_can_be_revoked(web: Site) -> None:
    web.sign_in("ada@example.com")
    made = web.post(f"{PAGE}/token", {"email": "ann@example.com", "name": "chat"}, PAGE)
    assert made.status_code == 200
    token = re.search(r'<code id="new-token">([^<]+)</code>', made.text)
    assert token and token.group(1).startswith("mdk_")
    row = ApiToken.get()
    assert row.token_hash == agents.token_hash(token.group(1)) and token.group(1) not in page_of(
        web
    )
    assert web.post(f"{PAGE}/revoke", {"id": str(row.id)}, PAGE).status_code == 303
    assert ApiToken.get_by_id(row.id).revoked_at is not None
    assert web.post(f"{PAGE}/revoke", {"id": "999"}, PAGE).status_code == 404
    assert web.post(f"{PAGE}/revoke", {"id": "x"}, PAGE).status_code == 400


def test_changes_need_the_form_token(web: Site) -> None:
    web.sign_in("ada@example.com")
    response = web.client.post(
        f"{PAGE}/change", data={"email": "ann@example.com", "active": "no"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert Agent.get(Agent.email == "ann@example.com").active


def page_of(web: Site) -> str:
    return web.client.get(PAGE).text


def test_an_admin_signs_an_agent_out_everywhere(web: Site) -> None:
    ann = [web.another_browser(), web.another_browser()]
    for browser in ann:
        assert browser.sign_in("ann@example.com").status_code == 303
    web.sign_in("ada@example.com")
    assert 'action="/admin/agents/signout"' in web.client.get(PAGE).text
    done = web.post(f"{PAGE}/signout", {"email": "ann@example.com"}, PAGE)
    assert done.status_code == 303
    assert "Ended 2 sign-in(s) of ann@example.com." in web.client.get(PAGE).text
    for browser in ann:
        assert browser.client.get("/", follow_redirects=False).status_code == 303
    assert web.client.get(PAGE).status_code == 200  # the admin's own session lives on
    assert WebSession.select().count() == 1
    assert web.post(f"{PAGE}/signout", {"email": "nobody@example.com"}, PAGE).status_code == 404
