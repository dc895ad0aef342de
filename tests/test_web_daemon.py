"""The web view as `maildesk run` serves it: on the daemon's loop, next to the SMTP
listener, stopped by the daemon's own signal handling (SQLite and PostgreSQL)."""

from __future__ import annotations

import http.cookiejar
import json
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import Install, write_config
from tests.conversation import customer_mail, text_of
from tests.daemon import Daemon, daemon_config
from tests.sink import Sink
from tests.test_conversation_daemon import mails_to, outbound, submit, wait_until

PASSWORD = "correct horse battery"


class Browser:
    """urllib with cookies, not following redirects (to see them)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.cookies = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect()
        )

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str, dict]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data=data, timeout=10) as answer:
                return answer.status, answer.read().decode(), dict(answer.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), dict(exc.headers)

    def csrf(self, path: str) -> str:
        _, page, _ = self.request(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found, page
        return found.group(1)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def start(desk: Install, sink: Sink) -> Daemon:
    write_config(desk.root, desk.database_url, daemon_config(web=True), outbound(sink))
    return Daemon(desk.config_path, desk.root).start()


def test_an_agent_answers_from_the_web_and_the_customer_gets_it(desk: Install, sink: Sink) -> None:
    added = desk.run(
        "agents", "add", "ann@example.com", "--name", "Ann", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert added.exit_code == 0
    daemon = start(desk, sink)
    try:
        assert daemon.web_port and daemon.web_port != daemon.port
        browser = Browser(daemon.web_port)
        status, body, _ = browser.request("/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        submit(daemon, customer_mail(subject="Printer on fire"))
        sink.wait_for(2)  # the acknowledgement and Ann's notification
        status, _, headers = browser.request(
            "/login",
            {"csrf": browser.csrf("/login"), "email": "ann@example.com", "password": PASSWORD},
        )
        assert status == 303 and headers["location"] == "/"
        token = browser.csrf("/tickets/SUP-00001")
        status, _, _ = browser.request(
            "/tickets/SUP-00001/reply",
            {"csrf": token, "text": "Hi Carl,\nunplug it.", "kind": "reply"},
        )
        assert status == 303
        relayed = wait_until(
            lambda: mails_to(sink, "carl@customer.test")[1:] or None, what="the relayed reply"
        )
        assert "unplug it" in text_of(relayed[0])
        assert "ann@example.com" not in relayed[0].as_string()
    finally:
        assert daemon.stop() == 0, daemon.log


def test_signals_stay_with_the_daemon(desk: Install, sink: Sink) -> None:
    daemon = start(desk, sink)
    try:
        with socket.create_connection(("127.0.0.1", daemon.web_port)):  # an idle client
            assert daemon.proc is not None
            daemon.proc.send_signal(signal.SIGHUP)
            daemon.wait_for_line("configuration reloaded")
            assert daemon.proc.poll() is None
            started = time.monotonic()
            assert daemon.stop() == 0, daemon.log
            assert time.monotonic() - started < 15
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()


def test_web_port_in_use_is_a_one_line_error(desk: Install, sink: Sink) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = daemon_config(web=True).replace("enabled = true\nport = 0", f"port = {port}")
        write_config(desk.root, desk.database_url, config, outbound(sink))
        result = subprocess.run(
            [sys.executable, "-m", "maildesk", "run", "--config", str(desk.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"maildesk: cannot listen on 127.0.0.1:{port} (web)"), last


def answer_to(sock: socket.socket) -> bytes:
    """The response's status line and headers, as far as the server sent them."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


def stream_until_answered(port: int, path: str, kind: str, most: int) -> tuple[bytes, int]:
    """POST an endless chunked body to `path`; returns the answer and how much was sent
    before it came (giving up after `most` bytes)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)  # little in flight
        sock.connect(("127.0.0.1", port))
        sock.sendall(head(path, f"Content-Type: {kind}", "Transfer-Encoding: chunked"))
        chunk = b"2000\r\n" + b"a=" + b"x" * (0x2000 - 2) + b"\r\n"
        sent = 0
        while sent < most:
            readable, _, _ = select.select([sock], [], [], 0.002)  # has it answered?
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 0x2000
        return answer_to(sock), sent


def test_oversized_bodies_are_refused_before_they_are_read(desk: Install, sink: Sink) -> None:
    config = daemon_config(web=True).replace(
        "[web]\nenabled = true\nport = 0\n",
        "[web]\nenabled = true\nport = 0\nmax_upload_size = 4096\n",
    )
    write_config(desk.root, desk.database_url, config, outbound(sink))
    daemon = Daemon(desk.config_path, desk.root).start()
    try:
        port = daemon.web_port
        for path in ("/login", "/logout", "/submit", "/api/tickets", "/t/SUP-00001/x/reply"):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(head(path, "Content-Type: multipart/form-data; boundary=b",
                                  "Content-Length: 3000000000"))  # fmt: skip
                assert answer_to(sock).startswith(b"HTTP/1.1 413 "), path
        form = "application/x-www-form-urlencoded"
        for path, limit in (
            ("/login", 16 * 1024),
            ("/logout", 16 * 1024),
            ("/submit", 4096 + 256 * 1024),
        ):
            answer, sent = stream_until_answered(port, path, form, 16 * 1024 * 1024)
            assert answer.startswith(b"HTTP/1.1 413 "), (path, answer[:100])
            assert sent < limit + 1024 * 1024, (path, sent)  # cut off, not read to the end
        status, body, _ = Browser(port).request("/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        assert daemon.stop() == 0, daemon.log
