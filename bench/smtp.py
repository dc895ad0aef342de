#!/usr/bin/env python3
"""SMTP benchmark: `maildesk run` against a group-committing aiosmtpd sink, same load.

Run it with the project's virtualenv (``bench/smtp`` or ``.venv/bin/python
bench/smtp.py``). In one run it

1. generates deterministic messages (plain text, multipart/alternative, some with
   a 20-100 KB attachment, some 8-bit UTF-8), the same bytes for every side;
2. **burst**: 8 concurrent smtplib clients, each on its own connection, send
   --messages as fast as they are accepted to
   (a) the baseline: a bare aiosmtpd sink (a subprocess) that commits the raw
       bytes to SQLite (WAL, synchronous=FULL) the way the daemon does: the
       messages that arrive while a commit runs wait and share the next
       transaction (one disk sync per group, not per message), then 250;
   (b) `maildesk run` (a subprocess, fresh SQLite database);
   alternating (a) and (b) for --rounds rounds, keeping each side's best. For (b)
   it measures the acceptance rate (to the last 250) and the **end-to-end** rate:
   until every accepted message is a ticket with its acknowledgement queued;
3. **steady**: `maildesk run` fed at a steady 50 and 100 msg/s for --seconds
   (default 60), and the processing lag of every message, from its 250 (client
   clock) to its ticket's `created_at` (the daemon's clock, same machine): p50,
   p99, max; and how long after the last 250 the backlog was gone;
4. the daemon's peak RSS (VmHWM) with all messages of the burst processed.

Targets: end-to-end (b) >= 0.6 x (a); p99 lag < 5 s at 100 msg/s; peak RSS.
Machines are noisy: only the ratios within one run mean something.
Exit status: 0 all targets met, 1 a target was missed, 2 something broke.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import signal
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

from common import (
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_TARGET_MISSED,
    BenchError,
    clean_env,
    maildesk_executable,
    mib,
    proc_status_kib,
    say,
)

TARGET_END_TO_END = 0.6  # (b) end to end / (a) acceptance, burst
TARGET_P99_LAG = 5.0  # seconds from 250 to ticket, at TARGET_LAG_RATE msg/s
TARGET_LAG_RATE = 100
STEADY_RATES = (50, 100)  # msg/s
TARGET_RSS_MIB = 150.0  # daemon peak RSS with every message processed
SINK_BATCH = 64  # messages per transaction at most, as inbound.group_commit
CLIENTS = 8
DESK = "support@example.com"
READY_TIMEOUT = 30.0
PROCESS_TIMEOUT = 600.0
ENV_PREFIXES = ("MAILDESK_", "NOTIFY_")  # stripped from the subprocesses' environment


# -- messages ------------------------------------------------------------------------


WORDS = (
    *("account", "invoice", "order", "payment", "login", "error", "export", "report"),
    *("customer", "subscription", "refund", "delivery", "password", "server", "page"),
    *("Grüße", "café", "naïve", "résumé", "Zürich"),
)


def message_id(seed: int, index: int) -> str:
    return f"<bench-{seed}-{index}@customer.example>"


def build_messages(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    messages = []
    for index in range(count):
        msg = EmailMessage()
        # One domain per sender: no per-domain cap on new tickets or automatic mail
        # changes what the daemon does for some of them.
        msg["From"] = f"Customer {index} <customer{index}@c{index}.example>"
        msg["To"] = DESK
        msg["Subject"] = f"Request {index}: {' '.join(rng.choices(WORDS, k=5))}"
        msg["Date"] = "Mon, 02 Mar 2026 08:00:00 +0000"
        msg["Message-ID"] = message_id(seed, index)
        lines = [" ".join(rng.choices(WORDS, k=12)) for _ in range(rng.randint(5, 60))]
        text = "\n".join(lines) + "\n"
        kind = rng.random()
        msg.set_content(text, cte="8bit" if kind < 0.3 else None)
        if 0.6 <= kind < 0.9:
            html = "".join(f"<p>{line}</p>\n" for line in lines)
            msg.add_alternative(f"<html><body>\n{html}</body></html>\n", "html")
        elif kind >= 0.9:
            blob = rng.randbytes(rng.randint(20_000, 100_000))
            msg.add_attachment(blob, "application", "octet-stream", filename=f"log-{index}.bin")
        messages.append(msg.as_bytes(policy=SMTP_POLICY))  # CRLF line ends, as on the wire
    return messages


# -- client load ---------------------------------------------------------------------


@dataclass
class Load:
    seconds: float  # first connection to the last 250
    started: float  # time.monotonic() of the start
    last_ok: float  # time.monotonic() of the last 250
    rate: float  # messages per second
    accepted_at: list[float]  # per message: time.time() of its 250


def drive(
    port: int, messages: Sequence[bytes], clients: int = CLIENTS, rate: float | None = None
) -> Load:
    """Send every message once, `clients` at a time; each client keeps its connection.
    `rate`: message i is sent no sooner than i/rate seconds after the start (steady
    load); None: as fast as they are accepted."""
    lock = threading.Lock()
    queue = list(range(len(messages)))
    queue.reverse()  # pop() takes them in order: message i is due at i/rate
    last_ok = [0.0]
    accepted_at = [0.0] * len(messages)
    start = time.monotonic()

    def client() -> int:
        sent = 0
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
            while True:
                with lock:
                    if not queue:
                        return sent
                    index = queue.pop()
                if rate is not None:
                    time.sleep(max(0.0, start + index / rate - time.monotonic()))
                refused = smtp.sendmail(
                    f"customer{index}@c{index}.example", [DESK], messages[index]
                )
                if refused:
                    raise BenchError(f"message {index} refused: {refused}")
                accepted_at[index] = time.time()
                with lock:
                    last_ok[0] = max(last_ok[0], time.monotonic())
                sent += 1

    with ThreadPoolExecutor(clients) as pool:
        sent = sum(pool.map(lambda _: client(), range(clients)))
    if sent != len(messages):
        raise BenchError(f"sent {sent} of {len(messages)} messages")
    seconds = last_ok[0] - start
    return Load(seconds, start, last_ok[0], len(messages) / seconds, accepted_at)


# -- (a) the baseline sink -----------------------------------------------------------


def sink_main(db_path: str, ready_file: str) -> None:
    """Child process: aiosmtpd on its own loop; each message committed, then 250."""
    from aiosmtpd.smtp import SMTP

    executor = ThreadPoolExecutor(1)

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, data BLOB)")
        return conn

    conn = executor.submit(connect).result()

    def store(batch: list[bytes]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO raw (data) VALUES (?)", [(data,) for data in batch])
        conn.execute("COMMIT")

    # Group commit, as inbound.group_commit does it for the daemon on SQLite: one
    # transaction at a time; what arrives meanwhile waits and shares the next one.
    waiting: list[tuple[bytes, asyncio.Future[None]]] = []
    flushing = [False]

    async def flush() -> None:
        loop = asyncio.get_running_loop()
        try:
            while waiting:
                batch = waiting[:SINK_BATCH]
                del waiting[:SINK_BATCH]
                await loop.run_in_executor(executor, store, [data for data, _ in batch])
                for _, future in batch:
                    future.set_result(None)
        finally:
            flushing[0] = False

    class Sink:
        async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
            data = envelope.original_content  # type: ignore[attr-defined]
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiting.append((data, future))
            if not flushing[0]:
                flushing[0] = True
                asyncio.get_running_loop().create_task(flush())
            await future
            return "250 OK"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await loop.create_server(
            lambda: SMTP(
                Sink(),
                data_size_limit=26_214_400,
                enable_SMTPUTF8=True,
                hostname="sink",
                loop=loop,
            ),
            "127.0.0.1",
            0,
        )
        port = server.sockets[0].getsockname()[1]
        Path(ready_file).write_text(json.dumps({"port": port}))
        await stop.wait()
        server.close()

    asyncio.run(serve())
    executor.submit(conn.close).result()


# -- processes -----------------------------------------------------------------------


def wait_ready(proc: subprocess.Popen[bytes], ready: Path, log: Path) -> dict[str, object]:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if ready.exists():
            return json.loads(ready.read_text())
        if proc.poll() is not None:
            raise BenchError(f"exited with {proc.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.02)
    proc.kill()
    raise BenchError(f"not ready after {READY_TIMEOUT:.0f} s")


def stop(proc: subprocess.Popen[bytes], what: str) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise BenchError(f"{what} did not stop within 60 s of SIGTERM") from None
    if code != 0:
        raise BenchError(f"{what} exited with {code} after SIGTERM")


def run_sink(work: Path, messages: Sequence[bytes]) -> Load:
    db = work / "sink.db"
    ready, log = work / "sink.ready", work / "sink.log"
    for path in (db, ready):
        path.unlink(missing_ok=True)
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(db), str(ready)],
            stderr=err,
            env=clean_env(ENV_PREFIXES),
        )
    try:
        port = int(wait_ready(proc, ready, log)["port"])  # type: ignore[call-overload]
        load = drive(port, messages)
        stop(proc, "the sink")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM raw").fetchone()[0]
    if stored != len(messages):
        raise BenchError(f"the sink stored {stored} of {len(messages)} messages")
    return load


@dataclass
class DaemonRun:
    load: Load
    done_at: float  # time.monotonic() when every message was a ticket with its ack queued
    lags: list[float]  # per message: seconds from its 250 to its ticket's created_at
    peak_rss_mib: float

    @property
    def end_to_end(self) -> float:
        """Messages per second, from the start to the last ticket with its ack."""
        return len(self.lags) / (self.done_at - self.load.started)

    @property
    def drained_after(self) -> float:
        return self.done_at - self.load.last_ok


def run_daemon(
    work: Path, messages: Sequence[bytes], seed: int, rate: float | None = None
) -> DaemonRun:
    """A fresh `maildesk run`, fed `messages` (at `rate` msg/s, or as fast as accepted)."""
    home = work / "daemon"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    db = home / "maildesk.db"
    config = home / "maildesk.toml"
    config.write_text(
        f'[desk]\naddresses = ["{DESK}"]\nsecret_key = "bench"\n'
        f'[database]\nurl = "sqlite:///{db}"\n'
        f'[outbound]\nmaildir = "{home}/outbox"\n'
        "[smtp]\nport = 0\n[web]\nenabled = false\n"  # logging at its default: info
    )
    ready, log = home / "ready.json", home / "daemon.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                str(maildesk_executable()),
                "run",
                "--config",
                str(config),
                "--ready-file",
                str(ready),
            ],
            cwd=home,
            stderr=err,
            env=clean_env(ENV_PREFIXES),
        )
    try:
        info = wait_ready(proc, ready, log)
        address = info["listeners"]["smtp"][0]  # type: ignore[index]
        load = drive(int(address.rsplit(":", 1)[1]), messages, rate=rate)
        done = wait_processed(db, len(messages), proc)
        rss = peak_rss_mib(proc.pid)
        stop(proc, "maildesk run")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return DaemonRun(load, done, lags(db, load, seed), rss)


def lags(db: Path, load: Load, seed: int) -> list[float]:
    """Each message's lag from its 250 to its ticket's created_at (stored in UTC)."""
    with sqlite3.connect(db) as conn:
        created = dict(
            conn.execute(
                "SELECT intake.message_id, ticket.created_at FROM intake"
                " JOIN ticket ON ticket.id = intake.ticket_id WHERE intake.action = 'created'"
            ).fetchall()
        )
    if len(created) != len(load.accepted_at):
        raise BenchError(
            f"maildesk made {len(created)} tickets of {len(load.accepted_at)} messages"
        )
    result = []
    for index, accepted in enumerate(load.accepted_at):
        at = dt.datetime.fromisoformat(created[message_id(seed, index)]).replace(tzinfo=dt.UTC)
        result.append(max(0.0, at.timestamp() - accepted))
    return result


def wait_processed(db: Path, count: int, proc: subprocess.Popen[bytes]) -> float:
    """time.monotonic() when every message is processed and has its ack queued."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        while time.monotonic() < deadline:
            (processed,) = conn.execute(
                "SELECT count(*) FROM intake WHERE state != 'pending'"
            ).fetchone()
            if processed >= count:
                (acks,) = conn.execute(
                    "SELECT count(*) FROM outbox WHERE purpose = 'ack'"
                ).fetchone()
                if acks >= count:
                    return time.monotonic()
            if proc.poll() is not None:
                raise BenchError(f"maildesk run exited with {proc.returncode}")
            time.sleep(0.02)
    finally:
        conn.close()
    raise BenchError(f"messages still pending after {PROCESS_TIMEOUT:.0f} s")


def peak_rss_mib(pid: int) -> float:
    return proc_status_kib("VmHWM", pid) / 1024


# -- main ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/smtp",
        description="Benchmark `maildesk run` against a group-committing aiosmtpd+SQLite sink.",
    )
    parser.add_argument(
        "--messages", type=int, default=1000, metavar="N", help="burst size (default 1000)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        metavar="N",
        help="burst (a),(b) pairs, best kept (default 3)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        metavar="S",
        help="length of each steady run at 50 and 100 msg/s (default 60; 0: skip them)",
    )
    parser.add_argument("--seed", type=int, default=20260302)
    parser.add_argument("--workdir", metavar="DIR", help="parent of the temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--sink", nargs=2, metavar=("DB", "READY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.messages < 10 or args.rounds < 1:
        parser.error("--messages must be at least 10 and --rounds at least 1")
    if args.seconds < 0 or 0 < args.seconds < 1:
        parser.error("--seconds must be 0 (skip the steady runs) or at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.sink:
        sink_main(*args.sink)
        return EXIT_OK
    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-smtp-", dir=args.workdir))
    try:
        return run(args, work)
    except (BenchError, smtplib.SMTPException, OSError) as exc:
        say(f"\nBROKEN: {exc}")
        return EXIT_BROKEN
    finally:
        if args.keep:
            say(f"(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    messages = build_messages(args.messages, args.seed)
    say(
        f"bench/smtp: burst of {len(messages)} messages ({mib(sum(map(len, messages)))}), "
        f"{CLIENTS} concurrent smtplib clients, {args.rounds} round(s), {os.cpu_count()} CPUs"
    )
    sinks: list[Load] = []
    daemons: list[DaemonRun] = []
    for round_ in range(1, args.rounds + 1):
        sink = run_sink(work, messages)
        sinks.append(sink)
        say(f"  round {round_} (a) group-committing sink: {sink.rate:7.1f} msg/s accepted")
        daemon = run_daemon(work, messages, args.seed)
        daemons.append(daemon)
        say(
            f"  round {round_} (b) maildesk run:          {daemon.load.rate:7.1f} msg/s accepted, "
            f"{daemon.end_to_end:7.1f} msg/s end to end "
            f"(all tickets {daemon.drained_after:.2f} s after the last 250), "
            f"peak RSS {daemon.peak_rss_mib:.1f} MiB"
        )
    steady = [
        (rate, steady_run(work, rate, args.seconds, args.seed))
        for rate in (STEADY_RATES if args.seconds else ())
    ]
    return report(args, sinks, daemons, steady)


def steady_run(work: Path, rate: int, seconds: float, seed: int) -> DaemonRun:
    messages = build_messages(int(rate * seconds), seed)
    daemon = run_daemon(work, messages, seed, rate=rate)
    p50, p99, worst = percentiles(daemon.lags)
    say(
        f"  steady {rate:3d} msg/s for {seconds:.0f} s: {daemon.load.rate:6.1f} msg/s accepted, "
        f"lag p50 {p50:.2f} s, p99 {p99:.2f} s, max {worst:.2f} s, "
        f"backlog gone {daemon.drained_after:.2f} s after the last 250"
    )
    return daemon


def percentiles(values: Sequence[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return at(0.50), at(0.99), ordered[-1]


def report(
    args: argparse.Namespace,
    sinks: Sequence[Load],
    daemons: Sequence[DaemonRun],
    steady: Sequence[tuple[int, DaemonRun]],
) -> int:
    best_sink = max(s.rate for s in sinks)
    best = max(daemons, key=lambda d: d.end_to_end)
    accepted = max(d.load.rate for d in daemons)
    ratio = best.end_to_end / best_sink
    rss = max(d.peak_rss_mib for d in daemons)
    ok = {"end to end": ratio >= TARGET_END_TO_END, "peak RSS": rss < TARGET_RSS_MIB}
    say()
    say(f"(a) group-committing sink  {best_sink:8.1f} msg/s accepted (best of {args.rounds})")
    say(f"(b) maildesk run, accepted {accepted:8.1f} msg/s (best of {args.rounds})"
        f"  ratio {accepted / best_sink:.2f}")  # fmt: skip
    say(f"(b) maildesk run, end to end {best.end_to_end:6.1f} msg/s (best of {args.rounds})"
        f"  ratio {ratio:.2f}   target >= {TARGET_END_TO_END}  "
        f"{'ok' if ok['end to end'] else 'MISSED'}")  # fmt: skip
    for rate, daemon in steady:
        p50, p99, worst = percentiles(daemon.lags)
        line = (
            f"lag at {rate:3d} msg/s         p50 {p50:5.2f} s  p99 {p99:5.2f} s  max {worst:5.2f} s"
        )
        if rate == TARGET_LAG_RATE:
            ok["p99 lag"] = p99 < TARGET_P99_LAG
            line += f"   target p99 < {TARGET_P99_LAG:.0f} s  {'ok' if ok['p99 lag'] else 'MISSED'}"
        say(line)
    say(f"daemon peak RSS            {rss:8.1f} MiB target < {TARGET_RSS_MIB:.0f}  "
        f"{'ok' if ok['peak RSS'] else 'MISSED'}")  # fmt: skip
    missed = [name for name, good in ok.items() if not good]
    if missed:
        say(f"MISSED: {', '.join(missed)}")
    return EXIT_TARGET_MISSED if missed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
