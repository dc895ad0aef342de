"""Signed reply addresses: proof, in a reply's recipients, that an agent holds a notification.

Where it sits in the flow: `outbound.compose` puts one in the `Reply-To` of
every mail maildesk sends an agent about a ticket, a subaddress of the desk
address the mail went out from: `support+r-42-7-<sig>@example.com`, where 42 is
the ticket number, 7 the agent's id and SIG an HMAC of both under the desk's
secret key. Only that agent's mailbox ever received it, so mail from that
agent's address sent to it is the agent's (design invariant 5) without any
DMARC result; the pipeline reads it back with `read_reply_address` from the
envelope recipients, To and Cc. The way large sites do reply-by-email.

The token is lower-case letters, digits and dashes only, since some MTAs
lower-case local parts: the signature is base32 (16 characters, 80 bits, the
strength of our signed Message-IDs), compared case-insensitively. The listener
accepts any `local+anything@` of our addresses (as Postfix's
`recipient_delimiter = +` does), so `is_our_address` says which addresses are
ours with or without a subaddress.

Pure: values in, values out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

DELIMITER = "+"
SIGNATURE_LENGTH = 16  # base32 characters: 80 bits
_TAG = re.compile(
    rf"r-(?P<number>[1-9][0-9]{{0,17}})-(?P<agent>[1-9][0-9]{{0,17}})"
    rf"-(?P<sig>[a-z2-7]{{{SIGNATURE_LENGTH}}})"
)


@dataclass(frozen=True)
class ReplyToken:
    """What a valid signed reply address names: one ticket and one agent."""

    number: int
    agent_id: int


def _signature(secret: bytes, number: int, agent_id: int) -> str:
    digest = hmac.new(secret, f"reply-address:{number}:{agent_id}".encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()).decode("ascii").lower()[:SIGNATURE_LENGTH]


def reply_address(desk_address: str, number: int, agent_id: int, secret: bytes) -> str:
    """The signed reply address of `agent_id` for ticket `number`, under `desk_address`."""
    local, _, domain = desk_address.rpartition("@")
    tag = f"r-{number}-{agent_id}-{_signature(secret, number, agent_id)}"
    return f"{local}{DELIMITER}{tag}@{domain}"


def is_our_address(address: str, ours: Collection[str]) -> bool:
    """Whether `address` is one of `ours` (lower-cased), or a `local+anything@`
    subaddress of one."""
    return base_address(address, ours) is not None


def base_address(address: str, ours: Collection[str]) -> str | None:
    """Which of `ours` `address` is, itself or by a subaddress; None if none.

    Every `+` is tried, so a desk address that has one itself (`help+desk@`) still
    has its own subaddresses."""
    address = address.strip().lower()
    if address in ours:
        return address
    local, at, domain = address.rpartition("@")
    if not at:
        return None
    for index, char in enumerate(local):
        if char == DELIMITER and f"{local[:index]}@{domain}" in ours:
            return f"{local[:index]}@{domain}"
    return None


def read_reply_address(address: str, ours: Collection[str], secret: bytes) -> ReplyToken | None:
    """The ticket and agent a signed reply address names; None if `address` is not
    one of ours with a valid signature."""
    base = base_address(address, ours)
    if base is None:
        return None
    local = address.strip().lower().rpartition("@")[0]
    tag = local[len(base.rpartition("@")[0]) + 1 :]
    match = _TAG.fullmatch(tag)
    if match is None:
        return None
    number, agent_id = int(match["number"]), int(match["agent"])
    if not hmac.compare_digest(_signature(secret, number, agent_id), match["sig"]):
        return None
    return ReplyToken(number, agent_id)


def reply_tokens(
    addresses: Iterable[str], ours: Collection[str], secret: bytes
) -> list[ReplyToken]:
    """The valid signed reply addresses among `addresses`, in order, once each."""
    found = (read_reply_address(address, ours, secret) for address in addresses)
    return list(dict.fromkeys(token for token in found if token is not None))
