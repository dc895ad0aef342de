"""Signing in and out: argon2 password check, login rate limit, the session cookie.

A failed sign-in counts against the address and the client; past
`[web] login_attempts` in 15 minutes either one gets 429 until the window moves on.
The same answer is given for an unknown address and a wrong password.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.store.models import Agent
from maildesk.web.context import Web, checked_form, password_mark, redirect, signed_in

HASHER = PasswordHasher()
# Checked against when the address is unknown, so both cases take the same time.
DUMMY_HASH = HASHER.hash("not a password of anyone")


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


def routes(web: Web) -> list[Route]:
    async def login_page(request: Request) -> Response:
        if signed_in(request) is not None:
            return redirect(safe_next(request.query_params.get("next", "/")))
        return web.page(
            request, "login.html", next=safe_next(request.query_params.get("next", "/")), error=""
        )

    async def login(request: Request) -> Response:
        form = await checked_form(request)
        email = str(form.get("email", "")).strip().lower()
        password = str(form.get("password", ""))
        target = safe_next(str(form.get("next", "/")))
        keys = (f"email:{email}", f"client:{web.client(request)}")
        if web.login_limit.blocked(*keys):
            wait = web.login_limit.retry_after(*keys)
            response = web.page(
                request,
                "login.html",
                status_code=429,
                next=target,
                error=f"Too many failed sign-ins. Try again in {max(1, wait // 60)} minute(s).",
            )
            response.headers["retry-after"] = str(wait)
            return response
        agent = await web.call(check_password, email, password)
        if agent is None:
            web.login_limit.hit(*keys)
            return web.page(
                request,
                "login.html",
                status_code=401,
                next=target,
                error="Wrong address or password.",
            )
        web.login_limit.clear(f"email:{email}")
        request.session.clear()  # a new session: nothing carried over from before
        request.session.update(agent=agent.id, mark=password_mark(agent))
        return redirect(target)

    async def logout(request: Request) -> Response:
        await checked_form(request)
        request.session.clear()
        return redirect("/login")

    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
