"""In-memory limits: sliding windows (password checks at sign-in, /submit per client)
and the budget of request-body bytes held at once (`BodyBudget`).

Per process; a restart forgets them, which only ever lets an attacker start over,
never locks anyone out for good.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 100_000  # beyond this the oldest keys are forgotten (memory stays bounded)
FORM_OVERHEAD = 256 * 1024  # the text fields and multipart framing, beyond the files
SIGN_IN_BODY = 16 * 1024  # an address, a password and two tokens
SIGN_IN_PATHS = ("/login", "/logout", "/logout/everywhere")
# Forms that carry files: a customer's or an agent's reply (on the web or the API),
# and /submit.
UPLOAD_PATHS = re.compile(
    r"/submit|/t/[^/]+/[^/]+/reply|/tickets/[^/]+/reply|/api/tickets/[^/]+/messages"
)


def body_limit(max_upload_size: int, path: str) -> int:
    """The largest request body `path` takes: its files and a form around them where
    uploads are posted (the API's messages too), the upload limit for the rest of the
    JSON API, a few KB to sign in, and room for a form (a bulk selection, a note)
    anywhere else."""
    if UPLOAD_PATHS.fullmatch(path):
        return max_upload_size + FORM_OVERHEAD
    if path.startswith("/api/"):
        return max_upload_size
    if path in SIGN_IN_PATHS:
        return SIGN_IN_BODY
    return FORM_OVERHEAD


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


class BodyBudget:
    """Bytes of request bodies held in memory at once, all requests together: a request
    reserves what it reads (or declares) and gives it back when it is answered; what
    does not fit is refused (503), so concurrent uploads cannot exhaust memory."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.in_use = 0
        self.peak = 0  # the most ever held at once (for tests and benchmarks)
        self._lock = threading.Lock()

    def reserve(self, size: int) -> bool:
        with self._lock:
            if self.in_use + size > self.total:
                return False
            self.in_use += size
            self.peak = max(self.peak, self.in_use)
            return True

    def release(self, size: int) -> None:
        with self._lock:
            self.in_use -= size
