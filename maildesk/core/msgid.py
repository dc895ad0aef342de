"""Our own signed Message-IDs: proof, in a reply's In-Reply-To/References, of the ticket.

Every mail maildesk sends carries `<SUP-00042.NONCE.SIG@domain>`, where SIG is
an HMAC of the ticket number and the nonce under the desk's secret key. A reply
quoting such an id is trusted to belong to that ticket whoever sends it; a bare
subject tag is not (see `core.match`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

SIGNATURE_HEX_LENGTH = 20  # 80 bits: forging one takes ~2**80 tries
_SIGNED_ID = re.compile(
    r"^<?[A-Za-z][A-Za-z0-9]*-0*(?P<number>\d{1,18})\.(?P<nonce>[a-z0-9]{6,32})"
    rf"\.(?P<sig>[0-9a-f]{{{SIGNATURE_HEX_LENGTH}}})@[^>]+>?$"
)


def _signature(secret: bytes, number: int, nonce: str) -> str:
    digest = hmac.new(secret, f"{number}.{nonce}".encode(), hashlib.sha256).hexdigest()
    return digest[:SIGNATURE_HEX_LENGTH]


def make_message_id(label: str, number: int, secret: bytes, domain: str, nonce: str = "") -> str:
    """A new signed Message-ID for mail about ticket `number` (`label` is SUP-00042)."""
    nonce = nonce or secrets.token_hex(8)
    return f"<{label}.{nonce}.{_signature(secret, number, nonce)}@{domain}>"


def verify_message_id(message_id: str, secret: bytes) -> int | None:
    """The ticket number a Message-ID was signed for, or None if it is not ours."""
    match = _SIGNED_ID.match(message_id.strip())
    if match is None:
        return None
    number = int(match["number"])
    expected = _signature(secret, number, match["nonce"])
    return number if hmac.compare_digest(expected, match["sig"]) else None
