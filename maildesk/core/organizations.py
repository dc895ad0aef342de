"""Which organization a person belongs to, as values: mail domains and their owners.

Where it sits: `tickets.contacts` (agents' and operators' changes to contacts and
organizations) and `store.repo.contact_for` (a new address's organization when it first
writes) decide membership with these functions. A person is one or more addresses
(`store.models.Contact` rows merged into one); they belong to the organization an agent
set for them, else to the one owning the most specific domain of their addresses,
primary address first: with `acme.test` and `eu.acme.test` owned by two organizations,
ann@eu.acme.test belongs to the second, bob@us.acme.test to the first.

Domains are checked as the domain of an address (`core.addresses`, email-validator,
syntax only). Pure: strings in, decisions out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from maildesk.core.addresses import domain_of, plain_address

NO_ORGANIZATION = "none"  # `--org none`: explicitly in no organization
BY_DOMAIN = "auto"  # `--org auto`: back to membership by mail domain
RESERVED_NAMES = frozenset({NO_ORGANIZATION, BY_DOMAIN})
MAX_NAME = 200


def mail_domain(value: str) -> str | None:
    """`value` as a lower-case mail domain ("Acme.TEST." -> "acme.test"), or None when no
    address could be at it."""
    text = value.strip().lower().rstrip(".")
    if not text or "@" in text:
        return None
    address = plain_address(f"postmaster@{text}")
    return None if address is None else domain_of(address)


def domain_candidates(domain: str) -> list[str]:
    """`domain` and the domains above it that could own it, most specific first:
    "a.eu.acme.test" -> ["a.eu.acme.test", "eu.acme.test", "acme.test"] (never a bare
    top-level domain)."""
    labels = domain.strip().lower().split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1) if labels[i]]


def organization_by_domain(addresses: Iterable[str], owners: Mapping[str, int]) -> int | None:
    """The organization (by id) owning the most specific domain of the first address
    that has one, `owners` mapping domains to organizations; None when none does."""
    for address in addresses:
        for candidate in domain_candidates(domain_of(address)):
            owner = owners.get(candidate)
            if owner is not None:
                return owner
    return None


def organization_name(value: str) -> str | None:
    """`value` as an organization's name (spaces collapsed), or None when it cannot be
    one: empty, too long, not printable, all digits (that is an organization's id), or
    a word `--org` reserves."""
    name = " ".join(value.split())
    if not name or len(name) > MAX_NAME or not name.isprintable() or name.isdigit():
        return None
    return None if name.casefold() in RESERVED_NAMES else name


def name_key(name: str) -> str:
    """What two names that differ only in case or spacing have in common."""
    return " ".join(name.split()).casefold()
