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
