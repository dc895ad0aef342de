"""The API's route table: the routes of every router module, in the order they are
matched and described (`openapi`, the docs page).

A router module holds `routes`, a list of `routes.ApiRoute`, each with its handler and
the `routes.Operation` the description is made of (its models, parameters, roles). A
new one is served and described once it is listed in `ROUTERS`.
"""

from __future__ import annotations

from types import ModuleType

from maildesk.web.api import (
    agents,
    bulk,
    event_log,
    followers,
    links,
    records,
    reports,
    snooze,
    webhooks,
)
from maildesk.web.api import routes as tickets
from maildesk.web.api.routes import ApiRoute

# bulk before tickets: /api/tickets/bulk is not a ticket's label.
ROUTERS: tuple[ModuleType, ...] = (
    bulk,
    tickets,
    event_log,
    followers,
    links,
    snooze,
    records,
    agents,
    reports,
    webhooks,
)


def api_routes() -> list[ApiRoute]:
    """Every route of the API that needs a token, as served."""
    found: list[ApiRoute] = []
    for module in ROUTERS:
        found += [route for route in module.routes if isinstance(route, ApiRoute)]
    return found
