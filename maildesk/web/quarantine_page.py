"""The quarantine in the web view (admins): the messages the pipeline failed on, with
their error, the raw message to download, and a retry after a fix -- the same as
`maildesk quarantine list` and `maildesk quarantine retry`."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk import quarantine, serialize
from maildesk.web.context import ADMIN_ROLES, Web, checked_form, redirect, require

SHOWN = 200  # the oldest entries listed; the CLI lists them all


def _listing() -> tuple[list[dict[str, Any]], int]:
    shown = [serialize.quarantine_entry(q) for q in quarantine.waiting(SHOWN)]
    return shown, quarantine.count_waiting()


def routes(web: Web) -> list[Route]:
    async def page(request: Request) -> Response:
        require(request, ADMIN_ROLES)
        entries, total = await web.call(_listing)
        notice = request.session.pop("flash", "")
        return web.page(
            request, "quarantine.html", active="quarantine", entries=entries, total=total,
            notice=notice if isinstance(notice, str) else "",
        )  # fmt: skip

    async def retry_posted(request: Request) -> Response:
        require(request, ADMIN_ROLES)
        form = await checked_form(request)
        chosen = form.get("id", "")
        if chosen == "all":
            entry_id = None
        elif isinstance(chosen, str) and chosen.isdigit():
            entry_id = int(chosen)
        else:
            raise HTTPException(400, "give a quarantine ID or all")
        try:
            done = await web.call(quarantine.retry, web.pipeline, entry_id)
        except quarantine.NotQuarantined as exc:
            raise HTTPException(404, str(exc)) from exc
        web.on_mail()
        failed = sum(outcome.action == "quarantined" for _, outcome in done)
        taken = len(done) - failed
        request.session["flash"] = f"Retried {len(done)}: {taken} taken in, {failed} failed again."
        return redirect("/admin/quarantine")

    async def raw(request: Request) -> Response:
        require(request, ADMIN_ROLES)
        entry_id = request.path_params["entry_id"]
        data = await web.call(quarantine.raw_message, entry_id)
        if data is None:
            raise HTTPException(404, "no such quarantine entry")
        headers = {
            "content-disposition": f'attachment; filename="quarantine-{entry_id}.eml"',
            "content-security-policy": "default-src 'none'; sandbox",
        }
        return Response(data, media_type="application/octet-stream", headers=headers)

    return [
        Route("/admin/quarantine", page, methods=["GET"]),
        Route("/admin/quarantine/retry", retry_posted, methods=["POST"]),
        Route("/admin/quarantine/{entry_id:int}.eml", raw, methods=["GET"]),
    ]
