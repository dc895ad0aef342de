"""Jobs work in batches: a query finds up to `BATCH` tickets, one transaction
handles them, and the next batch follows until one comes back short. A batch never
holds the write lock for long, and what a crash interrupts is found again."""

from __future__ import annotations

from collections.abc import Callable

BATCH = 200  # tickets per query and transaction


def drain(step: Callable[[], tuple[int, int]]) -> int:
    """Run `step` (one batch: (found, done)) until a batch finds less than BATCH."""
    total = 0
    while True:
        found, done = step()
        total += done
        if found < BATCH:
            return total
