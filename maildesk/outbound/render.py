"""Templates to text: every mail maildesk sends, as a plain-text and an HTML part.

Where it sits in the flow: `outbound.compose` picks the template and builds its
context from the ticket; `Renderer.render` turns `mail/NAME.txt` and
`mail/NAME.html` into a `Rendered` pair, which `core.outgoing.build_mail` wraps
into the bytes of the outbox row. `Renderer.canned` renders `canned/NAME.txt`,
the canned responses an agent sends with `#template NAME`.

Templates come from the admin's folder (`outbound.templates`) first and from the
built-in `maildesk/templates/` otherwise, one file at a time: overriding
`mail/ack.html` keeps every other built-in template. Admin-written templates are
trusted but checked: the environments are sandboxed, and an undefined variable
fails loudly (StrictUndefined) instead of mailing a blank; every Jinja2 error
comes out as one `TemplateError` line naming the file and line.
`Renderer.check` renders every mail template with `sample_context`, so
`check-config` finds a broken override before a customer does.

Text parts autoescape nothing; HTML parts escape everything, and the
`paragraphs` filter turns plain text into escaped `<p>`/`<br>` markup.
"""

from __future__ import annotations

import datetime as dt
import re
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from maildesk.core.commands import cheat_sheet

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "templates"
MAIL_TEMPLATES = (
    "ack",
    "agent_reply",
    "notify_new",
    "notify_reply",
    "assigned",
    "resolved",
    "command_error",
    "unverified",
    "reply_held",
    "auto_close",
    "sla_warning",
    "sla_breach",
    "digest",
    "mentioned",
    "notify_note",
    "snooze_ended",
    "reminder",
    "close_warning",
    "waiting_closed",
    "bounce",
    "customer_decided",
    "satisfaction",
)
"""The mail templates maildesk sends; each is mail/NAME.txt + mail/NAME.html."""

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SIGNATURE_SEPARATOR = "-- "  # RFC 3676: keeps its trailing space
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


@dataclass(frozen=True)
class Rendered:
    text: str
    html: str


class TemplateError(Exception):
    """A template is missing, broken or uses an unknown variable (one line, naming the file)."""


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------


def _lines(value: object) -> list[str]:
    text = "" if value is None else str(value)
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def quote_filter(value: object) -> str:
    """Text quoted for a reply: every line prefixed with "> " (">" alone on a blank line)."""
    return "\n".join(f"> {line}".rstrip() for line in _lines(value))


def paragraphs_filter(value: object) -> Markup:
    """Plain text as HTML: escaped, blank lines split paragraphs, newlines become <br>."""
    text = "\n".join(_lines(value)).strip("\n")
    if not text.strip():
        return Markup("")
    paras = []
    for para in _PARAGRAPH_BREAK.split(text):
        body = Markup("<br>\n").join(escape(line) for line in para.split("\n"))
        paras.append(Markup('<p style="margin:0 0 12px 0;">%s</p>') % body)
    return Markup("\n").join(paras)


def datetime_filter(value: dt.datetime | dt.date) -> str:
    """A moment as "2026-11-22 14:05 UTC" (naive datetimes are taken as UTC)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"datetime filter needs a datetime, got {type(value).__name__}")


def filesize_filter(value: int) -> str:
    """A size in bytes for people: 512 bytes, 12.3 KB, 4.0 MB."""
    size = float(value)
    if size < 1024:
        return f"{int(size)} bytes"
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


def tidy_text(text: str) -> str:
    """LF line endings, no trailing spaces (but the `-- ` signature separator), one final LF."""
    lines = [
        line if line == _SIGNATURE_SEPARATOR else line.rstrip()
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    return "\n".join(lines).strip("\n") + "\n"


# --------------------------------------------------------------------------
# The renderer
# --------------------------------------------------------------------------


class Renderer:
    """Renders mail and canned templates, the admin's overrides before the built-ins."""

    def __init__(self, override_dir: Path | None = None) -> None:
        if override_dir is not None and not Path(override_dir).is_dir():
            raise TemplateError(f"{override_dir}: template folder does not exist")
        self._override = Path(override_dir).resolve() if override_dir is not None else None
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(BUILTIN_DIR)]
        if self._override is not None:
            loaders.insert(0, jinja2.FileSystemLoader(self._override))
        loader = jinja2.ChoiceLoader(loaders)
        self._text = self._environment(loader, autoescape=False)
        self._text.filters["quote"] = quote_filter
        self._html = self._environment(loader, autoescape=True)
        self._html.filters["paragraphs"] = paragraphs_filter

    @staticmethod
    def _environment(loader: jinja2.BaseLoader, *, autoescape: bool) -> SandboxedEnvironment:
        env = SandboxedEnvironment(
            loader=loader,
            autoescape=autoescape,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        env.filters["datetime"] = datetime_filter
        env.filters["filesize"] = filesize_filter
        return env

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        """mail/NAME.txt and mail/NAME.html with `context`; both must exist."""
        name = _checked_name(name, "mail template")
        text = self._render(self._text, f"mail/{name}.txt", context)
        html = self._render(self._html, f"mail/{name}.html", context)
        return Rendered(text=tidy_text(text), html=tidy_text(html))

    def canned(self, name: str, context: Mapping[str, Any]) -> str:
        """canned/NAME.txt as text; an unknown name lists the ones there are."""
        available = self.canned_names()
        listing = ", ".join(available) or "none"
        key = name.strip().lower()
        if not _NAME.fullmatch(key):
            raise TemplateError(
                f"invalid canned response name {name!r} (letters, digits, - and _); "
                f"available: {listing}"
            )
        if key not in available:
            raise TemplateError(f"unknown canned response {key!r}; available: {listing}")
        return tidy_text(self._render(self._text, f"canned/{key}.txt", context))

    def canned_names(self) -> list[str]:
        """The canned responses there are, built-in and overrides, sorted."""
        names = set()
        for template in self._text.list_templates(extensions=["txt"]):
            folder, _, filename = template.partition("/")
            stem = filename.removesuffix(".txt")
            if folder == "canned" and _NAME.fullmatch(stem):
                names.add(stem)
        return sorted(names)

    def check(self) -> None:
        """Render every mail and canned template with sample values; all problems in one error."""
        problems: list[str] = []
        for name, context in _samples():
            try:
                rendered = self.render(name, context)
            except TemplateError as exc:
                problems.append(str(exc))
                continue
            for part, output in (("txt", rendered.text), ("html", rendered.html)):
                if not output.strip():
                    problems.append(f"mail/{name}.{part}: renders empty")
        for name in self.canned_names():
            try:
                self.canned(name, sample_context("canned"))
            except TemplateError as exc:
                problems.append(str(exc))
        if problems:
            raise TemplateError("; ".join(dict.fromkeys(problems)))

    # ----------------------------------------------------------------------

    def _render(self, env: SandboxedEnvironment, template: str, context: Mapping[str, Any]) -> str:
        try:
            return env.get_template(template).render(dict(context))
        except jinja2.TemplateNotFound as exc:
            if exc.name == template:
                raise TemplateError(f"{template}: template not found") from None
            raise TemplateError(self._describe(exc, template)) from None
        except (
            jinja2.TemplateError,
            TypeError,
            ValueError,
            AttributeError,
            LookupError,
            ArithmeticError,
        ) as exc:
            raise TemplateError(self._describe(exc, template)) from None

    def _describe(self, exc: Exception, template: str) -> str:
        """One line: where in which file (the innermost template frame), and what."""
        where = template
        if isinstance(exc, jinja2.TemplateSyntaxError):
            where = self._display(exc.filename, exc.name or template, exc.lineno)
        else:
            for frame in reversed(traceback.extract_tb(exc.__traceback__)):
                if self._template_name(frame.filename) is not None:
                    where = self._display(frame.filename, template, frame.lineno)
                    break
        if isinstance(exc, jinja2.TemplateNotFound):
            problem = f"template {exc.name!r} not found"
        elif isinstance(exc, jinja2.TemplateError):
            problem = exc.message or type(exc).__name__
        else:
            problem = f"{type(exc).__name__}: {exc}"
        return " ".join(f"{where}: {problem}".split())

    def _template_name(self, filename: str | None) -> str | None:
        """The template name of a file in one of our folders, None for other files."""
        if not filename:
            return None
        path = Path(filename)
        for root in (self._override, BUILTIN_DIR):
            if root is not None and path.is_relative_to(root):
                return path.relative_to(root).as_posix()
        return None

    def _display(self, filename: str | None, fallback: str, lineno: int | None) -> str:
        name = self._template_name(filename)
        if name is None:
            shown = fallback
        elif self._override is not None and Path(filename or "").is_relative_to(self._override):
            shown = str(filename)  # the admin's own file: say where it is
        else:
            shown = f"{name} (built-in)"
        return f"{shown}, line {lineno}" if lineno else shown


def _checked_name(name: str, what: str) -> str:
    if not _NAME.fullmatch(name):
        raise TemplateError(f"invalid {what} name {name!r}")
    return name


# --------------------------------------------------------------------------
# Sample values: for check(), previews and tests
# --------------------------------------------------------------------------


def sample_context(name: str) -> dict[str, Any]:
    """A full context for mail template NAME ("canned": the common variables only)."""
    created = dt.datetime(2026, 11, 22, 14, 5, tzinfo=dt.UTC)
    context: dict[str, Any] = {
        "desk": {
            "name": "Example Support",
            "address": "support@example.com",
            "base_url": "http://127.0.0.1:8080",
            "slug": "default",
            "signature": "The Example Support team",
        },
        "ticket": {
            "label": "SUP-00042",
            "subject": "Cannot log in after the update",
            "status": "open",
            "priority": "high",
            "category": "accounts",
            "tags": ["login", "update"],
            "requester_name": "Ada Lovelace",
            "requester_email": "ada@example.org",
            "assignee_name": "Grace Hopper",
            "created_at": created,
        },
        "status_url": "http://127.0.0.1:8080/status/SUP-00042/abc123",
        "ticket_url": "http://127.0.0.1:8080/tickets/42",
    }
    message = {
        "from_name": "Ada Lovelace",
        "from_email": "ada@example.org",
        "text": "Hello,\n\nsince this morning's update I cannot log in.\nThe page says:\n"
        "> invalid session\n\nThanks, Ada",
        "attachments": [{"filename": "screenshot.png", "size": 48213}],
    }
    sheet = cheat_sheet()
    extra: dict[str, dict[str, Any]] = {
        "canned": {},
        "ack": {
            "expectation": {
                "kind": "first_response",
                "due": "Monday 17:00",
                "timezone": "Europe/Berlin",
                "amount": 8,
                "unit": "business_hours",
                "away": "closed_day",
                "back_at": "Monday 09:00",
                "paused": False,
                "late": False,
            },
            "message_excerpt": message["text"],
            "articles": [
                {
                    "slug": "reset-password",
                    "title": "Resetting your password",
                    "url": "http://127.0.0.1:8080/kb/reset-password?ticket=SUP-00042&t=7-abc123",
                }
            ],
        },
        "agent_reply": {
            "body": "Hello Ada,\n\nthank you for the screenshot. Please clear your browser's"
            " cookies\nand sign in again.\n\nDoes that help?",
            "agent_name": "Grace Hopper",
            "quoted": [
                {
                    "from_name": "Ada Lovelace",
                    "at": created + dt.timedelta(minutes=20),
                    "text": "Here is the screenshot.",
                },
                {"from_name": "Ada Lovelace", "at": created, "text": message["text"]},
            ],
            "resolved": False,
            "satisfaction_url": None,
            "solved_url": None,
            "not_solved_url": None,
        },
        "notify_new": {
            "message": message,
            "cheat_sheet": sheet,
            "automated": None,
            "articles": [
                {
                    "slug": "reset-password",
                    "title": "Resetting your password",
                    "url": "http://127.0.0.1:8080/kb/reset-password",
                }
            ],
        },
        "notify_reply": {
            "message": message,
            "cheat_sheet": sheet,
            "automated": None,
            "reopened": False,
        },
        "assigned": {"assigned_by": "Alan Turing", "message": message, "cheat_sheet": sheet},
        "mentioned": {"mentioned_by": "Alan Turing", "message": message, "cheat_sheet": sheet},
        "notify_note": {"noted_by": "Alan Turing", "message": message, "cheat_sheet": sheet},
        "resolved": {
            "satisfaction_url": "http://127.0.0.1:8080/rate/SUP-00042/abc123",
            "solved_url": "http://127.0.0.1:8080/t/SUP-00042/abc123/confirm",
            "not_solved_url": "http://127.0.0.1:8080/t/SUP-00042/abc123/reopen",
        },
        "satisfaction": {"satisfaction_url": "http://127.0.0.1:8080/t/SUP-00042/abc123/rate"},
        "customer_decided": {
            "who": "ada@example.org",
            "kind": "reopened_by_customer",
            "said": "The export still fails.",
            "cheat_sheet": sheet,
        },
        "command_error": {
            "errors": [
                "line 1: #priorty high: unknown command (did you mean #priority?)",
                "line 2: #status later: unknown status",
            ],
            "cheat_sheet": sheet,
            "kept_as_note": True,
        },
        "unverified": {
            "reason": "not sent to the agent's signed reply address",
            "excerpt": "#cc add eve@attacker.test\n\nPlease pay the new invoice.",
            "cheat_sheet": sheet,
        },
        "reply_held": {
            "arrived": [
                {
                    "what": "the customer's reply",
                    "from_name": "Ada Lovelace",
                    "at": created + dt.timedelta(minutes=20),
                    "text": "Never mind, it works again.",
                },
                {
                    "what": "an internal note",
                    "from_name": "Alan Turing",
                    "at": created + dt.timedelta(minutes=25),
                    "text": "",
                },
            ],
            "excerpt": "#priority high\n\nHello Ada, please clear your cookies.",
            "cheat_sheet": sheet,
        },
        "auto_close": {"days": 7},
        "snooze_ended": {"until": created + dt.timedelta(days=3), "cheat_sheet": sheet},
        "reminder": {
            "due": created + dt.timedelta(hours=2),
            "text": "Call Ada back about the invoice.",
            "cheat_sheet": sheet,
        },
        "close_warning": {"close_date": "2026-11-29"},
        "waiting_closed": {"days": 7},
        "bounce": {
            "failed": [
                {
                    "email": "ada@example.org",
                    "status": "5.1.1",
                    "diagnostic": "smtp; 550 5.1.1 <ada@example.org>: User unknown",
                }
            ],
            "marked": ["ada@example.org"],
            "cheat_sheet": sheet,
        },
        "sla_warning": {
            "target": "first_response",
            "due": created + dt.timedelta(hours=2),
            "time_left_seconds": 4320,
            "cheat_sheet": sheet,
        },
        "sla_breach": {
            "target": "resolution",
            "due": created + dt.timedelta(hours=8),
            "breached_at": created + dt.timedelta(hours=8, minutes=1),
            "escalation_level": 1,
            "priority_bumped_from": "medium",
        },
        "digest": {
            "digest": _sample_digest(created + dt.timedelta(days=1)),
            "manager_name": "Alan Turing",
            "date": "2026-11-23",
            "timezone": "Europe/Berlin",
        },
    }
    if name not in extra:
        raise KeyError(f"no sample context for {name!r}")
    if name == "digest":  # about the desk, not one ticket
        return {"desk": context["desk"]} | extra[name]
    if name == "canned":  # see Mailer.canned: no participant's own link
        del context["status_url"]
    return context | extra[name]


def _sample_digest(now: dt.datetime, *, empty: bool = False) -> dict[str, Any]:
    """Figures shaped like `reports.digest`'s, at `now` (`empty`: a desk with nothing)."""

    def stat(measured: int, met: int, average: float | None) -> dict[str, Any]:
        return {
            "measured": measured,
            "met": met,
            "compliance": met / measured if measured else None,
            "average_seconds": average,
            "median_seconds": None if average is None else average * 0.8,
            "count": measured,
        }

    statuses = ("new", "open", "in_progress", "waiting_on_customer")
    if empty:
        none = stat(0, 0, None)
        return {
            "now": now,
            "open_total": 0,
            "open_by_status": dict.fromkeys(statuses, 0),
            "open_by_priority": {},
            "open_by_status_priority": {status: {} for status in statuses},
            "breaches_24h": [],
            "at_risk_24h": [],
            "compliance": {
                period: {"first_response": none, "resolution": none} for period in ("7d", "30d")
            },
            "times": {
                target: {"average_seconds": None, "median_seconds": None, "count": 0}
                for target in ("first_response", "resolution")
            },
            "agents": [],
            "oldest_open": [],
        }
    cells = {
        "new": {"urgent": 1, "high": 1, "medium": 0, "low": 0},
        "open": {"urgent": 0, "high": 2, "medium": 2, "low": 0},
        "in_progress": {"urgent": 0, "high": 0, "medium": 1, "low": 1},
        "waiting_on_customer": {"urgent": 0, "high": 0, "medium": 1, "low": 0},
    }
    grace = {"assignee": "grace@example.com", "assignee_name": "Grace Hopper"}
    nobody = {"assignee": None, "assignee_name": None}
    return {
        "now": now,
        "open_total": 9,
        "open_by_status": {status: sum(row.values()) for status, row in cells.items()},
        "open_by_priority": {p: sum(row[p] for row in cells.values()) for p in cells["new"]},
        "open_by_status_priority": cells,
        "breaches_24h": [
            {
                "label": "SUP-00042",
                "subject": "Cannot log in after the update",
                "priority": "high",
                **grace,
                "target": "first_response",
                "due": now - dt.timedelta(hours=5),
                "breached_at": now - dt.timedelta(hours=4, minutes=59),
            }
        ],
        "at_risk_24h": [
            {
                "label": "SUP-00043",
                "subject": "Invoice shows the wrong address",
                "priority": "urgent",
                **nobody,
                "target": "resolution",
                "due": now + dt.timedelta(hours=1, minutes=12),
                "time_left_seconds": 4320,
            }
        ],
        "compliance": {
            "7d": {"first_response": stat(10, 9, 2700.0), "resolution": stat(8, 6, 86400.0)},
            "30d": {"first_response": stat(40, 38, 3000.0), "resolution": stat(35, 30, 90000.0)},
        },
        "times": {
            "first_response": {"average_seconds": 3000.0, "median_seconds": 2400.0, "count": 40},
            "resolution": {"average_seconds": 90000.0, "median_seconds": 72000.0, "count": 35},
        },
        "agents": [
            {
                "email": "grace@example.com",
                "name": "Grace Hopper",
                "assigned": 30,
                "resolved": 28,
                "open": 6,
                "first_response": stat(30, 29, 2800.0),
                "resolution": stat(28, 25, 85000.0),
            },
            {
                "email": "alan@example.com",
                "name": "",
                "assigned": 0,
                "resolved": 0,
                "open": 0,
                "first_response": stat(0, 0, None),
                "resolution": stat(0, 0, None),
            },
        ],
        "oldest_open": [
            {
                "label": "SUP-00031",
                "subject": "Export times out",
                "status": "waiting_on_customer",
                "priority": "medium",
                **grace,
                "created_at": now - dt.timedelta(days=12, hours=3),
                "age_seconds": 12 * 86400 + 3 * 3600,
            },
            {
                "label": "SUP-00042",
                "subject": "Cannot log in after the update",
                "status": "new",
                "priority": "high",
                **nobody,
                "created_at": now - dt.timedelta(hours=9),
                "age_seconds": 9 * 3600,
            },
        ],
    }


def _samples() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mail template with its sample, and variants that reach the other branches."""
    for name in MAIL_TEMPLATES:
        yield name, sample_context(name)
    bare = sample_context("canned")
    bare["ticket"] = bare["ticket"] | {"category": None, "tags": [], "assignee_name": None}
    yield (
        "agent_reply",
        sample_context("agent_reply")
        | bare
        | {
            "agent_name": None,
            "quoted": [],
            "resolved": True,
            "satisfaction_url": "http://127.0.0.1:8080/rate/SUP-00042/abc123",
        },
    )
    yield "agent_reply", sample_context("agent_reply") | {"resolved": True}
    for name in ("notify_new", "notify_reply"):
        empty = sample_context(name)["message"] | {"text": "", "attachments": []}
        variant = {"automated": "bulk: List-Id", "message": empty, "reopened": True}
        yield name, sample_context(name) | bare | variant
    yield "assigned", sample_context("assigned") | bare | {"message": None}
    yield "resolved", sample_context("resolved") | {"satisfaction_url": None}
    yield "command_error", sample_context("command_error") | {"kept_as_note": False}
    yield "unverified", sample_context("unverified") | bare | {"excerpt": ""}
    yield "reply_held", sample_context("reply_held") | bare | {"excerpt": ""}
    yield "auto_close", sample_context("auto_close") | {"days": 1}
    yield "waiting_closed", sample_context("waiting_closed") | {"days": 1}
    yield "snooze_ended", sample_context("snooze_ended") | bare
    for kind in ("closed_by_customer", "resolution_confirmed"):
        variant = {"kind": kind, "said": ""}
        yield "customer_decided", sample_context("customer_decided") | bare | variant
    yield "reminder", sample_context("reminder") | bare | {"text": "<b>not bold</b>"}
    variant = {"failed": [{"email": "ada@example.org", "status": "", "diagnostic": ""}]}
    yield "bounce", sample_context("bounce") | bare | variant | {"marked": []}
    variant = {"target": "resolution", "time_left_seconds": 30}
    yield "sla_warning", sample_context("sla_warning") | bare | variant
    variant = {"target": "first_response", "escalation_level": 2, "priority_bumped_from": None}
    yield "sla_breach", sample_context("sla_breach") | bare | variant
    digest = sample_context("digest")
    empty = _sample_digest(digest["digest"]["now"], empty=True)
    yield "digest", digest | {"digest": empty, "manager_name": ""}
