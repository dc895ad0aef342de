"""The daemon's webhook worker: the cursor's passes, and the deliveries sent.

Where it sits: `maildesk webhooks work`, the process the daemon starts beside it
(`daemon.webhooks`), runs one, woken whenever the daemon may have written events;
it also looks every second, for what other instances and the CLI wrote. Two tasks
share one database thread: the cursor (`events.fanout`) writes deliveries, the
sender claims and POSTs them (`events.deliveries`), up to `[webhooks] concurrency`
at once, and records the answers in rounds, each with the next claim in one
transaction; a slow receiver holds up only its own rows.

Every request goes to an address the targets check passed (`events.targets`), with
no proxy from the environment and no redirect followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass

import aiohttp
import peewee

from maildesk import __version__
from maildesk.config import WebhooksConfig
from maildesk.events import deliveries, fanout, hooks
from maildesk.events.deliveries import Claimed, Outcome, Result
from maildesk.events.signing import headers
from maildesk.events.targets import Pins, Refused, Targets, Unresolved
from maildesk.settings.desks import Desks
from maildesk.settings.fields import Fields

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between the cursor's looks when nobody wakes it
MAX_BACKOFF = 60.0  # seconds between tries while the database fails
GATHER = 0.01  # seconds the sender waits for more answers to record in one transaction
RETRY_STATUSES = frozenset({408, 425, 429})
USER_AGENT = f"maildesk/{__version__} (webhooks)"


def outcome_of(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status >= 500 or status in RETRY_STATUSES:
        return Outcome.RETRY
    return Outcome.FAILED


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a Retry-After header asks for (a number or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(text)
        return max(0.0, when.timestamp() - now)
    return None


class WebhookWorker:
    def __init__(
        self,
        db: peewee.Database,
        executor: Executor,
        desks: Desks,
        fields: Fields,
        config: WebhooksConfig,
        environ: Mapping[str, str],
        clock: Callable[[], dt.datetime],
        interval: float = INTERVAL,
    ) -> None:
        self.db = db
        self._executor = executor
        self._desks = desks
        self._fields = fields
        self._config = config
        self._environ = environ
        self._clock = clock
        self._interval = interval
        self._pins = Pins(Targets.of(config.allowed_networks))
        self._events = asyncio.Event()  # new events may be in the log
        self._due = asyncio.Event()  # new deliveries may be due
        self._stopping = False

    def wake(self) -> None:
        """Events were written: run the cursor soon."""
        self._events.set()

    def stop(self) -> None:
        """Finish the deliveries in flight, then return from `run`."""
        self._stopping = True
        self._events.set()
        self._due.set()

    async def run(self) -> None:
        await asyncio.gather(self._cursor(), self._sender())

    async def _db(self, fn: Callable[..., object], *args: object) -> object:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- the cursor ----------------------------------------------------------------

    async def _cursor(self) -> None:
        pause = self._interval
        while not self._stopping:
            self._events.clear()
            try:
                done = await self._db(
                    fanout.fan_out, self.db, self._desks, self._fields, self._clock()
                )
            except Exception as exc:  # noqa: BLE001 - the log says why; the pass is retried
                pause = min(MAX_BACKOFF, pause * 2)
                log.error("webhooks: cursor pass failed (retrying in %.0f s): %s", pause, exc)
                await self._wait(self._events, pause)
                continue
            pause = self._interval
            assert isinstance(done, fanout.Pass)
            if done.deliveries:
                self._due.set()
            if done.events >= fanout.BATCH:
                continue  # more are waiting
            await self._wait(self._events, self._interval)

    # -- the sender ----------------------------------------------------------------

    async def _sender(self) -> None:
        async with client(self._config) as http:
            await self._send_all(http)

    async def _send_all(self, http: aiohttp.ClientSession) -> None:
        """Rounds of one transaction each: record what came back, claim what fits."""
        inflight: set[asyncio.Task[Result]] = set()
        results: list[Result] = []
        endpoints: dict[int, hooks.Endpoint] = {}
        read_at = -1.0
        pause = self._interval
        while not self._stopping or inflight or results:
            room = 0 if self._stopping else self._config.concurrency - len(inflight)
            if inflight and room < self._config.concurrency // 4:
                room = 0  # claim in larger rounds: one transaction for many rows
            self._due.clear()
            try:
                claimed = await self._db(
                    deliveries.exchange, self.db, results, self._clock(), room, self._config
                )
                assert isinstance(claimed, list)
                if claimed and (
                    time.monotonic() - read_at > self._interval
                    or any(row.webhook_id not in endpoints for row in claimed)
                ):
                    endpoints = {e.id: e for e in await self._endpoints()}
                    read_at = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - the log says why; the round is retried
                pause = min(MAX_BACKOFF, pause * 2)
                log.error("webhooks: database error (retrying in %.0f s): %s", pause, exc)
                if self._stopping and not inflight:
                    return  # the leases run out; the rows are sent again after a restart
                if not inflight:
                    await self._wait(self._due, pause)
                    continue
                claimed = []
            else:
                pause = self._interval
                results = []
            for row in claimed:
                task = asyncio.create_task(self._send(http, row, endpoints.get(row.webhook_id)))
                inflight.add(task)
            if not inflight:
                due = await self._db(deliveries.next_due, self.db)
                await self._wait(self._due, self._until(due))
                continue
            waker = asyncio.create_task(self._due.wait())
            await asyncio.wait(
                {*inflight, waker}, timeout=self._interval, return_when=asyncio.FIRST_COMPLETED
            )
            waker.cancel()
            if len([t for t in inflight if t.done()]) * 4 < len(inflight):
                # a few back only: give the rest a moment, to record them together
                await asyncio.wait(inflight, timeout=GATHER)
            done = [task for task in inflight if task.done()]
            inflight.difference_update(done)
            for task in done:
                result = task.result()
                results.append(result)
                if result.outcome is Outcome.DELIVERED:
                    log.debug("webhook delivery %d delivered: %s", result.id, result.detail)
                else:
                    log.warning("webhook delivery %d %s: %s", result.id, result.outcome,
                                result.detail)  # fmt: skip

    async def _endpoints(self) -> list[hooks.Endpoint]:
        found = await self._db(hooks.active, self.db)
        assert isinstance(found, list)
        return found

    def _until(self, due: object) -> float:
        if not isinstance(due, dt.datetime):
            return self._interval
        return min(self._interval, max(0.0, (due - self._clock()).total_seconds()))

    async def _send(
        self, client: aiohttp.ClientSession, row: Claimed, endpoint: hooks.Endpoint | None
    ) -> Result:
        if endpoint is None:
            return Result(row.id, Outcome.FAILED, None, hooks.REMOVED)
        try:
            key = endpoint.key(self._environ)
        except hooks.HookError as exc:
            return Result(row.id, Outcome.RETRY, None, str(exc))
        answer = await post(client, endpoint.url, key, row.msg_id, row.body, self._pins)
        detail = f"{endpoint.name}: {answer.detail} ({row.type} {row.msg_id})"
        return Result(row.id, answer.outcome, answer.status, detail, answer.retry_after)

    async def _wait(self, event: asyncio.Event, seconds: float) -> None:
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    status: int | None
    detail: str
    retry_after: float | None = None


async def post(
    client: aiohttp.ClientSession, url: str, key: bytes, msg_id: str, body: str, pins: Pins
) -> Answer:
    """One signed attempt (also `maildesk webhooks test`). The receiver's answer body
    is never read: only its status counts."""
    try:
        target = await pins.pin(url)
    except Unresolved as exc:
        return Answer(Outcome.RETRY, None, str(exc))
    except Refused as exc:
        return Answer(Outcome.FAILED, None, str(exc))
    data = body.encode()
    sent = headers(key, msg_id, int(time.time()), data)
    sent.update({"Host": target.host_header, "User-Agent": USER_AGENT})
    https = target.url.startswith("https:")
    try:
        async with client.post(
            target.url,
            data=data,
            headers=sent,
            allow_redirects=False,
            server_hostname=target.server_name if https else None,
        ) as response:
            status = response.status
            wait = retry_after(response.headers.get("retry-after"), time.time())
    except TimeoutError:
        return Answer(Outcome.RETRY, None, "no answer in time")
    except aiohttp.ClientError as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return Answer(Outcome.RETRY, None, detail[:300])
    return Answer(outcome_of(status), status, f"HTTP {status}", wait)


def client(config: WebhooksConfig) -> aiohttp.ClientSession:
    """The HTTP client webhooks are sent with: no proxy from the environment, no
    redirects, no cookies kept, the configured timeout and concurrency, connections
    kept open."""
    connector = aiohttp.TCPConnector(limit=config.concurrency, use_dns_cache=False)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=float(config.timeout)),
        trust_env=False,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def test(
    endpoint: hooks.Endpoint, key: bytes, config: WebhooksConfig, now: dt.datetime
) -> Answer:
    """One signed `webhook.test` event to the endpoint, now (not recorded)."""
    body = json.dumps(
        {
            "type": "webhook.test",
            "timestamp": now.isoformat(),
            "data": {"webhook": endpoint.id, "url": endpoint.url},
        },
        separators=(",", ":"),
    )
    msg_id = f"test_{uuid.uuid4().hex}"
    async with client(config) as http:
        return await post(
            http, endpoint.url, key, msg_id, body, Pins(Targets.of(config.allowed_networks))
        )
