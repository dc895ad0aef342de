"""Content-Transfer-Encoding decoding of a leaf part, without copying its payload.

Where it sits in the flow: called by the MIME walk (`mime`) for every leaf, and
by `parse` for the whole-body text fallback.  `_decode_payload` returns what
compat32's `get_payload(decode=True)` would (bytes and registered defects),
decoding base64 and quoted-printable straight from the parser's string.
"""

from __future__ import annotations

import base64
import binascii
import re
from email import errors as email_errors
from email.message import Message

_B64_DATA = re.compile(r"[A-Za-z0-9+/\r\n]*+")
_B64_PADDING = re.compile(r"[=\r\n]*+")
_B64_JUNK = re.compile(r"[^A-Za-z0-9+/=\r\n]")
_B64_LAST_DATA_CHAR = re.compile(rb"[A-Za-z0-9+/][^A-Za-z0-9+/]*+\Z")
_UUENCODE = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})

_Defects = list[email_errors.MessageDefect]


def _decode_base64(payload: str) -> tuple[bytes, _Defects]:
    """Base64 payload -> (bytes, defects) as compat32 decodes it, without copies.

    compat32 joins the payload's lines and hands them to the stdlib's
    `email._encoded_words.decode_b`: strict decoding (padding added if
    missing), else lenient decoding (junk characters skipped), else lenient
    with extra padding.  `binascii.a2b_base64` skips line breaks itself, so
    well-formed, truncated and junk-carrying payloads are decoded from the
    string as it is; only odd padding (which strict decoding judges slightly
    differently between Python versions) takes compat32's own, copying route.
    One difference: when one data character too many is left over (a length 1
    more than a multiple of 4), compat32 returns the base64 text undecoded;
    here that last character, which cannot make a byte, is dropped instead.
    """
    if not payload.isascii():  # 8-bit junk in it: strict decoding cannot succeed
        return _decode_base64_leniently(payload.encode("ascii", "surrogateescape"))
    found = _B64_DATA.match(payload)
    end = found.end() if found is not None else 0
    if _B64_PADDING.fullmatch(payload, end) is None:
        if _B64_JUNK.search(payload, end) is not None:  # strict decoding cannot succeed
            return _decode_base64_leniently(payload)
        return _decode_b(payload.encode("ascii").translate(None, b"\r\n"))
    data = end - payload.count("\n", 0, end) - payload.count("\r", 0, end)
    pads = payload.count("=", end)
    shape = (data % 4, pads)
    if shape in ((0, 0), (2, 2), (3, 1)):  # well-formed
        return binascii.a2b_base64(payload), []
    if shape in ((2, 0), (2, 1), (3, 0)):  # last group cut short: pad it
        padded = payload + "=" * (-(data + pads) % 4)
        return binascii.a2b_base64(padded), [email_errors.InvalidBase64PaddingDefect()]
    return _decode_b(payload.encode("ascii").translate(None, b"\r\n"))


def _decode_b(encoded: bytes) -> tuple[bytes, _Defects]:
    """`email._encoded_words.decode_b` (compat32's base64 decoding) on joined lines."""
    pad_err = len(encoded) % 4
    missing = b"==="[: 4 - pad_err] if pad_err else b""
    try:
        decoded = base64.b64decode(encoded + missing, validate=True)
    except binascii.Error:
        return _decode_base64_leniently(encoded)
    return decoded, [email_errors.InvalidBase64PaddingDefect()] if pad_err else []


def _decode_base64_leniently(data: str | bytes) -> tuple[bytes, _Defects]:
    """Base64 with junk characters skipped (`decode_b` once strict decoding failed)."""
    try:
        return binascii.a2b_base64(data), [email_errors.InvalidBase64CharactersDefect()]
    except binascii.Error:
        pass
    padded = data + "==" if isinstance(data, str) else data + b"=="
    try:
        decoded = binascii.a2b_base64(padded)
    except binascii.Error:
        pass
    else:
        return decoded, [
            email_errors.InvalidBase64CharactersDefect(),
            email_errors.InvalidBase64PaddingDefect(),
        ]
    del padded
    # Only a lone trailing data character (6 bits, no whole byte) still fails.
    encoded = data.encode("ascii") if isinstance(data, str) else data
    last = _B64_LAST_DATA_CHAR.search(encoded)
    try:
        if last is None:
            raise ValueError("no base64 data")
        recovered = binascii.a2b_base64(memoryview(encoded)[: last.start()])
    except (binascii.Error, ValueError):
        recovered = b"".join(encoded.splitlines())  # what compat32 returns
    return recovered, [email_errors.InvalidBase64LengthDefect()]


def _decode_payload(part: Message) -> bytes | None:
    """`part.get_payload(decode=True)` (compat32), minus its copies of the payload.

    Same bytes and the same defects registered on `part`, except for the
    base64 corner case described in `_decode_base64`; None for a multipart.
    Anything unusual (uuencode, a payload that is not a string) is left to
    compat32 itself.
    """
    if part.is_multipart():
        return None
    # The payload as parsed: `get_payload()` would hand out 8-bit data (surrogate
    # escapes) re-decoded with replacement characters, at the cost of two copies.
    payload = getattr(part, "_payload", None)
    cte = str(part.get("content-transfer-encoding", "")).lower()
    if not isinstance(payload, str) or cte in _UUENCODE:
        fallback = part.get_payload(decode=True)
        return fallback if isinstance(fallback, bytes) else None
    if cte == "base64":
        data, defects = _decode_base64(payload)
        for defect in defects:
            part.policy.handle_defect(part, defect)
        return data
    if payload.isascii():
        return binascii.a2b_qp(payload) if cte == "quoted-printable" else payload.encode("ascii")
    try:
        data = payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # not from the bytes parser; let compat32 sort it out
        fallback = part.get_payload(decode=True)
        return fallback if isinstance(fallback, bytes) else None
    return binascii.a2b_qp(data) if cte == "quoted-printable" else data
