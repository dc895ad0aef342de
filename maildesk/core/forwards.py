"""Forwarded mail: which customer's message an agent forwarded to the desk.

Where it sits in the flow: for a new ticket opened by a verified agent (design
invariant 5), the pipeline calls `find_forward` on the mail's text (its #command
block already removed) and attachments. A forward opens the ticket for the
original sender, with the original date, text and attachments; the agent's own
text above it becomes an internal note. Unverified mail never gets here, so a
forged "forward" cannot make someone else the requester.

Two shapes are recognised:

* an enclosed message (`message/rfc822`, "forward as attachment" in Outlook,
  Apple Mail and Thunderbird): read with the same parser as any mail;
* an inline forward: a separator line, then a block of header lines, then the
  original text. Gmail `---------- Forwarded message ---------` (From, Date,
  Subject, To); Outlook an underscore line or `-----Original Message-----` (From,
  Sent, To, Subject; in German Von, Gesendet, An, Betreff); Apple Mail `Begin
  forwarded message:` / `Anfang der weitergeleiteten Nachricht:`; Thunderbird
  `-------- Forwarded Message --------` / `-------- Weitergeleitete Nachricht
  --------` (Subject, Date, From, To). A block without a From address is no forward.

Pure: text and attachments in, a `Forward` out.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Sequence
from dataclasses import dataclass

from maildesk.core.message import Address, Attachment, parse_address, parse_message

__all__ = ["Forward", "find_forward", "forwarded_date", "strip_forward_prefix"]


@dataclass(frozen=True)
class Forward:
    """The original message inside an agent's forward."""

    style: str  # attached | inline
    sender: Address
    date: dt.datetime | None  # None: the forward did not say (or not readably)
    subject: str  # the original subject ("" when the forward did not give one)
    text: str  # the original text, without the forward's header block
    note: str  # what the agent wrote above the forward ("" if nothing)
    attachments: tuple[Attachment, ...]  # the original message's
    others: tuple[Attachment, ...]  # the forwarding mail's own, besides the original
    message_id: str | None  # the original Message-ID, when enclosed whole


_PREFIX = re.compile(r"^\s*(?:fwd?|fw|wg|tr|rv|weitergeleitet)\s*:\s*", re.I)


def strip_forward_prefix(subject: str) -> str:
    """`Fwd: FW: WG: Printer` -> `Printer` (also `Fw:`, `TR:`)."""
    while True:
        stripped = _PREFIX.sub("", subject, count=1)
        if stripped == subject:
            return subject.strip()
        subject = stripped


def find_forward(
    text: str, attachments: Sequence[Attachment], tz: dt.tzinfo | None = None
) -> Forward | None:
    """The forwarded message in a mail's `text` and `attachments`, or None. `tz`: the
    zone of a forwarded date that names none (the forwarding mail's own)."""
    return _attached(text, attachments) or _inline(text, attachments, tz or dt.UTC)


# -- forwarded as an attachment ---------------------------------------------------------

_ENCLOSED = frozenset({"message/rfc822", "message/global"})


def _attached(text: str, attachments: Sequence[Attachment]) -> Forward | None:
    for index, part in enumerate(attachments):
        if part.content_type not in _ENCLOSED or not part.data:
            continue
        inner = parse_message(part.data)
        if inner.from_ is None or "@" not in inner.from_.email:
            continue
        return Forward(
            style="attached",
            sender=inner.from_,
            date=inner.date,
            subject=inner.subject,
            text=inner.text.strip(),
            note=text.strip(),
            attachments=inner.attachments,
            others=tuple(a for i, a in enumerate(attachments) if i != index),
            message_id=inner.message_id,
        )
    return None


# -- forwarded inline -------------------------------------------------------------------

_SEPARATORS = re.compile(
    r"""
    -{2,}\s*(?:forwarded\ message|weitergeleitete\ nachricht|original\ message
             |ursprüngliche\ nachricht|message\ transféré|mensaje\ reenviado)\s*-{2,}
    | (?:begin\ forwarded\ message|anfang\ der\ weitergeleiteten\ nachricht)\s*:
    | _{8,}
    """,
    re.I | re.X,
)
_FIELD_NAMES = {
    "from": "from",
    "von": "from",
    "de": "from",
    "date": "date",
    "sent": "date",
    "datum": "date",
    "gesendet": "date",
    "envoyé": "date",
    "subject": "subject",
    "betreff": "subject",
    "objet": "subject",
    "to": "to",
    "an": "to",
    "à": "to",
    "cc": "cc",
    "kopie": "cc",
}
_FIELD = re.compile(r"(?P<name>[^\W\d_]{1,12})\s*:\s*(?P<value>.*)")
_MAILTO = re.compile(r"\s*[<\[]mailto:(?P<target>[^>\]]*)[>\]]", re.I)
_QUOTE = re.compile(r"^> ?")


def _inline(text: str, attachments: Sequence[Attachment], tz: dt.tzinfo) -> Forward | None:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        marker = line.strip()
        quoted = marker.startswith(">")
        if quoted:
            marker = _QUOTE.sub("", marker).strip()
        if not _SEPARATORS.fullmatch(marker):
            continue
        rest = [_QUOTE.sub("", item) if quoted else item for item in lines[index + 1 :]]
        found = _header_block(rest)
        if found is None:
            continue
        fields, body_start = found
        sender = _sender(fields.get("from", ""))
        if sender is None or "@" not in sender.email:
            continue
        return Forward(
            style="inline",
            sender=sender,
            date=forwarded_date(fields.get("date", ""), tz),
            subject=fields.get("subject", "").strip(),
            text="\n".join(rest[body_start:]).strip(),
            note="\n".join(lines[:index]).strip(),
            attachments=tuple(attachments),
            others=(),
            message_id=None,
        )
    return None


def _sender(value: str) -> Address | None:
    """`Carl <carl@x>`; Outlook's `Carl <carl@x<mailto:carl@x>>` and `Carl [mailto:carl@x]`."""
    linked = _MAILTO.search(value)
    plain = _MAILTO.sub("", value)
    if linked is not None and "@" not in plain:
        plain = f"{plain.strip()} <{linked['target'].strip()}>"
    return parse_address(plain)


def _header_block(lines: Sequence[str]) -> tuple[dict[str, str], int] | None:
    """The header lines after a separator (blank lines before them skipped; a line
    starting with white space continues the field above), and where the text starts."""
    fields: dict[str, str] = {}
    last = ""
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            break
        match = _FIELD.fullmatch(line.strip())
        name = _FIELD_NAMES.get(match["name"].lower()) if match else None
        if match is not None and name is not None:
            fields.setdefault(name, match["value"].strip())
            last = name
        elif last and line[:1].isspace():
            fields[last] += " " + line.strip()
        else:
            break
        index += 1
    return (fields, index) if "from" in fields else None


# -- the dates mail clients write in a forward ------------------------------------------

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "mär": 3,
    "mrz": 3,
    "apr": 4,
    "may": 5,
    "mai": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "okt": 10,
    "nov": 11,
    "dec": 12,
    "dez": 12,
}
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]\.?m\.?)?", re.I)
_OFFSET = re.compile(r"(?:GMT|UTC)?\s*([+-])(\d{1,2}):?(\d{2})?\b|\b(?:GMT|UTC|Z)\b")
_YEAR = re.compile(r"\b(\d{4})\b")
_DAY = re.compile(r"\b(\d{1,2})\b")


def forwarded_date(value: str, tz: dt.tzinfo = dt.UTC) -> dt.datetime | None:
    """A date as a forward's header block gives it: RFC 5322 (Thunderbird), or as Gmail
    (`Mon, Dec 7, 2026 at 9:15 AM`), Outlook (`Monday, December 7, 2026 9:15 AM`,
    `Montag, 7. Dezember 2026 09:15`) or Apple Mail (`7 December 2026 at 09:15:00 CET`)
    write it. Without a numeric offset or GMT/UTC the time is taken in `tz`."""
    value = value.strip()
    if not value:
        return None
    with_zone = re.search(r"[+-]\d{4}\b|\bGMT\b|\bUTC\b", value) and not re.search(
        r"\b(at|um)\b", value
    )
    if with_zone:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return _written_date(value, tz)


def _written_date(value: str, tz: dt.tzinfo) -> dt.datetime | None:
    month = next(
        (
            _MONTHS[word[:3].lower()]
            for word in re.findall(r"[^\W\d_]{3,}", value)
            if word[:3].lower() in _MONTHS
        ),
        None,
    )
    time = _TIME.search(value)
    if month is None or time is None:
        return None
    rest = value[: time.start()] + " " + value[time.end() :]
    year = _YEAR.search(rest)
    if year is None:
        return None
    day = _DAY.search(rest[: year.start()] + " " + rest[year.end() :])
    if day is None:
        return None
    hour, minute, second = int(time[1]), int(time[2]), int(time[3] or 0)
    meridiem = (time[4] or "").replace(".", "").lower()
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    zone = _zone(value[time.end() :], tz)
    try:
        return dt.datetime(int(year[1]), month, int(day[1]), hour, minute, second, tzinfo=zone)
    except ValueError:
        return None


def _zone(after_time: str, default: dt.tzinfo) -> dt.tzinfo:
    match = _OFFSET.search(after_time)
    if match is None:
        return default
    if match[1] is None:
        return dt.UTC
    minutes = int(match[2]) * 60 + int(match[3] or 0)
    return dt.timezone(dt.timedelta(minutes=-minutes if match[1] == "-" else minutes))
