"""The `maildesk` command line: thin commands over the package.

Exit status: 0 success, 1 operational failure, 2 usage or configuration error.
Errors are one line on stderr, never a traceback. With `--json`, stdout carries
JSON only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
import peewee

from maildesk import __version__
from maildesk.config import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    load_config,
    read_environ,
    redact_url,
    render_starter,
    resolve_config_path,
    security_warnings,
)
from maildesk.core import event_names
from maildesk.core.addresses import plain_address
from maildesk.core.match import parse_label
from maildesk.core.vocabulary import ROLES, STATUSES
from maildesk.events import deliveries as webhook_deliveries
from maildesk.events import hooks as webhook_hooks
from maildesk.events import targets
from maildesk.events import worker as webhook_worker
from maildesk.events.signing import new_secret
from maildesk.inbound.sources import batched, read_sources
from maildesk.knowledge import articles, catalog, render
from maildesk.outbound import outbox as outbox_store
from maildesk.outbound.transport import make_transport
from maildesk.pipeline import quarantine as quarantined
from maildesk.pipeline.ingest import NotProcessed, Runtime, open_runtime
from maildesk.queries import backlog, serialize
from maildesk.queries import contacts as contact_queries
from maildesk.queries.ticket_list import TicketQuery, find_tickets
from maildesk.settings import checks
from maildesk.settings.fields import FieldError
from maildesk.store.blobs import BACKENDS as BLOB_BACKENDS
from maildesk.store.blobs import BlobError, blobs_of
from maildesk.store.blobs import migrate as migrate_blobs
from maildesk.store.db import (
    DatabaseUrlError,
    open_database,
    read_snapshot,
    upgrade,
    write_transaction,
)
from maildesk.store.models import Agent, Ticket
from maildesk.store.repo import organization_domains
from maildesk.tickets import agents, contacts, undeliverable
from maildesk.web import portal_auth

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


def config_file(option: str | None) -> Path:
    """The configuration file a command reads: its own --config, else the one given
    before the command (`maildesk --config FILE COMMAND`), else $MAILDESK_CONFIG,
    else ./maildesk.toml. Missing: a usage error naming where it looked, rather than
    a database made up from the defaults in whatever folder the command ran."""
    before = click.get_current_context().find_root().params.get("config_path")
    path = resolve_config_path(option or before, os.environ)
    if not path.exists():
        if option or before:
            how = "--config"
        elif os.environ.get(CONFIG_ENV_VAR):
            how = f"${CONFIG_ENV_VAR}"
        else:
            how = "the default, ./maildesk.toml"
        raise UsageFailure(
            f"no configuration file: {path.absolute()} ({how}) not found; write one "
            f"with 'maildesk init', or give --config FILE or ${CONFIG_ENV_VAR}"
        )
    return path


def with_config(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --config and hands the command a loaded Config (config errors exit 2)."""

    @click.option("--config", "config_path", metavar="PATH", help=CONFIG_HELP)
    @functools.wraps(command)
    def wrapper(config_path: str | None, **kwargs: Any) -> Any:
        try:
            config = load_config(config_file(config_path))
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
def runtime_for(config: Config, now: dt.datetime | None = None) -> Iterator[Runtime]:
    """The command's unit of work: the configured database (migrated) and the pipeline;
    the models run on that database inside the block. `now`: a fixed clock (a
    command's --now), else the real one."""
    try:
        runtime = open_runtime(config) if now is None else open_runtime(config, lambda: now)
    except ConfigError as exc:
        raise UsageFailure(f"config error: {exc}") from exc
    except (peewee.PeeweeException, DatabaseUrlError, OSError) as exc:
        raise Failure(f"database error: {_one_line(exc)}") from exc
    try:
        with runtime.session():
            yield runtime
    except peewee.PeeweeException as exc:
        raise Failure(f"database error: {_one_line(exc)}") from exc


class IsoTime(click.ParamType):
    """An ISO 8601 moment; without an offset it is taken as UTC. Years outside
    `YEARS` are refused: the SLA clock and the reports compute days and weeks
    around a moment, and Python's dates end at years 1 and 9999."""

    name = "ISO"
    YEARS = range(1900, 9000)

    def convert(self, value: Any, param: Any, ctx: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"not an ISO 8601 time: {value!r} (e.g. 2026-11-20T17:30:00+01:00)")
        if moment.year not in self.YEARS:
            years = f"{self.YEARS.start} to {self.YEARS.stop - 1}"
            self.fail(f"out of range: {value!r} (years {years})")
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


ROW_ID = click.IntRange(1, 2**63 - 1)  # a row ID; anything else is no row of ours


ISO_TIME = IsoTime()
NOW_HELP = "Act as if it were this moment (ISO 8601; default: now)."


def _now(runtime: Runtime, now: dt.datetime | None) -> dt.datetime:
    return (now or runtime.clock()).astimezone(dt.UTC)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON only.")


def _print_json(document: Any) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


# -- commands ---------------------------------------------------------------------


@click.group(cls=MaildeskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="maildesk")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help=CONFIG_HELP + " A command's own --config wins.",
)
def main(config_path: str | None) -> None:
    """maildesk: an email-first helpdesk.

    Customer mail becomes tickets; agents answer from their own mail client.
    Every command reads maildesk.toml (see --config) and the environment.
    """


@main.command()
@click.option("--config", "config_path", metavar="PATH", help=CONFIG_HELP)
@click.option("--force", is_flag=True, help="Overwrite an existing configuration file.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the SQLite database and the outbox in this folder (written into the file "
    "as absolute paths; default: var/ next to the file).",
)
def init(config_path: str | None, force: bool, data_dir: Path | None) -> None:
    """Write a starter maildesk.toml (with a new secret key) and create the database.

    Relative paths in it (the SQLite file, the outbox) are relative to its folder."""
    before = click.get_current_context().find_root().params.get("config_path")
    path = resolve_config_path(config_path or before, os.environ)
    if path.exists() and not force:
        raise UsageFailure(f"{path} already exists (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = None if data_dir is None else data_dir.expanduser().absolute()
    path.write_text(render_starter(secrets.token_hex(32), data), encoding="utf-8")
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
    """Apply pending schema migrations (safe to run any time). On SQLite, the query
    planner's statistics are refreshed after applying any."""
    try:
        database = open_database(config.database.url)
        applied = upgrade(database)
        database.close()
    except (peewee.PeeweeException, DatabaseUrlError, OSError) as exc:
        raise Failure(f"database error: {_one_line(exc)}") from exc
    click.echo(f"applied: {', '.join(applied)}" if applied else "database is up to date")


@main.group()
def storage() -> None:
    """Where raw mail and attachments are kept ([storage])."""


STORAGE_MIGRATE_HELP = """Move every stored message and attachment to BACKEND (database,
filesystem or s3, with its [storage] settings), one at a time: copy, check the
SHA-256, record the new place, delete the old copy. Safe to interrupt and to run
again (it continues where it stopped; blobs already there are left alone) and
while the daemon runs. Set [storage] backend to the same BACKEND so that new mail
goes there too.
"""


@storage.command("migrate", help=STORAGE_MIGRATE_HELP)
@with_config
@click.option("--to", "to", required=True, type=click.Choice(BLOB_BACKENDS), help="Target backend.")
@json_option
def storage_migrate(config: Config, to: str, as_json: bool) -> None:
    needed = {"filesystem": "path", "s3": "bucket"}.get(to)
    if needed and not getattr(config.storage, needed).strip():
        raise UsageFailure(f"config error: storage.{needed}: must not be empty to migrate to {to}")
    with runtime_for(config) as runtime:
        blobs = blobs_of(runtime.db)
        try:
            moved = migrate_blobs(runtime.db, blobs, to)
        except BlobError as exc:
            raise Failure(f"storage error: {_one_line(exc)}") from exc
    if as_json:
        _print_json({"to": moved.to, "moved": moved.moved, "locations": moved.locations})
        return
    where = ", ".join(f"{n} in {place}" for place, n in sorted(moved.locations.items()))
    click.echo(f"moved {moved.moved} blobs to {to}; {where or 'no blobs'}")


RELOAD_HELP = (
    "SIGHUP re-reads the configuration file and applies [desk] (accepted recipient "
    "addresses included), [tickets], [security] and [logging] to everything from then "
    "on; changes to other sections are logged as needing a restart. Logs go to "
    "stderr only, so there is no log file to reopen."
)

RUN_HELP = f"""Run the daemon: the SMTP/LMTP listener, the IMAP pollers, the pipeline worker,
the outbox worker (sends queued mail, retrying while the relay is down), the web view
and JSON API ([web]), and the jobs (SLA warnings, breaches and escalation,
auto-close, the daily digest) every [sla] scan_interval seconds.

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
    from maildesk.daemon import app  # the daemon's listeners are not needed by other commands

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
@click.option(
    "--now",
    type=ISO_TIME,
    help="Take the mail in as if it were this moment (replaying an archive; SLA clocks "
    "start then).",
)
def ingest(
    config: Config, as_json: bool, sources: tuple[str, ...], now: dt.datetime | None
) -> None:
    """Take in messages once: .eml files, directories, maildirs, mboxes, or - for stdin.

    Each message is committed before it is processed; the exit status is 0 when
    every message was stored and processed (even if some went to quarantine), 1
    otherwise. A message stored while the database then failed (locked, full) is
    reported as an error "stored, not processed yet" and stays pending: the
    daemon processes it, or so does ingesting it again.
    With --json, one JSON object per message.
    """
    failed = False
    with runtime_for(config, now) as runtime:
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
            except NotProcessed as exc:  # stored: the daemon, or ingesting again, goes on
                failed = True
                reason = f"stored, not processed yet: {_one_line(exc.cause)}"
                for item, message_id in zip(batch, exc.message_ids, strict=True):
                    _ingest_line(as_json, item.source, "error", None, message_id, reason)
                continue
            except (peewee.PeeweeException, BlobError) as exc:  # nothing of the batch stored
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


@main.command()
@with_config
@json_option
def status(config: Config, as_json: bool) -> None:
    """The backlog: messages pending in the pipeline (and the age of the oldest), the
    outbox by status, the open quarantine. Read from the database, so it works with or
    without a running daemon."""
    with runtime_for(config) as runtime:
        figures = backlog.document(runtime.clock())
    if as_json:
        _print_json(figures)
        return
    oldest = figures["oldest_pending_at"]
    since = f" (the oldest for {figures['oldest_pending_seconds']:.1f} s, since {oldest})"
    click.echo(f"pending     {figures['pending']}{since if oldest else ''}")
    click.echo("outbox      " + ", ".join(f"{k} {v}" for k, v in figures["outbox"].items()))
    click.echo(f"quarantine  {figures['quarantine']} open")


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
@click.option(
    "--desk", "desks", metavar="SLUG", multiple=True, help="Only this desk's (repeat for several)."
)
@click.option(
    "--field",
    "fields",
    metavar="NAME=VALUE",
    multiple=True,
    help="Only tickets whose custom field has this value (repeat: all must match).",
)
@click.option("--search", metavar="TEXT", help="Text in subject, requester or messages.")
@click.option(
    "--snoozed/--awake",
    default=None,
    help="Only tickets snoozed with #snooze (--awake: only those not snoozed).",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
def tickets_list(config: Config, as_json: bool, **filters: Any) -> None:
    """The queue, most recently updated first."""
    priority = filters.get("priority")
    if priority and priority not in config.tickets.priorities:
        allowed = ", ".join(config.tickets.priorities)
        raise UsageFailure(f"invalid value for '--priority': {priority!r} (one of {allowed})")
    status = filters.pop("status")
    given = filters.pop("fields")
    with runtime_for(config) as runtime:
        try:
            fields = runtime.desk.fields.filters(given)
        except FieldError as exc:
            raise UsageFailure(f"invalid value for '--field': {exc}") from exc
        spec = TicketQuery(statuses=(status,) if status else (), fields=fields, **filters)
        desks = runtime.desk.desks
        if spec.desks and not all(desks.known(slug) for slug in spec.desks):
            raise UsageFailure(f"invalid value for '--desk': one of {', '.join(desks.slugs)}")
        rows = [serialize.ticket_summary(t, desks) for t in find_tickets(runtime.db, spec)]
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
    with runtime_for(config) as runtime, read_snapshot(runtime.db):
        desks = runtime.desk.desks
        label = parse_label(desks.prefixes, number)
        if label is None:
            example = desks.default.label(42)
            raise UsageFailure(f"not a ticket number: {number!r} (expected {example} or 42)")
        found = runtime.desk.labels.numbers([label])
        ticket = Ticket.get_or_none(Ticket.number == found[0]) if found else None
        if ticket is None:
            raise Failure(f"no ticket {number.strip()}")
        detail = serialize.ticket_detail(ticket, desks, runtime.desk.fields)
        detail["sla"] = runtime.desk.sla.view(ticket, runtime.clock())
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
    _echo_fields(t)
    for message in t["messages"]:
        flag = f"  [flagged: {message['flag_reason']}]" if message["flagged"] else ""
        click.echo(f"\n--- {message['created_at']} {message['kind']} from {message['from']}{flag}")
        click.echo(message["body_text"].rstrip())
        for a in message["attachments"]:
            click.echo(f"    [attachment] {a['filename']} ({a['content_type']}, {a['size']} bytes)")
    if t["mail"]:
        click.echo("\nmail sent:")
    for mail in t["mail"]:
        error = f" ({mail['last_error']})" if mail["last_error"] else ""
        click.echo(
            f"  {mail['created_at']} {mail['purpose']} to {', '.join(mail['to'])}: "
            f"{mail['status']}{error}"
        )
    click.echo("\nevents:")
    for event in t["events"]:
        click.echo(f"  {event['at']} {event['actor']} {event['type']} {json.dumps(event['data'])}")


@main.group()
def quarantine() -> None:
    """Messages the pipeline failed on: list them, retry them after a fix, discard junk."""


@quarantine.command("list")
@with_config
@json_option
@click.option(
    "--all", "show_all", is_flag=True, help="Also discarded and resolved entries, with their state."
)
def quarantine_list(config: Config, as_json: bool, show_all: bool) -> None:
    """Messages waiting in quarantine, oldest first."""
    with runtime_for(config):
        found = quarantined.entries() if show_all else quarantined.waiting()
        entries = [serialize.quarantine_entry(q) for q in found]
    if as_json:
        _print_json(entries)
        return
    for entry in entries:
        shown = f"{entry['id']}  {entry['received_at']}  {entry['source']}  {entry['error']}"
        if entry["state"] != "open":
            when = entry["discarded_at"] if entry["state"] == "discarded" else entry["resolved_at"]
            shown += f"  [{entry['state']} {when}]"
        click.echo(shown)
    if not entries:
        click.echo("quarantine is empty", err=True)


@quarantine.command("retry")
@with_config
@json_option
@click.argument("entry_id", required=False, type=ROW_ID, metavar="ID")
@click.option("--all", "retry_all", is_flag=True, help="Retry every message in quarantine.")
def quarantine_retry(config: Config, as_json: bool, entry_id: int | None, retry_all: bool) -> None:
    """Run quarantined messages through the pipeline again (ID, open or discarded, or
    --all: every open one).

    Exit status 1 if any of them fails again.
    """
    if (entry_id is None) == (not retry_all):
        raise click.UsageError("give either a quarantine ID or --all")
    with runtime_for(config) as runtime:
        try:
            done = quarantined.retry(runtime.pipeline, entry_id)
        except quarantined.NotQuarantined as exc:
            raise Failure(str(exc)) from exc
    for q, outcome in done:
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
    if any(outcome.action == "quarantined" for _, outcome in done):
        sys.exit(EXIT_FAILURE)


@quarantine.command("discard")
@with_config
@json_option
@click.argument("entry_id", required=False, type=int, metavar="ID")
@click.option("--all", "discard_all", is_flag=True, help="Discard every open entry.")
def quarantine_discard(
    config: Config, as_json: bool, entry_id: int | None, discard_all: bool
) -> None:
    """Set junk aside (ID or --all): it leaves the list, its raw message is kept
    (`list --all`), and `retry ID` can still take it in."""
    if (entry_id is None) == (not discard_all):
        raise click.UsageError("give either a quarantine ID or --all")
    with runtime_for(config) as runtime:
        try:
            with write_transaction(runtime.db):
                done = quarantined.discard(entry_id, runtime.clock())
        except quarantined.NotQuarantined as exc:
            raise Failure(str(exc)) from exc
    for q in done:
        line = {"id": q.id, "state": "discarded", "discarded_at": serialize.iso(q.discarded_at)}
        click.echo(json.dumps(line) if as_json else f"{q.id}: discarded")
    if not done and not as_json:
        click.echo("nothing to discard", err=True)


@main.group()
def outbox() -> None:
    """Mail maildesk sends: list it, send what is due, retry what failed."""


@outbox.command("list")
@with_config
@json_option
@click.option("--status", type=click.Choice(outbox_store.STATUSES), help="Only mail in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
def outbox_list(config: Config, as_json: bool, status: str | None, limit: int) -> None:
    """Outgoing mail, newest first."""
    with runtime_for(config) as runtime:
        entries = [
            serialize.outbox_entry(row, runtime.desk.desks)
            for row in outbox_store.list_rows(status, limit)
        ]
    if as_json:
        _print_json(entries)
        return
    for e in entries:
        error = f"  ({e['last_error']})" if e["last_error"] else ""
        click.echo(
            f"{e['id']}  {e['status']:<7}  {e['ticket'] or '-'}  {e['purpose']}  "
            f"{', '.join(e['to'])}  {e['subject']}{error}"
        )
    if not entries:
        click.echo("outbox is empty", err=True)


@outbox.command("retry")
@with_config
@click.argument("entry_id", required=False, type=ROW_ID, metavar="ID")
@click.option("--all", "retry_all", is_flag=True, help="Retry every failed mail.")
def outbox_retry(config: Config, entry_id: int | None, retry_all: bool) -> None:
    """Queue failed mail again (ID or --all), or release held mail (ID); the daemon
    sends it at once.

    A mail keeps its Message-ID, so a recipient who got it already sees one mail.
    """
    if (entry_id is None) == (not retry_all):
        raise click.UsageError("give either an outbox ID or --all")
    with runtime_for(config) as runtime:
        ids = None if entry_id is None else [entry_id]
        count = outbox_store.retry(runtime.db, ids, runtime.clock(), config.outbound)
    if entry_id is not None and not count:
        raise Failure(f"no failed, held or pending mail with ID {entry_id} in the outbox")
    click.echo(f"{count} mail(s) queued again", err=True)


@outbox.command("send")
@with_config
def outbox_send(config: Config) -> None:
    """Send the mail that is due now, once, without the daemon (e.g. after `ingest`).

    Exit status 1 if any mail failed for good.
    """
    with runtime_for(config) as runtime:
        transport = make_transport(config.outbound, read_environ(), Path.cwd())
        try:
            compose = runtime.desk.mailer.compose
            counts = outbox_store.deliver_due(
                runtime.db, transport, compose, config.outbound, runtime.clock
            )
        finally:
            transport.close()
    click.echo(
        f"{counts['sent']} sent, {counts['pending']} to retry, {counts['failed']} failed", err=True
    )
    if counts["failed"]:
        sys.exit(EXIT_FAILURE)


@main.group()
def sla() -> None:
    """SLA tracking: the pass the daemon runs every minute, on demand."""


@sla.command("scan")
@with_config
@click.option("--now", type=ISO_TIME, help=NOW_HELP)
def sla_scan(config: Config, now: dt.datetime | None) -> None:
    """One SLA pass: warnings, breaches and escalation, auto-close of resolved tickets
    (and, if configured, of those waiting on the customer, with its warning), snoozed
    tickets woken and reminders sent, delayed satisfaction questions asked. Safe to
    repeat: each happens once."""
    from maildesk.jobs.runner import Jobs

    with runtime_for(config) as runtime:
        jobs = Jobs(runtime.desk)
        at = _now(runtime, now)
        done = jobs.sla_pass(at)
        done["closed"] = jobs.auto_close(at)
        done |= jobs.snoozes(at)
        done |= jobs.waiting_close(at)
        done["rating questions"] = jobs.rating_questions(at)
    click.echo(", ".join(f"{count} {name}" for name, count in done.items()))


@main.group()
def digest() -> None:
    """The daily SLA digest for managers."""


@digest.command("send")
@with_config
@click.option("--now", type=ISO_TIME, help=NOW_HELP)
@click.option("--dry-run", is_flag=True, help="Print the digest mail instead of queuing it.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print the figures as JSON.")
@click.option(
    "--desk", "desk", metavar="SLUG", help="With --dry-run: the digest of this desk only."
)
def digest_send(
    config: Config, now: dt.datetime | None, dry_run: bool, as_json: bool, desk: str | None
) -> None:
    """Queue today's digest for every manager who has not had it yet (once the local
    [sla] digest_time has come; with several desks, one per desk a manager works);
    --dry-run prints it and changes nothing."""
    from maildesk.jobs.runner import Jobs

    with runtime_for(config) as runtime:
        jobs = Jobs(runtime.desk)
        at = _now(runtime, now)
        if as_json and not dry_run:
            raise click.UsageError("--json goes with --dry-run")
        if desk is not None and not dry_run:
            raise click.UsageError("--desk goes with --dry-run")
        if desk is not None:
            _check_desks(runtime, [desk])
        if dry_run and as_json:
            from maildesk.queries import sla_report

            _print_json(sla_report.digest_json(jobs.figures(at, desk)))
            return
        if dry_run:
            day, _ = jobs.local_day(at)
            profile = None if desk is None else runtime.desk.desks.get(desk)
            preview = runtime.desk.mailer.preview_digest(jobs.figures(at, desk), day, at, profile)
            click.echo(preview)
            return
        sent = jobs.send_digests(at)
    if sent:
        click.echo(f"digest queued for {', '.join(sent)}", err=True)
    else:
        click.echo("no digest due (not yet digest_time, or every manager has today's)", err=True)


@main.group()
def report() -> None:
    """Reports: SLA compliance (sla), the knowledge base (kb), time spent (time)."""


@report.command("sla")
@with_config
@json_option
@click.option("--since", type=ISO_TIME, help="Start (default: 30 days before --until).")
@click.option("--until", type=ISO_TIME, help="End, exclusive (default: now).")
@click.option(
    "--desk", "desks", metavar="SLUG", multiple=True, help="Only this desk's tickets (repeat)."
)
def report_sla(
    config: Config,
    as_json: bool,
    since: dt.datetime | None,
    until: dt.datetime | None,
    desks: tuple[str, ...],
) -> None:
    """SLA compliance, average and median times, by priority, category and agent, for
    tickets created in the period."""
    from maildesk.queries import sla_report

    with runtime_for(config) as runtime:
        _check_desks(runtime, desks)
        end = _now(runtime, until)
        start = since.astimezone(dt.UTC) if since else end - dt.timedelta(days=30)
        if start >= end:
            raise UsageFailure("--since must be before --until")
        result = sla_report.sla_report(
            start,
            end,
            runtime.clock(),
            runtime.desk.sla.clock_seconds,
            priorities=config.tickets.priorities,
            scope=runtime.desk.desks.scope(desks) if desks else None,
            next_response=runtime.desk.policies.next_response,
        )
    if as_json:
        _print_json(result)
        return
    click.echo(sla_report.report_text(result))


@report.command("kb")
@with_config
@json_option
@click.option("--since", type=ISO_TIME, help="Start (default: 30 days before --until).")
@click.option("--until", type=ISO_TIME, help="End, exclusive (default: now).")
@click.option(
    "--desk",
    "desks",
    metavar="SLUG",
    multiple=True,
    help="Only this desk's articles and tickets (repeat).",
)
def report_kb(
    config: Config,
    as_json: bool,
    since: dt.datetime | None,
    until: dt.datetime | None,
    desks: tuple[str, ...],
) -> None:
    """The knowledge base in the period: per article, its views, suggestions, "Did this
    answer your question?" answers (yes / no), tickets self-served and links by agents
    (#kb); then the gaps: the most frequent words and two-word phrases of the new
    tickets that got no suggestion (the latest 2,000 of them), what to write next."""
    from maildesk.queries import kb_report

    with runtime_for(config) as runtime, read_snapshot(runtime.db):
        _check_desks(runtime, desks)
        end = _now(runtime, until)
        start = since.astimezone(dt.UTC) if since else end - dt.timedelta(days=30)
        if start >= end:
            raise UsageFailure("--since must be before --until")
        known = runtime.desk.desks
        result = kb_report.kb_report(
            start, end, known.default.slug, known.scope(desks) if desks else None
        )
    if as_json:
        _print_json(kb_report.as_dict(result))
        return
    click.echo(kb_report.report_text(result, known.several))


@report.command("time")
@with_config
@json_option
@click.option("--since", type=ISO_TIME, help="Start (default: 30 days before --until).")
@click.option("--until", type=ISO_TIME, help="End, exclusive (default: now).")
@click.option(
    "--desk", "desks", metavar="SLUG", multiple=True, help="Only this desk's tickets (repeat)."
)
def report_time(
    config: Config,
    as_json: bool,
    since: dt.datetime | None,
    until: dt.datetime | None,
    desks: tuple[str, ...],
) -> None:
    """Time agents recorded as spent on tickets (#time) in the period: in all, per
    agent and per category."""
    from maildesk.queries import time_report

    with runtime_for(config) as runtime, read_snapshot(runtime.db):
        _check_desks(runtime, desks)
        end = _now(runtime, until)
        start = since.astimezone(dt.UTC) if since else end - dt.timedelta(days=30)
        if start >= end:
            raise UsageFailure("--since must be before --until")
        scope = runtime.desk.desks.scope(desks) if desks else None
        result = time_report.time_report(start, end, scope)
    if as_json:
        _print_json(time_report.as_dict(result))
        return
    click.echo(time_report.report_text(result))


@main.group("agents")
def agents_group() -> None:
    """Manage agents (and admins, managers)."""


DESK_HELP = (
    "A desk (slug) the agent works; repeat for several. None: the default desk. "
    "Admins see every desk."
)
CATEGORY_HELP = (
    "A category ([[category]] name) the agent is limited to: within their desks they "
    "see, list, search, export and hear of the tickets of these categories only; "
    "repeat for several. None: every category. Not for admins."
)


@agents_group.command("add")
@with_config
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--role", type=click.Choice(ROLES), default="agent", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read a web sign-in password from stdin.")
@click.option("--desk", "desks", metavar="SLUG", multiple=True, help=DESK_HELP)
@click.option("--category", "categories", metavar="NAME", multiple=True, help=CATEGORY_HELP)
def agents_add(
    config: Config,
    email: str,
    name: str,
    role: str,
    password_stdin: bool,
    desks: tuple[str, ...],
    categories: tuple[str, ...],
) -> None:
    """Add an agent by e-mail address."""
    if plain_address(email) is None:
        raise UsageFailure(f"not an e-mail address: {email.strip()!r} (e.g. ann@example.com)")
    if not name.strip():
        raise UsageFailure("--name must not be empty")
    if categories and role == "admin":
        raise UsageFailure("--category: an admin sees every category")
    password = _read_password(True) if password_stdin else None
    with runtime_for(config) as runtime:
        _check_desks(runtime, desks)
        _check_categories(runtime, categories)
        try:
            agent = agents.add_agent(
                runtime.db,
                email,
                name,
                role,
                password,
                runtime.clock(),
                desks=desks,
                categories=categories,
                known_categories=runtime.desk.category_names,
            )
        except agents.AgentError as exc:
            raise Failure(str(exc)) from exc
        shown = _reach_shown(runtime, agent)
    click.echo(f"added {agent.role} {agent.email} ({shown})")


def _check_desks(runtime: Runtime, slugs: Sequence[str]) -> None:
    known = runtime.desk.desks
    for slug in slugs:
        if not known.known(slug):
            raise UsageFailure(
                f"invalid value for '--desk': {slug!r} (one of {', '.join(known.slugs)})"
            )


def _check_categories(runtime: Runtime, names: Sequence[str]) -> None:
    try:
        agents.category_names(names, runtime.desk.category_names)
    except agents.AgentError as exc:
        raise UsageFailure(f"invalid value for '--category': {exc}") from None


def _reach_shown(runtime: Runtime, agent: Agent) -> str:
    """`desks billing, support; categories Refunds`: what the agent sees."""
    [record] = agents.describe([agent], runtime.desk.desks.default.slug)
    desks = record["desks"]
    shown = "every desk" if desks is None else "desks " + ", ".join(desks)
    if record["categories"] is not None:
        shown += "; categories " + ", ".join(record["categories"])
    return shown


@agents_group.command("set")
@with_config
@click.argument("email")
@click.option("--name", help="New display name.")
@click.option("--role", type=click.Choice(ROLES), help="New role.")
@click.option(
    "--active/--inactive", default=None, help="Inactive: no mail as an agent, no sign-in."
)
@click.option("--away/--back", default=None, help="Away: no notifications and no auto-assignment.")
@click.option(
    "--desk",
    "desks",
    metavar="SLUG",
    multiple=True,
    help="The desks the agent works from now on (repeat for several; replaces the old ones).",
)
@click.option(
    "--category",
    "categories",
    metavar="NAME",
    multiple=True,
    help=(
        "The categories the agent is limited to from now on (repeat for several; replaces "
        "the old ones). Not for admins."
    ),
)
@click.option(
    "--all-categories",
    is_flag=True,
    help="Lift the agent's limit to categories: they see every category of their desks.",
)
def agents_set(
    config: Config,
    email: str,
    name: str | None,
    role: str | None,
    active: bool | None,
    away: bool | None,
    desks: tuple[str, ...],
    categories: tuple[str, ...],
    all_categories: bool,
) -> None:
    """Change an agent: name, role, active, away, desks or categories."""
    if categories and all_categories:
        raise click.UsageError("--category and --all-categories exclude each other")
    given = (name, role, active, away)
    if all(v is None for v in given) and not (desks or categories or all_categories):
        raise click.UsageError("nothing to change (see --help)")
    with runtime_for(config) as runtime:
        _check_desks(runtime, desks)
        _check_categories(runtime, categories)
        try:
            agent = agents.update_agent(
                runtime.db,
                email,
                name=name,
                role=role,
                active=active,
                away=away,
                desks=desks or None,
                categories=categories if categories or all_categories else None,
                known_categories=runtime.desk.category_names,
            )
        except agents.AgentError as exc:
            raise Failure(str(exc)) from exc
        shown = _reach_shown(runtime, agent)
    state = ("active" if agent.active else "inactive") + (", away" if agent.away else "")
    click.echo(f"{agent.email}: {agent.role}, {state}, {shown}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageFailure("--password-stdin: no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise UsageFailure("no terminal to ask for the password: use --password-stdin")
    return str(click.prompt("New password", hide_input=True, confirmation_prompt=True))


@agents_group.command("passwd")
@with_config
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--remove", is_flag=True, help="Remove the password: no web sign-in.")
def agents_passwd(config: Config, email: str, password_stdin: bool, remove: bool) -> None:
    """Set an agent's web sign-in password (asked twice, or read from stdin).

    Sessions signed in with the old password end."""
    password = None if remove else _read_password(password_stdin)
    with runtime_for(config) as runtime:
        try:
            agent = agents.set_password(runtime.db, email, password)
        except agents.AgentError as exc:
            raise Failure(str(exc)) from exc
    click.echo(f"{agent.email}: password {'removed' if remove else 'set'}")


@agents_group.command("token")
@with_config
@click.argument("email")
@click.option("--name", default="api", show_default=True, help="What the token is for.")
def agents_token(config: Config, email: str, name: str) -> None:
    """Make a JSON API token acting as the agent; printed once, only its hash is kept."""
    with runtime_for(config) as runtime:
        try:
            token = agents.create_token(runtime.db, email, name, runtime.clock())
        except agents.AgentError as exc:
            raise Failure(str(exc)) from exc
    click.echo(token)


@agents_group.command("tokens")
@with_config
@json_option
@click.option("--revoke", "revoke_id", type=ROW_ID, metavar="ID", help="Revoke the token ID.")
def agents_tokens(config: Config, as_json: bool, revoke_id: int | None) -> None:
    """List API tokens (never the tokens themselves), or revoke one."""
    with runtime_for(config) as runtime:
        if revoke_id is not None:
            try:
                agents.revoke_token(runtime.db, revoke_id, runtime.clock())
            except agents.AgentError as exc:
                raise Failure(str(exc)) from exc
        rows = [
            {
                "id": t.id,
                "agent": t.agent.email,
                "name": t.name,
                "created_at": serialize.iso(t.created_at),
                "last_used_at": serialize.iso(t.last_used_at),
                "revoked_at": serialize.iso(t.revoked_at),
            }
            for t in agents.list_tokens()
        ]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        state = "revoked" if row["revoked_at"] else f"last used {row['last_used_at'] or 'never'}"
        click.echo(f"{row['id']:>4} {row['agent']:<32} {row['name']:<16} {state}")


@agents_group.command("list")
@with_config
@json_option
def agents_list(config: Config, as_json: bool) -> None:
    """All agents, with the desks they work and the categories they are limited to
    (null: every category)."""
    with runtime_for(config) as runtime:
        rows = agents.describe(agents.list_agents(), runtime.desk.desks.default.slug)
        for row in rows:  # an admin's desks: each of them
            row["desks"] = row["desks"] or sorted(runtime.desk.desks.slugs)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        state = ("active" if row["active"] else "inactive") + (" away" if row["away"] else "")
        desks = ",".join(row["desks"])
        categories = ",".join(row["categories"] or ["*"])
        click.echo(
            f"{row['email']:<32} {row['role']:<8} {state:<13} {desks:<16} {categories:<16} "
            f"{row['name']}"
        )


def _echo_fields(record: dict[str, Any]) -> None:
    """The custom fields of a ticket, contact or organization that are set, one a line
    (a link field with its record's URL)."""
    for name, value in record["fields"].items():
        if value not in (None, []):
            shown = ", ".join(value) if isinstance(value, list) else json.dumps(value)
            link = record["field_links"].get(name)
            click.echo(f"  {name}: {shown}" + (f" <{link}>" if link else ""))


@main.group("contacts")
def contacts_group() -> None:
    """Customer records: every address a person writes from, their organization,
    internal notes and tickets."""


def _contact_error(exc: contacts.ContactError) -> click.ClickException:
    """A contact or organization that is not there is a failure (1); a value the
    command cannot take is a usage error (2)."""
    return Failure(str(exc)) if isinstance(exc, contacts.NotFound) else UsageFailure(str(exc))


@contextmanager
def _records(config: Config) -> Iterator[Runtime]:
    """`runtime_for`, with the errors of customer records turned into exit statuses."""
    with runtime_for(config) as runtime:
        try:
            yield runtime
        except contacts.ContactError as exc:
            raise _contact_error(exc) from exc
        except FieldError as exc:
            raise UsageFailure(f"invalid value for '--field': {exc}") from exc


FIELD_FILTER_HELP = "Only those whose custom field has this value (repeat: all must match)."
FIELD_SET_HELP = (
    "Set a custom field (repeat for more; a multiselect takes its options separated by "
    "commas); NAME= or NAME=none clears it."
)


@contacts_group.command("list")
@with_config
@json_option
@click.option("--org", "org", metavar="NAME|ID", help="Only the members of this organization.")
@click.option("--search", metavar="TEXT", help="Text in an address or a name.")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help=FIELD_FILTER_HELP)
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="At most this many persons.")  # fmt: skip
def contacts_list(
    config: Config,
    as_json: bool,
    org: str | None,
    search: str | None,
    fields: tuple[str, ...],
    limit: int,
) -> None:
    """Customers (one line per person, by primary address), with their custom fields
    in --json."""
    with _records(config) as runtime:
        organization = None if org is None else contacts.find_organization(org).id
        defined = runtime.desk.contact_fields
        spec = contact_queries.ContactQuery(
            search=search,
            organization_id=organization,
            fields=defined.filters(fields),
            limit=limit,
        )
        rows = contact_queries.contact_summaries(contact_queries.find_contacts(spec), defined)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        member = row["organization"]["name"] if row["organization"] else "-"
        more = f" (+{len(row['addresses']) - 1} more)" if len(row["addresses"]) > 1 else ""
        click.echo(f"{row['email']:<32} {row['name'] or '-':<24} {member}{more}")
    if not rows:
        click.echo("no contacts", err=True)


@contacts_group.command("show")
@with_config
@json_option
@click.argument("email")
def contacts_show(config: Config, as_json: bool, email: str) -> None:
    """A person's record (EMAIL: any of their addresses): addresses, organization,
    notes, custom fields, and every ticket they are part of, latest first."""
    with _records(config) as runtime, read_snapshot(runtime.db):
        found = contacts.contact_by_email(email)
        record = contact_queries.contact_detail(
            found, runtime.desk.label, fields=runtime.desk.contact_fields
        )
    if as_json:
        _print_json(record)
        return
    click.echo(f"{record['name'] or '-'} <{record['email']}>")
    for address in record["addresses"][1:]:
        click.echo(f"  also {address}")
    organization = record["organization"]
    how = " (by mail domain)" if record["organization_by_domain"] else ""
    click.echo(f"  organization {organization['name'] if organization else '-'}{how}")
    if record["notes"]:
        click.echo("  notes: " + record["notes"].replace("\n", "\n    "))
    _echo_fields(record)
    for t in record["tickets"]:
        click.echo(f"  {t['label']}  {t['status']:<19} {t['role']:<9} {t['subject'][:60]}")


MEMBERSHIP_HELP = "Their organization; none: no organization; auto: by their mail domain."


@contacts_group.command("set")
@with_config
@click.argument("email")
@click.option("--name", help="The person's name.")
@click.option("--org", "org", metavar="NAME|ID|none|auto", help=MEMBERSHIP_HELP)
@click.option("--notes", help="Internal notes (replaces them; agents only ever see them).")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help=FIELD_SET_HELP)
def contacts_set(
    config: Config,
    email: str,
    name: str | None,
    org: str | None,
    notes: str | None,
    fields: tuple[str, ...],
) -> None:
    """Change a person's name, organization, notes or custom fields (EMAIL: any of
    their addresses)."""
    if name is None and org is None and notes is None and not fields:
        raise click.UsageError("nothing to change (see --help)")
    with _records(config) as runtime:
        values = runtime.desk.contact_fields.assignments(fields)
        found = contacts.contact_by_email(email)
        membership = None if org is None else contacts.membership_named(org)
        person = contacts.update_contact(
            runtime.db, found.id, name=name, notes=notes, membership=membership, fields=values
        )
        summary = contact_queries.contact_summary(person)
    organization = summary["organization"]
    click.echo(f"{summary['email']}: organization {organization['name'] if organization else '-'}")


@contacts_group.command("merge")
@with_config
@click.argument("into_email", metavar="INTO_EMAIL")
@click.argument("other_email", metavar="OTHER_EMAIL")
def contacts_merge(config: Config, into_email: str, other_email: str) -> None:
    """Make OTHER_EMAIL (and every address merged into it) an address of the person
    INTO_EMAIL is: one record, their tickets together. Notes are kept, joined; custom
    fields keep INTO's values, OTHER's where INTO has none."""
    with _records(config) as runtime:
        into = contacts.contact_by_email(into_email)
        other = contacts.contact_by_email(other_email)
        person = contacts.merge_contacts(runtime.db, into.id, other.id)
        addresses = contact_queries.contact_summary(person)["addresses"]
    click.echo(f"{person.email}: {', '.join(addresses)}")


@contacts_group.command("clear-bounce")
@with_config
@click.argument("email")
def contacts_clear_bounce(config: Config, email: str) -> None:
    """Mark EMAIL deliverable again after a bounce: automatic mail (acknowledgements,
    notices) goes to it again. Mail from the address clears the mark by itself."""
    with _records(config) as runtime:
        found = contacts.contact_by_email(email)
        now = runtime.clock()
        cleared = undeliverable.clear_person(runtime.db, found.id, "cli", now, found.email)
    if not cleared:
        raise Failure(f"{found.email} is not marked undeliverable")
    click.echo(f"{found.email}: deliverable again")


@main.group("orgs")
def orgs_group() -> None:
    """Customer organizations: members by hand or by mail domain, notes, shared tickets."""


DOMAIN_HELP = (
    "A mail domain of the organization (repeat for more): contacts at it, or below it, "
    "belong to it unless set elsewhere by hand."
)
SHARED_HELP = (
    "Members see each other's tickets listed on their status pages, and in the portal (/portal)."
)


@orgs_group.command("list")
@with_config
@json_option
def orgs_list(config: Config, as_json: bool) -> None:
    """All organizations, by name (with their custom fields in --json)."""
    with _records(config) as runtime:
        rows = contact_queries.list_organizations(runtime.desk.organization_fields)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        shared = "shared tickets" if row["shared_tickets"] else ""
        click.echo(
            f"{row['id']:>4} {row['name']:<32} {row['members']:>5} members  "
            f"{', '.join(row['domains']) or '-'}  {shared}".rstrip()
        )
    if not rows:
        click.echo("no organizations", err=True)


@orgs_group.command("show")
@with_config
@json_option
@click.argument("org", metavar="NAME|ID")
def orgs_show(config: Config, as_json: bool, org: str) -> None:
    """An organization: domains, notes, custom fields, members, and every ticket its
    members requested."""
    with _records(config) as runtime, read_snapshot(runtime.db):
        found = contacts.find_organization(org)
        record = contact_queries.organization_detail(
            found, runtime.desk.label, fields=runtime.desk.organization_fields
        )
    if as_json:
        _print_json(record)
        return
    shared = ", shared tickets" if record["shared_tickets"] else ""
    click.echo(f"{record['name']} (id {record['id']}{shared})")
    click.echo(f"  domains {', '.join(record['domains']) or '-'}")
    if record["notes"]:
        click.echo("  notes: " + record["notes"].replace("\n", "\n    "))
    _echo_fields(record)
    for member in record["contacts"]:
        click.echo(f"  member {member['name'] or '-'} <{member['email']}>")
    for t in record["tickets"]:
        click.echo(
            f"  {t['label']}  {t['status']:<19} {t['requester']['email']:<28} {t['subject'][:50]}"
        )


@orgs_group.command("add")
@with_config
@click.argument("name")
@click.option("--domain", "domains", multiple=True, metavar="DOMAIN", help=DOMAIN_HELP)
@click.option("--shared-tickets/--no-shared-tickets", default=False, show_default=True,
              help=SHARED_HELP)  # fmt: skip
@click.option("--notes", default="", help="Internal notes (agents only).")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help=FIELD_SET_HELP)
def orgs_add(
    config: Config,
    name: str,
    domains: tuple[str, ...],
    shared_tickets: bool,
    notes: str,
    fields: tuple[str, ...],
) -> None:
    """Add an organization named NAME."""
    with _records(config) as runtime:
        values = runtime.desk.organization_fields.assignments(fields)
        added = contacts.add_organization(
            runtime.db, name, runtime.clock(), domains=domains, notes=notes,
            shared_tickets=shared_tickets, fields=values,
        )  # fmt: skip
    click.echo(f"added organization {added.id} {added.name}")


@orgs_group.command("set")
@with_config
@click.argument("org", metavar="NAME|ID")
@click.option("--name", help="A new name.")
@click.option("--domain", "domains", multiple=True, metavar="DOMAIN",
              help=DOMAIN_HELP + " Replaces the list.")  # fmt: skip
@click.option("--no-domains", is_flag=True, help="Remove every domain: members by hand only.")
@click.option("--shared-tickets/--no-shared-tickets", default=None, help=SHARED_HELP)
@click.option("--notes", help="Internal notes (replaces them).")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help=FIELD_SET_HELP)
def orgs_set(
    config: Config,
    org: str,
    name: str | None,
    domains: tuple[str, ...],
    no_domains: bool,
    shared_tickets: bool | None,
    notes: str | None,
    fields: tuple[str, ...],
) -> None:
    """Change an organization (NAME or ID)."""
    if domains and no_domains:
        raise click.UsageError("give --domain or --no-domains, not both")
    listed = () if no_domains else (domains or None)
    if (name, listed, shared_tickets, notes) == (None, None, None, None) and not fields:
        raise click.UsageError("nothing to change (see --help)")
    with _records(config) as runtime:
        values = runtime.desk.organization_fields.assignments(fields)
        found = contacts.find_organization(org)
        changed = contacts.update_organization(
            runtime.db, found.id, runtime.clock(), name=name, domains=listed, notes=notes,
            shared_tickets=shared_tickets, fields=values,
        )  # fmt: skip
        domains_now = organization_domains(changed.id)
    click.echo(f"{changed.name}: domains {', '.join(domains_now) or '-'}")


@main.group("portal")
def portal_group() -> None:
    """Customers' sign-ins to the portal (/portal, "My requests"): list and revoke them."""


@portal_group.command("sessions")
@with_config
@json_option
@click.argument("email")
def portal_sessions(config: Config, as_json: bool, email: str) -> None:
    """The live portal sign-ins of the customer with address EMAIL (any of their
    addresses), newest first."""
    with runtime_for(config) as runtime:
        person = portal_auth.person_by_email(email)
        if person is None:
            raise Failure(f"no contact with the address {email.strip().lower()}")
        found = portal_auth.sessions_of(person.id, runtime.clock())
    rows = [
        {
            "id": s.id,
            "created_at": serialize.iso(s.created_at),
            "last_seen_at": serialize.iso(s.last_seen_at),
            "expires_at": serialize.iso(s.expires_at),
        }
        for s in found
    ]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['id']:>5} signed in {row['created_at']}  last seen {row['last_seen_at']}  "
            f"until {row['expires_at']}"
        )
    if not rows:
        click.echo(f"{person.email}: no portal sessions", err=True)


@portal_group.command("revoke")
@with_config
@click.argument("email")
def portal_revoke(config: Config, email: str) -> None:
    """End every portal sign-in of the customer with address EMAIL, in every browser."""
    with runtime_for(config) as runtime:
        person = portal_auth.person_by_email(email)
        if person is None:
            raise Failure(f"no contact with the address {email.strip().lower()}")
        ended = portal_auth.end_all(runtime.db, person.id, runtime.clock())
    click.echo(f"{person.email}: {ended} portal session(s) revoked")


@main.group()
def kb() -> None:
    """The knowledge base: articles for the help center (/kb/) and the suggestions in
    acknowledgements, the /submit form, status pages and agents' notices ([kb]). The
    same articles are edited on the web at /admin/kb; `maildesk report kb` says how
    they do."""


def _desk_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--desk", metavar="SLUG", default=None, help=help_text)


def _kb_desk(runtime: Runtime, slug: str | None) -> str:
    desks = runtime.desk.desks
    if slug is None:
        return desks.default.slug
    if not desks.known(slug):
        raise UsageFailure(f"no desk {slug!r} (desks: {', '.join(desks.slugs)})")
    return slug


KB_IMPORT_HELP = """Read every DIR/*.md (and its subfolders') as an article: a front-matter
header (title required; slug, default the file's name; category; tags; published,
default false; desk) and a Markdown body. An article of the same desk and slug is
updated, so importing a folder kept in git again is safe. Nothing is saved when any
file is wrong (each problem is listed, exit 1)."""


@kb.command("import", help=KB_IMPORT_HELP)
@with_config
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_desk_option("Desk of articles whose header names none (default: the first desk).")
@json_option
def kb_import(config: Config, folder: Path, desk: str | None, as_json: bool) -> None:
    with runtime_for(config) as runtime:
        default = _kb_desk(runtime, desk)
        drafts, problems = [], []
        for path in sorted(folder.rglob("*.md")):
            try:
                text = path.read_text(encoding="utf-8")
                found = articles.read(text, path.stem.lower())
            except (OSError, UnicodeDecodeError, articles.ArticleError) as exc:
                problems.append(f"{path}: {_one_line(exc)}")
                continue
            drafts.append(dataclasses.replace(found, desk=found.desk or default))
        slugs = [(d.desk, d.slug) for d in drafts]
        for twice in sorted({key for key in slugs if slugs.count(key) > 1}):
            problems.append(f"slug {twice[1]!r} of desk {twice[0]!r} is in more than one file")
        if problems:
            raise Failure("nothing imported:\n" + "\n".join(problems))
        try:
            done = catalog.save(runtime.db, drafts, runtime.desk.desks, runtime.clock())
        except articles.ArticleError as exc:
            raise Failure(f"nothing imported: {exc}") from exc
    report = {"created": done.created, "updated": done.updated, "unchanged": done.unchanged}
    if as_json:
        _print_json(report)
        return
    click.echo(", ".join(f"{len(slugs)} {what}" for what, slugs in report.items()))


@kb.command("export")
@with_config
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@_desk_option("Only this desk's articles (default: every desk's, one subfolder each).")
def kb_export(config: Config, folder: Path, desk: str | None) -> None:
    """Write every article to FOLDER as SLUG.md with its header (what `kb import`
    reads back); with several desks, in a subfolder per desk."""
    with runtime_for(config) as runtime, read_snapshot(runtime.db):
        chosen = None if desk is None else [_kb_desk(runtime, desk)]
        several = runtime.desk.desks.several and desk is None
        found = catalog.listed(chosen)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Failure(f"cannot write {folder}: {_one_line(exc)}") from exc
        written = 0
        for article in found:
            target = folder / article.desk if several else folder
            try:
                target.mkdir(parents=True, exist_ok=True)
                draft = dataclasses.replace(catalog.as_draft(article), desk=None)
                (target / f"{article.slug}.md").write_text(articles.write(draft), encoding="utf-8")
            except OSError as exc:
                raise Failure(f"cannot write {target}: {_one_line(exc)}") from exc
            written += 1
    click.echo(f"{written} articles written to {folder}")


@kb.command("list")
@with_config
@json_option
@_desk_option("Only this desk's articles.")
@click.option("--published", is_flag=True, help="Only published articles.")
def kb_list(config: Config, as_json: bool, desk: str | None, published: bool) -> None:
    """The articles, by desk, category and title."""
    with runtime_for(config) as runtime, read_snapshot(runtime.db):
        chosen = None if desk is None else [_kb_desk(runtime, desk)]
        rows = [catalog.summary(a) for a in catalog.listed(chosen, published_only=published)]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        state = "published" if row["published"] else "draft"
        click.echo(
            f"{row['desk']}/{row['slug']}  {state:<9} {row['category'] or '-':<16} {row['title']}"
        )


@kb.command("show")
@with_config
@json_option
@click.argument("slug")
@_desk_option("The desk whose article SLUG is (default: the first desk).")
def kb_show(config: Config, as_json: bool, slug: str, desk: str | None) -> None:
    """One article: its header and Markdown (--json: also its HTML)."""
    with runtime_for(config) as runtime, read_snapshot(runtime.db):
        article = catalog.find(_kb_desk(runtime, desk), slug, published_only=False)
        if article is None:
            raise Failure(f"no article {slug!r}")
        document = {
            **catalog.summary(article),
            "body": article.body,
            "html": render.to_html(article.body),
        }
        draft = catalog.as_draft(article)
    if as_json:
        _print_json(document)
        return
    click.echo(articles.write(dataclasses.replace(draft, desk=None)), nl=False)


@main.group()
def webhooks() -> None:
    """Webhooks: endpoints that receive signed ticket events ([[webhook]] in the
    configuration, or added here), and their deliveries. The daemon sends them."""


def _hook_runtime(runtime: Runtime, config: Config) -> None:
    """The [[webhook]] endpoints in the database as the file has them now."""
    webhook_hooks.sync_config(runtime.db, config.webhook, runtime.clock())


@webhooks.command("list")
@with_config
@json_option
def webhooks_list(config: Config, as_json: bool) -> None:
    """The endpoints, with their deliveries counted (pending, delivered, failed)."""
    with runtime_for(config) as runtime:
        _hook_runtime(runtime, config)
        found = webhook_hooks.listing(runtime.db)
    if as_json:
        _print_json(found)
        return
    for hook in found:
        counts = ", ".join(f"{n} {state}" for state, n in hook["deliveries"].items())
        desk = f"  desk {hook['desk']}" if hook["desk"] else ""
        click.echo(
            f"{hook['id']}  {hook['name']}  {hook['url']}  {','.join(hook['events'])}{desk}  "
            f"({hook['origin']}; {counts})"
        )
    if not found:
        click.echo("no webhooks", err=True)


@webhooks.command("deliveries")
@with_config
@json_option
@click.option("--state", type=click.Choice(webhook_deliveries.STATES), help="Only these.")
@click.option("--webhook", "webhook_id", type=ROW_ID, metavar="ID", help="Only this endpoint's.")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
def webhooks_deliveries(
    config: Config, as_json: bool, state: str | None, webhook_id: int | None, limit: int
) -> None:
    """Deliveries, newest first: each event for each endpoint, its state and the
    receiver's last answer."""
    with runtime_for(config) as runtime:
        found = webhook_deliveries.listing(runtime.db, runtime.desk.desks, state, webhook_id, limit)
    if as_json:
        _print_json(found)
        return
    for d in found:
        answer = d["last_error"] or (f"HTTP {d['last_status']}" if d["last_status"] else "")
        click.echo(
            f"{d['id']}  {d['state']:<9}  webhook {d['webhook']}  {d['type']}  "
            f"{d['ticket'] or '-'}  {d['webhook_id']}  {d['attempts']} attempt(s)  {answer}"
        )
    if not found:
        click.echo("no deliveries", err=True)


@webhooks.command("add")
@with_config
@json_option
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice((*event_names.EVENTS, event_names.ALL)),
    help="An event to send (repeat; default: all).",
)
@click.option("--desk", metavar="SLUG", help="Only this desk's tickets.")
@click.option("--internal", is_flag=True, help="Also internal notes and internal events.")
def webhooks_add(
    config: Config,
    as_json: bool,
    url: str,
    events: tuple[str, ...],
    desk: str | None,
    internal: bool,
) -> None:
    """Add an endpoint; prints its ID and its signing secret (shown this once).

    Private and loopback addresses are refused unless [webhooks] allowed_networks
    lists them.
    """
    try:
        checks.webhook_url(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="URL") from None
    with runtime_for(config) as runtime:
        if desk and desk not in runtime.desk.desks.slugs:
            raise click.BadParameter(f"no desk {desk!r}", param_hint="--desk")
        try:
            endpoint, secret = webhook_hooks.add_checked(
                runtime.db,
                url,
                events or (event_names.ALL,),
                desk,
                internal,
                "cli",
                runtime.clock(),
                runtime.desk.desks.slugs,
                targets.Targets.of(config.webhooks.allowed_networks),
            )
        except webhook_hooks.Refused as exc:
            raise Failure(f"webhook refused: {exc}") from None
    if as_json:
        _print_json({"id": endpoint.id, "url": endpoint.url, "secret": secret})
        return
    click.echo(f"webhook {endpoint.id} added; its signing secret (shown once):")
    click.echo(secret)


@webhooks.command("remove")
@with_config
@click.argument("ident", metavar="ID")
def webhooks_remove(config: Config, ident: str) -> None:
    """Remove an endpoint added by an admin; its undelivered events are failed."""
    with runtime_for(config) as runtime:
        _hook_runtime(runtime, config)
        try:
            webhook_hooks.remove(runtime.db, ident, runtime.clock())
        except webhook_hooks.HookError as exc:
            raise Failure(str(exc)) from None
    click.echo(f"webhook {ident} removed", err=True)


@webhooks.command("retry")
@with_config
@click.argument("delivery_id", required=False, type=ROW_ID, metavar="ID")
@click.option("--all", "retry_all", is_flag=True, help="Every failed delivery.")
def webhooks_retry(config: Config, delivery_id: int | None, retry_all: bool) -> None:
    """Send failed deliveries again (ID or --all), with the same webhook-id; the
    daemon sends them at once."""
    if (delivery_id is None) == (not retry_all):
        raise click.UsageError("give either a delivery ID or --all")
    with runtime_for(config) as runtime:
        ids = [] if delivery_id is None else [delivery_id]
        count = webhook_deliveries.retry(runtime.db, ids, runtime.clock(), all_failed=retry_all)
    if delivery_id is not None and not count:
        raise Failure(f"no failed delivery {delivery_id} (of an endpoint still there)")
    click.echo(f"{count} deliveries queued again", err=True)


@webhooks.command("test")
@with_config
@click.argument("ident", metavar="ID")
def webhooks_test(config: Config, ident: str) -> None:
    """POST a signed webhook.test event to an endpoint now and print its answer (exit
    status 1 unless 2xx). ID: the endpoint's, or a [[webhook]]'s name or URL."""
    with runtime_for(config) as runtime:
        _hook_runtime(runtime, config)
        try:
            row = webhook_hooks.find(runtime.db, ident)
            endpoint = webhook_hooks.endpoint_of(row)
            key = endpoint.key(read_environ())
        except webhook_hooks.HookError as exc:
            raise Failure(str(exc)) from None
        now = runtime.clock()
    answer = asyncio.run(webhook_worker.test(endpoint, key, config.webhooks, now))
    click.echo(f"{endpoint.url}: {answer.detail}")
    if answer.outcome is not webhook_deliveries.Outcome.DELIVERED:
        sys.exit(EXIT_FAILURE)


@webhooks.command("work", hidden=True)
@with_config
def webhooks_work(config: Config) -> None:
    """The daemon's webhook sender, in a process of its own: started by `maildesk run`,
    woken through its stdin, stopped when stdin closes."""
    from maildesk.daemon.webhooks import work

    work(config, read_environ())


@webhooks.command("secret")
def webhooks_secret() -> None:
    """Print a new signing secret (whsec_...), for a [[webhook]]'s secret_env."""
    click.echo(new_secret())


@main.command("check-config")
@with_config
def check_config(config: Config) -> None:
    """Validate the configuration, the TLS files and the templates; reach the database
    and write to the [storage] backend."""
    from maildesk.inbound.smtp import starttls_context

    click.echo(f"configuration: {config.path}")
    try:
        tls = starttls_context(config.smtp)
    except ConfigError as exc:
        raise UsageFailure(f"config error: {exc}") from exc
    if tls is not None:
        click.echo(f"smtp: STARTTLS ok ({config.smtp.tls_cert}, {config.smtp.tls_key})")
    with runtime_for(config) as runtime:
        tickets_count = Ticket.select().count()
        click.echo(
            f"database: ok, {redact_url(config.database.url)} "
            f"({type(runtime.db).__name__}, {tickets_count} tickets)"
        )
        for desk in runtime.desk.desks.all:
            click.echo(
                f"desk {desk.slug}: {desk.name} <{', '.join(desk.addresses)}>, prefix {desk.prefix}"
            )
            # the built-ins too (the start checks overrides only)
            runtime.desk.renderers[desk.slug].check()
        try:
            where = blobs_of(runtime.db).check()
        except BlobError as exc:
            raise Failure(f"storage error: {_one_line(exc)}") from exc
    click.echo(f"storage: ok, {where}")
    folders = sorted({d.templates for d in runtime.desk.desks.all if d.templates})
    click.echo(f"templates: ok ({', '.join(folders) or 'built-in'})")
    try:
        make_transport(config.outbound, read_environ(), Path.cwd()).close()
    except ConfigError as exc:
        raise UsageFailure(f"config error: {exc}") from exc
    target = (
        config.outbound.maildir
        if config.outbound.mode == "maildir"
        else (f"{config.outbound.host}:{config.outbound.port} ({config.outbound.tls})")
    )
    click.echo(f"imap mailboxes: {len(config.imap)}; outbound: {config.outbound.mode} to {target}")
    for key, problem in webhook_hooks.check_secrets(config.webhook, read_environ()):
        raise UsageFailure(f"config error: {key}: {problem}")
    allowed = targets.Targets.of(config.webhooks.allowed_networks)
    for index, hook in enumerate(config.webhook):
        refused = targets.refusal(hook.url, allowed)
        if refused:
            click.echo(f"warning: webhook[{index}].url: deliveries will fail: {refused}", err=True)
    click.echo(f"webhooks: {len(config.webhook)} in the file")
    for warning in security_warnings(config):
        click.echo(f"warning: {warning}", err=True)


# -- help ------------------------------------------------------------------------------


@main.group("help")
def help_group() -> None:
    """Reference for the people who use maildesk."""


@help_group.command("commands")
@click.option("--config", "config_path", metavar="PATH", help=CONFIG_HELP)
def help_commands(config_path: str | None) -> None:
    """The #commands agents write at the top of a reply (the cheat sheet of their
    notification mails), with this desk's ticket prefix and priorities; without a
    configuration file, with the defaults (SUP, low medium high urgent)."""
    from maildesk.core.commands import cheat_sheet
    from maildesk.settings.desks import Desks

    before = click.get_current_context().find_root().params.get("config_path")
    given = config_path or before or os.environ.get(CONFIG_ENV_VAR)
    try:
        # Named explicitly, the file must be there; the default one may be missing.
        found = config_file(config_path) if given else resolve_config_path(None, os.environ)
        config = load_config(found if found.exists() else None)
    except ConfigError as exc:
        raise UsageFailure(f"config error: {exc}") from exc
    prefix = Desks.from_config(config).default.prefix
    click.echo(cheat_sheet(prefix=prefix, priorities=config.tickets.priorities))
