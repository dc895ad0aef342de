"""Value checks of single settings, named by the fields of `maildesk.settings.sections`.

Each takes a value of the right type and returns it normalised, or raises
`ValueError` with the message `maildesk.config` shows after the key's name.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from maildesk.core.addresses import plain_address
from maildesk.core.event_names import ALL, EVENTS

_PREFIX_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,9}")
_SLUG_RE = re.compile(r"[a-z][a-z0-9-]{0,31}", re.ASCII)
_FIELD_RE = re.compile(r"[a-z][a-z0-9_]{0,39}", re.ASCII)
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def short(value: object, limit: int = 60) -> str:
    """`repr(value)`, cut to fit an error line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def redact_url(url: str) -> str:
    """`url` with any password replaced by ***, fit to print."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def not_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def single_line(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("must be a single line")
    return value


def optional_line(value: str) -> str:
    return single_line(value) if value else value


def token(value: str) -> str:
    if any(ch.isspace() for ch in value):
        raise ValueError(f"must not contain whitespace, got {short(value)}")
    return value


def ticket_prefix(value: str) -> str:
    if not _PREFIX_RE.fullmatch(value):
        raise ValueError(
            f"must be 1-10 letters or digits starting with a letter, got {short(value)}"
        )
    return value.upper()


def slug(value: str) -> str:
    if not _SLUG_RE.fullmatch(value):
        raise ValueError(
            "must be 1-32 lower-case letters, digits or '-', starting with a letter, "
            f"got {short(value)}"
        )
    return value


def field_name(value: str) -> str:
    if not _FIELD_RE.fullmatch(value):
        raise ValueError(
            "must be 1-40 lower-case letters, digits or '_', starting with a letter, "
            f"got {short(value)}"
        )
    return value


def addresses(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("must list at least one e-mail address")
    result: list[str] = []
    for item in value:
        address = plain_address(item)
        if address is None:
            raise ValueError(f"not a valid e-mail address: {short(item)}")
        if address in result:
            raise ValueError(f"duplicate address: {short(item)}")
        result.append(address)
    return tuple(result)


def base_url(value: str) -> str:
    problem = f"must be an http:// or https:// URL, got {short(value)}"
    if any(ch.isspace() for ch in value):
        raise ValueError(problem)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(problem)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"invalid port in URL {short(value)}") from None
    if parts.query or parts.fragment:
        raise ValueError(f"must not contain a query or fragment, got {short(value)}")
    return value.rstrip("/")


def optional_base_url(value: str) -> str:
    return base_url(value) if value else value


def database_url(value: str) -> str:
    shown = short(redact_url(value))
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


def endpoint_url(value: str) -> str:
    """An optional http(s) URL (empty: the service's default)."""
    return base_url(value) if value else value


def env_name(value: str) -> str:
    if value and not _ENV_NAME_RE.fullmatch(value):
        raise ValueError(f"must be an environment variable name, got {short(value)}")
    return value


def env_name_required(value: str) -> str:
    if not value:
        raise ValueError("must name the environment variable holding the password")
    return env_name(value)


def priorities(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("must list at least one priority")
    result: list[str] = []
    for item in value:
        name = item.strip()
        if not name:
            raise ValueError("priority names must not be empty")
        if name in result:
            raise ValueError(f"duplicate priority: {short(name)}")
        result.append(name)
    return tuple(result)


def networks(value: tuple[str, ...]) -> tuple[str, ...]:
    """CIDR blocks (an address alone is its own block)."""
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"must be a network such as 10.0.0.0/8, got {short(item)}") from None
    return value


def webhook_url(value: str) -> str:
    """An http(s) URL with a host; a query is allowed (receivers often route by one)."""
    problem = f"must be an http:// or https:// URL, got {short(value)}"
    if not value or any(ch.isspace() for ch in value):
        raise ValueError(problem)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(problem)
    if parts.username or parts.password:
        raise ValueError("must not carry a user name or password (sign with the secret)")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"invalid port in URL {short(value)}") from None
    if parts.fragment:
        raise ValueError(f"must not contain a fragment, got {short(value)}")
    return value


def webhook_events(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError('must name at least one event, or "*"')
    for item in value:
        if item != ALL and item not in EVENTS:
            raise ValueError(f"unknown event {short(item)}; one of {', '.join(EVENTS)}, or *")
    return tuple(dict.fromkeys(value))
