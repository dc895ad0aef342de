"""A message with a huge header against one of the same size with a huge body.

Run: .venv/bin/python bench/headers.py [--mib 10] [--rounds 3]

Both messages are taken in and run through the pipeline in-process (`Runtime.ingest`:
intake, parse, match, ticket, acknowledgement queued), then the acknowledgement is
composed. The big-body message is the baseline: its bytes cost what any message of
that size costs (hashing, storing). The huge Subject must cost about the same,
since everything derived from a header is bounded (core/message/limits.py); before
that, a 10 MB Subject took about 36 s against well under a second and produced a
22 MB acknowledgement. Target: huge header / huge body <= 3 (time), and the
acknowledgement under 64 KB. Prints ratios, not absolute times: machines here are noisy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

EXIT_OK, EXIT_TARGET_MISSED = 0, 1


def message(n: int, size: int, in_header: bool) -> bytes:
    words = b"overflow " * (size // 9)
    lines = b"\r\n ".join(words[i : i + 72] for i in range(0, len(words), 72))
    head = (
        f"From: Carl <carl{n}@customer.test>\r\nTo: support@example.com\r\n"
        f"Message-ID: <bench{n}@customer.test>\r\n"
    ).encode()
    if in_header:
        return head + b"Subject: " + lines + b"\r\n\r\nhello\r\n"
    return head + b"Subject: hello\r\n\r\n" + lines.replace(b"\r\n ", b"\r\n") + b"\r\n"


def measure(size: int, rounds: int) -> tuple[float, float, int]:
    from maildesk.config import load_config
    from maildesk.pipeline.ingest import open_runtime
    from maildesk.store.models import Outbox

    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        config = root / "maildesk.toml"
        config.write_text(
            f'[desk]\naddresses = ["support@example.com"]\nsecret_key = "bench"\n'
            f'[database]\nurl = "sqlite:///{root}/maildesk.db"\n'
            f'[outbound]\nmaildir = "{root}/outbox"\n'
        )
        with open_runtime(load_config(config, environ={})).session() as runtime:
            runtime.ingest(message(0, 1000, False), source="bench")  # warm up
            times = {True: 0.0, False: 0.0}
            for n in range(1, rounds + 1):
                for in_header in (False, True):
                    raw = message(n * 2 + in_header, size, in_header)
                    start = time.perf_counter()
                    runtime.ingest(raw, source="bench")
                    times[in_header] += time.perf_counter() - start
            ack = Outbox.select().where(Outbox.purpose == "ack").order_by(Outbox.id.desc()).first()
            composed = len(runtime.desk.mailer.compose(ack.draft))
    return times[True], times[False], composed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    header, body, ack = measure(int(args.mib * 1024 * 1024), args.rounds)
    ratio = header / body
    print(f"huge Subject / huge body, {args.mib:g} MiB, {args.rounds} rounds: {ratio:.2f}x")
    print(f"acknowledgement of the huge-Subject message: {ack} bytes")
    passed = ratio <= 3 and ack < 64 * 1024
    print("PASS" if passed else "FAIL")
    return EXIT_OK if passed else EXIT_TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
