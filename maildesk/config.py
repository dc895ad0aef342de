"""Configuration of maildesk: ``maildesk.toml`` + environment + ``.env``.

Where this sits: at the edge of the daemon.  The CLI (``maildesk.cli``) calls
:func:`resolve_config_path` and :func:`load_config` once at start-up and hands
the resulting frozen :class:`Config` to everything else; nothing below the CLI
reads files or the environment for settings.  ``maildesk init`` writes
:func:`render_starter`; the committed ``maildesk.toml.example`` is
:func:`render_example`.

Every key is declared once, as a field of a section class in
:mod:`maildesk.settings.sections` (pydantic dataclasses: type, default, one-line
help as ``description``, constraints).  The settings table :data:`SETTINGS`, the
environment overrides (``MAILDESK_<SECTION>_<KEY>`` plus explicit names), the
example file and the docs are derived from those fields, so a key cannot exist
without a default and a help line.  pydantic validates; :func:`load_config`
turns the first problem it reports into a one-line :class:`ConfigError` naming
the key.

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

import dataclasses
import difflib
import enum
import json
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from annotated_types import Ge, Le
from dotenv import dotenv_values
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticUndefined

from maildesk.settings.checks import redact_url
from maildesk.settings.checks import short as _short
from maildesk.settings.sections import (
    PATH,
    CategoryConfig,
    Config,
    DaemonConfig,
    DatabaseConfig,
    DeskConfig,
    DesksConfig,
    Env,
    FieldConfig,
    ImapConfig,
    KbConfig,
    LoggingConfig,
    OneOf,
    OutboundConfig,
    RuleConfig,
    SecurityConfig,
    SlaConfig,
    SlaPolicyConfig,
    SmtpConfig,
    StorageConfig,
    TicketsConfig,
    WebConfig,
    WebhookConfig,
    WebhooksConfig,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "REQUIRED",
    "SECTIONS",
    "SETTINGS",
    "CategoryConfig",
    "Config",
    "ConfigError",
    "DaemonConfig",
    "DatabaseConfig",
    "DeskConfig",
    "DesksConfig",
    "FieldConfig",
    "ImapConfig",
    "KbConfig",
    "LoggingConfig",
    "OutboundConfig",
    "RuleConfig",
    "Section",
    "SecurityConfig",
    "Setting",
    "SlaConfig",
    "SlaPolicyConfig",
    "SmtpConfig",
    "StorageConfig",
    "TicketsConfig",
    "WebConfig",
    "WebhookConfig",
    "WebhooksConfig",
    "load_config",
    "password_from_env",
    "read_environ",
    "redact_url",
    "render_example",
    "render_starter",
    "resolve_config_path",
    "security_warnings",
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
# The settings table, derived from the section classes
# --------------------------------------------------------------------------


class _Required(enum.Enum):
    REQUIRED = "required"

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required.REQUIRED
"""Default of a key that has no default and must be given (``imap.host``)."""


@dataclass(frozen=True)
class Section:
    """A ``[section]`` (or ``[[section]]`` when ``array``) of the file."""

    name: str
    help: str  # the class docstring, on one line
    cls: type[Any]  # the frozen pydantic dataclass declaring the section's keys
    array: bool = False


@dataclass(frozen=True)
class Setting:
    """One configuration key, as its field in the section class declares it.

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
    example: object = None  # shown in the example file for REQUIRED keys
    path: bool = False  # a file or folder (or a sqlite:/// URL), made absolute
    array: bool = False  # of a [[section]]: not read from the environment

    @property
    def key(self) -> str:
        """Dotted name, e.g. ``"smtp.port"``."""
        return f"{self.section}.{self.name}"

    @property
    def env_names(self) -> tuple[str, ...]:
        """Environment variables that override this key, highest priority first.

        Empty for keys of array sections (``[[imap]]``).
        """
        if self.array:
            return ()
        generic = f"{ENV_PREFIX}{self.section.upper()}_{self.name.upper()}"
        if self.env is None or self.env == generic:
            return (generic,)
        return (self.env, generic)


def _sections() -> tuple[Section, ...]:
    hints = typing.get_type_hints(Config)
    sections = []
    for field in dataclasses.fields(Config):
        if field.name == "path":
            continue
        hint = hints[field.name]
        array = typing.get_origin(hint) is tuple
        cls = typing.get_args(hint)[0] if array else hint
        sections.append(Section(field.name, " ".join(cls.__doc__.split()), cls, array))
    return tuple(sections)


def _setting(section: Section, name: str, field: FieldInfo) -> Setting:
    def marker(kind: type) -> Any:
        """The field's annotation marker of this kind, or None."""
        return next((m for m in field.metadata if isinstance(m, kind)), None)

    env, one_of, ge, le = marker(Env), marker(OneOf), marker(Ge), marker(Le)
    return Setting(
        section=section.name,
        name=name,
        type=_kind(field.annotation),
        default=REQUIRED if field.default is PydanticUndefined else field.default,
        help=field.description or "",
        env=None if env is None else env.name,
        choices=None if one_of is None else one_of.choices,
        minimum=None if ge is None else ge.ge,
        maximum=None if le is None else le.le,
        example=field.examples[0] if field.examples else None,
        path=PATH in field.metadata,
        array=section.array,
    )


def _kind(annotation: Any) -> type:
    """str, int, bool or tuple: what a field's value is written as in TOML."""
    origin = typing.get_origin(annotation) or annotation
    return str if issubclass(origin, str) else origin


SECTIONS: tuple[Section, ...] = _sections()

SETTINGS: tuple[Setting, ...] = tuple(
    _setting(section, name, field)
    for section in SECTIONS
    for name, field in section.cls.__pydantic_fields__.items()
)


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
                items.append(_build_section(section, prefix, entry, {}, base))
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
    """One section's values (environment over file over default), validated by its class.

    Raises ConfigError for the first key in declaration order that has a problem."""
    settings = _settings_of(section.name)
    names = [s.name for s in settings]
    for key in table:
        if key not in names:
            raise ConfigError(f"{prefix}.{key}", _unknown("key", key, names))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}  # key -> " (from environment variable NAME)"
    problems: dict[str, str] = {}  # key -> message
    for setting in settings:
        env_name = next((n for n in setting.env_names if n in env), None)
        if env_name is not None:
            sources[setting.name] = f" (from environment variable {env_name})"
            try:
                values[setting.name] = _from_env(setting, env[env_name])
            except ValueError as exc:
                problems[setting.name] = str(exc)
        elif setting.name in table:
            value = table[setting.name]
            values[setting.name] = tuple(value) if isinstance(value, list) else value
    context = {"base": base, "from_env": frozenset(sources)}
    result = None
    try:
        result = TypeAdapter(section.cls).validate_python(values, context=context)
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0])
            problems.setdefault(name, _message(_named(settings, name), error))
    for setting in settings:  # the first problem in the order of the declarations
        if setting.name in problems:
            message = problems[setting.name] + sources.get(setting.name, "")
            raise ConfigError(f"{prefix}.{setting.name}", message)
    return result


def _named(settings: tuple[Setting, ...], name: str) -> Setting:
    return next(s for s in settings if s.name == name)


def _message(setting: Setting, error: ErrorDetails) -> str:
    """pydantic's report of one problem as our one-line message (without the key)."""
    kind, value = error["type"], error["input"]
    if kind == "missing":
        return "required"
    if kind == "value_error":  # a check (or OneOf) raised ValueError(message)
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind in ("greater_than_equal", "less_than_equal"):
        return _out_of_range(setting, value)
    if len(error["loc"]) > 1:  # an item of an array
        return f"expected an array of strings, item {error['loc'][1]} is {_describe(value)}"
    return f"expected {_EXPECTED[setting.type]}, got {_describe(value)}"


def _out_of_range(setting: Setting, value: int) -> str:
    if setting.minimum is not None and setting.maximum is not None:
        return f"must be between {setting.minimum} and {setting.maximum}, got {value}"
    if setting.minimum is not None:
        return f"must be at least {setting.minimum}, got {value}"
    return f"must be at most {setting.maximum}, got {value}"


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


def _env_source(setting_key: str, env: Mapping[str, str]) -> str:
    section, _, name = setting_key.partition(".")
    for setting in _settings_of(section):
        if setting.name == name:
            for env_name in setting.env_names:
                if env_name in env:
                    return f" (from environment variable {env_name})"
    return ""


def _check_storage(storage: StorageConfig, env: Mapping[str, str]) -> None:
    """The chosen backend names its place."""
    needed = {"filesystem": ("path",), "s3": ("bucket",)}.get(storage.backend, ())
    for key in needed:
        if not getattr(storage, key).strip():
            source = _env_source(f"storage.{key}", env)
            raise ConfigError(
                f"storage.{key}", f'must not be empty when backend is "{storage.backend}"{source}'
            )


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
    _check_storage(config.storage, env)
    _check_desks(config)
    _check_fields(config)
    _check_webhooks(config)
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


def _check_desks(config: Config) -> None:
    """Every desk's slug, prefix and addresses are its own; whatever names a desk names
    one that exists."""
    slugs: dict[str, int] = {}
    prefixes: dict[str, int] = {}
    addresses: dict[str, int] = {}
    for index, desk in enumerate(config.desks):
        where = f"desks[{index}]"
        if desk.slug in slugs:
            raise ConfigError(
                f"{where}.slug", f"{desk.slug!r} is already desks[{slugs[desk.slug]}]"
            )
        slugs[desk.slug] = index
        if desk.ticket_prefix in prefixes:
            raise ConfigError(
                f"{where}.ticket_prefix",
                f"{desk.ticket_prefix!r} is already the prefix of "
                f"desks[{prefixes[desk.ticket_prefix]}]",
            )
        prefixes[desk.ticket_prefix] = index
        for address in desk.addresses:
            if address in addresses:
                raise ConfigError(
                    f"{where}.addresses",
                    f"{address} is already an address of desks[{addresses[address]}]",
                )
            addresses[address] = index
    known = list(slugs) or ["default"]
    for index, mailbox in enumerate(config.imap):
        if mailbox.desk and mailbox.desk not in known:
            raise ConfigError(
                f"imap[{index}].desk", _unknown(f"desk {mailbox.desk!r}", mailbox.desk, known)
            )
    for section in ("rule", "category", "sla_policy", "field"):
        for index, entry in enumerate(getattr(config, section)):
            for slug in entry.desks:
                if slug not in known:
                    raise ConfigError(
                        f"{section}[{index}].desks", _unknown(f"desk {slug!r}", slug, known)
                    )


def _check_webhooks(config: Config) -> None:
    """Each [[webhook]] is known by its name (or URL) alone, and names a desk that exists."""
    known = [desk.slug for desk in config.desks] or ["default"]
    seen: dict[str, int] = {}
    for index, hook in enumerate(config.webhook):
        where = f"webhook[{index}]"
        key = hook.name or hook.url
        if key in seen:
            raise ConfigError(
                f"{where}.name" if hook.name else f"{where}.url",
                f"{key!r} is already webhook[{seen[key]}]; give each a name of its own",
            )
        seen[key] = index
        if hook.desk and hook.desk not in known:
            raise ConfigError(f"{where}.desk", _unknown(f"desk {hook.desk!r}", hook.desk, known))


# Names a ticket's own keys have (JSON, CSV columns): no custom field takes one.
_TICKET_KEYS = frozenset(
    {
        "number", "subject", "status", "priority", "category", "tags", "requester",
        "assignee", "cc", "desk", "created_at", "updated_at", "first_response_at",
        "resolved_at", "closed_at", "sla_breached", "fields",
    }
)  # fmt: skip


# What only a ticket's fields can have: categories, and the /submit form and status page.
_TICKET_ONLY = ("categories", "submit", "required", "public")


def _check_fields(config: Config) -> None:
    """Names unique per record; types, options and links consistent; the ticket-only
    keys on ticket fields only."""
    seen: dict[tuple[str, str], int] = {}
    for index, field in enumerate(config.field):
        where = f"field[{index}]"
        if field.record == "ticket" and field.name in _TICKET_KEYS:
            raise ConfigError(f"{where}.name", f"{field.name!r} is a ticket's own; choose another")
        if (field.record, field.name) in seen:
            raise ConfigError(
                f"{where}.name",
                f"{field.name!r} is already field[{seen[field.record, field.name]}] "
                f"of the {field.record} records",
            )
        seen[field.record, field.name] = index
        if field.record != "ticket":
            for key in _TICKET_ONLY:
                if getattr(field, key):
                    raise ConfigError(
                        f"{where}.{key}",
                        f"only ticket fields have {key}; this is a {field.record} field",
                    )
        if field.type in ("select", "multiselect"):
            if not field.options:
                raise ConfigError(f"{where}.options", f"a {field.type} field needs options")
            if len(set(field.options)) != len(field.options):
                raise ConfigError(f"{where}.options", "lists an option twice")
            if field.type == "multiselect" and any("," in o for o in field.options):
                raise ConfigError(f"{where}.options", "a multiselect's options have no commas")
        elif field.options:
            raise ConfigError(f"{where}.options", "only select and multiselect fields have options")
        if field.type == "link":
            if field.link_template.count("{value}") != 1 or not field.link_template.startswith(
                ("http://", "https://")
            ):
                raise ConfigError(
                    f"{where}.link_template",
                    "a link field needs an http(s) URL with {value} once, e.g. "
                    '"https://crm.example.com/orders/{value}"',
                )
        elif field.link_template:
            raise ConfigError(f"{where}.link_template", "only link fields have a link_template")
        if field.required and not field.submit:
            raise ConfigError(
                f"{where}.required", "only fields the form asks for (submit) can be required"
            )


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
    if isinstance(value, list | tuple):  # a TOML array (the loader makes it a tuple)
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
    """What ``maildesk init`` writes: the example with ``desk.secret_key`` set, the
    /submit form's proof of work on (``web.submit_pow_bits``) and, with ``data_dir``,
    the SQLite database and the outbox in that (absolute) folder."""
    overrides: dict[str, object] = {"desk.secret_key": secret_key, "web.submit_pow_bits": 16}
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
