"""/submit-articles: the desk's published articles matching a subject as it is typed
into the /submit form (static/submit.js shows them under the subject; without
script nothing is shown, and the "Check these first" step still comes).

JSON, no session: `?desk=SLUG&q=TEXT` (no desk: the default desk's) gives
`{"articles": [{"title": ..., "url": ...}]}`, the same articles the form's check
step would suggest. Limited per client (`context.SUGGEST_PER_MINUTE`).
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from maildesk.web.context import web_of
from maildesk.web.pages.submit import NO_FIELDS, suggestions

MAX_QUERY = 300


async def submit_articles(request: Request) -> Response:
    web = web_of(request)
    client = f"suggest:{web.client(request)}"
    if not web.suggest_limit.take(client):
        wait = str(web.suggest_limit.retry_after(client))
        body = {"error": "Too many look-ups. Please wait a minute."}
        return JSONResponse(body, 429, headers={"retry-after": wait})
    slug = request.query_params.get("desk") or web.desks.default.slug
    if not web.desks.known(slug):
        return JSONResponse({"error": f"No such desk: {slug}."}, 404)
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    if not query:
        return JSONResponse({"articles": []})
    fields = dataclasses.replace(NO_FIELDS, subject=query)
    found = await web.call(suggestions, web, web.desks.get(slug), fields)
    return JSONResponse({"articles": [{"title": s.title, "url": s.path} for s in found]})


routes = [Route("/submit-articles", submit_articles, methods=["GET"])]
