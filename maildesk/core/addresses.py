"""E-mail addresses as values: what counts as one where a person types it, and
which address a per-address cap counts.

Where it sits: the one definition shared by everything that takes an address as
a value (the CLI's `maildesk agents add EMAIL`, the configuration's `[desk]
addresses`, routing rules' `recipient`/`sender`, `#assign`/`#cc` commands) and by
every cap that keys on an address (the pipeline's new tickets per sender, the
outbox's automatic mail per address, and their per-domain backstops). Addresses
in mail headers are parsed by `core.message`, which must take whatever arrives.
What we accept from people is checked here, by email-validator (syntax only: no
DNS, ever): `plain_address` takes a dot-atom local part of at most 64 ASCII
characters, `@`, and a domain of letters, digits and hyphens (international
letters too), without a display name, brackets or spaces; `deliverable_address`
also wants a domain with a dot and a top-level domain, for what customers type
on the public form (where "ann@gmail" is a typing error to point out). Reserved
names (RFC 6761 `.localhost`, `.local`, `.invalid`, `.onion`, `.arpa`) cannot
receive mail and are refused; `.test` is kept for staging desks.
`is_bare_address` is the lighter test of what may stand in a header as it is.
Pure: strings in, strings out.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

MAX_LOCAL = 64
MAX_ADDRESS = 254
SUBADDRESS_SEPARATOR = "+"  # RFC 5233 subaddressing, as Gmail, Fastmail, Postfix, Exim use it


# Characters that cannot stand unquoted in a header's addr-spec (RFC 5322 specials
# and white space); mail parsed from outside may still carry them (`core.message`).
_BARE = re.compile(r'[^\s<>()\[\],;:"@\\]+@[^\s<>()\[\],;:"@\\]+')


def plain_address(value: str) -> str | None:
    """`value` (surrounding spaces ignored) as a lower-case address, or None when it
    is not a plain e-mail address."""
    return _checked(value, deliverable=False)


def deliverable_address(value: str) -> str | None:
    """`plain_address`, and only with a domain the public DNS could have: a dot and a
    top-level domain ("ann@gmail" is refused)."""
    return _checked(value, deliverable=True)


def is_bare_address(value: str) -> bool:
    """Whether `value` is one `local@domain`, both sides present, with nothing in it
    that a header would read as structure (white space, brackets, quotes, commas)."""
    return _BARE.fullmatch(value) is not None


def _checked(value: str, deliverable: bool) -> str | None:
    address = value.strip().lower()
    if len(address.rpartition("@")[0]) > MAX_LOCAL or len(address) > MAX_ADDRESS:
        return None
    try:
        validate_email(
            address,
            check_deliverability=False,  # syntax only: never a DNS query
            globally_deliverable=deliverable,
            test_environment=True,  # allows the reserved `.test` names (and no DNS)
            allow_smtputf8=False,  # we do not send SMTPUTF8 (`core.outgoing`)
        )
    except EmailNotValidError:
        return None
    return address


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
