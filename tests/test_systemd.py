"""The systemd side of the daemon: the unit file verifies and keeps its promises,
the notification protocol (maildesk.daemon.systemd) and journald-friendly logs
(maildesk.daemon.logs)."""

from __future__ import annotations

import configparser
import io
import logging
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.daemon import logs
from maildesk.daemon.systemd import Notifier

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "maildesk.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    # verify checks that ExecStart exists: point it at this checkout's maildesk.
    maildesk = Path(sys.executable).parent / "maildesk"
    text = UNIT.read_text().replace("/opt/maildesk/bin/maildesk", str(maildesk))
    (tmp_path / "maildesk.service").write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / "maildesk.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stdout + result.stderr, result.stderr


def test_unit_is_a_sandboxed_notify_service() -> None:
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert service["WatchdogSec"] and service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["User"] == "maildesk" and service["StateDirectory"] == "maildesk"
    assert service["ProtectSystem"] == "strict"
    for key in ("ProtectHome", "PrivateTmp", "NoNewPrivileges"):
        assert service[key] == "true", key
    assert service["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"
    # No capability unless port 25 is used (a documented drop-in adds it).
    assert service["CapabilityBoundingSet"] == "" and service["AmbientCapabilities"] == ""
    assert "CAP_NET_BIND_SERVICE" in UNIT.read_text()
    assert "maildesk run --config" in service["ExecStart"]
    sysusers = (ROOT / "systemd" / "maildesk.sysusers").read_text()
    assert "\nu maildesk - " in sysusers


def test_notifier_sends_datagrams_to_the_abstract_socket() -> None:
    name = f"maildesk-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        notifier.ready("smtp on 127.0.0.1:2525")
        notifier.watchdog()
        notifier.stopping("bye")
        assert sock.recv(1024) == b"READY=1\nSTATUS=smtp on 127.0.0.1:2525"
        assert sock.recv(1024) == b"WATCHDOG=1"
        assert sock.recv(1024) == b"STOPPING=1\nSTATUS=bye"


def test_notifier_outside_systemd_does_nothing() -> None:
    notifier = Notifier({})
    notifier.ready("x")  # no socket, no error
    assert notifier.watchdog_interval is None


def test_watchdog_interval_is_half_of_watchdogsec_and_only_for_us() -> None:
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval == 15.0
    mine = {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(mine).watchdog_interval == 0.5
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_interval is None
    assert Notifier({"WATCHDOG_USEC": "soon"}).watchdog_interval is None


@pytest.fixture
def root_logger() -> Iterator[None]:
    """logs.configure rewires the root logger: put it back afterwards."""
    loggers = [logging.getLogger(), logging.getLogger("mail.log")]
    saved = [(logger.handlers[:], logger.level) for logger in loggers]
    yield
    for logger, (handlers, level) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)


@pytest.mark.usefixtures("root_logger")
def test_logs_carry_syslog_priorities_on_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    with path.open("w") as stream:
        info = os.fstat(stream.fileno())
        logs.configure("info", stream, {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"})
        logging.getLogger("maildesk.test").info("accepted intake 1")
        logging.getLogger("maildesk.test").error("two\nlines")
        logging.getLogger("maildesk.test").debug("not shown")
    assert path.read_text().splitlines() == [
        "<6>maildesk.test: accepted intake 1",
        "<3>maildesk.test: two",
        "<3>lines",
    ]


@pytest.mark.usefixtures("root_logger")
def test_logs_elsewhere_carry_time_and_level() -> None:
    stream = io.StringIO()
    logs.configure("warning", stream, {"JOURNAL_STREAM": "1:2"})
    logging.getLogger("maildesk.test").info("hidden")
    logging.getLogger("maildesk.test").warning("shown")
    logging.getLogger("mail.log").warning("library warning")
    first, second = stream.getvalue().splitlines()
    assert first.endswith(" WARNING maildesk.test: shown") and first[:4].isdigit()
    assert second.endswith("WARNING mail.log: library warning")
