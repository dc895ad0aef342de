"""Is this mail automated?  Classifies a parsed message as human or machine mail.

Where it sits in the flow: after `maildesk.core.message.parse_message`, before
any ticket action.  The pipeline uses `classify` to decide whether a message
may trigger an automatic answer (acknowledgements, notifications): automated
mail (bounces, complaints, auto-replies, list and bulk mail) never does, which
is what prevents mail loops (RFC 3834 section 2).

Pure: a `ParsedMessage` and the SMTP envelope sender in, a `Classification`
out.  The policy is data: `RULES` is an ordered tuple of small named rules,
evaluated in order; the first rule that fires decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from maildesk.core.message import ParsedMessage

__all__ = ["RULES", "Classification", "Mail", "MailKind", "Rule", "classify"]


class MailKind(StrEnum):
    """What kind of mail this is; values are stored in the database."""

    HUMAN = "human"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    BULK = "bulk"


@dataclass(frozen=True)
class Classification:
    """The verdict and the signal that produced it."""

    kind: MailKind
    reason: str

    @property
    def automated(self) -> bool:
        """True for anything but human mail; automated mail gets no auto-answer."""
        return self.kind is not MailKind.HUMAN


# --------------------------------------------------------------------------
# What the rules look at
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """The message plus the envelope sender (None: unknown, e.g. read from a file)."""

    msg: ParsedMessage
    envelope_from: str | None

    def header(self, name: str) -> tuple[str, ...]:
        """All decoded values of header `name` (case-insensitive)."""
        return tuple(self.msg.headers.get(name.lower(), ()))

    def has_header(self, name: str) -> bool:
        return bool(self.header(name))

    def first_token(self, name: str) -> str | None:
        """Lower-cased first token of the first value of `name` ('auto-replied')."""
        for value in self.header(name):
            token = re.split(r"[\s;(,]", value.strip(), maxsplit=1)[0].lower()
            return token
        return None

    def content_type_param(self, param: str) -> str | None:
        """A parameter of the top-level Content-Type header, lower-cased."""
        for value in self.header("content-type")[:1]:
            pattern = rf'(?i);\s*{re.escape(param)}\s*=\s*(?:"([^"]*)"|([^\s;]*))'
            match = re.search(pattern, value)
            if match is not None:
                return (match.group(1) or match.group(2) or "").strip().lower()
        return None

    @property
    def is_report(self) -> bool:
        return self.msg.content_type == "multipart/report"

    @property
    def report_type(self) -> str | None:
        return self.content_type_param("report-type") if self.is_report else None

    def has_report_part(self, content_type: str) -> bool:
        """The top level is, or a multipart/report carries, a part of this type."""
        if self.msg.content_type == content_type:
            return True
        return self.is_report and any(a.content_type == content_type for a in self.msg.attachments)

    @property
    def null_sender(self) -> bool:
        """Null return path: empty envelope sender, or a `Return-Path: <>` header."""
        if self.envelope_from is not None and self.envelope_from.strip() in ("", "<>"):
            return True
        return any(re.fullmatch(r"<\s*>", v.strip()) for v in self.header("return-path"))


# --------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One signal: `check` returns a reason when it fires, else None."""

    name: str
    description: str
    kind: MailKind
    check: Callable[[Mail], str | None]

    def match(self, mail: Mail) -> str | None:
        return self.check(mail)


def _delivery_status_report(mail: Mail) -> str | None:
    if mail.report_type == "delivery-status":
        return "multipart/report; report-type=delivery-status"
    if mail.has_report_part("message/delivery-status"):
        return "message/delivery-status part"
    return None


def _feedback_report(mail: Mail) -> str | None:
    if mail.report_type == "feedback-report":
        return "multipart/report; report-type=feedback-report"
    if mail.has_report_part("message/feedback-report"):
        return "message/feedback-report part"
    return None


def _disposition_notification(mail: Mail) -> str | None:
    if mail.report_type == "disposition-notification":
        return "multipart/report; report-type=disposition-notification"
    if mail.has_report_part("message/disposition-notification"):
        return "message/disposition-notification part"
    return None


_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "mailerdaemon", "postmaster"})


def _local_part(address: str) -> str:
    address = address.strip().strip("<>").strip()
    return address.rpartition("@")[0].lower() if "@" in address else address.lower()


def _mailer_daemon(mail: Mail) -> str | None:
    sender = mail.msg.from_
    if sender is not None and _local_part(sender.email) in _DAEMON_LOCAL_PARTS:
        return f"From: {sender.email}"
    if sender is None:
        for value in mail.header("from")[:1]:
            if re.search(r"(?i)\bmailer-?daemon\b", value):
                return f"From: {value[:80]}"
    if mail.envelope_from and _local_part(mail.envelope_from) in _DAEMON_LOCAL_PARTS:
        return f"envelope sender {mail.envelope_from}"
    return None


def _null_sender_report(mail: Mail) -> str | None:
    if mail.is_report and mail.null_sender:
        return f"multipart/report (report-type={mail.report_type}) from the null sender"
    return None


def _other_report(mail: Mail) -> str | None:
    if mail.is_report:
        return f"multipart/report (report-type={mail.report_type})"
    return None


def _auto_submitted(mail: Mail) -> str | None:
    token = mail.first_token("auto-submitted")
    if token and token != "no":
        return f"Auto-Submitted: {token}"
    return None


_NEGATIVE_VALUES = frozenset({"no", "false", "0", "off"})


def _autoreply_headers(mail: Mail) -> str | None:
    for name, label in (("x-autoreply", "X-Autoreply"), ("x-autorespond", "X-Autorespond")):
        token = mail.first_token(name)
        if token is not None and token not in _NEGATIVE_VALUES:
            return f"{label} header"
    return None


def _auto_response_suppress(mail: Mail) -> str | None:
    for value in mail.header("x-auto-response-suppress"):
        flags = {flag.strip().lower() for flag in re.split(r"[,;\s]+", value)}
        hit = flags & {"all", "oof", "autoreply"}
        if hit:
            return f"X-Auto-Response-Suppress: {value.strip()[:60]}"
    return None


def _autogenerated_reply(mail: Mail) -> str | None:
    for value in mail.header("x-autogenerated"):
        if "reply" in value.lower():
            return f"X-Autogenerated: {value.strip()[:40]}"
    return None


def _exchange_generated(mail: Mail) -> str | None:
    values = mail.header("x-ms-exchange-generated-message-source")
    if values:
        return f"X-MS-Exchange-Generated-Message-Source: {values[0].strip()[:60]}"
    return None


def _precedence_auto_reply(mail: Mail) -> str | None:
    if mail.first_token("precedence") == "auto_reply":
        return "Precedence: auto_reply"
    return None


def _null_sender(mail: Mail) -> str | None:
    if mail.null_sender:
        return "null return path (<>)"
    return None


def _precedence_bulk(mail: Mail) -> str | None:
    token = mail.first_token("precedence")
    if token in ("bulk", "junk", "list"):
        return f"Precedence: {token}"
    return None


_LIST_HEADERS = (
    "list-id",
    "list-unsubscribe",
    "list-post",
    "list-help",
    "list-subscribe",
    "list-owner",
    "list-archive",
)


def _list_headers(mail: Mail) -> str | None:
    for name in _LIST_HEADERS:
        if mail.has_header(name):
            return f"{'-'.join(part.capitalize() for part in name.split('-'))} header"
    return None


# Anchored at the start: "Fwd: Undelivered Mail ..." is a person asking for help.
_BOUNCE_SUBJECT = re.compile(
    r"(?i)^\s*(?:undelivered mail returned to sender"
    r"|delivery status notification \((?:failure|delay)\)"
    r"|mail delivery failed"
    r"|undeliverable\b"
    r"|returned mail\s*:"
    r"|delivery failure\b"
    r"|failure notice\s*$"
    r"|mail system error - returned mail"
    r"|unzustellbar\b"
    r"|non remis\b"
    r"|onbestelbaar\b)"
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"(?i)^\s*(?:out of (?:the )?office\b"
    r"|automatic reply\s*:"
    r"|auto(?:matic)?[- ]?(?:reply|response)\b"
    r"|autosvar\b"
    r"|automatisk svar\b"
    r"|abwesenheitsnotiz\b"
    r"|automatische antwort\b"
    r"|automatisch antwoord\b"
    r"|r[ée]ponse automatique\b"
    r"|respuesta autom[áa]tica\b"
    r"|risposta automatica\b)"
)


def _bounce_subject(mail: Mail) -> str | None:
    if _BOUNCE_SUBJECT.search(mail.msg.subject):
        return f"bounce subject {mail.msg.subject[:60]!r}"
    return None


def _auto_reply_subject(mail: Mail) -> str | None:
    if _AUTO_REPLY_SUBJECT.search(mail.msg.subject):
        return f"auto-reply subject {mail.msg.subject[:60]!r}"
    return None


RULES: tuple[Rule, ...] = (
    Rule(
        "dsn",
        "multipart/report delivery-status (RFC 3464)",
        MailKind.BOUNCE,
        _delivery_status_report,
    ),
    Rule(
        "arf",
        "multipart/report feedback-report: spam complaint (RFC 5965)",
        MailKind.COMPLAINT,
        _feedback_report,
    ),
    Rule(
        "mdn",
        "multipart/report disposition-notification: read receipt (RFC 8098)",
        MailKind.AUTO_REPLY,
        _disposition_notification,
    ),
    Rule(
        "mailer-daemon",
        "From or envelope sender is MAILER-DAEMON or postmaster",
        MailKind.BOUNCE,
        _mailer_daemon,
    ),
    Rule(
        "null-sender-report",
        "any other multipart/report from the null sender",
        MailKind.BOUNCE,
        _null_sender_report,
    ),
    Rule(
        "report",
        "any other multipart/report is machine-generated",
        MailKind.AUTO_REPLY,
        _other_report,
    ),
    Rule(
        "auto-submitted",
        "Auto-Submitted other than 'no' (RFC 3834)",
        MailKind.AUTO_REPLY,
        _auto_submitted,
    ),
    Rule(
        "x-autoreply",
        "X-Autoreply / X-Autorespond header",
        MailKind.AUTO_REPLY,
        _autoreply_headers,
    ),
    Rule(
        "x-auto-response-suppress",
        "X-Auto-Response-Suppress with All, OOF or AutoReply (Microsoft)",
        MailKind.AUTO_REPLY,
        _auto_response_suppress,
    ),
    Rule(
        "x-autogenerated",
        "X-Autogenerated: Reply",
        MailKind.AUTO_REPLY,
        _autogenerated_reply,
    ),
    Rule(
        "exchange-generated",
        "X-MS-Exchange-Generated-Message-Source (Exchange OOF and rules)",
        MailKind.AUTO_REPLY,
        _exchange_generated,
    ),
    Rule(
        "precedence-auto-reply",
        "Precedence: auto_reply",
        MailKind.AUTO_REPLY,
        _precedence_auto_reply,
    ),
    Rule(
        "null-sender",
        "null return path: envelope sender <> or Return-Path: <>",
        MailKind.AUTO_REPLY,
        _null_sender,
    ),
    Rule(
        "precedence-bulk",
        "Precedence: bulk, junk or list",
        MailKind.BULK,
        _precedence_bulk,
    ),
    Rule(
        "list-headers",
        "List-Id, List-Unsubscribe, List-Post or another RFC 2369/2919 header",
        MailKind.BULK,
        _list_headers,
    ),
    Rule(
        "bounce-subject",
        "last resort: a well-known bounce subject",
        MailKind.BOUNCE,
        _bounce_subject,
    ),
    Rule(
        "auto-reply-subject",
        "last resort: a well-known out-of-office / automatic reply subject",
        MailKind.AUTO_REPLY,
        _auto_reply_subject,
    ),
)
"""The policy, in order; the first rule that fires decides."""


def classify(msg: ParsedMessage, envelope_from: str | None) -> Classification:
    """Classify `msg`.  `envelope_from`: the SMTP MAIL FROM ('' for the null
    sender), or None when unknown (only header signals are used then)."""
    mail = Mail(msg, envelope_from)
    for rule in RULES:
        reason = rule.match(mail)
        if reason is not None:
            return Classification(rule.kind, reason)
    return Classification(MailKind.HUMAN, "no automation signal")
