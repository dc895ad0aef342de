"""The values `parse_message` hands out: `ParsedMessage`, `Address`, `Attachment`.

Where it sits in the flow: the output of `maildesk.core.message`.  Everything
downstream (threading, classification, ticket rendering, attachment storage)
works only on these frozen, fully decoded values, never on the MIME tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Address:
    """One mailbox: decoded display name and the addr-spec (domain lower-cased)."""

    name: str
    email: str

    @property
    def key(self) -> str:
        """Fully lower-cased address, the form used for matching."""
        return self.email.lower()


@dataclass(frozen=True)
class Attachment:
    """A non-body MIME leaf (or a whole enclosed message), decoded."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None
    inline: bool


@dataclass(frozen=True)
class ParsedMessage:
    """Everything the pipeline needs from one message, already decoded."""

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    headers: Mapping[str, tuple[str, ...]]
    content_type: str
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]
    # Header names (lower-cased) in message order, topmost first: with `headers`, where
    # each header stood (which Authentication-Results are above which Received).
    header_order: tuple[str, ...] = ()
