"""The sign-in page (/login) and signing out (/logout, /logout/everywhere).

What is checked, and how often it may be tried, is `auth`: the password against its
argon2 hash, the login limits per client and per address or device. A sign-in
starts a server-side session (`sessions`); signing out ends it, or all of them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.web import auth, sessions
from maildesk.web.auth import limit_keys, remember_device, safe_next
from maildesk.web.context import (
    checked_form,
    password_mark,
    redirect,
    require,
    signed_in,
    web_of,
)


def sign_in_page(request: Request, target: str, status: int = 200, error: str = "") -> Response:
    page = web_of(request).page
    return page(request, "login.html", status_code=status, next=target, error=error)


async def login_page(request: Request) -> Response:
    target = safe_next(request.query_params.get("next", "/"))
    if signed_in(request) is not None:
        return redirect(target)
    return sign_in_page(request, target)


async def login(request: Request) -> Response:
    web = web_of(request)
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
    agent = await web.call(auth.check_password, email, password)  # via the module: tests wrap it
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
        await web_of(request).call(sessions.end, web_of(request).db, sid)
    request.session.clear()
    return redirect("/login")


async def logout_everywhere(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    await checked_form(request)
    await web.call(sessions.end_all, web.db, agent.id)
    request.session.clear()
    return redirect("/login")


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/logout/everywhere", logout_everywhere, methods=["POST"]),
]
