"""SLA arithmetic: business time on an opening-hours calendar, and the clocks of tickets.

Where it sits in the flow: every ticket carries two SLA clocks, first response and
resolution, stored as `Clock` values (start, target, time paused). The daemon's SLA
pass asks `due` and `warn_at` when a clock warns and breaches; a priority or
category change calls `retarget`, and `rebase` first when the category brings
another calendar (the business time elapsed so far is kept, the rest counts on the
new calendar); waiting on the customer calls `pause` and the customer's answer
`resume`. `Calendar.parse` and `parse_duration` read the [sla]
settings. Support is judged by these numbers, so they are exact to the second.

Business time is real elapsed time inside opening hours:

* Opening intervals are local wall-clock times in the calendar's time zone, per
  weekday; a close of 00:00 (written 24:00) is the next local midnight. Holidays
  are local dates on which nothing is open (an interval running to 24:00 belongs
  to the day it opens on).
* Each bound of an interval is the first instant at which the local clock shows
  that time or later. On a spring-forward day a bound in the gap (02:30 in Berlin
  on 2026-03-29) is the instant the clock jumps (01:00 UTC); on a fall-back day a
  repeated time (02:30 on 2026-10-25) is its first occurrence, for opening and
  closing alike. So 01:00-04:00 holds 2 h of real time in spring and 4 h in
  autumn, and because one rule maps every bound, splitting an interval anywhere
  (a lunch break, a day ending at 24:00 and the next opening at 00:00) never
  changes the total and intervals never overlap.
* `add_business_time` starts the clock at `start`, or at the next opening when
  `start` is outside opening hours; a result at a closing moment is that closing
  moment, not the next opening. Zero seconds is `start` itself, open or not.
  `business_seconds` is its inverse: business_seconds(c, s, add_business_time(c,
  s, n)) == n, and add_business_time(c, s, business_seconds(c, s, e)) <= e for
  e >= s.
* A 24/7 calendar is plain addition of real seconds, across DST or not.

Both walk the calendar a local day at a time, but take a run of whole days in one
step when the UTC offset is the same at each of its local midnights (no zone in
tzdata changes its offset and back within a day; the closest such pair is four days
apart): the run's open time is then the wall-clock hours of its weekdays less its
holidays. The cost is one offset lookup a day plus a few steps per DST change: ten
years of business time on 40 hours a week (42 years of calendar) take milliseconds.

Pure: values in, values out. `zoneinfo` reads the time zone database, nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "Calendar",
    "Clock",
    "SlaConfigError",
    "Target",
    "add_business_time",
    "business_seconds",
    "due",
    "elapsed",
    "open_intervals",
    "parse_duration",
    "pause",
    "rebase",
    "resume",
    "retarget",
    "warn_at",
]

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_MIDNIGHT = dt.time(0, 0)
_MICROSECOND = dt.timedelta(microseconds=1)
_SECOND = dt.timedelta(seconds=1)
_DAY = dt.timedelta(days=1)
_TIME = r"([0-9]{1,2}):([0-9]{2})"
_SPAN = re.compile(rf"{_TIME}-{_TIME}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DURATION = re.compile(
    r"(?:([0-9]+)d)?\s*(?:([0-9]+)h)?\s*(?:([0-9]+)m)?\s*(?:([0-9]+)s)?", re.IGNORECASE
)


class SlaConfigError(ValueError):
    """Business hours, holidays, a time zone or a duration that cannot be used."""


# --------------------------------------------------------------------------
# The calendar
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """When the clock runs. `always`: 24/7 (hours and holidays ignored)."""

    timezone: str  # IANA name, e.g. "Europe/Berlin"
    # (weekday 0=Mon..6=Sun, open, close), local wall-clock; close 00:00 is midnight
    # at the end of that day; several intervals a day, not overlapping.
    hours: tuple[tuple[int, dt.time, dt.time], ...]
    holidays: frozenset[dt.date] = frozenset()  # local dates on which nothing is open
    always: bool = False
    # Derived in __post_init__: the zone, intervals by weekday (sorted), open time a
    # weekday holds on wall clocks and a whole week's, and the holidays sorted.
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _days: tuple[tuple[tuple[dt.time, dt.time], ...], ...] = field(
        init=False, repr=False, compare=False
    )
    _day_length: tuple[dt.timedelta, ...] = field(init=False, repr=False, compare=False)
    _week_length: dt.timedelta = field(init=False, repr=False, compare=False)
    _holiday_list: tuple[dt.date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        days: list[list[tuple[dt.time, dt.time]]] = [[] for _ in _DAY_NAMES]
        if not self.always:
            if not self.hours:
                raise SlaConfigError("no opening hours")
            for entry in self.hours:
                weekday, opens, closes = _checked_interval(entry)
                days[weekday].append((opens, closes))
            for weekday, intervals in enumerate(days):
                intervals.sort()
                for (open1, close1), (open2, close2) in pairwise(intervals):
                    if close1 == _MIDNIGHT or open2 < close1:
                        raise SlaConfigError(
                            f"opening hours overlap on {_DAY_NAMES[weekday]}: "
                            f"{_span_text(open1, close1)} and {_span_text(open2, close2)}"
                        )
        lengths = tuple(sum((_length(o, c) for o, c in day), dt.timedelta(0)) for day in days)
        object.__setattr__(self, "_zone", _load_zone(self.timezone))
        object.__setattr__(self, "_days", tuple(tuple(day) for day in days))
        object.__setattr__(self, "_day_length", lengths)
        object.__setattr__(self, "_week_length", sum(lengths, dt.timedelta(0)))
        object.__setattr__(self, "_holiday_list", tuple(sorted(self.holidays)))

    @classmethod
    def twenty_four_seven(cls) -> Calendar:
        """The clock always runs."""
        return cls("UTC", (), always=True)

    @classmethod
    def parse(cls, timezone: str, hours: Sequence[str], holidays: Sequence[str]) -> Calendar:
        """A calendar from the settings: `hours` like "mon-fri 09:00-12:00 13:00-17:00",
        "sat 10:00-14:00", "mon,wed 08:00-12:00", "sun 22:00-24:00", or just "24/7";
        `holidays` as YYYY-MM-DD. SlaConfigError names the entry it cannot use."""
        if isinstance(hours, str) or isinstance(holidays, str):
            raise SlaConfigError("business hours and holidays must be lists of strings")
        _load_zone(timezone)
        dates = frozenset(_parse_holiday(text) for text in holidays)
        if any(text.strip() == "24/7" for text in hours):
            if len(hours) != 1:
                raise SlaConfigError('"24/7" must be the only business hours entry')
            return cls(timezone, (), dates, always=True)
        if not hours:
            raise SlaConfigError("no opening hours")
        intervals = [interval for text in hours for interval in _parse_hours(text)]
        return cls(timezone, tuple(intervals), dates)


def _checked_interval(entry: tuple[int, dt.time, dt.time]) -> tuple[int, dt.time, dt.time]:
    if len(entry) != 3:
        raise SlaConfigError(f"opening hours {entry!r}: expected (weekday, open, close)")
    weekday, opens, closes = entry
    if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
        raise SlaConfigError(f"opening hours {entry!r}: weekday must be 0 (Monday) to 6")
    if not (isinstance(opens, dt.time) and isinstance(closes, dt.time)):
        raise SlaConfigError(f"opening hours {entry!r}: open and close must be times")
    if opens.tzinfo is not None or closes.tzinfo is not None:
        raise SlaConfigError(f"opening hours {entry!r}: times are local, without a zone")
    if closes != _MIDNIGHT and opens >= closes:
        raise SlaConfigError(
            f"opening hours {_DAY_NAMES[weekday]} {_span_text(opens, closes)}: "
            "opening must come before closing"
        )
    return weekday, opens, closes


def _load_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise SlaConfigError(f"unknown time zone {name!r}") from exc


def _since_midnight(time: dt.time) -> dt.timedelta:
    return dt.timedelta(
        hours=time.hour, minutes=time.minute, seconds=time.second, microseconds=time.microsecond
    )


def _length(opens: dt.time, closes: dt.time) -> dt.timedelta:
    end = _DAY if closes == _MIDNIGHT else _since_midnight(closes)
    return end - _since_midnight(opens)


def _span_text(opens: dt.time, closes: dt.time) -> str:
    end = "24:00" if closes == _MIDNIGHT else closes.isoformat("minutes")
    return f"{opens.isoformat('minutes')}-{end}"


def _parse_hours(text: str) -> list[tuple[int, dt.time, dt.time]]:
    tokens = text.lower().split()
    if len(tokens) < 2:
        raise SlaConfigError(
            f'business hours {text!r}: expected days and times, like "mon-fri 09:00-17:00"'
        )
    weekdays = _parse_days(tokens[0], text)
    spans = [_parse_span(token, text) for token in tokens[1:]]
    return [(weekday, opens, closes) for weekday in weekdays for opens, closes in spans]


def _day_index(name: str, text: str) -> int:
    if name not in _DAY_NAMES:
        raise SlaConfigError(
            f"business hours {text!r}: unknown day {name!r} (use {' '.join(_DAY_NAMES)})"
        )
    return _DAY_NAMES.index(name)


def _parse_days(token: str, text: str) -> list[int]:
    weekdays: list[int] = []
    for part in token.split(","):
        first, dash, last = part.partition("-")
        start = _day_index(first, text)
        end = _day_index(last, text) if dash else start
        if end < start:
            raise SlaConfigError(
                f"business hours {text!r}: day range {part!r} runs backwards "
                "(ranges do not wrap past sun)"
            )
        for weekday in range(start, end + 1):
            if weekday in weekdays:
                raise SlaConfigError(
                    f"business hours {text!r}: {_DAY_NAMES[weekday]} is named twice"
                )
            weekdays.append(weekday)
    return weekdays


def _parse_span(token: str, text: str) -> tuple[dt.time, dt.time]:
    match = _SPAN.fullmatch(token)
    if match is None:
        raise SlaConfigError(f"business hours {text!r}: {token!r} is not like 09:00-17:00")
    open_hour, open_minute, close_hour, close_minute = (int(group) for group in match.groups())
    if open_hour > 23 or open_minute > 59 or close_minute > 59 or close_hour > 24:
        raise SlaConfigError(f"business hours {text!r}: {token!r} is not a time of day")
    if close_hour == 24:
        if close_minute:
            raise SlaConfigError(f"business hours {text!r}: {token!r} runs past 24:00")
        closes = _MIDNIGHT
    else:
        closes = dt.time(close_hour, close_minute)
        if closes == _MIDNIGHT:
            raise SlaConfigError(f"business hours {text!r}: {token!r}: write midnight as 24:00")
    opens = dt.time(open_hour, open_minute)
    if closes != _MIDNIGHT and opens >= closes:
        raise SlaConfigError(
            f"business hours {text!r}: {token!r}: opening must come before closing"
        )
    return opens, closes


def _parse_holiday(text: str) -> dt.date:
    stripped = text.strip()
    try:
        if _DATE.fullmatch(stripped) is None:
            raise ValueError(stripped)
        return dt.date.fromisoformat(stripped)
    except ValueError as exc:
        raise SlaConfigError(f"holiday {text!r}: expected a date YYYY-MM-DD") from exc


# --------------------------------------------------------------------------
# Local wall-clock time -> UTC, and the open intervals of one local day
# --------------------------------------------------------------------------


def _offset(zone: ZoneInfo, local: dt.datetime) -> dt.timedelta:
    """The UTC offset of naive wall-clock time `local` (its fold picks the side of a
    transition at that time: 0 before, 1 after)."""
    offset = zone.utcoffset(local)
    if offset is None:  # pragma: no cover - zoneinfo always knows its offset
        raise ValueError(f"no UTC offset for {local!r} in {zone.key}")
    return offset


def _offset_at(zone: ZoneInfo, moment: dt.datetime) -> dt.timedelta:
    """The UTC offset in force at `moment`, a naive UTC time."""
    local = zone.fromutc(moment.replace(tzinfo=zone))  # fold=1 on a repeated time
    return _offset(zone, local.replace(tzinfo=None))


def _instant(zone: ZoneInfo, local: dt.datetime) -> dt.datetime:
    """The first instant (UTC) at which the wall clock in `zone` shows `local` or later."""
    local = local.replace(fold=0)
    before = _offset(zone, local)  # the offset before a transition at `local`, if any
    after = _offset(zone, local.replace(fold=1))  # ... and after it
    if before >= after:
        # One instant, or a repeated time (fold=0 is its first occurrence).
        return (local - before).replace(tzinfo=dt.UTC)
    # A time the clock skips. The jump lies in (local - after, local - before]: find
    # it to the microsecond; the offset there is still `before`, then `after`.
    low, high = local - after, local - before
    while high - low > _MICROSECOND:
        middle = low + (high - low) // 2
        if _offset_at(zone, middle) == before:
            low = middle
        else:
            high = middle
    return high.replace(tzinfo=dt.UTC)


def _midnight(calendar: Calendar, day: dt.date) -> dt.datetime:
    return _instant(calendar._zone, dt.datetime.combine(day, _MIDNIGHT))


def _day_intervals(calendar: Calendar, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """Open intervals (UTC, in order, not empty) of the hours opening on local `day`."""
    if day in calendar.holidays:
        return []
    zone = calendar._zone
    intervals = []
    for opens, closes in calendar._days[day.weekday()]:
        start = _instant(zone, dt.datetime.combine(day, opens))
        end_day = day + _DAY if closes == _MIDNIGHT else day
        end = _instant(zone, dt.datetime.combine(end_day, closes))
        if end > start:
            intervals.append((start, end))
    return intervals


def _steady_days(calendar: Calendar, day: dt.date, most: int) -> int:
    """How many local days from `day` on (at most `most`) keep one UTC offset, judged
    at each local midnight (no zone changes its offset and back within a day)."""
    zone = calendar._zone
    midnight = dt.datetime.combine(day, _MIDNIGHT)
    offset = _offset(zone, midnight)
    if _offset(zone, midnight.replace(fold=1)) != offset:
        return 0
    count, probe, offset_of = 0, midnight, zone.utcoffset  # a day costs one lookup
    while count < most:
        probe += _DAY
        if offset_of(probe) != offset:
            break
        count += 1
    # The last midnight must not be skipped or repeated either (fold=0 reads the
    # offset before a transition at that very midnight).
    last = midnight + count * _DAY
    if count and _offset(zone, last.replace(fold=1)) != offset:
        count -= 1
    return count


def _open_days(calendar: Calendar, day: dt.date, count: int) -> dt.timedelta:
    """Open time of `count` local days from `day` on, at one UTC offset throughout."""
    weeks, rest = divmod(count, 7)
    weekday = day.weekday()
    total = weeks * calendar._week_length
    for extra in range(rest):
        total += calendar._day_length[(weekday + extra) % 7]
    holidays = calendar._holiday_list
    end = day + count * _DAY
    for index in range(bisect_left(holidays, day), bisect_left(holidays, end)):
        total -= calendar._day_length[holidays[index].weekday()]
    return total


def _aware_utc(moment: dt.datetime, name: str) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not {moment!r}")
    return moment.astimezone(dt.UTC)


# --------------------------------------------------------------------------
# Business time
# --------------------------------------------------------------------------


def add_business_time(calendar: Calendar, start: dt.datetime, seconds: int) -> dt.datetime:
    """The instant (UTC) at which `seconds` of open time have elapsed after `start`."""
    origin = _aware_utc(start, "start")
    if seconds < 0:
        raise ValueError(f"seconds must not be negative, got {seconds}")
    if seconds == 0 or calendar.always:
        return origin + dt.timedelta(seconds=seconds)
    remaining = dt.timedelta(seconds=seconds)
    day = origin.astimezone(calendar._zone).date()
    clear = False  # every interval of `day` and later lies at or after origin
    while True:
        clear = clear or _midnight(calendar, day) >= origin
        if clear:
            # Skip the most whole days, at one offset, that hold less than what remains.
            most = 7 * (remaining // calendar._week_length + 1)
            low, high = 0, _steady_days(calendar, day, most)
            while low < high:
                middle = (low + high + 1) // 2
                if _open_days(calendar, day, middle) < remaining:
                    low = middle
                else:
                    high = middle - 1
            remaining -= _open_days(calendar, day, low)
            day += low * _DAY
        for opens, closes in _day_intervals(calendar, day):
            opens = max(opens, origin)
            if closes <= opens:
                continue
            if closes - opens >= remaining:
                return opens + remaining
            remaining -= closes - opens
        day += _DAY


def business_seconds(calendar: Calendar, start: dt.datetime, end: dt.datetime) -> int:
    """Open time between two instants in whole seconds (floor); 0 when end <= start."""
    origin = _aware_utc(start, "start")
    finish = _aware_utc(end, "end")
    if finish <= origin:
        return 0
    if calendar.always:
        return (finish - origin) // _SECOND
    total = dt.timedelta(0)
    day = origin.astimezone(calendar._zone).date()
    last = finish.astimezone(calendar._zone).date()  # its midnight is not after finish
    clear = False  # every interval of `day` and later lies at or after origin
    while True:
        midnight = _midnight(calendar, day)
        if midnight >= finish:
            return total // _SECOND
        clear = clear or midnight >= origin
        if clear and day < last:
            count = _steady_days(calendar, day, (last - day).days)
            total += _open_days(calendar, day, count)
            day += count * _DAY
        for opens, closes in _day_intervals(calendar, day):
            opens, closes = max(opens, origin), min(closes, finish)
            if closes > opens:
                total += closes - opens
        day += _DAY


def open_intervals(
    calendar: Calendar, start: dt.datetime, end: dt.datetime, most: int = 64
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The open intervals (UTC, in order) between two instants, cut to them: at most
    `most` of them, and only the first day with any beyond 366 days of closed ones.
    For a client that counts business time down on its own (the status page)."""
    origin = _aware_utc(start, "start")
    finish = _aware_utc(end, "end")
    if finish <= origin:
        return []
    if calendar.always:
        return [(origin, finish)]
    found: list[tuple[dt.datetime, dt.datetime]] = []
    day = origin.astimezone(calendar._zone).date()
    closed = 0
    while len(found) < most and closed <= 366 and _midnight(calendar, day) < finish:
        intervals = _day_intervals(calendar, day)
        closed = 0 if intervals else closed + 1
        for opens, closes in intervals:
            opens, closes = max(opens, origin), min(closes, finish)
            if closes > opens and len(found) < most:
                found.append((opens, closes))
        day += _DAY
    return found


# --------------------------------------------------------------------------
# Targets, durations and the clocks of a ticket
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The SLA targets of a priority (or category), in seconds of business time."""

    first_response: int
    resolution: int
    # After each customer message that follows an agent's answer, the next answer is
    # due within this; None: no next-response target.
    next_response: int | None = None

    def __post_init__(self) -> None:
        if self.first_response < 0 or self.resolution < 0 or (self.next_response or 0) < 0:
            raise ValueError(f"targets must not be negative: {self!r}")


def parse_duration(text: str) -> int:
    """Seconds in "90m", "1h", "1h30m", "2d" (24 h of business time), "45s" or "3600"."""
    stripped = text.strip()
    if re.fullmatch(r"[0-9]+", stripped):
        return int(stripped)
    match = _DURATION.fullmatch(stripped)
    if not stripped or match is None:
        raise SlaConfigError(f'duration {text!r}: expected a number of seconds or like "1h30m"')
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


@dataclass(frozen=True)
class Clock:
    """One SLA clock of one ticket, as stored: when it started, its target, time paused,
    and the business time it had counted before `started` (on another calendar)."""

    started: dt.datetime  # ticket creation, or the last change of calendar (UTC)
    target: int  # seconds of business time
    paused: int = 0  # business seconds spent paused since `started` (resolution clock)
    paused_since: dt.datetime | None = None  # currently paused since then
    carried: int = 0  # business seconds counted before `started`, on the old calendar

    def __post_init__(self) -> None:
        _aware_utc(self.started, "started")
        if self.paused_since is not None:
            _aware_utc(self.paused_since, "paused_since")
        if self.target < 0 or self.paused < 0 or self.carried < 0:
            raise ValueError(f"target, paused and carried must not be negative: {self!r}")


def due(calendar: Calendar, clock: Clock) -> dt.datetime | None:
    """When the target is reached, pauses included; None while paused. A target already
    used up by the time carried over is due at `started`."""
    if clock.paused_since is not None:
        return None
    left = max(0, clock.target - clock.carried)
    return add_business_time(calendar, clock.started, left + clock.paused)


def warn_at(calendar: Calendar, clock: Clock, share: float) -> dt.datetime | None:
    """When `share` (0 < share < 1, taken as the decimal it is written as: 0.29 is 29/100)
    of the target has elapsed, floored to whole seconds; None while paused."""
    if not 0 < share < 1:
        raise ValueError(f"share must lie between 0 and 1, got {share}")
    if clock.paused_since is not None:
        return None
    seconds = int(Fraction(repr(share)) * clock.target)
    left = max(0, seconds - clock.carried)
    return add_business_time(calendar, clock.started, left + clock.paused)


def elapsed(calendar: Calendar, clock: Clock, now: dt.datetime) -> int:
    """Business seconds counted so far: the time carried over, then pauses left out,
    and up to the pause if paused."""
    stop = now if clock.paused_since is None else min(now, clock.paused_since)
    return clock.carried + max(0, business_seconds(calendar, clock.started, stop) - clock.paused)


def rebase(old: Calendar, clock: Clock, at: dt.datetime) -> Clock:
    """The clock moving to another calendar at `at`: the business time it counted so far
    (on `old`) is carried over, and from `at` on it counts on the new calendar. A paused
    clock stays paused, from `at` on."""
    moment = _aware_utc(at, "at")
    return Clock(
        started=moment,
        target=clock.target,
        paused=0,
        paused_since=None if clock.paused_since is None else moment,
        carried=elapsed(old, clock, moment),
    )


def pause(calendar: Calendar, clock: Clock, at: dt.datetime) -> Clock:
    """The clock stopped at `at`; a paused clock stays as it is."""
    moment = _aware_utc(at, "at")
    if clock.paused_since is not None:
        return clock
    return replace(clock, paused_since=moment)


def resume(calendar: Calendar, clock: Clock, at: dt.datetime) -> Clock:
    """The clock running again from `at`, the open time it was paused added to `paused`;
    a running clock stays as it is."""
    moment = _aware_utc(at, "at")
    if clock.paused_since is None:
        return clock
    paused = business_seconds(calendar, clock.paused_since, moment)
    return replace(clock, paused=clock.paused + paused, paused_since=None)


def retarget(clock: Clock, target: int) -> Clock:
    """The clock with a new target (priority or category changed): same start and
    pauses, so the time already elapsed counts against the new target."""
    return replace(clock, target=target)
