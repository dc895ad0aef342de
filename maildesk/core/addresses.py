"""What counts as an e-mail address where a person types one.

Where it sits: the one definition shared by everything that takes an address
as a value: the CLI (`maildesk agents add EMAIL`), the configuration (`[desk]
addresses`), routing rules (`recipient`, `sender`) and `#assign`/`#cc`
commands. Addresses in mail headers are parsed by `core.message`, which must
take whatever arrives; this is the stricter check for what we accept from
people: a dot-atom local part (RFC 5322, at most 64 characters), `@`, and a
domain of dot-separated letters, digits and hyphens (international letters
too), at most 254 characters in all. No display name, no brackets, no spaces.
"""

from __future__ import annotations

import re

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*")
MAX_LOCAL = 64
MAX_ADDRESS = 254


def plain_address(value: str) -> str | None:
    """`value` (surrounding spaces ignored) as a lower-case address, or None when it
    is not a plain e-mail address."""
    address = value.strip().lower()
    local = address.rpartition("@")[0]
    if len(local) > MAX_LOCAL or len(address) > MAX_ADDRESS:
        return None
    return address if _ADDRESS.fullmatch(address) else None
