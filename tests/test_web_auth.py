"""Signing in to the web view: passwords, sessions, CSRF tokens, limits, roles, headers.

Through the real app and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.web.limits import RateLimit
from tests.web_support import PASSWORD, Site, site


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url) as running:
        running.add_agent("ann@example.com", "Ann")
        yield running


def test_pages_need_a_session(web: Site) -> None:
    response = web.client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/"


def test_sign_in_and_out(web: Site) -> None:
    response = web.sign_in("Ann@Example.com")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "maildesk_session=" in cookie and "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower() and "secure" not in cookie.lower()
    assert web.client.get("/login", follow_redirects=False).status_code == 303  # signed in
    out = web.post("/logout", form_page="/login?next=/x")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert web.client.get("/", follow_redirects=False).status_code == 303


def test_wrong_password_and_unknown_address_look_the_same(web: Site) -> None:
    wrong = web.sign_in("ann@example.com", "not the password")
    unknown = web.sign_in("nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert (
        "Wrong address or password." in wrong.text and "Wrong address or password." in unknown.text
    )


def test_posts_without_a_csrf_token_are_refused(web: Site) -> None:
    response = web.client.post(
        "/login", data={"email": "ann@example.com", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    web.csrf("/login")  # a session with a token, but the wrong one posted
    response = web.client.post(
        "/login",
        data={"csrf": "forged", "email": "ann@example.com", "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert web.sign_in("ann@example.com").status_code == 303
    assert web.client.post("/logout", follow_redirects=False).status_code == 403


def test_failed_sign_ins_are_limited(web: Site) -> None:
    for _ in range(5):
        assert web.sign_in("ann@example.com", "guess").status_code == 401
    blocked = web.sign_in("ann@example.com")  # even the right password, for a while
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


def test_a_password_change_ends_the_sessions(web: Site) -> None:
    assert web.sign_in("ann@example.com").status_code == 303
    changed = web.cli(
        "agents", "passwd", "ann@example.com", "--password-stdin", input="another password\n"
    )
    assert changed.exit_code == 0, changed.output
    assert web.client.get("/", follow_redirects=False).status_code == 303
    assert web.sign_in("ann@example.com", "another password").status_code == 303


def test_inactive_agents_cannot_sign_in(web: Site) -> None:
    assert web.sign_in("ann@example.com").status_code == 303
    assert web.cli("agents", "set", "ann@example.com", "--inactive").exit_code == 0
    assert web.client.get("/", follow_redirects=False).status_code == 303
    assert web.sign_in("ann@example.com").status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_site(web: Site, target: str) -> None:
    token = web.csrf("/login")
    response = web.client.post(
        "/login",
        data={"csrf": token, "email": "ann@example.com", "password": PASSWORD, "next": target},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_security_headers(web: Site) -> None:
    response = web.client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


def test_cookie_is_secure_behind_https(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url, base_url="https://help.example.com") as running:
        running.add_agent("ann@example.com", "Ann")
        response = running.sign_in("ann@example.com")
        assert "secure" in response.headers["set-cookie"].lower()


def test_passwords_are_checked_by_the_cli(web: Site) -> None:
    short = web.cli("agents", "passwd", "ann@example.com", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.stderr
    nobody = web.cli("agents", "passwd", "x@example.com", "--password-stdin", input="long enough\n")
    assert nobody.exit_code == 1 and "no agent x@example.com" in nobody.stderr
    empty = web.cli("agents", "passwd", "ann@example.com", "--password-stdin", input="\n")
    assert empty.exit_code == 2


def test_rate_limit_window_moves_on() -> None:
    now = [0.0]
    limit = RateLimit(2, 60, clock=lambda: now[0])
    limit.hit("a")
    limit.hit("a")
    assert limit.blocked("a") and not limit.blocked("b")
    assert 59 <= limit.retry_after("a") <= 60
    now[0] = 61
    assert not limit.blocked("a")
