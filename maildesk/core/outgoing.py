"""One outgoing mail as bytes: addresses, threading headers, loop markers, text + HTML.

Where it sits in the flow: `outbound.compose` decides who gets what and renders
the templates; `build_mail` turns that into the RFC 5322 bytes stored in the
outbox row (so a retry sends exactly the same mail, Message-ID included).

Every mail gets `From` and `Reply-To` the desk address, the ticket tag in the
subject, `In-Reply-To`/`References` so mail clients thread it with what came
before, and `X-Loop` naming the desk (design invariant 3). Automatic mail also
carries `Auto-Submitted` (RFC 3834) and `X-Auto-Response-Suppress: All`, so
well-behaved autoresponders do not answer it. A CR or LF in any address or
header value is refused with `HeaderInjection`, never sent.

Pure: values in, bytes out (stdlib `email` only).
"""

from __future__ import annotations

import datetime as dt
import email.charset
import email.encoders
import email.policy
import email.utils
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart

from maildesk.core.addresses import is_bare_address
from maildesk.core.message import Address

# At most this many ids in References: the first (thread root) and the latest ones,
# as RFC 5322 3.6.4 suggests when the chain grows long.
MAX_REFERENCES = 12
AUTO_SUBMITTED = ("auto-replied", "auto-generated")
_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
MAX_LINE = 900  # longer lines, or any non-ASCII text: quoted-printable
# No folding by the generator: addresses and References are folded here, long or
# non-ASCII values become encoded words (`_encoded`); the generator's own folding
# runs `email.header` over every header and was most of the cost.
_POLICY = email.policy.compat32.clone(linesep="\r\n", max_line_length=0)
MAX_HEADER_CHARS = 900  # longer ASCII values are folded as encoded words
_UTF8_QP = email.charset.Charset("utf-8")
_UTF8_QP.body_encoding = email.charset.QP


class Unsendable(ValueError):
    """The mail cannot be built as asked (the reason says why); nothing is sent."""


class HeaderInjection(Unsendable):
    """A header value or address would break out of its header: the mail is not built."""


@dataclass(frozen=True)
class Part:
    """An attachment to send along."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass(frozen=True)
class Outgoing:
    from_: Address
    to: tuple[Address, ...]
    subject: str
    message_id: str
    date: dt.datetime
    text: str
    html: str
    reply_to: Address | None = None
    cc: tuple[Address, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_submitted: str | None = None  # auto-replied | auto-generated | None (a person wrote it)
    loop: str = ""  # X-Loop value: the desk's address
    extra_headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Part, ...] = ()


def tagged_subject(subject: str, label: str, reply: bool = False) -> str:
    """`Re: [SUP-00042] subject`: the tag once, and `Re:` for replies."""
    text = " ".join(subject.split())
    tag = f"[{label}]"
    if tag.lower() not in text.lower():
        text = f"{tag} {text}".rstrip()
    if reply and not re.match(r"(?i)re\s*:", text):
        text = f"Re: {text}"
    return text


def thread_headers(chain: Sequence[str]) -> tuple[str | None, tuple[str, ...]]:
    """In-Reply-To (the latest id) and References (root + latest) for a mail that
    follows `chain`, the thread's Message-IDs oldest first."""
    ids = [mid for mid in dict.fromkeys(chain) if _MESSAGE_ID.fullmatch(mid)]
    if not ids:
        return None, ()
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids[-1], tuple(ids)


def check_headers(mail: Outgoing) -> None:
    """Raise Unsendable (HeaderInjection for line breaks) if the headers cannot be sent:
    the same checks `build_mail` makes, without building or encoding anything."""
    _headers(mail, encode=False)


def build_mail(mail: Outgoing) -> bytes:
    """The mail as bytes with CRLF line ends; raises Unsendable (HeaderInjection on CR/LF
    in headers).

    Built with the `compat32` classes and our own header encoding: the header
    objects of `email.policy.default` cost several milliseconds per mail."""
    headers = _headers(mail)
    text = _text(mail.text)
    body = MIMEMultipart("alternative", boundary=_boundary(text, mail.html))
    body.attach(_text_part(text, "plain"))
    body.attach(_text_part(mail.html, "html"))
    msg: Message = body
    if mail.attachments:
        msg = MIMEMultipart("mixed", boundary=_boundary(text, mail.html))
        msg.attach(body)
        for part in mail.attachments:
            msg.attach(_attachment(part))
    content_type = msg["Content-Type"]
    for leaf in msg.walk():  # MIME-Version once, on top; Content-Type below the addresses
        del leaf["MIME-Version"]
    del msg["Content-Type"]
    for name, value in headers:
        msg[name] = value
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = content_type
    return msg.as_bytes(policy=_POLICY)


def _headers(mail: Outgoing, encode: bool = True) -> list[tuple[str, str]]:
    """The header fields, checked and (`encode`) encoded, in the order they are
    written."""
    encoded = _encoded if encode else _as_is
    if mail.auto_submitted is not None and mail.auto_submitted not in AUTO_SUBMITTED:
        raise ValueError(f"Auto-Submitted must be one of {AUTO_SUBMITTED}")
    if not mail.to and not mail.cc:
        raise ValueError("a mail needs at least one recipient")
    fields = [
        ("From", _address(mail.from_, "From")),
        ("To", _addresses(mail.to, "To") if mail.to else "undisclosed-recipients:;"),
    ]
    if mail.cc:
        fields.append(("Cc", _addresses(mail.cc, "Cc")))
    if mail.reply_to is not None:
        fields.append(("Reply-To", _address(mail.reply_to, "Reply-To")))
    fields += [
        ("Subject", encoded(_value(mail.subject, "Subject"), "Subject")),
        ("Date", email.utils.format_datetime(mail.date.astimezone(dt.UTC))),
        ("Message-ID", _message_id(mail.message_id, "Message-ID")),
    ]
    if mail.in_reply_to:
        fields.append(("In-Reply-To", _message_id(mail.in_reply_to, "In-Reply-To")))
    if mail.references:
        ids = "\r\n ".join(_message_id(m, "References") for m in mail.references)
        fields.append(("References", ids))
    if mail.auto_submitted is not None:
        fields += [
            ("Auto-Submitted", mail.auto_submitted),
            ("X-Auto-Response-Suppress", "All"),
            ("Precedence", "bulk"),
        ]
    if mail.loop:
        fields.append(("X-Loop", _value(mail.loop, "X-Loop")))
    for name, value in mail.extra_headers:
        fields.append((_value(name, "header name"), encoded(_value(value, name), name)))
    return fields


def _boundary(*texts: str) -> str:
    """A boundary found in none of the texts (the attachments are base64, which has no
    `=_`); the generator would otherwise compile a regular expression to check it."""
    while True:
        boundary = f"=_{secrets.token_hex(16)}"
        if not any(boundary in text for text in texts):
            return boundary


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    leaf = MIMENonMultipart("text", subtype)
    if text.isascii() and all(len(line) < MAX_LINE for line in text.split("\n")):
        leaf.set_payload(text, "us-ascii")
    else:
        leaf.set_payload(text, _UTF8_QP)
    return leaf


def _attachment(part: Part) -> MIMEBase:
    maintype, _, subtype = part.content_type.lower().partition("/")
    if not _TOKEN.fullmatch(maintype) or not _TOKEN.fullmatch(subtype):
        maintype, subtype = "application", "octet-stream"
    if maintype in ("text", "message", "multipart"):  # sent as bytes, untouched
        maintype, subtype = "application", "octet-stream"
    filename = _value(part.filename, "attachment file name") or "attachment"
    leaf = MIMEBase(maintype, subtype)
    leaf.set_payload(part.data)
    email.encoders.encode_base64(leaf)
    shown: str | tuple[str, str, str] = filename if filename.isascii() else ("utf-8", "", filename)
    leaf.add_header(
        "Content-Disposition", "inline" if part.inline else "attachment", filename=shown
    )
    if part.content_id:
        leaf["Content-ID"] = _message_id(f"<{part.content_id.strip('<>')}>", "Content-ID")
    return leaf


def _text(text: str) -> str:
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    return text.rstrip("\n") + "\n"


def _encoded(value: str, name: str) -> str:
    """The value of header `name`: as it is when short ASCII, else folded RFC 2047
    encoded words."""
    if value.isascii() and len(value) < MAX_HEADER_CHARS:
        return value
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def _as_is(value: str, name: str) -> str:
    return value


def _value(value: str, field: str) -> str:
    if "\r" in value or "\n" in value or "\0" in value:
        raise HeaderInjection(f"{field} contains a line break: {value[:80]!r}")
    return value


def _message_id(value: str, field: str) -> str:
    value = _value(value, field).strip()
    if not _MESSAGE_ID.fullmatch(value):
        raise HeaderInjection(f"{field} is not a Message-ID: {value[:80]!r}")
    return value


def _address(address: Address, field: str) -> str:
    email_ = _value(address.email, field).strip()
    name = " ".join(_value(address.name, field).split())
    if not is_bare_address(email_):
        raise HeaderInjection(f"{field} is not an address: {email_[:80]!r}")
    local, _, domain = email_.rpartition("@")
    if not local.isascii():
        raise Unsendable(f"{field}: {email_[:80]!r} needs SMTPUTF8, which maildesk does not send")
    try:
        domain = domain.encode("idna").decode("ascii")  # bücher.example -> xn--bcher-kva.example
    except UnicodeError as exc:
        raise Unsendable(f"{field}: bad domain in {email_[:80]!r}: {exc}") from exc
    return email.utils.formataddr((name, f"{local}@{domain}"), charset="utf-8")


def _addresses(addresses: Sequence[Address], field: str) -> str:
    return ",\r\n ".join(_address(a, field) for a in addresses)
