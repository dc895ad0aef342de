"""uvicorn serving the web view on the daemon's own loop.

The daemon owns the signals (SIGTERM, SIGHUP): uvicorn's handlers are switched off
and the daemon stops the server as one step of its shutdown. The socket is bound
here, so a taken port is a clear start-up error and port 0 picks a free one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

log = logging.getLogger(__name__)

GRACEFUL_SECONDS = 5


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the daemon's signal handlers stay in place


class WebServer:
    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Listen and serve; returns the address bound (`host:port`). OSError if the
        address cannot be bound."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.create_server((self._host, self._port), family=family, reuse_port=False)
        sock.setblocking(False)
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,  # the app reads X-Forwarded-For from trusted proxies only
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="web")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what went wrong
                raise OSError("the web server stopped at start-up")
            await asyncio.sleep(0.01)
        host, port = sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def stop(self) -> None:
        """Stop taking connections; requests in hand get GRACEFUL_SECONDS to finish."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), GRACEFUL_SECONDS + 5)
        except TimeoutError:
            log.warning("web: requests still running at shutdown; leaving them")
            self._task.cancel()
