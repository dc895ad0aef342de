"""Group commit for the listeners: messages that arrive together share one transaction.

Where it sits: between the SMTP/LMTP handler (`inbound.smtp`) and the intake
(`inbound.intake.accept_all`). Every transaction costs a disk sync (SQLite
`synchronous=FULL`, PostgreSQL's WAL flush) and a round of thread hand-offs;
under load, when several sessions finish DATA at about the same time, the
messages waiting for the database are committed together, and each session gets
its `250` once the transaction holding its message has committed. A single
message waits for nothing: it is committed at once. When a transaction fails,
every message in it gets the failure (451) and none is stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Callable
from concurrent.futures import Executor

import peewee

from maildesk.inbound.intake import Accepted, Delivery, accept_all

MAX_BATCH = 64  # messages per transaction


class GroupCommit:
    """`commit()` from the loop; at most `concurrency` transactions at a time."""

    def __init__(
        self,
        db: peewee.Database,
        executor: Executor,
        concurrency: int,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._db = db
        self._executor = executor
        self._concurrency = concurrency
        self._clock = clock
        self._waiting: list[tuple[Delivery, asyncio.Future[Accepted]]] = []
        self._running = 0

    async def commit(self, delivery: Delivery) -> Accepted:
        """Returns once `delivery` is committed; raises when it could not be."""
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, future))
        if self._running < self._concurrency:
            self._running += 1
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                unit = functools.partial(
                    accept_all, self._db, [d for d, _ in batch], now=self._clock()
                )
                try:
                    results = await loop.run_in_executor(self._executor, unit)
                except Exception as exc:  # noqa: BLE001 - handed to every waiting session
                    for _, future in batch:
                        if not future.done():  # a session whose client left is cancelled
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._running -= 1
