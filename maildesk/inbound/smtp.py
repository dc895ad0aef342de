"""The SMTP/LMTP listener: check the recipient, commit the raw bytes, answer.

Where it sits in the flow: the first hop of mail delivered to `maildesk run`
(directly, or relayed by Postfix over SMTP or LMTP). It does the minimum:

    RCPT TO   our address (every desk's addresses), or a `local+anything@` subaddress
              of one (as Postfix's recipient_delimiter = + has it; the signed
              reply addresses in agents' notifications are such)? else 550 5.1.1
    DATA      size within [smtp] max_message_size? else 552
              commit the raw bytes through the intake (a database thread,
              never on the loop), and only then 250; a storage failure is
              451 4.3.0 and the sender retries later
    LMTP      one reply per accepted recipient after DATA

Each of these answers is a named constant of `inbound.replies` (the size limit's
552 and protocol errors are aiosmtpd's own).

Everything else (parsing, threading, tickets) happens later in the pipeline
worker, so a slow or broken message never delays anyone's 250. The raw bytes
are stored exactly as received (no Received: header is added): a redelivery of
a message without Message-ID is then recognised by its bytes.

The servers are aiosmtpd protocols created on the daemon's own loop with
`loop.create_server`; `Listener.shutdown` stops accepting, lets transfers in
DATA finish, tells idle sessions `421` and closes what is left after a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session, syntax
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from maildesk.config import ConfigError, SmtpConfig
from maildesk.core.reply_address import is_our_address
from maildesk.inbound import replies
from maildesk.inbound.intake import Accepted, Envelope

log = logging.getLogger(__name__)

Commit = Callable[[bytes, Envelope, str], Awaitable[Accepted]]
"""Stores the raw bytes durably (`inbound.group_commit`); raises when they were not stored."""


class Traffic(Protocol):
    """Told when a transfer (DATA up to its reply) starts and ends; see `pipeline.worker`."""

    def begin(self) -> None: ...

    def end(self) -> None: ...


class Handler:
    """aiosmtpd hooks: the recipient check and the commit. Holds no connection state."""

    def __init__(self, addresses: Iterable[str], commit: Commit, protocol: str) -> None:
        self.addresses = frozenset(a.lower() for a in addresses)  # replaced on reload
        self._commit = commit
        self._protocol = protocol  # "smtp" | "lmtp": names the intake source

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: SmtpEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not is_our_address(address, self.addresses):
            log.info("rejected recipient <%s> from %s: not ours", address, _peer(session))
            return str(replies.UNKNOWN_RECIPIENT)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return str(replies.RECIPIENT_OK)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content or b""
        sender = envelope.mail_from or ""
        if sender == "<>":
            sender = ""  # the null return path (bounces, auto-replies)
        peer = _peer(session)
        try:
            accepted = await self._commit(
                raw, Envelope(sender, tuple(envelope.rcpt_tos)), f"{self._protocol}:{peer}"
            )
        except Exception as exc:  # noqa: BLE001 - any storage failure is a temporary one
            log.error(
                "temporary failure for message from <%s> via %s (%d bytes): %s",
                sender, peer, len(raw), _one_line(exc),
            )  # fmt: skip
            return self._replies(str(replies.TEMPORARY_FAILURE), envelope)
        log.info(
            "%s intake %d %s from <%s> to %s via %s (%d bytes)",
            "duplicate of" if accepted.duplicate else "accepted",
            accepted.intake_id,
            accepted.message_id or "(no Message-ID)",
            sender,
            ",".join(envelope.rcpt_tos),
            peer,
            len(raw),
        )
        reply = replies.DUPLICATE if accepted.duplicate else replies.ACCEPTED
        return self._replies(reply.format(intake=accepted.intake_id), envelope)

    async def handle_exception(self, error: Exception) -> str:
        """Any other failure inside a session: logged here, never shown to the client."""
        log.error("SMTP session failed: %s", _one_line(error), exc_info=error)
        return str(replies.TEMPORARY_FAILURE)

    def _replies(self, reply: str, envelope: SmtpEnvelope) -> str:
        # LMTP answers DATA once per accepted recipient (RFC 2033 4.2); aiosmtpd
        # sends the status as one line, so the replies are joined into it.
        if self._protocol == "lmtp":
            return "\r\n".join(reply for _ in envelope.rcpt_tos)
        return reply


class Credentials:
    """The one user name and password a relay may AUTH with ([smtp] auth_username)."""

    def __init__(self, username: str, password: str) -> None:
        self._username = username.encode("utf-8")
        self._password = password.encode("utf-8")

    def __call__(
        self, server: SMTP, session: Session, envelope: SmtpEnvelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        # Both compared, always, so the time taken tells nothing about which was wrong.
        user_ok = hmac.compare_digest(data.login, self._username)
        password_ok = hmac.compare_digest(data.password, self._password)
        if user_ok and password_ok:
            return AuthResult(success=True, message=str(replies.AUTH_OK))
        log.warning("failed AUTH %s from %s", mechanism, _peer(session))
        return AuthResult(success=False, handled=False)


class _Connection(SMTP):
    """aiosmtpd's SMTP session, registered with its Listener and knowing whether a
    transfer is in DATA, so a shutdown can let it finish."""

    def __init__(self, listener: Listener, line_length_limit: int, **kwargs: Any) -> None:
        self.listener = listener
        self.line_length_limit = line_length_limit  # read by SMTP.__init__
        self._in_data = False
        self._closing = False
        self._goodbye_task: asyncio.Task[None] | None = None
        super().__init__(**kwargs)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.listener.connections.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.listener.connections.discard(self)
        super().connection_lost(error)
        self.listener.connection_closed()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        self._in_data = True
        self.listener.traffic.begin()
        try:
            await super().smtp_DATA(arg)
        finally:
            self._in_data = False
            self.listener.traffic.end()
        if self._closing:
            await self._goodbye()

    def close_when_idle(self) -> None:
        """Shutdown: an idle session is told 421 now; one in DATA right after its reply."""
        self._closing = True
        if not self._in_data:
            self._goodbye_task = asyncio.get_running_loop().create_task(self._goodbye())

    def abort(self) -> None:
        if isinstance(self.transport, asyncio.WriteTransport):
            self.transport.abort()

    async def _goodbye(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        with contextlib.suppress(OSError):  # the client may be gone already
            await self.push(str(replies.SHUTTING_DOWN))
        if self.transport is not None:
            self.transport.close()


class _LmtpConnection(_Connection, LMTP):
    """The same, speaking LMTP (LHLO instead of HELO/EHLO)."""


class Listener:
    """One SMTP or LMTP server socket on the daemon's loop, and its live sessions."""

    def __init__(
        self,
        handler: Handler,
        traffic: Traffic,
        *,
        host: str,
        port: int,
        lmtp: bool,
        max_message_size: int,
        hostname: str = "",
        tls_context: ssl.SSLContext | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.handler = handler
        self.traffic = traffic
        self.host = host
        self.port = port
        self.lmtp = lmtp
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._closed = asyncio.Event()
        self._options: dict[str, Any] = {
            "data_size_limit": max_message_size,
            "enable_SMTPUTF8": True,
            "decode_data": False,  # raw bytes kept; 8BITMIME advertised
            "hostname": hostname or socket.gethostname(),
            "ident": f"maildesk {'LMTP' if lmtp else 'ESMTP'}",
            "tls_context": tls_context,
            "auth_required": credentials is not None,
            "auth_require_tls": True,
            "authenticator": credentials,
        }
        # Lines longer than RFC 5321's 1,000 octets are common in real mail (HTML
        # without line breaks); they are kept rather than bounced. Only a single
        # line longer than the whole size limit is refused.
        self._line_limit = max(SMTP.line_length_limit, max_message_size + 2)

    @property
    def protocol_name(self) -> str:
        return "lmtp" if self.lmtp else "smtp"

    async def start(self) -> list[tuple[str, int]]:
        """Bind and listen; returns the bound (host, port) pairs (port 0 is resolved)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_connection, self.host, self.port)
        return [sock.getsockname()[:2] for sock in self._server.sockets]

    def _new_connection(self) -> _Connection:
        cls = _LmtpConnection if self.lmtp else _Connection
        return cls(
            self,
            self._line_limit,
            handler=self.handler,
            loop=asyncio.get_running_loop(),
            **self._options,
        )

    def connection_closed(self) -> None:
        if not self.connections:
            self._closed.set()

    async def shutdown(self, timeout: float) -> None:
        """Stop accepting; let transfers in DATA finish within `timeout`, then close the rest."""
        if self._server is None:
            return
        self._server.close()
        if self.connections:
            self._closed.clear()
            log.info(
                "%s: waiting up to %.0f s for %d session(s) to finish",
                self.protocol_name, timeout, len(self.connections),
            )  # fmt: skip
            for connection in list(self.connections):
                connection.close_when_idle()
            try:
                await asyncio.wait_for(self._closed.wait(), timeout)
            except TimeoutError:
                log.warning(
                    "%s: closing %d session(s) still busy after %.0f s (their senders retry)",
                    self.protocol_name, len(self.connections), timeout,
                )  # fmt: skip
                for connection in list(self.connections):
                    connection.abort()
        await self._server.wait_closed()


def load_tls_context(cert: str, key: str) -> ssl.SSLContext:
    """The server side of STARTTLS; raises OSError/ssl.SSLError naming the problem."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def starttls_context(smtp: SmtpConfig) -> ssl.SSLContext | None:
    """The STARTTLS context of `[smtp] tls_cert`/`tls_key` (None: no STARTTLS). A file
    that is missing, unreadable or not what it should be is a ConfigError naming its
    key, found by `maildesk check-config` as well as at the daemon's start."""
    if not smtp.tls_cert:
        return None
    for key, name in (("smtp.tls_cert", smtp.tls_cert), ("smtp.tls_key", smtp.tls_key)):
        try:
            Path(name).read_bytes()
        except OSError as exc:
            raise ConfigError(key, f"cannot read {name}: {exc.strerror or exc}") from None
    try:  # the certificate alone first, so a bad key is not blamed on it
        ssl.create_default_context().load_verify_locations(cafile=smtp.tls_cert)
    except (OSError, ssl.SSLError) as exc:
        problem = f"{smtp.tls_cert} is not a PEM certificate: {_one_line(exc)}"
        raise ConfigError("smtp.tls_cert", problem) from None
    try:
        return load_tls_context(smtp.tls_cert, smtp.tls_key)
    except (OSError, ssl.SSLError) as exc:
        problem = f"{smtp.tls_key} is not the PEM private key of tls_cert: {_one_line(exc)}"
        raise ConfigError("smtp.tls_key", problem) from None


def _peer(session: Session) -> str:
    peer = session.peer
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer or "unknown")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
