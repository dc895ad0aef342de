"""A moment an agent names in a command: `30m`, `2h`, `3d`, `1w`, `1d12h`, or a date
and time of the desk's time zone (`2026-12-24 09:00`, `2026-12-24`).

Where it sits: `#snooze` and `#remind` (`core.commands`) parse their value into a
`Later`; the changes (`tickets.changes`) turn it into a UTC moment with the time of
the reply and the desk's time zone (`[sla] timezone`), and refuse one in the past.
Pure: text in, values out (`zoneinfo` reads the time zone database, nothing else).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_TIME", "SYNTAX", "Later", "parse_later"]

DEFAULT_TIME = dt.time(9, 0)  # a date alone: the start of a usual working day
SYNTAX = "30m|2h|3d|1w|YYYY-MM-DD [HH:MM]"

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\d{1,4}[mhdw])+")
_PART = re.compile(r"(\d{1,4})([mhdw])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{1,2}:\d{2}")
MAX_AHEAD = dt.timedelta(days=5 * 366)  # further than this is a typing mistake


@dataclass(frozen=True)
class Later:
    """After `delay` from the moment the command is given, or at `local` (naive, in the
    desk's time zone)."""

    delay: dt.timedelta | None = None
    local: dt.datetime | None = None

    def at(self, now: dt.datetime, zone: str) -> dt.datetime:
        """The moment in UTC. A local time that a clock change skips or repeats is
        taken as the clocks read before the change (`fold` 0)."""
        if self.delay is not None:
            return now + self.delay
        assert self.local is not None
        return self.local.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)

    def problem(self, now: dt.datetime, zone: str) -> str:
        """Why the moment cannot be used at `now` ("" when it can)."""
        moment = self.at(now, zone)
        if moment <= now:
            return f"{self} ({zone}) has passed"
        if moment - now > MAX_AHEAD:
            return "more than five years ahead"
        return ""

    def __str__(self) -> str:
        if self.delay is not None:
            return _spelled(self.delay)
        assert self.local is not None
        return f"{self.local:%Y-%m-%d %H:%M}"


def parse_later(text: str) -> tuple[Later | None, str]:
    """The moment at the start of `text` and the rest of it (for `#remind`'s text), or
    None and the whole text when it names no moment."""
    words = text.split(maxsplit=2)
    if not words:
        return None, text
    first = words[0].lower()
    if _DURATION.fullmatch(first):
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(first))
        if not seconds:
            return None, text
        return Later(delay=dt.timedelta(seconds=seconds)), " ".join(words[1:])
    if not _DATE.fullmatch(first):
        return None, text
    try:
        day = dt.date.fromisoformat(first)
    except ValueError:
        return None, text
    at, rest = DEFAULT_TIME, words[1:]
    if rest and _TIME.fullmatch(rest[0]):
        try:
            at = dt.time.fromisoformat(rest[0].zfill(5))
        except ValueError:
            return None, text
        rest = rest[1:]
    return Later(local=dt.datetime.combine(day, at)), " ".join(rest)


def _spelled(delay: dt.timedelta) -> str:
    seconds = int(delay.total_seconds())
    parts = []
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0m"
