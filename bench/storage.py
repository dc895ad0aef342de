"""Intake with the bytes outside the database: what `[storage] backend` costs before the 250.

Times `inbound.intake.accept_all` (the daemon's group commit: the call every SMTP
250 waits for) on SQLite for the same messages with each backend: `database`
(the baseline, measured first and last), `filesystem` (a temp folder on the same
disk: one file fsync, a rename and a folder fsync per message, before the
commit) and `s3` (a local `rclone serve s3` over a temp folder: an HTTP PUT per
message). Prints messages per second (wall and CPU) and each backend's ratio to
the baseline. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from maildesk.inbound.intake import Delivery, accept_all  # noqa: E402
from maildesk.settings.sections import StorageConfig  # noqa: E402
from maildesk.store.blobs import Blobs, attach  # noqa: E402
from maildesk.store.db import open_database, upgrade  # noqa: E402
from tests.storage import BUCKET, KEY, SECRET, S3Server  # noqa: E402

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def corpus(count: int, size: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    messages = []
    for n in range(count):
        msg = EmailMessage()
        msg["From"] = f"customer{n}@example.net"
        msg["To"] = "support@example.com"
        msg["Subject"] = f"Question {n}"
        msg["Message-ID"] = f"<bench-{seed}-{n}@example.net>"
        msg.set_content("Hello,\n\nplease see the attachment.\n")
        msg.add_attachment(rng.randbytes(size), maintype="application", subtype="octet-stream")
        messages.append(msg.as_bytes())
    return messages


def run(root: Path, name: str, blobs: Blobs, messages: list[bytes], batch: int) -> float:
    """Seconds (wall, CPU) to accept every message in batches of `batch`."""
    db = open_database(f"sqlite:///{root / f'{name}.db'}")
    upgrade(db)
    attach(db, blobs)
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(messages), batch):
        chunk = messages[start : start + batch]
        accept_all(db, [Delivery(raw, "bench") for raw in chunk], now=NOW)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    db.close()
    rate, cpu_rate = len(messages) / wall, len(messages) / max(cpu, 1e-9)
    print(f"  {name:<12} {rate:8.0f} msg/s   {cpu_rate:8.0f} msg/CPU-s")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--size", type=int, default=30_000, help="attachment bytes")
    parser.add_argument("--batch", type=int, default=32, help="messages per group commit")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workdir", default=None, help="where the temp folder goes")
    args = parser.parse_args()
    messages = corpus(args.messages, args.size, args.seed)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        server = S3Server(root / "s3").start()
        os.environ.update({"BENCH_S3_KEY": KEY, "BENCH_S3_SECRET": SECRET})
        try:
            plain: Callable[..., StorageConfig] = StorageConfig
            folder = plain(backend="filesystem", path=str(root / "blobs"))
            s3 = plain(
                backend="s3",
                endpoint=server.endpoint,
                bucket=BUCKET,
                access_key_id_env="BENCH_S3_KEY",
                secret_access_key_env="BENCH_S3_SECRET",
            )
            print(f"{args.messages} messages of ~{args.size} bytes, batches of {args.batch}:")
            run(root, "warm-up", Blobs(), messages[:100], args.batch)
            base = [run(root, "database", Blobs(), messages, args.batch)]
            rates = {
                "filesystem": run(root, "filesystem", Blobs(folder), messages, args.batch),
                "s3": run(root, "s3", Blobs(s3, os.environ), messages, args.batch),
            }
            base.append(run(root, "database-2", Blobs(), messages, args.batch))
        finally:
            server.stop()
    baseline = sum(base) / len(base)
    print(f"baseline (database, mean of first and last run): {baseline:.0f} msg/s")
    for name, rate in rates.items():
        print(f"  {name:<12} ratio {rate / baseline:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
