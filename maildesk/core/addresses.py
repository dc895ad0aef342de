"""E-mail addresses as values: what counts as one where a person types it, and
which address a per-address cap counts.

Where it sits: the one definition shared by everything that takes an address as
a value (the CLI's `maildesk agents add EMAIL`, the configuration's `[desk]
addresses`, routing rules' `recipient`/`sender`, `#assign`/`#cc` commands) and by
every cap that keys on an address (the pipeline's new tickets per sender, the
outbox's automatic mail per address, and their per-domain backstops). Addresses
in mail headers are parsed by `core.message`, which must take whatever arrives;
`plain_address` is the stricter check for what we accept from people: a dot-atom
local part (RFC 5322, at most 64 characters), `@`, and a domain of dot-separated
letters, digits and hyphens (international letters too), at most 254 characters
in all. No display name, no brackets, no spaces. Pure: strings in, strings out.
"""

from __future__ import annotations

import re

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*")
MAX_LOCAL = 64
MAX_ADDRESS = 254
SUBADDRESS_SEPARATOR = "+"  # RFC 5233 subaddressing, as Gmail, Fastmail, Postfix, Exim use it


def plain_address(value: str) -> str | None:
    """`value` (surrounding spaces ignored) as a lower-case address, or None when it
    is not a plain e-mail address."""
    address = value.strip().lower()
    local = address.rpartition("@")[0]
    if len(local) > MAX_LOCAL or len(address) > MAX_ADDRESS:
        return None
    return address if _ADDRESS.fullmatch(address) else None


def rate_key(address: str) -> str:
    """`address` lower-cased and without its +tag: "Robot+17@Example.COM" -> "robot@example.com".

    A local part that starts with "+" is kept whole (there is no base address to key on).
    An auto-responder answering from robot+1@, robot+2@, ... is so one sender to every cap.
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
