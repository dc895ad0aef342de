"""Helpers shared by the benchmark scripts (bench/ingest.py, bench/smtp.py).

The scripts are run by path, so Python puts this folder first on sys.path and
they import this module as plain `common`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXIT_OK, EXIT_TARGET_MISSED, EXIT_BROKEN = 0, 1, 2


class BenchError(Exception):
    """Something broke: the figures of this run cannot be trusted."""


def say(text: str = "") -> None:
    print(text, flush=True)


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def maildesk_executable() -> Path:
    """The `maildesk` entry point next to the running (virtualenv) python."""
    exe = Path(sys.executable).parent / "maildesk"
    if not exe.exists():
        raise BenchError(f"{exe} not found: run with the project's virtualenv python")
    return exe


def clean_env(prefixes: tuple[str, ...] = ("MAILDESK_",)) -> dict[str, str]:
    """The environment for subprocesses, without variables starting with `prefixes`."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def proc_status_kib(key: str, pid: int | str = "self") -> int:
    """A `kB` field of /proc/PID/status, such as VmRSS or VmHWM."""
    path = f"/proc/{pid}/status"
    with open(path, encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"{key} not in {path}")
