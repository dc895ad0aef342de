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
everywhere" ends all of the agent's. The sign-in page itself is `pages.signin`.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from maildesk.store.models import Agent
from maildesk.web.context import (
    Web,
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
