"""Who has a ticket open, and who is writing a reply to it: "Ann is viewing",
"Bob is replying", shown on the ticket page to the other agents.

A board of marks that expire on their own: an open ticket page renews its agent's
"viewing" mark while its live stream lasts (`events.live`), the reply box renews
"replying" while the agent types (a small post from the page). A page that goes
away without a word (a closed laptop, a crashed instance) is forgotten when its
marks run out. Times are this process's monotonic clock; instances tell each other
how long a mark lasts, never when (their clocks need not agree).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

STATES = ("viewing", "replying")


@dataclass
class _Mark:
    name: str
    viewing_until: float = 0.0
    replying_until: float = 0.0

    def state(self, now: float) -> str | None:
        """What the mark shows now: replying wins over viewing; None once both ran out."""
        if self.replying_until > now:
            return "replying"
        if self.viewing_until > now:
            return "viewing"
        return None


@dataclass(frozen=True)
class Present:
    """One agent on one ticket, as the page shows them."""

    agent_id: int
    name: str
    state: str  # viewing | replying


class Board:
    """The marks of one process, by ticket and agent. Used on the event loop only."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._marks: dict[int, dict[int, _Mark]] = {}
        self._shown: dict[int, tuple[Present, ...]] = {}  # as last told to the pages

    def mark(self, ticket_id: int, agent_id: int, name: str, state: str, seconds: float) -> bool:
        """`agent_id` is `state` on the ticket for `seconds` more; whether what the
        ticket shows changed."""
        if state not in STATES:
            raise ValueError(f"unknown presence state {state!r}")
        entry = self._marks.setdefault(ticket_id, {}).setdefault(agent_id, _Mark(name))
        entry.name = name
        until = self._clock() + seconds
        if state == "replying":
            entry.replying_until = max(entry.replying_until, until)
        else:
            entry.viewing_until = max(entry.viewing_until, until)
        return self._changed(ticket_id)

    def leave(self, ticket_id: int, agent_id: int) -> bool:
        """The agent's page of the ticket went away; whether what it shows changed."""
        self._marks.get(ticket_id, {}).pop(agent_id, None)
        return self._changed(ticket_id)

    def shown(self, ticket_id: int) -> tuple[Present, ...]:
        """Who is on the ticket now, by name."""
        now = self._clock()
        found = []
        for agent_id, entry in self._marks.get(ticket_id, {}).items():
            state = entry.state(now)
            if state is not None:
                found.append(Present(agent_id, entry.name, state))
        return tuple(sorted(found, key=lambda p: (p.name.lower(), p.agent_id)))

    def expire(self) -> list[int]:
        """Forget the marks that ran out; the tickets whose presence changed since it
        was last told (someone left, or stopped replying)."""
        now = self._clock()
        for marks in self._marks.values():
            for agent_id in [a for a, entry in marks.items() if entry.state(now) is None]:
                del marks[agent_id]
        return [t for t in sorted(set(self._marks) | set(self._shown)) if self._changed(t)]

    def _changed(self, ticket_id: int) -> bool:
        shown = self.shown(ticket_id)
        if not shown:
            self._marks.pop(ticket_id, None)
        if shown == self._shown.get(ticket_id, ()):
            return False
        if shown:
            self._shown[ticket_id] = shown
        else:
            self._shown.pop(ticket_id, None)
        return True
