"""Signed links in customer mail: a ticket's status page and its satisfaction form.

Where it sits in the flow: `outbound.compose` puts these links in the
acknowledgement and in later customer mail; the web view (`/t/...`) checks the
token with `verify_token` and answers 404 to anything else. The token is an
HMAC of the ticket number under the desk's secret key: unguessable, and
nothing to store.

Pure: values in, strings out.
"""

from __future__ import annotations

import hashlib
import hmac

TOKEN_HEX_LENGTH = 32  # 128 bits


def ticket_token(secret: bytes, number: int) -> str:
    digest = hmac.new(secret, f"ticket-link:{number}".encode(), hashlib.sha256).hexdigest()
    return digest[:TOKEN_HEX_LENGTH]


def verify_token(secret: bytes, number: int, token: str) -> bool:
    return hmac.compare_digest(ticket_token(secret, number), token.strip().lower())


def status_url(base_url: str, label: str, number: int, secret: bytes) -> str:
    """`https://help.example.com/t/SUP-00042/<token>`"""
    return f"{base_url.rstrip('/')}/t/{label}/{ticket_token(secret, number)}"


def satisfaction_url(base_url: str, label: str, number: int, secret: bytes) -> str:
    return status_url(base_url, label, number, secret) + "/rate"


def agent_url(base_url: str, label: str) -> str:
    """The ticket in the admin web view (needs a sign-in)."""
    return f"{base_url.rstrip('/')}/tickets/{label}"
