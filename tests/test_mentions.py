"""core.mentions: `@name` and `@full@address` in an agent's note, and whom they name.

Pure: what counts as a mention (not an address, a quoted line or code), and how a
name resolves among the agents' addresses (unique local part, case-insensitive;
ambiguous or unknown: an error).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.core.mentions import Mention, find_mentions, resolve

AGENTS = ("ann@example.com", "bob@example.com", "bob@example.org", "Ann.Lee@example.com")


def names(text: str) -> list[str]:
    return [m.name for m in find_mentions(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@ann please look", ["ann"]),
        ("Thanks @Ann.", ["ann"]),
        ("(cc @ann, @bob)", ["ann", "bob"]),
        ("@ann.lee knows", ["ann.lee"]),
        ("ask @ann@example.com!", ["ann@example.com"]),
        ("@Ann@Example.COM.", ["ann@example.com"]),
        ("@ann and @ANN again", ["ann"]),
        ("@ann's call", ["ann"]),
        ("first line\n  @bob on the second", ["bob"]),
    ],
)
def test_mentions(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "write to bob@ann.com",
        "mailto:bob@example.com",
        "see https://example.com/@ann",
        "an @ alone",
        "@@ann",
        "> @ann quoted",
        "   > @ann quoted with spaces",
        "the `@ann` handle",
        "```\n@ann in code\n```",
        "~~~\n@ann\n~~~",
        "@-ann",
        "user@ann@example.com",
    ],
)
def test_not_mentions(text: str) -> None:
    assert names(text) == []


def test_code_fence_ends_and_text_after_it_is_read() -> None:
    assert names("```\n@ann\n```\n@bob") == ["bob"]


def test_the_written_form_is_kept_for_errors() -> None:
    assert find_mentions("hi @Bob@Example.org") == (Mention("@Bob@Example.org", "bob@example.org"),)


def test_resolve_by_local_part_or_address() -> None:
    found = resolve(find_mentions("@ANN @ann.lee @bob@example.org"), AGENTS)
    assert found.emails == ("ann@example.com", "ann.lee@example.com", "bob@example.org")
    assert found.errors == ()


def test_one_agent_named_twice_is_one() -> None:
    found = resolve(find_mentions("@ann @ann@example.com"), AGENTS)
    assert found.emails == ("ann@example.com",)


def test_ambiguous_name_is_an_error_naming_the_candidates() -> None:
    found = resolve(find_mentions("@bob"), AGENTS)
    assert found.emails == ()
    assert found.errors == (
        "@bob: names several agents (bob@example.com, bob@example.org); write the whole address",
    )


def test_unknown_name_or_address_is_an_error() -> None:
    found = resolve(find_mentions("@carl @carl@customer.test @ann"), AGENTS)
    assert found.emails == ("ann@example.com",)
    assert found.errors == (
        "@carl: not an agent of this desk",
        "@carl@customer.test: not an agent of this desk",
    )


@given(st.text())
def test_never_raises_and_names_are_lower_case(text: str) -> None:
    for mention in find_mentions(text):
        assert mention.name == mention.name.lower()
        assert mention.written.startswith("@")
    resolve(find_mentions(text), AGENTS)
