"""What we tell the customer about when to expect an answer, in their terms.

Where it sits in the flow: the acknowledgement (`outbound.compose.Mailer.ack`) and the
status page (`web.pages.status`) ask `expect` for the target running now (the
first response, the next response or the resolution, chosen by
`tickets.expectations`), and their templates build the sentences from the values
here: the due time in the desk's time zone, the target in business hours or days,
whether the team is at work now (or away: out of hours, a closed weekday, a
holiday) and when it is back, paused or late. No target: no `Expectation`, so
nothing is promised.

The status page counts the business time left down in the browser: `intervals`
are the open intervals from now to the due time, so a script counts only the time
inside them and stands still outside business hours, across any boundary.

Pure: values in, values out (`core.sla` does the business-time arithmetic).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from maildesk.core.sla import Calendar, business_seconds, open_intervals

__all__ = ["Away", "Expectation", "Kind", "duration_parts", "expect"]

_HOUR = 3600
_DAY = 86400
_LOOKAHEAD = dt.timedelta(days=400)  # how far to look for the next opening


class Kind(StrEnum):
    """Which target the expectation is about."""

    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class Away(StrEnum):
    """Where the team is at `now`."""

    AT_WORK = "at_work"  # inside business hours (or a 24/7 calendar)
    OUT_OF_HOURS = "out_of_hours"  # a working weekday, outside its hours
    CLOSED_DAY = "closed_day"  # a weekday without business hours (the weekend)
    HOLIDAY = "holiday"  # a holiday of the calendar


@dataclass(frozen=True)
class Expectation:
    kind: Kind
    due: dt.datetime | None  # in the calendar's time zone; None while paused
    timezone: str
    target_seconds: int
    target_amount: int  # the target in `target_unit`s, e.g. 8
    target_unit: str  # "business_hours", "business_days", "business_minutes",
    # or for a 24/7 calendar "hours", "days", "minutes"
    away: Away
    back_at: dt.datetime | None  # the next opening (calendar's zone) when away
    paused: bool  # the clock stands while we wait on the customer
    late: bool  # the due time has passed
    remaining_seconds: int  # business seconds from now to the due time (0 if late or paused)
    intervals: tuple[tuple[dt.datetime, dt.datetime], ...]  # open time now..due (UTC)

    @property
    def counting(self) -> bool:
        """A countdown makes sense: running, not late."""
        return not self.paused and not self.late


def expect(
    calendar: Calendar,
    kind: Kind,
    target_seconds: int,
    due: dt.datetime | None,
    now: dt.datetime,
    *,
    paused: bool = False,
) -> Expectation:
    """The expectation for a target of `target_seconds` business seconds due at `due`
    (aware), as seen at `now` (aware). A paused clock has no due time (None)."""
    zone = ZoneInfo(calendar.timezone)
    paused = paused or due is None
    late = due is not None and not paused and due <= now
    running = due is not None and not paused and not late
    away, back_at = _presence(calendar, now)
    amount, unit = _stated(calendar, target_seconds)
    return Expectation(
        kind=kind,
        due=None if due is None else due.astimezone(zone),
        timezone=calendar.timezone,
        target_seconds=target_seconds,
        target_amount=amount,
        target_unit=unit,
        away=away,
        back_at=None if back_at is None else back_at.astimezone(zone),
        paused=paused,
        late=late,
        remaining_seconds=business_seconds(calendar, now, due) if due and running else 0,
        intervals=tuple(open_intervals(calendar, now, due)) if due and running else (),
    )


def _presence(calendar: Calendar, now: dt.datetime) -> tuple[Away, dt.datetime | None]:
    if calendar.always:
        return Away.AT_WORK, None
    upcoming = open_intervals(calendar, now, now + _LOOKAHEAD, most=1)
    if upcoming and upcoming[0][0] <= now:
        return Away.AT_WORK, None
    back_at = upcoming[0][0] if upcoming else None
    today = now.astimezone(ZoneInfo(calendar.timezone)).date()
    if today in calendar.holidays:
        return Away.HOLIDAY, back_at
    if not any(weekday == today.weekday() for weekday, _, _ in calendar.hours):
        return Away.CLOSED_DAY, back_at
    return Away.OUT_OF_HOURS, back_at


def _stated(calendar: Calendar, seconds: int) -> tuple[int, str]:
    """The target as people say it: whole business days where the calendar's working
    days all last the same and the target is more than one of them, else whole hours,
    else minutes (rounded up: never promise sooner than the target)."""
    prefix = "" if calendar.always else "business_"
    day = _DAY if calendar.always else _working_day(calendar)
    if day and seconds > day and seconds % day == 0:
        return seconds // day, f"{prefix}days"
    if seconds % _HOUR == 0:
        return seconds // _HOUR, f"{prefix}hours"
    return -(-seconds // 60), f"{prefix}minutes"


def _working_day(calendar: Calendar) -> int | None:
    """Seconds of one working day, when every weekday with hours has the same."""
    lengths: dict[int, int] = {}
    for weekday, opens, closes in calendar.hours:
        end = 24 * _HOUR if closes == dt.time(0, 0) else closes.hour * _HOUR + closes.minute * 60
        start = opens.hour * _HOUR + opens.minute * 60
        lengths[weekday] = lengths.get(weekday, 0) + end - start
    values = set(lengths.values())
    return values.pop() if len(values) == 1 else None


def duration_parts(seconds: int) -> tuple[int, int, int]:
    """Hours, minutes and seconds of a duration (hours may exceed 24)."""
    hours, rest = divmod(max(seconds, 0), _HOUR)
    minutes, secs = divmod(rest, 60)
    return hours, minutes, secs
