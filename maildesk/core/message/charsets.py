"""Charset rules: bytes in a declared (or undeclared) charset -> text.

Where it sits in the flow: under every decoding step of
`maildesk.core.message`: header values (`headers`), MIME parameters (`parts`)
and body parts (`mime`) all end in `_decode_bytes` or `_from_wire`.  The choice
of codec (labels widened to supersets, latin-1 read as windows-1252, unknown
labels falling back), C1 repair, and the UTF-8-else-windows-1252 rule for
undeclared 8-bit data live here.
"""

from __future__ import annotations

import codecs
import re

from maildesk.core.message.notes import _Notes
from maildesk.core.message.text import _scrub

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
