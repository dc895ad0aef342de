"""The web view under test: a Starlette test client on a real database, signed in or not.

`site(...)` builds what the daemon builds (runtime, `Web`, app) without the
daemon; `Site.sign_in` goes through the real /login form, CSRF token and all.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from maildesk.config import load_config
from maildesk.pipeline.ingest import Runtime, open_runtime
from maildesk.web.app import close_web, create_app, open_web
from maildesk.web.context import Web
from tests.conftest import Install, write_config

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    client: TestClient
    web: Web
    runtime: Runtime
    desk: Install

    def cli(self, *args: str, input: str | None = None) -> Any:
        """Run a maildesk command in this process (on a database connection of its own)."""
        return self.desk.run(*args, input=input)

    def add_agent(self, email: str, name: str, role: str = "agent") -> None:
        result = self.cli(
            "agents",
            "add",
            email,
            "--name",
            name,
            "--role",
            role,
            "--password-stdin",
            input=PASSWORD + "\n",
        )
        assert result.exit_code == 0, result.output

    def csrf(self, path: str = "/login") -> str:
        page = self.client.get(path)
        found = CSRF.search(page.text)
        assert found, f"no CSRF token on {path}: {page.status_code}"
        return found.group(1)

    def sign_in(self, email: str, password: str = PASSWORD) -> Any:
        token = self.csrf("/login")
        return self.client.post(
            "/login",
            data={"csrf": token, "email": email, "password": password, "next": "/"},
            follow_redirects=False,
        )

    def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        form_page: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """POST a form with the CSRF token of `form_page` (default: the queue)."""
        fields = {"csrf": self.csrf(form_page or "/"), **(data or {})}
        return self.client.post(path, data=fields, follow_redirects=False, **kwargs)

    def another_browser(self, **headers: str) -> Site:
        """The same site seen from a second browser (its own cookies; `headers` sent
        with every request, e.g. X-Forwarded-For behind a trusted proxy)."""
        client = TestClient(self.client.app, base_url=str(self.client.base_url), headers=headers)
        return Site(client, self.web, self.runtime, self.desk)

    def ingest(self, raw: bytes) -> None:
        self.runtime.ingest(raw, source="test")


@contextmanager
def site(
    root: Path,
    database_url: str,
    extra: str = "",
    clock: Callable[[], dt.datetime] | None = None,
    base_url: str = "http://testserver",
) -> Iterator[Site]:
    config_path = write_config(root, database_url, extra)
    text = config_path.read_text(encoding="utf-8")
    text = text.replace("[desk]\n", f'[desk]\nbase_url = "{base_url}"\n', 1)
    if "submit_pow_bits" not in text:  # /submit's proof of work is tested on its own
        text = text.replace("[web]\n", "[web]\nsubmit_pow_bits = 0\n", 1)
    config_path.write_text(text, encoding="utf-8")
    config = load_config(config_path)
    runtime = open_runtime(config, clock) if clock else open_runtime(config)
    web = open_web(runtime.desk, runtime.pipeline)
    desk = Install(config_path, database_url, root)
    with runtime.session():
        try:
            with TestClient(create_app(web), base_url=base_url) as client:
                yield Site(client, web, runtime, desk)
        finally:
            close_web(web)
