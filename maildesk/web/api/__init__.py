"""The JSON API under /api/: tickets for programs, acting as an agent.

`routes`: the ticket routes and the work behind them (bearer tokens, reads as the CLI's
JSON, changes as the agent's mail through `web.actions`); `records`: customers and
organizations (/api/contacts, /api/orgs); `agents`: the agents (/api/agents, changed by
admins only); `models`: the request bodies as pydantic models, and their errors as the
API's 400s; `openapi`: GET /api/openapi.json, the OpenAPI 3.1 description built from
them.

Errors are JSON `{"error": ..., "errors": [...]}` (400 bad request, 401 no or bad
token, 403 not an admin's token (adding or changing agents), 404 unknown ticket,
contact, organization or agent, 413 too large, 422 a value the desk refuses),
`errors` listing each problem (`app.create_app` answers HTTP errors under /api/ so).
See README, "The JSON API".
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from maildesk.web.api import agents, openapi, records
from maildesk.web.api import routes as api

routes: list[BaseRoute] = [*openapi.routes, *api.routes, *records.routes, *agents.routes]
