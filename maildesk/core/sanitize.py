"""Mail HTML made safe to show: nh3 (ammonia) with an allow-list, and a URL policy.

Where it sits: the ticket page shows a message's HTML in a sandboxed frame
(`web.pages.ticket`), and this module decides what of that HTML survives; the same
tag and attribute allow-list keeps knowledge-base articles safe
(`knowledge.render`).
Kept: formatting (text, lists, tables, images, links, a filtered set of inline
style properties). Dropped: scripts, `style` elements, event handlers, forms,
frames, objects, SVG/MathML, `javascript:` and every other scheme we do not
list, relative URLs (they would point into this site). Links open in a new
window without a referrer or an opener. `cid:` images become the URLs of the
message's own attachments; remote images (http/https) are shown only when the
agent asks for them, else a small placeholder takes their place (no tracking
pixel fires, and the layout keeps its shape).

Pure: HTML and the attachment URLs in, HTML and a count out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import nh3

TAGS = frozenset(
    {
        *("a", "abbr", "address", "article", "b", "big", "blockquote", "br", "caption"),
        *("center", "cite", "code", "col", "colgroup", "dd", "del", "details", "div", "dl"),
        *("dt", "em", "figcaption", "figure", "font", "footer", "h1", "h2", "h3", "h4", "h5"),
        *("h6", "header", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre"),
        *("q", "s", "samp", "section", "small", "span", "strike", "strong", "sub"),
        *("summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt"),
        *("u", "ul", "var", "wbr"),
    }
)
# Removed with everything inside them (other unknown tags lose the tag, keep the text).
DROPPED_WITH_CONTENT = frozenset(
    {
        *("script", "style", "title", "template", "iframe", "frame", "frameset", "object"),
        *("embed", "applet", "noscript", "noembed", "select", "textarea", "svg", "math"),
    }
)
_CELL = {"align", "valign", "width", "height", "bgcolor", "colspan", "rowspan", "nowrap"}
ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "title", "dir", "lang", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "border"},
    "font": {"color", "face", "size"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor", "summary"},
    "td": _CELL,
    "th": _CELL | {"scope"},
    "tr": {"valign", "bgcolor"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type", "reversed"},
    "ul": {"type"},
    "li": {"value"},
    "details": {"open"},
}
# None of these can load anything (no url(), no positioning over other content).
STYLE_PROPERTIES = frozenset(
    {
        *("color", "background-color", "font", "font-family", "font-size", "font-style"),
        *("font-weight", "font-variant", "line-height", "letter-spacing", "word-spacing"),
        *("text-align", "text-decoration", "text-indent", "text-transform", "white-space"),
        *("vertical-align", "direction", "margin", "margin-top", "margin-right"),
        *("margin-bottom", "margin-left", "padding", "padding-top", "padding-right"),
        *("padding-bottom", "padding-left", "border", "border-top", "border-right"),
        *("border-bottom", "border-left", "border-color", "border-style", "border-width"),
        *("border-collapse", "border-spacing", "border-radius", "width", "height"),
        *("max-width", "min-width", "max-height", "min-height", "display"),
        *("list-style-type", "table-layout", "word-break", "overflow-wrap"),
    }
)
STYLE_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla", "calc"})
_FUNCTION = re.compile(r"([\w-]*)\s*\(")
LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
REMOTE_SCHEMES = frozenset({"http", "https"})
_DATA_IMAGE = re.compile(r"data:image/(?:png|gif|jpeg|webp);base64,[A-Za-z0-9+/=\s]+", re.I)
# Shown instead of a remote image: it loads nothing from elsewhere.
REMOTE_PLACEHOLDER = "data:image/svg+xml," + quote(
    '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="24" viewBox="0 0 160 24">'
    '<rect width="160" height="24" fill="#eef1f4" stroke="#c4ccd6"/>'
    '<text x="80" y="16" font-family="sans-serif" font-size="11" fill="#5b6673" '
    'text-anchor="middle">remote image hidden</text></svg>'
)


@dataclass(frozen=True)
class Cleaned:
    html: str
    remote_blocked: int  # remote images replaced by the placeholder


def content_id_key(value: str) -> str:
    """The form both sides of a `cid:` reference are compared in: `<Part.1@X>`,
    `part.1%40x` -> `part.1@x`."""
    return unquote(value).strip().strip("<>").strip().lower()


class _UrlPolicy:
    """The `attribute_filter` of one cleaning: decides each href and src, counts what
    it blocked. nh3 has already dropped schemes outside `url_schemes`."""

    def __init__(self, images: Mapping[str, str], remote: bool) -> None:
        self.images = images  # content_id_key -> URL of that attachment
        self.remote = remote
        self.remote_blocked = 0

    def __call__(self, tag: str, attribute: str, value: str) -> str | None:
        # nh3 asks about attributes of elements it drops as well: answer for ours only.
        if attribute == "href":
            return value if tag == "a" and _scheme(value) in LINK_SCHEMES else None
        if attribute == "src":
            return self._image(value) if tag == "img" else None
        if attribute == "style":
            return _style(value)
        return value

    def _image(self, src: str) -> str | None:
        scheme = _scheme(src)
        if scheme == "cid":
            return self.images.get(content_id_key(src.strip()[4:]))
        if scheme == "data":
            return src if _DATA_IMAGE.fullmatch(src.strip()) else None
        if scheme in REMOTE_SCHEMES:
            if self.remote:
                return src
            self.remote_blocked += 1
            return REMOTE_PLACEHOLDER
        return None


def _style(value: str) -> str | None:
    """Inline CSS without escapes or functions other than colours and calc(): no url(),
    image-set() or expression() however spelt (nh3 then keeps STYLE_PROPERTIES only)."""
    kept = [
        declaration
        for declaration in value.split(";")
        if "\\" not in declaration
        and all(name.lower() in STYLE_FUNCTIONS for name in _FUNCTION.findall(declaration))
    ]
    return ";".join(kept) or None


def _scheme(url: str) -> str:
    """The URL's scheme, lower-cased; "" for a relative URL (which we never keep)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    if parts.scheme in REMOTE_SCHEMES and not parts.netloc:
        return ""
    return parts.scheme.lower()


def clean_html(html: str, images: Mapping[str, str], remote: bool = False) -> Cleaned:
    """`html` with only what is safe to show. `images`: content_id_key -> attachment URL
    for the message's inline images; `remote`: keep http(s) images."""
    policy = _UrlPolicy(images, remote)
    cleaned = nh3.clean(
        html,
        tags=set(TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        attribute_filter=policy,
        strip_comments=True,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes={*LINK_SCHEMES, "cid", "data"},
        filter_style_properties=set(STYLE_PROPERTIES),
    )
    return Cleaned(cleaned, policy.remote_blocked)
