"""`maildesk run` as a real subprocess, for tests that talk to it over loopback.

Where it sits: test-only. `Daemon` starts `python -m maildesk run` with a
config whose listener port is 0 and `--ready-file`, waits for the file, and
reads the bound port from it. The daemon's stderr goes through a pipe that a
thread drains into `lines`, so tests can wait for a log line (a pipe, not a
file: the disk-full test limits the size of files the daemon may write).
"""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


class Daemon:
    """One run of `maildesk run`; `start()` may be called again after it ended."""

    def __init__(self, config: Path, cwd: Path, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.cwd = cwd
        self.ready_file = cwd / "maildesk.ready"
        self.env = {**os.environ, **(env or {})}
        self.lines: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.web_port = 0
        self._reader: threading.Thread | None = None
        self._changed = threading.Condition()

    def start(self, wait: bool = True) -> Daemon:
        self.ready_file.unlink(missing_ok=True)  # a SIGKILLed run leaves its file behind
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maildesk", "run", "--config", str(self.config),
             "--ready-file", str(self.ready_file)],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                self._join_reader()
                raise AssertionError(f"maildesk run exited {self.proc.returncode}: {self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"maildesk run not ready after {START_TIMEOUT} s: {self.log}")
            time.sleep(0.01)
        ready = json.loads(self.ready_file.read_text())
        assert ready["pid"] == self.proc.pid
        listeners = dict(ready["listeners"])  # {"smtp": [...]} or {"lmtp": [...]}, "web"
        web = listeners.pop("web", [])
        self.web_port = int(web[0].rsplit(":", 1)[1]) if web else 0
        [addresses] = listeners.values()
        self.port = int(addresses[0].rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def smtp(self, timeout: float = 30) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=timeout)

    def wait_for_line(self, text: str, timeout: float = 10.0) -> str:
        """The first log line containing `text`, once there is one."""
        return self.wait_for_lines(re.escape(text), 1, timeout)[0]

    def wait_for_lines(self, pattern: str, count: int, timeout: float = 10.0) -> list[str]:
        """The log lines (of every run so far) in which the regex `pattern` is found, once
        there are at least `count`: a positive signal that the daemon has done something
        (processed so many intakes, finished so many passes)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matching = self.matching(pattern)
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{len(matching)} of {count} log line(s) matching {pattern!r} "
                        f"in {timeout} s:\n{self.log}"
                    )
                self._changed.wait(remaining)

    def matching(self, pattern: str) -> list[str]:
        """The log lines so far in which the regex `pattern` is found."""
        found = re.compile(pattern)
        with self._changed:
            return [line for line in self.lines if found.search(line)]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send `sig` and wait for the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"maildesk run did not exit within {timeout} s:\n{self.log}"
            ) from None
        self._join_reader()
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        with proc.stderr:
            for raw in proc.stderr:
                with self._changed:
                    self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    self._changed.notify_all()

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(10)


def daemon_config(extra: str = "", *, shutdown_timeout: int = 5, web: bool = False) -> str:
    """The [smtp]/[web]/[daemon] part of a test config: port 0; the web view (port 0)
    only when asked for."""
    return f"""
[smtp]
port = 0
{extra}

[web]
enabled = {"true" if web else "false"}
port = 0

[daemon]
shutdown_timeout = {shutdown_timeout}
"""
