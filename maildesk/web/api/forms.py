"""Files for the API: a reply or note posted as multipart/form-data.

POST /api/tickets/{label}/messages takes, besides a JSON body, a form with the fields
of `models.NewMessage` as text parts and any number of `file` parts. The form is read
as the web's reply box reads its own (`web.uploads`: the whole body first, bounded by
`[web] max_upload_size` and the form around the files, 413 past it), each file gets a
safe name and media type (`uploads.read_uploads`), and the text fields are checked by
the same pydantic model as the JSON body (`models.NewMessageForm`: 400 for the wrong
shape). The files then go into the agent's mail as the reply box's do.
"""

from __future__ import annotations

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from maildesk.web.actions import Upload
from maildesk.web.api.models import NewMessageForm, parsed
from maildesk.web.uploads import FORM_OVERHEAD, bounded, read_uploads, too_large, total_size

FILE_FIELD = "file"
MAX_FILES = 100  # parts; together they stay within max_upload_size anyway
MAX_FIELDS = 20  # text parts: a form of two fields needs no more
BOOLEANS = {"true": True, "false": False}


def text_fields(form: FormData) -> dict[str, object]:
    """The form's text parts as the JSON body would give them (400 for a part given
    twice, a file in a text field, text in `file`, or a `note` that is not a boolean)."""
    fields: dict[str, object] = {}
    for name, value in form.multi_items():
        if name == FILE_FIELD:
            if not isinstance(value, UploadFile):
                raise HTTPException(400, f"{FILE_FIELD}: expected a file part (with a filename)")
            continue
        if isinstance(value, UploadFile):
            raise HTTPException(400, f"{name[:40]}: expected text, not a file")
        if name in fields:
            raise HTTPException(400, f"{name[:40]}: given more than once")
        fields[name] = value
    for flag in ("note", "reply_linked"):
        flag_value = fields.get(flag)
        if isinstance(flag_value, str):
            if flag_value.strip().lower() not in BOOLEANS:
                raise HTTPException(400, f"{flag}: expected true or false")
            fields[flag] = BOOLEANS[flag_value.strip().lower()]
    return fields


async def message_form(request: Request, limit: int) -> tuple[NewMessageForm, list[Upload]]:
    """The posted reply or note and its files; 413 when the files pass `limit` bytes
    in all (or the body passes them and the form around them)."""
    async with bounded(request, limit + FORM_OVERHEAD, too_large(limit)) as body:
        form = await body.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
        message = parsed(NewMessageForm, text_fields(form))
        uploads = await read_uploads(form, FILE_FIELD)
    if total_size(uploads) > limit:
        raise HTTPException(413, too_large(limit))
    return message, uploads
