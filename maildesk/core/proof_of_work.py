"""The /submit form's proof of work: a signed challenge the browser works on.

The form carries a challenge the server signed (a random nonce, when it was issued,
how many leading zero bits the work needs, and an HMAC over these with the desk's
secret key). A small script in the page finds a counter such that
SHA-256(challenge + counter) starts with that many zero bits; the server checks the
signature, the age and the work here, and that the challenge was not used before
(`web.pages.submit`, with the store). No IO: plain values in, a verdict out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

MAX_AGE_SECONDS = 30 * 60
COUNTER_DIGITS = 12  # a counter longer than this is not a browser's work


@dataclass(frozen=True)
class Challenge:
    """A challenge as the form carries it: `text` is what the work hashes."""

    nonce: str
    issued: int  # seconds since the epoch
    bits: int

    @property
    def text(self) -> str:
        return f"{self.nonce}.{self.issued}.{self.bits}"


class WorkRefused(ValueError):
    """Why a post's proof of work is not taken (the message is for the person)."""


MISSING = (
    "This form needs a short check by your browser before it is sent. "
    "Please allow JavaScript for this page, or write to us by mail."
)
FORGED = "The form's browser check is not valid. Please reload the page and send it again."
EXPIRED = "The form was open too long for its browser check. Please send it again."
UNFINISHED = "The form's browser check was not finished. Please wait a moment and send it again."
REUSED = "This form was already sent once. Please send it again from a fresh page."


def _mac(secret: bytes, text: str) -> str:
    return hmac.new(secret, f"pow:{text}".encode(), hashlib.sha256).hexdigest()


def issue(secret: bytes, now: int, bits: int) -> str:
    """A new signed challenge, as the form's hidden field holds it."""
    challenge = Challenge(secrets.token_hex(16), now, bits)
    return f"{challenge.text}.{_mac(secret, challenge.text)}"


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def work_done(challenge_text: str, counter: str) -> int:
    """How many leading zero bits SHA-256(challenge + counter) has."""
    return leading_zero_bits(hashlib.sha256(f"{challenge_text}{counter}".encode()).digest())


def solve(signed: str) -> str:
    """The smallest counter for a signed challenge (what the form's script does; tests
    and scripted clients use it)."""
    nonce, issued, bits, _ = signed.split(".")
    text = f"{nonce}.{issued}.{bits}"
    counter = 0
    while work_done(text, str(counter)) < int(bits):
        counter += 1
    return str(counter)


def verify(secret: bytes, signed: str, counter: str, now: int, bits: int) -> Challenge:
    """The challenge of a post whose work is good; else `WorkRefused` saying why. The
    difficulty asked is the one signed, but never less than `bits` (the setting now)."""
    if not signed or not counter:
        raise WorkRefused(MISSING)
    parts = signed.split(".")
    if len(parts) != 4 or not all(p.isascii() for p in parts):
        raise WorkRefused(FORGED)
    nonce, issued, asked, mac = parts
    if not (issued.isdigit() and asked.isdigit() and len(asked) <= 3):
        raise WorkRefused(FORGED)
    challenge = Challenge(nonce, int(issued), int(asked))
    if not hmac.compare_digest(mac, _mac(secret, challenge.text)):
        raise WorkRefused(FORGED)
    if not 0 <= now - challenge.issued <= MAX_AGE_SECONDS:
        raise WorkRefused(EXPIRED)
    if not (counter.isdigit() and counter.isascii() and len(counter) <= COUNTER_DIGITS):
        raise WorkRefused(UNFINISHED)
    if work_done(challenge.text, counter) < max(challenge.bits, bits):
        raise WorkRefused(UNFINISHED)
    return challenge
