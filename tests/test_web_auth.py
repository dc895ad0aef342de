"""Signing in to the web view: passwords, sessions, CSRF tokens, limits, roles, headers.

Through the real app and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from maildesk.store.models import WebSession
from maildesk.web import auth
from maildesk.web.app import COOKIE
from maildesk.web.limits import RateLimit
from tests.web_support import PASSWORD, Site, site

BEHIND_PROXY = '[web]\nport = 0\ntrusted_proxies = ["testclient"]\n'


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


def test_concurrent_guesses_are_counted_before_the_check(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 guesses at once: at most `login_attempts` passwords are checked, whatever the
    order they arrive in; the right password afterwards is refused as well."""
    checked: list[str] = []

    def counted(email: str, password: str) -> object:
        checked.append(password)
        return check(email, password)

    check = auth.check_password
    monkeypatch.setattr(auth, "check_password", counted)
    with site(tmp_path, database_url) as web:
        web.add_agent("ann@example.com", "Ann")
        token = web.csrf("/login")

        def guess(n: int) -> int:
            fields = {"csrf": token, "email": "ann@example.com", "password": f"guess {n}"}
            return web.client.post("/login", data=fields, follow_redirects=False).status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(guess, range(200)))
        assert len(checked) == 5 and answers.count(401) == 5 and answers.count(429) == 195
        right = web.sign_in("ann@example.com")
        assert right.status_code == 429 and len(checked) == 5


def test_guesses_from_elsewhere_never_lock_an_agent_out_of_their_own_browser(
    tmp_path: Path, database_url: str
) -> None:
    with site(tmp_path, database_url, extra=BEHIND_PROXY) as web:
        web.add_agent("ann@example.com", "Ann")
        own = web.another_browser(**{"X-Forwarded-For": "192.0.2.10"})
        assert own.sign_in("ann@example.com").status_code == 303
        own.post("/logout")
        for n in range(10):  # an attacker, from ten addresses
            attacker = web.another_browser(**{"X-Forwarded-For": f"203.0.113.{n}"})
            assert attacker.sign_in("ann@example.com", "guess").status_code in (401, 429)
        fresh = web.another_browser(**{"X-Forwarded-For": "198.51.100.7"})
        assert fresh.sign_in("ann@example.com").status_code == 429  # an unknown browser waits
        assert own.sign_in("ann@example.com").status_code == 303  # Ann's own does not
        for _ in range(5):  # her own browser has its limit too
            assert own.sign_in("ann@example.com", "typo").status_code == 401
        assert own.sign_in("ann@example.com").status_code == 429


def test_a_cookie_copied_before_sign_out_is_void_after(web: Site) -> None:
    assert web.sign_in("ann@example.com").status_code == 303
    copied = web.client.cookies[COOKIE]
    assert web.client.get("/", follow_redirects=False).status_code == 200
    assert web.post("/logout").status_code == 303
    thief = web.another_browser()
    thief.client.cookies.set(COOKIE, copied)
    answer = thief.client.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert "Sign in" in thief.client.get("/").text
    assert WebSession.select().count() == 0


def test_sign_out_everywhere_ends_every_session_of_the_agent(web: Site) -> None:
    web.add_agent("bob@example.com", "Bob")
    laptop, phone, bob = web.another_browser(), web.another_browser(), web.another_browser()
    for browser, email in (
        (laptop, "ann@example.com"),
        (phone, "ann@example.com"),
        (bob, "bob@example.com"),
    ):
        assert browser.sign_in(email).status_code == 303
    assert 'action="/logout"' in laptop.client.get("/").text
    assert "Sign out everywhere" in laptop.client.get("/").text
    done = laptop.post("/logout/everywhere")
    assert done.status_code == 303 and done.headers["location"] == "/login"
    for browser in (laptop, phone):
        assert browser.client.get("/", follow_redirects=False).status_code == 303
    assert bob.client.get("/", follow_redirects=False).status_code == 200


def test_deactivation_and_a_new_password_end_the_sessions_on_the_server(web: Site) -> None:
    assert web.sign_in("ann@example.com").status_code == 303
    assert WebSession.select().count() == 1
    assert web.cli("agents", "set", "ann@example.com", "--inactive").exit_code == 0
    assert WebSession.select().count() == 0
    assert web.cli("agents", "set", "ann@example.com", "--active").exit_code == 0
    assert web.sign_in("ann@example.com").status_code == 303
    changed = web.cli(
        "agents", "passwd", "ann@example.com", "--password-stdin", input="another password\n"
    )
    assert changed.exit_code == 0 and WebSession.select().count() == 0
    assert web.client.get("/", follow_redirects=False).status_code == 303
