"""Worker threads for database work, awaited from the daemon's asyncio loop.

Peewee is synchronous and keeps one connection per thread, so the daemon never
touches the database on its loop: a unit of work (commit one message, process
one message) is a plain function submitted here and awaited with
`loop.run_in_executor(executor, fn)`, and runs on the executor's database
(`store.scope.using`: the models' queries in it go there). Each thread opens its connection on first
use, keeps it for the life of the thread and closes it on `shutdown`; after an
operational error (server restarted, disk full) it drops the connection so the
next unit of work starts on a fresh one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

import peewee

from maildesk.store.scope import using

T = TypeVar("T")

_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DbExecutor(Executor):
    """A fixed set of threads running database work, each on its own connection."""

    def __init__(self, db: peewee.Database, workers: int, name: str) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.db = db
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{index}", daemon=True)
            for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit database work after shutdown")
            self._queue.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; the threads finish what is queued, close their connections, end."""
        with self._lock:
            if not self._closed:
                self._closed = True
                for _ in self._threads:
                    self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the threads to end (after `shutdown`)."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _serve(self) -> None:
        with using(self.db):
            self._serve_work()

    def _serve_work(self) -> None:
        try:
            while (work := self._queue.get()) is not None:
                future, fn, args, kwargs = work
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                    if isinstance(exc, peewee.OperationalError | peewee.InterfaceError):
                        self._drop_connection()
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            self._drop_connection()

    def _drop_connection(self) -> None:
        try:
            self.db.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to close; forget it
            self.db.dispose()
