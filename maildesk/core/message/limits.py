"""Size and count limits that keep hostile or broken mail cheap to parse.

Where it sits in the flow: read by every step of `maildesk.core.message`: the
pre-parse defusing in `feed`, header decoding in `headers` and `parts`, the
MIME walk in `mime`, HTML conversion in `html_text`, file names in `filenames`
and the defect notes in `notes`.  Whatever a limit cuts or drops is noted in
`ParsedMessage.defects`.
"""

from __future__ import annotations

MAX_DEPTH = 20
"""Deepest multipart nesting that is walked; deeper parts are dropped (noted)."""

MAX_STRUCTURED_HEADER = 16 * 1024
"""Address-list headers longer than this are cut before parsing (noted)."""

MAX_HTML_FOR_INSCRIPTIS = 256 * 1024
"""Bigger HTML bodies are converted to text by a fast, simpler converter."""

MAX_DEFECTS = 50
"""At most this many defect notes are kept; the rest are summarised."""

MAX_HEADER_LINES = 10_000
"""Top-level header lines beyond this are dropped before parsing (noted), except
the fields maildesk reads (Content-*, Message-ID, From, Subject, List-*, ...)."""

MAX_BOUNDARY_LINES = 10_000
"""More lines than this starting with '--': the MIME structure is not parsed."""

MAX_FILENAME_BYTES = 255

# Header-derived values are bounded so that no single message, however its headers
# are made, costs the desk more than an ordinary one: a 10 MB Subject used to be
# parsed, matched, indexed for search, written to the ticket, the message and the
# event log, and sent back in a 24 MB acknowledgement, holding the SQLite write
# lock for about 50 s. The raw message is always kept whole.

MAX_HEADER_FIELD = 64 * 1024
"""Top-level header fields longer than this (bytes, folded lines included) are cut
before parsing (noted). Far above any real field: a References header of a thread
of 500 messages is about 25 KB; DKIM signatures are a few KB."""

MAX_SUBJECT = 10_000
"""Characters of Subject kept (the rest cut, noted): ten times any subject a person
writes, small enough that the ticket, its search index and our replies stay small."""

MAX_BODY_CHARS = 1_000_000
"""Characters of a text or HTML body kept in the ticket (the rest clipped, with a
line saying so, noted), as Gmail clips long messages: about 300 pages of text, far
beyond any message a person writes, while a 25 MB log pasted into a mail would
otherwise be copied several times over by the database (record, search index,
pages) and shown in full on every ticket page. The raw message is always kept
whole, and the ticket page links to it."""

MAX_NAME = 200
"""Characters of a display name kept (the rest cut)."""

MAX_ADDRESS = 320
"""Longest usable addr-spec (RFC 5321: 64 for the local part, 255 for the domain);
longer ones are dropped as unusable."""

MAX_ADDRESSES = 100
"""Addresses kept per address field (From, To, Cc, Reply-To); the rest dropped (noted).
Every Cc of a new ticket becomes a participant who gets our mail."""

MAX_MESSAGE_IDS = 100
"""Message-IDs kept per In-Reply-To/References: the first (the thread's root) and the
latest ones (the direct parents), which are what threading looks at (noted)."""

MAX_CONTENT_TYPE = 255
"""A longer content type is not a real one: the part is application/octet-stream."""
