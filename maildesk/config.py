"""Configuration of maildesk: ``maildesk.toml`` + environment + ``.env``.

Where this sits: at the edge of the daemon.  The CLI (``maildesk.cli``) calls
:func:`resolve_config_path` and :func:`load_config` once at start-up and hands
the resulting frozen :class:`Config` to everything else; nothing below the CLI
reads files or the environment for settings.  ``maildesk init`` writes
:func:`render_starter`; the committed ``maildesk.toml.example`` is
:func:`render_example`.

Everything is derived from ONE table, :data:`SETTINGS`: every key has a
section, name, type, default and one-line help text.  Loading, type checks,
validation, environment overrides (``MAILDESK_<SECTION>_<KEY>`` plus explicit
aliases), the example file and the docs all read that table, so a key cannot
exist without a default and a help line.

Precedence, lowest first: built-in default < ``maildesk.toml`` < ``.env`` file
< real environment.  ``[[imap]]`` mailboxes come from the file only.

Path-like keys (``Setting.path``: the SQLite file of ``database.url``, the
outbox maildir, the templates folder, the TLS certificate and key) are made
absolute when loaded: a relative value from the file (or a default) is relative
to the file's folder, so a command finds the same files from any working
directory; a value from the environment is relative to the working directory,
as paths in environment variables usually are.
"""

from __future__ import annotations

import difflib
import enum
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from maildesk.core.addresses import plain_address

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "REQUIRED",
    "SECTIONS",
    "SETTINGS",
    "Config",
    "ConfigError",
    "DaemonConfig",
    "DatabaseConfig",
    "DeskConfig",
    "ImapConfig",
    "LoggingConfig",
    "OutboundConfig",
    "Section",
    "SecurityConfig",
    "Setting",
    "SmtpConfig",
    "TicketsConfig",
    "WebConfig",
    "load_config",
    "password_from_env",
    "read_environ",
    "redact_url",
    "render_example",
    "render_starter",
    "resolve_config_path",
]

DEFAULT_CONFIG_PATH = Path("maildesk.toml")
"""Used when neither ``--config`` nor ``$MAILDESK_CONFIG`` is given."""

DEFAULT_DOTENV_PATH = Path(".env")
CONFIG_ENV_VAR = "MAILDESK_CONFIG"
ENV_PREFIX = "MAILDESK_"


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class ConfigError(Exception):
    """A configuration problem, always naming the offending key.

    ``str(err) == f"{key}: {message}"`` and is a single line, e.g.
    ``smtp.port: expected an integer, got string 'abc'``.
    """

    key: str
    message: str

    def __init__(self, key: str, message: str) -> None:
        self.key = _one_line(key)
        self.message = _one_line(message)
        super().__init__(f"{self.key}: {self.message}")

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def _one_line(text: str) -> str:
    return " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text


# --------------------------------------------------------------------------
# The settings table
# --------------------------------------------------------------------------


class _Required(enum.Enum):
    REQUIRED = "required"

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required.REQUIRED
"""Default of a key that has no default and must be given (``imap.host``)."""

Check = Callable[[Any], Any]
"""Extra validation of a type-checked value: returns the normalised value or
raises ``ValueError(message)``."""


@dataclass(frozen=True)
class Setting:
    """One configuration key.

    ``type`` is one of ``str``, ``int``, ``bool`` or ``tuple`` (a TOML array of
    strings, stored as ``tuple[str, ...]``; comma-separated in the environment).
    ``env`` is an explicit environment variable name in addition to the
    generic ``MAILDESK_<SECTION>_<KEY>``; see :attr:`env_names`.
    """

    section: str
    name: str
    type: type
    default: object
    help: str
    env: str | None = None
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    check: Check | None = None
    example: object = None  # shown in the example file for REQUIRED keys
    path: bool = False  # a file or folder (or a sqlite:/// URL): see `_absolute`

    @property
    def key(self) -> str:
        """Dotted name, e.g. ``"smtp.port"``."""
        return f"{self.section}.{self.name}"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def env_names(self) -> tuple[str, ...]:
        """Environment variables that override this key, highest priority first.

        Empty for keys of array sections (``[[imap]]``).
        """
        if _section(self.section).array:
            return ()
        generic = f"{ENV_PREFIX}{self.section.upper()}_{self.name.upper()}"
        if self.env is None or self.env == generic:
            return (generic,)
        return (self.env, generic)


# ---- per-key checks -------------------------------------------------------

_PREFIX_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,9}")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_not_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _check_header_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("must be a single line")
    return value


def _check_token(value: str) -> str:
    if any(ch.isspace() for ch in value):
        raise ValueError(f"must not contain whitespace, got {_short(value)}")
    return value


def _check_ticket_prefix(value: str) -> str:
    if not _PREFIX_RE.fullmatch(value):
        raise ValueError(
            f"must be 1-10 letters or digits starting with a letter, got {_short(value)}"
        )
    return value.upper()


def _check_addresses(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("must list at least one e-mail address")
    result: list[str] = []
    for item in value:
        address = plain_address(item)
        if address is None:
            raise ValueError(f"not a valid e-mail address: {_short(item)}")
        if address in result:
            raise ValueError(f"duplicate address: {_short(item)}")
        result.append(address)
    return tuple(result)


def _check_base_url(value: str) -> str:
    problem = f"must be an http:// or https:// URL, got {_short(value)}"
    if any(ch.isspace() for ch in value):
        raise ValueError(problem)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(problem)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"invalid port in URL {_short(value)}") from None
    if parts.query or parts.fragment:
        raise ValueError(f"must not contain a query or fragment, got {_short(value)}")
    return value.rstrip("/")


def redact_url(url: str) -> str:
    """`url` with any password replaced by ***, fit to print."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def _check_database_url(value: str) -> str:
    shown = _short(redact_url(value))
    if value.startswith("sqlite:///"):
        path = value[len("sqlite:///") :]
        if not path.strip() or path == "/":
            raise ValueError(
                "sqlite URL needs a file path: sqlite:///relative/path or "
                f"sqlite:////absolute/path, got {shown}"
            )
        return value
    parts = urlsplit(value)
    if parts.scheme in ("postgresql", "postgres") and not any(c.isspace() for c in value):
        if not parts.hostname:
            raise ValueError(f"PostgreSQL URL needs a host, got {shown}")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError(f"invalid port in PostgreSQL URL {shown}") from None
        database = parts.path[1:]
        if not database or "/" in database:
            raise ValueError(f"PostgreSQL URL needs a database name, got {shown}")
        if parts.fragment:
            raise ValueError(f"must not contain a fragment, got {shown}")
        return value
    raise ValueError(
        "must be sqlite:///relative/path, sqlite:////absolute/path or "
        f"postgresql://user[:password]@host[:port]/database, got {shown}"
    )


def _check_env_name(value: str) -> str:
    if value and not _ENV_NAME_RE.fullmatch(value):
        raise ValueError(f"must be an environment variable name, got {_short(value)}")
    return value


def _check_env_name_required(value: str) -> str:
    if not value:
        raise ValueError("must name the environment variable holding the password")
    return _check_env_name(value)


def _check_priorities(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("must list at least one priority")
    result: list[str] = []
    for item in value:
        name = item.strip()
        if not name:
            raise ValueError("priority names must not be empty")
        if name in result:
            raise ValueError(f"duplicate priority: {_short(name)}")
        result.append(name)
    return tuple(result)


# ---- the table -------------------------------------------------------------

_TLS = ("ssl", "starttls", "none")

SETTINGS: tuple[Setting, ...] = (
    # [desk]
    Setting("desk", "name", str, "Example Support",
            "Display name of the helpdesk, used in outgoing mail and the web UI.",
            check=_check_header_text),
    Setting("desk", "ticket_prefix", str, "SUP",
            "Ticket reference prefix (1-10 letters/digits, starts with a letter; "
            "stored upper-case).",
            check=_check_ticket_prefix),
    Setting("desk", "addresses", tuple, ("support@example.com",),
            "Addresses customers write to (at least one; compared lower-case).",
            check=_check_addresses),
    Setting("desk", "base_url", str, "http://127.0.0.1:8080",
            "Public http(s) URL of the web interface, used in links (trailing / dropped).",
            check=_check_base_url),
    Setting("desk", "secret_key", str, "",
            "Signing key; empty: maildesk generates one and keeps it in its database.",
            env="MAILDESK_SECRET_KEY"),
    # [database]
    Setting("database", "url", str, "sqlite:///var/maildesk.db",
            "sqlite:///relative/path (to this file's folder), sqlite:////absolute/path or "
            "postgresql://user[:pw]@host[:port]/db.",
            env="MAILDESK_DATABASE_URL", check=_check_database_url, path=True),
    # [smtp]
    Setting("smtp", "enabled", bool, True,
            "Run the built-in SMTP/LMTP receiver for incoming mail."),
    Setting("smtp", "host", str, "127.0.0.1",
            "Address the receiver listens on.", check=_check_not_empty),
    Setting("smtp", "port", int, 2525,
            "Port the receiver listens on (0: pick a free port).", minimum=0, maximum=65535),
    Setting("smtp", "lmtp", bool, False,
            "Speak LMTP instead of SMTP (for delivery from a local MTA)."),
    Setting("smtp", "max_message_size", int, 26214400,
            "Largest accepted message in bytes.", minimum=1),
    Setting("smtp", "hostname", str, "",
            "Name the receiver greets with; empty: this machine's host name.",
            check=_check_token),
    Setting("smtp", "tls_cert", str, "",
            "PEM certificate (chain) file offered with STARTTLS; empty: no STARTTLS.",
            path=True),
    Setting("smtp", "tls_key", str, "",
            "PEM private key file of tls_cert (set both or neither).", path=True),
    Setting("smtp", "auth_username", str, "",
            "Require SMTP AUTH (PLAIN/LOGIN, only after STARTTLS) with this user name; "
            "empty: no AUTH.", check=_check_token),
    Setting("smtp", "auth_password_env", str, "MAILDESK_SMTP_AUTH_PASSWORD",
            "Name of the environment variable holding the SMTP AUTH password.",
            check=_check_env_name),
    # [[imap]]
    Setting("imap", "host", str, REQUIRED,
            "IMAP server host name (required).", check=_check_not_empty,
            example="imap.example.com"),
    Setting("imap", "port", int, 993, "IMAP server port.", minimum=1, maximum=65535),
    Setting("imap", "tls", str, "ssl",
            "Connection security: ssl (implicit TLS), starttls or none.", choices=_TLS),
    Setting("imap", "username", str, REQUIRED,
            "Login name (required).", check=_check_not_empty,
            example="support@example.com"),
    Setting("imap", "password_env", str, "MAILDESK_IMAP_PASSWORD",
            "Name of the environment variable holding the password.",
            check=_check_env_name_required),
    Setting("imap", "folder", str, "INBOX",
            "Folder to fetch new mail from.", check=_check_not_empty),
    Setting("imap", "processed_folder", str, "Processed",
            "Folder to move fetched mail to; empty: flag it \\Seen and leave it."),
    Setting("imap", "poll_interval", int, 60,
            "Seconds between polls when the server does not support IDLE.", minimum=1),
    # [outbound]
    Setting("outbound", "mode", str, "maildir",
            "How replies are sent: maildir (write files) or smtp (relay).",
            choices=("maildir", "smtp")),
    Setting("outbound", "maildir", str, "var/outbox",
            "Maildir that outgoing messages are written to in maildir mode.", path=True),
    Setting("outbound", "host", str, "127.0.0.1", "SMTP relay host in smtp mode."),
    Setting("outbound", "port", int, 25, "SMTP relay port.", minimum=1, maximum=65535),
    Setting("outbound", "tls", str, "starttls",
            "Connection security: ssl (implicit TLS), starttls or none.", choices=_TLS),
    Setting("outbound", "username", str, "",
            "SMTP login name; empty: do not authenticate."),
    Setting("outbound", "password_env", str, "MAILDESK_SMTP_PASSWORD",
            "Name of the environment variable holding the SMTP password.",
            check=_check_env_name),
    Setting("outbound", "timeout", int, 30,
            "Seconds to wait for the relay before the attempt counts as failed.",
            minimum=1, maximum=600),
    Setting("outbound", "retry_base", int, 60,
            "Seconds before the first retry after a temporary failure; each further "
            "retry waits twice as long (with jitter).", minimum=1),
    Setting("outbound", "retry_max", int, 3600,
            "Longest wait in seconds between two retries.", minimum=1),
    Setting("outbound", "give_up_hours", int, 72,
            "Hours a mail is retried after temporary failures before it is marked failed.",
            minimum=1),
    Setting("outbound", "templates", str, "",
            "Folder with your own templates (mail/NAME.txt, mail/NAME.html, canned/NAME.txt) "
            "that replace the built-in ones of the same name; empty: built-in only.",
            path=True),
    Setting("outbound", "auto_limit_per_hour", int, 10,
            "Most automatic mails (acknowledgements, notices) to one customer address per "
            "hour, counting robot+1@ and robot+2@ as one address; further ones are held "
            "(outbox status 'held', noted in the ticket's log, sent only by `maildesk "
            "outbox retry ID`).", minimum=0),
    Setting("outbound", "auto_limit_per_domain_per_hour", int, 300,
            "Most automatic mails to the customer addresses of one domain per hour; further "
            "ones are held, as above. It stops a robot that answers from ever new addresses "
            "(a1@, a2@, ...: it sends this many in seconds) while a domain of real customers "
            "stays far below it (300 an hour is 7,200 a day from gmail.com alone); raise it "
            "if yours do not.", minimum=0),
    Setting("outbound", "show_agent_name", bool, True,
            "Relayed replies show the agent's name (\"Ann via Example Support\"); the "
            "agent's own address is never shown."),
    Setting("outbound", "notify_agents", bool, True,
            "Mail agents about new tickets and customer replies."),
    # [web]
    Setting("web", "enabled", bool, True, "Run the built-in web interface."),
    Setting("web", "host", str, "127.0.0.1",
            "Address the web interface listens on.", check=_check_not_empty),
    Setting("web", "port", int, 8080,
            "Port the web interface listens on (0: pick a free port).", minimum=0, maximum=65535),
    Setting("web", "secure_cookies", str, "auto",
            "Mark the sign-in cookie Secure: yes, no, or auto (yes when [desk] base_url is "
            "https).", choices=("auto", "yes", "no")),
    Setting("web", "session_hours", int, 12,
            "How long a web sign-in lasts.", minimum=1, maximum=24 * 90),
    Setting("web", "login_attempts", int, 5,
            "Password checks allowed in 15 minutes per client, and per address (a browser "
            "that signed in as that address before counts on its own instead).",
            minimum=1, maximum=1000),
    Setting("web", "submit_per_hour", int, 10,
            "New tickets one client (IP address) may open through /submit in an hour.",
            minimum=1, maximum=100000),
    Setting("web", "max_upload_size", int, 25 * 1024 * 1024,
            "Largest upload (attachments of a reply or of the /submit form), in bytes.",
            minimum=1024),
    Setting("web", "max_body_memory", int, 100 * 1024 * 1024,
            "Request bodies held in memory at once, all requests together, in bytes; a "
            "request beyond it gets 503 and Retry-After (one upload of max_upload_size "
            "always fits).", minimum=1024 * 1024),
    Setting("web", "page_size", int, 50,
            "Tickets per page of the queue.", minimum=5, maximum=500),
    Setting("web", "frame_ancestors", tuple, ("*",),
            "Sites that may show the /submit form in an iframe (CSP frame-ancestors "
            "sources; [] forbids it)."),
    Setting("web", "trusted_proxies", tuple, (),
            "Addresses of reverse proxies whose X-Forwarded-For names the client "
            "(for the per-client limits)."),
    # [security]
    Setting("security", "trusted_authserv_id", str, "",
            "authserv-id of your border mail server's Authentication-Results: agent mail "
            "passing DMARC (or aligned DKIM/SPF) there counts as the agent's. Empty: none "
            "is read, and agent mail counts only when sent to the agent's signed reply "
            "address (the Reply-To of their notifications) or made on the web or API.",
            check=_check_token),
    Setting("security", "trust_from_header", bool, False,
            "Take any mail whose From is an agent's address as that agent's. RISKY: From "
            "is trivially forged, so anyone could run #commands (#cc add themselves, "
            "#assign, #merge) and send the customer text in the agent's name. Only for "
            "a closed mail system that rejects forged agent addresses itself."),
    # [tickets]
    Setting("tickets", "priorities", tuple, ("low", "medium", "high", "urgent"),
            "Ticket priorities, lowest first (unique, at least one).",
            check=_check_priorities),
    Setting("tickets", "default_priority", str, "medium",
            "Priority of new tickets; must be one of priorities."),
    Setting("tickets", "reopen_days", int, 14,
            "A reply to a ticket closed at most this many days ago reopens it; "
            "later ones open a new ticket.", minimum=0),
    Setting("tickets", "max_new_per_sender_per_hour", int, 20,
            "Most new tickets one sender may open per hour, counting robot+1@ and robot+2@ "
            "as one sender; further mail from them is appended to their latest ticket "
            "instead (nothing is lost; no acknowledgement, agents not told).", minimum=1),
    Setting("tickets", "max_new_per_domain_per_hour", int, 300,
            "Over this many new tickets from one domain in an hour, further ones are still "
            "opened (each sender keeps a ticket of their own) but agents are not mailed "
            "about each of them (the ticket's log says why). Set as "
            "[outbound] auto_limit_per_domain_per_hour: a robot answering from ever new "
            "addresses reaches it in seconds, real customers of one domain do not.",
            minimum=1),
    # [logging]
    Setting("logging", "level", str, "info",
            "Log level: debug, info, warning or error.",
            choices=("debug", "info", "warning", "error")),
    # [daemon]
    Setting("daemon", "shutdown_timeout", int, 30,
            "Seconds `maildesk run` lets transfers in flight finish on SIGTERM/SIGINT "
            "before it closes them (their senders retry later).", minimum=1, maximum=3600),
    # [sla]
    Setting("sla", "enabled", bool, True,
            "Track SLA targets: due times, warnings, breaches and escalation."),
    Setting("sla", "timezone", str, "UTC",
            "IANA time zone of the business hours, holidays and digest_time "
            "(e.g. Europe/Berlin).", check=_check_not_empty),
    Setting("sla", "business_hours", tuple, ("mon-fri 09:00-17:00",),
            "When the SLA clock runs, local time: entries like \"mon-fri 09:00-17:00\", "
            "\"sat 10:00-14:00\", \"mon-fri 09:00-12:00 13:00-17:00\"; [\"24/7\"]: always."),
    Setting("sla", "holidays", tuple, (),
            "Local dates (YYYY-MM-DD) on which the clock does not run."),
    Setting("sla", "targets", tuple,
            ("urgent 1h 8h", "high 4h 24h", "medium 8h 72h", "low 24h 168h"),
            "Per priority: first-response and resolution target in business time "
            "(\"PRIORITY FIRST RESOLUTION\", units s m h d); a priority left out has no SLA."),
    Setting("sla", "warn_percent", int, 75,
            "Warn the assignee when this share of a target has elapsed.",
            minimum=1, maximum=99),
    Setting("sla", "escalation_addresses", tuple, (),
            "Who is told about a breach, besides the managers (agents with role manager)."),
    Setting("sla", "escalation_bump_priority", bool, False,
            "Raise a breached ticket's priority by one step (its targets follow)."),
    Setting("sla", "auto_close_days", int, 3,
            "Close resolved tickets after this many days without an answer (0: never).",
            minimum=0),
    Setting("sla", "digest_time", str, "08:00",
            "Local time (HH:MM, in timezone) the daily SLA digest goes to every manager; "
            "empty: no digest."),
    Setting("sla", "scan_interval", int, 60,
            "Seconds between the daemon's SLA passes (warnings, breaches, auto-close, digest).",
            minimum=1, maximum=3600),
    # [[sla_policy]]
    Setting("sla_policy", "category", str, REQUIRED,
            "The category this policy applies to (required).", check=_check_not_empty,
            example="billing"),
    Setting("sla_policy", "targets", tuple, (),
            "Targets for this category, as in [sla] targets; empty: those of [sla]."),
    Setting("sla_policy", "business_hours", tuple, (),
            "Business hours for this category, as in [sla]; empty: those of [sla]."),
    # [[rule]]
    Setting("rule", "name", str, "", "Name shown in the ticket's event log."),
    Setting("rule", "recipient", tuple, (),
            "Matches mail to any of these addresses (To, Cc or envelope)."),
    Setting("rule", "sender", tuple, (), "Matches mail from any of these addresses."),
    Setting("rule", "sender_domain", tuple, (),
            "Matches mail from these domains (and their subdomains)."),
    Setting("rule", "keyword", tuple, (),
            "Matches any of these words or phrases in the subject or body "
            "(case-insensitive, whole words)."),
    Setting("rule", "subject_only", bool, False, "Look for keywords in the subject only."),
    Setting("rule", "set_category", str, "", "Category to set."),
    Setting("rule", "set_priority", str, "", "Priority to set (one of [tickets] priorities)."),
    Setting("rule", "add_tags", tuple, (), "Tags to add."),
    Setting("rule", "stop", bool, False, "When this rule matches, skip the rules after it."),
    # [[category]]
    Setting("category", "name", str, REQUIRED, "Category name (required).",
            check=_check_not_empty, example="billing"),
    Setting("category", "agents", tuple, (),
            "Agents (addresses) who work this category: auto-assignment picks among them "
            "and SLA warnings go to them while nobody is assigned."),
    Setting("category", "assign", str, "none",
            "Auto-assign new tickets of this category: round_robin, least_open or none.",
            choices=("none", "round_robin", "least_open")),
)  # fmt: skip


# --------------------------------------------------------------------------
# Result dataclasses
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeskConfig:
    name: str
    ticket_prefix: str
    addresses: tuple[str, ...]
    base_url: str
    secret_key: str


@dataclass(frozen=True)
class DatabaseConfig:
    url: str


@dataclass(frozen=True)
class SmtpConfig:
    enabled: bool
    host: str
    port: int
    lmtp: bool
    max_message_size: int
    hostname: str
    tls_cert: str
    tls_key: str
    auth_username: str
    auth_password_env: str


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    tls: str
    username: str
    password_env: str
    folder: str
    processed_folder: str
    poll_interval: int


@dataclass(frozen=True)
class OutboundConfig:
    mode: str
    maildir: str
    host: str
    port: int
    tls: str
    username: str
    password_env: str
    timeout: int
    retry_base: int
    retry_max: int
    give_up_hours: int
    templates: str
    auto_limit_per_hour: int
    auto_limit_per_domain_per_hour: int
    show_agent_name: bool
    notify_agents: bool


@dataclass(frozen=True)
class WebConfig:
    enabled: bool
    host: str
    port: int
    secure_cookies: str
    session_hours: int
    login_attempts: int
    submit_per_hour: int
    max_upload_size: int
    max_body_memory: int
    page_size: int
    frame_ancestors: tuple[str, ...]
    trusted_proxies: tuple[str, ...]


@dataclass(frozen=True)
class SecurityConfig:
    trusted_authserv_id: str
    trust_from_header: bool


@dataclass(frozen=True)
class TicketsConfig:
    priorities: tuple[str, ...]
    default_priority: str
    reopen_days: int
    max_new_per_sender_per_hour: int
    max_new_per_domain_per_hour: int


@dataclass(frozen=True)
class LoggingConfig:
    level: str


@dataclass(frozen=True)
class DaemonConfig:
    shutdown_timeout: int


@dataclass(frozen=True)
class SlaConfig:
    enabled: bool
    timezone: str
    business_hours: tuple[str, ...]
    holidays: tuple[str, ...]
    targets: tuple[str, ...]
    warn_percent: int
    escalation_addresses: tuple[str, ...]
    escalation_bump_priority: bool
    auto_close_days: int
    digest_time: str
    scan_interval: int


@dataclass(frozen=True)
class SlaPolicyConfig:
    category: str
    targets: tuple[str, ...]
    business_hours: tuple[str, ...]


@dataclass(frozen=True)
class RuleConfig:
    name: str
    recipient: tuple[str, ...]
    sender: tuple[str, ...]
    sender_domain: tuple[str, ...]
    keyword: tuple[str, ...]
    subject_only: bool
    set_category: str
    set_priority: str
    add_tags: tuple[str, ...]
    stop: bool


@dataclass(frozen=True)
class CategoryConfig:
    name: str
    agents: tuple[str, ...]
    assign: str


@dataclass(frozen=True)
class Config:
    desk: DeskConfig
    database: DatabaseConfig
    smtp: SmtpConfig
    imap: tuple[ImapConfig, ...]
    outbound: OutboundConfig
    web: WebConfig
    security: SecurityConfig
    tickets: TicketsConfig
    logging: LoggingConfig
    daemon: DaemonConfig
    sla: SlaConfig
    sla_policy: tuple[SlaPolicyConfig, ...]
    rule: tuple[RuleConfig, ...]
    category: tuple[CategoryConfig, ...]
    path: Path | None  # the file it was read from; None when defaults only


@dataclass(frozen=True)
class Section:
    """A ``[section]`` (or ``[[section]]`` when ``array``) of the file."""

    name: str
    help: str
    cls: type[Any]  # the frozen dataclass built from the section's settings
    array: bool = False


SECTIONS: tuple[Section, ...] = (
    Section("desk", "The helpdesk itself.", DeskConfig),
    Section("database", "Where tickets and messages are stored.", DatabaseConfig),
    Section("smtp", "Built-in SMTP/LMTP receiver for incoming mail.", SmtpConfig),
    Section("imap", "IMAP mailboxes to fetch incoming mail from; repeat [[imap]] for "
            "each mailbox (default: none).", ImapConfig, array=True),
    Section("outbound", "How outgoing mail (replies, notifications) is sent.", OutboundConfig),
    Section("web", "Built-in web interface.", WebConfig),
    Section("security", "Trust decisions about incoming mail.", SecurityConfig),
    Section("tickets", "Ticket behaviour.", TicketsConfig),
    Section("logging", "Logging.", LoggingConfig),
    Section("daemon", "The long-running service (`maildesk run`).", DaemonConfig),
    Section("sla", "SLA targets, business hours, escalation, auto-close and the daily digest.",
            SlaConfig),
    Section("sla_policy", "Per-category SLA targets or business hours; repeat [[sla_policy]] "
            "for each category (default: none, [sla] applies).", SlaPolicyConfig, array=True),
    Section("rule", "Routing rules for new tickets, tried in order; repeat [[rule]] for each "
            "(default: none). A rule matches when all its conditions do.", RuleConfig,
            array=True),
    Section("category", "Categories with their agents and auto-assignment; repeat [[category]] "
            "for each (default: none).", CategoryConfig, array=True),
)  # fmt: skip


def _section(name: str) -> Section:
    for section in SECTIONS:
        if section.name == name:
            return section
    raise KeyError(name)


def _settings_of(section: str) -> tuple[Setting, ...]:
    return tuple(s for s in SETTINGS if s.section == section)


# --------------------------------------------------------------------------
# Paths and environment
# --------------------------------------------------------------------------


def resolve_config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """``--config`` if given, else ``$MAILDESK_CONFIG``, else ``./maildesk.toml``.

    Empty values count as not given.
    """
    if cli_value:
        return Path(cli_value).expanduser()
    from_env = environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    return DEFAULT_CONFIG_PATH


def read_environ(
    environ: Mapping[str, str] | None = None, dotenv_path: Path | None = None
) -> dict[str, str]:
    """The environment maildesk sees: ``environ`` merged over a ``.env`` file.

    ``environ`` None means ``os.environ`` and, when ``dotenv_path`` is None,
    ``./.env``.  With an explicit ``environ`` a ``.env`` file is read only when
    ``dotenv_path`` is given.  A missing ``.env`` file is ignored; real
    environment values always win over the file.
    """
    if environ is None:
        environ = os.environ
        if dotenv_path is None:
            dotenv_path = DEFAULT_DOTENV_PATH
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        for name, value in dotenv_values(dotenv_path).items():
            if value is not None:
                merged[name] = value
    merged.update(environ)
    return merged


def password_from_env(env_name: str, environ: Mapping[str, str]) -> str | None:
    """The password held in the variable named by a ``password_env`` key.

    None when ``env_name`` is empty or the variable is unset or empty.  Pass
    the environment from :func:`read_environ` so ``.env`` values count.
    """
    if not env_name:
        return None
    value = environ.get(env_name)
    return value or None


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def load_config(
    path: Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    dotenv_path: Path | None = None,
) -> Config:
    """Read, merge and validate the configuration; raise :class:`ConfigError`.

    ``path`` None, or the default ``maildesk.toml`` when it does not exist,
    gives the defaults (plus environment).  Any other path must exist.
    ``environ`` and ``dotenv_path`` are handled as in :func:`read_environ`.
    """
    env = read_environ(environ, dotenv_path)
    raw: dict[str, Any] = {}
    used_path: Path | None = None
    if path is not None and (path.exists() or path != DEFAULT_CONFIG_PATH):
        raw = _read_toml(path)
        used_path = path
    return _build(raw, env, used_path)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("config", f"file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError("config", f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError("config", f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("config", f"{path}: invalid TOML: not UTF-8 (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path}: invalid TOML: {exc}") from None


def _build(raw: Mapping[str, Any], env: Mapping[str, str], path: Path | None) -> Config:
    known = [s.name for s in SECTIONS]
    for name, value in raw.items():
        if name not in known:
            raise ConfigError(name, _unknown("section", name, known))
        section = _section(name)
        if section.array:
            if isinstance(value, dict):
                raise ConfigError(
                    name,
                    f"must be an array of tables: write [[{name}]] (double brackets) "
                    f"for each entry, not [{name}]",
                )
            if not isinstance(value, list):
                raise ConfigError(name, f"expected an array of tables, got {_describe(value)}")
        elif not isinstance(value, dict):
            raise ConfigError(name, f"expected a table [{name}], got {_describe(value)}")

    # Relative paths from the file (or defaults) are relative to the file's folder.
    base = None if path is None else path.parent.absolute()
    parts: dict[str, Any] = {}
    for section in SECTIONS:
        if section.array:
            entries: list[Any] = raw.get(section.name, [])
            items = []
            for index, entry in enumerate(entries):
                prefix = f"{section.name}[{index}]"
                if not isinstance(entry, dict):
                    raise ConfigError(prefix, f"expected a table, got {_describe(entry)}")
                items.append(_build_section(section, prefix, entry, {}))
            parts[section.name] = tuple(items)
        else:
            parts[section.name] = _build_section(
                section, section.name, raw.get(section.name, {}), env, base
            )
    config = Config(**parts, path=path)
    _check_config(config, env)
    return config


def _build_section(
    section: Section,
    prefix: str,
    table: Mapping[str, Any],
    env: Mapping[str, str],
    base: Path | None = None,
) -> Any:
    settings = _settings_of(section.name)
    names = [s.name for s in settings]
    for key in table:
        if key not in names:
            raise ConfigError(f"{prefix}.{key}", _unknown("key", key, names))
    values: dict[str, Any] = {}
    for setting in settings:
        key = f"{prefix}.{setting.name}"
        source = ""
        env_name = next((n for n in setting.env_names if n in env), None)
        if env_name is not None:
            source = f" (from environment variable {env_name})"
            try:
                value = _from_env(setting, env[env_name])
            except ValueError as exc:
                raise ConfigError(key, f"{exc}{source}") from None
        elif setting.name in table:
            try:
                value = _from_toml(setting, table[setting.name])
            except ValueError as exc:
                raise ConfigError(key, str(exc)) from None
        elif setting.required:
            raise ConfigError(key, "required")
        else:
            value = setting.default
        try:
            values[setting.name] = _validate(setting, value)
        except ValueError as exc:
            raise ConfigError(key, f"{exc}{source}") from None
        if setting.path and base is not None and not source:
            values[setting.name] = _absolute(values[setting.name], base)
    return section.cls(**values)


def _absolute(value: str, base: Path) -> str:
    """A path-like value made absolute against `base` (the config file's folder):
    a file or folder name, or the file of a sqlite:/// URL. Empty values (not set),
    absolute paths and other URLs are returned as they are."""
    prefix = "sqlite:///"
    if value.startswith(prefix):
        name = value[len(prefix) :]
        if name == ":memory:" or name.startswith("/"):
            return value
        return prefix + str(base / name)
    if not value or "://" in value:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def _unknown(what: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"unknown {what}; did you mean {close[0]!r}?" if close else f"unknown {what}"


_EXPECTED: Mapping[type, str] = MappingProxyType(
    {
        str: "a string",
        int: "an integer",
        bool: "a boolean (true or false)",
        tuple: "an array of strings",
    }
)
_ENV_TRUE = ("1", "true", "yes", "on")
_ENV_FALSE = ("0", "false", "no", "off")


def _from_toml(setting: Setting, value: object) -> object:
    kind = setting.type
    expected = f"expected {_EXPECTED[kind]}, got {_describe(value)}"
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(expected)
        return value
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(expected)
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(expected)
        return value
    if kind is tuple:
        if not isinstance(value, list):
            raise ValueError(expected)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise ValueError(f"expected an array of strings, item {index} is {_describe(item)}")
        return tuple(value)
    raise TypeError(f"unsupported setting type {kind!r}")  # pragma: no cover


def _from_env(setting: Setting, raw: str) -> object:
    kind = setting.type
    if kind is str:
        return raw
    if kind is int:
        try:
            return int(raw.strip(), 10)
        except ValueError:
            raise ValueError(f"expected an integer, got {_short(raw)}") from None
    if kind is bool:
        word = raw.strip().lower()
        if word in _ENV_TRUE:
            return True
        if word in _ENV_FALSE:
            return False
        raise ValueError(f"expected a boolean (1/0, true/false, yes/no, on/off), got {_short(raw)}")
    if kind is tuple:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    raise TypeError(f"unsupported setting type {kind!r}")  # pragma: no cover


def _validate(setting: Setting, value: Any) -> Any:
    if setting.choices is not None:
        canonical = value.lower()
        if canonical not in setting.choices:
            raise ValueError(f"must be one of {', '.join(setting.choices)}; got {_short(value)}")
        value = canonical
    if setting.minimum is not None and setting.maximum is not None:
        if not setting.minimum <= value <= setting.maximum:
            raise ValueError(
                f"must be between {setting.minimum} and {setting.maximum}, got {value}"
            )
    elif setting.minimum is not None and value < setting.minimum:
        raise ValueError(f"must be at least {setting.minimum}, got {value}")
    elif setting.maximum is not None and value > setting.maximum:
        raise ValueError(f"must be at most {setting.maximum}, got {value}")
    if setting.check is not None:
        value = setting.check(value)
    return value


def _env_source(setting_key: str, env: Mapping[str, str]) -> str:
    section, _, name = setting_key.partition(".")
    for setting in _settings_of(section):
        if setting.name == name:
            for env_name in setting.env_names:
                if env_name in env:
                    return f" (from environment variable {env_name})"
    return ""


def _check_config(config: Config, env: Mapping[str, str]) -> None:
    """Checks that involve more than one key."""
    tickets = config.tickets
    if tickets.default_priority not in tickets.priorities:
        raise ConfigError(
            "tickets.default_priority",
            f"must be one of the priorities ({', '.join(tickets.priorities)}), "
            f"got {_short(tickets.default_priority)}"
            + _env_source("tickets.default_priority", env),
        )
    outbound = config.outbound
    if outbound.mode == "smtp" and not outbound.host.strip():
        source = _env_source("outbound.host", env)
        raise ConfigError("outbound.host", f"must not be empty when mode is smtp{source}")
    if outbound.mode == "maildir" and not outbound.maildir.strip():
        source = _env_source("outbound.maildir", env)
        raise ConfigError("outbound.maildir", f"must not be empty when mode is maildir{source}")
    _check_smtp(config.smtp, env)
    seen: dict[tuple[str, int, str, str], int] = {}
    for index, mailbox in enumerate(config.imap):
        if mailbox.processed_folder == mailbox.folder:
            raise ConfigError(
                f"imap[{index}].processed_folder",
                "must differ from folder (use an empty string to only flag \\Seen)",
            )
        ident = (mailbox.host.lower(), mailbox.port, mailbox.username, mailbox.folder)
        if ident in seen:
            raise ConfigError(
                f"imap[{index}]",
                f"same host, port, username and folder as imap[{seen[ident]}]",
            )
        seen[ident] = index


def _check_smtp(smtp: SmtpConfig, env: Mapping[str, str]) -> None:
    if bool(smtp.tls_cert) != bool(smtp.tls_key):
        key = "smtp.tls_key" if smtp.tls_cert else "smtp.tls_cert"
        raise ConfigError(key, "set both tls_cert and tls_key, or neither" + _env_source(key, env))
    if smtp.auth_username and not smtp.tls_cert:
        raise ConfigError(
            "smtp.auth_username",
            "AUTH is offered only over STARTTLS: set tls_cert and tls_key too"
            + _env_source("smtp.auth_username", env),
        )


def security_warnings(config: Config) -> list[str]:
    """Settings that give up a promise of the design (invariant 5), one line each:
    `maildesk check-config` prints them and the daemon logs them at start and reload."""
    if config.security.trust_from_header:
        return [
            "[security] trust_from_header is on: any mail whose From is an agent's "
            "address acts as that agent (runs #commands, is relayed to the customer), "
            "and From is trivially forged"
        ]
    return []


# --------------------------------------------------------------------------
# Value display
# --------------------------------------------------------------------------


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _describe(value: object) -> str:
    """``string 'abc'``, ``integer 5``, ``boolean true``, ``table``... for errors."""
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        return f"string {_short(value)}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value!r}"
    if isinstance(value, list):
        return f"array of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "table"
    return f"{type(value).__name__} {value}"


# --------------------------------------------------------------------------
# Rendering the example / starter file
# --------------------------------------------------------------------------

_EXAMPLE_HEADER = """\
# maildesk.toml.example: every setting of maildesk with its default value.
#
# Generated from the settings table in maildesk/config.py (render_example());
# do not edit by hand.  Copy it to maildesk.toml (or point --config or
# $MAILDESK_CONFIG at your copy) and change what you need; keys you leave
# out keep the defaults shown here.
#
# Precedence, lowest first: default < this file < .env file < environment.
# Every key of a [section] can be overridden by MAILDESK_<SECTION>_<KEY>,
# e.g. MAILDESK_SMTP_PORT=2525; booleans accept 1/0, true/false, yes/no,
# on/off and lists are comma-separated.  [[imap]] mailboxes are read from
# this file only.
#
# Relative paths (the SQLite file, the outbox, templates, TLS files) are
# relative to the folder of this file; in environment variables, to the
# working directory."""

_STARTER_HEADER = """\
# maildesk.toml: configuration of this maildesk instance, written by
# `maildesk init`.  All settings are shown with their defaults; see
# maildesk.toml.example for the same text.
#
# Precedence, lowest first: default < this file < .env file < environment.
# Every key of a [section] can be overridden by MAILDESK_<SECTION>_<KEY>,
# e.g. MAILDESK_SMTP_PORT=2525; booleans accept 1/0, true/false, yes/no,
# on/off and lists are comma-separated.  [[imap]] mailboxes are read from
# this file only.
#
# Relative paths (the SQLite file, the outbox, templates, TLS files) are
# relative to the folder of this file; in environment variables, to the
# working directory."""


def render_example() -> str:
    """The full text of ``maildesk.toml.example``, generated from :data:`SETTINGS`."""
    return _render(_EXAMPLE_HEADER, {})


def render_starter(secret_key: str, data_dir: Path | None = None) -> str:
    """What ``maildesk init`` writes: the example with ``desk.secret_key`` set and,
    with ``data_dir``, the SQLite database and the outbox in that (absolute) folder."""
    overrides: dict[str, object] = {"desk.secret_key": secret_key}
    if data_dir is not None:
        overrides["database.url"] = f"sqlite:///{data_dir / 'maildesk.db'}"
        overrides["outbound.maildir"] = str(data_dir / "outbox")
    return _render(_STARTER_HEADER, overrides)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot render {value!r} as TOML")  # pragma: no cover


def _setting_notes(setting: Setting) -> str:
    notes: list[str] = []
    if setting.choices is not None:
        notes.append(f"One of: {', '.join(setting.choices)}.")
    if setting.env_names:
        notes.append(f"Environment: {' or '.join(setting.env_names)}.")
    return " ".join(notes)


def _render(header: str, overrides: Mapping[str, object]) -> str:
    lines: list[str] = [header]
    for section in SECTIONS:
        lines.append("")
        lines.append("")
        comment = "# " if section.array else ""
        lines.append(f"# {section.help}")
        if section.array:
            lines.append("# An example; remove the leading '# ' to use it:")
        lines.append(f"{comment}[[{section.name}]]" if section.array else f"[{section.name}]")
        for index, setting in enumerate(_settings_of(section.name)):
            if index:
                lines.append(comment.rstrip() if comment else "")
            lines.append(f"{comment}# {setting.help}")
            notes = _setting_notes(setting)
            if notes:
                lines.append(f"{comment}# {notes}")
            value = overrides.get(setting.key, setting.default)
            if value is REQUIRED:
                value = setting.example
            lines.append(f"{comment}{setting.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
