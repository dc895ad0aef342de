"""Log output of `maildesk run`: stderr, one line per event, with levels.

Under systemd, stderr is connected to the journal (`$JOURNAL_STREAM` names
it); then each line starts with a `<N>` syslog priority, which journald
turns into the entry's level, and carries no time stamp (journald adds its
own). Elsewhere each line carries an ISO 8601 time stamp and the level name.
aiosmtpd's per-command chatter (logger `mail.log`) is shown only at debug.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# sd-daemon(3) priorities: <3> error, <4> warning, <6> info, <7> debug.
_SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}
_LIBRARY_LOGGERS = ("mail.log",)  # aiosmtpd


class JournalFormatter(logging.Formatter):
    """`<N>logger: message`; continuation lines of a traceback keep the priority."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 2 if record.levelno > logging.ERROR else 7)
        text = super().format(record)
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def configure(
    level: str, stream: TextIO = sys.stderr, environ: Mapping[str, str] = os.environ
) -> None:
    """Send all logging to `stream` at `level` (one of LEVELS)."""
    handler = logging.StreamHandler(stream)
    if _is_journal(stream, environ):
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z"
            )
        )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)


def set_level(level: str) -> None:
    """Change the level of a running process (SIGHUP reload)."""
    value = LEVELS[level]
    logging.getLogger().setLevel(value)
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(value if value <= logging.DEBUG else logging.WARNING)


def _is_journal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """True when `stream` is the journal stream systemd connected us to."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not device or not inode:
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return f"{info.st_dev}:{info.st_ino}" == f"{device}:{inode}"
