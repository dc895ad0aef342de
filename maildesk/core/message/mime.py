"""Walking the parsed MIME tree: choosing the bodies, collecting attachments.

Where it sits in the flow: after `feed` built the tree, before `parse`
assembles the `ParsedMessage`.  `_Walker` goes depth first, keeps the first
text/plain and text/html body, turns every other leaf (and each enclosed
message, re-serialised as .eml) into an `Attachment`, and releases each part's
payload as soon as it is decoded.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from email.generator import BytesGenerator
from email.message import Message

from maildesk.core.message.charsets import _decode_bytes
from maildesk.core.message.feed import _POLICY
from maildesk.core.message.filenames import sanitize_filename
from maildesk.core.message.headers import _header_text
from maildesk.core.message.limits import MAX_BODY_CHARS, MAX_DEPTH
from maildesk.core.message.notes import _describe_defect, _Notes
from maildesk.core.message.parts import (
    _content_id,
    _content_type,
    _disposition,
    _first_raw,
    _get_param,
    _raw_filename,
)
from maildesk.core.message.payload import _decode_payload
from maildesk.core.message.text import _NEWLINE, _scrub
from maildesk.core.message.values import Attachment

CLIPPED_TEXT = (
    f"\n\n[Message clipped: its text is longer than {MAX_BODY_CHARS:,} characters. "
    "The original message holds all of it.]"
)
CLIPPED_HTML = f"\n<p>{CLIPPED_TEXT.strip()}</p>"


def _clipped(body: str, notes: _Notes, what: str, marker: str) -> str:
    """`body` up to MAX_BODY_CHARS (cut at a line break near there), with `marker`."""
    if len(body) <= MAX_BODY_CHARS:
        return body
    end = body.rfind("\n", MAX_BODY_CHARS // 2, MAX_BODY_CHARS)
    notes.add(f"{what} longer than {MAX_BODY_CHARS:,} characters; clipped")
    return body[: end if end > 0 else MAX_BODY_CHARS].rstrip() + marker


def _clean_body(text: str) -> str:
    text = text.replace("\x00", "")
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:  # what _NEWLINE.sub("\n", text) does, without a list of every line
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _scrub(text)


def _release_payload(part: Message) -> None:
    """Drop a part's payload once it has been decoded (it can be as big as the message)."""
    part.set_payload("")


_WRITE_CHUNK = 64 * 1024


class _Generator(BytesGenerator):
    """`BytesGenerator` that writes a big payload without a list of all its lines.

    The stock `_write_lines` splits the whole text into lines first (one
    object per line: 1.6 times a base64 payload), then writes them with the
    line separator; this writes the same bytes a slice of whole lines at a time.
    """

    def _write_lines(self, lines: str) -> None:
        if not lines:
            return
        linesep = str(getattr(self, "_NL", "\n"))  # set by flatten(): the policy linesep
        start = 0
        while start < len(lines):
            cut = lines.find("\n", start + _WRITE_CHUNK)
            end = len(lines) if cut < 0 else cut + 1
            self.write(_NEWLINE.sub(linesep, lines[start:end]))
            start = end


def _serialize(message: Message) -> bytes:
    buffer = io.BytesIO()
    _Generator(buffer, mangle_from_=False, policy=_POLICY).flatten(message, unixfrom=False)
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
        _release_payload(part)  # the enclosed tree is not needed any more
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
        """The decoded payload of a leaf; the part's own copy is released."""
        try:
            data = _decode_payload(part)
        except Exception as exc:
            self.notes.add(f"{where}: payload could not be decoded ({type(exc).__name__})")
            raw = part.get_payload()
            _release_payload(part)
            return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
        _release_payload(part)
        for defect in getattr(part, "defects", ()) or ():
            self.notes.add(f"{where}: {_describe_defect(defect)}")
        return data if data is not None else b""

    def _leaf(self, part: Message, ctype: str, where: str, parent: str) -> None:
        body_type = ctype
        if ctype.startswith("multipart/"):
            self.notes.add(f"{where}: {ctype} without usable parts; body treated as text")
            body_type = "text/plain"
        if body_type in ("text/plain", "text/html") and self._is_body_candidate(part):
            if body_type == "text/plain" and self.text is None:
                self.text = self._text_of(part, where, CLIPPED_TEXT)
                return
            if body_type == "text/html" and self.html is None:
                self.html = self._text_of(part, where, CLIPPED_HTML)
                return
        self._attachment(part, ctype, where, parent)

    def _text_of(self, part: Message, where: str, clipped: str) -> str:
        """The part's text, clipped (with the `clipped` line) beyond MAX_BODY_CHARS."""
        data = self._payload_bytes(part, where)
        charset = _get_param(part, "content-type", "charset", self.notes)
        text = _decode_bytes(data, charset, self.notes, f"{where} body")
        del data  # not needed beside the text and its cleaned copy
        return _clean_body(_clipped(text, self.notes, f"{where} body", clipped))

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
