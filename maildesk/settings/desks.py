"""The desks of one instance, as the configuration declares them.

A desk is a brand of the helpdesk: its own name, addresses, ticket prefix, web
address, templates and signature. `[[desks]]` declares several; without any, the
`[desk]` table is the one desk (slug `default`). The first desk is the default desk:
it takes mail that came to none of the desks' addresses, and the tickets from before
there were desks.

Every ticket names its desk (`ticket.desk`, a slug); everything maildesk says about a
ticket (its label, the mail it sends, the links in it) comes from that desk. A slug
that is no longer configured falls back to the default desk, so an old ticket keeps a
label and an address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from maildesk.core.match import format_number, parse_number
from maildesk.core.reply_address import base_address

if TYPE_CHECKING:
    from maildesk.settings.sections import Config

DEFAULT_SLUG = "default"


@dataclass(frozen=True)
class DeskProfile:
    """One desk's identity (what its mail and pages show)."""

    slug: str
    name: str
    prefix: str
    addresses: tuple[str, ...]  # lower-case; the first is the desk's sending address
    base_url: str
    templates: str  # folder of its own templates; empty: [outbound] templates
    signature: str

    @property
    def address(self) -> str:
        return self.addresses[0]

    def label(self, seq: int) -> str:
        """`SUP-00042`: a ticket's label from the number it shows (`ticket.seq`)."""
        return format_number(self.prefix, seq)


@dataclass(frozen=True)
class Scope:
    """Which tickets a view or report covers: those of the desks `slugs` (a manager's
    desks, or those an admin chose; None: every desk) whose category is one of
    `categories` (an agent limited to some, names as configured; None: any category,
    and tickets without one). `default`: the default desk, which agents without any
    desk work."""

    slugs: tuple[str, ...] | None
    default: str
    categories: tuple[str, ...] | None = None

    @property
    def stored(self) -> tuple[str, ...] | None:
        """The `ticket.desk` values of its tickets (None: any): a ticket from before
        there were desks (no slug yet) is the default desk's."""
        if self.slugs is None:
            return None
        return (*self.slugs, "") if self.default in self.slugs else self.slugs or ("",)

    def has_desk(self, slug: str) -> bool:
        """Whether the scope covers (some of) the tickets of the desk `slug`."""
        return self.slugs is None or slug in self.slugs

    def covers(self, desk: str, category: str | None) -> bool:
        """Whether a ticket of this desk (`ticket.desk`) and category is in the scope;
        categories compare regardless of case, as the policies compare them."""
        stored = self.stored
        return (stored is None or desk in stored) and self.has_category(category)

    def has_category(self, category: str | None) -> bool:
        """Whether tickets of this category (None: none) are in the scope, regardless
        of case, as the policies compare categories."""
        if self.categories is None:
            return True
        return (category or "").lower() in {name.lower() for name in self.categories}


class Desks:
    """The configured desks, by slug and by address."""

    def __init__(self, profiles: Sequence[DeskProfile]) -> None:
        assert profiles, "an instance has at least one desk"
        self.all: tuple[DeskProfile, ...] = tuple(profiles)
        self.default = self.all[0]
        self._by_slug = {p.slug: p for p in self.all}
        self._by_address = {a: p for p in self.all for a in p.addresses}
        self.our_addresses = frozenset(self._by_address)
        self.prefixes: tuple[str, ...] = tuple(p.prefix for p in self.all)
        self.slugs: tuple[str, ...] = tuple(self._by_slug)

    @classmethod
    def from_config(cls, config: Config) -> Desks:
        desk = config.desk
        if not config.desks:
            return cls(
                [
                    DeskProfile(
                        slug=DEFAULT_SLUG,
                        name=desk.name,
                        prefix=desk.ticket_prefix,
                        addresses=tuple(a.lower() for a in desk.addresses),
                        base_url=desk.base_url,
                        templates=config.outbound.templates,
                        signature="",
                    )
                ]
            )
        return cls(
            [
                DeskProfile(
                    slug=entry.slug,
                    name=entry.name,
                    prefix=entry.ticket_prefix,
                    addresses=tuple(a.lower() for a in entry.addresses),
                    base_url=entry.base_url or desk.base_url,
                    templates=entry.templates or config.outbound.templates,
                    signature=entry.signature,
                )
                for entry in config.desks
            ]
        )

    @property
    def several(self) -> bool:
        return len(self.all) > 1

    def get(self, slug: str | None) -> DeskProfile:
        """The desk of this slug; the default desk for an unknown or empty one."""
        return self._by_slug.get(slug or "", self.default)

    def known(self, slug: str) -> bool:
        return slug in self._by_slug

    def of_address(self, address: str) -> DeskProfile | None:
        """The desk one of our addresses (or a subaddress of one) belongs to."""
        base = base_address(address.lower(), self.our_addresses)
        return None if base is None else self._by_address.get(base)

    def for_mail(self, envelope: Iterable[str], visible: Iterable[str]) -> DeskProfile:
        """The desk a new message is for: the first envelope recipient that is a desk's
        address, else the first such address in To and Cc, else the default desk."""
        for group in (envelope, visible):
            for address in group:
                desk = self.of_address(address)
                if desk is not None:
                    return desk
        return self.default

    def scope(
        self, slugs: Iterable[str] | None, categories: Iterable[str] | None = None
    ) -> Scope | None:
        """The scope of these desks (None: every desk) and categories (None: any);
        None for every ticket (nothing to filter on)."""
        chosen = None if slugs is None else tuple(sorted(set(slugs)))
        if chosen is not None and set(chosen) >= set(self.slugs):
            chosen = None
        limited = None if categories is None else tuple(sorted(set(categories), key=str.lower))
        if chosen is None and limited is None:
            return None
        return Scope(chosen, self.default.slug, limited)

    def label(self, slug: str | None, seq: int) -> str:
        return self.get(slug).label(seq)

    def read_label(self, text: str) -> str | None:
        """`bil-42` -> `BIL-00042`: a label as written, in its desk's spelling (bare
        digits: the default desk's); None when it is not a label of ours."""
        text = text.strip()
        desks = self.all if not text.isdigit() else (self.default,)
        for desk in desks:
            number = parse_number(desk.prefix, text)
            if number is not None:
                return desk.label(number)
        return None
