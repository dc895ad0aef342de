"""In-memory sliding-window limits: password checks at sign-in, /submit per client.

Per process, like the sessions they protect; a restart forgets them, which only
ever lets an attacker start over, never locks anyone out for good.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 100_000  # beyond this the oldest keys are forgotten (memory stays bounded)


class RateLimit:
    """At most `limit` hits per key in `window` seconds."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= MAX_KEYS:
                self._hits.pop(next(iter(self._hits)))
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def blocked(self, *keys: str) -> bool:
        """Is any of `keys` at its limit?"""
        now = self._clock()
        with self._lock:
            return any(len(self._recent(key, now)) >= self.limit for key in keys)

    def take(self, *keys: str) -> bool:
        """Count a hit on every one of `keys`, unless one is at its limit (then none is
        counted and False). Checked and counted under one lock, so however many
        requests arrive at once, at most `limit` of them get through per key."""
        now = self._clock()
        with self._lock:
            recent = [self._recent(key, now) for key in keys]
            if any(len(hits) >= self.limit for hits in recent):
                return False
            for hits in recent:
                hits.append(now)
            return True

    def give_back(self, *keys: str) -> None:
        """Undo one `take` (the latest hit) on each of `keys`."""
        with self._lock:
            for key in keys:
                hits = self._hits.get(key)
                if hits:
                    hits.pop()

    def hit(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def clear(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._hits.pop(key, None)

    def retry_after(self, *keys: str) -> int:
        """Seconds until each of `keys` is under its limit again."""
        now = self._clock()
        with self._lock:
            waits = [
                hits[0] + self.window - now
                for key in keys
                if len(hits := self._recent(key, now)) >= self.limit
            ]
        return max(1, int(max(waits, default=0) + 0.999))
