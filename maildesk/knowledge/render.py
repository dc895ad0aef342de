"""An article's Markdown as HTML that is safe to show anywhere: CommonMark
(markdown-it-py) with raw HTML escaped and only http(s)/mailto and relative links,
then nh3 with the same tag and attribute allow-list as mail HTML
(`core.sanitize`). Pure: text in, HTML out."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

from maildesk.core.sanitize import ATTRIBUTES, TAGS

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
_SCHEMES = {"http", "https", "mailto"}


def to_html(markdown: str) -> str:
    return nh3.clean(
        _MARKDOWN.render(markdown),
        tags=set(TAGS),
        attributes={tag: set(names) - {"style"} for tag, names in ATTRIBUTES.items()},
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer",
    )
