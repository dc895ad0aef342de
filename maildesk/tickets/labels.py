"""Ticket labels: what a ticket is called (`IT-00007`), and which ticket a label names.

A label is the ticket's desk prefix and its `seq`. With one number sequence for every
desk (`[tickets] numbering = "shared"`, the default) `seq` is the ticket's `number`;
with one sequence per desk (`"desk"`) each desk counts its own, so `IT-00001` and
`HR-00001` are two tickets. `number` stays the identity inside maildesk (signed
Message-IDs, reply addresses); people only ever see and write labels.

Reading a label (a subject tag, `#merge HR-12`, a URL, the CLI, the API): the ticket
of that desk showing that number. With shared numbering a label with another desk's
prefix still names the ticket of that number, as it always did, and bare digits are
the number; with desk numbering bare digits are the default desk's.
"""

from __future__ import annotations

from collections.abc import Iterable

import peewee

from maildesk.core.match import TicketLabel, parse_label
from maildesk.settings.desks import Desks, Scope
from maildesk.store import repo
from maildesk.store.models import Ticket


class Labels:
    def __init__(self, desks: Desks, per_desk: bool) -> None:
        self.desks = desks
        self.per_desk = per_desk
        self._by_prefix = {desk.prefix: desk for desk in desks.all}

    def of(self, ticket: Ticket) -> str:
        """`SUP-00042`: the ticket's desk prefix and the number it shows."""
        return self.desks.get(ticket.desk).label(ticket.seq)

    def of_number(self, number: int) -> str:
        """The label of the ticket of this number (its desk and seq looked up)."""
        row = Ticket.select(Ticket.desk, Ticket.seq).where(Ticket.number == number).first()
        return self.desks.default.label(number) if row is None else self.of(row)

    def seq_for(self, db: peewee.Database, slug: str, number: int) -> int:
        """The number a new ticket of desk `slug` (given `number`) shows."""
        if not self.per_desk:
            return number
        return repo.next_desk_seq(db, slug, self._stored(slug))

    def find(self, text: str) -> int | None:
        """The number of the ticket a label as written names (None: not a label, or
        no such ticket where the label says)."""
        label = parse_label(self.desks.prefixes, text)
        if label is None:
            return None
        return next(iter(self.numbers([label])), None)

    def numbers(self, labels: Iterable[TicketLabel], home: str | None = None) -> list[int]:
        """The numbers of the tickets these labels name, in order, without repeats.
        With shared numbering a label naming no ticket of its desk is taken for the
        number (the caller finds out whether that ticket exists). `home`: the desk
        bare digits are counted in with desk numbering (default: the default desk)."""
        found: list[int] = []
        for label in labels:
            number = self._number(label, home)
            if number is not None and number not in found:
                found.append(number)
        return found

    def written(self, label: TicketLabel, home: str | None = None) -> str:
        """The label in its desk's spelling, as the person meant it."""
        if label.prefix is not None:
            return self._by_prefix[label.prefix].label(label.number)
        return self.desks.get(home).label(label.number)

    def _number(self, label: TicketLabel, home: str | None) -> int | None:
        if label.prefix is None and not self.per_desk:
            return label.number
        desk = self._by_prefix.get(label.prefix or "", self.desks.get(home))
        query = Ticket.select(Ticket.number).where(
            Ticket.desk.in_(self._stored(desk.slug)) & (Ticket.seq == label.number)
        )
        number = query.scalar()
        if number is None and not self.per_desk:
            return label.number
        return None if number is None else int(number)

    def _stored(self, slug: str) -> tuple[str, ...]:
        stored = Scope((slug,), self.desks.default.slug).stored
        assert stored is not None  # a scope of named desks
        return stored
