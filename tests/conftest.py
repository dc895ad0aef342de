"""Shared fixtures: a database per test on SQLite and on PostgreSQL, configs, the CLI.

PostgreSQL comes from MAILDESK_TEST_POSTGRES_URL (default: the local server);
each test gets its own schema. Where the server is unreachable the PostgreSQL
variants skip, unless MAILDESK_REQUIRE_POSTGRES=1 (as in CI), where they fail.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peewee
import pytest
from click.testing import CliRunner, Result

from maildesk.cli import main
from maildesk.store.db import open_database, upgrade, using

PG_URL = os.environ.get("MAILDESK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("MAILDESK_REQUIRE_POSTGRES") == "1"
SHARED_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def _pg_admin() -> peewee.PostgresqlDatabase:
    parts = urllib.parse.urlsplit(PG_URL)
    return peewee.PostgresqlDatabase(
        parts.path.lstrip("/"),
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        prefer_psycopg3=True,
        connect_timeout=5,
    )


@pytest.fixture(scope="session")
def postgres_available() -> str | None:
    """None when PostgreSQL can be used, else why not."""
    try:
        admin = _pg_admin()
        admin.connect()
        admin.close()
    except Exception as exc:  # noqa: BLE001 - any failure means unavailable
        return f"PostgreSQL at {PG_URL} unreachable: {exc}"
    return None


def _schema_url(schema: str) -> str:
    parts = urllib.parse.urlsplit(PG_URL)
    query = urllib.parse.urlencode({"options": f"-csearch_path={schema}"})
    return urllib.parse.urlunsplit(parts._replace(query=query))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_available: str | None
) -> Iterator[str]:
    """A fresh, empty database: SQLite in tmp_path, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/maildesk.db"
        return
    if postgres_available is not None:
        if REQUIRE_PG:
            pytest.fail(f"{postgres_available} (MAILDESK_REQUIRE_POSTGRES=1)")
        pytest.skip(postgres_available)
    schema = "t_" + secrets.token_hex(8)
    admin = _pg_admin()
    admin.execute_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield _schema_url(schema)
    finally:
        admin.execute_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@contextmanager
def opened(url: str, *, migrate: bool = False) -> Iterator[peewee.Database]:
    """The database at `url`, open (and migrated, if asked) for the block, which runs
    on it (`store.db.using`); closed after."""
    database = open_database(url)
    try:
        if migrate:
            upgrade(database)
        with using(database):
            yield database
    finally:
        database.close()


@pytest.fixture
def db(database_url: str) -> Iterator[peewee.Database]:
    """That database, migrated and open; the test runs on it."""
    with opened(database_url, migrate=True) as database:
        yield database


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No MAILDESK_* setting or .env of the developer's leaks into a test."""
    keep = ("MAILDESK_TEST_", "MAILDESK_REQUIRE_POSTGRES", "MAILDESK_SLOW_TESTS")
    for name in list(os.environ):
        if name.startswith("MAILDESK_") and not name.startswith(keep):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@dataclass
class Install:
    """A configured maildesk in a temp dir, driven through its real CLI."""

    config_path: Path
    database_url: str
    root: Path

    def run(self, *args: str, input: bytes | str | None = None) -> Result:
        # The config is found through $MAILDESK_CONFIG, as an admin's shell would.
        env = {"MAILDESK_CONFIG": str(self.config_path)}
        return CliRunner().invoke(main, list(args), input=input, env=env)

    def json(self, *args: str, input: bytes | str | None = None) -> Any:
        result = self.run(*args, "--json", input=input)
        assert result.exit_code == 0, result.output + result.stderr
        return json.loads(result.stdout)

    def ingest(self, *raw: bytes) -> list[dict[str, Any]]:
        """Ingest messages from stdin one by one; the `ingest --json` lines."""
        lines = []
        for data in raw:
            result = self.run("ingest", "--json", "-", input=data)
            assert result.exit_code == 0, result.output + result.stderr
            lines.extend(json.loads(line) for line in result.stdout.splitlines())
        return lines

    def ingest_at_once(self, *folders: Path) -> list[dict[str, Any]]:
        """One `maildesk ingest --json FOLDER` process per folder, all at once (each on
        its own database connection); their lines, in the order of the folders."""
        env = {**os.environ, "MAILDESK_CONFIG": str(self.config_path)}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "maildesk", "ingest", "--json", str(folder)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
            )
            for folder in folders
        ]
        outputs = [p.communicate(timeout=180) for p in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
        return [json.loads(line) for out, _ in outputs for line in out.splitlines()]


SUPPORT_AND_BILLING = """
[[desks]]
slug = "support"
name = "Acme Support"
ticket_prefix = "SUP"
addresses = ["support@example.com"]

[[desks]]
slug = "billing"
name = "Acme Billing"
ticket_prefix = "BIL"
addresses = ["billing@example.com"]
"""
"""Two desks, support (the default) and billing, each with its address and prefix."""


def write_config(root: Path, database_url: str, extra: str = "", outbound: str = "") -> Path:
    """`extra`: more sections; `outbound`: more keys of [outbound]."""
    path = root / "maildesk.toml"
    path.write_text(
        f"""
[desk]
name = "Test Support"
ticket_prefix = "SUP"
addresses = ["support@example.com", "billing@example.com"]
secret_key = "test-secret-key"

[database]
url = "{database_url}"

[outbound]
maildir = "{root}/outbox"
{outbound}
{extra}
{"" if "[web]" in extra else "[web]"}
{"" if "[web]" in extra else "port = 0"}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def desk(tmp_path: Path, database_url: str) -> Install:
    return Install(write_config(tmp_path, database_url), database_url, tmp_path)
