"""Transports: hand one finished mail to the relay, or write it to a Maildir.

Where this sits in the flow: the last hop of outgoing mail. The outbox worker
takes a queued row, has its raw bytes ready and calls, in a worker thread::

    result = transport.send(key, raw, envelope_from, recipients)

and records the `Result`: `Outcome.SENT` marks the row sent, `Outcome.TEMPORARY`
keeps it queued for a later try, `Outcome.PERMANENT` gives up on it. ``send``
blocks, never raises for a delivery problem (only `ValueError` for arguments no
caller should pass) and its ``detail`` is always one line that can be stored
and shown as it is.

Two transports, chosen by ``[outbound] mode`` through `make_transport`:

`MaildirTransport` (``mode = "maildir"``, the default)
    Nothing leaves the machine: each message becomes ``new/<key>.eml`` in a
    Maildir, so a new installation shows exactly what it would send. The same
    key always lands in the same file, so sending a row again after a crash
    (sent, but not yet recorded as sent) leaves one file, not two.

`SmtpTransport` (``mode = "smtp"``)
    One SMTP session with the relay (implicit TLS, STARTTLS or plain, AUTH
    when a user name is set) kept open across sends and reopened after any
    failure. Replies are classified: 2xx sent; 5xx permanent; 4xx, lost or
    refused connections, TLS and AUTH problems temporary.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import smtplib
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from maildesk.config import ConfigError, OutboundConfig, password_from_env
from maildesk.store.blobs import sync_folder

__all__ = [
    "MaildirTransport",
    "Outcome",
    "Result",
    "SmtpTransport",
    "Transport",
    "make_transport",
]

DETAIL_LIMIT = 500
"""Longest ``Result.detail``, in characters."""

_KEY_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_BAD_ADDRESS_CHARS = frozenset("\r\n\0<>")
_LINE_END_RE = re.compile(rb"\r\n|\r|\n")
_TLS_MODES = ("ssl", "starttls", "none")

# Replies about authentication (RFC 4954): the relay's configuration or ours
# is wrong, not the message, so they are temporary whatever their class.
_AUTH_CODES = frozenset({530, 534, 535, 538})


class Outcome(enum.Enum):
    """What became of one send."""

    SENT = "sent"
    """Accepted for at least one recipient (or written to the Maildir)."""
    TEMPORARY = "temporary"
    """Not sent; trying again later may succeed."""
    PERMANENT = "permanent"
    """Not sent and never will be as it is: the server refused the message."""


@dataclass(frozen=True)
class Result:
    """The outcome of one send.

    ``detail`` is one line: the server's final answer
    (``250 2.0.0 Ok: queued as 4F2A``), the refusal with the command it
    answered (``RCPT TO:<x@example.com>: 550 5.1.1 no such user``) or what
    went wrong (``127.0.0.1:25 connect: Connection refused``); at most
    :data:`DETAIL_LIMIT` characters. ``refused`` lists the recipients the
    server refused while it accepted others (their replies are in ``detail``).
    """

    outcome: Outcome
    detail: str
    refused: tuple[str, ...] = ()


class Transport(Protocol):
    """Something that hands a finished mail on; see the module docstring."""

    def send(self, key: str, raw: bytes, envelope_from: str, recipients: Sequence[str]) -> Result:
        """Deliver ``raw`` to ``recipients``; never raises for a delivery problem.

        ``key`` identifies the outbox row (``[A-Za-z0-9._-]+``, no leading dot);
        ``envelope_from`` may be ``""`` (the null sender). A bad key, no
        recipient, or an address with CR, LF, NUL, ``<`` or ``>`` raise
        `ValueError`.
        """
        ...

    def close(self) -> None:
        """Release connections; the transport may still be used afterwards."""
        ...


# --------------------------------------------------------------------------
# Maildir
# --------------------------------------------------------------------------


class MaildirTransport:
    """Writes each message to ``<folder>/new/<key>.eml`` instead of sending it.

    The file is the raw message as given, preceded by two header lines that
    show its envelope (which the message itself need not show)::

        Return-Path: <support@example.com>
        X-Maildesk-Recipients: alice@customer.example, bob@customer.example

    (``Return-Path: <>`` for the null sender), with the line ending the
    message uses. The Maildir (``tmp/``, ``new/``, ``cur/``, mode 0700) is
    created when missing; the file is written to ``tmp/``, synced, renamed into
    ``new/`` and the directory synced, so a reader never sees half a message.
    The same ``key`` always gives the same file name: sending it again replaces
    the file (one a mail reader has already moved on to ``cur/`` is not looked
    for). Disk errors are `Outcome.TEMPORARY`.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def send(self, key: str, raw: bytes, envelope_from: str, recipients: Sequence[str]) -> Result:
        _check_key(key)
        _check_envelope(envelope_from, recipients)
        name = f"{key}.eml"
        temporary = self.folder / "tmp" / name
        final = self.folder / "new" / name
        try:
            for sub in ("", "tmp", "new", "cur"):
                (self.folder / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_synced(temporary, _envelope_header(raw, envelope_from, recipients) + raw)
            os.replace(temporary, final)
            sync_folder(final.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            return Result(Outcome.TEMPORARY, _one_line(f"cannot write {final}: {exc}"))
        return Result(Outcome.SENT, _one_line(f"written to {final}"))

    def close(self) -> None:
        """Nothing to release."""


def _envelope_header(raw: bytes, envelope_from: str, recipients: Sequence[str]) -> bytes:
    newline = raw.find(b"\n")
    eol = "\n" if newline >= 0 and not raw[:newline].endswith(b"\r") else "\r\n"
    lines = [f"Return-Path: <{envelope_from}>"]
    line = "X-Maildesk-Recipients:"
    for index, recipient in enumerate(recipients):
        item = f" {recipient}" + ("," if index < len(recipients) - 1 else "")
        if len(line) + len(item) > 78 and index:
            lines.append(line)
            line = ""  # folded: the item's leading space continues the header
        line += item
    lines.append(line)
    return "".join(text + eol for text in lines).encode("utf-8")


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------


class _Failure(Exception):
    """Ends a send early with its `Result`; never leaves this module."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.detail)
        self.result = result


class SmtpTransport:
    """Sends through one SMTP relay, keeping the session open between sends.

    ``tls``: ``"ssl"`` (implicit TLS, usually port 465), ``"starttls"`` (plain
    connect, then STARTTLS; a server that does not offer it gets nothing, the
    send is `Outcome.TEMPORARY`) or ``"none"``. ``ssl_context`` defaults to
    `ssl.create_default_context()` (system CAs, host name checked). With a
    ``username``, the session logs in (AUTH) before the first send.

    The session is reused: each later send starts with ``RSET`` on it, and a
    session the server has dropped meanwhile is replaced by a new one in the
    same send. After any error on the connection it is closed and the next send
    connects again. Sends are serialised, so one instance may be shared by
    threads.

    Classification of what goes wrong (``detail`` names the command, the code
    and the server's text):

    - connecting, greeting, EHLO, STARTTLS, TLS and AUTH: always TEMPORARY,
      whatever the code. The relay or our settings are at fault, not the
      message; a failed login in particular (535) is a configuration problem
      that an admin fixes, so the row waits rather than fails;
    - ``MAIL FROM`` and ``DATA``: 5xx PERMANENT, anything else TEMPORARY
      (authentication codes 530/534/535/538 are TEMPORARY there too);
    - ``RCPT TO``: when at least one recipient is accepted the message is sent
      and SENT lists the others in ``refused``; when none is, PERMANENT if
      every refusal was 5xx, else TEMPORARY;
    - a lost connection, a timeout (``timeout`` seconds per network
      operation) or any other `OSError`: TEMPORARY.

    Line endings are sent as CRLF (bare LF or CR are converted). ``SMTPUTF8``
    is asked for only when an address is not ASCII (a server without it makes
    the send PERMANENT), ``BODY=8BITMIME`` when the server offers it and the
    message is not 7-bit, ``SIZE`` when the server offers it.
    """

    def __init__(
        self,
        host: str,
        port: int,
        tls: str,
        username: str,
        password: str | None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if tls not in _TLS_MODES:
            raise ValueError(f"tls must be one of {', '.join(_TLS_MODES)}, got {tls!r}")
        if username and password is None:
            raise ValueError("a username needs a password")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.host = host
        self.port = port
        self.tls = tls
        self.username = username
        self._password = password or ""
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._context = ssl_context
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    def send(self, key: str, raw: bytes, envelope_from: str, recipients: Sequence[str]) -> Result:
        _check_key(key)  # not used on the wire; checked so both transports take the same keys
        _check_envelope(envelope_from, recipients)
        data = _LINE_END_RE.sub(b"\r\n", raw)
        with self._lock:
            try:
                smtp = self._session()
                return self._transaction(smtp, data, envelope_from, list(recipients))
            except _Failure as failure:
                return failure.result
            except smtplib.SMTPResponseException as exc:
                self._drop()
                return Result(Outcome.TEMPORARY, self._where("SMTP", _reply(exc)))
            except (smtplib.SMTPException, OSError) as exc:
                # SMTPServerDisconnected, ssl.SSLError, timeouts, resets...
                self._drop()
                return Result(Outcome.TEMPORARY, self._where("connection", _reason(exc)))

    def close(self) -> None:
        """QUIT the open session, if any."""
        with self._lock:
            smtp, self._smtp = self._smtp, None
            if smtp is None:
                return
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                smtp.close()

    # -- the session ---------------------------------------------------------------------

    def _session(self) -> smtplib.SMTP:
        """The open session (still answering RSET), or a new one."""
        if self._smtp is not None:
            try:
                code, _ = self._smtp.rset()
            except (smtplib.SMTPException, OSError):
                code = -1
            if code == 250:
                return self._smtp
            self._drop()
        self._smtp = self._connect()
        return self._smtp

    def _connect(self) -> smtplib.SMTP:
        stage = "connect"
        smtp: smtplib.SMTP | None = None
        try:
            if self.tls == "ssl":
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self._ssl_context(),
                )
            else:
                smtp = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            stage = "EHLO"
            smtp.ehlo_or_helo_if_needed()
            if self.tls == "starttls":
                stage = "STARTTLS"
                if not smtp.has_extn("starttls"):
                    raise _Failure(
                        Result(
                            Outcome.TEMPORARY,
                            self._where(
                                stage, "not offered by the server; not sending in clear text"
                            ),
                        )
                    )
                smtp.starttls(context=self._ssl_context())
                stage = "EHLO"
                smtp.ehlo()
            if self.username:
                stage = "AUTH"
                smtp.login(self.username, self._password)
        except _Failure:
            _close_quietly(smtp)
            raise
        except smtplib.SMTPResponseException as exc:
            _close_quietly(smtp)
            raise _Failure(Result(Outcome.TEMPORARY, self._where(stage, _reply(exc)))) from None
        except (smtplib.SMTPException, OSError) as exc:
            _close_quietly(smtp)
            raise _Failure(Result(Outcome.TEMPORARY, self._where(stage, _reason(exc)))) from None
        return smtp

    def _ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        _close_quietly(smtp)

    # -- one message ---------------------------------------------------------------------

    def _transaction(
        self, smtp: smtplib.SMTP, data: bytes, envelope_from: str, recipients: list[str]
    ) -> Result:
        options: list[str] = []
        if not envelope_from.isascii() or not all(r.isascii() for r in recipients):
            if not smtp.has_extn("smtputf8"):
                return Result(
                    Outcome.PERMANENT,
                    self._where(
                        "MAIL FROM", "the server does not offer SMTPUTF8, needed for the addresses"
                    ),
                )
            options.append("SMTPUTF8")
        if not data.isascii() and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if smtp.has_extn("size"):
            options.append(f"SIZE={len(data)}")

        command = f"MAIL FROM:<{envelope_from}>"
        code, message = smtp.mail(envelope_from, options)
        if code != 250:
            return self._refused(command, code, message)

        accepted: list[str] = []
        refusals: list[tuple[str, int, bytes]] = []
        for recipient in recipients:
            code, message = smtp.rcpt(recipient)
            if code in (250, 251):
                accepted.append(recipient)
            else:
                refusals.append((recipient, code, message))
                if code == 421:  # the server is closing the session
                    self._drop()
                    return Result(Outcome.TEMPORARY, _one_line(_refusals(refusals)))
        if not accepted:
            permanent = all(
                500 <= code < 600 and code not in _AUTH_CODES for _, code, _ in refusals
            )
            outcome = Outcome.PERMANENT if permanent else Outcome.TEMPORARY
            return Result(outcome, _one_line(_refusals(refusals)))

        try:
            code, message = smtp.data(data)
        except smtplib.SMTPDataError as exc:  # no 354 after DATA
            return self._refused("DATA", exc.smtp_code, exc.smtp_error)
        if code != 250:
            return self._refused("DATA (end of data)", code, message)

        detail = _reply_text(code, message)
        refused = tuple(recipient for recipient, _, _ in refusals)
        if refusals:
            detail += f"; refused {_refusals(refusals)}"
        return Result(Outcome.SENT, _one_line(detail), refused)

    def _refused(self, command: str, code: int, message: bytes | str) -> Result:
        if code == 421 or code < 0:
            self._drop()
        permanent = 500 <= code < 600 and code not in _AUTH_CODES
        outcome = Outcome.PERMANENT if permanent else Outcome.TEMPORARY
        return Result(outcome, _one_line(f"{command}: {_reply_text(code, message)}"))

    def _where(self, stage: str, text: str) -> str:
        return _one_line(f"{self.host}:{self.port} {stage}: {text}")


def _refusals(refusals: list[tuple[str, int, bytes]]) -> str:
    return "; ".join(
        f"RCPT TO:<{recipient}>: {_reply_text(code, message)}"
        for recipient, code, message in refusals
    )


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with contextlib.suppress(OSError):
            smtp.close()


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


def make_transport(config: OutboundConfig, environ: Mapping[str, str], base: Path) -> Transport:
    """The transport ``[outbound]`` asks for.

    ``base`` is the directory a relative ``maildir`` is resolved against;
    ``environ`` is where the SMTP password is looked up (`config.read_environ`);
    ``timeout`` applies to each network operation with the relay.
    Raises `ConfigError` when a user name is set but its password is missing.
    """
    if config.mode == "maildir":
        folder = Path(config.maildir)
        return MaildirTransport(folder if folder.is_absolute() else base / folder)
    if config.mode != "smtp":
        raise ConfigError("outbound.mode", f"must be maildir or smtp, got {config.mode!r}")
    password = password_from_env(config.password_env, environ)
    if config.username and password is None:
        if config.password_env:
            problem = f"username is set but the environment variable {config.password_env} is"
            problem += " unset or empty: put the SMTP password there"
        else:
            problem = "username is set but password_env is empty: name the variable holding"
            problem += " the SMTP password"
        raise ConfigError("outbound.password_env", problem)
    return SmtpTransport(
        config.host,
        config.port,
        config.tls,
        config.username,
        password,
        timeout=float(config.timeout),
    )


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError(f"invalid outbox key {key!r}: letters, digits, . _ - and no leading dot")


def _check_envelope(envelope_from: str, recipients: Sequence[str]) -> None:
    if isinstance(recipients, str):
        raise ValueError("recipients must be a sequence of addresses, not one string")
    if not recipients:
        raise ValueError("at least one recipient is needed")
    for address in (envelope_from, *recipients):
        if _BAD_ADDRESS_CHARS.intersection(address):
            raise ValueError(f"invalid address {address!r}")
    if not all(recipients):
        raise ValueError("empty recipient address")


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return _reply_text(exc.smtp_code, exc.smtp_error)


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}".strip()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, ssl.SSLError):
        return exc.strerror
    return str(exc) or type(exc).__name__


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= DETAIL_LIMIT else line[: DETAIL_LIMIT - 3] + "..."
