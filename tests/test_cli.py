"""The command line contract: init, db upgrade, check-config, agents, errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from maildesk.cli import main
from tests.conftest import Install, opened, write_config
from tests.dovecot import make_certificate
from tests.test_ingest import mail


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


def test_db_upgrade_is_idempotent(desk: Install) -> None:
    first = desk.run("db", "upgrade")
    assert first.exit_code == 0 and "0001_initial" in first.stdout
    second = desk.run("db", "upgrade")
    assert second.exit_code == 0 and "up to date" in second.stdout


def test_db_upgrade_analyzes_a_sqlite_database_it_changed(desk: Install) -> None:
    if not desk.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's autovacuum analyzes by itself")
    assert desk.run("db", "upgrade").exit_code == 0
    assert (
        desk.run("ingest", "-", input=b"From: a@customer.test\nSubject: Hi\n\nHello\n").exit_code
        == 0
    )
    with opened(desk.database_url) as db:  # an installation from before 0009
        db.execute_sql('DROP INDEX "ticket_open_by_created"')
        db.execute_sql("DELETE FROM schema_migration WHERE name LIKE '0009_%'")
        db.execute_sql("DELETE FROM sqlite_stat1")
    result = desk.run("db", "upgrade")
    assert result.exit_code == 0 and "0009_digest_indexes" in result.stdout
    with opened(desk.database_url) as db:
        query = "SELECT stat FROM sqlite_stat1 WHERE idx = 'ticket_open_by_created'"
        assert db.execute_sql(query).fetchone()[0].split()[0] == "1"


def test_the_search_index_tables_never_keep_planner_statistics(desk: Install) -> None:
    """Statistics of FTS5's own tables misled the planner (ANALYZE on a new database
    said 2 rows; each index merge then scanned the table): the migrations' ANALYZE
    leaves them out, and what an earlier version left is dropped at the next start."""
    if not desk.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's search index is a GIN index; autovacuum analyzes")
    fts = "SELECT tbl FROM sqlite_stat1 WHERE tbl LIKE 'message_fts%' ORDER BY tbl"
    assert desk.run("db", "upgrade").exit_code == 0
    with opened(desk.database_url) as db:
        analyzed = {row[0] for row in db.execute_sql("SELECT tbl FROM sqlite_stat1")}
        assert {"counter", "schema_migration"} <= analyzed  # the tables with rows
        assert db.execute_sql(fts).fetchall() == []
        # As an earlier version's ANALYZE left them:
        db.execute_sql("INSERT INTO sqlite_stat1 VALUES ('message_fts_data', NULL, '2')")
        db.execute_sql(
            "INSERT INTO sqlite_stat1 VALUES ('message_fts_idx', 'sqlite_autoindex', '2 2')"
        )
    raw = b"From: a@customer.test\nSubject: Printer\n\nThe printer is on fire\n"
    assert desk.run("ingest", "-", input=raw).exit_code == 0  # any command's start
    with opened(desk.database_url) as db:
        assert db.execute_sql(fts).fetchall() == []
        kept = {r[0] for r in db.execute_sql("SELECT tbl FROM sqlite_stat1")}
        assert {"counter", "schema_migration"} <= kept  # the others' are kept
    found = desk.json("tickets", "list", "--search", "printer")
    assert [t["subject"] for t in found] == ["Printer"]


def test_check_config_reports_and_reaches_the_database(desk: Install) -> None:
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
    (tmp_path / "maildesk.toml").write_text("")
    result = invoke("check-config", env={"MAILDESK_DATABASE_URL": "mysql://x/y"})
    assert result.exit_code == 2 and "database.url" in result.stderr


def test_unreachable_database_is_an_operational_failure(tmp_path: Path) -> None:
    url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    (tmp_path / "maildesk.toml").write_text("")
    result = invoke("tickets", "list", env={"MAILDESK_DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.stderr.startswith("maildesk: database error") and result.stderr.count("\n") == 1


def test_usage_errors_are_one_line_exit_2(desk: Install) -> None:
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


def test_missing_ticket_is_exit_1(desk: Install) -> None:
    result = desk.run("tickets", "show", "SUP-00099")
    assert result.exit_code == 1 and "no ticket SUP-00099" in result.stderr


def test_json_output_is_json_only(desk: Install) -> None:
    assert desk.json("tickets", "list") == []
    assert desk.json("quarantine", "list") == []
    assert desk.json("agents", "list") == []


def test_agents_add_with_password_and_list(desk: Install) -> None:
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
        "desks": ["default"],
        "categories": None,
    }
    from maildesk.store.models import Agent

    with opened(desk.database_url):
        stored = Agent.get(Agent.email == "ann@example.com").password_hash
    assert stored.startswith("$argon2") and "s3cret-pass" not in stored
    again = desk.run("agents", "add", "ann@example.com", "--name", "Ann")
    assert again.exit_code == 1 and "already exists" in again.stderr
    bad = desk.run("agents", "add", "not-an-address", "--name", "X")
    assert bad.exit_code == 2 and "not an e-mail address" in bad.stderr  # a usage error


def test_agent_mail_threads_into_any_ticket(desk: Install) -> None:
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


def test_ingest_json_reads_stdin_with_mbox_postmark(desk: Install) -> None:
    from tests.test_ingest import mail

    data = b"From alice@customer.example Mon Jan  1 00:00:00 2026\n" + mail()
    result = desk.run("ingest", "--json", "-", input=data)
    assert result.exit_code == 0
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["action"] == "created"
    ticket = desk.json("tickets", "show", line["ticket"])
    assert ticket["requester"]["email"] == "alice@customer.example"


def test_agents_passwd_and_api_tokens(desk: Install) -> None:
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


# -- where the configuration and its paths are found ------------------------------------


def test_without_a_config_file_commands_exit_2_naming_where_they_looked(tmp_path: Path) -> None:
    for args in (("tickets", "list"), ("check-config",), ("ingest", "-"), ("db", "upgrade")):
        result = invoke(*args, input="")
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.count("\n") == 1, args
        assert str(tmp_path / "maildesk.toml") in result.stderr, args
        assert "maildesk init" in result.stderr
    named = invoke("tickets", "list", env={"MAILDESK_CONFIG": str(tmp_path / "x.toml")})
    assert named.exit_code == 2 and str(tmp_path / "x.toml") in named.stderr
    assert "$MAILDESK_CONFIG" in named.stderr
    assert not (tmp_path / "var").exists()  # no database made up from the defaults
    assert invoke("init").exit_code == 0
    assert invoke("tickets", "list").exit_code == 0


def test_config_option_before_the_command(tmp_path: Path, database_url: str) -> None:
    (tmp_path / "etc").mkdir()
    path = write_config(tmp_path / "etc", database_url)
    elsewhere = {"MAILDESK_CONFIG": str(tmp_path / "absent.toml")}
    listed = invoke("--config", str(path), "tickets", "list", "--json", env=elsewhere)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []
    checked = invoke("--config", str(path), "check-config", env=elsewhere)
    assert checked.exit_code == 0 and str(path) in checked.stdout
    # A command's own --config wins over the one before it.
    both = invoke("--config", str(tmp_path / "absent.toml"), "check-config", "--config", str(path))
    assert both.exit_code == 0, both.output
    made = invoke("--config", str(tmp_path / "new" / "maildesk.toml"), "init")
    assert made.exit_code == 0 and (tmp_path / "new" / "var" / "maildesk.db").is_file()


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`init` with a config elsewhere, commands run from other folders: one database,
    one outbox, both next to the file."""
    (tmp_path / "etc").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    config = tmp_path / "etc" / "maildesk.toml"
    monkeypatch.chdir(tmp_path / "a")
    assert invoke("init", "--config", str(config)).exit_code == 0
    assert (tmp_path / "etc" / "var" / "maildesk.db").is_file()
    result = invoke("ingest", "--config", str(config), "-", input=mail().decode())
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path / "b")
    assert invoke("--config", "../etc/maildesk.toml", "outbox", "send").exit_code == 0
    listed = invoke("tickets", "list", "--json", env={"MAILDESK_CONFIG": "../etc/maildesk.toml"})
    assert [t["number"] for t in json.loads(listed.stdout)] == ["SUP-00001"]
    assert list((tmp_path / "etc" / "var" / "outbox" / "new").iterdir())
    assert not any((tmp_path / folder / "var").exists() for folder in ("a", "b"))


def test_relative_outbox_of_a_config_elsewhere(tmp_path: Path, database_url: str) -> None:
    (tmp_path / "etc").mkdir()
    path = write_config(tmp_path / "etc", database_url)
    path.write_text(
        path.read_text().replace(f'maildir = "{tmp_path}/etc/outbox"', 'maildir = "out"')
    )
    env = {"MAILDESK_CONFIG": str(path)}
    assert CliRunner().invoke(main, ["ingest", "-"], input=mail(), env=env).exit_code == 0
    assert invoke("outbox", "send", env=env).exit_code == 0
    assert list((tmp_path / "etc" / "out" / "new").iterdir())
    assert not (tmp_path / "out").exists()


def test_check_config_names_the_database_it_reached(tmp_path: Path, database_url: str) -> None:
    url = database_url
    if url.startswith("postgresql://postgres@"):  # the server trusts loopback: any password
        url = url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@", 1)
    path = write_config(tmp_path, url)
    result = invoke("check-config", "--config", str(path))
    assert result.exit_code == 0, result.output
    shown = url.replace(":hunter2@", ":***@")
    assert f"database: ok, {shown} (" in result.stdout
    assert "hunter2" not in result.output


def test_check_config_checks_the_tls_files(tmp_path: Path, database_url: str) -> None:
    """Relative names, from the config file's folder; every problem names its key."""
    tls = make_certificate(tmp_path)

    def check(cert: str, key: str) -> Result:
        extra = f'[smtp]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        return invoke("check-config", "--config", str(write_config(tmp_path, database_url, extra)))

    good = check("cert.pem", "key.pem")
    assert good.exit_code == 0, good.output
    assert f"STARTTLS ok ({tls.cert}, {tls.key})" in good.stdout
    for cert, key, named in (
        ("missing.pem", "key.pem", "smtp.tls_cert"),
        ("cert.pem", "missing.pem", "smtp.tls_key"),
        ("key.pem", "key.pem", "smtp.tls_cert"),  # a key is no certificate
        ("cert.pem", "cert.pem", "smtp.tls_key"),  # nor a certificate a key
    ):
        result = check(cert, key)
        assert result.exit_code == 2, (cert, key, result.output)
        assert result.stderr.startswith(f"maildesk: config error: {named}: "), result.stderr
        assert result.stderr.count("\n") == 1


def test_init_with_a_data_dir_for_a_config_elsewhere(tmp_path: Path) -> None:
    """As for the systemd unit: the file in /etc/maildesk, the data in /var/lib/maildesk."""
    config = tmp_path / "etc" / "maildesk.toml"
    result = invoke("init", "--config", str(config), "--data-dir", "lib")
    assert result.exit_code == 0, result.output
    assert f'url = "sqlite:///{tmp_path}/lib/maildesk.db"' in config.read_text()
    assert (tmp_path / "lib" / "maildesk.db").is_file()
    assert (tmp_path / "lib" / "outbox").is_dir()
    assert not (tmp_path / "etc" / "var").exists()


# -- arguments ----------------------------------------------------------------------------


def test_agents_add_needs_an_email_address(desk: Install) -> None:
    for address in (
        "not-an-email",
        "ann@",
        "Ann <ann@example.com>",
        "ann@@example.com",
        "a b@x.org",
    ):
        result = desk.run("agents", "add", address, "--name", "Ann")
        assert result.exit_code == 2, (address, result.output)
        assert result.stderr.startswith("maildesk: not an e-mail address: ")
        assert result.stderr.count("\n") == 1
    nameless = desk.run("agents", "add", "ann@example.com", "--name", " ")
    assert nameless.exit_code == 2 and "--name" in nameless.stderr
    assert desk.json("agents", "list") == []
    added = desk.run("agents", "add", " Ann@Example.COM ", "--name", "Ann")
    assert added.exit_code == 0, added.output
    assert [a["email"] for a in desk.json("agents", "list")] == ["ann@example.com"]


def test_ingest_of_nothing_is_an_error_not_a_message(desk: Install, tmp_path: Path) -> None:
    (tmp_path / "empty.eml").write_bytes(b"")
    (tmp_path / "blank.eml").write_bytes(b"\r\n\r\n")
    for args, stdin in (
        (("-",), b""),
        (("-",), b"From MAILER-DAEMON Mon Dec  7 02:00:00 2026\n"),
        ((str(tmp_path / "empty.eml"),), None),
        ((str(tmp_path / "blank.eml"),), None),
    ):
        result = desk.run("ingest", *args, input=stdin)
        assert result.exit_code == 1, (args, result.output)
        assert "empty: no message" in result.stderr, args
    assert desk.json("quarantine", "list") == []
    assert desk.json("tickets", "list") == []


BAD_ARGUMENTS = (
    ("tickets", "show", "99999999999999999999999"),
    ("tickets", "show", "SUP-99999999999999999999999"),
    ("tickets", "show", "\u00b2"),  # a digit to str.isdigit, not to int()
    ("quarantine", "retry", "99999999999999999999999"),
    ("quarantine", "retry", "0"),
    ("outbox", "retry", "99999999999999999999999"),
    ("agents", "tokens", "--revoke", "99999999999999999999999"),
    ("sla", "scan", "--now", "9999-12-31T23:59:59-12:00"),
    ("sla", "scan", "--now", "0001-01-01T00:00:00+01:00"),
    ("sla", "scan", "--now", "yesterday"),
    ("digest", "send", "--dry-run", "--now", "0001-01-01T00:30:00+00:00"),
    ("report", "sla", "--until", "0001-01-05"),
    ("report", "sla", "--since", "2026-13-01"),
    ("report", "sla", "--since", "2026-02-01", "--until", "2026-01-01"),
    ("ingest", "--now", "9999-12-31T23:00:00-12:00", "-"),
)


@pytest.mark.parametrize("args", BAD_ARGUMENTS, ids=" ".join)
def test_bad_arguments_are_usage_errors(desk: Install, args: tuple[str, ...]) -> None:
    result = desk.run(*args, input=b"")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("maildesk: ") and result.stderr.count("\n") == 1
    assert result.exc_info is None or result.exc_info[0] is SystemExit


def test_help_commands_without_a_configuration_file(tmp_path: Path) -> None:
    """The cheat sheet needs no installation: the defaults' prefix and priorities; a
    --config that names a missing file is still an error."""
    runner = CliRunner()
    shown = runner.invoke(main, ["help", "commands"], env={"MAILDESK_CONFIG": ""})
    assert shown.exit_code == 0, shown.output
    assert "#merge SUP-00017" in shown.output and "low|medium|high|urgent" in shown.output
    assert "#snooze" in shown.output and "#reply-linked" in shown.output
    missing = runner.invoke(main, ["help", "commands", "--config", str(tmp_path / "no.toml")])
    assert missing.exit_code == 2 and "no configuration file" in missing.output
