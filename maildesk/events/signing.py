"""Signing per the Standard Webhooks specification (www.standardwebhooks.com).

A secret is `whsec_` and the base64 of 24 to 64 random bytes; the signed content is
`{webhook-id}.{webhook-timestamp}.{body}`; the signature is `v1,` and the base64 of
its HMAC-SHA256 under the secret's bytes. A receiver checks it with any
implementation of the specification, and refuses a timestamp far from its clock
(replays), and dedupes on `webhook-id` (the same for every attempt of one event).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
MIN_BYTES = 24
MAX_BYTES = 64
NEW_BYTES = 32


class SecretError(ValueError):
    """A secret that is not whsec_ + base64 of 24 to 64 bytes."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(NEW_BYTES)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The key a secret stands for (the `whsec_` prefix is optional, as in the spec)."""
    text = secret.strip()
    text = text[len(PREFIX) :] if text.startswith(PREFIX) else text
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("is not whsec_ followed by base64") from None
    if not MIN_BYTES <= len(key) <= MAX_BYTES:
        raise SecretError(
            f"holds {len(key)} bytes; a secret has {MIN_BYTES} to {MAX_BYTES} "
            "(`maildesk webhooks secret` makes one)"
        )
    return key


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers of one attempt."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, msg_id, timestamp, body),
    }
