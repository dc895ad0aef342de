"""core.commands: the `#command value` block at the top of an agent's reply.

Where it sits in the flow: the pipeline parses a verified agent's reply, applies
the commands and relays (or stores as a note) the body; any error means nothing
is applied or relayed. These tests walk the command table, the tolerated
spellings, every kind of error, where the block ends, and properties over
arbitrary text: parsing never raises and no command line ever reaches the body.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.core.commands import (
    COMMANDS,
    DEFAULT_PRIORITIES,
    STATUSES,
    Assign,
    Cc,
    CcAction,
    Command,
    CommandError,
    Follow,
    LinkArticle,
    LinkKind,
    LinkTicket,
    Merge,
    Note,
    ParsedReply,
    ReplyLinked,
    SetCategory,
    SetPriority,
    SetStatus,
    Split,
    Tag,
    Unfollow,
    Unlink,
    UseTemplate,
    cheat_sheet,
    parse_reply,
)
from maildesk.core.match import TicketLabel


def parse(text: str, priorities: tuple[str, ...] = DEFAULT_PRIORITIES) -> ParsedReply:
    return parse_reply(text, prefix="SUP", priorities=priorities)


def only_command(text: str) -> Command:
    reply = parse(text)
    assert reply.errors == ()
    assert len(reply.commands) == 1
    return reply.commands[0]


def only_error(text: str) -> CommandError:
    reply = parse(text)
    assert len(reply.errors) == 1, reply.errors
    return reply.errors[0]


# --------------------------------------------------------------------------
# Each command
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("#status open", SetStatus("open")),
        ("#status waiting_on_customer", SetStatus("waiting_on_customer")),
        ("#status Waiting on customer", SetStatus("waiting_on_customer")),
        ("#status in-progress", SetStatus("in_progress")),
        ("#STATUS RESOLVED", SetStatus("resolved")),
        ("#status: closed", SetStatus("closed")),
        ("#resolve", SetStatus("resolved")),
        ("#Close", SetStatus("closed")),
        ("#priority high", SetPriority("high")),
        ("#priority  HIGH", SetPriority("high")),
        ("#priority\tUrgent  ", SetPriority("urgent")),
        ("#assign bob@example.com", Assign("bob@example.com")),
        ("#assign Bob@Example.COM", Assign("bob@example.com")),
        ("#assign <bob@example.com>", Assign("bob@example.com")),
        ("#assign mailto:bob@example.com", Assign("bob@example.com")),
        ("#assign bob@example.com<mailto:bob@example.com>", Assign("bob@example.com")),
        ("#assign bob@example.com [mailto:bob@example.com]", Assign("bob@example.com")),
        ("#assign me", Assign(None, to_sender=True)),
        ("#assign ME", Assign(None, to_sender=True)),
        ("#assign none", Assign(None)),
        ("#assign nobody", Assign(None)),
        ("#category Billing", SetCategory("Billing")),
        ("#category  Technical   support ", SetCategory("Technical support")),
        ("#category none", SetCategory(None)),
        ("#tag a b -c", Tag(("a", "b"), ("c",))),
        ("#tag +VIP vip printer", Tag(("vip", "printer"), ())),
        ("#tag -old -stale", Tag((), ("old", "stale"))),
        ("#tag größe", Tag(("größe",), ())),
        ("#cc add carol@example.com", Cc(CcAction.ADD, "carol@example.com")),
        ("#cc REMOVE Carol@example.com", Cc(CcAction.REMOVE, "carol@example.com")),
        ("#note", Note()),
        ("#template refund_policy", UseTemplate("refund_policy")),
        ("#template Password-Reset", UseTemplate("password-reset")),
        ("#merge SUP-00017", Merge(TicketLabel("SUP", 17))),
        ("#merge sup-17", Merge(TicketLabel("SUP", 17))),
        ("#merge [SUP-00017]", Merge(TicketLabel("SUP", 17))),
        ("#merge 17", Merge(TicketLabel(None, 17))),
        ("#kb Reset-Password", LinkArticle("reset-password")),
        ("#follow", Follow()),
        ("#Unfollow", Unfollow()),
        ("#split", Split()),
        ("#split ONLY", Split(only=True)),
        ("#link SUP-17", LinkTicket(TicketLabel("SUP", 17))),
        ("#incident 17", LinkTicket(TicketLabel(None, 17), LinkKind.PARENT)),
        ("#unlink [sup-00017]", Unlink(TicketLabel("SUP", 17))),
        ("#reply-linked", ReplyLinked()),
    ],
)
def test_each_command(line: str, command: Command) -> None:
    assert only_command(f"{line}\n\nHello") == command


def test_configured_priorities_keep_their_spelling() -> None:
    priorities = ("P3", "P2", "P1")
    assert parse("#priority p1", priorities).commands == (SetPriority("P1"),)
    error = parse("#priority high", priorities).errors[0]
    assert "P3, P2, P1" in error.message
    assert error.syntax == "#priority P3|P2|P1"


# --------------------------------------------------------------------------
# Errors: every one names the line and shows the valid syntax
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message", "syntax"),
    [
        ("#ntoe", "did you mean #note?", "#note"),
        ("#stauts open", "did you mean #status?", "#status " + "|".join(STATUSES)),
        ("#assignee me", "did you mean #assign?", "#assign EMAIL|me|none"),
        ("#frobnicate", "unknown command #frobnicate; commands: #status", ""),
        ("#", "not a command", ""),
        ("#1 priority is the printer", "unknown command #1", ""),
        ("#priority extreme", "unknown priority 'extreme'", "#priority low|medium|high|urgent"),
        ("#priority", "needs a priority", "#priority low|medium|high|urgent"),
        ("#priority high please", "unknown priority", "#priority low|medium|high|urgent"),
        ("#status done", "unknown status 'done'", "#status " + "|".join(STATUSES)),
        ("#assign not-an-email", "not an email: 'not-an-email'", "#assign EMAIL|me|none"),
        ("#assign Bob Smith", "not an email", "#assign EMAIL|me|none"),
        ("#assign", "needs an email, `me` or `none`", "#assign EMAIL|me|none"),
        ("#assign Bob", "not an email: 'Bob'", "#assign EMAIL|me|none"),
        (
            "#assign bob@example.com<mailto:eve@example.com>",
            "not an email",
            "#assign EMAIL|me|none",
        ),
        ("#merge ABC-1", "needs a ticket like SUP-00017 (got 'ABC-1')", "#merge SUP-00017"),
        ("#merge SUP-00000", "needs a ticket like SUP-00017", "#merge SUP-00017"),
        ("#merge", "needs a ticket", "#merge SUP-00017"),
        ("#tag", "needs at least one tag", "#tag TAG ... -TAG ..."),
        ("#tag -", "not a tag: '-'", "#tag TAG ... -TAG ..."),
        ("#tag a/b", "not a tag", "#tag TAG ... -TAG ..."),
        ("#tag a -a", "adds and removes a", "#tag TAG ... -TAG ..."),
        ("#cc carol@example.com", "needs `add` or `remove`", "#cc add|remove EMAIL"),
        ("#cc add carol", "not an email: 'carol'", "#cc add|remove EMAIL"),
        ("#category", "needs a category name", "#category NAME|none"),
        ("#category <script>", "not a category name", "#category NAME|none"),
        ("#template two words", "needs one template name", "#template NAME"),
        ("#template", "needs one template name", "#template NAME"),
        ("#note call the customer", "takes no value", "#note"),
        ("#resolve now", "takes no value", "#resolve"),
        ("#close it", "takes no value", "#close"),
    ],
)
def test_errors(line: str, message: str, syntax: str) -> None:
    error = only_error(f"{line}\nHello")
    assert error.line_number == 1
    assert error.line == line
    assert message in error.message
    assert error.syntax == syntax


def test_an_error_stops_nothing_else_from_being_checked() -> None:
    reply = parse("#status resolved\n#ntoe\n#priority extreme\n\nDone.")
    assert reply.commands == (SetStatus("resolved"),)
    assert [e.line_number for e in reply.errors] == [2, 3]
    assert not reply.ok
    assert reply.body == "Done."


def test_error_text_for_the_agent() -> None:
    error = only_error("\n\n#ntoe\nHi")
    assert str(error) == "line 3: #ntoe: unknown command #ntoe; did you mean #note? (syntax: #note)"


@pytest.mark.parametrize(
    ("block", "conflict_line"),
    [
        ("#status open\n#status resolved", 2),
        ("#status open\n#close", 2),
        ("#resolve\n#close", 2),
        ("#priority high\n#priority HIGH", 2),
        ("#assign me\n#assign none", 2),
        ("#tag a\n#tag b", 2),
        ("#note\n#note", 2),
        ("#merge SUP-1\n#status open\n#merge SUP-2", 3),
        ("#cc add a@example.com\n#cc remove A@example.com", 2),
    ],
)
def test_duplicates_conflict(block: str, conflict_line: int) -> None:
    error = only_error(f"{block}\n\nText")
    assert error.line_number == conflict_line
    assert "conflicts with line" in error.message


def test_several_cc_lines_for_different_addresses() -> None:
    reply = parse("#cc add a@example.com\n#cc add b@example.com\n#cc remove c@example.com\nHi")
    assert reply.ok
    assert [c.email for c in reply.commands if isinstance(c, Cc)] == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]


# --------------------------------------------------------------------------
# The block and the body
# --------------------------------------------------------------------------


def test_a_full_reply() -> None:
    text = (
        "#status waiting_on_customer\n#priority high\n#assign me\n#tag printer -new\n\n"
        "Hello Jane,\n\ncould you send us the log?\n\nBob\n"
    )
    reply = parse(text)
    assert reply.ok
    assert reply.commands == (
        SetStatus("waiting_on_customer"),
        SetPriority("high"),
        Assign(None, to_sender=True),
        Tag(("printer",), ("new",)),
    )
    assert reply.body == "Hello Jane,\n\ncould you send us the log?\n\nBob"
    assert not reply.is_note


def test_no_commands_leaves_the_text_alone() -> None:
    text = "Hello Jane,\n\n  indented\nBob"
    reply = parse(text)
    assert reply == ParsedReply((), (), text, is_note=False)


def test_hashtag_in_the_middle_is_text() -> None:
    text = "Hi,\n#hashtag is trending\n#status resolved\nBob"
    reply = parse(text)
    assert reply.commands == () and reply.errors == ()
    assert reply.body == text


def test_markdown_heading_after_text_is_text() -> None:
    reply = parse("#close\n\nSummary below.\n\n# Heading\n\n## Steps\n1. restart")
    assert reply.commands == (SetStatus("closed"),)
    assert reply.body == "Summary below.\n\n# Heading\n\n## Steps\n1. restart"


def test_leading_blank_lines_and_blank_lines_inside_the_block() -> None:
    reply = parse("\n\n  \n#priority low\n\n#status open\n\nHello")
    assert reply.commands == (SetPriority("low"), SetStatus("open"))
    assert reply.body == "Hello"


def test_note_alone() -> None:
    reply = parse("#note\nCustomer called, will send the log tomorrow.\n")
    assert reply.is_note
    assert reply.commands == (Note(),)
    assert reply.body == "Customer called, will send the log tomorrow."


def test_note_with_other_commands_and_no_text() -> None:
    reply = parse("#note\n#status in_progress")
    assert reply.is_note and reply.ok
    assert reply.body == ""


def test_windows_line_endings() -> None:
    reply = parse("#status resolved\r\n#priority low\r\n\r\nThanks,\r\nBob\r\n")
    assert reply.commands == (SetStatus("resolved"), SetPriority("low"))
    assert reply.body == "Thanks,\nBob"
    assert "\r" not in reply.body


def test_old_mac_line_endings() -> None:
    assert parse("#close\rBye").body == "Bye"


def test_signature_only_reply() -> None:
    text = "-- \nBob Example\nExample Support"
    assert parse(text) == ParsedReply((), (), text, is_note=False)
    closed = parse(f"#close\n{text}")
    assert closed.commands == (SetStatus("closed"),)
    assert closed.body == text


def test_non_breaking_spaces() -> None:
    reply = parse("\u00a0#priority\u00a0high\n#status\u00a0\u00a0open\u00a0\nHi")
    assert reply.commands == (SetPriority("high"), SetStatus("open"))


def test_html_derived_text_with_leading_spaces_and_invisible_characters() -> None:
    text = "\ufeff  #status resolved\n  \u200b#tag printer\n\n  Hello Jane,\n  done.\n"
    reply = parse(text)
    assert reply.commands == (SetStatus("resolved"), Tag(("printer",), ()))
    assert reply.body == "  Hello Jane,\n  done."


def test_command_after_a_quote_header_is_text() -> None:
    text = "On Tue, Bob wrote:\n> #status resolved"
    assert parse(text).commands == ()
    assert parse(text).body == text


# --------------------------------------------------------------------------
# The table and the cheat sheet
# --------------------------------------------------------------------------


def test_command_table() -> None:
    names = [spec.name for spec in COMMANDS]
    assert len(names) == len(set(names))
    assert set(names) == {
        "status",
        "priority",
        "assign",
        "category",
        "tag",
        "cc",
        "note",
        "template",
        "kb",
        "merge",
        "split",
        "link",
        "unlink",
        "incident",
        "reply-linked",
        "set",
        "follow",
        "unfollow",
        "requester",
        "snooze",
        "unsnooze",
        "remind",
        "resolve",
        "close",
        "time",
        "send",
    }
    for spec in COMMANDS:
        assert spec.description and "\n" not in spec.description
        assert spec.syntax.startswith(f"#{spec.name}")


def test_cheat_sheet_lists_every_command_and_fits_a_mail() -> None:
    sheet = cheat_sheet(prefix="HELP", priorities=("P3", "P2", "P1"))
    for spec in COMMANDS:
        assert f"#{spec.name}" in sheet
        assert spec.description in sheet
    assert "#priority P3|P2|P1" in sheet
    assert "#merge HELP-00017" in sheet
    assert max(len(line) for line in sheet.splitlines()) <= 78
    assert "#priority low|medium|high|urgent" in cheat_sheet()


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

PROPERTY = settings(deadline=None)  # a loaded CI machine can stall one example
NAMES = [spec.name for spec in COMMANDS]
LINE = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda lead, name, value: f"{lead}#{name} {value}",
        st.sampled_from(["", " ", "  ", "\u00a0", "\ufeff"]),
        st.one_of(
            st.sampled_from(NAMES), st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=8)
        ),
        st.one_of(st.text(max_size=20), st.sampled_from([*STATUSES, "high", "me", "SUP-1"])),
    ),
    st.sampled_from(["", "  ", "# Heading", "#hashtag", "Hello", "-- ", "> #close"]),
)
TEXT = st.one_of(
    st.text(),
    st.lists(LINE, max_size=12).flatmap(
        lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).map(lambda eol: eol.join(lines))
    ),
)


def _is_block_line(line: str) -> bool:
    cleaned = line.strip().strip("\ufeff\u200b\u200c\u200d\u2060").strip()
    return not cleaned or cleaned.startswith("#")


@PROPERTY
@given(TEXT)
def test_every_block_line_is_a_command_or_an_error_and_never_in_the_body(text: str) -> None:
    reply = parse(text)
    lines = re.split(r"\r\n|\r|\n", text)
    end = next((i for i, line in enumerate(lines) if not _is_block_line(line)), len(lines))
    block = [i + 1 for i in range(end) if lines[i].strip().strip("\ufeff\u200b\u200c\u200d\u2060")]
    handled = len(reply.commands) + len(reply.errors)
    assert handled == len(block)
    assert {e.line_number for e in reply.errors} <= set(block)
    assert reply.body == "\n".join(lines[end:]).rstrip()
    assert not reply.body or not _is_block_line(reply.body.split("\n")[0])
    assert reply.is_note == (Note() in reply.commands)


@PROPERTY
@given(
    st.sampled_from(STATUSES),
    st.sampled_from(DEFAULT_PRIORITIES),
    st.sampled_from(["", " ", "\t", "\u00a0"]),
    st.booleans(),
)
def test_valid_commands_always_parse(status: str, priority: str, space: str, upper: bool) -> None:
    block = f"#status{space} {status}\n#priority {priority}{space}"
    reply = parse(block.upper() if upper else block)
    assert reply.commands == (SetStatus(status), SetPriority(priority))
