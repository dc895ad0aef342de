"""Raw RFC 5322 bytes -> one tidy, fully decoded `ParsedMessage`.

Where it sits in the flow: intake commits the raw bytes first (using
`header_message_id` for dedupe), then the pipeline calls `parse_message` once
and everything downstream (threading, classification in
`maildesk.core.autoreply`, ticket rendering, attachment storage) works only on
the `ParsedMessage` value.  This module is the single wrapper around the
standard library `email` package; nothing else in maildesk touches MIME.

Pure: bytes in, values out, no IO.  `parse_message` never raises: whatever is
broken is repaired as far as possible and described in `ParsedMessage.defects`.

Design notes:

* The MIME tree is built by the stdlib feed parser with a `compat32`-based
  policy.  `email.policy.default` builds header objects lazily and re-parses
  Content-Type many times while parsing (2 s against 0.2 s on the 3 MB
  "endless enclosures" sample); we decode every header ourselves anyway, so
  the raw-string policy is both faster and gives us the untouched header
  text (8-bit bytes included) to decode with our own charset rules.
* Charsets follow what mail clients and browsers do: latin-1/us-ascii labels
  mean windows-1252, undeclared 8-bit data is tried as UTF-8 first, unknown
  labels fall back, and no lone surrogate ever leaves this module (see
  `_decode_bytes`).
* Hostile input is defused before the stdlib parser sees it, since parts of
  it are slow (quadratic parameter parsing, per-header and per-part costs):
  header lines beyond MAX_HEADER_LINES are dropped, over-long Content-Type /
  Content-Disposition fields are cut, and with more than MAX_BOUNDARY_LINES
  boundary-like lines the body is kept as text.  Parser recursion errors
  (thousands of nested enclosures) degrade to the same text fallback; our
  own walk stops at MAX_DEPTH.  All of it is noted in `defects`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html as html_lib
import io
import mimetypes
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email import utils as email_utils
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from typing import TypeVar

import inscriptis

__all__ = [
    "Address",
    "Attachment",
    "ParsedMessage",
    "header_message_id",
    "normalize_message_id",
    "parse_message",
    "sanitize_filename",
]

# --------------------------------------------------------------------------
# Limits (guards against pathological input)
# --------------------------------------------------------------------------

MAX_DEPTH = 20
"""Deepest multipart nesting that is walked; deeper parts are dropped (noted)."""

MAX_STRUCTURED_HEADER = 16 * 1024
"""Address-list headers longer than this are cut before parsing (noted)."""

MAX_HTML_FOR_INSCRIPTIS = 256 * 1024
"""Bigger HTML bodies are converted to text by a fast, simpler converter."""

MAX_DEFECTS = 50
"""At most this many defect notes are kept; the rest are summarised."""

MAX_HEADER_LINES = 10_000
"""Top-level header lines beyond this are dropped before parsing (noted), except
the fields maildesk reads (Content-*, Message-ID, From, Subject, List-*, ...)."""

MAX_BOUNDARY_LINES = 10_000
"""More lines than this starting with '--': the MIME structure is not parsed."""

MAX_FILENAME_BYTES = 255


# --------------------------------------------------------------------------
# Public values
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """One mailbox: decoded display name and the addr-spec (domain lower-cased)."""

    name: str
    email: str

    @property
    def key(self) -> str:
        """Fully lower-cased address, the form used for matching."""
        return self.email.lower()


@dataclass(frozen=True)
class Attachment:
    """A non-body MIME leaf (or a whole enclosed message), decoded."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None
    inline: bool


@dataclass(frozen=True)
class ParsedMessage:
    """Everything the pipeline needs from one message, already decoded."""

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    headers: Mapping[str, tuple[str, ...]]
    content_type: str
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]


# --------------------------------------------------------------------------
# Parser policy
# --------------------------------------------------------------------------

_NEWLINE = re.compile(r"\r\n|\r|\n")


class _VerbatimPolicy(Compat32):
    """compat32 parsing; serialisation writes each header exactly as received.

    compat32 would re-fold headers through `email.header.Header`, which is slow
    on huge headers and changes their bytes; enclosed messages are handed out
    as .eml attachments, so they should come out as they came in.
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        text = f"{name}: {_NEWLINE.sub(self.linesep, value)}{self.linesep}"
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeError:
            return text.encode("utf-8", "replace")


_POLICY = _VerbatimPolicy(linesep="\n")


# --------------------------------------------------------------------------
# Defect notes
# --------------------------------------------------------------------------


class _Notes:
    """Ordered, de-duplicated, capped list of human-readable defect notes."""

    def __init__(self) -> None:
        self._items: list[str] = []
        self._seen: set[str] = set()
        self._dropped = 0

    def add(self, note: str) -> None:
        note = _scrub(note)
        if note in self._seen:
            return
        if len(self._items) >= MAX_DEFECTS:
            self._dropped += 1
            return
        self._seen.add(note)
        self._items.append(note)

    def result(self) -> tuple[str, ...]:
        if self._dropped:
            return (*self._items, f"{self._dropped} further defect notes omitted")
        return tuple(self._items)


def _describe_defect(defect: object) -> str:
    name = type(defect).__name__
    if name.endswith("Defect"):
        name = name[: -len("Defect")]
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()
    detail = str(defect).strip()
    return f"{words} ({detail})" if detail else words


# --------------------------------------------------------------------------
# Text and charset helpers
# --------------------------------------------------------------------------

_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROL_EXCEPT_TAB = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_C1 = re.compile("[\x80-\x9f]")


def _build_c1_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for byte in range(0x80, 0xA0):
        try:
            table[byte] = bytes([byte]).decode("cp1252")
        except UnicodeDecodeError:
            continue  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: undefined, stay C1
    return table


_C1_TO_CP1252 = _build_c1_table()


def _scrub(text: str) -> str:
    """Replace every surrogate code point (they cannot be stored) with U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


def _repair_c1(text: str) -> str:
    """Map U+0080..U+009F to the windows-1252 characters they almost always are."""
    if _C1.search(text) is None:
        return text
    return text.translate(_C1_TO_CP1252)


def _decode_windows_1252(data: bytes) -> str:
    """windows-1252 as browsers decode it: never fails, undefined bytes -> C1."""
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        text = data.decode("cp1252", "surrogateescape")
    for byte in (0x81, 0x8D, 0x8F, 0x90, 0x9D):  # the 5 bytes cp1252 leaves undefined
        text = text.replace(chr(0xDC00 + byte), chr(byte))
    return text


_ESCAPED_BYTE_TO_CP1252 = {
    0xDC00 + byte: _decode_windows_1252(bytes([byte])) for byte in range(0x80, 0x100)
}


def _decode_utf8_or_1252(data: bytes) -> str:
    """Bytes that are not (all) valid UTF-8: UTF-8 where valid, windows-1252 elsewhere.

    If most non-ASCII bytes are valid UTF-8 (a UTF-8 name cut mid-character,
    one stray latin-1 byte), the valid sequences are kept; otherwise it is
    windows-1252 text (or binary) and is decoded as such throughout.
    """
    text = data.decode("utf-8", "surrogateescape")
    invalid = (len(text.encode("utf-8", "surrogatepass")) - len(data)) // 2
    non_ascii = len(data.translate(None, _ASCII_BYTES))
    if non_ascii - invalid <= invalid:
        return _decode_windows_1252(data)
    return text.translate(_ESCAPED_BYTE_TO_CP1252)


_ASCII_BYTES = bytes(range(0x80))


_CHARSET_ALIASES: dict[str, str] = {
    # supersets, as WHATWG and mail clients use them
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "x-windows-949": "cp949",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "windows-874": "cp874",
    "iso-8859-9": "cp1254",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "utf8mb4": "utf-8",
    "x-unicode20utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
}

# Text codecs Python knows that are not character sets a mail could use.
_BLOCKED_CODECS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "charmap"}
)
_CHARSET_LABEL = re.compile(r"[a-z0-9][a-z0-9_.:+()-]{0,63}")

_UNDECLARED = "undeclared"
_WINDOWS_1252 = "windows-1252"
_UNKNOWN = "unknown"


def _resolve_charset(label: str | None) -> tuple[str, str]:
    """(kind, codec): kind is 'undeclared', 'windows-1252', 'utf-8', 'unknown' or 'codec'."""
    if label is None:
        return _UNDECLARED, ""
    name = label.strip().strip("\"'").strip().lower()
    if not name:
        return _UNDECLARED, ""
    name = _CHARSET_ALIASES.get(name, name)
    if _CHARSET_LABEL.fullmatch(name) is None:
        return _UNKNOWN, name
    try:
        info = codecs.lookup(name)
    except Exception:
        return _UNKNOWN, name
    if not getattr(info, "_is_text_encoding", True) or info.name in _BLOCKED_CODECS:
        return _UNKNOWN, name
    if info.name == "ascii":
        return _UNDECLARED, "ascii"
    if info.name in ("iso8859-1", "cp1252"):
        return _WINDOWS_1252, "cp1252"
    if info.name == "utf-8":
        return "utf-8", "utf-8"
    return "codec", info.name


def _decode_bytes(data: bytes, label: str | None, notes: _Notes | None, what: str) -> str:
    """Decode `data` declared as charset `label`; never fails, never leaves surrogates.

    * no label, us-ascii, unknown or bogus labels, utf-8: UTF-8, and where the
      bytes are not valid UTF-8, windows-1252 for the offending bytes;
    * iso-8859-1 / latin-1 / windows-1252 labels: windows-1252 as browsers
      decode it (so 0x80-0x9F are euro sign, curly quotes, dashes), unless the
      bytes are valid UTF-8 (a common mislabelling);
    * any other charset Python knows (aliases widened to supersets, e.g.
      gb2312 -> gb18030, shift_jis -> cp932): that charset, else UTF-8, else
      that charset with replacement characters.

    Fallbacks are noted in `notes` (prefixed with `what`).
    """
    if not data:
        return ""
    kind, codec = _resolve_charset(label)
    if data.isascii() and kind != "codec":
        return data.decode("ascii")
    if kind == _WINDOWS_1252:
        # Non-ASCII windows-1252 text is practically never valid UTF-8, while
        # UTF-8 labelled latin-1 is a common mailer bug: valid UTF-8 wins.
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return _decode_windows_1252(data)
        if notes is not None:
            notes.add(f"{what}: labelled {label!s} but is UTF-8; decoded as UTF-8")
        return text
    if kind == "codec":
        try:
            return _scrub(data.decode(codec))
        except Exception:
            pass
        if not data.isascii():
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                if notes is not None:
                    notes.add(f"{what}: not valid {label!s}; decoded as UTF-8")
                return text
        try:
            text = _scrub(data.decode(codec, "replace"))
        except Exception:
            text = _decode_windows_1252(data)
        if notes is not None:
            notes.add(f"{what}: not valid {label!s}; undecodable bytes replaced")
        return text
    if kind == _UNKNOWN and notes is not None:
        notes.add(f"{what}: unknown charset {label!r}; decoded as UTF-8 or windows-1252")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if notes is not None and kind == "utf-8":
        notes.add(f"{what}: declared UTF-8 but is not; invalid bytes read as windows-1252")
    elif notes is not None and kind == _UNDECLARED:
        notes.add(f"{what}: undeclared 8-bit data is not UTF-8; read as windows-1252")
    return _decode_utf8_or_1252(data)


def _from_wire(value: str) -> str:
    """Turn a parser string (8-bit bytes kept as surrogate escapes) into real text.

    Undeclared 8-bit bytes are UTF-8 if they are valid UTF-8, else windows-1252.
    """
    if value.isascii():
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return _scrub(value)
    return _decode_utf8_or_1252(data)


def _unfold(value: str) -> str:
    """RFC 5322 unfolding: drop line breaks (folding whitespace stays)."""
    return _NEWLINE.sub("", value)


# --------------------------------------------------------------------------
# RFC 2047 encoded words
# --------------------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([qQbB])\?([^?]*?)\?=")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")


def _word_bytes(encoding: str, payload: str) -> bytes:
    if encoding in "qQ":
        return binascii.a2b_qp(payload.encode("utf-8", "replace"), header=True)
    cleaned = _NOT_BASE64.sub("", payload)
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]
    cleaned += "=" * (-len(cleaned) % 4)
    return base64.b64decode(cleaned)


def _decode_encoded_words(text: str, notes: _Notes | None, what: str) -> str:
    """Decode RFC 2047 words; adjacent words of one charset are joined as bytes
    first, so a multi-byte character split across two words survives."""
    if "=?" not in text:
        return text
    out: list[str] = []
    pending: list[tuple[str, bytearray]] = []

    def flush() -> None:
        for charset, data in pending:
            out.append(_decode_bytes(bytes(data), charset, notes, what))
        pending.clear()

    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        if not (pending and between.strip(" \t") == ""):
            flush()
            out.append(between)
        charset = match.group(1).split("*", 1)[0]
        try:
            data = _word_bytes(match.group(2), match.group(3))
        except Exception:
            flush()
            out.append(match.group(0))
            if notes is not None:
                notes.add(f"{what}: undecodable encoded word kept as is")
            pos = match.end()
            continue
        if pending and pending[-1][0].lower() == charset.lower():
            pending[-1][1].extend(data)
        else:
            pending.append((charset, bytearray(data)))
        pos = match.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


def _header_text(value: str, notes: _Notes | None, what: str) -> str:
    """Raw header value -> clean one-line text (unfolded, decoded, no controls)."""
    text = _from_wire(_unfold(value))
    text = _decode_encoded_words(text, notes, what)
    text = _repair_c1(text)
    text = _CONTROL_EXCEPT_TAB.sub("", text)
    return _scrub(text).strip()


# --------------------------------------------------------------------------
# Header access on a parsed part
# --------------------------------------------------------------------------


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
    return text or None


def _raw_filename(part: Message, notes: _Notes | None) -> str | None:
    name = _get_param(part, "content-disposition", "filename", notes)
    if not name:
        name = _get_param(part, "content-type", "name", notes)
    if not name:
        return None
    name = _decode_encoded_words(name, notes, "attachment file name")
    return _scrub(_repair_c1(name)).strip() or None


# --------------------------------------------------------------------------
# Message-IDs
# --------------------------------------------------------------------------

_BRACKETED = re.compile(r"<([^<>]*)>")
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_MAX_MESSAGE_ID = 998


def _clean_id(inner: str) -> str | None:
    inner = _WHITESPACE.sub("", inner)
    if not inner or _CONTROL.search(inner) or len(inner) + 2 > _MAX_MESSAGE_ID:
        return None
    if "<" in inner or ">" in inner:
        return None
    return _scrub(f"<{inner}>")


def normalize_message_id(value: str) -> str | None:
    """'<local@domain>' from a Message-ID-ish value, or None for garbage.

    The first <...> group wins (comments and junk around it are ignored);
    whitespace inside is removed (long ids are sometimes folded).  A bare
    'local@domain' without brackets is accepted and bracketed.
    """
    try:
        text = _unfold(_scrub(str(value))).strip()
        for match in _BRACKETED.finditer(text):
            cleaned = _clean_id(match.group(1))
            if cleaned is not None:
                return cleaned
        if "<" in text or ">" in text:
            return None
        if re.fullmatch(r"[^\s@]+@[^\s@]+", text):
            return _clean_id(text)
    except Exception:
        return None
    return None


def _message_id_list(values: Iterable[str], notes: _Notes, what: str) -> tuple[str, ...]:
    """All message-ids in the given header values, in order, de-duplicated.

    Over MAX_STRUCTURED_HEADER characters, the middle is dropped: the first id
    (thread root) and the last ones (direct parents) matter for threading.
    """
    found: list[str] = []
    seen: set[str] = set()
    for value in values:
        text = _from_wire(_unfold(value))
        if len(text) > MAX_STRUCTURED_HEADER:
            head = text[:1024].rsplit(None, 1)[0]
            tail = text[-(MAX_STRUCTURED_HEADER - 1024) :].split(None, 1)[-1]
            text = f"{head} {tail}"
            notes.add(f"{what} header longer than {MAX_STRUCTURED_HEADER} characters; middle cut")
        candidates = [m.group(0) for m in _BRACKETED.finditer(text)]
        if not candidates:
            candidates = [tok for tok in text.split() if "@" in tok]
        for candidate in candidates:
            mid = normalize_message_id(candidate)
            if mid is not None and mid not in seen:
                seen.add(mid)
                found.append(mid)
    return tuple(found)


# One header line as the stdlib feed parser sees it (its `headerRE`), and the
# whole header section: every line up to the first blank or non-header line.
_HEADER_SECTION = re.compile(
    rb"(?:(?:From |[\x21-\x39\x3b-\x7e]*:|[ \t])[^\r\n]*(?:\r\n|\r|\n|\Z))*+"
)
_FIELD_START = re.compile(rb"(?:\r\n|\r|\n)(?=[^ \t])")
_FIELD_END = re.compile(rb"(?:\r\n|\r|\n)(?![ \t])")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def _header_section_end(raw: bytes) -> int:
    """Offset where the top-level header section ends (the parser's notion)."""
    match = _HEADER_SECTION.match(raw)
    return match.end() if match is not None else 0


def _limit_header_lines(raw: bytes, notes: _Notes | None) -> bytes:
    """Drop the top-level header lines beyond MAX_HEADER_LINES.

    The stdlib parser and our decoding are linear but slow per header; a
    message with millions of header lines would otherwise take minutes.
    """
    end = _header_section_end(raw)
    section = raw[:end]
    if max(section.count(b"\n"), section.count(b"\r")) <= MAX_HEADER_LINES:
        return raw
    cut = 0
    for count, match in enumerate(_FIELD_START.finditer(section), start=1):
        if count >= MAX_HEADER_LINES:
            cut = match.end()
            break
    if cut == 0:
        return raw
    if notes is not None:
        notes.add(f"more than {MAX_HEADER_LINES} header lines; the rest dropped before parsing")
    return section[:cut] + raw[end:]


_MIME_PARAMS_FIELDS = (b"content-type", b"content-disposition")
_MAX_MIME_FIELDS_CHECKED = 20_000


def _long_mime_fields(raw: bytes) -> list[tuple[int, int]]:
    """(start, end) of Content-Type/-Disposition fields longer than the cap."""
    lowered = raw.lower()
    found: list[tuple[int, int]] = []
    for name in _MIME_PARAMS_FIELDS:
        pos = lowered.find(name)
        checked = 0
        while pos >= 0 and checked < _MAX_MIME_FIELDS_CHECKED:
            checked += 1
            if pos == 0 or raw[pos - 1] in b"\r\n":
                end_match = _FIELD_END.search(raw, pos)
                end = end_match.start() if end_match is not None else len(raw)
                if end - pos > MAX_STRUCTURED_HEADER:
                    found.append((pos, end))
                pos = lowered.find(name, max(end, pos + 1))
            else:
                pos = lowered.find(name, pos + 1)
    return sorted(found)


def _cut_long_mime_fields(raw: bytes, notes: _Notes) -> bytes:
    """Cut Content-Type/-Disposition fields over MAX_STRUCTURED_HEADER bytes.

    The stdlib parameter parser is quadratic: a 500 KB Content-Type with many
    parameters costs seconds in the parser itself (it reads `boundary`).
    """
    if len(raw) <= MAX_STRUCTURED_HEADER:
        return raw
    pieces: list[bytes] = []
    pos = 0
    for start, end in _long_mime_fields(raw):
        if start < pos:
            continue
        pieces.append(raw[pos : start + MAX_STRUCTURED_HEADER])
        pos = end
    if not pieces:
        return raw
    notes.add(f"Content-Type/-Disposition over {MAX_STRUCTURED_HEADER} bytes cut")
    pieces.append(raw[pos:])
    return b"".join(pieces)


def _too_many_parts(raw: bytes) -> bool:
    return raw.count(b"\n--") + raw.startswith(b"--") > MAX_BOUNDARY_LINES


def header_message_id(raw: bytes) -> str | None:
    """Message-ID of `raw`, looking only at its header block (cheap, for dedupe).

    Uses the same parser and normalisation as `parse_message`, so both agree.
    """
    try:
        data = _limit_header_lines(bytes(raw), None)
        section = data[: _header_section_end(data)]
        top = BytesParser(policy=_POLICY).parsebytes(section, headersonly=True)
        value = _first_raw(top, "message-id")
        return None if value is None else normalize_message_id(_from_wire(value))
    except Exception:
        return None


# --------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------

_ADDR_SPEC = re.compile(
    r'(?:"[^"\r\n]*"|[^\s<>()\[\],;:"@\\]+)@(?:\[[^\[\]\s]*\]|[^\s<>()\[\],;:"@\\]+)'
)
_SALVAGE = re.compile(r'[^\s<>()\[\],;:"@\\]+@[^\s<>()\[\],;:"@\\]+')


def _getaddresses(text: str) -> list[tuple[str, str]]:
    """`email.utils.getaddresses`, the same on every Python patch level.

    Since 3.11.10 it rejects some malformed lists by default ("strict"); we
    salvage addresses from those ourselves, so ask for the lenient parse.
    """
    try:
        return email_utils.getaddresses([text], strict=False)
    except TypeError:  # Python < 3.11.10: no `strict`, always lenient
        return email_utils.getaddresses([text])


def _make_address(name: str, addr: str, notes: _Notes | None, what: str) -> Address | None:
    addr = addr.strip()
    if _ADDR_SPEC.fullmatch(addr) is None:
        return None
    local, _, domain = addr.rpartition("@")
    display = _decode_encoded_words(name, notes, what)
    display = _CONTROL_EXCEPT_TAB.sub("", _repair_c1(display)).strip()
    return Address(name=_scrub(display), email=_scrub(f"{local}@{domain.lower()}"))


def _parse_addresses(values: list[str], notes: _Notes, what: str) -> tuple[Address, ...]:
    if not values:
        return ()
    text = ", ".join(_from_wire(_unfold(v)) for v in values)
    if len(text) > MAX_STRUCTURED_HEADER:
        cut = text.rfind(",", 0, MAX_STRUCTURED_HEADER)
        text = text[: cut if cut > 0 else MAX_STRUCTURED_HEADER]
        notes.add(f"{what} header longer than {MAX_STRUCTURED_HEADER} characters; cut")
    if not text.strip():
        return ()
    found: list[Address] = []
    bad = False
    try:
        pairs = _getaddresses(text)
    except Exception:
        pairs = []
        bad = True
    for name, addr in pairs:
        if not addr.strip():
            continue
        address = _make_address(name, addr, notes, what)
        if address is None:
            bad = True
        else:
            found.append(address)
    if bad or (not found and "@" in text):
        known = {a.key for a in found}
        salvaged = 0
        for match in _SALVAGE.finditer(text):
            address = _make_address("", match.group(0), notes, what)
            if address is not None and address.key not in known:
                known.add(address.key)
                found.append(address)
                salvaged += 1
        if salvaged:
            notes.add(f"{what} header not fully parseable; salvaged {salvaged} address(es)")
        else:
            notes.add(f"{what} header holds no usable address")
    return tuple(found)


# --------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------


_DATE_COMMENT = re.compile(r"\([^()]*\)")


def _parse_date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        text = _CONTROL.sub("", _from_wire(_unfold(value)))
        text = _DATE_COMMENT.sub(" ", text).strip()  # "(EDT)" would shadow "-0400"
        if not text:
            return None
        parsed = email_utils.parsedate_to_datetime(text)
        if parsed is None:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed.utcoffset()  # out-of-range offsets raise here rather than later
        return parsed
    except Exception:
        return None


# --------------------------------------------------------------------------
# File names
# --------------------------------------------------------------------------

_UNSAFE_FILENAME_CHARS = re.compile(r'[<>:"/\\|?*]')
_BIDI_AND_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_WINDOWS_RESERVED = re.compile(r"(?i)(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?")
_PREFERRED_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/rfc822-headers": ".txt",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "application/octet-stream": ".bin",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/feedback-report": ".txt",
}


def _extension_for(content_type: str) -> str:
    """'.pdf' for 'application/pdf'; '.bin' when unknown.

    Reads `mimetypes.types_map` (Python's built-in table) directly: the
    `guess_extension` function would first load the system's mime.types
    files, which is IO and makes the answer depend on the host.
    """
    ctype = content_type.strip().lower()
    ext = _PREFERRED_EXTENSIONS.get(ctype)
    if ext is None:
        ext = next((e for e, t in mimetypes.types_map.items() if t == ctype), None)
    return ext or ".bin"


def _cap_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def sanitize_filename(name: str | None, content_type: str) -> str:
    """A safe bare file name: no path, no control or Windows-illegal characters,
    no leading dots, at most 255 UTF-8 bytes (extension kept); never empty.
    """
    text = _scrub(unicodedata.normalize("NFC", name or ""))
    text = _BIDI_AND_CONTROL.sub("", text)
    text = re.split(r"[/\\]", text)[-1]
    text = _UNSAFE_FILENAME_CHARS.sub("_", text)
    text = text.strip().lstrip(".").strip().rstrip(". ")
    if text and _WINDOWS_RESERVED.fullmatch(text):
        text = "_" + text
    if len(text.encode("utf-8")) > MAX_FILENAME_BYTES:
        stem, dot, ext = text.rpartition(".")
        if dot and stem and 0 < len(ext.encode("utf-8")) <= 16 and " " not in ext:
            room = MAX_FILENAME_BYTES - len(ext.encode("utf-8")) - 1
            text = f"{_cap_utf8(stem, room).rstrip('. ')}.{ext}"
        else:
            text = _cap_utf8(text, MAX_FILENAME_BYTES).rstrip(". ")
    if not text:
        text = "attachment" + _extension_for(content_type)
    return text


# --------------------------------------------------------------------------
# HTML -> text
# --------------------------------------------------------------------------

_DROP_ELEMENTS = re.compile(r"(?is)<(script|style|head|title)\b.*?</\1\s*>")
_BLOCK_TAGS = re.compile(r"(?i)<\s*/?\s*(br|p|div|tr|li|h[1-6]|table|blockquote|pre|hr)\b[^>]*>")
_ANY_TAG = re.compile(r"(?s)<[^>]*>")
_COMMENT = re.compile(r"(?s)<!--.*?-->")
_MANY_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


def _simple_html_to_text(markup: str) -> str:
    text = _COMMENT.sub("", markup)
    text = _DROP_ELEMENTS.sub("", text)
    text = _BLOCK_TAGS.sub("\n", text)
    text = _ANY_TAG.sub("", text)
    text = html_lib.unescape(text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_BLANK_LINES.sub("\n\n", text).strip()


def _html_to_text(markup: str, notes: _Notes) -> str:
    if not markup.strip():
        return ""
    if len(markup) > MAX_HTML_FOR_INSCRIPTIS:
        size = MAX_HTML_FOR_INSCRIPTIS // 1024
        notes.add(f"HTML body over {size} KB; text made by the simple converter")
        return _simple_html_to_text(markup)
    try:
        text = inscriptis.get_text(markup)
    except Exception as exc:
        notes.add(f"HTML to text conversion failed ({type(exc).__name__}); tags stripped")
        return _simple_html_to_text(markup)
    return _scrub(text).strip("\n")


# --------------------------------------------------------------------------
# Walking the MIME tree
# --------------------------------------------------------------------------


def _clean_body(text: str) -> str:
    text = text.replace("\x00", "")
    if text.startswith("\ufeff"):
        text = text[1:]
    return _scrub(_NEWLINE.sub("\n", text))


def _serialize(message: Message) -> bytes:
    buffer = io.BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=_POLICY).flatten(message, unixfrom=False)
    return buffer.getvalue()


def _message_body_bytes(part: Message) -> bytes:
    """The body of a message/* part (enclosed message(s) or report blocks)."""
    payload = part.get_payload()
    if isinstance(payload, list) and len(payload) == 1 and _content_type(part) in _ENCLOSING:
        inner = payload[0]
        if isinstance(inner, Message):
            return _serialize(inner)
    shell = Message(policy=_POLICY)
    ctype = _first_raw(part, "content-type")
    shell["Content-Type"] = ctype if ctype is not None else _content_type(part)
    shell.set_payload(payload)
    data = _serialize(shell)
    end = data.find(b"\n\n")
    return data[end + 2 :] if end >= 0 else data


_ENCLOSING = frozenset({"message/rfc822", "message/global"})


class _Walker:
    """Depth-first walk collecting the text body, the HTML body and attachments."""

    def __init__(self, notes: _Notes) -> None:
        self.notes = notes
        self.text: str | None = None
        self.html: str | None = None
        self.attachments: list[Attachment] = []

    # -- entry ---------------------------------------------------------------

    def walk(self, part: Message, depth: int = 0, path: str = "", parent: str = "") -> None:
        where = f"part {path}" if path else "message"
        if depth > MAX_DEPTH:
            self.notes.add(f"MIME nesting deeper than {MAX_DEPTH} levels; deeper parts dropped")
            return
        for defect in getattr(part, "defects", ()) or ():
            self.notes.add(f"{where}: {_describe_defect(defect)}")
        ctype = _content_type(part)
        try:
            if ctype.startswith("message/") and part.is_multipart():
                self._enclosed(part, ctype)
            elif part.is_multipart():
                self._multipart(part, ctype, depth, path)
            else:
                self._leaf(part, ctype, where, parent)
        except RecursionError:
            self.notes.add(f"{where}: nested too deeply to process; dropped")
        except Exception as exc:
            self.notes.add(f"{where}: could not be processed ({type(exc).__name__}); dropped")

    # -- containers ----------------------------------------------------------

    def _multipart(self, part: Message, ctype: str, depth: int, path: str) -> None:
        children = part.get_payload()
        if not isinstance(children, list):
            return
        if ctype == "multipart/alternative":
            self._alternative(children, depth, path)
            return
        for index, child in enumerate(children, start=1):
            if isinstance(child, Message):
                self.walk(child, depth + 1, f"{path}.{index}" if path else str(index), ctype)

    def _alternative(self, children: Iterable[object], depth: int, path: str) -> None:
        """Alternatives render the same content: keep one plain and one HTML body."""
        taken: set[str] = set()
        for index, child in enumerate(children, start=1):
            if not isinstance(child, Message):
                continue
            child_path = f"{path}.{index}" if path else str(index)
            ctype = _content_type(child)
            if not child.is_multipart() and ctype in ("text/plain", "text/html"):
                if ctype in taken and self._is_body_candidate(child):
                    continue  # another rendering of a body we already have
                taken.add(ctype)
            self.walk(child, depth + 1, child_path, "multipart/alternative")

    def _enclosed(self, part: Message, ctype: str) -> None:
        payload = part.get_payload()
        name: str | None = None
        if ctype in _ENCLOSING:
            inner = payload[0] if isinstance(payload, list) and payload else None
            subject_raw = _first_raw(inner, "subject") if isinstance(inner, Message) else None
            subject = _header_text(subject_raw, None, "enclosed subject") if subject_raw else ""
            declared = _raw_filename(part, self.notes)
            name = f"{subject}.eml" if subject else (declared or "forwarded.eml")
        else:
            name = _raw_filename(part, self.notes)
        try:
            data = _message_body_bytes(part)
        except Exception as exc:
            self.notes.add(f"{ctype} part could not be re-serialised ({type(exc).__name__})")
            data = b""
        self.attachments.append(
            Attachment(
                filename=sanitize_filename(name, ctype),
                content_type=ctype,
                data=data,
                content_id=_content_id(part),
                inline=False,
            )
        )

    # -- leaves --------------------------------------------------------------

    def _is_body_candidate(self, part: Message) -> bool:
        if _disposition(part) == "attachment":
            return False
        return _raw_filename(part, None) is None

    def _payload_bytes(self, part: Message, where: str) -> bytes:
        try:
            data = part.get_payload(decode=True)
        except Exception as exc:
            self.notes.add(f"{where}: payload could not be decoded ({type(exc).__name__})")
            raw = part.get_payload()
            return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
        for defect in getattr(part, "defects", ()) or ():
            self.notes.add(f"{where}: {_describe_defect(defect)}")
        if isinstance(data, bytes):
            return data
        return b""

    def _leaf(self, part: Message, ctype: str, where: str, parent: str) -> None:
        body_type = ctype
        if ctype.startswith("multipart/"):
            self.notes.add(f"{where}: {ctype} without usable parts; body treated as text")
            body_type = "text/plain"
        if body_type in ("text/plain", "text/html") and self._is_body_candidate(part):
            if body_type == "text/plain" and self.text is None:
                self.text = self._text_of(part, where)
                return
            if body_type == "text/html" and self.html is None:
                self.html = self._text_of(part, where)
                return
        self._attachment(part, ctype, where, parent)

    def _text_of(self, part: Message, where: str) -> str:
        data = self._payload_bytes(part, where)
        charset = _get_param(part, "content-type", "charset", self.notes)
        return _clean_body(_decode_bytes(data, charset, self.notes, f"{where} body"))

    def _attachment(self, part: Message, ctype: str, where: str, parent: str) -> None:
        disposition = _disposition(part)
        content_id = _content_id(part)
        if disposition == "attachment":
            inline = False
        elif disposition == "inline" and content_id is not None:
            inline = True
        else:
            inline = parent == "multipart/related" and (
                content_id is not None or ctype.startswith("image/")
            )
        self.attachments.append(
            Attachment(
                filename=sanitize_filename(_raw_filename(part, self.notes), ctype),
                content_type=ctype,
                data=self._payload_bytes(part, where),
                content_id=content_id,
                inline=inline,
            )
        )


# --------------------------------------------------------------------------
# parse_message
# --------------------------------------------------------------------------


def _decoded_headers(top: Message, notes: _Notes) -> dict[str, tuple[str, ...]]:
    collected: dict[str, list[str]] = {}
    for key, value in top.raw_items():
        name = _CONTROL.sub("", _scrub(str(key))).strip().lower()
        if not name:
            continue
        text = _header_text(value if isinstance(value, str) else str(value), notes, name)
        collected.setdefault(name, []).append(text)
    return {name: tuple(values) for name, values in collected.items()}


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
        data = _guarded(notes, "body", None, lambda: top.get_payload(decode=True))
    if not isinstance(data, bytes):
        body = raw[_header_section_end(raw) :]
        first_break = _LINE_BREAK.match(body)
        data = body[first_break.end() :] if first_break is not None else body
    charset = _get_param(top, "content-type", "charset", notes)
    return _clean_body(_decode_bytes(data, charset, notes, "message body"))


def _build(raw: bytes, notes: _Notes) -> ParsedMessage:
    parser = BytesParser(policy=_POLICY)
    raw = _cut_long_mime_fields(_limit_header_lines(raw, notes), notes)
    full = not _too_many_parts(raw)
    if not full:
        notes.add(f"more than {MAX_BOUNDARY_LINES} MIME boundary lines; body kept as text")
        top = parser.parsebytes(raw, headersonly=True)
    else:
        try:
            top = parser.parsebytes(raw)
        except Exception as exc:
            notes.add(f"MIME structure unparseable ({type(exc).__name__}); body kept as text")
            top = parser.parsebytes(raw, headersonly=True)
            full = False

    no_headers: dict[str, tuple[str, ...]] = {}
    headers = _guarded(notes, "headers", no_headers, lambda: _decoded_headers(top, notes))

    mid_raw = _first_raw(top, "message-id")
    message_id = normalize_message_id(_from_wire(mid_raw)) if mid_raw is not None else None
    if mid_raw is not None and message_id is None:
        notes.add("Message-ID header unusable")
    subject_raw = _first_raw(top, "subject")
    subject = _header_text(subject_raw, notes, "subject") if subject_raw is not None else ""

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
    if not text.strip():
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
