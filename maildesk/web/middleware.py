"""ASGI middleware: security headers on every response, and the signed-in agent.

Headers: a strict Content-Security-Policy (only our own scripts, styles and images;
no framing except where a route says so), `nosniff`, no referrer (customer links
carry their token in the path), and no caching of pages that show tickets.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maildesk.web import sessions
from maildesk.web.context import SESSION_FREE, Web, password_mark

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Pages other sites may frame: their own CSP frame-ancestors says which sites.
EMBEDDABLE = ("/submit",)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", CSP)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "no-referrer")
                if not scope["path"].startswith(EMBEDDABLE):
                    headers.setdefault("x-frame-options", "DENY")
                if not scope["path"].startswith("/static/"):
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SignedInAgent:
    """Puts the session's agent in `scope["agent"]` (None when nobody is signed in, the
    session was ended or expired on the server, the agent is inactive, or the password
    changed since the sign-in)."""

    def __init__(self, app: ASGIApp, web: Web) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SESSION_FREE):
            await self.app(scope, receive, send)
            return
        session = scope.get("session") or {}
        agent_id, sid, mark = session.get("agent"), session.get("sid"), session.get("mark")
        agent = None
        if isinstance(agent_id, int) and isinstance(sid, str):
            found = await self.web.call(sessions.agent_of, sid, self.web.clock())
            if found is not None and found.id == agent_id and found.active:
                agent = found if password_mark(found) == mark else None
        if agent is None and "agent" in session:
            session.clear()  # signed out, expired, or made void: nothing of it is kept
        scope["agent"] = agent
        await self.app(scope, receive, send)
