"""What a bounce says: which of our mails failed, for whom, and how (RFC 3464 and others).

Where it sits in the flow: the pipeline's bounce stage (`pipeline/bounces.py`) reads
every automated mail with `read_bounce` before matching it to a ticket; this module
only reads the mail, the pipeline decides whether the mail that bounced was ours.

Two shapes are understood:

- a delivery status notification (RFC 3464: `multipart/report;
  report-type=delivery-status`, as Postfix, Gmail, Exchange/Office 365 and Exim with
  DSN support send it): each recipient block of the `message/delivery-status` part
  gives `Final-Recipient` (or `Original-Recipient`), `Action`, `Status` and
  `Diagnostic-Code`; the original mail's Message-ID comes from the enclosed
  `message/rfc822` or `text/rfc822-headers` part;
- a plain-text bounce (Exim's "Mail delivery failed: returning message to sender",
  qmail's "failure notice", older Gmail and Exchange texts): the original Message-ID
  is the `Message-ID:` header quoted in the text, and the failed addresses are the
  bounce's `X-Failed-Recipients` header (Exim, Gmail), else only those standing where
  these formats put them (alone on a line, or `<address>:` for qmail) in the report
  above the quoted mail. Whether such an address really was a recipient of the
  quoted mail is the pipeline's check, against the outbox.

A recipient counts as a permanent failure when its action is `failed` and its status
is not 4.x.x (a server that gave up after days of temporary errors says nothing
about the address itself); a plain-text bounce is a failure unless it speaks of a
delay or gives a 4.x.x status.

Pure: bytes in, a `Bounce` (or None) out; stdlib `email` only.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

FAILED = "failed"
DELAYED = "delayed"
ACTIONS = (FAILED, DELAYED, "delivered", "relayed", "expanded")  # RFC 3464 2.3.3
MAX_DIAGNOSTIC = 500

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID_LINE = re.compile(r"(?im)^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+@[^<>\s]+>)")
_ADDRESS = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
# A failed address as the plain-text formats print it: alone on its (indented) line,
# perhaps in <>, or qmail's `<address>:` line.
_ALONE = re.compile(rf"^[ \t]*<?({_ADDRESS})>?:?[ \t]*$", re.MULTILINE)
# Where the quoted original starts in a plain-text bounce: nothing below is the report.
_QUOTED_START = re.compile(
    r"(?im)^(?:-+ ?(?:This is a copy of|Below this line is a copy of|Original message)"
    r"|[ \t]*-+[ \t]*Original message[ \t]*-+"
    r"|Received:[ \t]"
    r"|Return-Path:[ \t])"
)
_DELAY_WORDS = re.compile(
    r"(?i)\b(?:delayed|not yet been delivered|will (?:retry|try again|keep trying)"
    r"|temporar(?:y|ily)|still trying)\b"
)


@dataclass(frozen=True)
class Recipient:
    """One recipient a bounce reports on."""

    email: str  # lower-cased
    action: str  # one of ACTIONS
    status: str  # `5.1.1`, or "" when the bounce gives none
    diagnostic: str  # the remote server's answer, as the bounce quotes it

    @property
    def permanent(self) -> bool:
        """A permanent failure: the address does not take our mail."""
        return self.action == FAILED and not self.status.startswith("4")


@dataclass(frozen=True)
class Bounce:
    """A bounce: the Message-IDs of the mail that bounced, and the recipients it names."""

    original_ids: tuple[str, ...]
    recipients: tuple[Recipient, ...]
    standard: bool  # an RFC 3464 report (else read from a plain-text bounce)


def read_bounce(raw: bytes) -> Bounce | None:
    """The bounce `raw` is, or None when it names no original Message-ID (then nothing
    can tie it to mail of ours)."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    report = _delivery_status(msg)
    if report is not None:
        ids = _enclosed_ids(msg) or _quoted_ids(_texts(msg))
        return Bounce(ids, report, True) if ids else None
    text = "\n".join(_texts(msg))
    ids = _enclosed_ids(msg) or _quoted_ids([text])
    if not ids:
        return None
    return Bounce(ids, _plain_recipients(text, _failed_header(msg)), False)


# -- RFC 3464 -----------------------------------------------------------------------------


def _delivery_status(msg: Message) -> tuple[Recipient, ...] | None:
    """The recipients of the first `message/delivery-status` part (None: there is none)."""
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            blocks = [block for block in payload if isinstance(block, Message)]
        else:  # an unparsed payload: read its text as headers
            blocks = _status_blocks(_decoded(part))
        found = [r for block in blocks[1:] if (r := _status_recipient(block)) is not None]
        if not found:  # some servers put everything in one block
            found = [r for block in blocks[:1] if (r := _status_recipient(block)) is not None]
        return tuple(found)
    return None


def _status_blocks(text: str) -> list[Message]:
    parser = HeaderParser(policy=email.policy.compat32)
    chunks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [parser.parsestr(chunk.strip() + "\n") for chunk in chunks if chunk.strip()]


def _status_recipient(block: Message) -> Recipient | None:
    address = _typed_address(block.get("Final-Recipient") or block.get("Original-Recipient"))
    if address is None:
        return None
    action = _one_line(block.get("Action", "")).lower().split(" ")[0]
    match = _STATUS.search(_one_line(block.get("Status", "")))
    status = match.group(0) if match else ""
    if action not in ACTIONS:
        action = DELAYED if status.startswith("4") else FAILED
    diagnostic = _typed_text(block.get("Diagnostic-Code", ""))
    return Recipient(address, action, status, diagnostic[:MAX_DIAGNOSTIC])


def _typed_address(value: object) -> str | None:
    """`rfc822; user@example.com` (RFC 3464 address-type; value) -> the address."""
    if value is None:
        return None
    text = _typed_text(value).strip().strip("<>").strip()
    return text.lower() if re.fullmatch(_ADDRESS, text) else None


def _typed_text(value: object) -> str:
    text = _one_line(value)
    kind, sep, rest = text.partition(";")
    return rest.strip() if sep and re.fullmatch(r"[A-Za-z0-9-]+", kind.strip()) else text


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


# -- the original mail --------------------------------------------------------------------


def _enclosed_ids(msg: Message) -> tuple[str, ...]:
    """Message-IDs of the enclosed original (`message/rfc822`, `text/rfc822-headers`)."""
    ids: list[str] = []
    for part in msg.walk():
        kind = part.get_content_type()
        headers: Message | None = None
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                headers = payload[0]
        elif kind == "text/rfc822-headers":
            headers = HeaderParser(policy=email.policy.compat32).parsestr(_decoded(part))
        if headers is not None:
            ids += re.findall(r"<[^<>\s]+@[^<>\s]+>", _one_line(headers.get("Message-ID", "")))
    return tuple(dict.fromkeys(ids))


def _quoted_ids(texts: list[str]) -> tuple[str, ...]:
    ids = [m for text in texts for m in _MESSAGE_ID_LINE.findall(text)]
    return tuple(dict.fromkeys(ids))


def _texts(msg: Message) -> list[str]:
    """The text parts' decoded text (HTML alternatives left out: the plain part says it)."""
    return [
        _decoded(part)
        for part in msg.walk()
        if part.get_content_type() == "text/plain" and not part.is_multipart()
    ]


def _decoded(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, errors="replace")
    except LookupError:
        text = data.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n")


# -- plain-text bounces -------------------------------------------------------------------


def _failed_header(msg: Message) -> list[str]:
    """The addresses of `X-Failed-Recipients` (Exim, Gmail)."""
    values = ",".join(_one_line(v) for v in msg.get_all("X-Failed-Recipients", []))
    return [a.lower() for a in re.findall(_ADDRESS, values)]


def _plain_recipients(text: str, named: list[str]) -> tuple[Recipient, ...]:
    """The failed addresses of a plain-text bounce: those `named` by a header, else
    those its report part (above the quoted mail) shows where the formats put them."""
    cut = _QUOTED_START.search(text)
    report = text[: cut.start()] if cut else text
    shown: dict[str, int] = {}  # each address where it first stands
    for match in _ALONE.finditer(report):
        shown.setdefault(match.group(1).lower(), match.end())
    found: list[Recipient] = []
    addresses = list(dict.fromkeys(named or shown))
    for address in addresses:
        at = shown.get(address)
        detail = "" if at is None else _detail_after(report, at)
        # A report about one address may give its status further down (Gmail's).
        status_match = _STATUS.search(detail if len(addresses) > 1 else f"{detail}\n{report}")
        status = status_match.group(0) if status_match else ""
        delayed = status.startswith("4") or (not status and _DELAY_WORDS.search(report))
        action = DELAYED if delayed else FAILED
        found.append(Recipient(address, action, status, detail[:MAX_DIAGNOSTIC]))
    return tuple(found)


def _detail_after(report: str, at: int) -> str:
    """The explanation printed under a failed address: the lines up to the next blank line
    or address line."""
    lines: list[str] = []
    for line in report[at:].lstrip("\r\n").splitlines():
        if not line.strip() or _ALONE.fullmatch(line):
            if lines:
                break
            continue
        lines.append(line.strip())
    return " ".join(lines)
