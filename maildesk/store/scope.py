"""The database of the current unit of work, and the models' handle on it.

Every model's `Meta.database` is `UNIT`, a stand-in that resolves, at each
query, to the database of the unit of work running in the current context
(thread or asyncio task). A unit of work names its database explicitly:

    with write_transaction(db):   # a writer: its database, one transaction
        ...
    with using(db):               # a reader (a page, a command, a report)
        ...

`DbExecutor` threads run every unit of work handed to them on the executor's
database, and `maildesk` commands run on the configured one. Nothing binds the
models process-wide: two databases can be open side by side (the CLI inside a
test, two instances in one process), and a query outside any unit of work fails
at once with `NoDatabase`, naming the fix, instead of running on whichever
database was opened last.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import peewee

_current: contextvars.ContextVar[peewee.Database | None] = contextvars.ContextVar(
    "maildesk_database", default=None
)


class NoDatabase(RuntimeError):
    """A model was used outside any unit of work."""


def current() -> peewee.Database:
    """The database of the unit of work running here."""
    db = _current.get()
    if db is None:
        raise NoDatabase(
            "no database for this unit of work: run it inside store.db.using(db) "
            "or store.db.write_transaction(db)"
        )
    return db


@contextlib.contextmanager
def using(db: peewee.Database) -> Iterator[peewee.Database]:
    """Run the block on `db`: every model query in it (and in what it calls, on this
    thread or asyncio task) goes there. Nests; the outer database comes back after."""
    token = _current.set(db)
    try:
        yield db
    finally:
        _current.reset(token)


class UnitDatabase(peewee.DatabaseProxy):
    """The models' database: the current unit of work's (`current`)."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(current(), attr)

    def __enter__(self) -> Any:
        return current().__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return current().__exit__(*exc)


UNIT = UnitDatabase()
