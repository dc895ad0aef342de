"""The test corpus through the whole pipeline (`maildesk ingest`), on SQLite and PostgreSQL:
each kind of message ends as expected; the public sample corpus never breaks intake;
random bytes and random MIME trees never escape as exceptions and are always stored."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildesk.config import load_config
from maildesk.core.message import header_message_id
from maildesk.inbound.intake import dedupe_key
from maildesk.pipeline.flow import Outcome
from maildesk.pipeline.ingest import Runtime, open_runtime
from maildesk.store import repo
from maildesk.store.models import Intake
from tests import mailfactory as mf
from tests.conftest import SHARED_CORPUS, Install, write_config

FINAL_ACTIONS = {"created", "appended", "ignored", "quarantined"}
PER_MESSAGE_LIMIT_S = 10.0

Check = Callable[[dict[str, Any]], None]


def _subject(expected: str) -> Check:
    def check(ticket: dict[str, Any]) -> None:
        assert ticket["subject"] == expected

    return check


def _body_contains(text: str) -> Check:
    def check(ticket: dict[str, Any]) -> None:
        assert text in ticket["messages"][0]["body_text"]

    return check


def _attachments(*names: str) -> Check:
    def check(ticket: dict[str, Any]) -> None:
        assert [a["filename"] for a in ticket["messages"][0]["attachments"]] == list(names)

    return check


def _requester_name(name: str) -> Check:
    def check(ticket: dict[str, Any]) -> None:
        assert ticket["requester"]["name"] == name

    return check


def _inline_cid(ticket: dict[str, Any]) -> None:
    inline = [a for a in ticket["messages"][0]["attachments"] if a["inline"]]
    assert inline and inline[0]["content_id"] and inline[0]["content_type"] == "image/png"


def _forwarded(ticket: dict[str, Any]) -> None:
    [attachment] = ticket["messages"][0]["attachments"]
    assert attachment["content_type"] == "message/rfc822"
    assert attachment["filename"].endswith(".eml")


def _traversal(ticket: dict[str, Any]) -> None:
    names = [a["filename"] for a in ticket["messages"][0]["attachments"]]
    assert names and all("/" not in n and "\\" not in n and not n.startswith(".") for n in names)


def _automated(ticket: dict[str, Any]) -> None:
    assert ticket["automated"] is True


def _no_nul(ticket: dict[str, Any]) -> None:
    assert "\x00" not in ticket["subject"] + ticket["messages"][0]["body_text"]


# name -> (expected action, checks on the resulting ticket)
EXPECTED: dict[str, tuple[str, tuple[Check, ...]]] = {
    "plain": ("created", (_subject("Printer on fire"),)),
    "reply": ("created", ()),  # its In-Reply-To names nothing we know
    "crlf_plain": ("created", ()),
    "alternative": ("created", ()),
    "html_only": ("created", ()),
    "attachments": ("created", ()),
    "inline_image": ("created", (_inline_cid,)),
    "forwarded": ("created", (_forwarded,)),
    "latin1_headers": ("created", (_subject(mf.LATIN1_SUBJECT), _requester_name(mf.LATIN1_NAME))),
    "cp1252_as_latin1": ("created", (_subject(mf.CP1252_SUBJECT), _body_contains("10 €"))),
    "shift_jis": ("created", (_subject(mf.SHIFT_JIS_SUBJECT), _body_contains("こんにちは"))),
    "iso_2022_jp": ("created", (_subject(mf.ISO_2022_JP_SUBJECT),)),
    "gb2312": ("created", (_subject(mf.GB2312_SUBJECT),)),
    "koi8_r": ("created", (_subject(mf.KOI8_R_SUBJECT), _body_contains("Добрый день"))),
    "utf8_8bit": ("created", (_subject(mf.UTF8_SUBJECT), _body_contains("Grüße, ☃"))),
    "rfc2231_filename": ("created", (_attachments(mf.RFC2231_FILENAME),)),
    "traversal_filenames": ("created", (_traversal,)),
    "no_message_id": ("created", ()),
    "bounce_dsn": ("ignored", ()),
    "list_mail": ("created", (_automated,)),
    "empty_body": ("created", ()),
    "no_subject": ("created", (_subject("(no subject)"),)),
    "long_subject": ("created", (_subject(mf.LONG_SUBJECT),)),
    "nul_bytes": ("created", (_no_nul,)),
    "unknown_charset": ("created", ()),
    "broken_boundary": ("created", ()),
    "missing_final_boundary": ("created", ()),
    "no_separator": ("created", ()),
    "deeply_nested": ("created", ()),
    "endless_enclosures": ("created", ()),
}
AUTO_REPLY_CASES = [name for name, _ in mf.CASES if name.startswith("auto_reply_")]


def test_every_case_has_an_expectation() -> None:
    assert set(EXPECTED) | set(AUTO_REPLY_CASES) == {name for name, _ in mf.CASES}


@pytest.mark.parametrize("name", [name for name, _ in mf.CASES])
def test_fixture_corpus_case(desk: Install, name: str) -> None:
    action, checks = EXPECTED.get(name, ("ignored", ()))
    [line] = desk.ingest(mf.case(name))
    assert line["action"] == action, line
    assert line["reason"]
    if line["ticket"]:
        ticket = desk.json("tickets", "show", line["ticket"])
        for check in checks:
            check(ticket)


@pytest.fixture
def runtime(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    config = load_config(write_config(tmp_path, database_url))
    with open_runtime(config).session() as rt:
        yield rt


def _assert_stored(raw: bytes, outcome: Outcome) -> None:
    """`raw` is in the database: its own bytes, or (a redelivery) the earlier copy's."""
    intake = Intake.get(Intake.dedupe_key == dedupe_key(raw, header_message_id(raw)))
    if outcome.action != "duplicate":
        assert intake.id == outcome.intake_id
        assert repo.blob_bytes(intake.raw_id) == raw


def _corpus_files() -> list[Path]:
    if not SHARED_CORPUS.is_dir():
        return []
    return sorted(
        p
        for p in SHARED_CORPUS.rglob("*")
        if p.is_file() and p.name not in ("README.md", "LICENSE", "LICENSE.txt")
    )


@pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason=f"{SHARED_CORPUS} is absent")
def test_shared_corpus_regression(runtime: Runtime) -> None:
    files = _corpus_files()
    assert len(files) > 100
    outcomes: dict[str, int] = {}
    for path in files:
        raw = path.read_bytes()
        started = time.monotonic()
        outcome = runtime.ingest(raw, source=f"file:{path.name}")
        elapsed = time.monotonic() - started
        assert elapsed < PER_MESSAGE_LIMIT_S, f"{path.name} took {elapsed:.1f} s"
        assert outcome.action in FINAL_ACTIONS | {"duplicate"}, (path.name, outcome)
        assert outcome.reason, path.name
        _assert_stored(raw, outcome)
        outcomes[outcome.action] = outcomes.get(outcome.action, 0) + 1
    # The public corpus is mail a helpdesk must cope with: most of it becomes tickets.
    assert outcomes.get("created", 0) > len(files) // 2, outcomes
    assert outcomes.get("ignored", 0) >= 5, outcomes  # its bounces and complaints


# -- property tests ---------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=4000))
def test_random_bytes_never_escape_and_are_stored(runtime: Runtime, raw: bytes) -> None:
    outcome = runtime.ingest(raw, source="hypothesis")
    assert outcome.action in FINAL_ACTIONS | {"duplicate"}
    _assert_stored(raw, outcome)


SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=60)
CHARSETS = st.sampled_from(["utf-8", "iso-8859-1", "koi8-r", "shift_jis", "x-unknown", "utf-7"])
FILENAMES = st.one_of(
    SAFE_TEXT,
    st.sampled_from(["../../etc/passwd", "C:\\Windows\\evil.exe", "..", "", "a\x00b.txt"]),
)


@st.composite
def mime_trees(draw: st.DrawFn, depth: int = 0) -> EmailMessage:
    msg = EmailMessage()
    kind = draw(
        st.sampled_from(["text", "html", "binary", "multipart", "rfc822"][: 5 if depth < 3 else 3])
    )
    if kind == "text":
        text = draw(SAFE_TEXT)
        charset = draw(CHARSETS)
        try:
            msg.set_content(text, charset="utf-8")
            msg.set_param("charset", charset)
        except (ValueError, LookupError):
            msg.set_content(text)
    elif kind == "html":
        msg.set_content(f"<p>{draw(SAFE_TEXT)}</p><script>x()</script>", subtype="html")
    elif kind == "binary":
        msg.set_content(
            draw(st.binary(max_size=300)), maintype="application", subtype="octet-stream"
        )
        msg.add_header("Content-Disposition", "attachment")
        msg.set_param("filename", draw(FILENAMES), header="Content-Disposition")
    elif kind == "rfc822":
        msg.set_content(draw(mime_trees(depth + 1)))
    else:
        msg.make_mixed()
        msg.set_type(f"multipart/{draw(st.sampled_from(['mixed', 'alternative', 'related']))}")
        for part in draw(st.lists(mime_trees(depth + 1), max_size=3)):
            msg.attach(part)
    return msg


@PROPERTY_SETTINGS
@given(tree=mime_trees(), subject=SAFE_TEXT, sender=st.emails())
def test_random_mime_trees_never_escape_and_are_stored(
    runtime: Runtime, tree: EmailMessage, subject: str, sender: str
) -> None:
    tree["From"] = sender
    tree["To"] = "support@example.com"
    tree["Subject"] = subject
    try:
        raw = tree.as_bytes()
    except (ValueError, TypeError, UnicodeError, LookupError):
        raw = bytes(tree)  # the generator cannot serialise every tree it can build
    outcome = runtime.ingest(raw, source="hypothesis")
    assert outcome.action in FINAL_ACTIONS | {"duplicate"}
    _assert_stored(raw, outcome)
