"""Defect notes: the human-readable list that becomes `ParsedMessage.defects`.

Where it sits in the flow: `parse_message` creates one `_Notes` per message and
hands it to every step (charset decoding, header parsing, the MIME walk, HTML
conversion); each step notes what it repaired or dropped instead of raising.
"""

from __future__ import annotations

import re

from maildesk.core.message.limits import MAX_DEFECTS
from maildesk.core.message.text import _scrub


class _Notes:
    """Ordered, de-duplicated, capped list of human-readable defect notes."""

    def __init__(self) -> None:
        self._items: list[str] = []
        self._seen: set[str] = set()
        self._dropped = 0

    def add(self, note: str) -> None:
        note = _scrub(note)
        if note in self._seen:
            return
        if len(self._items) >= MAX_DEFECTS:
            self._dropped += 1
            return
        self._seen.add(note)
        self._items.append(note)

    def result(self) -> tuple[str, ...]:
        if self._dropped:
            return (*self._items, f"{self._dropped} further defect notes omitted")
        return tuple(self._items)


def _describe_defect(defect: object) -> str:
    name = type(defect).__name__
    if name.endswith("Defect"):
        name = name[: -len("Defect")]
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()
    detail = str(defect).strip()
    return f"{words} ({detail})" if detail else words
