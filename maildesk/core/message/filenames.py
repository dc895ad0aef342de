"""Safe attachment file names: `sanitize_filename` and extensions.

Where it sits in the flow: called by the MIME walk (`mime`) for every
attachment.  The name is stored as is and later offered for download, so it
must be a bare, portable name: no path, no control or bidi characters, nothing
Windows refuses, at most MAX_FILENAME_BYTES; never empty.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

from maildesk.core.message.limits import MAX_FILENAME_BYTES
from maildesk.core.message.text import _scrub

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
