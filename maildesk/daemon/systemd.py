"""The systemd notification protocol (sd_notify), spoken by `maildesk run`.

Where it sits: `maildesk.daemon.app` tells systemd `READY=1` once the listeners are
bound, `STOPPING=1` when a shutdown begins, and `WATCHDOG=1` at half the
interval systemd asks for (`WatchdogSec=` in the unit). The protocol is one
datagram per message to the unix socket named by `$NOTIFY_SOCKET` (a leading
`@` means the abstract namespace); outside systemd the variable is unset and
every call does nothing. See sd_notify(3).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends state changes to systemd; a no-op when not started by systemd."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._address = _socket_address(environ.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval = _watchdog_interval(environ)

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def stopping(self, status: str) -> None:
        self._send(f"STOPPING=1\nSTATUS={status}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode("utf-8"), self._address)
        except OSError as exc:
            # Losing a notification must not take the daemon down; systemd's
            # timeouts (start, watchdog) report the consequence.
            log.warning("cannot notify systemd: %s", exc)


def _socket_address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # unset, or a transport we do not speak (vsock)


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), None when not asked for."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = environ.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 1_000_000 / 2
