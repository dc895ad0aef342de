"""An SMTP server that plays the relay in tests: it accepts what is sent and keeps it.

    with Sink() as sink:
        transport = SmtpTransport(sink.host, sink.port, "none", "", None)
        transport.send("1", raw, "support@example.com", ["alice@customer.example"])
        [received] = sink.wait_for(1)
        assert received.message["Subject"] == "Re: Help"

aiosmtpd's threaded `Controller` on 127.0.0.1, on a free port picked at the
first `start`; the port stays the same after `stop` and a new `start`, so a
test can take the "relay" away and bring it back where the sender expects it.
`stop` drops the sessions still open (as a crashed relay would).

Options: STARTTLS with ``tls_cert``/``tls_key`` (``require_starttls`` makes
it mandatory), implicit TLS with ``implicit_tls=True`` as well, and AUTH
PLAIN/LOGIN with ``auth=(user, password)``. AUTH is required (and offered
only after STARTTLS) in STARTTLS mode; otherwise it is offered but optional,
so a test checks `Received.login` to see whether the sender logged in.

`respond` makes the sink refuse: ``respond("reject@", "550 5.1.1 no such
user")`` answers RCPT TO of matching addresses with that line instead of
accepting them (``stage="mail"``: MAIL FROM; ``stage="data"``: the end of DATA
when any accepted recipient matches).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope

HOST = "127.0.0.1"
STAGES = ("mail", "rcpt", "data")


@dataclass(frozen=True)
class Received:
    """One message the sink accepted."""

    envelope_from: str  # "" for the null sender (MAIL FROM:<>)
    recipients: tuple[str, ...]  # the accepted RCPT TO addresses
    raw: bytes  # the DATA as received (dot-unstuffed), line endings untouched
    message: EmailMessage  # raw parsed with email.policy.default
    connection: int  # which session brought it: 1, 2, ... counted over the sink's life
    mail_options: tuple[str, ...]  # e.g. ("BODY=8BITMIME", "SIZE=1234")
    tls: bool  # the session was encrypted (STARTTLS or implicit TLS)
    login: str | None  # the AUTH user name, None without AUTH


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem).

    Skips the test when the openssl CLI is missing.
    """
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = directory / "sink-cert.pem", directory / "sink-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


class _Session(SMTP):
    """aiosmtpd's session, known to its sink while connected."""

    def __init__(self, sink: Sink, *args: Any, **kwargs: Any) -> None:
        self.sink = sink
        self.number: int | None = None  # set at the first EHLO/HELO
        self.socket_transport: asyncio.BaseTransport | None = None  # TCP, below any TLS
        super().__init__(*args, **kwargs)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        upgrading = self._original_transport is not None  # STARTTLS calls this again
        super().connection_made(transport)
        if not upgrading:
            self.socket_transport = transport
            self.sink._opened(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.sink._closed(self)
        super().connection_lost(error)


class _Controller(Controller):
    def __init__(self, sink: Sink, **kwargs: Any) -> None:
        self.sink = sink
        super().__init__(_Handler(sink), **kwargs)

    def factory(self) -> SMTP:
        return _Session(self.sink, self.handler, **self.SMTP_kwargs)


class _Handler:
    """aiosmtpd hooks: run on the sink's loop thread."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_EHLO(
        self, server: _Session, session: Session, envelope: SmtpEnvelope, hostname: str,
        responses: list[str],
    ) -> list[str]:  # fmt: skip
        session.host_name = hostname
        self.sink._greeted(server)
        return responses

    async def handle_HELO(
        self, server: _Session, session: Session, envelope: SmtpEnvelope, hostname: str
    ) -> str:
        session.host_name = hostname
        self.sink._greeted(server)
        return f"250 {server.hostname}"

    async def handle_MAIL(
        self,
        server: _Session,
        session: Session,
        envelope: SmtpEnvelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        answer = self.sink._answer("mail", [address])
        if answer is not None:
            return answer
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: _Session,
        session: Session,
        envelope: SmtpEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        answer = self.sink._answer("rcpt", [address])
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: _Session, session: Session, envelope: SmtpEnvelope) -> str:
        answer = self.sink._answer("data", envelope.rcpt_tos)
        if answer is not None:
            return answer
        raw = envelope.original_content or b""
        sender = envelope.mail_from or ""
        transport = server.transport
        login = session.auth_data if session.authenticated else None
        received = Received(
            envelope_from="" if sender == "<>" else sender,
            recipients=tuple(envelope.rcpt_tos),
            raw=raw,
            message=cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(raw)),
            connection=server.number or 0,
            mail_options=tuple(envelope.mail_options),
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            login=login if isinstance(login, str) else None,
        )
        number = self.sink._deliver(received)
        return f"250 2.0.0 Ok: queued as SINK{number}"


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username = username.encode("utf-8")
        self.password = password.encode("utf-8")

    def __call__(
        self, server: SMTP, session: Session, envelope: SmtpEnvelope, mechanism: str, data: Any
    ) -> AuthResult:
        if (
            isinstance(data, LoginPassword)
            and data.login == self.username
            and data.password == self.password
        ):
            return AuthResult(success=True, auth_data=data.login.decode("utf-8"))
        return AuthResult(success=False, handled=False)


class Sink:
    """A relay on 127.0.0.1 that keeps what it is sent in `messages`; see the module."""

    host = HOST

    def __init__(
        self,
        port: int = 0,
        *,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        implicit_tls: bool = False,
        require_starttls: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        if (implicit_tls or require_starttls) and tls_cert is None:
            raise ValueError("implicit_tls and require_starttls need tls_cert and tls_key")
        self.port = port
        self.tls_cert = tls_cert
        self.implicit_tls = implicit_tls
        self.messages: list[Received] = []
        self._tls: ssl.SSLContext | None = None
        if tls_cert is not None and tls_key is not None:
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(tls_cert, tls_key)
        starttls = self._tls is not None and not implicit_tls
        self._options: dict[str, Any] = {
            "server_hostname": "sink.test",
            "ready_timeout": 10.0,
            "decode_data": False,
            "enable_SMTPUTF8": True,
            "ssl_context": self._tls if implicit_tls else None,
            "tls_context": self._tls if starttls else None,
            "require_starttls": starttls and require_starttls,
            "authenticator": _Authenticator(*auth) if auth else None,
            # AUTH only after STARTTLS, and then required; elsewhere offered, optional.
            "auth_required": auth is not None and starttls,
            "auth_require_tls": starttls,
        }
        self._responses: list[tuple[str, re.Pattern[str], str]] = []
        self._controller: _Controller | None = None
        self._live: set[_Session] = set()
        self._sessions = 0
        self._changed = threading.Condition()

    # -- running -----------------------------------------------------------------------

    def start(self) -> Sink:
        """Listen (on the same port as before, after a `stop`); returns self."""
        if self._controller is not None:
            raise RuntimeError("sink already running")
        if not self.port:
            with socket.socket() as probe:
                probe.bind((HOST, 0))
                self.port = probe.getsockname()[1]
        controller = _Controller(self, hostname=HOST, port=self.port, **self._options)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Drop the open sessions and stop listening. Does nothing when not running."""
        controller, self._controller = self._controller, None
        if controller is None:
            return
        aborted = threading.Event()
        controller.loop.call_soon_threadsafe(self._abort_sessions, aborted)
        aborted.wait(5.0)
        controller.stop()

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def connections(self) -> int:
        """Sessions that said EHLO/HELO so far, over the sink's whole life."""
        with self._changed:
            return self._sessions

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this sink's certificate (host name checked)."""
        if self.tls_cert is None:
            raise ValueError("the sink has no certificate")
        return ssl.create_default_context(cafile=str(self.tls_cert))

    # -- what arrived --------------------------------------------------------------------

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """All messages, once there are at least ``count``; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    arrived = [(m.envelope_from, m.recipients, m.message["Subject"])
                               for m in self.messages]  # fmt: skip
                    raise AssertionError(
                        f"expected {count} message(s) within {timeout} s, "
                        f"got {len(arrived)}: {arrived}"
                    )
                self._changed.wait(remaining)
            return list(self.messages)

    # -- refusing ------------------------------------------------------------------------

    def respond(self, recipient_pattern: str, code_line: str, stage: str = "rcpt") -> None:
        """Answer matching addresses (regex search) with ``code_line`` from now on.

        ``stage``: ``"rcpt"`` (RCPT TO), ``"mail"`` (MAIL FROM) or ``"data"`` (the
        end of DATA, when any accepted recipient matches). The first matching
        rule wins.
        """
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        if not re.fullmatch(r"[2-5]\d\d[ -].*", code_line):
            raise ValueError(f"not an SMTP reply line: {code_line!r}")
        with self._changed:
            self._responses.append((stage, re.compile(recipient_pattern), code_line))

    def clear_responses(self) -> None:
        with self._changed:
            self._responses.clear()

    # -- called on the sink's loop thread ------------------------------------------------

    def _answer(self, stage: str, addresses: list[str]) -> str | None:
        with self._changed:
            for rule_stage, pattern, code_line in self._responses:
                if rule_stage == stage and any(pattern.search(a) for a in addresses):
                    return code_line
        return None

    def _opened(self, session: _Session) -> None:
        with self._changed:
            self._live.add(session)

    def _greeted(self, session: _Session) -> None:
        with self._changed:
            if session.number is None:
                self._sessions += 1
                session.number = self._sessions

    def _closed(self, session: _Session) -> None:
        with self._changed:
            self._live.discard(session)
            self._changed.notify_all()

    def _deliver(self, received: Received) -> int:
        with self._changed:
            self.messages.append(received)
            self._changed.notify_all()
            return len(self.messages)

    def _abort_sessions(self, aborted: threading.Event) -> None:
        with self._changed:
            live = list(self._live)
            self._live.clear()
        for session in live:
            # The TCP transport: a session in a failed TLS handshake is never told
            # connection_lost, but its socket is closed all the same.
            if isinstance(session.socket_transport, asyncio.WriteTransport):
                session.socket_transport.abort()
        # Runs after the connection_lost callbacks the aborts scheduled.
        asyncio.get_running_loop().call_soon(aborted.set)
