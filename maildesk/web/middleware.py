"""ASGI middleware: security headers on every response, bounded request bodies, and
the signed-in agent.

Headers: a strict Content-Security-Policy (only our own scripts, styles and images,
requests from script to this site only: the live updates; no framing except where a
route says so), `nosniff`, no referrer (customer links
carry their token in the path), and no caching of pages that show tickets.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maildesk.outbound.render import filesize_filter
from maildesk.web import sessions
from maildesk.web.context import SESSION_FREE, Web, password_mark
from maildesk.web.limits import body_limit

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
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


BUSY_RETRY_SECONDS = 10


class BoundedBodies:
    """Every request body is read here, before routing and parsing, within its route's
    limit (`uploads.body_limit`) and the process-wide budget (`Web.body_budget`):

    * a Content-Length over the limit is 413 without reading a byte;
    * a body without one (chunked) is cut off with 413 as soon as it passes the limit;
    * bytes are reserved from the budget as they are declared or arrive, and given
      back when the response is sent; what does not fit is 503 with Retry-After.

    The handler then gets the chunks as they were read, so form parsers and JSON
    readers never see more than the limit, and never spool more than it to disk."""

    def __init__(self, app: ASGIApp, web: Web) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is None and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body at all
            return
        limit = body_limit(self.web.config.web.max_upload_size, scope["path"])
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self.refuse(scope, 413, limit)(scope, receive, send)
            return
        budget = self.web.body_budget
        held = 0
        try:
            if declared is not None and declared.isdigit():
                if not budget.reserve(int(declared)):
                    await self.refuse(scope, 503, limit)(scope, receive, send)
                    return
                held = int(declared)
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client gave up: nobody to answer
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await self.refuse(scope, 413, limit)(scope, receive, send)
                    return
                if size > held:
                    if not budget.reserve(size - held):
                        await self.refuse(scope, 503, limit)(scope, receive, send)
                        return
                    held = size
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            await self.app(scope, replay(chunks, receive), send)
        finally:
            budget.release(held)

    def refuse(self, scope: Scope, status: int, limit: int) -> Response:
        """413 (over the route's limit) or 503 (over the budget), as the route's own
        errors look: JSON for the API, a page elsewhere."""
        if status == 413:
            message = f"The request is too large: at most {filesize_filter(limit)}."
            headers = {"connection": "close"}
        else:
            message = "The server is busy. Please try again in a few seconds."
            headers = {"retry-after": str(BUSY_RETRY_SECONDS), "connection": "close"}
        if scope["path"].startswith("/api/"):
            body = {"error": message, "errors": [message]}
            return JSONResponse(body, status, headers=headers)
        request = Request(scope)
        response = self.web.page(request, "error.html", status, status=status, message=message)
        response.headers.update(headers)
        return response


def replay(chunks: list[bytes], receive: Receive) -> Receive:
    """A `receive` that hands out the body already read, then waits on the client (for
    its disconnect)."""
    pending = list(reversed(chunks))
    chunks.clear()  # held once, by `pending`

    async def again() -> Message:
        if pending:
            chunk = pending.pop()
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        return await receive()

    return again
