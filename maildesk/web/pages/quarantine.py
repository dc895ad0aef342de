"""The quarantine page (admins, /admin/quarantine): the messages the pipeline failed on, with
their error, the raw message to download, a retry after a fix, and discarding junk --
the same as `maildesk quarantine list`, `quarantine retry` and `quarantine discard`."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.core.vocabulary import ADMIN_ROLES
from maildesk.pipeline import quarantine
from maildesk.queries import serialize
from maildesk.store.db import write_transaction
from maildesk.web.context import Web, checked_form, redirect, require, web_of

SHOWN = 200  # the oldest entries listed; the CLI lists them all


def _listing() -> tuple[list[dict[str, Any]], int]:
    shown = [serialize.quarantine_entry(q) for q in quarantine.waiting(SHOWN)]
    return shown, quarantine.count_waiting()


def _chosen(form: Any) -> int | None:
    """The entry a form names: its ID, or None for "all"."""
    chosen = form.get("id", "")
    if chosen == "all":
        return None
    if isinstance(chosen, str) and chosen.isdigit():
        return int(chosen)
    raise HTTPException(400, "give a quarantine ID or all")


def _discard(web: Web, entry_id: int | None) -> int:
    with write_transaction(web.db):
        return len(quarantine.discard(entry_id, web.clock()))


async def page(request: Request) -> Response:
    require(request, ADMIN_ROLES)
    web = web_of(request)
    entries, total = await web.call(_listing)
    notice = request.session.pop("flash", "")
    return web.page(
        request, "quarantine.html", active="quarantine", entries=entries, total=total,
        notice=notice if isinstance(notice, str) else "",
    )  # fmt: skip


async def retry_posted(request: Request) -> Response:
    require(request, ADMIN_ROLES)
    web = web_of(request)
    entry_id = _chosen(await checked_form(request))
    try:
        done = await web.call(quarantine.retry, web.pipeline, entry_id)
    except quarantine.NotQuarantined as exc:
        raise HTTPException(404, str(exc)) from exc
    web.on_mail()
    failed = sum(outcome.action == "quarantined" for _, outcome in done)
    taken = len(done) - failed
    request.session["flash"] = f"Retried {len(done)}: {taken} taken in, {failed} failed again."
    return redirect("/admin/quarantine")


async def discard_posted(request: Request) -> Response:
    require(request, ADMIN_ROLES)
    web = web_of(request)
    entry_id = _chosen(await checked_form(request))
    try:
        count = await web.call(_discard, web, entry_id)
    except quarantine.NotQuarantined as exc:
        raise HTTPException(404, str(exc)) from exc
    request.session["flash"] = f"Discarded {count}: kept raw, listed by quarantine list --all."
    return redirect("/admin/quarantine")


async def raw(request: Request) -> Response:
    require(request, ADMIN_ROLES)
    entry_id = request.path_params["entry_id"]
    data = await web_of(request).call(quarantine.raw_message, entry_id)
    if data is None:
        raise HTTPException(404, "no such quarantine entry")
    headers = {
        "content-disposition": f'attachment; filename="quarantine-{entry_id}.eml"',
        "content-security-policy": "default-src 'none'; sandbox",
    }
    return Response(data, media_type="application/octet-stream", headers=headers)


routes = [
    Route("/admin/quarantine", page, methods=["GET"]),
    Route("/admin/quarantine/retry", retry_posted, methods=["POST"]),
    Route("/admin/quarantine/discard", discard_posted, methods=["POST"]),
    Route("/admin/quarantine/{entry_id:int}.eml", raw, methods=["GET"]),
]
