"""Helpers shared by the benchmark scripts (bench/ingest.py, bench/smtp.py, bench/sla.py).

The scripts are run by path, so Python puts this folder first on sys.path and
they import this module as plain `common`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_TARGET_MISSED, EXIT_BROKEN = 0, 1, 2


class BenchError(Exception):
    """Something broke: the figures of this run cannot be trusted."""


def say(text: str = "") -> None:
    print(text, flush=True)


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


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
