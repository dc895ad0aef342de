"""The listener's replies (`maildesk.inbound.replies`) are consistent, and are the only
ones: the basic code agrees with the enhanced code (RFC 3463), each text is one line of
ASCII, each reply has one name, and no reply line is written inline anywhere else in
maildesk/inbound/. After aiosmtpd's `testing/statuscodes.py` and its `qa` check."""

from __future__ import annotations

import ast
import re
import string
from collections import Counter
from pathlib import Path

import pytest

from maildesk.inbound import replies
from maildesk.inbound.replies import Reply

INBOUND = Path(replies.__file__).parent
REPLIES = {name: value for name, value in vars(replies).items() if isinstance(value, Reply)}
# RFC 3463 section 2: class "." subject "." detail; sub-codes 0 to 999, no leading zeros.
ENHANCED = re.compile(r"(?P<cls>[245])\.(?:0|[1-9]\d{0,2})\.(?:0|[1-9]\d{0,2})")
# A reply line written as a literal: a code and a space (or "-", a continuation line),
# at the start of the string or of a line in it.
INLINE_REPLY = re.compile(r"(?:^|\r?\n)[2-5]\d\d[ -]")


def filled(reply: Reply) -> str:
    """The line sent, with sample values in the text's fields."""
    fields = [field for _, field, _, _ in string.Formatter().parse(reply.text) if field]
    return reply.format(**dict.fromkeys(fields, 12345))


def test_there_are_replies() -> None:
    assert {"RECIPIENT_OK", "UNKNOWN_RECIPIENT", "ACCEPTED", "TEMPORARY_FAILURE"} <= set(REPLIES)


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_the_basic_code_agrees_with_the_enhanced_code(name: str) -> None:
    reply = REPLIES[name]
    assert isinstance(reply.code, int) and 200 <= reply.code <= 599, reply
    matched = ENHANCED.fullmatch(reply.enhanced)
    assert matched, f"{name}: {reply.enhanced!r} is not an RFC 3463 status code"
    # 2xx <-> 2.x.x, 4xx <-> 4.x.x, 5xx <-> 5.x.x (RFC 3463 section 3.1; 3xx has none)
    assert reply.code // 100 == int(matched["cls"]), f"{name}: {reply.code} vs {reply.enhanced}"


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_the_text_is_one_line_of_ascii(name: str) -> None:
    reply = REPLIES[name]
    for line in (reply.text, filled(reply)):
        assert line and line.isascii() and line.isprintable(), f"{name}: {line!r}"
        assert line == line.strip(), f"{name}: {line!r}"
    # RFC 5321 4.5.3.1.5: a reply line is at most 512 octets, CRLF included.
    assert len(filled(reply)) + 2 <= 512
    assert filled(reply).startswith(f"{reply.code} {reply.enhanced} ")


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_the_wire_line_is_code_enhanced_code_text(name: str) -> None:
    reply = REPLIES[name]
    fields = [field for _, field, _, _ in string.Formatter().parse(reply.text) if field is not None]
    assert all(field.isidentifier() for field in fields), f"{name}: only named fields"
    if not fields:
        assert str(reply) == reply.format() == f"{reply.code} {reply.enhanced} {reply.text}"


def test_each_reply_has_one_name() -> None:
    """No reply under two names, and no name bound twice in the module (a later
    binding would silently replace the first reply)."""
    twice = [reply for reply, count in Counter(REPLIES.values()).items() if count > 1]
    assert not twice, twice
    tree = ast.parse(Path(replies.__file__).read_text())
    bound = Counter(
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    )
    assert {name for name, count in bound.items() if count > 1} == set()
    assert set(REPLIES) <= set(bound)


def test_replies_are_frozen() -> None:
    with pytest.raises(AttributeError):
        replies.RECIPIENT_OK.code = 251  # type: ignore[misc]


def inline_replies(root: Path, allowed: Path) -> list[str]:
    """`file:line text` of each string or bytes literal under `root` (but `allowed`)
    that reads like an SMTP reply line; docstrings are prose and are left out."""
    found: list[tuple[str, int, str]] = []
    for path in sorted(root.rglob("*.py")):
        if path == allowed:
            continue
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or id(node) in docstrings:
                continue
            value = node.value
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            if isinstance(text, str) and INLINE_REPLY.search(text):
                found.append((str(path.relative_to(root)), node.lineno, text))
    return [f"{name}:{line} {text!r}" for name, line, text in sorted(found)]


def test_no_reply_line_is_written_outside_the_replies_module() -> None:
    assert inline_replies(INBOUND, Path(replies.__file__)) == []


def test_the_inline_reply_scan_finds_what_it_should(tmp_path: Path) -> None:
    (tmp_path / "listener.py").write_text(
        '"""550 5.1.1 in a docstring is prose."""\n'
        'A = "250 OK"\n'
        "B = b'451 4.3.0 later'\n"
        'C = f"550 5.1.1 <{address}>"\n'
        'D = "250-first\\r\\n250 last"\n'
        'E = "250"\n'  # a bare number: a code compared, not a line sent
        'F = "port 2525 "\n'
    )
    assert inline_replies(tmp_path, tmp_path / "replies.py") == [
        "listener.py:2 '250 OK'",
        "listener.py:3 '451 4.3.0 later'",
        "listener.py:4 '550 5.1.1 <'",
        "listener.py:5 '250-first\\r\\n250 last'",
    ]
