"""What a customer's reply asks for in its first line: close the request, or say that
its resolution did not solve it.

Where it sits: the pipeline asks `read_wish` about the visible text of a customer's
reply to a ticket (an agent's `#close` is a command: `core.commands`); the web's
status page buttons reach the same decision (`tickets.customer_close`). Pure: text in,
a decision out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Wish(enum.StrEnum):
    CLOSE = "close"  # close the request, or confirm its resolution
    REOPEN = "reopen"  # the resolution did not solve it


# The words a customer may write alone on the first line, case and spacing aside.
WORDS: dict[str, Wish] = {
    "#close": Wish.CLOSE,
    "solved": Wish.CLOSE,
    "gelöst": Wish.CLOSE,
    "erledigt": Wish.CLOSE,
    "not solved": Wish.REOPEN,
    "nicht gelöst": Wish.REOPEN,
}
_TRAILING = ".!"  # "Solved!" or "solved." is still the word alone


@dataclass(frozen=True)
class CustomerWish:
    wish: Wish
    rest: str  # the text after the word's line, stripped (empty: nothing more)


def read_wish(text: str) -> CustomerWish | None:
    """The wish of a reply whose first non-blank line is one of `WORDS` alone; None
    for any other text."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        word = " ".join(line.split()).casefold().rstrip(_TRAILING).strip()
        wish = WORDS.get(word)
        if wish is None:
            return None
        return CustomerWish(wish, "\n".join(lines[index + 1 :]).strip())
    return None
