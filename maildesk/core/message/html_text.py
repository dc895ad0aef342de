"""HTML body -> plain text, for messages without a text/plain body.

Where it sits in the flow: the last step of `parse`, after the MIME walk: when
the walk found no usable text body, the text comes from the HTML one, through
inscriptis, or through a fast regex converter when the HTML is bigger than
MAX_HTML_FOR_INSCRIPTIS or inscriptis fails.
"""

from __future__ import annotations

import html as html_lib
import re

import inscriptis

from maildesk.core.message.limits import MAX_HTML_FOR_INSCRIPTIS
from maildesk.core.message.notes import _Notes
from maildesk.core.message.text import _scrub

_DROP_ELEMENTS = re.compile(r"(?is)<(script|style|head|title)\b.*?</\1\s*>")
_BLOCK_TAGS = re.compile(r"(?i)<\s*/?\s*(br|p|div|tr|li|h[1-6]|table|blockquote|pre|hr)\b[^>]*>")
_ANY_TAG = re.compile(r"(?s)<[^>]*>")
_COMMENT = re.compile(r"(?s)<!--.*?-->")
_MANY_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


def _simple_html_to_text(markup: str) -> str:
    text = _COMMENT.sub("", markup)
    text = _DROP_ELEMENTS.sub("", text)
    text = _BLOCK_TAGS.sub("\n", text)
    text = _ANY_TAG.sub("", text)
    text = html_lib.unescape(text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_BLANK_LINES.sub("\n\n", text).strip()


def _html_to_text(markup: str, notes: _Notes) -> str:
    if not markup or markup.isspace():
        return ""
    if len(markup) > MAX_HTML_FOR_INSCRIPTIS:
        size = MAX_HTML_FOR_INSCRIPTIS // 1024
        notes.add(f"HTML body over {size} KB; text made by the simple converter")
        return _simple_html_to_text(markup)
    try:
        text = inscriptis.get_text(markup)
    except Exception as exc:
        notes.add(f"HTML to text conversion failed ({type(exc).__name__}); tags stripped")
        return _simple_html_to_text(markup)
    return _scrub(text).strip("\n")
