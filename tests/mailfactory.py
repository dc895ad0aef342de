"""Builders of .eml bytes for tests: one function per kind of message.

Where it sits in the flow: test-only.  Tests of intake, parsing
(`maildesk.core.message`), classification (`maildesk.core.autoreply`) and the
pipeline build their input here instead of keeping .eml fixtures.  Messages
that `email.message.EmailMessage` can express are built with it; broken or
exotic ones (raw 8-bit headers, foreign charsets, bad boundaries) as raw bytes.

Every builder takes the same keyword arguments where they make sense:
`from_`, `to`, `subject`, `message_id` (None: no Message-ID header),
`in_reply_to`, `references`, `date` (None: no Date header) and `headers`
(extra headers, a mapping or a sequence of (name, value) pairs).

`CASES` lists (name, builder) pairs for parametrised tests; the module-level
constants hold the exact Unicode text the encoded cases must decode to.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from urllib.parse import quote

HeaderValue = str | bytes
ExtraHeaders = Mapping[str, HeaderValue] | Sequence[tuple[str, HeaderValue]] | None

DEFAULT_FROM = "Alice Example <alice@example.com>"
DEFAULT_TO = "Support <support@example.net>"
DEFAULT_DATE = "Mon, 06 Jan 2025 10:00:00 +0000"

# Exact texts the charset cases must decode to.
LATIN1_SUBJECT = "Grüße aus Köln"
LATIN1_NAME = "Jürgen Müßig"
CP1252_SUBJECT = "“Smart” quotes cost 5 € – really"
CP1252_NAME = "Zoë “Zed” O’Neill"
CP1252_BODY = "Prices: 10 € … “fair” — isn’t it?\n"
SHIFT_JIS_SUBJECT = "日本語のテスト"
SHIFT_JIS_NAME = "山田太郎"
SHIFT_JIS_BODY = "こんにちは、世界。\n"
KOI8_R_SUBJECT = "Привет, мир"
KOI8_R_NAME = "Иван Петров"
KOI8_R_BODY = "Добрый день!\n"
ISO_2022_JP_SUBJECT = "会議の件"
GB2312_SUBJECT = "你好世界"
UTF8_SUBJECT = "Ünïcödé ☃ naïve café"
UTF8_NAME = "Zoë Ærøskøbing"
UTF8_BODY = "Grüße, ☃ and 日本\n"
RFC2231_FILENAME = "Übersicht der Preise für 2025 – final version.pdf"
LONG_SUBJECT = ("0123456789" * 1000)[:10_000]

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _as_bytes(value: HeaderValue) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def _extra(headers: ExtraHeaders) -> list[tuple[str, HeaderValue]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


def _refs(value: str | Sequence[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return " ".join(value)


def _common(
    from_: HeaderValue | None,
    to: HeaderValue | None,
    subject: HeaderValue | None,
    message_id: str | None,
    in_reply_to: str | None,
    references: str | Sequence[str] | None,
    date: str | None,
    headers: ExtraHeaders,
) -> list[tuple[str, HeaderValue]]:
    fields: list[tuple[str, HeaderValue | None]] = [
        ("From", from_),
        ("To", to),
        ("Subject", subject),
        ("Date", date),
        ("Message-ID", message_id),
        ("In-Reply-To", in_reply_to),
        ("References", _refs(references)),
    ]
    result = [(name, value) for name, value in fields if value is not None]
    return result + _extra(headers)


def raw_message(
    headers: Iterable[tuple[str, HeaderValue]], body: bytes, *, crlf: bool = False
) -> bytes:
    """Assemble headers and body byte-for-byte (no encoding, no validation)."""
    lines = [_as_bytes(name) + b": " + _as_bytes(value) for name, value in headers]
    data = b"\n".join(lines) + b"\n\n" + body
    return data.replace(b"\n", b"\r\n") if crlf else data


def _email(
    from_: str | None,
    to: str | None,
    subject: str | None,
    message_id: str | None,
    in_reply_to: str | None,
    references: str | Sequence[str] | None,
    date: str | None,
    headers: ExtraHeaders,
) -> EmailMessage:
    msg = EmailMessage(policy=default_policy)
    for name, value in _common(
        from_, to, subject, message_id, in_reply_to, references, date, headers
    ):
        msg[name] = value.decode("utf-8") if isinstance(value, bytes) else value
    return msg


# --------------------------------------------------------------------------
# well-formed messages (EmailMessage)
# --------------------------------------------------------------------------


_PLAIN_BODY = "Hello,\n\nmy printer is on fire.\n\nAlice\n"


def _plain(
    body: str,
    from_: str | None,
    to: str | None,
    subject: str | None,
    message_id: str | None,
    in_reply_to: str | None,
    references: str | Sequence[str] | None,
    date: str | None,
    headers: ExtraHeaders,
) -> bytes:
    msg = _email(from_, to, subject, message_id, in_reply_to, references, date, headers)
    msg.set_content(body)
    return msg.as_bytes()


def plain(
    *,
    body: str = _PLAIN_BODY,
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "Printer on fire",
    message_id: str | None = "<plain@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """A single text/plain UTF-8 message."""
    return _plain(body, from_, to, subject, message_id, in_reply_to, references, date, headers)


def reply(
    *,
    body: str = "Thanks, that fixed it.\n",
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "Re: Printer on fire",
    message_id: str | None = "<reply@mailfactory.test>",
    in_reply_to: str | None = "<plain@mailfactory.test>",
    references: str | Sequence[str] | None = (
        "<root@mailfactory.test>",
        "<plain@mailfactory.test>",
    ),
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """A reply carrying In-Reply-To and References."""
    return _plain(body, from_, to, subject, message_id, in_reply_to, references, date, headers)


def alternative(
    *,
    text: str = "Plain version of the body.\n",
    html: str = "<html><body><p>HTML <b>version</b> of the body.</p></body></html>\n",
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "Alternative body",
    message_id: str | None = "<alternative@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """multipart/alternative with text/plain first and text/html second."""
    msg = _email(from_, to, subject, message_id, in_reply_to, references, date, headers)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def html_only(
    *,
    html: str = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<h1>Order&nbsp;#42</h1><p>Your order has <b>shipped</b>.</p>"
        "<ul><li>one</li><li>two</li></ul></body></html>\n"
    ),
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "HTML only",
    message_id: str | None = "<html-only@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """A single text/html part and nothing else."""
    msg = _email(from_, to, subject, message_id, in_reply_to, references, date, headers)
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


def with_attachments(
    *,
    body: str = "Please find the files attached.\n",
    attachments: Sequence[tuple[str, str, bytes]] = (
        ("report.pdf", "application/pdf", PDF_BYTES),
        ("notes.txt", "text/plain", b"line one\nline two\n"),
    ),
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "Files attached",
    message_id: str | None = "<attachments@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """multipart/mixed: a text body plus (filename, content_type, data) attachments."""
    msg = _email(from_, to, subject, message_id, in_reply_to, references, date, headers)
    msg.set_content(body)
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def inline_image(
    *,
    cid: str = "logo.123@mailfactory.test",
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "Inline image",
    message_id: str | None = "<inline-image@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """alternative(text/plain, related(text/html, image/png with Content-ID))."""
    msg = _email(from_, to, subject, message_id, in_reply_to, references, date, headers)
    msg.set_content("See our logo.\n")
    msg.add_alternative(
        f'<html><body><p>See our logo:</p><img src="cid:{cid}"></body></html>\n', subtype="html"
    )
    for part in msg.iter_parts():
        if part.get_content_type() == "text/html":
            part.add_related(PNG_BYTES, maintype="image", subtype="png", cid=f"<{cid}>")
    return msg.as_bytes()


def forwarded(
    *,
    inner_subject: str | None = "Original question",
    inner: bytes | None = None,
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "Fwd: Original question",
    message_id: str | None = "<forwarded@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """A text body plus a forwarded message as a message/rfc822 attachment."""
    inner_bytes = inner or plain(
        subject=inner_subject,
        from_="Bob Customer <bob@customer.example>",
        message_id="<inner@customer.example>",
        body="What are your opening hours?\n",
    )
    msg = _email(from_, to, subject, message_id, in_reply_to, references, date, headers)
    msg.set_content("Forwarding this, see attached.\n")
    msg.add_attachment(message_from_bytes(inner_bytes, policy=default_policy))
    return msg.as_bytes()


def list_mail(
    *,
    from_: str | None = "Newsletter <news@lists.example.org>",
    to: str | None = DEFAULT_TO,
    subject: str | None = "[announce] Release 2.0",
    message_id: str | None = "<list@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
    precedence: str | None = "list",
) -> bytes:
    """Mailing-list mail: List-Id, List-Unsubscribe, List-Post (and Precedence)."""
    extra: list[tuple[str, HeaderValue]] = [
        ("List-Id", "Announcements <announce.lists.example.org>"),
        ("List-Unsubscribe", "<mailto:announce-leave@lists.example.org>"),
        ("List-Post", "<mailto:announce@lists.example.org>"),
    ]
    if precedence is not None:
        extra.append(("Precedence", precedence))
    return _plain(
        "Version 2.0 is out.\n",
        from_,
        to,
        subject,
        message_id,
        in_reply_to,
        references,
        date,
        extra + _extra(headers),
    )


AUTO_REPLY_STYLES = (
    "auto-submitted",
    "x-autoreply",
    "x-autorespond",
    "exchange",
    "x-autogenerated",
    "precedence",
    "subject-only",
)


def auto_reply(
    *,
    style: str = "auto-submitted",
    from_: str | None = "Carol Away <carol@customer.example>",
    to: str | None = DEFAULT_TO,
    subject: str | None = None,
    message_id: str | None = "<auto-reply@mailfactory.test>",
    in_reply_to: str | None = "<ack@maildesk.test>",
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """An out-of-office answer in one of `AUTO_REPLY_STYLES`."""
    style_headers: dict[str, list[tuple[str, HeaderValue]]] = {
        "auto-submitted": [("Auto-Submitted", "auto-replied")],
        "x-autoreply": [("X-Autoreply", "yes")],
        "x-autorespond": [("X-Autorespond", "Out of office")],
        "exchange": [
            ("X-MS-Exchange-Generated-Message-Source", "Mailbox Rules Agent"),
            ("X-Auto-Response-Suppress", "All"),
        ],
        "x-autogenerated": [("X-Autogenerated", "Reply")],
        "precedence": [("Precedence", "auto_reply")],
        "subject-only": [],
    }
    if style not in style_headers:
        raise ValueError(f"unknown auto-reply style {style!r}")
    default_subjects = {"exchange": "Automatic reply: Your ticket", "subject-only": "Out of Office"}
    return _plain(
        "I am out of the office until Monday.\n",
        from_,
        to,
        subject if subject is not None else default_subjects.get(style, "Away"),
        message_id,
        in_reply_to,
        references,
        date,
        style_headers[style] + _extra(headers),
    )


def empty_body(
    *,
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "Nothing inside",
    message_id: str | None = "<empty-body@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """Headers, the blank line, and no body at all."""
    common = _common(from_, to, subject, message_id, in_reply_to, references, date, headers)
    return raw_message(common + [("MIME-Version", "1.0")], b"")


def no_subject(
    *,
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    message_id: str | None = "<no-subject@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """A plain message without a Subject header."""
    return _plain(_PLAIN_BODY, from_, to, None, message_id, in_reply_to, references, date, headers)


def no_message_id(
    *,
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "No Message-ID here",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """A plain message without a Message-ID header."""
    return _plain(_PLAIN_BODY, from_, to, subject, None, in_reply_to, references, date, headers)


# --------------------------------------------------------------------------
# raw builders: charsets and 8-bit data
# --------------------------------------------------------------------------


def _q(text: str, charset: str) -> str:
    """One RFC 2047 Q encoded word."""
    out = []
    for byte in text.encode(charset):
        char = chr(byte)
        if char.isalnum() and byte < 128:
            out.append(char)
        elif char == " ":
            out.append("_")
        else:
            out.append(f"={byte:02X}")
    return f"=?{charset}?Q?{''.join(out)}?="


def _b(text: str, charset: str) -> str:
    """One RFC 2047 B encoded word."""
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode('ascii')}?="


@dataclass(frozen=True)
class _CharsetSpec:
    """The fixed parts of a single-part message in some charset, built raw."""

    subject: HeaderValue
    from_: HeaderValue
    body: bytes
    content_type: str
    cte: str | None = "8bit"

    def build(
        self,
        to: str | None,
        message_id: str | None,
        in_reply_to: str | None,
        references: str | Sequence[str] | None,
        date: str | None,
        headers: ExtraHeaders,
    ) -> bytes:
        common = _common(
            self.from_, to, self.subject, message_id, in_reply_to, references, date, headers
        )
        common += [("MIME-Version", "1.0"), ("Content-Type", self.content_type)]
        if self.cte is not None:
            common.append(("Content-Transfer-Encoding", self.cte))
        return raw_message(common, self.body)


def _mislabelled(text: str) -> str:
    """A Q encoded word of windows-1252 bytes that claims to be iso-8859-1."""
    return _q(text, "cp1252").replace("=?cp1252?", "=?iso-8859-1?")


_LATIN1 = _CharsetSpec(
    subject=_q(LATIN1_SUBJECT, "iso-8859-1"),
    from_=f"{_q(LATIN1_NAME, 'iso-8859-1')} <juergen@example.de>",
    body="Grüße\n".encode("latin-1"),
    content_type='text/plain; charset="iso-8859-1"',
)
_CP1252 = _CharsetSpec(
    subject=_mislabelled(CP1252_SUBJECT),
    from_=f"{_mislabelled(CP1252_NAME)} <zoe@example.ie>",
    body=CP1252_BODY.encode("cp1252"),
    content_type="text/plain; charset=iso-8859-1",
)
_SHIFT_JIS = _CharsetSpec(
    subject=_b(SHIFT_JIS_SUBJECT, "shift_jis"),
    from_=f"{_b(SHIFT_JIS_NAME, 'shift_jis')} <yamada@example.jp>",
    body=SHIFT_JIS_BODY.encode("shift_jis"),
    content_type="text/plain; charset=Shift_JIS",
)
_ISO_2022_JP = _CharsetSpec(
    subject=_b(ISO_2022_JP_SUBJECT, "iso-2022-jp"),
    from_="tanaka@example.jp",
    body=(ISO_2022_JP_SUBJECT + "\n").encode("iso-2022-jp"),
    content_type="text/plain; charset=ISO-2022-JP",
    cte="7bit",
)
_GB2312 = _CharsetSpec(
    subject=_b(GB2312_SUBJECT, "gb2312"),
    from_="wang@example.cn",
    body=(GB2312_SUBJECT + "\n").encode("gb2312"),
    content_type="text/plain; charset=gb2312",
)
_KOI8_R = _CharsetSpec(
    subject=_b(KOI8_R_SUBJECT, "koi8-r"),
    from_=f"{_q(KOI8_R_NAME, 'koi8-r')} <ivan@example.ru>",
    body=KOI8_R_BODY.encode("koi8-r"),
    content_type="text/plain; charset=koi8-r",
)
_UTF8_8BIT = _CharsetSpec(
    subject=UTF8_SUBJECT,
    from_=f'"{UTF8_NAME}" <zoe@example.dk>',
    body=UTF8_BODY.encode("utf-8"),
    content_type="text/plain",
    cte=None,
)
_UNKNOWN_CHARSET = _CharsetSpec(
    subject="=?x-klingon?Q?Gr=C3=BC=C3=9Fe?=",
    from_=DEFAULT_FROM,
    body="Grüße\n".encode(),
    content_type='text/plain; charset="x-klingon"',
)
_NUL_BYTES = _CharsetSpec(
    subject=b"Nul\x00 in\x00side",
    from_=b"Null\x00 Person <null@example.com>",
    body=b"body\x00with\x00nuls\n",
    content_type="text/plain; charset=utf-8",
)


def latin1_headers(
    *,
    to: str | None = DEFAULT_TO,
    message_id: str | None = "<latin1@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """ISO-8859-1 Q-encoded subject and display name; latin-1 body."""
    return _LATIN1.build(to, message_id, in_reply_to, references, date, headers)


def cp1252_as_latin1(
    *,
    to: str | None = DEFAULT_TO,
    message_id: str | None = "<cp1252@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """windows-1252 bytes (curly quotes, euro, dashes) labelled iso-8859-1."""
    return _CP1252.build(to, message_id, in_reply_to, references, date, headers)


def shift_jis(
    *,
    to: str | None = DEFAULT_TO,
    message_id: str | None = "<sjis@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """Shift_JIS B-encoded subject and name; Shift_JIS 8-bit body."""
    return _SHIFT_JIS.build(to, message_id, in_reply_to, references, date, headers)


def iso_2022_jp(
    *,
    to: str | None = DEFAULT_TO,
    message_id: str | None = "<jis@mailfactory.test>",
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """ISO-2022-JP (7-bit, stateful) subject and body."""
    return _ISO_2022_JP.build(to, message_id, None, None, date, headers)


def gb2312(
    *,
    to: str | None = DEFAULT_TO,
    message_id: str | None = "<gb2312@mailfactory.test>",
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """GB2312 B-encoded subject and 8-bit body."""
    return _GB2312.build(to, message_id, None, None, date, headers)


def koi8_r(
    *,
    to: str | None = DEFAULT_TO,
    message_id: str | None = "<koi8@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """KOI8-R B-encoded subject, Q-encoded name, KOI8-R body."""
    return _KOI8_R.build(to, message_id, in_reply_to, references, date, headers)


def utf8_8bit(
    *,
    to: str | None = DEFAULT_TO,
    message_id: str | None = "<utf8-8bit@mailfactory.test>",
    in_reply_to: str | None = None,
    references: str | Sequence[str] | None = None,
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """Raw UTF-8 in Subject and From, 8-bit UTF-8 body, no charset and no CTE."""
    return _UTF8_8BIT.build(to, message_id, in_reply_to, references, date, headers)


def unknown_charset(
    *,
    to: str | None = DEFAULT_TO,
    message_id: str | None = "<unknown-charset@mailfactory.test>",
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """A bogus charset label on an encoded word and on the (UTF-8) body."""
    return _UNKNOWN_CHARSET.build(to, message_id, None, None, date, headers)


def nul_bytes(
    *,
    to: str | None = DEFAULT_TO,
    message_id: str | None = "<nul@mailfactory.test>",
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """NUL bytes in the subject, a display name and the body."""
    return _NUL_BYTES.build(to, message_id, None, None, date, headers)


def long_subject(
    *,
    subject: str = LONG_SUBJECT,
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    message_id: str | None = "<long-subject@mailfactory.test>",
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """A 10,000-character, unfolded Subject line."""
    common = _common(from_, to, subject, message_id, None, None, date, headers)
    return raw_message(common, b"Long subject, short body.\n")


# --------------------------------------------------------------------------
# raw builders: attachments with hostile or encoded names
# --------------------------------------------------------------------------


def _mixed(common: list[tuple[str, HeaderValue]], parts: Sequence[bytes], boundary: str) -> bytes:
    body = b"This is a multi-part message in MIME format.\n"
    for part in parts:
        body += f"--{boundary}\n".encode() + part + b"\n"
    body += f"--{boundary}--\n".encode()
    headers = common + [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/mixed; boundary="{boundary}"'),
    ]
    return raw_message(headers, body)


_TEXT_PART = b"Content-Type: text/plain; charset=utf-8\n\nSee attachment.\n"


def rfc2231_filename(
    *,
    filename: str = RFC2231_FILENAME,
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "RFC 2231 file name",
    message_id: str | None = "<rfc2231@mailfactory.test>",
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """An attachment whose UTF-8 file name is split over RFC 2231 continuations."""
    # each section is percent-encoded on its own: never split a %XX escape
    tokens = [quote(char.encode("utf-8"), safe="") for char in filename]
    pieces: list[str] = [""]
    for token in tokens:
        if len(pieces[-1]) + len(token) > 30:
            pieces.append("")
        pieces[-1] += token
    params = ";\n".join(
        f" filename*{n}*={'utf-8' + chr(39) * 2 if n == 0 else ''}{piece}"
        for n, piece in enumerate(pieces)
    )
    part = (
        b"Content-Type: application/pdf\n"
        + b"Content-Transfer-Encoding: base64\n"
        + b"Content-Disposition: attachment;\n"
        + params.encode("ascii")
        + b"\n\n"
        + base64.encodebytes(PDF_BYTES)
    )
    common = _common(from_, to, subject, message_id, None, None, date, headers)
    return _mixed(common, [_TEXT_PART, part], "rfc2231-boundary")


HOSTILE_FILENAMES = ("../../etc/passwd", "C:\\Windows\\System32\\evil.exe")


def traversal_filenames(
    *,
    filenames: Sequence[str] = HOSTILE_FILENAMES,
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "Path traversal",
    message_id: str | None = "<traversal@mailfactory.test>",
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """Attachments whose file names carry '../' and 'C:\\' paths."""
    parts = [_TEXT_PART]
    for name in filenames:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(
            b"Content-Type: application/octet-stream\n"
            + f'Content-Disposition: attachment; filename="{quoted}"\n'.encode()
            + b"Content-Transfer-Encoding: base64\n\n"
            + base64.encodebytes(b"not really a binary\n")
        )
    common = _common(from_, to, subject, message_id, None, None, date, headers)
    return _mixed(common, parts, "traversal-boundary")


# --------------------------------------------------------------------------
# raw builders: automated mail
# --------------------------------------------------------------------------


def bounce_dsn(
    *,
    from_: str | None = "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
    to: str | None = "support@example.net",
    subject: str | None = "Undelivered Mail Returned to Sender",
    message_id: str | None = "<bounce@mx.example.net>",
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
    return_path: str | None = "<>",
    report_type: str = "delivery-status",
) -> bytes:
    """An RFC 3464 DSN: multipart/report with text, delivery-status and headers."""
    extra: list[tuple[str, HeaderValue]] = []
    if return_path is not None:
        extra.append(("Return-Path", return_path))
    extra.append(("Auto-Submitted", "auto-replied"))
    common = extra + _common(from_, to, subject, message_id, None, None, date, headers)
    boundary = "dsn-boundary"
    body = (
        f"--{boundary}\n"
        "Content-Type: text/plain; charset=us-ascii\n\n"
        "This is the mail system. Your message could not be delivered.\n\n"
        f"--{boundary}\n"
        "Content-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; nobody@customer.example\n"
        "Action: failed\n"
        "Status: 5.1.1\n\n"
        f"--{boundary}\n"
        "Content-Type: text/rfc822-headers\n\n"
        "From: support@example.net\n"
        "To: nobody@customer.example\n"
        "Subject: Your ticket [#42]\n"
        "Message-ID: <ack-42@example.net>\n\n"
        f"--{boundary}--\n"
    ).encode("ascii")
    headers_out = common + [
        ("MIME-Version", "1.0"),
        (
            "Content-Type",
            f'multipart/report; report-type={report_type}; boundary="{boundary}"',
        ),
    ]
    return raw_message(headers_out, body)


# --------------------------------------------------------------------------
# raw builders: broken structure
# --------------------------------------------------------------------------


def broken_boundary(
    *,
    from_: str | None = DEFAULT_FROM,
    to: str | None = DEFAULT_TO,
    subject: str | None = "Broken boundary",
    message_id: str | None = "<broken-boundary@mailfactory.test>",
    date: str | None = DEFAULT_DATE,
    headers: ExtraHeaders = None,
) -> bytes:
    """multipart/mixed whose declared boundary never occurs in the body."""
    common = _common(from_, to, subject, message_id, None, None, date, headers)
    common += [
        ("MIME-Version", "1.0"),
        ("Content-Type", 'multipart/mixed; boundary="declared-boundary"'),
    ]
    body = (
        b"--other-boundary\n"
        b"Content-Type: text/plain\n\n"
        b"The text the customer wrote.\n"
        b"--other-boundary\n"
        b"Content-Type: application/pdf\n\n"
        b"%PDF-garbage\n"
    )
    return raw_message(common, body)


def missing_final_boundary(
    *,
    message_id: str | None = "<missing-final@mailfactory.test>",
    headers: ExtraHeaders = None,
) -> bytes:
    """multipart/alternative that never closes its last part."""
    common = _common(
        DEFAULT_FROM,
        DEFAULT_TO,
        "Missing final boundary",
        message_id,
        None,
        None,
        DEFAULT_DATE,
        headers,
    )
    common += [("Content-Type", "multipart/alternative; boundary=b1")]
    body = b"--b1\nContent-Type: text/plain\n\nplain text\n--b1\nContent-Type: text/html\n\n<p>html"
    return raw_message(common, body)


def no_separator(*, message_id: str | None = "<no-separator@mailfactory.test>") -> bytes:
    """No blank line between the headers and the body."""
    lines = [
        f"From: {DEFAULT_FROM}",
        "Subject: No separator",
        *([f"Message-ID: {message_id}"] if message_id else []),
        "This line is body text, not a header",
        "and so is this.",
    ]
    return ("\n".join(lines) + "\n").encode()


def deeply_nested(*, depth: int = 60) -> bytes:
    """`depth` levels of multipart/mixed, a text part at the bottom."""
    body = b"Content-Type: text/plain\n\ndeep text\n"
    for level in reversed(range(depth)):
        boundary = f"level{level}".encode()
        body = (
            b"Content-Type: multipart/mixed; boundary=" + boundary + b"\n\n"
            b"--" + boundary + b"\n" + body + b"\n--" + boundary + b"--\n"
        )
    return b"From: nest@example.com\nSubject: Deep\nMessage-ID: <deep@mailfactory.test>\n" + body


def endless_enclosures(*, depth: int = 3000) -> bytes:
    """message/rfc822 inside message/rfc822, `depth` times (exhausts recursion)."""
    head = b"From: nest@example.com\nSubject: Enclosures\nMessage-ID: <endless@mailfactory.test>\n"
    return head + b"Content-Type: message/rfc822\n\n" * depth + b"Subject: core\n\ncore\n"


def crlf_plain() -> bytes:
    """The plain message with CRLF line endings, as it comes over SMTP."""
    return plain(message_id="<crlf@mailfactory.test>").replace(b"\n", b"\r\n")


# --------------------------------------------------------------------------
# the corpus
# --------------------------------------------------------------------------

CASES: list[tuple[str, Callable[[], bytes]]] = [
    ("plain", plain),
    ("reply", reply),
    ("crlf_plain", crlf_plain),
    ("alternative", alternative),
    ("html_only", html_only),
    ("attachments", with_attachments),
    ("inline_image", inline_image),
    ("forwarded", forwarded),
    ("latin1_headers", latin1_headers),
    ("cp1252_as_latin1", cp1252_as_latin1),
    ("shift_jis", shift_jis),
    ("iso_2022_jp", iso_2022_jp),
    ("gb2312", gb2312),
    ("koi8_r", koi8_r),
    ("utf8_8bit", utf8_8bit),
    ("rfc2231_filename", rfc2231_filename),
    ("traversal_filenames", traversal_filenames),
    ("no_message_id", no_message_id),
    *[
        (f"auto_reply_{style.replace('-', '_')}", lambda style=style: auto_reply(style=style))
        for style in AUTO_REPLY_STYLES
    ],
    ("bounce_dsn", bounce_dsn),
    ("list_mail", list_mail),
    ("empty_body", empty_body),
    ("no_subject", no_subject),
    ("long_subject", long_subject),
    ("nul_bytes", nul_bytes),
    ("unknown_charset", unknown_charset),
    ("broken_boundary", broken_boundary),
    ("missing_final_boundary", missing_final_boundary),
    ("no_separator", no_separator),
    ("deeply_nested", deeply_nested),
    ("endless_enclosures", endless_enclosures),
]
"""(name, builder) for every case; builders take no required arguments."""


def case(name: str) -> bytes:
    """The bytes of the case called `name`."""
    for case_name, build in CASES:
        if case_name == name:
            return build()
    raise KeyError(name)
