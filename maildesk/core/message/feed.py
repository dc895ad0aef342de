"""Feeding the stdlib parser: its policy, pre-parse limits, chunked input.

Where it sits in the flow: the first step of `parse_message` and
`header_message_id`.  The raw bytes are defused (header lines beyond
MAX_HEADER_LINES dropped, top-level fields over MAX_HEADER_FIELD cut in the
middle, over-long Content-Type/-Disposition fields cut, too many boundary
lines detected) and fed to the stdlib feed parser a chunk at a
time; the tree it builds is what `parts`, `headers` and `mime` read.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import Parser
from email.policy import Compat32

from maildesk.core.message.limits import (
    MAX_BOUNDARY_LINES,
    MAX_HEADER_FIELD,
    MAX_HEADER_LINES,
    MAX_STRUCTURED_HEADER,
)
from maildesk.core.message.notes import _Notes
from maildesk.core.message.text import _NEWLINE

# --------------------------------------------------------------------------
# Parser policy
# --------------------------------------------------------------------------


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


class _AsciiChunks:
    """Read-only text file over raw bytes, decoded a read at a time.

    Each byte becomes one character (ASCII, other bytes surrogate-escaped), so
    the text is exactly what `BytesParser.parsebytes` would see, and no chunk
    boundary can split a character.
    """

    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._pos = 0

    def read(self, size: int = -1) -> str:
        end = len(self._raw) if size is None or size < 0 else self._pos + size
        chunk = self._raw[self._pos : end]
        self._pos += len(chunk)
        return chunk.decode("ascii", "surrogateescape")


def _parse_bytes(raw: bytes, headersonly: bool = False) -> Message:
    """`BytesParser(policy=_POLICY).parsebytes(raw, headersonly)`, fed in chunks.

    Same feed parser, same 8 KB feeds as `parsebytes` makes, so the same tree;
    but the whole message never exists as one str (see the package notes).
    """
    return Parser(policy=_POLICY).parse(_AsciiChunks(raw), headersonly=headersonly)


# --------------------------------------------------------------------------
# Header section and limits applied before parsing
# --------------------------------------------------------------------------


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


def _cut_long_header_fields(raw: bytes, notes: _Notes | None) -> bytes:
    """Cut top-level header fields over MAX_HEADER_FIELD bytes down to their first and
    last halves of it (References keeps its root and its latest parents so).

    Everything read from a header costs time in proportion to its length: the
    parser, unfolding and decoding, then matching, storing and indexing it.
    """
    end = _header_section_end(raw)
    if end <= MAX_HEADER_FIELD:
        return raw
    section = raw[:end]
    starts = [0, *(m.end() for m in _FIELD_START.finditer(section)), end]
    half = MAX_HEADER_FIELD // 2
    pieces: list[bytes] = []
    cut = False
    for start, stop in zip(starts, starts[1:], strict=False):
        field = section[start:stop]
        if len(field) <= MAX_HEADER_FIELD:
            pieces.append(field)
            continue
        cut = True
        body = field.rstrip(b"\r\n")
        head = body[:half].rstrip(b"\r\n")
        tail = body[-half:].lstrip(b"\r\n")
        pieces.append(head + b" " + tail + field[len(body) :])
    if not cut:
        return raw
    if notes is not None:
        notes.add(f"header field over {MAX_HEADER_FIELD} bytes; its middle cut before parsing")
    return b"".join(pieces) + raw[end:]


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
