"""The JSON API under /api/: tickets for programs, acting as an agent.

`routes`: the ticket routes and the work behind them (bearer tokens, reads as the CLI's
JSON, changes as the agent's mail through `web.actions`); `forms`: a reply's files as
multipart/form-data; `bulk`: one change to many tickets; `event_log`: a ticket's events;
`records`: customers and organizations (/api/contacts, /api/orgs); `agents`: the agents
(/api/agents, changed by admins only); `reports`: the SLA report; `webhooks`: the
webhook endpoints and their deliveries (admins only); `table`: the list of
these router modules. `models`: the request bodies as pydantic models, and their errors
as the API's 400s; `answers`: the newer routes' answers as models; `openapi`: GET
/api/openapi.json, the OpenAPI 3.1 description built from the table and the models;
`docs`: GET /api/docs, the same description as a page for people.

Errors are JSON `{"error": ..., "errors": [...]}` (400 bad request, 401 no or bad
token, 403 a token of the wrong role (adding or changing agents, webhooks: an
admin's; reports: an admin's or a manager's), 404 unknown ticket, contact,
organization, agent, webhook or delivery, 409 a webhook of maildesk.toml, 413 too
large, 422 a value the desk refuses),
`errors` listing each problem (`app.create_app` answers HTTP errors under /api/ so).
See README, "The JSON API".
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from maildesk.web.api import docs, openapi, table

routes: list[BaseRoute] = [*openapi.routes, *docs.routes, *table.api_routes()]
