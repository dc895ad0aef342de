"""Which address a per-address cap counts, and its domain.

Where it sits in the flow: every cap that keys on an address uses `rate_key`
(the pipeline's new tickets per sender, the outbox's automatic mail per
address) and `domain_of` (their per-domain backstops). One definition, so an
auto-responder answering from robot+1@, robot+2@, ... is one sender to all of
them. Pure: strings in, strings out.
"""

from __future__ import annotations

SUBADDRESS_SEPARATOR = "+"  # RFC 5233 subaddressing, as Gmail, Fastmail, Postfix, Exim use it


def rate_key(address: str) -> str:
    """`address` lower-cased and without its +tag: "Robot+17@Example.COM" -> "robot@example.com".

    A local part that starts with "+" is kept whole (there is no base address to key on).
    """
    text = address.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    base = local.split(SUBADDRESS_SEPARATOR, 1)[0]
    return f"{base or local}@{domain}"


def domain_of(address: str) -> str:
    """The lower-cased domain of `address` ("" when it has none)."""
    local, at, domain = address.strip().lower().rpartition("@")
    return domain if at and local else ""
