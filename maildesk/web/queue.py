"""(being written)"""

from starlette.routing import Route

from maildesk.web.context import Web


def routes(web: Web) -> list[Route]:
    return []
