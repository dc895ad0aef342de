"""`parse_message` and `header_message_id`, the entry points of the package.

Where it sits in the flow: `header_message_id` runs at intake on the raw bytes
(for dedupe); `parse_message` runs once per message in the pipeline and drives
the other modules: `feed` (defuse and parse), `headers` and `parts` (top-level
fields), `mime` (bodies and attachments), `html_text` (text from HTML), with
one `notes` list collecting what was repaired on the way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from email.message import Message
from typing import TypeVar

from maildesk.core.message.charsets import _decode_bytes, _from_wire
from maildesk.core.message.feed import (
    _LINE_BREAK,
    _cut_long_header_fields,
    _cut_long_mime_fields,
    _header_section_end,
    _limit_header_lines,
    _parse_bytes,
    _too_many_parts,
)
from maildesk.core.message.headers import (
    _CONTROL,
    _header_text,
    _message_id_list,
    _parse_addresses,
    _parse_date,
    normalize_message_id,
)
from maildesk.core.message.html_text import _html_to_text
from maildesk.core.message.limits import MAX_BOUNDARY_LINES, MAX_SUBJECT
from maildesk.core.message.mime import CLIPPED_TEXT, _clean_body, _clipped, _Walker
from maildesk.core.message.notes import _Notes
from maildesk.core.message.parts import _content_type, _first_raw, _get_param, _raw_values
from maildesk.core.message.payload import _decode_payload
from maildesk.core.message.text import _scrub
from maildesk.core.message.values import Address, ParsedMessage


def header_message_id(raw: bytes) -> str | None:
    """Message-ID of `raw`, looking only at its header block (cheap, for dedupe).

    Uses the same parser and normalisation as `parse_message`, so both agree.
    """
    try:
        data = _cut_long_header_fields(_limit_header_lines(bytes(raw), None), None)
        section = data[: _header_section_end(data)]
        top = _parse_bytes(section, headersonly=True)
        value = _first_raw(top, "message-id")
        return None if value is None else normalize_message_id(_from_wire(value))
    except Exception:
        return None


def _decoded_headers(
    top: Message, notes: _Notes
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """The headers by name (values topmost first), and the names in message order."""
    collected: dict[str, list[str]] = {}
    order: list[str] = []
    for key, value in top.raw_items():
        name = _CONTROL.sub("", _scrub(str(key))).strip().lower()
        if not name:
            continue
        text = _header_text(value if isinstance(value, str) else str(value), notes, name)
        collected.setdefault(name, []).append(text)
        order.append(name)
    return {name: tuple(values) for name, values in collected.items()}, tuple(order)


_T = TypeVar("_T")


def _guarded(notes: _Notes, what: str, default: _T, func: Callable[[], _T]) -> _T:
    """func(), or `default` (noted) if it fails: one broken field spoils nothing else."""
    try:
        return func()
    except Exception as exc:
        notes.add(f"{what} could not be read ({type(exc).__name__})")
        return default


def _whole_body_as_text(top: Message, raw: bytes, notes: _Notes) -> str:
    """Last resort for the body: everything after the header block, as text."""
    data: object = None
    if not top.is_multipart():
        data = _guarded(notes, "body", None, lambda: _decode_payload(top))
    if not isinstance(data, bytes):
        body = raw[_header_section_end(raw) :]
        first_break = _LINE_BREAK.match(body)
        data = body[first_break.end() :] if first_break is not None else body
    charset = _get_param(top, "content-type", "charset", notes)
    text = _decode_bytes(data, charset, notes, "message body")
    del data
    return _clean_body(_clipped(text, notes, "message body", CLIPPED_TEXT))


def _build(raw: bytes, notes: _Notes) -> ParsedMessage:
    raw = _cut_long_header_fields(_limit_header_lines(raw, notes), notes)
    raw = _cut_long_mime_fields(raw, notes)
    full = not _too_many_parts(raw)
    if not full:
        notes.add(f"more than {MAX_BOUNDARY_LINES} MIME boundary lines; body kept as text")
        top = _parse_bytes(raw, headersonly=True)
    else:
        try:
            top = _parse_bytes(raw)
        except Exception as exc:
            notes.add(f"MIME structure unparseable ({type(exc).__name__}); body kept as text")
            top = _parse_bytes(raw, headersonly=True)
            full = False

    no_headers: tuple[dict[str, tuple[str, ...]], tuple[str, ...]] = ({}, ())
    headers, header_order = _guarded(
        notes, "headers", no_headers, lambda: _decoded_headers(top, notes)
    )

    mid_raw = _first_raw(top, "message-id")
    message_id = normalize_message_id(_from_wire(mid_raw)) if mid_raw is not None else None
    if mid_raw is not None and message_id is None:
        notes.add("Message-ID header unusable")
    subject_raw = _first_raw(top, "subject")
    subject = _header_text(subject_raw, notes, "subject") if subject_raw is not None else ""
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
        notes.add(f"subject longer than {MAX_SUBJECT} characters; cut")

    def addresses(name: str) -> tuple[Address, ...]:
        return _guarded(
            notes, name, (), lambda: _parse_addresses(_raw_values(top, name), notes, name)
        )

    from_list = addresses("from")
    date_raw = _first_raw(top, "date")
    date = _parse_date(date_raw)
    if date_raw is not None and date is None:
        notes.add("Date header unparseable")

    walker = _Walker(notes)
    if full:
        try:
            walker.walk(top)
        except Exception as exc:
            notes.add(f"body could not be walked ({type(exc).__name__}); kept as text")
            full = False
    if not full:
        walker.text = _whole_body_as_text(top, raw, notes)
        walker.html = None
        walker.attachments = []

    html = walker.html
    text = walker.text or ""
    if not text or text.isspace():  # `not text.strip()` without copying a big body
        text = _html_to_text(html, notes) if html else ""

    return ParsedMessage(
        message_id=message_id,
        in_reply_to=_message_id_list(_raw_values(top, "in-reply-to"), notes, "in-reply-to"),
        references=_message_id_list(_raw_values(top, "references"), notes, "references"),
        subject=subject,
        from_=from_list[0] if from_list else None,
        reply_to=addresses("reply-to"),
        to=addresses("to"),
        cc=addresses("cc"),
        date=date,
        headers=headers,
        header_order=header_order,
        content_type=_content_type(top),
        text=text,
        html=html,
        attachments=tuple(walker.attachments),
        defects=(),
    )


def _empty(notes: _Notes, text: str = "") -> ParsedMessage:
    return ParsedMessage(
        message_id=None,
        in_reply_to=(),
        references=(),
        subject="",
        from_=None,
        reply_to=(),
        to=(),
        cc=(),
        date=None,
        headers={},
        content_type="text/plain",
        text=text,
        html=None,
        attachments=(),
        defects=notes.result(),
    )


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse and decode one message.  Never raises; see `ParsedMessage.defects`."""
    notes = _Notes()
    try:
        data = bytes(raw)
    except Exception:
        notes.add("input is not bytes")
        return _empty(notes)
    try:
        parsed = _build(data, notes)
    except Exception as exc:
        notes.add(f"message could not be parsed ({type(exc).__name__}); kept as text only")
        try:
            return _empty(notes, _clean_body(_decode_bytes(data, None, None, "message")))
        except Exception:
            return _empty(notes)
    return _with_defects(parsed, notes)


def _with_defects(parsed: ParsedMessage, notes: _Notes) -> ParsedMessage:
    return replace(parsed, defects=notes.result())
