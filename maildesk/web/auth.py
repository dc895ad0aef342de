"""Signing in and out: argon2 password check, login limits, the server-side session.

Limits (OWASP's "device cookie" scheme): every password check is counted BEFORE the
(slow) check, per client and per address, at most `[web] login_attempts` in 15
minutes each; beyond that the answer is 429 without a check, however many requests
arrive at once. A browser that has signed in as an agent before holds a signed
device cookie for that address: its guesses count against the cookie instead of the
address, so guesses from elsewhere that lock the address for unknown browsers never
lock the agent out of their own. The same answer is given for an unknown address
and a wrong password.

A sign-in starts a `WebSession` row (`sessions`); signing out ends it, and "sign out
everywhere" ends all of the agent's.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.store.models import Agent
from maildesk.web import sessions
from maildesk.web.context import (
    Web,
    checked_form,
    password_mark,
    redirect,
    require,
    signed_in,
)

HASHER = PasswordHasher()
# Checked against when the address is unknown, so both cases take the same time.
DUMMY_HASH = HASHER.hash("not a password of anyone")
DEVICE_COOKIE = "maildesk_device"
DEVICE_SALT = "maildesk.device"
DEVICE_DAYS = 180


def check_password(email: str, password: str) -> Agent | None:
    """The active agent with this address and password, else None."""
    agent = Agent.get_or_none(Agent.email == email.strip().lower())
    stored = agent.password_hash if agent is not None and agent.active else None
    try:
        HASHER.verify(stored or DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return agent if stored else None


def safe_next(target: str) -> str:
    """Only a path on this site (never `//host` or a scheme)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


# -- the device cookie ------------------------------------------------------------------


def device_signer(web: Web) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(web.secret, salt=DEVICE_SALT)


def known_device(web: Web, request: Request, email: str) -> str | None:
    """The id of this browser's device cookie, if it signed in as `email` before."""
    cookie = request.cookies.get(DEVICE_COOKIE, "")
    try:
        value = device_signer(web).loads(cookie, max_age=DEVICE_DAYS * 86400)
    except BadSignature:  # also expired
        return None
    if not isinstance(value, list) or len(value) != 2 or value[0] != email:
        return None
    return str(value[1])


def remember_device(web: Web, response: Response, email: str) -> None:
    value = device_signer(web).dumps([email, secrets.token_urlsafe(16)])
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_DAYS * 86400,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=web.secure_cookies,
    )


def limit_keys(web: Web, request: Request, email: str) -> tuple[str, str]:
    """What a password check counts against: the client, and the address (or, from a
    browser that signed in as this address before, its device cookie)."""
    device = known_device(web, request, email)
    who = f"device:{device}" if device else f"email:{email}"
    return who, f"client:{web.client(request)}"


# -- routes -----------------------------------------------------------------------------


def routes(web: Web) -> list[Route]:
    def sign_in_page(request: Request, target: str, status: int = 200, error: str = "") -> Response:
        return web.page(request, "login.html", status_code=status, next=target, error=error)

    async def login_page(request: Request) -> Response:
        target = safe_next(request.query_params.get("next", "/"))
        if signed_in(request) is not None:
            return redirect(target)
        return sign_in_page(request, target)

    async def login(request: Request) -> Response:
        form = await checked_form(request)
        email = str(form.get("email", "")).strip().lower()
        password = str(form.get("password", ""))
        target = safe_next(str(form.get("next", "/")))
        keys = limit_keys(web, request, email)
        if not web.login_limit.take(*keys):  # counted before the check: no race past it
            wait = web.login_limit.retry_after(*keys)
            error = f"Too many failed sign-ins. Try again in {max(1, wait // 60)} minute(s)."
            response = sign_in_page(request, target, 429, error)
            response.headers["retry-after"] = str(wait)
            return response
        agent = await web.call(check_password, email, password)
        if agent is None:
            return sign_in_page(request, target, 401, "Wrong address or password.")
        web.login_limit.give_back(keys[1])  # a right password is no failed attempt
        web.login_limit.clear(keys[0], f"email:{email}")
        hours = web.config.web.session_hours
        sid = await web.call(sessions.start, web.db, agent, web.clock(), hours)
        request.session.clear()  # a new session: nothing carried over from before
        request.session.update(agent=agent.id, sid=sid, mark=password_mark(agent))
        response = redirect(target)
        remember_device(web, response, email)
        return response

    async def logout(request: Request) -> Response:
        await checked_form(request)
        sid = request.session.get("sid")
        if isinstance(sid, str):
            await web.call(sessions.end, web.db, sid)
        request.session.clear()
        return redirect("/login")

    async def logout_everywhere(request: Request) -> Response:
        agent = require(request)
        await checked_form(request)
        await web.call(sessions.end_all, web.db, agent.id)
        request.session.clear()
        return redirect("/login")

    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/logout/everywhere", logout_everywhere, methods=["POST"]),
    ]
