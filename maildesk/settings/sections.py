"""Every key of ``maildesk.toml``, declared once: one frozen dataclass per section.

Where this sits: :mod:`maildesk.config` validates the file and the environment
into these classes (pydantic dataclasses) and hands the frozen result down.
Each field carries its type, its default (none: the key is required), its
one-line help (``description``) and its constraints; the settings table, the
example file, the environment variable names and the JSON schema are all
derived from them.  A section's help is its class docstring.

Field annotations use the strict types below (TOML is typed: ``port = "25"`` is
an error, not 25) plus these markers: ``Field(ge=, le=)`` bounds,
``AfterValidator(checks.X)`` a value check, :class:`OneOf` a choice
(case-insensitive), :class:`Env` an environment variable besides
``MAILDESK_<SECTION>_<KEY>``, :data:`PATH` a file or folder made absolute
against the config file's folder.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass as plain_dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, GetCoreSchemaHandler, Strict
from pydantic.dataclasses import dataclass
from pydantic_core import core_schema

from maildesk.core.event_names import EVENTS
from maildesk.core.routing import Strategy
from maildesk.settings import checks

Text = Annotated[str, Strict()]
Int = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
Strings = tuple[Text, ...]  # a TOML array of strings; comma-separated in the environment

SECTION = ConfigDict(validate_default=True)


@plain_dataclass(frozen=True)
class Env:
    """An environment variable that sets this key, before ``MAILDESK_<SECTION>_<KEY>``."""

    name: str


@plain_dataclass(frozen=True)
class OneOf:
    """The value must be one of `choices`, compared lower-case (and stored so; as the
    member of the field's type when that is a string enum)."""

    choices: tuple[str, ...]

    def __init__(self, *choices: str) -> None:
        object.__setattr__(self, "choices", choices)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        if isinstance(source, type) and issubclass(source, enum.Enum):  # a string enum
            return core_schema.no_info_after_validator_function(
                lambda value: source(self._check(value)), core_schema.str_schema(strict=True)
            )
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(schema), "enum": list(self.choices)}

    def _check(self, value: str) -> str:
        if value.lower() not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}; got {checks.short(value)}")
        return value.lower()


@plain_dataclass(frozen=True)
class PathLike:
    """A file or folder (or the file of a ``sqlite:///`` URL).

    When the loader passes ``context={"base": folder, "from_env": names}``, a
    relative value not taken from the environment is made absolute against
    ``folder``: paths in the file are relative to the file, so a command finds
    the same files from any working directory.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_after_validator_function(self._absolute, handler(source))

    def _absolute(self, value: str, info: core_schema.ValidationInfo) -> str:
        context: Mapping[str, Any] = info.context or {}
        base = context.get("base")
        if base is None or info.field_name in context.get("from_env", ()):
            return value
        return absolute(value, base)


PATH = PathLike()


def absolute(value: str, base: Path) -> str:
    """A path-like value made absolute against `base`: a file or folder name, or the
    file of a sqlite:/// URL. Empty values (not set), absolute paths and other URLs
    are returned as they are."""
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


@dataclass(frozen=True, config=SECTION)
class DeskConfig:
    """The helpdesk itself."""

    name: Annotated[Text, AfterValidator(checks.single_line)] = Field(
        "Example Support",
        description="Display name of the helpdesk, used in outgoing mail and the web UI.",
    )
    ticket_prefix: Annotated[Text, AfterValidator(checks.ticket_prefix)] = Field(
        "SUP",
        description=(
            "Ticket reference prefix (1-10 letters/digits, starts with a letter; stored "
            "upper-case)."
        ),
    )
    addresses: Annotated[Strings, AfterValidator(checks.addresses)] = Field(
        ("support@example.com",),
        description="Addresses customers write to (at least one; compared lower-case).",
    )
    base_url: Annotated[Text, AfterValidator(checks.base_url)] = Field(
        "http://127.0.0.1:8080",
        description="Public http(s) URL of the web interface, used in links (trailing / dropped).",
    )
    secret_key: Annotated[Text, Env("MAILDESK_SECRET_KEY")] = Field(
        "", description="Signing key; empty: maildesk generates one and keeps it in its database."
    )


@dataclass(frozen=True, config=SECTION)
class DesksConfig:
    """Several desks in one instance, each with its own name, addresses and ticket
    prefix; repeat [[desks]] for each (default: none, [desk] is the only desk). The
    first is the default desk: it takes mail that came to no desk's address."""

    slug: Annotated[Text, AfterValidator(checks.slug)] = Field(
        description="Short name of the desk in URLs, commands and rules (required).",
        examples=["billing"],
    )
    name: Annotated[Text, AfterValidator(checks.single_line)] = Field(
        description="Display name of the desk in its mail and pages (required).",
        examples=["Example Billing"],
    )
    ticket_prefix: Annotated[Text, AfterValidator(checks.ticket_prefix)] = Field(
        description="Prefix of this desk's ticket references (required; as [desk] ticket_prefix).",
        examples=["BIL"],
    )
    addresses: Annotated[Strings, AfterValidator(checks.addresses)] = Field(
        description="Addresses customers write to for this desk (required; each desk its own).",
        examples=[("billing@example.com",)],
    )
    base_url: Annotated[Text, AfterValidator(checks.optional_base_url)] = Field(
        "", description="Public URL of this desk's web pages in its mail; empty: [desk] base_url."
    )
    templates: Annotated[Text, PATH] = Field(
        "", description="Folder of this desk's own templates; empty: [outbound] templates."
    )
    signature: Text = Field(
        "",
        description="Text under the desk's mail to customers (templates: desk.signature).",
    )


@dataclass(frozen=True, config=SECTION)
class DatabaseConfig:
    """Where tickets and messages are stored."""

    url: Annotated[
        Text, AfterValidator(checks.database_url), Env("MAILDESK_DATABASE_URL"), PATH
    ] = Field(
        "sqlite:///var/maildesk.db",
        description=(
            "sqlite:///relative/path (to this file's folder), sqlite:////absolute/path or "
            "postgresql://user[:pw]@host[:port]/db."
        ),
    )


@dataclass(frozen=True, config=SECTION)
class StorageConfig:
    """Where raw mail and attachment bytes are kept (`maildesk storage migrate` moves them)."""

    backend: Annotated[Text, OneOf("database", "filesystem", "s3")] = Field(
        "database",
        description=(
            "Where new bytes go: database (in the database), filesystem (files under path, "
            "fsynced before the 250) or s3 (an S3-compatible bucket)."
        ),
    )
    path: Annotated[Text, PATH] = Field(
        "", description="Folder of the filesystem backend (the same one for every instance)."
    )
    endpoint: Annotated[Text, AfterValidator(checks.endpoint_url)] = Field(
        "",
        description="URL of the S3-compatible service (http(s)://host[:port]); empty: AWS S3.",
    )
    bucket: Text = Field("", description="Bucket of the s3 backend (it must exist).")
    region: Text = Field("us-east-1", description="Region of the s3 backend.")
    prefix: Text = Field("", description='Prefix of the object names, e.g. "maildesk/".')
    access_key_id_env: Annotated[Text, AfterValidator(checks.env_name)] = Field(
        "AWS_ACCESS_KEY_ID",
        description="Name of the environment variable holding the S3 access key id.",
    )
    secret_access_key_env: Annotated[Text, AfterValidator(checks.env_name)] = Field(
        "AWS_SECRET_ACCESS_KEY",
        description="Name of the environment variable holding the S3 secret access key.",
    )


@dataclass(frozen=True, config=SECTION)
class SmtpConfig:
    """Built-in SMTP/LMTP receiver for incoming mail."""

    enabled: Flag = Field(
        True, description="Run the built-in SMTP/LMTP receiver for incoming mail."
    )
    host: Annotated[Text, AfterValidator(checks.not_empty)] = Field(
        "127.0.0.1", description="Address the receiver listens on."
    )
    port: Annotated[Int, Field(ge=0, le=65535)] = Field(
        2525, description="Port the receiver listens on (0: pick a free port)."
    )
    lmtp: Flag = Field(
        False, description="Speak LMTP instead of SMTP (for delivery from a local MTA)."
    )
    max_message_size: Annotated[Int, Field(ge=1)] = Field(
        26214400, description="Largest accepted message in bytes."
    )
    hostname: Annotated[Text, AfterValidator(checks.token)] = Field(
        "", description="Name the receiver greets with; empty: this machine's host name."
    )
    tls_cert: Annotated[Text, PATH] = Field(
        "", description="PEM certificate (chain) file offered with STARTTLS; empty: no STARTTLS."
    )
    tls_key: Annotated[Text, PATH] = Field(
        "", description="PEM private key file of tls_cert (set both or neither)."
    )
    auth_username: Annotated[Text, AfterValidator(checks.token)] = Field(
        "",
        description=(
            "Require SMTP AUTH (PLAIN/LOGIN, only after STARTTLS) with this user name; empty: no "
            "AUTH."
        ),
    )
    auth_password_env: Annotated[Text, AfterValidator(checks.env_name)] = Field(
        "MAILDESK_SMTP_AUTH_PASSWORD",
        description="Name of the environment variable holding the SMTP AUTH password.",
    )


@dataclass(frozen=True, config=SECTION)
class ImapConfig:
    """IMAP mailboxes to fetch incoming mail from; repeat [[imap]] for each mailbox
    (default: none)."""

    host: Annotated[Text, AfterValidator(checks.not_empty)] = Field(
        description="IMAP server host name (required).", examples=["imap.example.com"]
    )
    port: Annotated[Int, Field(ge=1, le=65535)] = Field(993, description="IMAP server port.")
    tls: Annotated[Text, OneOf("ssl", "starttls", "none")] = Field(
        "ssl", description="Connection security: ssl (implicit TLS), starttls or none."
    )
    username: Annotated[Text, AfterValidator(checks.not_empty)] = Field(
        description="Login name (required).", examples=["support@example.com"]
    )
    password_env: Annotated[Text, AfterValidator(checks.env_name_required)] = Field(
        "MAILDESK_IMAP_PASSWORD",
        description="Name of the environment variable holding the password.",
    )
    folder: Annotated[Text, AfterValidator(checks.not_empty)] = Field(
        "INBOX", description="Folder to fetch new mail from."
    )
    processed_folder: Text = Field(
        "Processed",
        description="Folder to move fetched mail to; empty: flag it \\Seen and leave it.",
    )
    poll_interval: Annotated[Int, Field(ge=1)] = Field(
        60, description="Seconds between polls when the server does not support IDLE."
    )
    desk: Text = Field(
        "",
        description=(
            "The desk (slug) this mailbox's mail is for, as if delivered to its first address; "
            "empty: the addresses in To and Cc decide."
        ),
    )


@dataclass(frozen=True, config=SECTION)
class OutboundConfig:
    """How outgoing mail (replies, notifications) is sent."""

    mode: Annotated[Text, OneOf("maildir", "smtp")] = Field(
        "maildir", description="How replies are sent: maildir (write files) or smtp (relay)."
    )
    maildir: Annotated[Text, PATH] = Field(
        "var/outbox", description="Maildir that outgoing messages are written to in maildir mode."
    )
    host: Text = Field("127.0.0.1", description="SMTP relay host in smtp mode.")
    port: Annotated[Int, Field(ge=1, le=65535)] = Field(25, description="SMTP relay port.")
    tls: Annotated[Text, OneOf("ssl", "starttls", "none")] = Field(
        "starttls", description="Connection security: ssl (implicit TLS), starttls or none."
    )
    username: Text = Field("", description="SMTP login name; empty: do not authenticate.")
    password_env: Annotated[Text, AfterValidator(checks.env_name)] = Field(
        "MAILDESK_SMTP_PASSWORD",
        description="Name of the environment variable holding the SMTP password.",
    )
    timeout: Annotated[Int, Field(ge=1, le=600)] = Field(
        30, description="Seconds to wait for the relay before the attempt counts as failed."
    )
    retry_base: Annotated[Int, Field(ge=1)] = Field(
        60,
        description=(
            "Seconds before the first retry after a temporary failure; each further retry waits "
            "twice as long (with jitter)."
        ),
    )
    retry_max: Annotated[Int, Field(ge=1)] = Field(
        3600, description="Longest wait in seconds between two retries."
    )
    give_up_hours: Annotated[Int, Field(ge=1)] = Field(
        72,
        description="Hours a mail is retried after temporary failures before it is marked failed.",
    )
    templates: Annotated[Text, PATH] = Field(
        "",
        description=(
            "Folder with your own templates (mail/NAME.txt, mail/NAME.html, canned/NAME.txt) that "
            "replace the built-in ones of the same name; empty: built-in only."
        ),
    )
    auto_limit_per_hour: Annotated[Int, Field(ge=0)] = Field(
        10,
        description=(
            "Most automatic mails (acknowledgements, notices) to one customer address per hour, "
            "counting robot+1@ and robot+2@ as one address; further ones are held (outbox status "
            "'held', noted in the ticket's log, sent only by `maildesk outbox retry ID`)."
        ),
    )
    auto_limit_per_domain_per_hour: Annotated[Int, Field(ge=0)] = Field(
        300,
        description=(
            "Most automatic mails to the customer addresses of one domain per hour; further ones "
            "are held, as above. It stops a robot that answers from ever new addresses (a1@, a2@, "
            "...: it sends this many in seconds) while a domain of real customers stays far below "
            "it (300 an hour is 7,200 a day from gmail.com alone); raise it if yours do not."
        ),
    )
    show_agent_name: Flag = Field(
        True,
        description=(
            "Relayed replies show the agent's name (\"Ann via Example Support\"); the agent's own "
            "address is never shown."
        ),
    )
    notify_agents: Flag = Field(
        True, description="Mail agents about new tickets and customer replies."
    )


@dataclass(frozen=True, config=SECTION)
class WebConfig:
    """Built-in web interface."""

    enabled: Flag = Field(True, description="Run the built-in web interface.")
    host: Annotated[Text, AfterValidator(checks.not_empty)] = Field(
        "127.0.0.1", description="Address the web interface listens on."
    )
    port: Annotated[Int, Field(ge=0, le=65535)] = Field(
        8080, description="Port the web interface listens on (0: pick a free port)."
    )
    secure_cookies: Annotated[Text, OneOf("auto", "yes", "no")] = Field(
        "auto",
        description=(
            "Mark the sign-in cookie Secure: yes, no, or auto (yes when [desk] base_url is https)."
        ),
    )
    session_hours: Annotated[Int, Field(ge=1, le=24 * 90)] = Field(
        12, description="How long a web sign-in lasts."
    )
    login_attempts: Annotated[Int, Field(ge=1, le=1000)] = Field(
        5,
        description=(
            "Password checks allowed in 15 minutes per client, and per address (a browser that "
            "signed in as that address before counts on its own instead)."
        ),
    )
    submit_per_hour: Annotated[Int, Field(ge=1, le=100000)] = Field(
        10, description="New tickets one client (IP address) may open through /submit in an hour."
    )
    submit_pow_bits: Annotated[Int, Field(ge=0, le=24)] = Field(
        0,
        description=(
            "Proof of work asked of the /submit form: leading zero bits of a SHA-256 the "
            "browser finds (each bit doubles the work; 16 takes well under a second; 0: off, "
            "and the form works without JavaScript). `maildesk init` writes 16; off by "
            "default so that scripts posting to /submit keep working until they solve it."
        ),
    )
    max_upload_size: Annotated[Int, Field(ge=1024)] = Field(
        25 * 1024 * 1024,
        description="Largest upload (attachments of a reply or of the /submit form), in bytes.",
    )
    max_body_memory: Annotated[Int, Field(ge=1024 * 1024)] = Field(
        100 * 1024 * 1024,
        description=(
            "Request bodies held in memory at once, all requests together, in bytes; a request "
            "beyond it gets 503 and Retry-After (one upload of max_upload_size always fits)."
        ),
    )
    page_size: Annotated[Int, Field(ge=5, le=500)] = Field(
        50, description="Tickets per page of the queue."
    )
    frame_ancestors: Strings = Field(
        ("*",),
        description=(
            "Sites that may show the /submit form in an iframe (CSP frame-ancestors sources; [] "
            "forbids it)."
        ),
    )
    trusted_proxies: Strings = Field(
        (),
        description=(
            "Addresses of reverse proxies whose X-Forwarded-For names the client (for the "
            "per-client limits)."
        ),
    )
    portal_link_minutes: Annotated[Int, Field(ge=1, le=24 * 60)] = Field(
        15, description="How long a customer's sign-in link to /portal works (it works once)."
    )
    portal_session_hours: Annotated[Int, Field(ge=1, le=24 * 90)] = Field(
        24 * 7, description="How long a customer's sign-in to /portal lasts."
    )
    portal_links_per_hour: Annotated[Int, Field(ge=1, le=1000)] = Field(
        3, description="Sign-in links to /portal one address may ask for in an hour."
    )
    portal_requests_per_hour: Annotated[Int, Field(ge=1, le=100000)] = Field(
        20,
        description=(
            "Sign-in links to /portal one client (IP address) may ask for in an hour, for any "
            "addresses."
        ),
    )


@dataclass(frozen=True, config=SECTION)
class SecurityConfig:
    """Trust decisions about incoming mail."""

    trusted_authserv_id: Annotated[Text, AfterValidator(checks.token)] = Field(
        "",
        description=(
            "authserv-id of your border mail server's Authentication-Results: agent mail passing "
            "DMARC (or aligned DKIM/SPF) there counts as the agent's. Empty: none is read, and "
            "agent mail counts only when sent to the agent's signed reply address (the Reply-To of "
            "their notifications) or made on the web or API."
        ),
    )
    trust_from_header: Flag = Field(
        False,
        description=(
            "Take any mail whose From is an agent's address as that agent's. RISKY: From is "
            "trivially forged, so anyone could run #commands (#cc add themselves, #assign, #merge) "
            "and send the customer text in the agent's name. Only for a closed mail system that "
            "rejects forged agent addresses itself."
        ),
    )


@dataclass(frozen=True, config=SECTION)
class TicketsConfig:
    """Ticket behaviour."""

    priorities: Annotated[Strings, AfterValidator(checks.priorities)] = Field(
        ("low", "medium", "high", "urgent"),
        description="Ticket priorities, lowest first (unique, at least one).",
    )
    default_priority: Text = Field(
        "medium", description="Priority of new tickets; must be one of priorities."
    )
    numbering: Annotated[Text, OneOf("shared", "desk")] = Field(
        "shared",
        description=(
            "Ticket numbers: shared (one sequence for every desk: IT-00041, HR-00042) or desk (one "
            "sequence per desk: IT-00001 and HR-00001 are two tickets). Labels written with any "
            "desk's prefix are recognised either way."
        ),
    )
    reopen_days: Annotated[Int, Field(ge=0)] = Field(
        14,
        description=(
            "A reply to a ticket closed at most this many days ago reopens it; later ones open a "
            "new ticket."
        ),
    )
    rating_delay_hours: Annotated[Int, Field(ge=0)] = Field(
        0,
        description=(
            "Ask the satisfaction question this many hours after the resolution, in a mail "
            "of its own sent once by the jobs (24 is recommended); 0 asks it in the resolved "
            "notice."
        ),
    )
    max_new_per_sender_per_hour: Annotated[Int, Field(ge=1)] = Field(
        20,
        description=(
            "Most new tickets one sender may open per hour, counting robot+1@ and robot+2@ as one "
            "sender; further mail from them is appended to their latest ticket instead (nothing is "
            "lost; no acknowledgement, agents not told)."
        ),
    )
    max_new_per_domain_per_hour: Annotated[Int, Field(ge=1)] = Field(
        300,
        description=(
            "Over this many new tickets from one domain in an hour, further ones are still opened "
            "(each sender keeps a ticket of their own) but agents are not mailed about each of them"
            " (the ticket's log says why). Set as [outbound] auto_limit_per_domain_per_hour: a "
            "robot answering from ever new addresses reaches it in seconds, real customers of one "
            "domain do not."
        ),
    )


@dataclass(frozen=True, config=SECTION)
class LoggingConfig:
    """Logging."""

    level: Annotated[Text, OneOf("debug", "info", "warning", "error")] = Field(
        "info", description="Log level: debug, info, warning or error."
    )


@dataclass(frozen=True, config=SECTION)
class DaemonConfig:
    """The long-running service (`maildesk run`)."""

    shutdown_timeout: Annotated[Int, Field(ge=1, le=3600)] = Field(
        30,
        description=(
            "Seconds `maildesk run` lets transfers in flight finish on SIGTERM/SIGINT before it "
            "closes them (their senders retry later)."
        ),
    )


@dataclass(frozen=True, config=SECTION)
class SlaConfig:
    """SLA targets, business hours, escalation, auto-close and the daily digest."""

    enabled: Flag = Field(
        True, description="Track SLA targets: due times, warnings, breaches and escalation."
    )
    timezone: Annotated[Text, AfterValidator(checks.not_empty)] = Field(
        "UTC",
        description=(
            "IANA time zone of the business hours, holidays and digest_time (e.g. Europe/Berlin)."
        ),
    )
    business_hours: Strings = Field(
        ("mon-fri 09:00-17:00",),
        description=(
            'When the SLA clock runs, local time: entries like "mon-fri 09:00-17:00", "sat '
            '10:00-14:00", "mon-fri 09:00-12:00 13:00-17:00"; ["24/7"]: always.'
        ),
    )
    holidays: Strings = Field(
        (), description="Local dates (YYYY-MM-DD) on which the clock does not run."
    )
    targets: Strings = Field(
        ("urgent 1h 8h", "high 4h 24h", "medium 8h 72h", "low 24h 168h"),
        description=(
            'Per priority: first-response and resolution target in business time ("PRIORITY FIRST '
            "RESOLUTION\", units s m h d), optionally a next-response target: an agent's answer "
            'due after each further customer message ("PRIORITY FIRST RESOLUTION NEXT"); a '
            "priority left out has no SLA."
        ),
    )
    warn_percent: Annotated[Int, Field(ge=1, le=99)] = Field(
        75, description="Warn the assignee when this share of a target has elapsed."
    )
    escalation_addresses: Strings = Field(
        (),
        description="Who is told about a breach, besides the managers (agents with role manager).",
    )
    escalation_bump_priority: Flag = Field(
        False, description="Raise a breached ticket's priority by one step (its targets follow)."
    )
    auto_close_days: Annotated[Int, Field(ge=0)] = Field(
        3, description="Close resolved tickets after this many days without an answer (0: never)."
    )
    auto_close_waiting_days: Annotated[Int, Field(ge=0)] = Field(
        0,
        description=(
            "Close tickets waiting on the customer after this many days without an answer "
            "(0: never)."
        ),
    )
    auto_close_warning_days: Annotated[Int, Field(ge=0)] = Field(
        2,
        description=(
            "With auto_close_waiting_days: tell the customer this many days before such a "
            'close ("reply to keep it open"; 0: no warning).'
        ),
    )
    digest_time: Text = Field(
        "08:00",
        description=(
            "Local time (HH:MM, in timezone) the daily SLA digest goes to every manager; empty: no "
            "digest."
        ),
    )
    scan_interval: Annotated[Int, Field(ge=1, le=3600)] = Field(
        60,
        description=(
            "Seconds between the daemon's SLA passes (warnings, breaches, auto-close, digest)."
        ),
    )


@dataclass(frozen=True, config=SECTION)
class SlaPolicyConfig:
    """Per-category (or per-desk) SLA targets, business hours or holidays; repeat
    [[sla_policy]] for each (default: none, [sla] applies)."""

    category: Annotated[Text, AfterValidator(checks.not_empty)] = Field(
        description=(
            'The category this policy applies to (required); "*" with desks: every '
            "category of those desks (a desk's own SLA)."
        ),
        examples=["billing"],
    )
    targets: Strings = Field(
        (), description="Targets for this category, as in [sla] targets; empty: those of [sla]."
    )
    business_hours: Strings = Field(
        (), description="Business hours for this category, as in [sla]; empty: those of [sla]."
    )
    holidays: Strings = Field(
        (), description="Holidays for this category, as in [sla]; empty: those of [sla]."
    )
    desks: Strings = Field((), description="Desks (slugs) this applies to; empty: every desk.")


@dataclass(frozen=True, config=SECTION)
class RuleConfig:
    """Routing rules for new tickets, tried in order; repeat [[rule]] for each
    (default: none). A rule matches when all its conditions do."""

    name: Text = Field("", description="Name shown in the ticket's event log.")
    recipient: Strings = Field(
        (), description="Matches mail to any of these addresses (To, Cc or envelope)."
    )
    sender: Strings = Field((), description="Matches mail from any of these addresses.")
    sender_domain: Strings = Field(
        (), description="Matches mail from these domains (and their subdomains)."
    )
    keyword: Strings = Field(
        (),
        description=(
            "Matches any of these words or phrases in the subject or body (case-insensitive, whole "
            "words)."
        ),
    )
    subject_only: Flag = Field(False, description="Look for keywords in the subject only.")
    field: Strings = Field(
        (),
        description=(
            "Matches when a ticket's custom field takes any of these values, NAME=VALUE "
            '("plan=Enterprise"). Tried each time a field is set (#set, the web, the API, '
            "/submit), not on new mail: a rule has either field or the other conditions. It acts "
            "when its condition becomes true, and then sets category and priority even if set."
        ),
        examples=[["plan=Enterprise"]],
    )
    set_category: Text = Field("", description="Category to set.")
    set_priority: Text = Field("", description="Priority to set (one of [tickets] priorities).")
    add_tags: Strings = Field((), description="Tags to add.")
    stop: Flag = Field(False, description="When this rule matches, skip the rules after it.")
    desks: Strings = Field((), description="Desks (slugs) this applies to; empty: every desk.")


@dataclass(frozen=True, config=SECTION)
class CategoryConfig:
    """Categories with their agents and auto-assignment; repeat [[category]] for each
    (default: none)."""

    name: Annotated[Text, AfterValidator(checks.not_empty)] = Field(
        description="Category name (required).", examples=["billing"]
    )
    agents: Strings = Field(
        (),
        description=(
            "Agents (addresses) who work this category: auto-assignment picks among them and SLA "
            "warnings go to them while nobody is assigned."
        ),
    )
    assign: Annotated[Strategy, OneOf("none", "round_robin", "least_open")] = Field(
        Strategy.NONE,
        description="Auto-assign new tickets of this category: round_robin, least_open or none.",
    )
    desks: Strings = Field((), description="Desks (slugs) this applies to; empty: every desk.")


FIELD_TYPES = ("text", "number", "date", "select", "multiselect", "checkbox", "link")
FIELD_RECORDS = ("ticket", "contact", "organization")


@dataclass(frozen=True, config=SECTION)
class FieldConfig:
    """Custom fields of tickets, customers (contacts) or organizations; repeat [[field]]
    for each (default: none). Agents set a ticket's on the ticket page, by API and by
    mail (#set NAME VALUE); a customer's or an organization's on its page, by API and
    with `maildesk contacts set` / `orgs set --field NAME=VALUE`."""

    name: Annotated[Text, AfterValidator(checks.field_name)] = Field(
        description=(
            "Field name in commands, the API and exports (required; unique among the fields "
            "of one kind of record)."
        ),
        examples=["order"],
    )
    record: Annotated[Text, OneOf(*FIELD_RECORDS)] = Field(
        "ticket",
        description=(
            "Which records have it: ticket, contact (a customer, one value per person) or "
            "organization. Only ticket fields take categories, submit, required and public."
        ),
    )
    label: Annotated[Text, AfterValidator(checks.optional_line)] = Field(
        "", description="What people see; empty: the name."
    )
    type: Annotated[Text, OneOf(*FIELD_TYPES)] = Field(
        "text", description="One of " + ", ".join(FIELD_TYPES) + "."
    )
    options: Strings = Field((), description="The choices of a select or multiselect field.")
    link_template: Text = Field(
        "",
        description=(
            "For a link field: the record's URL with {value}, e.g. "
            '"https://fleet.example.com/vehicles/{value}".'
        ),
    )
    desks: Strings = Field(
        (),
        description=(
            "Desks (slugs) whose tickets have it (for a contact or organization field: whose "
            "agents see it); empty: every desk."
        ),
    )
    categories: Strings = Field(
        (), description="Categories whose tickets have it; empty: every ticket."
    )
    submit: Flag = Field(False, description="Ask for it on the /submit form.")
    required: Flag = Field(False, description="With submit: the form needs a value.")
    public: Flag = Field(False, description="Show it to the customer on the status page.")


@dataclass(frozen=True, config=SECTION)
class KbConfig:
    """The knowledge base: articles (`maildesk kb import`), the help center at /kb/,
    and the articles suggested to customers and agents."""

    suggestions: Annotated[Int, Field(ge=0, le=10)] = Field(
        3,
        description=(
            "Most published articles an acknowledgement (and the status page, and the agents' "
            "notice of a new ticket) suggests; 0 suggests none."
        ),
    )
    min_words: Annotated[Int, Field(ge=1, le=3)] = Field(
        2,
        description=(
            "An article is suggested only when at least this many different words of the "
            "customer's subject and text are in it (common words, and words in more than 5% "
            "of the articles, aside): weak matches are left out."
        ),
    )
    votes_per_hour: Annotated[Int, Field(ge=1, le=100000)] = Field(
        30,
        description=(
            'Answers to "Did this answer your question?" one client (IP address) may give '
            "on the help center in an hour."
        ),
    )


@dataclass(frozen=True, config=SECTION)
class WebhooksConfig:
    """How webhooks are delivered (the endpoints are [[webhook]], or added on
    /admin/webhooks): signed per the Standard Webhooks specification, retried with
    backoff and jitter, given up after a while and then retried by hand."""

    allowed_networks: Annotated[Strings, AfterValidator(checks.networks)] = Field(
        (),
        description=(
            'Private networks webhooks may reach, as CIDR blocks ("10.0.0.0/8", '
            '"127.0.0.1/32"). Loopback, private, link-local and other non-public addresses '
            "are refused unless listed here, so an admin page cannot be used to reach "
            "internal services."
        ),
        examples=[["10.20.0.0/16"]],
    )
    timeout: Annotated[Int, Field(ge=1, le=120)] = Field(
        10, description="Seconds a receiver has to answer one delivery."
    )
    concurrency: Annotated[Int, Field(ge=1, le=256)] = Field(
        64, description="Deliveries in flight at once, per maildesk instance."
    )
    retry_base: Annotated[Int, Field(ge=1)] = Field(
        5, description="Seconds before the first retry; each retry waits twice as long."
    )
    retry_max: Annotated[Int, Field(ge=1)] = Field(
        3600, description="Most seconds between two retries."
    )
    give_up_hours: Annotated[Int, Field(ge=1)] = Field(
        24,
        description=(
            "Hours after which an event no receiver took is failed (listed by `maildesk "
            "webhooks deliveries --state failed`, sent again by `maildesk webhooks retry`)."
        ),
    )


@dataclass(frozen=True, config=SECTION)
class WebhookConfig:
    """An endpoint that receives ticket events as signed JSON; repeat [[webhook]] for
    each (default: none)."""

    url: Annotated[Text, AfterValidator(checks.webhook_url)] = Field(
        description="Where events are POSTed, http:// or https:// (required).",
        examples=["https://hooks.example.com/maildesk"],
    )
    events: Annotated[Strings, AfterValidator(checks.webhook_events)] = Field(
        ("*",),
        description="Events to send: any of " + ", ".join(EVENTS) + ', or "*" for all.',
    )
    secret_env: Annotated[Text, AfterValidator(checks.env_name_required)] = Field(
        description=(
            "Environment variable holding the signing secret, whsec_ and base64 as the "
            "Standard Webhooks specification has it (`maildesk webhooks secret` makes one); "
            "required."
        ),
        examples=["MAILDESK_WEBHOOK_SECRET"],
    )
    name: Annotated[Text, AfterValidator(checks.optional_line)] = Field(
        "", description="Its name in lists and logs; empty: the URL. Unique."
    )
    desk: Text = Field("", description="Only this desk's tickets (a slug); empty: every desk.")
    internal: Flag = Field(
        False,
        description=(
            "Also send internal notes (their text included) and internal events (rejected "
            "commands, held mail, ...), as ticket.message.added and ticket.updated."
        ),
    )


@plain_dataclass(frozen=True)
class Config:
    """The whole configuration, handed down from the CLI: one field per section, in the
    order of the file; ``[[array]]`` sections are tuples."""

    desk: DeskConfig
    desks: tuple[DesksConfig, ...]
    database: DatabaseConfig
    storage: StorageConfig
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
    field: tuple[FieldConfig, ...]
    kb: KbConfig
    webhooks: WebhooksConfig
    webhook: tuple[WebhookConfig, ...]
    path: Path | None  # the file it was read from; None when defaults only
