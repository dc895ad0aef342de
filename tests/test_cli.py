"""The command line contract: init, db upgrade, check-config, agents, errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from maildesk.cli import main
from tests.conftest import Desk, write_config


def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), input=input, env=env)


def test_init_writes_config_and_database_then_refuses_to_overwrite(tmp_path: Path) -> None:
    result = invoke("init")
    assert result.exit_code == 0, result.output
    config = tmp_path / "maildesk.toml"
    text = config.read_text()
    assert 'secret_key = "' in text and 'secret_key = ""' not in text
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "var" / "maildesk.db").exists()
    assert (tmp_path / "var" / "outbox").is_dir()
    again = invoke("init")
    assert again.exit_code == 2
    assert again.stderr.strip().count("\n") == 0 and "--force" in again.stderr
    assert invoke("init", "--force").exit_code == 0
    assert config.read_text() != text  # a new secret


def test_db_upgrade_is_idempotent(desk: Desk) -> None:
    first = desk.run("db", "upgrade")
    assert first.exit_code == 0 and "0001_initial" in first.stdout
    second = desk.run("db", "upgrade")
    assert second.exit_code == 0 and "up to date" in second.stdout


def test_check_config_reports_and_reaches_the_database(desk: Desk) -> None:
    result = desk.run("check-config")
    assert result.exit_code == 0, result.output
    assert "database: ok" in result.stdout and str(desk.config_path) in result.stdout


def test_explicit_config_option_wins_over_environment(tmp_path: Path, database_url: str) -> None:
    path = write_config(tmp_path, database_url)
    result = invoke("check-config", "--config", str(path), env={"MAILDESK_CONFIG": "/nope.toml"})
    assert result.exit_code == 0, result.output


def test_bad_config_is_one_line_naming_the_key_exit_2(tmp_path: Path) -> None:
    (tmp_path / "maildesk.toml").write_text('[smtp]\nport = "abc"\n')
    result = invoke("tickets", "list")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "smtp.port" in result.stderr and result.stderr.startswith("maildesk: config error")
    (tmp_path / "maildesk.toml").write_text("[desk]\nticket_prefx = 'X'\n")
    unknown = invoke("check-config")
    assert unknown.exit_code == 2 and "desk.ticket_prefx: unknown key" in unknown.stderr


def test_missing_explicit_config_file_exit_2(tmp_path: Path) -> None:
    result = invoke("check-config", "--config", str(tmp_path / "absent.toml"))
    assert result.exit_code == 2 and "not found" in result.stderr


def test_bad_database_url_from_environment_exit_2(tmp_path: Path) -> None:
    result = invoke("check-config", env={"MAILDESK_DATABASE_URL": "mysql://x/y"})
    assert result.exit_code == 2 and "database.url" in result.stderr


def test_unreachable_database_is_an_operational_failure(tmp_path: Path) -> None:
    url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    result = invoke("tickets", "list", env={"MAILDESK_DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.stderr.startswith("maildesk: database error") and result.stderr.count("\n") == 1


def test_usage_errors_are_one_line_exit_2(desk: Desk) -> None:
    for args in (
        ("tickets", "list", "--bogus"),
        ("tickets", "show", "not-a-number"),
        ("quarantine", "retry"),
        ("tickets", "list", "--status", "sleeping"),
        ("frobnicate",),
        ("ingest",),
    ):
        result = desk.run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("maildesk: ") and result.stderr.count("\n") == 1, args
        assert "Traceback" not in result.output


def test_missing_ticket_is_exit_1(desk: Desk) -> None:
    result = desk.run("tickets", "show", "SUP-00099")
    assert result.exit_code == 1 and "no ticket SUP-00099" in result.stderr


def test_json_output_is_json_only(desk: Desk) -> None:
    assert desk.json("tickets", "list") == []
    assert desk.json("quarantine", "list") == []
    assert desk.json("agents", "list") == []


def test_agents_add_with_password_and_list(desk: Desk) -> None:
    added = desk.run(
        "agents",
        "add",
        "Ann@Example.com",
        "--name",
        "Ann",
        "--role",
        "admin",
        "--password-stdin",
        input="s3cret-pass\n",
    )
    assert added.exit_code == 0, added.output
    [agent] = desk.json("agents", "list")
    assert agent == {
        "email": "ann@example.com",
        "name": "Ann",
        "role": "admin",
        "active": True,
        "away": False,
    }
    from maildesk.store.db import open_database
    from maildesk.store.models import Agent

    db = open_database(desk.database_url)
    stored = Agent.get(Agent.email == "ann@example.com").password_hash
    db.close()
    assert stored.startswith("$argon2") and "s3cret-pass" not in stored
    again = desk.run("agents", "add", "ann@example.com", "--name", "Ann")
    assert again.exit_code == 1 and "already exists" in again.stderr
    bad = desk.run("agents", "add", "not-an-address", "--name", "X")
    assert bad.exit_code == 1 and "not an e-mail address" in bad.stderr


def test_agent_mail_threads_into_any_ticket(desk: Desk) -> None:
    """By its subject tag alone, whether or not she is a participant. (A plain From
    is trusted here so the message counts as hers; test_conversation covers how an
    agent proves who she is.)"""
    from tests.test_ingest import mail

    write_config(desk.root, desk.database_url, "[security]\ntrust_from_header = true\n")
    desk.run("agents", "add", "ann@example.com", "--name", "Ann")
    desk.ingest(mail())
    [line] = desk.ingest(
        mail(sender="ann@example.com", subject="Re: [SUP-00001] x", message_id="<agent@x>")
    )
    assert line["action"] == "appended"
    messages = desk.json("tickets", "show", "1")["messages"]
    assert messages[1]["kind"] == "agent"


def test_python_dash_m_and_console_script(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    result = subprocess.run(
        [sys.executable, "-m", "maildesk", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0 and "ingest" in result.stdout
    version = subprocess.run(
        [sys.executable, "-m", "maildesk", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "maildesk" in version.stdout


def test_ingest_json_reads_stdin_with_mbox_postmark(desk: Desk) -> None:
    from tests.test_ingest import mail

    data = b"From alice@customer.example Mon Jan  1 00:00:00 2026\n" + mail()
    result = desk.run("ingest", "--json", "-", input=data)
    assert result.exit_code == 0
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["action"] == "created"
    ticket = desk.json("tickets", "show", line["ticket"])
    assert ticket["requester"]["email"] == "alice@customer.example"


def test_agents_passwd_and_api_tokens(desk: Desk) -> None:
    assert desk.run("agents", "add", "ann@example.com", "--name", "Ann").exit_code == 0
    no_tty = desk.run("agents", "passwd", "ann@example.com")
    assert no_tty.exit_code == 2 and "--password-stdin" in no_tty.stderr
    done = desk.run(
        "agents", "passwd", "ann@example.com", "--password-stdin", input="long enough\n"
    )
    assert done.exit_code == 0 and "password set" in done.output
    removed = desk.run("agents", "passwd", "ann@example.com", "--remove")
    assert removed.exit_code == 0 and "password removed" in removed.output
    made = desk.run("agents", "token", "ann@example.com", "--name", "chat")
    assert made.exit_code == 0
    token = made.output.strip()
    assert token.startswith("mdk_") and len(token) > 40
    [row] = desk.json("agents", "tokens")
    assert row["agent"] == "ann@example.com" and row["name"] == "chat"
    assert row["revoked_at"] is None and token not in json.dumps(row)
    [row] = desk.json("agents", "tokens", "--revoke", str(row["id"]))
    assert row["revoked_at"] is not None
    missing = desk.run("agents", "tokens", "--revoke", "999")
    assert missing.exit_code == 1 and "no API token 999" in missing.stderr
    nobody = desk.run("agents", "token", "bob@example.com")
    assert nobody.exit_code == 1 and "no agent bob@example.com" in nobody.stderr
