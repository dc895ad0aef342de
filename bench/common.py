"""Helpers shared by the benchmark scripts (bench/ingest.py, bench/smtp.py, bench/sla.py,
bench/web.py, bench/peer.py).

The scripts are run by path, so Python puts this folder first on sys.path and
they import this module as plain `common`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_TARGET_MISSED, EXIT_BROKEN = 0, 1, 2

DESK_ADDRESS = "support@example.com"  # maildesk's default desk address
AUTO_CLOSE = dt.timedelta(days=3)  # maildesk's default [sla] auto_close_days
MINUTE = dt.timedelta(minutes=1)
DONE = ("resolved", "closed")
# The due and warn times maildesk's SlaTracker sets on a ticket.
SLA_TIMES = ("first_response_due", "first_response_warn_at", "resolution_due", "resolution_warn_at")


class BenchError(Exception):
    """Something broke: the figures of this run cannot be trusted."""


def say(text: str = "") -> None:
    print(text, flush=True)


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


@dataclass
class Row:
    """A line of a bench's summary table."""

    metric: str
    value: str
    target: str = ""
    passed: bool | None = None


def timed(label_: str, func: Callable[[], Any]) -> tuple[Any, float]:
    """`func()` and how long it took, which is said under `label_`."""
    start = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - start
    say(f"  {label_}: {seconds:.2f} s")
    return result, seconds


def add_seed_and_workdir(parser: argparse.ArgumentParser, seed: int, seed_help: str) -> None:
    """The `--seed` and `--workdir` options of a bench."""
    parser.add_argument("--seed", type=int, default=seed, help=seed_help)
    parser.add_argument(
        "--workdir",
        metavar="DIR",
        help="where the temporary directory goes (default: $TMPDIR or /tmp)",
    )


def maildesk_executable() -> Path:
    """The `maildesk` entry point next to the running (virtualenv) python."""
    exe = Path(sys.executable).parent / "maildesk"
    if not exe.exists():
        raise BenchError(f"{exe} not found: run with the project's virtualenv python")
    return exe


def clean_env(prefixes: tuple[str, ...] = ("MAILDESK_",)) -> dict[str, str]:
    """The environment for subprocesses, without variables starting with `prefixes`."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def proc_status_kib(key: str, pid: int | str = "self") -> int:
    """A `kB` field of /proc/PID/status, such as VmRSS or VmHWM."""
    path = f"/proc/{pid}/status"
    with open(path, encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"{key} not in {path}")


def bulk_insert(
    db: Any,
    model: Any,
    fields: Sequence[Any],
    rows: Iterable[tuple[Any, ...]],
    converted: tuple[type, ...],
    chunk: int = 5_000,
) -> int:
    """Insert `rows` (values in `fields` order) fast; returns how many.

    Building the statement value by value costs peewee ~20 us per value (over a
    minute for 100k tickets); so peewee builds the one-row INSERT for the model (its
    column list includes the model's defaults), each value of a field whose class is
    in `converted` goes through its db_value (dates, JSON, booleans; ints and strs
    are stored as they are), and the rows are sent with executemany in chunks.
    """
    fields = list(fields)
    converters = [f.db_value if isinstance(f, converted) else None for f in fields]
    cursor = db.cursor()
    sql: str | None = None
    defaults: tuple[Any, ...] = ()
    batch: list[tuple[Any, ...]] = []
    n = 0
    for row in rows:
        if sql is None:
            sql, params = model.insert_many([row], fields=fields).sql()
            defaults = tuple(params[len(fields) :])
        values = (
            v if convert is None else convert(v) for convert, v in zip(converters, row, strict=True)
        )
        batch.append((*values, *defaults))
        if len(batch) >= chunk:
            cursor.executemany(sql, batch)
            n += len(batch)
            batch = []
    if batch and sql is not None:
        cursor.executemany(sql, batch)
        n += len(batch)
    return n


# -- planned tickets (bench/sla.py, bench/web.py) -----------------------------------------


def sla_times(tracker: Any, t: dict[str, Any], created: dt.datetime | None = None) -> tuple:
    """The SLA_TIMES maildesk's `tracker` (an SlaTracker) sets on ticket row `t` (its
    priority, category and pause), as if created at `created` (default: its own
    `created_at`); computed on an unsaved Ticket."""
    from maildesk.store.models import Ticket

    draft = Ticket(
        created_at=t["created_at"] if created is None else created,
        priority=t["priority"],
        category=t["category"],
        sla_paused_at=t["sla_paused_at"],
        sla_paused_seconds=t["sla_paused_seconds"],
    )
    tracker.retarget(draft)
    return tuple(getattr(draft, name) for name in SLA_TIMES)


def settle_sla(
    t: dict[str, Any],
    rng: random.Random,
    now: dt.datetime,
    horizon: dt.datetime,
    earliest: float,
    clocks: Callable[[dict[str, Any]], None],
) -> None:
    """The rest of the life of ticket row `t` (created, due times set, answered or not:
    its `first_response_at`) up to `now`, as maildesk's SLA pass would have left it.

    A ticket waiting on the customer is paused (its resolution clock stopped) some time
    after the answer; a resolved one is resolved after the answer, between `earliest`
    and 1.4 times its resolution target (on time or late), and closed AUTO_CLOSE later
    if that has passed; neither happens after `horizon`. Every warning and breach that
    passed is recorded: the first response's up to the answer (or `now`), the
    resolution's up to the pause or the resolution (or `now`). A stopped clock is
    paused there; a waiting ticket's due times are then made again by `clocks` (no
    resolution due or warn time while it waits), a resolved one keeps them (as maildesk
    does). The escalation level counts the breaches."""
    created, status = t["created_at"], t["status"]
    answered_at = t["first_response_at"]
    first_due, first_warn = t["first_response_due"], t["first_response_warn_at"]
    if first_due is not None:
        end = answered_at or now
        if first_warn <= end:
            t["first_response_warned_at"] = first_warn
        if first_due < end or (answered_at is None and first_due <= now):
            t["first_response_breached_at"] = first_due
    stop = now  # where the resolution clock stands (now: still running)
    since = answered_at or created
    if status == "waiting_on_customer":
        stop = since + (horizon - since) * rng.uniform(0.2, 0.9)
    elif status in DONE:
        target = t["resolution_due"] or since + dt.timedelta(days=1)  # None: no policy
        at = since + (target - since) * rng.uniform(earliest, 1.4)
        stop = t["resolved_at"] = min(at, horizon - MINUTE)
        if stop + AUTO_CLOSE <= now:
            t["status"], t["closed_at"] = "closed", stop + AUTO_CLOSE
    due, warn = t["resolution_due"], t["resolution_warn_at"]
    if due is not None:
        if warn <= stop:
            t["resolution_warned_at"] = warn
        if due < stop or (stop == now and due <= now):
            t["resolution_breached_at"] = due
    if stop != now:
        t["sla_paused_at"] = stop
        if status == "waiting_on_customer":
            clocks(t)
    t["escalation_level"] = sum(
        t[k] is not None for k in ("first_response_breached_at", "resolution_breached_at")
    )


# -- databases (bench/sla.py, bench/web.py) ------------------------------------------------


def postgres_admin(server: str) -> Any:
    """A peewee connection to the PostgreSQL database of URL `server` (to create and drop
    the bench's own schemas or databases there)."""
    import peewee

    parts = urllib.parse.urlsplit(server)
    return peewee.PostgresqlDatabase(
        urllib.parse.unquote(parts.path.lstrip("/")),
        host=parts.hostname,
        port=parts.port or 5432,
        user=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        prefer_psycopg3=True,
        connect_timeout=5,
    )


def plan_lines(db: Any, postgres: bool, sql: str, params: Any) -> list[str]:
    """The query plan of `sql`: `EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite."""
    if postgres:
        rows = db.execute_sql("EXPLAIN " + sql, params).fetchall()
        return [row[0] for row in rows]
    rows = db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return [row[-1] for row in rows]
