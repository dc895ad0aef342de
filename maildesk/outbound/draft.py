"""A queued mail before its first attempt: headers fixed, body described, bytes made later.

Where it sits in the flow: `outbound.compose` decides everything about a mail
inside the ticket's transaction (recipients, subject, signed Message-ID,
threading headers, which template with which values) and stores it as a
`Draft` in the outbox row. The outbox worker turns the draft into bytes once,
just before the first attempt (`compose`: render the templates, build the
MIME), stores the bytes in the row, and every later attempt sends exactly
those bytes. Rendering and MIME building cost about a millisecond per mail;
done here they stay out of the path that takes mail in.

A draft is plain JSON: datetimes in the template values are kept as
`{"$datetime": ISO}` and come back as aware datetimes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from maildesk.core.message import Address
from maildesk.core.outgoing import Outgoing, Part, build_mail
from maildesk.outbound.render import Renderer

_DATETIME = "$datetime"


@dataclass(frozen=True)
class Draft:
    template: str  # mail/<template>.txt and .html
    context: dict[str, Any]  # the template's values
    headers: Outgoing  # everything but the parts (text, html and attachments empty)
    attachments: tuple[int, ...] = ()  # Attachment row ids sent along


def to_json(draft: Draft) -> dict[str, Any]:
    h = draft.headers
    return {
        "template": draft.template,
        "context": _plain(draft.context),
        "from": _address(h.from_),
        "to": [_address(a) for a in h.to],
        "cc": [_address(a) for a in h.cc],
        "reply_to": None if h.reply_to is None else _address(h.reply_to),
        "subject": h.subject,
        "message_id": h.message_id,
        "date": h.date.isoformat(),
        "in_reply_to": h.in_reply_to,
        "references": list(h.references),
        "auto_submitted": h.auto_submitted,
        "loop": h.loop,
        "extra_headers": [list(pair) for pair in h.extra_headers],
        "attachments": list(draft.attachments),
    }


def from_json(data: dict[str, Any]) -> Draft:
    headers = Outgoing(
        from_=Address(*data["from"]),
        to=tuple(Address(*a) for a in data["to"]),
        cc=tuple(Address(*a) for a in data["cc"]),
        reply_to=None if data["reply_to"] is None else Address(*data["reply_to"]),
        subject=data["subject"],
        message_id=data["message_id"],
        date=dt.datetime.fromisoformat(data["date"]),
        text="",
        html="",
        in_reply_to=data["in_reply_to"],
        references=tuple(data["references"]),
        auto_submitted=data["auto_submitted"],
        loop=data["loop"],
        extra_headers=tuple((name, value) for name, value in data["extra_headers"]),
    )
    return Draft(data["template"], _rich(data["context"]), headers, tuple(data["attachments"]))


def compose(
    draft: Draft, renderer: Renderer, attachments: Callable[[Sequence[int]], list[Part]]
) -> bytes:
    """The mail's bytes. Raises TemplateError or Unsendable (the mail cannot be sent)."""
    rendered = renderer.render(draft.template, draft.context)
    mail = dataclasses.replace(
        draft.headers,
        text=rendered.text,
        html=rendered.html,
        attachments=tuple(attachments(draft.attachments)) if draft.attachments else (),
    )
    return build_mail(mail)


def _address(address: Address) -> list[str]:
    return [address.name, address.email]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _rich(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_DATETIME}:
            return dt.datetime.fromisoformat(value[_DATETIME])
        return {k: _rich(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rich(v) for v in value]
    return value
