#!/usr/bin/env python3
"""SMTP benchmark: `maildesk run` against a bare aiosmtpd sink, same load, same run.

Run it with the project's virtualenv (``bench/smtp`` or ``.venv/bin/python
bench/smtp.py``). In one run it

1. generates the same deterministic 1,000 messages for every measurement
   (plain text, multipart/alternative, some with a 20-100 KB attachment,
   some 8-bit UTF-8);
2. measures, with 8 concurrent smtplib clients each on its own connection:
   (a) a bare aiosmtpd sink (a subprocess) whose handler commits the raw bytes
       to SQLite (WAL, synchronous=FULL) in a worker thread, then answers 250;
   (b) `maildesk run` (a subprocess, fresh SQLite database) accepting them;
   alternating (a) and (b) for --rounds rounds and keeping each side's best;
3. for (b), how long after the last 250 every message has become a ticket,
   and the daemon's peak RSS (VmHWM) with all of them processed.

Machines are noisy: only the ratios within one run mean something.
Exit status: 0 all targets met, 1 a target was missed, 2 something broke.
"""

from __future__ import annotations

import argparse
import asyncio
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

TARGET_RATIO = 0.8  # (b)/(a) acceptance rate
TARGET_RSS_MIB = 150.0  # daemon peak RSS with every message processed
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


def build_messages(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    messages = []
    for index in range(count):
        msg = EmailMessage()
        msg["From"] = f"Customer {index} <customer{index}@customer.example>"
        msg["To"] = DESK
        msg["Subject"] = f"Request {index}: {' '.join(rng.choices(WORDS, k=5))}"
        msg["Date"] = "Mon, 02 Mar 2026 08:00:00 +0000"
        msg["Message-ID"] = f"<bench-{seed}-{index}@customer.example>"
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
    last_ok: float  # time.monotonic() of the last 250
    rate: float  # messages per second


def drive(port: int, messages: Sequence[bytes], clients: int = CLIENTS) -> Load:
    """Send every message once, `clients` at a time; each client keeps its connection."""
    lock = threading.Lock()
    queue = list(range(len(messages)))
    last_ok = [0.0]

    def client() -> int:
        sent = 0
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
            while True:
                with lock:
                    if not queue:
                        return sent
                    index = queue.pop()
                refused = smtp.sendmail(
                    f"customer{index}@customer.example", [DESK], messages[index]
                )
                if refused:
                    raise BenchError(f"message {index} refused: {refused}")
                with lock:
                    last_ok[0] = max(last_ok[0], time.monotonic())
                sent += 1

    start = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        sent = sum(pool.map(lambda _: client(), range(clients)))
    if sent != len(messages):
        raise BenchError(f"sent {sent} of {len(messages)} messages")
    seconds = last_ok[0] - start
    return Load(seconds, last_ok[0], len(messages) / seconds)


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

    def store(data: bytes) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO raw (data) VALUES (?)", (data,))
        conn.execute("COMMIT")

    class Sink:
        async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
            data = envelope.original_content  # type: ignore[attr-defined]
            await asyncio.get_running_loop().run_in_executor(executor, store, data)
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
    processed_after: float  # seconds from the last 250 to the last ticket
    peak_rss_mib: float


def run_daemon(work: Path, messages: Sequence[bytes]) -> DaemonRun:
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
        load = drive(int(address.rsplit(":", 1)[1]), messages)
        done = wait_processed(db, len(messages), proc)
        rss = peak_rss_mib(proc.pid)
        stop(proc, "maildesk run")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with sqlite3.connect(db) as conn:
        tickets = conn.execute("SELECT count(*) FROM ticket").fetchone()[0]
    if tickets != len(messages):
        raise BenchError(f"maildesk made {tickets} tickets of {len(messages)} messages")
    return DaemonRun(load, done - load.last_ok, rss)


def wait_processed(db: Path, count: int, proc: subprocess.Popen[bytes]) -> float:
    """time.monotonic() when no message is pending any more."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM intake WHERE state != 'pending'").fetchone()
            if row[0] >= count:
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
        description="Benchmark `maildesk run` against a bare aiosmtpd+SQLite sink.",
    )
    parser.add_argument("--messages", type=int, default=1000, metavar="N")
    parser.add_argument(
        "--rounds", type=int, default=3, metavar="N", help="(a),(b) pairs; best kept (default 3)"
    )
    parser.add_argument("--seed", type=int, default=20260302)
    parser.add_argument("--workdir", metavar="DIR", help="parent of the temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--sink", nargs=2, metavar=("DB", "READY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.messages < 10 or args.rounds < 1:
        parser.error("--messages must be at least 10 and --rounds at least 1")
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
    total = sum(map(len, messages))
    say(
        f"bench/smtp: {len(messages)} messages ({mib(total)}), "
        f"{CLIENTS} concurrent smtplib clients, {args.rounds} round(s), {os.cpu_count()} CPUs"
    )
    sinks: list[Load] = []
    daemons: list[DaemonRun] = []
    for round_ in range(1, args.rounds + 1):
        sink = run_sink(work, messages)
        sinks.append(sink)
        say(f"  round {round_} (a) bare aiosmtpd + SQLite sink: {sink.rate:7.1f} msg/s")
        daemon = run_daemon(work, messages)
        daemons.append(daemon)
        say(
            f"  round {round_} (b) maildesk run:                {daemon.load.rate:7.1f} msg/s, "
            f"all processed {daemon.processed_after:.2f} s after the last 250, "
            f"peak RSS {daemon.peak_rss_mib:.1f} MiB"
        )
    best_sink = max(s.rate for s in sinks)
    best = max(daemons, key=lambda d: d.load.rate)
    ratio = best.load.rate / best_sink
    rss = max(d.peak_rss_mib for d in daemons)
    lag = max(d.processed_after for d in daemons)
    ratio_ok, rss_ok = ratio >= TARGET_RATIO, rss < TARGET_RSS_MIB
    say()
    say(f"(a) bare sink            {best_sink:8.1f} msg/s (best of {args.rounds})")
    say(f"(b) maildesk run         {best.load.rate:8.1f} msg/s (best of {args.rounds})")
    say(f"(b)/(a)                  {ratio:8.2f}   target >= {TARGET_RATIO}  "
        f"{'ok' if ratio_ok else 'MISSED'}")  # fmt: skip
    say(f"processed into tickets   {lag:8.2f} s after the last 250 (worst round)")
    say(f"daemon peak RSS          {rss:8.1f} MiB target < {TARGET_RSS_MIB:.0f}  "
        f"{'ok' if rss_ok else 'MISSED'}")  # fmt: skip
    return EXIT_OK if ratio_ok and rss_ok else EXIT_TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
