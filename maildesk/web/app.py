"""The Starlette application: middleware, routes, error pages.

Routes by audience (one module per page in `pages`):
  agents (a session):   /login (pages.signin), / (pages.queue), /tickets/... (pages.ticket),
                        /events/stream and presence (pages.live),
                        /reports... (pages.reports), /admin/... (pages.admin, pages.quarantine,
                        pages.kb_admin)
  customers (no login): /t/SUP-00042/<token> (pages.status), .../rate (pages.rating),
                        /submit (pages.submit), /kb/... (pages.help_center, pages.article),
                        /portal (pages.portal: a customer's requests, signed in by mail)
  programs (a token):   /api/... (api), described at /api/openapi.json

Handlers find the `Web` in the application's state (`context.web_of`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import peewee
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from maildesk.events.live import Live
from maildesk.pipeline.flow import Pipeline
from maildesk.queries import backlog
from maildesk.store.blobs import BlobError, BlobStoreDown
from maildesk.store.executor import DbExecutor
from maildesk.tickets.desk import Desk
from maildesk.web import api, pages
from maildesk.web.context import Web, web_of
from maildesk.web.middleware import BoundedBodies, SecurityHeaders, SignedInAgent

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "maildesk_session"
WEB_THREADS = 2


def create_app(web: Web) -> Starlette:
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *pages.routes,
        *api.routes,
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(BoundedBodies, web=web),
        Middleware(
            SessionMiddleware,
            secret_key=web.secret.hex() + ":web-session",
            session_cookie=COOKIE,
            max_age=web.config.web.session_hours * 3600,
            same_site="lax",
            https_only=web.secure_cookies,
        ),
        Middleware(SignedInAgent, web=web),
    ]

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, BlobError: stored_bytes_error},
    )
    app.state.web = web
    return app


async def http_error(request: Request, exc: Exception) -> Response:
    """Errors as the path's audience reads them: JSON under /api/, a page for people,
    plain text where there is neither a session nor a customer page."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code in (301, 302, 303, 307, 308):
        return Response(status_code=exc.status_code, headers=headers)
    if request.url.path.startswith("/api/"):
        body = {"error": exc.detail, "errors": [exc.detail]}
        return JSONResponse(body, exc.status_code, headers=headers)
    if "session" not in request.scope and not request.url.path.startswith(
        ("/t/", "/submit", "/portal")
    ):
        return PlainTextResponse(exc.detail, exc.status_code, headers=headers)
    response = web_of(request).page(
        request,
        "error.html",
        status_code=exc.status_code,
        status=exc.status_code,
        message=exc.detail,
    )
    response.headers.update(headers)
    return response


async def stored_bytes_error(request: Request, exc: Exception) -> Response:
    """A file or raw message whose bytes cannot be read (`store.blobs`): 503 while its
    store is down (try again), 500 when the bytes are missing or damaged, answered
    like any other error; the details (paths, keys) go to the log, not the page."""
    assert isinstance(exc, BlobError)
    log.error("%s %s: stored bytes unreadable: %s", request.method, request.url.path, exc)
    if isinstance(exc, BlobStoreDown):
        detail = "the file store cannot be reached just now; try again in a minute"
        return await http_error(request, HTTPException(503, detail, {"Retry-After": "60"}))
    detail = "the stored bytes of this file are missing or damaged (see the server log)"
    return await http_error(request, HTTPException(500, detail))


async def healthz(request: Request) -> Response:
    """`{"status": "ok", "backlog": {...}}` (queries.backlog), for a load balancer or
    a monitoring check; 503 with `"status": "error"` when the database fails."""
    web = web_of(request)
    try:
        figures = await web.call(backlog.document, web.desk.clock())
    except peewee.PeeweeException as exc:
        error = " ".join(str(exc).split()) or type(exc).__name__
        return JSONResponse({"status": "error", "error": f"database error: {error}"}, 503)
    return JSONResponse({"status": "ok", "backlog": figures})


def open_web(
    desk: Desk,
    pipeline: Pipeline,
    on_mail: Callable[[], None] = lambda: None,
    live: Live | None = None,
    environ: Mapping[str, str] | None = None,
) -> Web:
    """A `Web` with database threads of its own (closed by `close_web`); `live`: the
    process's live updates (started and stopped by whoever built them); `environ`: the
    environment the daemon reads secrets from (a [[webhook]]'s, for its test)."""
    executor = DbExecutor(desk.db, WEB_THREADS, "web")
    return Web(desk, pipeline, executor, on_mail, live, dict(environ or {}))


def close_web(web: Web) -> None:
    web.executor.shutdown(wait=True)
