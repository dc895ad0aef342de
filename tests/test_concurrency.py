"""Two `maildesk ingest` processes at once on one database: every message stored once,
ticket numbers unique and gapless (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Desk
from tests.test_ingest import mail

PER_PROCESS = 25


def test_two_processes_ingesting_at_once(desk: Desk, tmp_path: Path) -> None:
    assert desk.run("db", "upgrade").exit_code == 0
    folders = []
    for worker in ("a", "b"):
        folder = tmp_path / worker
        folder.mkdir()
        for i in range(PER_PROCESS):
            raw = mail(
                sender=f"{worker}{i}@customer.example",
                subject=f"{worker} {i}",
                message_id=f"<{worker}{i}@customer.example>",
            )
            (folder / f"{i:03d}.eml").write_bytes(raw)
        # The same message reaches both processes: it must be stored once.
        (folder / "shared.eml").write_bytes(mail(message_id="<shared@x.example>"))
        folders.append(folder)
    env = {**os.environ, "MAILDESK_CONFIG": str(desk.config_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "maildesk", "ingest", "--json", str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for folder in folders
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    lines = [json.loads(x) for out, _ in outputs for x in out.splitlines()]
    assert len(lines) == 2 * (PER_PROCESS + 1)
    created = [x["ticket"] for x in lines if x["action"] == "created"]
    assert sorted(x["action"] for x in lines if x["message_id"] == "<shared@x.example>") == [
        "created",
        "duplicate",
    ]
    assert len(created) == 2 * PER_PROCESS + 1
    assert len(set(created)) == len(created)  # unique numbers
    numbers = sorted(int(t.split("-")[1]) for t in created)
    assert numbers == list(range(1, len(created) + 1))
    tickets = desk.json("tickets", "list", "--limit", "1000")
    assert len(tickets) == len(created)
