"""/widget.js and /widget.css: the widget other sites load by one script tag.

Both are static files (web/static/) served at the site's root, so the tag reads
`<script src="https://desk.example/widget.js">`; they are kept a day by browsers
and proxies. The script opens /submit?embed=1 in an iframe (`pages.submit`).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

STATIC = Path(__file__).resolve().parent.parent / "static"
CACHE = "public, max-age=86400"
FILES = {"widget.js": "text/javascript; charset=utf-8", "widget.css": "text/css; charset=utf-8"}


async def widget_file(request: Request) -> Response:
    name = request.url.path.lstrip("/")
    headers = {"cache-control": CACHE, "cross-origin-resource-policy": "cross-origin"}
    return FileResponse(STATIC / name, media_type=FILES[name], headers=headers)


routes = [Route(f"/{name}", widget_file, methods=["GET", "HEAD"]) for name in FILES]
