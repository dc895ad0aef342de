"""The `maildesk` command line: thin commands over the package.

Exit status: 0 success, 1 operational failure, 2 usage or configuration error.
Errors are one line on stderr, never a traceback. With `--json`, stdout carries
JSON only.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
import peewee

from maildesk import __version__, agents, serialize
from maildesk.config import (
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    load_config,
    read_environ,
    render_starter,
    resolve_config_path,
)
from maildesk.core.commands import STATUSES
from maildesk.core.match import format_number, parse_number
from maildesk.inbound.sources import batched, read_sources
from maildesk.runtime import Runtime, open_runtime
from maildesk.store import repo
from maildesk.store.db import DatabaseUrlError, open_database, upgrade
from maildesk.store.models import Quarantine, Ticket

EXIT_FAILURE = 1
# `ingest` commits messages in groups: one disk sync per group, not per message.
INGEST_BATCH_MESSAGES = 200
INGEST_BATCH_BYTES = 32 * 1024 * 1024
EXIT_USAGE = 2


class Failure(click.ClickException):
    """An operational failure: exit status 1."""

    exit_code = EXIT_FAILURE


class UsageFailure(click.ClickException):
    exit_code = EXIT_USAGE


class MaildeskGroup(click.Group):
    """Prints every error as one line (`maildesk: ...`) with the documented exit status."""

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "maildesk"
            _fail(f"{exc.format_message()} (see '{command} --help')", EXIT_USAGE)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            _fail("aborted", EXIT_FAILURE)
        sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, status: int) -> NoReturn:
    click.echo(f"maildesk: {message}", err=True)
    sys.exit(status)


# -- shared options ---------------------------------------------------------------

CONFIG_HELP = "Configuration file (default: $MAILDESK_CONFIG, else ./maildesk.toml)."


def with_config(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --config and hands the command a loaded Config (config errors exit 2)."""

    @click.option("--config", "config_path", metavar="PATH", help=CONFIG_HELP)
    @functools.wraps(command)
    def wrapper(config_path: str | None, **kwargs: Any) -> Any:
        try:
            config = load_config(resolve_config_path(config_path, os.environ))
        except ConfigError as exc:
            raise UsageFailure(f"config error: {exc}") from exc
        _setup_logging(config)
        return command(config, **kwargs)

    return wrapper


def _setup_logging(config: Config) -> None:
    """Log lines go to stderr with their level (journald keeps them as they are)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=config.logging.level.upper(),
        format="%(levelname)s %(name)s: %(message)s",
    )


@contextmanager
def runtime_for(config: Config) -> Iterator[Runtime]:
    try:
        runtime = open_runtime(config)
    except (peewee.PeeweeException, DatabaseUrlError, OSError) as exc:
        raise Failure(f"database error: {_one_line(exc)}") from exc
    try:
        yield runtime
    except peewee.PeeweeException as exc:
        raise Failure(f"database error: {_one_line(exc)}") from exc
    finally:
        runtime.close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON only.")


def _print_json(document: Any) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


# -- commands ---------------------------------------------------------------------


@click.group(cls=MaildeskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="maildesk")
def main() -> None:
    """maildesk: an email-first helpdesk.

    Customer mail becomes tickets; agents answer from their own mail client.
    Every command reads maildesk.toml (see --config) and the environment.
    """


@main.command()
@click.option("--config", "config_path", metavar="PATH", help=CONFIG_HELP)
@click.option("--force", is_flag=True, help="Overwrite an existing configuration file.")
def init(config_path: str | None, force: bool) -> None:
    """Write a starter maildesk.toml (with a new secret key) and create the database."""
    path = resolve_config_path(config_path, os.environ)
    if path.exists() and not force:
        raise UsageFailure(f"{path} already exists (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_starter(secrets.token_hex(32)), encoding="utf-8")
    path.chmod(0o600)  # it holds the secret key
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise UsageFailure(f"config error: {exc}") from exc
    with runtime_for(config):
        pass
    Path(config.outbound.maildir).mkdir(parents=True, exist_ok=True)
    click.echo(f"wrote {path}; database ready ({config.database.url})")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@with_config
def db_upgrade(config: Config) -> None:
    """Apply pending schema migrations (safe to run any time)."""
    try:
        database = open_database(config.database.url)
        applied = upgrade(database)
        database.close()
    except (peewee.PeeweeException, DatabaseUrlError, OSError) as exc:
        raise Failure(f"database error: {_one_line(exc)}") from exc
    click.echo(f"applied: {', '.join(applied)}" if applied else "database is up to date")


RELOAD_HELP = (
    "SIGHUP re-reads the configuration file and applies [desk] (accepted recipient "
    "addresses included), [tickets], [security] and [logging] to everything from then "
    "on; changes to other sections are logged as needing a restart. Logs go to "
    "stderr only, so there is no log file to reopen."
)

RUN_HELP = f"""Run the daemon: the SMTP/LMTP listener, the IMAP pollers and the pipeline worker.

Logs go to stderr (journald-friendly under systemd). SIGTERM or SIGINT: stop
accepting, let transfers in flight finish within [daemon] shutdown_timeout,
exit 0. {RELOAD_HELP}
"""


@main.command("run", help=RUN_HELP)
@with_config
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Once listening, write the pid and bound addresses here as JSON (removed on exit).",
)
def run_daemon(config: Config, ready_file: Path | None) -> None:
    from maildesk import app  # the daemon's listeners are not needed by other commands

    def reload_config() -> Config:
        return load_config(config.path or DEFAULT_CONFIG_PATH)

    try:
        app.run(config, environ=read_environ(), reload_config=reload_config, ready_file=ready_file)
    except ConfigError as exc:
        raise UsageFailure(f"config error: {exc}") from exc
    except app.StartupError as exc:
        raise Failure(str(exc)) from exc


@main.command()
@with_config
@json_option
@click.argument("sources", nargs=-1, required=True, metavar="FILE|DIR|MBOX|-...")
def ingest(config: Config, as_json: bool, sources: tuple[str, ...]) -> None:
    """Take in messages once: .eml files, directories, maildirs, mboxes, or - for stdin.

    Each message is committed before it is processed; the exit status is 0 when
    every message was stored (even if some went to quarantine), 1 otherwise.
    With --json, one JSON object per message.
    """
    failed = False
    with runtime_for(config) as runtime:
        items = read_sources(sources, sys.stdin.buffer, config.smtp.max_message_size)
        for batch in batched(items, INGEST_BATCH_MESSAGES, INGEST_BATCH_BYTES):
            if batch[0].data is None:
                failed = True
                _ingest_line(as_json, batch[0].source, "error", None, None, batch[0].error or "")
                continue
            try:
                outcomes = runtime.ingest_batch(
                    [(item.data or b"", f"file:{item.source}") for item in batch]
                )
            except peewee.PeeweeException as exc:
                failed = True
                for item in batch:
                    _ingest_line(as_json, item.source, "error", None, None, _one_line(exc))
                continue
            for item, outcome in zip(batch, outcomes, strict=True):
                _ingest_line(
                    as_json,
                    item.source,
                    outcome.action,
                    outcome.ticket,
                    outcome.message_id,
                    outcome.reason,
                )
    if failed:
        sys.exit(EXIT_FAILURE)


def _ingest_line(
    as_json: bool,
    source: str,
    action: str,
    ticket: str | None,
    message_id: str | None,
    reason: str,
) -> None:
    if as_json:
        line = {
            "source": source,
            "action": action,
            "ticket": ticket,
            "message_id": message_id,
            "reason": reason,
        }
        click.echo(json.dumps(line, ensure_ascii=False))
    else:
        stream_err = action == "error"
        click.echo(
            f"{source}: {action} {ticket or ''} ({reason})".replace("  ", " "), err=stream_err
        )


@main.group()
def tickets() -> None:
    """List and show tickets."""


@tickets.command("list")
@with_config
@json_option
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--priority", help="Only this priority.")
@click.option("--assignee", metavar="EMAIL", help="Only this agent's tickets ('none': unassigned).")
@click.option("--category", help="Only this category.")
@click.option("--search", metavar="TEXT", help="Text in subject, requester or messages.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
def tickets_list(config: Config, as_json: bool, **filters: Any) -> None:
    """The queue, most recently updated first."""
    priority = filters.get("priority")
    if priority and priority not in config.tickets.priorities:
        allowed = ", ".join(config.tickets.priorities)
        raise UsageFailure(f"invalid value for '--priority': {priority!r} (one of {allowed})")
    prefix = config.desk.ticket_prefix
    with runtime_for(config):
        rows = [
            serialize.ticket_summary(t, prefix)
            for t in repo.find_tickets(repo.TicketFilter(**filters))
        ]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        assignee = row["assignee"] or "-"
        click.echo(
            f"{row['number']}  {row['status']:<19} {row['priority']:<7} {assignee:<24} "
            f"{row['requester']['email']:<28} {row['subject'][:60]}"
        )
    if not rows:
        click.echo("no tickets", err=True)


@tickets.command("show")
@with_config
@json_option
@click.argument("number")
def tickets_show(config: Config, as_json: bool, number: str) -> None:
    """One ticket with its messages and event log (NUMBER: SUP-00042 or 42)."""
    prefix = config.desk.ticket_prefix
    parsed = parse_number(prefix, number)
    if parsed is None:
        raise UsageFailure(f"not a ticket number: {number!r} (expected {prefix}-00042 or 42)")
    with runtime_for(config):
        ticket = Ticket.get_or_none(Ticket.number == parsed)
        if ticket is None:
            raise Failure(f"no ticket {format_number(prefix, parsed)}")
        detail = serialize.ticket_detail(ticket, prefix)
    if as_json:
        _print_json(detail)
    else:
        _print_ticket(detail)


def _print_ticket(t: dict[str, Any]) -> None:
    click.echo(f"{t['number']}  {t['subject']}")
    requester = t["requester"]
    click.echo(
        f"  status {t['status']}, priority {t['priority']}, "
        f"assignee {t['assignee'] or '-'}, category {t['category'] or '-'}"
    )
    click.echo(f"  requester {requester['name']} <{requester['email']}>")
    if t["cc"]:
        click.echo(f"  cc {', '.join(t['cc'])}")
    if t["merged_into"]:
        click.echo(f"  merged into {t['merged_into']}")
    for message in t["messages"]:
        click.echo(f"\n--- {message['created_at']} {message['kind']} from {message['from']}")
        click.echo(message["body_text"].rstrip())
        for a in message["attachments"]:
            click.echo(f"    [attachment] {a['filename']} ({a['content_type']}, {a['size']} bytes)")
    click.echo("\nevents:")
    for event in t["events"]:
        click.echo(f"  {event['at']} {event['actor']} {event['type']} {json.dumps(event['data'])}")


@main.group()
def quarantine() -> None:
    """Messages the pipeline failed on: list them, retry them after a fix."""


@quarantine.command("list")
@with_config
@json_option
def quarantine_list(config: Config, as_json: bool) -> None:
    """Messages waiting in quarantine, oldest first."""
    with runtime_for(config):
        entries = [
            serialize.quarantine_entry(q)
            for q in Quarantine.select()
            .where(Quarantine.resolved_at.is_null())
            .order_by(Quarantine.id)
        ]
    if as_json:
        _print_json(entries)
        return
    for entry in entries:
        click.echo(f"{entry['id']}  {entry['received_at']}  {entry['source']}  {entry['error']}")
    if not entries:
        click.echo("quarantine is empty", err=True)


@quarantine.command("retry")
@with_config
@json_option
@click.argument("entry_id", required=False, type=int, metavar="ID")
@click.option("--all", "retry_all", is_flag=True, help="Retry every message in quarantine.")
def quarantine_retry(config: Config, as_json: bool, entry_id: int | None, retry_all: bool) -> None:
    """Run quarantined messages through the pipeline again (ID or --all).

    Exit status 1 if any of them fails again.
    """
    if (entry_id is None) == (not retry_all):
        raise click.UsageError("give either a quarantine ID or --all")
    with runtime_for(config) as runtime:
        query = Quarantine.select().where(Quarantine.resolved_at.is_null())
        if entry_id is not None:
            query = query.where(Quarantine.id == entry_id)
        entries = list(query.order_by(Quarantine.id))
        if entry_id is not None and not entries:
            raise Failure(f"no message in quarantine with ID {entry_id}")
        outcomes = [runtime.pipeline.process(q.intake_id) for q in entries]
    for q, outcome in zip(entries, outcomes, strict=True):
        line = {
            "id": q.id,
            "action": outcome.action,
            "ticket": outcome.ticket,
            "reason": outcome.reason,
        }
        click.echo(
            json.dumps(line)
            if as_json
            else f"{q.id}: {outcome.action} {outcome.ticket or ''} ({outcome.reason})"
        )
    if any(o.action == "quarantined" for o in outcomes):
        sys.exit(EXIT_FAILURE)


@main.group("agents")
def agents_group() -> None:
    """Manage agents (and admins, managers)."""


@agents_group.command("add")
@with_config
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--role", type=click.Choice(agents.ROLES), default="agent", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read a web sign-in password from stdin.")
def agents_add(config: Config, email: str, name: str, role: str, password_stdin: bool) -> None:
    """Add an agent by e-mail address."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    if password_stdin and not password:
        raise UsageFailure("--password-stdin: no password on standard input")
    with runtime_for(config) as runtime:
        try:
            agent = agents.add_agent(runtime.db, email, name, role, password, runtime.clock())
        except agents.AgentError as exc:
            raise Failure(str(exc)) from exc
    click.echo(f"added {agent.role} {agent.email}")


@agents_group.command("list")
@with_config
@json_option
def agents_list(config: Config, as_json: bool) -> None:
    """All agents."""
    with runtime_for(config):
        rows = [
            {"email": a.email, "name": a.name, "role": a.role, "active": a.active, "away": a.away}
            for a in agents.list_agents()
        ]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        state = "active" if row["active"] else "inactive"
        click.echo(f"{row['email']:<32} {row['role']:<8} {state:<8} {row['name']}")


@main.command("check-config")
@with_config
def check_config(config: Config) -> None:
    """Validate the configuration and reach the database."""
    source = config.path or "defaults (no maildesk.toml)"
    click.echo(f"configuration: {source}")
    click.echo(
        f"desk: {config.desk.name} <{', '.join(config.desk.addresses)}>, "
        f"prefix {config.desk.ticket_prefix}"
    )
    with runtime_for(config) as runtime:
        tickets_count = Ticket.select().count()
        click.echo(f"database: ok ({type(runtime.db).__name__}, {tickets_count} tickets)")
    click.echo(f"imap mailboxes: {len(config.imap)}; outbound: {config.outbound.mode}")
