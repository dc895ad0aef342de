"""A webhook receiver on loopback for the tests: records every request it gets and
answers as the test says (a status per attempt, a pause before answering).

Where it sits: test-only. `Receiver` runs a `ThreadingHTTPServer` on 127.0.0.1, port
0; `wait_for(count)` is the positive signal a test waits on. Signatures are checked
with the `standardwebhooks` package, an implementation of the specification
independent of maildesk's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook

WAIT = 30.0  # seconds a test waits for deliveries at most


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str
    at: float = field(default_factory=time.monotonic)

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return str(self.document["type"])

    def verify(self, secret: str) -> dict[str, Any]:
        """The body, once its signature checks out (raises otherwise)."""
        return Webhook(secret).verify(self.body, self.headers)


# Decides the answer to a request: (status, seconds to wait before answering).
Answer = Callable[[Received, int], tuple[int, float]]


def always_ok(request: Received, attempt: int) -> tuple[int, float]:
    return 200, 0.0


class Receiver:
    def __init__(self, answer: Answer = always_ok) -> None:
        self.answer = answer
        self.requests: list[Received] = []
        self.attempts: dict[str, int] = {}  # per webhook-id
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the server's name for it
                size = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(size)
                got = Received({k.lower(): v for k, v in self.headers.items()}, body, self.path)
                with receiver._changed:
                    attempt = receiver.attempts.get(got.headers.get("webhook-id", ""), 0) + 1
                    receiver.attempts[got.headers.get("webhook-id", "")] = attempt
                    receiver.requests.append(got)
                    receiver._changed.notify_all()
                status, pause = receiver.answer(got, attempt)
                if pause:
                    time.sleep(pause)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(
        self, count: int, where: Callable[[Received], bool] = lambda r: True, timeout: float = WAIT
    ) -> list[Received]:
        """The requests matching `where`, once there are at least `count`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [r for r in self.requests if where(r)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    shown = [(r.type, r.id) for r in self.requests]
                    raise AssertionError(
                        f"{len(found)} of {count} requests in {timeout} s: {shown}"
                    )
                self._changed.wait(left)

    def snapshot(self) -> list[Received]:
        with self._changed:
            return list(self.requests)
