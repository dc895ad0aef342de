"""Live updates under test: the web app served by uvicorn on loopback (port 0) with its
`Live` started on the server's own loop, in a thread of the test process, and an agent
that signs in over HTTP and reads `/events/stream` as a browser's EventSource would.

`served(...)` builds what the daemon builds for the web (runtime, `Live`, `Web`, app,
`WebServer`), so settings the daemon does not expose (a short presence time) can be
tried; `Agent` works against it or against `maildesk run` alike.
"""

from __future__ import annotations

import asyncio
import http.client
import http.cookiejar
import json
import queue
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maildesk.config import load_config
from maildesk.events.live import Live
from maildesk.pipeline.ingest import Runtime, open_runtime
from maildesk.web.app import close_web, create_app, open_web
from maildesk.web.server import WebServer
from tests.conftest import Install, write_config

PASSWORD = "correct horse battery"
WAIT = 10.0  # seconds any single wait for the server may take
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class SseStream:
    """One GET /events/stream: its status, and its messages as (event, data) pairs,
    read by a thread of its own."""

    def __init__(self, port: int, path: str, cookie: str) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._conn.request("GET", path, headers={"Cookie": cookie, "Accept": "text/event-stream"})
        self._response = self._conn.getresponse()
        self.status = self._response.status
        self.headers = dict(self._response.getheaders())
        self.messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._reader: threading.Thread | None = None
        if self.status == 200:
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        else:
            self.body = self._response.read().decode()

    def _read(self) -> None:
        event, data = "message", ""
        try:
            while line := self._response.readline():
                text = line.decode().rstrip("\r\n")
                if text.startswith("event:"):
                    event = text[6:].strip()
                elif text.startswith("data:"):
                    data += text[5:].strip()
                elif not text:
                    if data:
                        self.messages.put((event, json.loads(data)))
                    event, data = "message", ""
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # closed by the test or the server (http.client then drops its file)
        self.messages.put(("closed", {}))

    def next(
        self, event: str, where: Callable[[dict[str, Any]], bool] = lambda d: True, timeout=WAIT
    ) -> dict[str, Any]:
        """The next message of type `event` that `where` accepts (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} message within {timeout} s")
            try:
                kind, data = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if kind == event and where(data):
                return data
            if kind == "closed" and event != "closed":
                raise AssertionError(f"the stream ended before a {event!r} message")

    def skipped_until(self, event: str, where: Callable[[dict[str, Any]], bool]) -> list[Any]:
        """Every message before the first `event` that `where` accepts (and that one)."""
        seen = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                kind, data = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                continue
            seen.append((kind, data))
            if kind == event and where(data):
                return seen
        raise AssertionError(f"no matching {event!r} message within {WAIT} s: {seen}")

    def close(self) -> None:
        sock = self._conn.sock
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()
        if self._reader is not None:
            self._reader.join(WAIT)


class Agent:
    """An agent's browser over HTTP: cookies, the /login form, posts with CSRF tokens."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.cookies = http.cookiejar.CookieJar()
        self.streams: list[SseStream] = []

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect()
        )

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data=data, timeout=WAIT) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def csrf(self, path: str) -> str:
        _, page = self.request(path)
        found = CSRF.search(page)
        assert found, page[:500]
        return found.group(1)

    def sign_in(self, email: str) -> Agent:
        form = {"csrf": self.csrf("/login"), "email": email, "password": PASSWORD}
        status, _ = self.request("/login", form)
        assert status == 303, status
        return self

    def stream(self, path: str = "/events/stream", ready: bool = True) -> SseStream:
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.cookies)
        opened = SseStream(self.port, path, cookie)
        self.streams.append(opened)
        if ready and opened.status == 200:
            opened.next("ready")  # registered: whatever happens from now on is heard
        return opened

    def close(self) -> None:
        for opened in self.streams:
            opened.close()


@dataclass
class Served:
    port: int
    live: Live
    runtime: Runtime
    desk: Install

    def agent(self, email: str | None = None) -> Agent:
        browser = Agent(self.port)
        return browser.sign_in(email) if email else browser

    def add_agent(self, email: str, name: str, *options: str) -> None:
        added = self.desk.run(
            "agents", "add", email, "--name", name, *options, "--password-stdin",
            input=PASSWORD + "\n",
        )  # fmt: skip
        assert added.exit_code == 0, added.output


@contextmanager
def served(
    root: Path,
    database_url: str,
    extra: str = "",
    *,
    presence_seconds: float = 30.0,
    config_name: str = "maildesk.toml",
) -> Iterator[Served]:
    """The web view of a fresh install at `database_url`, served on loopback."""
    folder = root / config_name.removesuffix(".toml")
    folder.mkdir(parents=True, exist_ok=True)
    config_path = write_config(folder, database_url, extra)
    runtime = open_runtime(load_config(config_path))
    live = Live(runtime.desk, presence_seconds=presence_seconds)
    web = open_web(runtime.desk, runtime.pipeline, live.wake, live)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="served", daemon=True)
    thread.start()

    def on_loop(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(WAIT * 2)

    server = WebServer(create_app(web), "127.0.0.1", 0)
    try:
        with runtime.session():
            on_loop(live.start())
            port = int(on_loop(server.start()).rsplit(":", 1)[1])
            yield Served(port, live, runtime, Install(config_path, database_url, folder))
    finally:
        on_loop(live.stop())
        on_loop(server.stop())
        on_loop(_cancel_the_rest())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT)
        loop.close()
        close_web(web)


async def _cancel_the_rest() -> None:
    """End what else runs on the loop (the SSE responses' shutdown watcher)."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
