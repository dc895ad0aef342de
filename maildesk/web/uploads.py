"""Request bodies and uploaded files, bounded: what a form or the API may post.

Every body was already cut to its route's `limits.body_limit` by
`middleware.BoundedBodies` before any handler runs. `bounded` reads
the whole body first (413 past the limit, by Content-Length up front
or as it arrives), so a form parser never spools an endless upload; `read_uploads`
turns the form's files into `actions.Upload` values with a safe name and type.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message as AsgiMessage

from maildesk.core.message.filenames import sanitize_filename
from maildesk.outbound.render import filesize_filter
from maildesk.web.actions import Upload
from maildesk.web.limits import FORM_OVERHEAD as FORM_OVERHEAD

_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")


def too_large(limit: int) -> str:
    return f"The files are too large: at most {filesize_filter(limit)} in all."


async def read_body(request: Request, limit: int, too_big: str) -> bytes:
    """The whole request body; 413 (`too_big`) past `limit` bytes, by its Content-Length
    up front, else as soon as it is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, too_big)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, too_big)
        chunks.append(chunk)
    return b"".join(chunks)


@contextlib.asynccontextmanager
async def bounded(request: Request, limit: int, too_big: str) -> AsyncIterator[Request]:
    """The request with its body read up front (`read_body`), so the form parser never
    meets a body cut short; the parsed form's files are closed on leaving."""
    messages = [{"type": "http.request", "body": await read_body(request, limit, too_big)}]

    async def receive() -> AsgiMessage:
        return messages.pop() if messages else {"type": "http.disconnect"}

    copy = Request(request.scope, receive)
    try:
        yield copy
    finally:
        await copy.close()


async def read_uploads(form: FormData, field: str = "files") -> list[Upload]:
    """The files posted in `field` (none chosen: an empty part, skipped), each with a
    safe file name and a well-formed media type (else application/octet-stream)."""
    uploads: list[Upload] = []
    for item in form.getlist(field):
        if not isinstance(item, UploadFile):
            continue
        data = await item.read()
        if not item.filename and not data:
            continue
        kind = (item.content_type or "").split(";")[0].strip().lower()
        kind = kind if _MEDIA_TYPE.fullmatch(kind) else "application/octet-stream"
        uploads.append(Upload(sanitize_filename(item.filename or "", kind), kind, data))
    return uploads


def total_size(uploads: list[Upload]) -> int:
    return sum(len(u.data) for u in uploads)
