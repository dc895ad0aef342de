"""Header access on a parsed MIME part: fields, parameters, type, file name.

Where it sits in the flow: between the tree built by `feed` and its readers,
the walk in `mime` and the top-level fields in `parse`.  Reads a part's fields
as they were received and turns the MIME ones (Content-Type and
Content-Disposition with RFC 2231 parameters, Content-ID) into clean values.
"""

from __future__ import annotations

import re
from email import utils as email_utils
from email.message import Message

from maildesk.core.message.charsets import _decode_bytes, _from_wire, _repair_c1
from maildesk.core.message.feed import _POLICY
from maildesk.core.message.headers import (
    _CONTROL_EXCEPT_TAB,
    _WHITESPACE,
    _decode_encoded_words,
    _unfold,
)
from maildesk.core.message.limits import MAX_CONTENT_TYPE, MAX_STRUCTURED_HEADER
from maildesk.core.message.notes import _Notes
from maildesk.core.message.text import _scrub

_MAX_CONTENT_ID = 998  # as a Message-ID: longer is not an id anyone refers to


def _raw_values(part: Message, name: str) -> list[str]:
    wanted = name.lower()
    values: list[str] = []
    for key, value in part.raw_items():
        if str(key).strip().lower() == wanted:
            values.append(value if isinstance(value, str) else str(value))
    return values


def _first_raw(part: Message, name: str) -> str | None:
    values = _raw_values(part, name)
    return values[0] if values else None


def _param_holder(value: str) -> Message:
    holder = Message(policy=_POLICY)
    holder["X-Params"] = _from_wire(_unfold(value))
    return holder


def _collapse_param(value: object, notes: _Notes | None, what: str) -> str | None:
    """A `get_param` result (plain or RFC 2231 (charset, lang, text)) -> text."""
    if value is None:
        return None
    if isinstance(value, tuple) and len(value) == 3:
        charset, _lang, text = value
        text = str(text)
        try:
            data = text.encode("latin-1")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "surrogateescape")
        return _decode_bytes(data, str(charset) if charset else None, notes, what)
    return email_utils.unquote(str(value))


def _get_param(part: Message, header: str, param: str, notes: _Notes | None) -> str | None:
    raw = _first_raw(part, header)
    if raw is None:
        return None
    try:
        holder = _param_holder(raw[:MAX_STRUCTURED_HEADER])
        value = holder.get_param(param, None, "x-params")
        return _collapse_param(value, notes, f"{header} {param}")
    except Exception:
        if notes is not None:
            notes.add(f"unparseable {header} parameters")
        return None


def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type()
    except Exception:
        return "text/plain"
    ctype = _WHITESPACE.sub("", _scrub(str(ctype))).lower()
    if len(ctype) > MAX_CONTENT_TYPE:
        return "application/octet-stream"
    return ctype if "/" in ctype else "text/plain"


def _disposition(part: Message) -> str:
    raw = _first_raw(part, "content-disposition")
    if raw is None:
        return ""
    return _from_wire(_unfold(raw)).split(";", 1)[0].strip().lower()


def _content_id(part: Message) -> str | None:
    raw = _first_raw(part, "content-id")
    if raw is None:
        return None
    text = _CONTROL_EXCEPT_TAB.sub("", _from_wire(_unfold(raw))).strip()
    match = re.search(r"<([^<>]*)>", text)
    if match is not None:
        text = match.group(1)
    text = _scrub(re.sub(r"\s+", "", text))
    return text if 0 < len(text) <= _MAX_CONTENT_ID else None


def _raw_filename(part: Message, notes: _Notes | None) -> str | None:
    name = _get_param(part, "content-disposition", "filename", notes)
    if not name:
        name = _get_param(part, "content-type", "name", notes)
    if not name:
        return None
    name = _decode_encoded_words(name, notes, "attachment file name")
    return _scrub(_repair_c1(name)).strip() or None
