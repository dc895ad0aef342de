"""core.sla: business time on opening-hours calendars, and the SLA clocks of tickets.

Where it sits in the flow: the daemon's SLA pass turns a ticket's stored clocks
into due and warning times with these functions, and support is judged by them.
These tests pin the arithmetic to the second in tables (opening, closing,
weekends, holidays, lunch breaks, midnight, DST both ways in Berlin and New York,
24/7, long targets), walk pausing, resuming and retargeting a clock, every error
of the configuration parsers, and check properties on random calendars: adding
then counting gives back the duration, and both agree with a slow reference that
finds each bound by scanning the wall clock minute by minute.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.core.sla import (
    Calendar,
    Clock,
    SlaConfigError,
    Target,
    add_business_time,
    business_seconds,
    due,
    elapsed,
    parse_duration,
    pause,
    rebase,
    resume,
    retarget,
    warn_at,
)

H = 3600
M = 60
BERLIN_HOLIDAYS = (
    "2026-01-01",
    "2026-04-03",
    "2026-04-06",
    "2026-05-01",
    "2026-05-14",
    "2026-05-25",
    "2026-10-03",  # a Saturday: changes nothing
    "2026-12-25",
    "2026-12-26",
)
CALENDARS = {
    "office": Calendar.parse("Europe/Berlin", ["mon-fri 09:00-17:00"], BERLIN_HOLIDAYS),
    "lunch": Calendar.parse("Europe/Berlin", ["mon-fri 09:00-12:00 13:00-17:00"], []),
    "night": Calendar.parse("Europe/Berlin", ["sun 01:00-04:00"], []),
    "gap": Calendar.parse("Europe/Berlin", ["sun 02:30-03:30"], []),
    "split": Calendar.parse("Europe/Berlin", ["sun 00:00-02:30 02:30-05:00"], []),
    "whole": Calendar.parse("Europe/Berlin", ["sun 00:00-05:00"], []),
    "midnight": Calendar.parse("Europe/Berlin", ["sun 22:00-24:00", "mon 00:00-02:00"], []),
    "ny": Calendar.parse("America/New_York", ["mon-fri 09:00-17:00"], []),
    "ny_night": Calendar.parse("America/New_York", ["sun 01:00-04:00"], []),
    # Havana changes at midnight: 00:00 is skipped on 2026-03-08, repeated on 2026-11-01
    "havana": Calendar.parse("America/Havana", ["sat 22:00-24:00", "sun 00:00-02:00"], []),
    "always": Calendar.twenty_four_seven(),
    "berlin_always": Calendar.parse("Europe/Berlin", ["24/7"], BERLIN_HOLIDAYS),
}


def when(text: str, calendar: Calendar) -> dt.datetime:
    """An ISO time; without an offset it is local time in the calendar's zone."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(calendar.timezone))
    return moment


# --------------------------------------------------------------------------
# add_business_time
# --------------------------------------------------------------------------

ADD_CASES = [
    # office: Europe/Berlin, mon-fri 09:00-17:00, holidays incl. Thu 05-14 and Mon 05-25
    ("office", "2026-05-11 10:00", 2 * H, "2026-05-11 12:00", "within a day"),
    ("office", "2026-05-11 09:00", 8 * H, "2026-05-11 17:00", "whole day ends at closing"),
    ("office", "2026-05-11 07:00", 1 * H, "2026-05-11 10:00", "before opening"),
    ("office", "2026-05-11 18:00", 1 * H, "2026-05-12 10:00", "after closing"),
    ("office", "2026-05-09 12:00", 1 * H, "2026-05-11 10:00", "on saturday"),
    ("office", "2026-05-10 23:59", 30 * M, "2026-05-11 09:30", "late sunday"),
    ("office", "2026-05-08 17:30", 8 * H, "2026-05-11 17:00", "friday 17:30 plus 8h"),
    ("office", "2026-05-08 16:30", 8 * H, "2026-05-11 16:30", "friday 16:30 plus 8h"),
    ("office", "2026-05-08 16:00", 2 * H, "2026-05-11 10:00", "across the weekend"),
    ("office", "2026-05-13 16:00", 2 * H, "2026-05-15 10:00", "across a holiday"),
    ("office", "2026-05-14 10:00", 1 * H, "2026-05-15 10:00", "starting on a holiday"),
    ("office", "2026-05-22 16:00", 2 * H, "2026-05-26 10:00", "weekend then holiday"),
    ("office", "2026-05-11 10:00", 0, "2026-05-11 10:00", "zero while open"),
    ("office", "2026-05-09 12:00", 0, "2026-05-09 12:00", "zero while closed"),
    ("office", "2026-05-11 16:59:59", 1, "2026-05-11 17:00", "last second of the day"),
    ("office", "2026-05-11 16:59:59", 2, "2026-05-12 09:00:01", "one second past closing"),
    ("office", "2026-05-11 09:13:27.5", 1, "2026-05-11 09:13:28.5", "fraction of a second"),
    ("office", "2026-05-11 09:13:27.5", 8 * H, "2026-05-12 09:13:27.5", "fractional start 8h"),
    ("office", "2026-06-01 09:00", 168 * H, "2026-06-29 17:00", "168 hours"),
    ("office", "2026-06-01 09:00", 1000 * H, "2026-11-20 17:00", "1000 hours across dst"),
    ("office", "2026-05-11 03:00-04:00", 1 * H, "2026-05-11 10:00", "start in new york"),
    # lunch: mon-fri 09:00-12:00 13:00-17:00
    ("lunch", "2026-05-11 11:00", 2 * H, "2026-05-11 14:00", "over lunch"),
    ("lunch", "2026-05-11 12:30", 30 * M, "2026-05-11 13:30", "starting at lunch"),
    ("lunch", "2026-05-11 11:00", 1 * H, "2026-05-11 12:00", "ends at lunch, not after"),
    ("lunch", "2026-05-11 16:00", 7 * H, "2026-05-12 16:00", "lunch next day too"),
    # night: sun 01:00-04:00 holds 2h on 2026-03-29 and 4h on 2026-10-25
    ("night", "2026-03-29 01:00", 2 * H, "2026-03-29T02:00Z", "spring: 2h fill the night"),
    ("night", "2026-03-29 01:00", 2 * H + 1, "2026-04-04T23:00:01Z", "spring: next sunday"),
    ("night", "2026-03-29 01:30", 1 * H, "2026-03-29 03:30", "spring: across the gap"),
    ("night", "2026-10-25 01:00", 4 * H, "2026-10-25T03:00Z", "fall: 4h fill the night"),
    ("night", "2026-10-25 01:00", 90 * M, "2026-10-25T02:30+02:00", "fall: first 02:30"),
    ("night", "2026-10-25 01:00", 150 * M, "2026-10-25T02:30+01:00", "fall: second 02:30"),
    ("night", "2026-10-25 01:00", 4 * H + 1, "2026-11-01T00:00:01Z", "fall: next sunday"),
    # gap: sun 02:30-03:30, a bound in the gap (spring) and a repeated bound (fall)
    ("gap", "2026-03-29 00:00", 30 * M, "2026-03-29T01:30Z", "spring: opens at the jump"),
    ("gap", "2026-03-29 00:00", 1, "2026-03-29T01:00:01Z", "spring: first second"),
    ("gap", "2026-10-25 00:00", 2 * H, "2026-10-25T02:30Z", "fall: opens at first 02:30"),
    ("gap", "2026-10-25 00:00", 1, "2026-10-25T00:30:01Z", "fall: first second"),
    # office across the DST weekends: the UTC result moves by an hour
    ("office", "2026-03-27 16:00", 2 * H, "2026-03-30T08:00Z", "berlin spring weekend"),
    ("office", "2026-10-23 16:00", 2 * H, "2026-10-26T09:00Z", "berlin fall weekend"),
    # New York: DST on 2026-03-08 and 2026-11-01, the repeated hour is 01:00-02:00
    ("ny", "2026-03-06 16:00", 2 * H, "2026-03-09T14:00Z", "new york spring weekend"),
    ("ny", "2026-10-30 16:00", 2 * H, "2026-11-02T15:00Z", "new york fall weekend"),
    ("ny_night", "2026-03-08 01:00", 2 * H, "2026-03-08T08:00Z", "new york spring night"),
    ("ny_night", "2026-11-01 01:00", 4 * H, "2026-11-01T09:00Z", "new york fall night"),
    ("ny_night", "2026-11-01 01:00", 90 * M, "2026-11-01T01:30-05:00", "new york second 01:30"),
    # midnight: sun 22:00-24:00 and mon 00:00-02:00 run on without a break
    ("midnight", "2026-05-10 23:00", 2 * H, "2026-05-11 01:00", "through midnight"),
    ("midnight", "2026-05-10 22:00", 4 * H, "2026-05-11 02:00", "both intervals"),
    ("midnight", "2026-05-10 20:00", 2 * H, "2026-05-11 00:00", "ends at 24:00"),
    ("havana", "2026-03-07 23:00", 2 * H, "2026-03-08T06:00Z", "havana: across the gap"),
    ("havana", "2026-10-31 23:00", 2 * H, "2026-11-01T05:00Z", "havana: into repeated hour"),
    # 24/7: plain addition of real time, DST or not
    ("always", "2026-03-28T12:00Z", 24 * H, "2026-03-29T12:00Z", "24/7 utc"),
    ("berlin_always", "2026-03-28 12:00", 24 * H, "2026-03-29 13:00", "24/7 berlin spring"),
    ("berlin_always", "2026-10-24 12:00", 24 * H, "2026-10-25 11:00", "24/7 berlin fall"),
    ("berlin_always", "2026-12-25 12:00", 1 * H, "2026-12-25 13:00", "24/7 has no holidays"),
    ("always", "2026-01-01T00:00Z", 1000 * H, "2026-02-11T16:00Z", "24/7 1000 hours"),
]


@pytest.mark.parametrize(
    ("name", "start", "seconds", "expected"),
    [pytest.param(*case[:4], id=case[4]) for case in ADD_CASES],
)
def test_add_business_time(name: str, start: str, seconds: int, expected: str) -> None:
    calendar = CALENDARS[name]
    result = add_business_time(calendar, when(start, calendar), seconds)
    assert result == when(expected, calendar)
    assert result.tzinfo is dt.UTC


def test_add_business_time_rejects_naive_start_and_negative_seconds() -> None:
    calendar = CALENDARS["office"]
    with pytest.raises(ValueError, match="aware"):
        add_business_time(calendar, dt.datetime(2026, 5, 11, 9), 60)
    with pytest.raises(ValueError, match="negative"):
        add_business_time(calendar, when("2026-05-11 09:00", calendar), -1)


def test_ten_years_of_business_time() -> None:
    calendar = CALENDARS["office"]
    start = when("2026-06-01 09:00", calendar)
    target = 10 * 365 * 24 * H  # 42 years of 40-hour weeks
    result = add_business_time(calendar, start, target)
    assert result.year == 2068
    assert business_seconds(calendar, start, result) == target


# --------------------------------------------------------------------------
# business_seconds
# --------------------------------------------------------------------------

COUNT_CASES = [
    ("office", "2026-05-11 09:00", "2026-05-11 17:00", 8 * H, "one day"),
    ("office", "2026-05-11 00:00", "2026-05-12 00:00", 8 * H, "one calendar day"),
    ("office", "2026-05-08 17:30", "2026-05-11 17:00", 8 * H, "friday evening to monday"),
    ("office", "2026-05-09 00:00", "2026-05-11 00:00", 0, "a weekend"),
    ("office", "2026-05-11 12:00", "2026-05-11 10:00", 0, "end before start"),
    ("office", "2026-05-11 12:00", "2026-05-11 12:00", 0, "end at start"),
    ("office", "2026-05-11 00:00", "2026-05-18 00:00", 32 * H, "week with a holiday"),
    ("office", "2026-01-01 00:00", "2027-01-01 00:00", 254 * 8 * H, "the year 2026"),
    ("office", "2026-05-11 09:00", "2026-05-11 09:00:00.9", 0, "under a second"),
    ("office", "2026-05-11 09:00:00.5", "2026-05-11 09:00:02.4", 1, "floors"),
    ("office", "2026-03-27 16:00", "2026-03-30 10:00", 2 * H, "berlin spring weekend"),
    ("lunch", "2026-05-11 12:00", "2026-05-11 14:00", 1 * H, "lunch not counted"),
    ("lunch", "2026-05-11 00:00", "2026-05-16 00:00", 35 * H, "a week"),
    ("night", "2026-03-28 00:00", "2026-03-30 00:00", 2 * H, "spring sunday night"),
    ("night", "2026-10-24 00:00", "2026-10-26 00:00", 4 * H, "fall sunday night"),
    ("night", "2026-01-01 00:00", "2027-01-01 00:00", 52 * 3 * H, "the year: -1h +1h"),
    ("gap", "2026-03-29 00:00", "2026-03-30 00:00", 30 * M, "spring: bound in the gap"),
    ("gap", "2026-10-25 00:00", "2026-10-26 00:00", 2 * H, "fall: repeated bound"),
    ("split", "2026-10-25 00:00", "2026-10-26 00:00", 6 * H, "fall: split at 02:30"),
    ("whole", "2026-10-25 00:00", "2026-10-26 00:00", 6 * H, "fall: not split"),
    ("split", "2026-03-29 00:00", "2026-03-30 00:00", 4 * H, "spring: split at 02:30"),
    ("whole", "2026-03-29 00:00", "2026-03-30 00:00", 4 * H, "spring: not split"),
    ("midnight", "2026-05-10 23:00", "2026-05-11 01:00", 2 * H, "through midnight"),
    ("ny", "2026-03-06 16:00", "2026-03-09 10:00", 2 * H, "new york spring weekend"),
    ("ny_night", "2026-11-01 00:00", "2026-11-02 00:00", 4 * H, "new york fall night"),
    ("havana", "2026-03-07 00:00", "2026-03-09 00:00", 3 * H, "havana: midnight skipped"),
    ("havana", "2026-10-31 00:00", "2026-11-02 00:00", 5 * H, "havana: midnight repeated"),
    ("havana", "2026-10-31 00:00", "2026-11-01T04:00Z", 2 * H, "havana: to first midnight"),
    ("always", "2026-03-28T12:00Z", "2026-03-29T12:00Z", 24 * H, "24/7"),
    ("berlin_always", "2026-03-28 12:00", "2026-03-29 12:00", 23 * H, "24/7 spring day"),
    ("berlin_always", "2026-10-24 12:00", "2026-10-25 12:00", 25 * H, "24/7 fall day"),
]


@pytest.mark.parametrize(
    ("name", "start", "end", "expected"),
    [pytest.param(*case[:4], id=case[4]) for case in COUNT_CASES],
)
def test_business_seconds(name: str, start: str, end: str, expected: int) -> None:
    calendar = CALENDARS[name]
    assert business_seconds(calendar, when(start, calendar), when(end, calendar)) == expected


def test_business_seconds_rejects_naive_times() -> None:
    calendar = CALENDARS["office"]
    aware = when("2026-05-11 09:00", calendar)
    with pytest.raises(ValueError, match="aware"):
        business_seconds(calendar, aware, dt.datetime(2026, 5, 11, 10))
    with pytest.raises(ValueError, match="aware"):
        business_seconds(calendar, dt.datetime(2026, 5, 11, 8), aware)


# --------------------------------------------------------------------------
# Clocks
# --------------------------------------------------------------------------

OFFICE = CALENDARS["office"]


def local(text: str) -> dt.datetime:
    return when(text, OFFICE)


def test_clock_due_and_warning() -> None:
    clock = Clock(started=local("2026-05-11 09:00"), target=8 * H)
    assert due(OFFICE, clock) == local("2026-05-11 17:00")
    assert warn_at(OFFICE, clock, 0.75) == local("2026-05-11 15:00")


def test_pause_across_closing_time_counts_only_open_time() -> None:
    clock = Clock(started=local("2026-05-08 09:00"), target=16 * H)  # a Friday
    assert due(OFFICE, clock) == local("2026-05-11 17:00")
    paused = pause(OFFICE, clock, local("2026-05-08 16:00"))
    assert paused.paused_since == local("2026-05-08 16:00")
    assert due(OFFICE, paused) is None
    assert warn_at(OFFICE, paused, 0.75) is None
    assert elapsed(OFFICE, paused, local("2026-05-11 12:00")) == 7 * H
    resumed = resume(OFFICE, paused, local("2026-05-11 10:00"))
    assert resumed.paused == 2 * H  # Friday 16-17 and Monday 9-10
    assert resumed.paused_since is None
    assert due(OFFICE, resumed) == local("2026-05-12 11:00")
    assert warn_at(OFFICE, resumed, 0.75) == local("2026-05-11 15:00")  # 12h + 2h paused
    assert elapsed(OFFICE, resumed, local("2026-05-11 12:00")) == 9 * H
    due_at = due(OFFICE, resumed)
    assert due_at is not None and elapsed(OFFICE, resumed, due_at) == 16 * H


def test_pause_and_resume_are_idempotent() -> None:
    clock = Clock(started=local("2026-05-11 09:00"), target=8 * H)
    assert resume(OFFICE, clock, local("2026-05-11 10:00")) == clock
    paused = pause(OFFICE, clock, local("2026-05-11 10:00"))
    assert pause(OFFICE, paused, local("2026-05-11 11:00")) == paused
    once = resume(OFFICE, paused, local("2026-05-11 11:00"))
    twice = resume(
        OFFICE, pause(OFFICE, once, local("2026-05-11 12:00")), local("2026-05-11 14:00")
    )
    assert (once.paused, twice.paused) == (1 * H, 3 * H)
    assert elapsed(OFFICE, twice, local("2026-05-11 15:00")) == 3 * H


def test_pause_outside_hours_costs_nothing() -> None:
    clock = Clock(started=local("2026-05-08 09:00"), target=16 * H)
    paused = pause(OFFICE, clock, local("2026-05-08 18:00"))
    resumed = resume(OFFICE, paused, local("2026-05-11 08:00"))
    assert resumed.paused == 0
    assert due(OFFICE, resumed) == due(OFFICE, clock)


def test_retarget_keeps_elapsed_time() -> None:
    clock = Clock(started=local("2026-05-11 09:00"), target=8 * H)
    now = local("2026-05-11 13:00")
    assert elapsed(OFFICE, clock, now) == 4 * H
    longer = retarget(clock, 24 * H)
    assert elapsed(OFFICE, longer, now) == 4 * H
    assert due(OFFICE, longer) == local("2026-05-13 17:00")
    shorter = retarget(clock, 2 * H)
    assert due(OFFICE, shorter) == local("2026-05-11 11:00")  # already breached at 13:00
    paused = pause(OFFICE, clock, local("2026-05-11 10:00"))
    resumed = resume(OFFICE, paused, local("2026-05-11 11:00"))
    assert retarget(resumed, 2 * H).paused == H
    assert due(OFFICE, retarget(resumed, 2 * H)) == local("2026-05-11 12:00")


def test_elapsed_before_start_and_for_a_paused_clock() -> None:
    clock = Clock(started=local("2026-05-11 09:00"), target=8 * H)
    assert elapsed(OFFICE, clock, local("2026-05-11 08:00")) == 0
    paused = pause(OFFICE, clock, local("2026-05-11 11:00"))
    assert elapsed(OFFICE, paused, local("2026-05-20 11:00")) == 2 * H
    assert elapsed(OFFICE, paused, local("2026-05-11 10:00")) == 1 * H


@pytest.mark.parametrize(
    ("target", "share", "seconds"),
    [
        pytest.param(8 * H, 0.75, 6 * H, id="75 percent"),
        pytest.param(100, 0.29, 29, id="decimal share as written"),
        pytest.param(10, 0.333, 3, id="floors"),
        pytest.param(1, 0.5, 0, id="floors to zero"),
    ],
)
def test_warn_at_share(target: int, share: float, seconds: int) -> None:
    clock = Clock(started=local("2026-05-11 09:00"), target=target)
    assert warn_at(OFFICE, clock, share) == local("2026-05-11 09:00") + dt.timedelta(
        seconds=seconds
    )


@pytest.mark.parametrize("share", [0.0, 1.0, 1.5, -0.1])
def test_warn_at_rejects_shares_outside_zero_and_one(share: float) -> None:
    clock = Clock(started=local("2026-05-11 09:00"), target=8 * H)
    with pytest.raises(ValueError, match="share"):
        warn_at(OFFICE, clock, share)


def test_clock_and_target_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="aware"):
        Clock(started=dt.datetime(2026, 5, 11, 9), target=H)
    with pytest.raises(ValueError, match="aware"):
        Clock(started=local("2026-05-11 09:00"), target=H, paused_since=dt.datetime(2026, 5, 11))
    with pytest.raises(ValueError, match="negative"):
        Clock(started=local("2026-05-11 09:00"), target=-1)
    with pytest.raises(ValueError, match="negative"):
        Target(first_response=H, resolution=-1)
    assert Target(first_response=H, resolution=8 * H).resolution == 8 * H


# --------------------------------------------------------------------------
# Calendar.parse and parse_duration
# --------------------------------------------------------------------------

T = dt.time


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        pytest.param(
            ["mon-fri 09:00-17:00"],
            [(day, T(9), T(17)) for day in range(5)],
            id="weekdays",
        ),
        pytest.param(["sat 10:00-14:00"], [(5, T(10), T(14))], id="one day"),
        pytest.param(["mon,wed 08:00-12:00"], [(0, T(8), T(12)), (2, T(8), T(12))], id="day list"),
        pytest.param(
            ["mon-tue 09:00-12:00 13:00-17:00"],
            [(0, T(9), T(12)), (0, T(13), T(17)), (1, T(9), T(12)), (1, T(13), T(17))],
            id="lunch break",
        ),
        pytest.param(["sun 22:00-24:00"], [(6, T(22), T(0))], id="until midnight"),
        pytest.param(["sun 00:00-24:00"], [(6, T(0), T(0))], id="whole day"),
        pytest.param(
            ["  MON,Sat-Sun   9:30-17:00 "],
            [(0, T(9, 30), T(17)), (5, T(9, 30), T(17)), (6, T(9, 30), T(17))],
            id="case and spacing",
        ),
        pytest.param(
            ["mon 09:00-12:00", "mon 12:00-13:00"],
            [(0, T(9), T(12)), (0, T(12), T(13))],
            id="touching intervals",
        ),
    ],
)
def test_calendar_parse(hours: list[str], expected: list[tuple[int, dt.time, dt.time]]) -> None:
    calendar = Calendar.parse("Europe/Berlin", hours, ["2026-12-25", " 2026-12-26 "])
    assert calendar.hours == tuple(expected)
    assert calendar.holidays == {dt.date(2026, 12, 25), dt.date(2026, 12, 26)}
    assert calendar.timezone == "Europe/Berlin" and not calendar.always


def test_calendar_parse_24_7() -> None:
    calendar = Calendar.parse("Europe/Berlin", [" 24/7 "], [])
    assert calendar.always and calendar.hours == ()
    assert Calendar.twenty_four_seven().always


@pytest.mark.parametrize(
    ("timezone", "hours", "holidays", "message"),
    [
        pytest.param("Mars/Olympus", ["mon 09:00-17:00"], [], "Mars/Olympus", id="unknown zone"),
        pytest.param("", ["mon 09:00-17:00"], [], "time zone", id="empty zone"),
        pytest.param("../etc/passwd", ["mon 09:00-17:00"], [], "time zone", id="path as zone"),
        pytest.param("UTC", [], [], "no opening hours", id="no hours"),
        pytest.param("UTC", ["24/7", "mon 09:00-17:00"], [], "only", id="24/7 with more"),
        pytest.param("UTC", ["mon-fri"], [], "'mon-fri'", id="no times"),
        pytest.param("UTC", ["09:00-17:00"], [], "09:00-17:00", id="no days"),
        pytest.param("UTC", ["xyz 09:00-17:00"], [], "xyz", id="unknown day"),
        pytest.param("UTC", ["monday 09:00-17:00"], [], "monday", id="day spelled out"),
        pytest.param("UTC", ["fri-mon 09:00-17:00"], [], "fri-mon", id="range wraps"),
        pytest.param("UTC", ["mon,,tue 09:00-17:00"], [], "mon,,tue", id="empty day"),
        pytest.param("UTC", ["mon,mon 09:00-17:00"], [], "twice", id="day twice"),
        pytest.param("UTC", ["mon 9-17"], [], "9-17", id="no minutes"),
        pytest.param("UTC", ["mon 09:00\u201317:00"], [], "mon 09:00", id="en dash"),
        pytest.param("UTC", ["mon 09:00-17:00x"], [], "17:00x", id="trailing junk"),
        pytest.param("UTC", ["mon 25:00-26:00"], [], "25:00-26:00", id="hour 25"),
        pytest.param("UTC", ["mon 09:60-10:00"], [], "09:60", id="minute 60"),
        pytest.param("UTC", ["mon 22:00-24:30"], [], "24:30", id="past 24:00"),
        pytest.param("UTC", ["mon 24:00-24:00"], [], "24:00-24:00", id="opens at 24:00"),
        pytest.param("UTC", ["mon 17:00-09:00"], [], "17:00-09:00", id="open after close"),
        pytest.param("UTC", ["mon 09:00-09:00"], [], "09:00-09:00", id="open at close"),
        pytest.param("UTC", ["mon 22:00-00:00"], [], "24:00", id="midnight as 00:00"),
        pytest.param(
            "UTC", ["mon 09:00-12:00 11:00-13:00"], [], "overlap on mon", id="overlap in entry"
        ),
        pytest.param(
            "UTC", ["mon-fri 09:00-17:00", "wed 16:00-18:00"], [], "16:00-18:00", id="overlap"
        ),
        pytest.param(
            "UTC", ["sun 22:00-24:00", "sun 23:00-23:30"], [], "22:00-24:00", id="overlap 24:00"
        ),
        pytest.param("UTC", ["mon 09:00-17:00"], ["2026-13-01"], "2026-13-01", id="month 13"),
        pytest.param("UTC", ["mon 09:00-17:00"], ["2026-02-30"], "2026-02-30", id="feb 30"),
        pytest.param("UTC", ["mon 09:00-17:00"], ["26-1-1"], "26-1-1", id="short date"),
        pytest.param("UTC", ["mon 09:00-17:00"], ["20261225"], "20261225", id="basic format"),
        pytest.param("UTC", ["mon 09:00-17:00"], ["christmas"], "christmas", id="word"),
    ],
)
def test_calendar_parse_errors(
    timezone: str, hours: list[str], holidays: list[str], message: str
) -> None:
    with pytest.raises(SlaConfigError, match=message.replace("(", r"\(")) as raised:
        Calendar.parse(timezone, hours, holidays)
    assert isinstance(raised.value, ValueError)


def test_calendar_parse_wants_lists_not_a_string() -> None:
    with pytest.raises(SlaConfigError, match="lists"):
        Calendar.parse("UTC", "mon 09:00-17:00", [])


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        pytest.param((), "no opening hours", id="no hours"),
        pytest.param(((7, T(9), T(17)),), "weekday", id="weekday 7"),
        pytest.param(((0, T(17), T(9)),), "before closing", id="open after close"),
        pytest.param(((0, T(9), T(17)), (0, T(16), T(18))), "overlap on mon", id="overlap"),
        pytest.param(((0, T(0), T(0)), (0, T(9), T(10))), "overlap", id="whole day and more"),
        pytest.param(((0, T(9, tzinfo=dt.UTC), T(17)),), "local", id="aware time"),
    ],
)
def test_calendar_rejects_bad_hours(
    hours: tuple[tuple[int, dt.time, dt.time], ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Calendar("Europe/Berlin", hours)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90m", 90 * M),
        ("1h", H),
        ("8h", 8 * H),
        ("1h30m", 90 * M),
        ("1h 30m", 90 * M),
        ("2d", 48 * H),
        ("45s", 45),
        ("1d2h3m4s", 93784),
        ("3600", H),
        (" 15m ", 15 * M),
        ("0", 0),
        ("1H", H),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", " ", "h", "1x", "1.5h", "-1h", "30m1h", "1h-", "\u00b2"])
def test_parse_duration_errors(text: str) -> None:
    with pytest.raises(SlaConfigError, match="duration"):
        parse_duration(text)


# --------------------------------------------------------------------------
# Properties on random calendars, against a slow reference
# --------------------------------------------------------------------------

ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "UTC",
    "Australia/Lord_Howe",  # DST of 30 minutes
    "America/Santiago",  # changes at midnight
    "America/Havana",  # changes at midnight: 00:00 skipped, then repeated
    "Europe/Dublin",  # negative DST in tzdata
    "Africa/Casablanca",  # leaves DST for Ramadan
    "Asia/Kolkata",
    "Pacific/Chatham",
)
CHANGE_DAYS = [
    dt.datetime(2026, month, day, tzinfo=dt.UTC)
    for month, day in ((2, 15), (3, 8), (3, 22), (3, 29), (4, 5), (9, 6), (9, 27), (10, 4))
    + ((10, 25), (11, 1))
]
MINUTE = dt.timedelta(minutes=1)


def reference_instant(zone: ZoneInfo, wall: dt.datetime) -> dt.datetime:
    """The first instant the clock in `zone` shows `wall` or later, by scanning minutes."""
    offsets = [zone.utcoffset(wall.replace(fold=fold)) or dt.timedelta(0) for fold in (0, 1)]
    moment = (wall - max(offsets)).replace(tzinfo=dt.UTC)
    while moment.astimezone(zone).replace(tzinfo=None) < wall:
        moment += MINUTE
    return moment


def reference_open_time(calendar: Calendar, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """Open time between two instants, one local day after another, no shortcuts."""
    zone = ZoneInfo(calendar.timezone)
    total = dt.timedelta(0)
    day = start.astimezone(zone).date() - dt.timedelta(days=2)
    while day <= end.astimezone(zone).date() + dt.timedelta(days=1):
        for weekday, opens, closes in calendar.hours:
            if weekday != day.weekday() or day in calendar.holidays:
                continue
            close_day = day + dt.timedelta(days=1) if closes == T(0) else day
            begin = reference_instant(zone, dt.datetime.combine(day, opens))
            finish = reference_instant(zone, dt.datetime.combine(close_day, closes))
            total += max(dt.timedelta(0), min(finish, end) - max(begin, start))
        day += dt.timedelta(days=1)
    return total


MINUTE_MARKS = st.one_of(
    st.integers(0, 24 * 60), st.sampled_from([0, 30, 60, 90, 120, 150, 180, 1380, 1410, 1440])
)


def clock_time(minutes: int) -> dt.time:
    return T(minutes // 60 % 24, minutes % 60)  # 24:00 is 00:00


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    """Up to two intervals a day, on minute marks (often around DST changes and
    midnight), touching now and then; random holidays; one of ZONES."""
    hours: list[tuple[int, dt.time, dt.time]] = []
    for weekday in range(7):
        marks = sorted(draw(st.lists(MINUTE_MARKS, max_size=4)))
        for opens, closes in zip(marks[::2], marks[1::2], strict=False):
            if opens < closes:
                hours.append((weekday, clock_time(opens), clock_time(closes)))
    if not hours:
        hours.append((draw(st.integers(0, 6)), T(9), T(17)))
    holidays = draw(
        st.frozensets(st.dates(dt.date(2025, 12, 1), dt.date(2027, 12, 31)), max_size=30)
    )
    return Calendar(draw(st.sampled_from(ZONES)), tuple(hours), holidays)


STARTS = st.one_of(
    st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2026, 12, 31), timezones=st.just(dt.UTC)),
    st.builds(
        lambda day, delta: day + delta,
        st.sampled_from(CHANGE_DAYS),
        st.timedeltas(dt.timedelta(days=-3), dt.timedelta(days=1)),
    ),
)


@settings(max_examples=200, deadline=None)
@given(calendars(), STARTS, st.integers(0, 3000 * H))
def test_counting_what_was_added_gives_it_back(
    calendar: Calendar, start: dt.datetime, seconds: int
) -> None:
    result = add_business_time(calendar, start, seconds)
    assert result >= start
    assert business_seconds(calendar, start, result) == seconds


@settings(max_examples=200, deadline=None)
@given(calendars(), STARTS, st.timedeltas(dt.timedelta(0), dt.timedelta(days=800)))
def test_adding_what_was_counted_does_not_pass_the_end(
    calendar: Calendar, start: dt.datetime, span: dt.timedelta
) -> None:
    end = start + span
    assert add_business_time(calendar, start, business_seconds(calendar, start, end)) <= end


@settings(max_examples=200, deadline=None)
@given(calendars(), STARTS, st.timedeltas(dt.timedelta(0), dt.timedelta(days=40)))
def test_agrees_with_the_reference(
    calendar: Calendar, start: dt.datetime, span: dt.timedelta
) -> None:
    end = start + span
    open_time = reference_open_time(calendar, start, end)
    seconds = open_time // dt.timedelta(seconds=1)
    assert business_seconds(calendar, start, end) == seconds
    result = add_business_time(calendar, start, seconds)
    assert reference_open_time(calendar, start, result) == dt.timedelta(seconds=seconds)
    if seconds:  # the first instant with that much open time, not a later one
        before = result - dt.timedelta(microseconds=1)
        assert reference_open_time(calendar, start, before) < dt.timedelta(seconds=seconds)


def test_rebase_carries_the_business_time_elapsed_to_the_new_calendar() -> None:
    office = Calendar.parse("Europe/Berlin", ["mon-fri 09:00-17:00"], [])
    always = Calendar.twenty_four_seven()
    friday = dt.datetime(2025, 11, 21, 15, 0, tzinfo=dt.UTC)  # 16:00 in Berlin
    saturday = dt.datetime(2025, 11, 22, 9, 0, tzinfo=dt.UTC)
    moved = rebase(office, Clock(friday, 8 * H), saturday)
    assert (moved.started, moved.carried, moved.paused) == (saturday, 1 * H, 0)
    assert due(always, moved) == saturday + dt.timedelta(hours=7)
    assert warn_at(always, moved, 0.5) == saturday + dt.timedelta(hours=3)
    assert elapsed(always, moved, saturday + dt.timedelta(hours=2)) == 3 * H
    assert elapsed(always, moved, saturday - dt.timedelta(hours=1)) == 1 * H

    # Paused before the change: it stays paused, and counts its pause from the change.
    waiting = Clock(friday, 8 * H, paused_since=friday + dt.timedelta(minutes=30))
    moved = rebase(office, waiting, saturday)
    assert (moved.carried, moved.paused_since) == (30 * M, saturday)
    assert due(always, moved) is None
    running = resume(always, moved, saturday + dt.timedelta(hours=1))
    assert due(always, running) == saturday + dt.timedelta(hours=8, minutes=30)

    # A target already used up before the change is due at the change.
    assert due(always, rebase(office, Clock(friday, 30 * M), saturday)) == saturday
