"""Tests of `maildesk.core.autoreply`: which mail is automated.

Where it sits in the flow: classification runs on the `ParsedMessage` right
after parsing and decides whether the helpdesk may answer automatically.
These tests walk the signal table rule by rule, check the rule order, and
check real bounces, complaints and receipts from the shared sample corpus.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildesk.core.autoreply import RULES, Classification, Mail, MailKind, classify
from maildesk.core.message import parse_message

try:
    from tests import mailfactory as mf
except ModuleNotFoundError:  # plain `pytest` (not `python -m pytest`): tests/ is on sys.path
    import mailfactory as mf  # type: ignore[no-redef]

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
FLANKER = CORPUS / "flanker"

HUMAN = MailKind.HUMAN
AUTO = MailKind.AUTO_REPLY
BOUNCE = MailKind.BOUNCE
COMPLAINT = MailKind.COMPLAINT
BULK = MailKind.BULK


def mail(*headers: tuple[str, str], subject: str = "Question", body: bytes = b"Hi\n") -> bytes:
    overridden = {name.lower() for name, _ in headers}
    base = [("From", "Alice <alice@example.com>"), ("To", "support@example.net")]
    if subject:
        base.append(("Subject", subject))
    base = [(name, value) for name, value in base if name.lower() not in overridden]
    return mf.raw_message([*base, *headers], body)


def report(report_type: str, *headers: tuple[str, str], part_type: str | None = None) -> bytes:
    """A minimal multipart/report with a text part and a machine-readable part."""
    part = part_type or f"message/{report_type}"
    body = (
        b"--r\nContent-Type: text/plain\n\nhuman readable\n"
        b"--r\nContent-Type: " + part.encode() + b"\n\nField: value\n\n--r--\n"
    )
    content_type = f"multipart/report; report-type={report_type}; boundary=r"
    return mail(("Content-Type", content_type), *headers, subject="Report", body=body)


def classify_raw(raw: bytes, envelope_from: str | None = None) -> Classification:
    return classify(parse_message(raw), envelope_from)


SIGNALS: list[tuple[str, bytes, str | None, MailKind, str]] = [
    # (id, message, envelope sender, expected kind, text the reason must contain)
    ("human", mail(), "alice@example.com", HUMAN, "no automation"),
    ("human-unknown-envelope", mail(), None, HUMAN, "no automation"),
    (
        "auto-submitted",
        mail(("Auto-Submitted", "auto-replied")),
        None,
        AUTO,
        "Auto-Submitted: auto-replied",
    ),
    ("auto-generated", mail(("Auto-Submitted", "auto-generated")), None, AUTO, "auto-generated"),
    (
        "auto-submitted-params",
        mail(("Auto-Submitted", "Auto-Replied; owner=x")),
        None,
        AUTO,
        "auto-replied",
    ),
    ("auto-submitted-no", mail(("Auto-Submitted", "no")), None, HUMAN, "no automation"),
    ("auto-submitted-No", mail(("Auto-Submitted", " No (comment)")), None, HUMAN, "no automation"),
    ("dsn", report("delivery-status"), None, BOUNCE, "delivery-status"),
    ("dsn-quoted", report('"delivery-status"'), None, BOUNCE, "delivery-status"),
    (
        "dsn-over-list",
        report("delivery-status", ("Precedence", "list")),
        None,
        BOUNCE,
        "delivery-status",
    ),
    (
        "dsn-no-report-type",
        mail(
            ("Content-Type", "multipart/report; boundary=r"),
            body=b"--r\nContent-Type: message/delivery-status\n\nA: b\n\n--r--\n",
        ),
        None,
        BOUNCE,
        "message/delivery-status",
    ),
    ("arf", report("feedback-report", ("Precedence", "list")), None, COMPLAINT, "feedback-report"),
    ("mdn", report("disposition-notification"), None, AUTO, "disposition-notification"),
    (
        "other-report",
        report("tlsrpt", part_type="application/tlsrpt+json"),
        "alice@example.com",
        AUTO,
        "multipart/report",
    ),
    (
        "null-sender-report",
        report("tlsrpt", part_type="application/tlsrpt+json"),
        "",
        BOUNCE,
        "null sender",
    ),
    (
        "mailer-daemon",
        mail(("From", "MAILER-DAEMON@mx.example.org")),
        None,
        BOUNCE,
        "MAILER-DAEMON",
    ),
    (
        "postmaster",
        mail(("From", "Postmaster <POSTMASTER@example.org>")),
        None,
        BOUNCE,
        "POSTMASTER",
    ),
    (
        "daemon-no-domain",
        mail(("From", "MAILER-DAEMON (Mail Delivery System)")),
        None,
        BOUNCE,
        "MAILER-DAEMON",
    ),
    ("envelope-daemon", mail(), "MAILER-DAEMON@mx.example.org", BOUNCE, "envelope sender"),
    ("envelope-null", mail(), "", AUTO, "null return path"),
    ("envelope-null-brackets", mail(), "<>", AUTO, "null return path"),
    ("return-path-null", mail(("Return-Path", "<>")), None, AUTO, "null return path"),
    (
        "return-path-normal",
        mail(("Return-Path", "<alice@example.com>")),
        None,
        HUMAN,
        "no automation",
    ),
    ("x-autoreply", mail(("X-Autoreply", "yes")), None, AUTO, "X-Autoreply"),
    ("x-autorespond", mail(("X-Autorespond", "Vacation")), None, AUTO, "X-Autorespond"),
    ("suppress-all", mail(("X-Auto-Response-Suppress", "All")), None, AUTO, "All"),
    (
        "suppress-oof",
        mail(("X-Auto-Response-Suppress", "DR, RN, NRN, OOF, AutoReply")),
        None,
        AUTO,
        "OOF",
    ),
    (
        "suppress-autoreply",
        mail(("X-Auto-Response-Suppress", "AutoReply")),
        None,
        AUTO,
        "AutoReply",
    ),
    (
        "suppress-dr-only",
        mail(("X-Auto-Response-Suppress", "DR, RN")),
        None,
        HUMAN,
        "no automation",
    ),
    ("x-autogenerated", mail(("X-Autogenerated", "Reply")), None, AUTO, "X-Autogenerated"),
    ("x-autogenerated-forward", mail(("X-Autogenerated", "Forward")), None, HUMAN, "no automation"),
    (
        "exchange",
        mail(("X-MS-Exchange-Generated-Message-Source", "Mailbox Rules Agent")),
        None,
        AUTO,
        "X-MS-Exchange",
    ),
    (
        "precedence-auto-reply",
        mail(("Precedence", "auto_reply")),
        None,
        AUTO,
        "Precedence: auto_reply",
    ),
    ("precedence-bulk", mail(("Precedence", "bulk")), None, BULK, "Precedence: bulk"),
    ("precedence-junk", mail(("Precedence", "Junk")), None, BULK, "Precedence: junk"),
    ("precedence-list", mail(("Precedence", "list")), None, BULK, "Precedence: list"),
    ("precedence-first-class", mail(("Precedence", "first-class")), None, HUMAN, "no automation"),
    ("list-id", mail(("List-Id", "<a.lists.example.org>")), None, BULK, "List-Id"),
    (
        "list-unsubscribe",
        mail(("List-Unsubscribe", "<mailto:x@y>")),
        None,
        BULK,
        "List-Unsubscribe",
    ),
    ("list-post", mail(("List-Post", "<mailto:x@y>")), None, BULK, "List-Post"),
    ("list-help", mail(("List-Help", "<mailto:x@y>")), None, BULK, "List-Help"),
    ("feedback-id-only", mail(("Feedback-ID", "a:b:c:esp")), None, HUMAN, "no automation"),
    (
        "subject-undelivered",
        mail(subject="Undelivered Mail Returned to Sender"),
        None,
        BOUNCE,
        "bounce subject",
    ),
    (
        "subject-dsn-failure",
        mail(subject="Delivery Status Notification (Failure)"),
        None,
        BOUNCE,
        "bounce subject",
    ),
    (
        "subject-mail-delivery-failed",
        mail(subject="Mail delivery failed: returning message to sender"),
        None,
        BOUNCE,
        "bounce subject",
    ),
    (
        "subject-undeliverable",
        mail(subject="Undeliverable: Your ticket"),
        None,
        BOUNCE,
        "bounce subject",
    ),
    ("subject-out-of-office", mail(subject="Out of Office"), None, AUTO, "auto-reply subject"),
    (
        "subject-automatic-reply",
        mail(subject="Automatic reply: Ticket #42"),
        None,
        AUTO,
        "auto-reply subject",
    ),
    ("subject-autosvar", mail(subject="Autosvar: Ticket #42"), None, AUTO, "auto-reply subject"),
    (
        "subject-abwesenheitsnotiz",
        mail(subject="Abwesenheitsnotiz: Ihre Anfrage"),
        None,
        AUTO,
        "auto-reply subject",
    ),
    (
        "subject-encoded-ooo",
        mail(subject="=?utf-8?q?Automatic_reply=3A_Gr=C3=BC=C3=9Fe?="),
        None,
        AUTO,
        "auto-reply subject",
    ),
    (
        "subject-forwarded-bounce",
        mail(subject="Fwd: Undelivered Mail Returned to Sender"),
        None,
        HUMAN,
        "no automation",
    ),
    ("subject-re-out-of-office", mail(subject="Re: Out of Office"), None, HUMAN, "no automation"),
    (
        "subject-mentions-ooo",
        mail(subject="Question about my out of office settings"),
        None,
        HUMAN,
        "no automation",
    ),
]


@pytest.mark.parametrize(
    ("raw", "envelope_from", "kind", "reason"),
    [row[1:] for row in SIGNALS],
    ids=[row[0] for row in SIGNALS],
)
def test_signal_table(raw: bytes, envelope_from: str | None, kind: MailKind, reason: str) -> None:
    result = classify_raw(raw, envelope_from)
    assert result.kind is kind
    assert reason in result.reason
    assert result.automated is (kind is not MailKind.HUMAN)


def test_rule_order_first_hit_wins() -> None:
    both = mail(("Auto-Submitted", "auto-replied"), ("List-Id", "<l.example.org>"))
    assert classify_raw(both).kind is AUTO
    bounce_with_auto_submitted = report("delivery-status", ("Auto-Submitted", "auto-replied"))
    assert classify_raw(bounce_with_auto_submitted).kind is BOUNCE
    daemon_list = mail(("From", "mailer-daemon@x.org"), ("Precedence", "bulk"))
    assert classify_raw(daemon_list).kind is BOUNCE


def test_envelope_none_uses_only_headers() -> None:
    raw = mail()
    assert classify_raw(raw, None).kind is HUMAN
    assert classify_raw(raw, "").kind is AUTO


def test_mail_kind_values_are_stable() -> None:
    assert {kind.value for kind in MailKind} == {
        "human",
        "auto_reply",
        "bounce",
        "complaint",
        "bulk",
    }
    assert str(MailKind.AUTO_REPLY) == "auto_reply"


def test_automated_property() -> None:
    assert Classification(MailKind.HUMAN, "x").automated is False
    for kind in (AUTO, BOUNCE, COMPLAINT, BULK):
        assert Classification(kind, "x").automated is True


def test_rules_are_well_formed() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    for rule in RULES:
        assert rule.name and rule.description
        assert isinstance(rule.kind, MailKind)
        assert rule.kind is not MailKind.HUMAN
        assert rule.match(Mail(parse_message(mail()), "alice@example.com")) is None


EXPECTED_FOR_CASE = {
    "bounce_dsn": BOUNCE,
    "list_mail": BULK,
    **{f"auto_reply_{style.replace('-', '_')}": AUTO for style in mf.AUTO_REPLY_STYLES},
}


@pytest.mark.parametrize(("name", "build"), mf.CASES, ids=[name for name, _ in mf.CASES])
def test_mailfactory_cases(name: str, build: object) -> None:
    assert callable(build)
    result = classify_raw(build(), None)
    assert result.kind is EXPECTED_FOR_CASE.get(name, HUMAN), result.reason


@pytest.mark.parametrize("style", mf.AUTO_REPLY_STYLES)
def test_auto_reply_styles_with_normal_envelope(style: str) -> None:
    result = classify_raw(mf.auto_reply(style=style), "carol@customer.example")
    assert result.kind is AUTO


def test_bounce_dsn_without_daemon_or_null_sender() -> None:
    raw = mf.bounce_dsn(from_="Robot <robot@example.org>", return_path=None, subject="Hmm")
    assert classify_raw(raw, "robot@example.org").kind is BOUNCE


def test_list_mail_without_precedence() -> None:
    result = classify_raw(mf.list_mail(precedence=None), "news@lists.example.org")
    assert result.kind is BULK
    assert "List-Id" in result.reason


# --------------------------------------------------------------------------
# the shared corpus
# --------------------------------------------------------------------------


def flanker(pattern: str) -> list[Path]:
    return sorted(FLANKER.glob(pattern)) if FLANKER.is_dir() else []


needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"{CORPUS} is absent")


@needs_corpus
@pytest.mark.parametrize("path", flanker("bounce_*.eml"), ids=lambda p: p.name)
@pytest.mark.parametrize("envelope_from", [None, ""])
def test_corpus_bounces(path: Path, envelope_from: str | None) -> None:
    result = classify_raw(path.read_bytes(), envelope_from)
    assert result.kind is BOUNCE, result.reason


@needs_corpus
@pytest.mark.parametrize("path", flanker("complaints_*.eml"), ids=lambda p: p.name)
def test_corpus_complaints(path: Path) -> None:
    result = classify_raw(path.read_bytes(), None)
    assert result.kind is COMPLAINT
    assert "feedback-report" in result.reason


@needs_corpus
def test_corpus_read_receipt() -> None:
    result = classify_raw((FLANKER / "disposition-notification.eml").read_bytes(), None)
    assert result.kind is AUTO
    assert "disposition-notification" in result.reason


@needs_corpus
def test_corpus_has_the_expected_samples() -> None:
    assert len(flanker("bounce_*.eml")) >= 9
    assert len(flanker("complaints_*.eml")) >= 2


@needs_corpus
@pytest.mark.parametrize(
    "relative",
    ["flanker/text-only.eml", "flanker/iphone.eml", "flanker/enclosed.eml", "cpython/msg_07.txt"],
)
def test_corpus_person_mail_is_human(relative: str) -> None:
    assert classify_raw((CORPUS / relative).read_bytes(), None).kind is HUMAN


@needs_corpus
def test_corpus_classifies_without_error() -> None:
    files = [p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".eml", ".txt")]
    kinds = {classify_raw(p.read_bytes(), None).kind for p in files}
    assert {HUMAN, BOUNCE, COMPLAINT, AUTO, BULK} <= kinds


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "Auto-Submitted",
                    "Precedence",
                    "X-Auto-Response-Suppress",
                    "Return-Path",
                    "From",
                    "Subject",
                    "Content-Type",
                    "List-Id",
                    "X-Autogenerated",
                ]
            ),
            st.text(max_size=40).map(lambda t: t.replace("\n", " ").replace("\r", " ")),
        ),
        max_size=6,
    ),
    st.one_of(st.none(), st.text(max_size=30)),
)
def test_classify_never_raises(headers: list[tuple[str, str]], envelope_from: str | None) -> None:
    raw = mf.raw_message(headers, b"body")
    result = classify_raw(raw, envelope_from)
    assert isinstance(result.kind, MailKind)
    assert result.reason
