#!/usr/bin/env python3
"""Webhooks benchmark: `maildesk run` with 10 webhooks against the same run without.

Run it with the project's virtualenv (``bench/events`` or ``.venv/bin/python
bench/events.py``). In one run it

1. starts the receivers: one subprocess serving --hooks HTTP endpoints on loopback
   (asyncio, keep-alive, answering 200 at once), recording for every request its
   webhook-id, type, the event's own timestamp and when it arrived;
2. **burst**, without and with the webhooks, alternating for --rounds rounds:
   `maildesk run` (a fresh SQLite database each time) takes --messages messages from
   8 smtplib clients as fast as they are accepted; end to end rate: until every
   message is a ticket with its acknowledgement queued (as bench/smtp measures it);
3. **steady**, without and with the webhooks: --rate msg/s for --seconds; the mail's
   processing lag (its 250 to its ticket's created_at: p50, p99) in both, and with
   the webhooks the **delivery lag** of every event (the event's time to its arrival
   at the receiver: p50, p99, max) once every delivery has arrived; every event must
   reach every receiver once.

Targets: delivery lag p99 < 5 s at 100 msg/s with 10 webhooks; mail processing with
the webhooks >= 0.85 x without (burst end to end; the steady lags are printed too).
Machines are noisy: only the ratios within one run mean something.
Exit status: 0 all targets met, 1 a target was missed, 2 something broke.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import (
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_TARGET_MISSED,
    BenchError,
    clean_env,
    maildesk_executable,
    say,
)
from smtp import DESK, build_messages, drive, lags, percentiles, stop, wait_processed, wait_ready

TARGET_DELIVERY_P99 = 5.0  # seconds, event to receiver
TARGET_PROCESSING = 0.85  # end-to-end rate with webhooks / without
SECRET = "whsec_" + base64.b64encode(b"bench-events-secret-32-bytes-ok!").decode()
DELIVERY_TIMEOUT = 300.0
TIMESTAMP = re.compile(rb'"timestamp":"([^"]+)"')
TYPE = re.compile(rb'"type":"([^"]+)"')


# -- receivers (a subprocess) ------------------------------------------------------------


def receivers_main(count: int, ready: str, out: str) -> None:
    """Serve `count` endpoints; write their ports to `ready`; on SIGTERM, what arrived
    to `out` (one JSON line per request)."""
    arrived: list[tuple[int, str, str, str, float]] = []

    async def serve(port_index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = {}
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    fields[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(fields.get(b"content-length", b"0")))
                stamp = TIMESTAMP.search(body)
                kind = TYPE.search(body)
                arrived.append(
                    (
                        port_index,
                        fields.get(b"webhook-id", b"").decode(),
                        kind.group(1).decode() if kind else "",
                        stamp.group(1).decode() if stamp else "",
                        time.time(),
                    )
                )
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = []
        for index in range(count):
            servers.append(
                await asyncio.start_server(lambda r, w, i=index: serve(i, r, w), "127.0.0.1", 0)
            )
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        Path(ready).write_text(json.dumps(ports))
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        await stopping.wait()
        with open(out, "w") as f:
            for row in arrived:
                f.write(json.dumps(row) + "\n")

    asyncio.run(main())


@dataclass
class Receivers:
    proc: subprocess.Popen[bytes]
    ports: list[int]
    out: Path

    def collect(self) -> list[tuple[int, str, str, str, float]]:
        stop(self.proc, "receivers")
        return [tuple(json.loads(line)) for line in self.out.read_text().splitlines()]


def start_receivers(work: Path, count: int) -> Receivers:
    ready, out = work / "receivers.json", work / "arrived.jsonl"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--receivers", str(count), str(ready), str(out)]
    )
    deadline = time.monotonic() + 30
    while not ready.exists() or not ready.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError("the receivers did not start")
        time.sleep(0.02)
    return Receivers(proc, json.loads(ready.read_text()), out)


# -- the daemon ------------------------------------------------------------------------


@dataclass
class Run:
    rate: float  # end to end, msg/s
    lags: list[float]  # mail: 250 -> ticket
    deliveries: list[float]  # event -> receiver (with webhooks)
    expected: int  # deliveries the daemon wrote


def run_daemon(
    work: Path, messages: Sequence[bytes], seed: int, ports: Sequence[int], rate: float | None
) -> tuple[Run, Path]:
    home = work / "daemon"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    db = home / "maildesk.db"
    hooks = "".join(
        f'\n[[webhook]]\nname = "r{i}"\nurl = "http://127.0.0.1:{port}/"\n'
        'secret_env = "BENCH_HOOK"\n'
        for i, port in enumerate(ports)
    )
    (home / "maildesk.toml").write_text(
        f'[desk]\naddresses = ["{DESK}"]\nsecret_key = "bench"\n'
        f'[database]\nurl = "sqlite:///{db}"\n'
        f'[outbound]\nmaildir = "{home}/outbox"\n'
        "[smtp]\nport = 0\n[web]\nenabled = false\n"
        '[webhooks]\nallowed_networks = ["127.0.0.0/8"]\n' + hooks
    )
    ready, log = home / "ready.json", home / "daemon.log"
    env = {**clean_env(("MAILDESK_",)), "BENCH_HOOK": SECRET}
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [str(maildesk_executable()), "run", "--config", str(home / "maildesk.toml"),
             "--ready-file", str(ready)],
            cwd=home, stderr=err, env=env,
        )  # fmt: skip
    try:
        info = wait_ready(proc, ready, log)
        address = info["listeners"]["smtp"][0]  # type: ignore[index]
        load = drive(int(address.rsplit(":", 1)[1]), messages, rate=rate)
        done = wait_processed(db, len(messages), proc)
        expected = wait_delivered(db, proc) if ports else 0
        stop(proc, "maildesk run")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    mail = lags(db, load, seed)
    return Run(len(mail) / (done - load.started), mail, [], expected), db


def wait_delivered(db: Path, proc: subprocess.Popen[bytes]) -> int:
    """Once the cursor has passed every event and nothing is pending: rows written."""
    import sqlite3

    deadline = time.monotonic() + DELIVERY_TIMEOUT
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        while time.monotonic() < deadline:
            (last,) = conn.execute("SELECT max(id) FROM event").fetchone()
            cursor = conn.execute(
                "SELECT value FROM key_value WHERE name = 'webhooks.cursor'"
            ).fetchone()
            (pending,) = conn.execute(
                "SELECT count(*) FROM webhook_delivery WHERE state != 'delivered'"
            ).fetchone()
            if cursor and int(cursor[0].split(":")[1]) >= (last or 0) and pending == 0:
                (rows,) = conn.execute("SELECT count(*) FROM webhook_delivery").fetchone()
                return int(rows)
            if proc.poll() is not None:
                raise BenchError(f"maildesk run exited with {proc.returncode}")
            time.sleep(0.05)
    finally:
        conn.close()
    raise BenchError(f"deliveries still pending after {DELIVERY_TIMEOUT:.0f} s")


def delivery_lags(arrived: Sequence[tuple[int, str, str, str, float]], hooks: int) -> list[float]:
    seen = Counter((row[0], row[1]) for row in arrived)
    twice = [key for key, n in seen.items() if n > 1]
    if twice:
        raise BenchError(f"{len(twice)} events reached a receiver more than once")
    per_event = Counter(row[1] for row in arrived)
    short = [event for event, n in per_event.items() if n != hooks]
    if short:
        raise BenchError(f"{len(short)} events did not reach all {hooks} receivers")
    return [
        max(0.0, at - dt.datetime.fromisoformat(stamp).timestamp())
        for _, _, _, stamp, at in arrived
    ]


# -- main ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/events", description="`maildesk run` with webhooks against without."
    )
    parser.add_argument("--hooks", type=int, default=10, metavar="N", help="webhooks (10)")
    parser.add_argument("--rate", type=int, default=100, metavar="R", help="steady msg/s (100)")
    parser.add_argument("--seconds", type=float, default=60.0, metavar="S", help="steady (60)")
    parser.add_argument("--messages", type=int, default=1000, metavar="N", help="burst (1000)")
    parser.add_argument("--rounds", type=int, default=2, metavar="N", help="burst pairs (2)")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--workdir", metavar="DIR", help="parent of the temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--receivers", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hooks < 1 or args.rate < 1 or args.seconds < 1 or args.messages < 10:
        parser.error("--hooks, --rate and --seconds must be positive, --messages at least 10")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.receivers:
        count, ready, out = args.receivers
        receivers_main(int(count), ready, out)
        return EXIT_OK
    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-events-", dir=args.workdir))
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
    say(
        f"bench/events: {args.hooks} webhooks (all events), burst of {args.messages} messages "
        f"x {args.rounds} round(s), steady {args.rate} msg/s for {args.seconds:.0f} s, "
        f"{os.cpu_count()} CPUs"
    )
    burst = build_messages(args.messages, args.seed)
    plain_rates, hook_rates = [], []
    for round_ in range(1, args.rounds + 1):
        plain, _ = run_daemon(work, burst, args.seed, [], None)
        receivers = start_receivers(work, args.hooks)
        hooked, _ = run_daemon(work, burst, args.seed, receivers.ports, None)
        arrived = receivers.collect()
        delivery_lags(arrived, args.hooks)  # every event once per receiver
        plain_rates.append(plain.rate)
        hook_rates.append(hooked.rate)
        say(
            f"  round {round_} burst: without {plain.rate:6.1f} msg/s end to end, "
            f"with webhooks {hooked.rate:6.1f} msg/s ({len(arrived)} deliveries)"
        )
    steady = build_messages(int(args.rate * args.seconds), args.seed + 1)
    plain, _ = run_daemon(work, steady, args.seed + 1, [], args.rate)
    receivers = start_receivers(work, args.hooks)
    hooked, _ = run_daemon(work, steady, args.seed + 1, receivers.ports, args.rate)
    arrived = receivers.collect()
    if len(arrived) != hooked.expected:
        raise BenchError(f"{len(arrived)} deliveries arrived of {hooked.expected} written")
    waits = delivery_lags(arrived, args.hooks)
    ratio = max(hook_rates) / max(plain_rates)
    d50, d99, dmax = percentiles(waits)
    p50, p99, _ = percentiles(plain.lags)
    h50, h99, _ = percentiles(hooked.lags)
    ok = {"delivery lag": d99 < TARGET_DELIVERY_P99, "processing": ratio >= TARGET_PROCESSING}
    say()
    say(f"burst end to end, best: without {max(plain_rates):6.1f} msg/s, "
        f"with {max(hook_rates):6.1f} msg/s   ratio {ratio:.2f}   "
        f"target >= {TARGET_PROCESSING}  {'ok' if ok['processing'] else 'MISSED'}")  # fmt: skip
    say(f"steady {args.rate} msg/s mail lag: without p50 {p50:.2f} s p99 {p99:.2f} s; "
        f"with p50 {h50:.2f} s p99 {h99:.2f} s")  # fmt: skip
    say(f"steady delivery lag ({len(waits)} deliveries): p50 {d50:.2f} s  p99 {d99:.2f} s  "
        f"max {dmax:.2f} s   target p99 < {TARGET_DELIVERY_P99:.0f} s  "
        f"{'ok' if ok['delivery lag'] else 'MISSED'}")  # fmt: skip
    missed = [name for name, good in ok.items() if not good]
    if missed:
        say(f"MISSED: {', '.join(missed)}")
    return EXIT_TARGET_MISSED if missed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
