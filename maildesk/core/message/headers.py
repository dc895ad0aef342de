"""Header values -> text, message-ids, addresses and dates.

Where it sits in the flow: after the parser (`feed`) has split the header
fields, before `parse` assembles the `ParsedMessage` (and under `parts`, which
reads MIME fields).  Raw values (8-bit bytes still surrogate-escaped) are
unfolded, RFC 2047 encoded words decoded with the rules of `charsets`, and
structured fields parsed leniently: what cannot be parsed is salvaged or
dropped and noted, never raised.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email import utils as email_utils

from maildesk.core.message.charsets import _decode_bytes, _from_wire, _repair_c1
from maildesk.core.message.limits import (
    MAX_ADDRESS,
    MAX_ADDRESSES,
    MAX_MESSAGE_IDS,
    MAX_NAME,
    MAX_STRUCTURED_HEADER,
)
from maildesk.core.message.notes import _Notes
from maildesk.core.message.text import _NEWLINE, _scrub
from maildesk.core.message.values import Address

_CONTROL_EXCEPT_TAB = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


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

    Over MAX_STRUCTURED_HEADER characters, or MAX_MESSAGE_IDS ids, the middle is
    dropped: the first id (thread root) and the last ones (direct parents) matter
    for threading.
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
    if len(found) > MAX_MESSAGE_IDS:
        notes.add(f"{what} holds more than {MAX_MESSAGE_IDS} message-ids; middle dropped")
        found = [found[0], *found[-(MAX_MESSAGE_IDS - 1) :]]
    return tuple(found)


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
    if len(addr) > MAX_ADDRESS or _ADDR_SPEC.fullmatch(addr) is None:
        return None
    local, _, domain = addr.rpartition("@")
    # `example.com.` is `example.com` written as an absolute DNS name: the same mailbox.
    domain = domain.rstrip(".")
    if not domain:
        return None
    display = _decode_encoded_words(name[: MAX_NAME * 8], notes, what)  # 8: encoded words
    display = _CONTROL_EXCEPT_TAB.sub("", _repair_c1(display)).strip()[:MAX_NAME].strip()
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
    if len(found) > MAX_ADDRESSES:
        notes.add(f"{what} holds more than {MAX_ADDRESSES} addresses; the rest dropped")
        found = found[:MAX_ADDRESSES]
    return tuple(found)


def parse_address(text: str) -> Address | None:
    """The one mailbox `text` names, read as a From header is (comments, quoted names,
    `Name <addr>`, case and a trailing dot in the domain); None unless exactly one.

    Anything that claims an identity outside mail (the web form, the API) is read
    with this, so it is compared with agents and desk addresses as mail would be."""
    if not text.strip() or len(text) > MAX_STRUCTURED_HEADER:
        return None
    found = _parse_addresses([text], _Notes(), "address")
    return found[0] if len(found) == 1 else None


# What a person may type for their own address: a bare addr-spec, `Name <addr>`, or
# `addr` with a (comment) before or after; the addr-spec is captured to compare with
# what the parser read.
_TYPED_FORM = re.compile(
    r"\s*(?:[^<>]*<\s*(?P<angled>[^<>\s]+)\s*>"
    r"|(?:\([^()]*\)\s*)?(?P<bare>[^\s()<>]+)(?:\s*\([^()]*\))?)\s*"
)


def parse_typed_address(text: str) -> Address | None:
    """`parse_address` for an address a person typed into a form or an API field: the
    same reading (so `bob@example.com(x)` is Bob), but only when nothing of what was
    typed is dropped on the way: "a b@example.com" or "a@b@c" is a typing error to
    refuse, not a different mailbox to write to."""
    address = parse_address(text)
    if address is None:
        return None
    form = _TYPED_FORM.fullmatch(text)
    if form is None:
        return None
    typed = form["angled"] or form["bare"]
    local, _, domain = typed.rpartition("@")
    same = f"{local}@{domain.rstrip('.').lower()}" == address.email
    return address if same else None


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
