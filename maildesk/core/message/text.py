"""Text primitives every step shares: line breaks and surrogate scrubbing.

Where it sits in the flow: at the bottom of `maildesk.core.message`, imported
by the other modules and importing none of them.  `_scrub` is the last step
before text leaves the package: no lone surrogate (the parser's stand-in for
undecodable bytes) may reach the database.
"""

from __future__ import annotations

import re

_NEWLINE = re.compile(r"\r\n|\r|\n")
_SURROGATES = re.compile("[\ud800-\udfff]")


_SCRUB_CHUNK = 1 << 20


def _scrub(text: str) -> str:
    """Replace every surrogate code point (they cannot be stored) with U+FFFD."""
    if text.isascii():
        return text
    try:
        # Encoding is the fastest test; a big text is tested a slice at a time,
        # since the encoder reserves up to 4 bytes per character.
        for start in range(0, len(text), _SCRUB_CHUNK):
            text[start : start + _SCRUB_CHUNK].encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text
