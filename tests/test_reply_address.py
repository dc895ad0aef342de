"""core.reply_address: the signed reply address in agents' notifications, and which
addresses are ours with a `+` subaddress.

Pure values: made and read back, case-folded by an MTA, tampered with, under
another desk address or another secret; and no input makes it raise.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.core.reply_address import (
    ReplyToken,
    base_address,
    is_our_address,
    read_reply_address,
    reply_address,
    reply_tokens,
)

SECRET = b"desk-secret"
OURS = frozenset({"support@example.com", "help+desk@example.org"})


def test_made_and_read_back() -> None:
    address = reply_address("support@example.com", 42, 7, SECRET)
    assert address.startswith("support+r-42-7-") and address.endswith("@example.com")
    assert address == address.lower()
    assert read_reply_address(address, OURS, SECRET) == ReplyToken(42, 7)
    assert read_reply_address(address.upper(), OURS, SECRET) == ReplyToken(42, 7)
    assert read_reply_address(f" <{address}> ".strip(" <>"), OURS, SECRET) == ReplyToken(42, 7)


def test_a_desk_address_with_a_plus_of_its_own() -> None:
    address = reply_address("help+desk@example.org", 3, 1, SECRET)
    assert read_reply_address(address, OURS, SECRET) == ReplyToken(3, 1)


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.replace("+r-42-7-", "+r-43-7-"),  # another ticket
        lambda a: a.replace("+r-42-7-", "+r-42-8-"),  # another agent
        lambda a: a.replace("@example.com", "@example.net"),  # not our domain
        lambda a: a.replace("support+", "sales+"),  # not our mailbox
        lambda a: a[: a.index("@") - 1] + "@example.com",  # a character short
        lambda a: a.replace("+r-", "+x-"),
    ],
    ids=["number", "agent", "domain", "mailbox", "short", "prefix"],
)
def test_a_changed_address_is_not_read(change: Callable[[str], str]) -> None:
    address = reply_address("support@example.com", 42, 7, SECRET)
    assert read_reply_address(change(address), OURS, SECRET) is None


def test_another_secret_does_not_read_it() -> None:
    address = reply_address("support@example.com", 42, 7, SECRET)
    assert read_reply_address(address, OURS, b"other-secret") is None


def test_tokens_in_order_and_once() -> None:
    first = reply_address("support@example.com", 1, 2, SECRET)
    second = reply_address("support@example.com", 3, 4, SECRET)
    found = reply_tokens(["support@example.com", first, "x@y.test", second, first], OURS, SECRET)
    assert found == [ReplyToken(1, 2), ReplyToken(3, 4)]


@pytest.mark.parametrize(
    ("address", "base"),
    [
        ("support@example.com", "support@example.com"),
        ("Support+Anything@EXAMPLE.com", "support@example.com"),
        ("support+a+b@example.com", "support@example.com"),
        ("help+desk+r-1@example.org", "help+desk@example.org"),
        ("help+desk@example.org", "help+desk@example.org"),
        ("help@example.org", None),
        ("other@example.com", None),
        ("other+support@example.com", None),
        ("support+x@else.test", None),
        ("support", None),
        ("", None),
    ],
)
def test_which_addresses_are_ours(address: str, base: str | None) -> None:
    assert base_address(address, OURS) == base
    assert is_our_address(address, OURS) is (base is not None)


@given(st.text(max_size=80))
def test_never_raises(text: str) -> None:
    assert read_reply_address(text, OURS, SECRET) is None or "+r-" in text.lower()
    base_address(text, OURS)
