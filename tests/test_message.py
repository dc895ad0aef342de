"""Tests of `maildesk.core.message`: raw bytes -> `ParsedMessage`.

Where it sits in the flow: parsing is the first step after intake stored the
raw bytes; these tests pin down decoding (charsets, RFC 2047/2231), body and
attachment selection, file name safety, message-id normalisation, and that
nothing (the shared sample corpus, generated junk) makes the parser raise,
hang, or leak lone surrogates.
"""

from __future__ import annotations

import ast
import base64
import binascii
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildesk.core.message import (
    Address,
    ParsedMessage,
    header_message_id,
    normalize_message_id,
    parse_message,
    parse_typed_address,
    sanitize_filename,
)
from maildesk.core.message.limits import (
    MAX_ADDRESSES,
    MAX_BODY_CHARS,
    MAX_HEADER_FIELD,
    MAX_NAME,
    MAX_SUBJECT,
)

try:
    from tests import mailfactory as mf
except ModuleNotFoundError:  # plain `pytest` (not `python -m pytest`): tests/ is on sys.path
    import mailfactory as mf  # type: ignore[no-redef]

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
TIME_LIMIT = 5.0
FAST = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def corpus_files() -> list[Path]:
    """Every file of the shared corpus (licence and README texts too: still bytes)."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file())


needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"{CORPUS} is absent")


@cache
def parsed_corpus_file(path: Path) -> tuple[ParsedMessage, float]:
    raw = path.read_bytes()
    start = time.perf_counter()
    parsed = parse_message(raw)
    return parsed, time.perf_counter() - start


def corpus_message(relative: str) -> ParsedMessage:
    path = CORPUS / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return parsed_corpus_file(path)[0]


def strings_of(parsed: ParsedMessage) -> Iterator[str]:
    """Every str inside a ParsedMessage."""
    yield parsed.subject
    yield parsed.content_type
    yield parsed.text
    if parsed.html is not None:
        yield parsed.html
    if parsed.message_id is not None:
        yield parsed.message_id
    yield from parsed.in_reply_to
    yield from parsed.references
    addresses = [*parsed.reply_to, *parsed.to, *parsed.cc]
    if parsed.from_ is not None:
        addresses.append(parsed.from_)
    for address in addresses:
        yield address.name
        yield address.email
    for name, values in parsed.headers.items():
        yield name
        yield from values
    for attachment in parsed.attachments:
        yield attachment.filename
        yield attachment.content_type
        if attachment.content_id is not None:
            yield attachment.content_id
    yield from parsed.defects


def assert_storable(parsed: ParsedMessage) -> None:
    """No lone surrogates (they cannot be encoded, so cannot be stored)."""
    assert isinstance(parsed, ParsedMessage)
    for text in strings_of(parsed):
        assert isinstance(text, str)
        text.encode("utf-8")  # raises on any surrogate
    assert isinstance(parsed.attachments, tuple)
    for attachment in parsed.attachments:
        assert isinstance(attachment.data, bytes)
        assert attachment.filename
    if parsed.date is not None:
        assert parsed.date.tzinfo is not None


def timed_parse(raw: bytes) -> ParsedMessage:
    start = time.perf_counter()
    parsed = parse_message(raw)
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_LIMIT, f"parse took {elapsed:.2f}s"
    return parsed


# --------------------------------------------------------------------------
# charsets
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "subject", "name", "body"),
    [
        (mf.latin1_headers, mf.LATIN1_SUBJECT, mf.LATIN1_NAME, "Grüße\n"),
        (mf.cp1252_as_latin1, mf.CP1252_SUBJECT, mf.CP1252_NAME, mf.CP1252_BODY),
        (mf.shift_jis, mf.SHIFT_JIS_SUBJECT, mf.SHIFT_JIS_NAME, mf.SHIFT_JIS_BODY),
        (mf.koi8_r, mf.KOI8_R_SUBJECT, mf.KOI8_R_NAME, mf.KOI8_R_BODY),
        (mf.utf8_8bit, mf.UTF8_SUBJECT, mf.UTF8_NAME, mf.UTF8_BODY),
        (mf.iso_2022_jp, mf.ISO_2022_JP_SUBJECT, "", mf.ISO_2022_JP_SUBJECT + "\n"),
        (mf.gb2312, mf.GB2312_SUBJECT, "", mf.GB2312_SUBJECT + "\n"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_charsets_decode_to_exact_unicode(
    build: object, subject: str, name: str, body: str
) -> None:
    assert callable(build)
    parsed = parse_message(build())
    assert parsed.subject == subject
    assert parsed.from_ is not None
    assert parsed.from_.name == name
    assert parsed.text == body
    assert not [d for d in parsed.defects if "charset" in d or "not valid" in d]


def test_cp1252_mislabelled_as_latin1_has_no_c1_controls() -> None:
    parsed = parse_message(mf.cp1252_as_latin1())
    for text in (parsed.subject, parsed.text, parsed.from_.name if parsed.from_ else ""):
        assert not any("\x80" <= char <= "\x9f" for char in text)
    assert "€" in parsed.text and "“" in parsed.subject


@pytest.mark.parametrize(
    ("raw_subject", "expected"),
    [
        (b"caf\xc3\xa9 \xe2\x98\x83", "café ☃"),  # valid UTF-8
        (b"caf\xe9 \x93quoted\x94 \x80", "café “quoted” €"),  # windows-1252
        (b"\xd0\x9f\xd1\x80\xd0\xb8 \xe9", "При é"),  # UTF-8 with one stray byte
        (b"=?utf-8?q?=C2=93hi=C2=94?=", "“hi”"),  # C1 controls repaired
        (b"=?iso-8859-1?q?caf=C3=A9?=", "café"),  # UTF-8 labelled latin-1
        (b"=?windows-1252?q?=80=81?=", "€"),  # undefined 0x81 dropped as a control
        (b"=?iso-8859-1?q?caf=E9?= =?iso-8859-1?q?_ole?=", "café ole"),  # adjacent words
        (b"=?utf-8?b?w6k=?= =?utf-8?b?w6k=?=", "éé"),
        (b"=?utf-8?q?=E2=82?= =?utf-8?q?=AC?=", "€"),  # multi-byte char split over 2 words
        (b"=?UTF-8?Q?a_b?=", "a b"),
        (b"=?utf-8*en?q?lang_tag?=", "lang tag"),  # RFC 2231 language in 2047 charset
        (b"=?utf-8?b?not base64!!?=", None),  # must not raise
        (b"=?x-bogus?q?Gr=C3=BC=C3=9Fe?=", "Grüße"),  # unknown charset -> UTF-8
        (b"=?zlib?q?abc?=", "abc"),  # a codec that is no charset
        (b"=?unicode_escape?q?=5Cud800?=", "\\ud800"),  # no surrogates smuggled in
        (b"Re: [#42] =?utf-8?q?Gr=C3=BC=C3=9Fe?= again", "Re: [#42] Grüße again"),
        (b"tab\there\x00nul\x1bescape", "tab\therenulescape"),
        (b"  padded  ", "padded"),
    ],
)
def test_subject_decoding(raw_subject: bytes, expected: str | None) -> None:
    raw = b"From: a@example.com\nSubject: " + raw_subject + b"\n\nbody\n"
    parsed = parse_message(raw)
    assert_storable(parsed)
    if expected is not None:
        assert parsed.subject == expected


def test_folded_subject_is_unfolded() -> None:
    raw = b"Subject: =?utf-8?q?first?=\n =?utf-8?q?_second?=\n\tthird\r\n\r\nbody"
    assert parse_message(raw).subject == "first second\tthird"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        (b"text/plain", "naïve ☃".encode(), "naïve ☃"),  # no charset: UTF-8 first
        (b"text/plain; charset=us-ascii", "naïve".encode(), "naïve"),  # lying us-ascii
        (b"text/plain; charset=us-ascii", b"caf\xe9", "café"),
        (b"text/plain; charset=latin1", b"\x93x\x94 \x80", "“x” €"),
        (b"text/plain; charset=iso-8859-1", b"caf\xe9 \xa3", "café £"),
        (b"text/plain; charset=iso-8859-1", "café".encode(), "café"),  # UTF-8 mislabelled
        (b"text/plain; charset=utf-8", b"caf\xe9", "café"),  # declared UTF-8, is not
        (b"text/plain; charset=koi8-r", "Мир".encode("koi8-r"), "Мир"),
        (b'text/plain; charset="Shift_JIS"', "①テスト".encode("cp932"), "①テスト"),
        (b"text/plain; charset=iso-2022-jp", "日本".encode("iso-2022-jp"), "日本"),
        (b"text/plain; charset=x-nonsense", "€".encode(), "€"),
        (b"text/plain; charset=utf-16", "hi".encode("utf-16"), "hi"),
        (b"text/plain; charset=base64", b"plain", "plain"),
        (b"text/plain; charset=utf-8", b"\xef\xbb\xbfbom", "bom"),
        (b"text/plain; charset=utf-8", b"a\r\nb\rc\n", "a\nb\nc\n"),
        (b"text/plain; charset=utf-8", b"nul\x00byte", "nulbyte"),
    ],
)
def test_body_charsets(content_type: bytes, body: bytes, expected: str) -> None:
    raw = b"Subject: x\nContent-Type: " + content_type + b"\n\n" + body
    parsed = parse_message(raw)
    assert parsed.text == expected
    assert_storable(parsed)


def test_charset_fallbacks_are_noted() -> None:
    parsed = parse_message(mf.unknown_charset())
    assert parsed.subject == "Grüße"
    assert parsed.text == "Grüße\n"
    assert any("x-klingon" in defect for defect in parsed.defects)


# --------------------------------------------------------------------------
# bodies
# --------------------------------------------------------------------------


def test_alternative_prefers_plain_and_keeps_html() -> None:
    parsed = parse_message(mf.alternative())
    assert parsed.content_type == "multipart/alternative"
    assert parsed.text == "Plain version of the body.\n"
    assert parsed.html is not None and "<b>version</b>" in parsed.html
    assert parsed.attachments == ()


def test_html_only_text_is_converted_and_html_kept() -> None:
    parsed = parse_message(mf.html_only())
    assert parsed.html is not None and "<h1>" in parsed.html
    assert "Order\xa0#42" in parsed.text or "Order #42" in parsed.text
    assert "Your order has shipped." in parsed.text
    assert "<" not in parsed.text
    assert "color: red" not in parsed.text  # style sheets are not text
    assert "one" in parsed.text and "two" in parsed.text


def test_blank_plain_alternative_falls_back_to_html() -> None:
    parsed = parse_message(mf.alternative(text="\n", html="<p>Only <i>here</i></p>\n"))
    assert parsed.text.strip() == "Only here"


def test_huge_html_uses_fast_converter() -> None:
    cell = "<tr><td>cell</td><td>value &amp; more</td></tr>"
    html = "<html><body><table>" + cell * 8000 + "</table></body></html>"
    start = time.perf_counter()
    parsed = parse_message(mf.html_only(html=html))
    assert time.perf_counter() - start < TIME_LIMIT
    assert parsed.text.count("value & more") == 8000
    assert any("simple converter" in defect for defect in parsed.defects)


def test_bodies_beyond_the_limit_are_clipped_with_a_line_saying_so() -> None:
    line = "0123456789 abcdefghij " * 4 + "\n"
    whole = line * (MAX_BODY_CHARS // len(line) + 500)
    last = "the very last line\n"
    text = parse_message(mf.plain(body=whole + last))
    assert len(text.text) <= MAX_BODY_CHARS + 200 and last.strip() not in text.text
    assert text.text.startswith(line) and text.text.endswith("holds all of it.]")
    assert line.strip() in text.text.splitlines()[-3]  # cut at a line break
    assert any(f"longer than {MAX_BODY_CHARS:,} characters; clipped" in d for d in text.defects)
    markup = "<p>" + whole.replace("\n", "</p>\n<p>") + "</p>"
    html = parse_message(mf.html_only(html=markup + "<p>" + last + "</p>"))
    assert html.html is not None and len(html.html) <= MAX_BODY_CHARS + 200
    assert "holds all of it." in html.html and last.strip() not in html.html
    assert html.text.endswith("holds all of it.]") and last.strip() not in html.text
    short = parse_message(mf.plain(body=line * 10))
    assert short.text == line * 10 and not short.defects


def test_nul_bytes_are_removed_everywhere() -> None:
    parsed = parse_message(mf.nul_bytes())
    assert parsed.subject == "Nul inside"
    assert parsed.text == "bodywithnuls\n"
    assert parsed.from_ == Address("Null Person", "null@example.com")
    assert all("\x00" not in text for text in strings_of(parsed))


def test_html_body_nul_stripped() -> None:
    raw = b"Content-Type: text/html\n\n<p>a\x00b</p>"
    parsed = parse_message(raw)
    assert parsed.html == "<p>ab</p>"
    assert parsed.text == "ab"


@pytest.mark.parametrize(
    "raw",
    [b"", b"\n", b"\r\n\r\n", b"Subject: only headers", b"Subject: x\n\n", mf.empty_body()],
)
def test_empty_bodies(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert parsed.text == ""
    assert parsed.html is None
    assert parsed.attachments == ()


def test_missing_final_boundary_keeps_both_bodies() -> None:
    parsed = parse_message(mf.missing_final_boundary())
    assert parsed.text == "plain text"
    assert parsed.html == "<p>html"
    assert any("close boundary" in defect for defect in parsed.defects)


def test_broken_boundary_falls_back_to_text() -> None:
    parsed = parse_message(mf.broken_boundary())
    assert "The text the customer wrote." in parsed.text
    assert parsed.content_type == "multipart/mixed"
    assert any("boundary" in defect for defect in parsed.defects)


def test_missing_header_body_separator() -> None:
    parsed = parse_message(mf.no_separator())
    assert parsed.subject == "No separator"
    assert parsed.text.startswith("This line is body text")
    assert parsed.message_id == "<no-separator@mailfactory.test>"


def test_text_attachment_is_not_the_body() -> None:
    parsed = parse_message(mf.with_attachments())
    assert parsed.text == "Please find the files attached.\n"
    assert [a.filename for a in parsed.attachments] == ["report.pdf", "notes.txt"]


def test_second_inline_text_part_becomes_attachment() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\n"
        b"Content-Type: text/plain\n\nfirst\n--x\nContent-Type: image/gif\n\nGIF\n--x\n"
        b"Content-Type: text/plain\n\nsecond\n--x--\n"
    )
    parsed = parse_message(raw)
    assert parsed.text == "first"
    assert [(a.content_type, a.data) for a in parsed.attachments] == [
        ("image/gif", b"GIF"),
        ("text/plain", b"second"),
    ]


def test_nested_alternatives_do_not_become_attachments() -> None:
    raw = (
        b"Content-Type: multipart/alternative; boundary=x\n\n--x\n"
        b"Content-Type: text/plain\n\none\n--x\nContent-Type: text/plain\n\ntwo\n--x\n"
        b"Content-Type: text/html\n\n<p>three</p>\n--x\n"
        b"Content-Type: text/html\n\n<p>4</p>\n--x--\n"
    )
    parsed = parse_message(raw)
    assert parsed.text == "one"
    assert parsed.html == "<p>three</p>"
    assert parsed.attachments == ()


# --------------------------------------------------------------------------
# attachments
# --------------------------------------------------------------------------


def test_attachment_bytes_and_types() -> None:
    parsed = parse_message(mf.with_attachments())
    pdf, notes = parsed.attachments
    assert (pdf.content_type, pdf.data, pdf.inline, pdf.content_id) == (
        "application/pdf",
        mf.PDF_BYTES,
        False,
        None,
    )
    assert (notes.content_type, notes.data) == ("text/plain", b"line one\nline two\n")


def test_inline_image_keeps_content_id() -> None:
    parsed = parse_message(mf.inline_image())
    assert parsed.text == "See our logo.\n"
    assert parsed.html is not None and "cid:logo.123@mailfactory.test" in parsed.html
    (image,) = parsed.attachments
    assert image.content_id == "logo.123@mailfactory.test"
    assert image.inline is True
    assert image.content_type == "image/png"
    assert image.data == mf.PNG_BYTES
    assert image.filename == "attachment.png"


def test_inline_disposition_needs_content_id_outside_related() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhi\n"
        b"--x\nContent-Type: image/png\nContent-Disposition: inline; filename=a.png\n\nPNG\n"
        b"--x\nContent-Type: image/png\nContent-Disposition: inline\nContent-ID: < b@x >\n\nPNG\n"
        b"--x--\n"
    )
    first, second = parse_message(raw).attachments
    assert (first.filename, first.inline, first.content_id) == ("a.png", False, None)
    assert (second.inline, second.content_id) == (True, "b@x")


def test_forwarded_message_is_one_eml_attachment() -> None:
    parsed = parse_message(mf.forwarded())
    assert parsed.text == "Forwarding this, see attached.\n"
    (eml,) = parsed.attachments
    assert eml.content_type == "message/rfc822"
    assert eml.filename == "Original question.eml"
    inner = parse_message(eml.data)
    assert inner.subject == "Original question"
    assert inner.message_id == "<inner@customer.example>"
    assert inner.text == "What are your opening hours?\n"


def test_forwarded_message_without_subject() -> None:
    parsed = parse_message(mf.forwarded(inner_subject=None))
    assert [a.filename for a in parsed.attachments] == ["forwarded.eml"]


def test_enclosed_message_bytes_are_verbatim() -> None:
    inner = b"Subject: Inner\nX-Odd:   spaced\n  folded value\nFrom: x@y.z\n\nbody \xe9\n"
    raw = (
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhi\n"
        b"--x\nContent-Type: message/rfc822\n\n" + inner + b"--x--\n"
    )
    (eml,) = parse_message(raw).attachments
    assert eml.filename == "Inner.eml"
    # the line break before a boundary belongs to the boundary (RFC 2046)
    assert eml.data.replace(b"X-Odd: spaced", b"X-Odd:   spaced") == inner[:-1]


def test_big_enclosed_message_is_rewritten_whole() -> None:
    # payload lines are written a slice at a time: no line may be lost or doubled,
    # CRLF becomes LF even where a slice ends
    inner = b"Subject: Big\nFrom: x@y.z\n\n" + b"".join(
        b"line %06d " % n + b"x" * (n % 90) + b"\n" for n in range(20_000)
    )
    raw = (
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhi\n"
        b"--x\nContent-Type: message/rfc822\n\n" + inner + b"--x--\n"
    )
    for wire in (raw, raw.replace(b"\n", b"\r\n")):
        (eml,) = parse_message(wire).attachments
        assert eml.data == inner[:-1]


def _leaf_message(cte: bytes, payload: bytes, *, crlf: bool = False) -> bytes:
    return mf.raw_message(
        [("Content-Type", "multipart/mixed; boundary=b")],
        b"--b\nContent-Type: text/plain\n\nsee attached\n"
        b"--b\nContent-Type: application/octet-stream\n"
        b"Content-Disposition: attachment; filename=data.bin\n"
        b"Content-Transfer-Encoding: " + cte + b"\n\n" + payload + b"\n--b--\n",
        crlf=crlf,
    )


def _attachment_of(raw: bytes) -> tuple[bytes, tuple[str, ...]]:
    parsed = timed_parse(raw)
    assert_storable(parsed)
    assert parsed.text == "see attached"
    (attachment,) = parsed.attachments
    assert attachment.filename == "data.bin"
    return attachment.data, parsed.defects


SAMPLE_BYTES = bytes(range(256)) * 40 + b"\x00\r\n\xff" * 100


@pytest.mark.parametrize("crlf", [False, True])
def test_base64_attachment_bytes_are_exact(crlf: bool) -> None:
    data, defects = _attachment_of(
        _leaf_message(b"base64", base64.encodebytes(SAMPLE_BYTES).rstrip(b"\n"), crlf=crlf)
    )
    assert data == SAMPLE_BYTES
    assert not [d for d in defects if "base64" in d]


@pytest.mark.parametrize("crlf", [False, True])
def test_quoted_printable_attachment_bytes_are_exact(crlf: bool) -> None:
    encoded = binascii.b2a_qp(SAMPLE_BYTES, istext=False)
    data, _ = _attachment_of(_leaf_message(b"quoted-printable", encoded, crlf=crlf))
    assert data == SAMPLE_BYTES


def test_quoted_printable_soft_breaks_and_bad_escapes() -> None:
    payload = b"caf=C3=A9 =\nsoft =3D=\nbreak =ZZ tail=\n=E2=82=AC"
    data, _ = _attachment_of(_leaf_message(b"quoted-printable", payload))
    assert data == "café soft =break =ZZ tail€".encode()


@pytest.mark.parametrize("cte", [b"8bit", b"binary", b"7bit", b"bogus"])
def test_unencoded_attachment_bytes_are_exact(cte: bytes) -> None:
    payload = bytes(b for b in range(256) if b not in b"\r\n") * 50 + b"\nnext line\xe9\xff"
    data, _ = _attachment_of(_leaf_message(cte, payload))
    assert data == payload


def test_8bit_text_body_is_decoded() -> None:
    raw = mf.raw_message(
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "8bit")],
        "Grüße, 日本語\r\nzweite Zeile\r\n".encode(),
    )
    assert parse_message(raw).text == "Grüße, 日本語\nzweite Zeile\n"


def _b64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).rstrip(b"\n")


@pytest.mark.parametrize(
    ("payload", "expected", "defect"),
    [
        # junk characters are skipped, wherever they are
        (b"QUJD!RE VG*Rw==", b"ABCDEFG", "invalid base64 characters"),
        (b"QUJD\xff\xfeREVG\x80Rw==", b"ABCDEFG", "invalid base64 characters"),
        (b"QUJDREVGRw==\n-- \nsignature", b"ABCDEFG", "invalid base64 characters"),
        (b"\tQUJD\n REVG\n", b"ABCDEF", "invalid base64 characters"),
        # final group cut short: the whole bytes in it are kept
        (b"QUJDREVGRw", b"ABCDEFG", "invalid base64 padding"),
        (b"QUJDREVGR0g", b"ABCDEFGH", "invalid base64 padding"),
        (b"QUJDREVGRw=", b"ABCDEFG", "invalid base64 padding"),
        # one character too many (no whole byte in it): dropped, the rest decoded
        (b"QUJDREVGR", b"ABCDEF", "invalid base64 length"),
        (b"QUJD\nREVG\nR\n", b"ABCDEF", "invalid base64 length"),
        (b"QUJD*REVGR=", b"ABCDEF", "invalid base64 length"),
        (b"Q", b"", "invalid base64 length"),
        # nothing decodable at all
        (b"!!!!====", b"", None),
        (b"====", b"", None),
    ],
)
def test_damaged_base64_is_recovered(payload: bytes, expected: bytes, defect: str | None) -> None:
    for crlf in (False, True):
        data, defects = _attachment_of(_leaf_message(b"base64", payload, crlf=crlf))
        assert data == expected
        if defect is not None:
            assert any(defect in note for note in defects)


def test_truncated_base64_attachment_keeps_what_arrived() -> None:
    encoded = _b64_lines(SAMPLE_BYTES)
    for cut in range(len(encoded) - 10, len(encoded) + 1):
        data, _ = _attachment_of(_leaf_message(b"base64", encoded[:cut]))
        assert SAMPLE_BYTES.startswith(data)
        assert len(data) >= len(SAMPLE_BYTES) - 8


@pytest.mark.parametrize("offset", [8190, 8191, 8192, 8193])
def test_crlf_split_across_parser_reads(offset: int) -> None:
    # the parser is fed in 8 KB reads: a CRLF torn apart must stay one line break
    head = b"Subject: split\r\nContent-Type: text/plain\r\n\r\n"
    filler = b"x" * (offset - len(head) - 1)
    raw = head + filler + b"\r\nnext\r\n"
    assert raw.index(b"\r\nnext") == offset - 1
    assert parse_message(raw).text == filler.decode() + "\nnext\n"


def test_rfc2231_filename_with_continuations() -> None:
    parsed = parse_message(mf.rfc2231_filename())
    (pdf,) = parsed.attachments
    assert pdf.filename == mf.RFC2231_FILENAME
    assert pdf.data == mf.PDF_BYTES


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        (b'attachment; filename="=?utf-8?q?R=C3=A9sum=C3=A9.pdf?="', "Résumé.pdf"),
        (b"attachment; filename*=iso-8859-1''Gr%FC%DFe.txt", "Grüße.txt"),
        (b"attachment; filename*=iso-8859-1''%93q%94.txt", "“q”.txt"),
        (b"attachment; filename*=x-unknown''caf%C3%A9.txt", "café.txt"),
        (b'attachment; filename="caf\xc3\xa9.txt"', "café.txt"),  # raw UTF-8
        (b'attachment; filename="caf\xe9.txt"', "café.txt"),  # raw latin-1
        (b'attachment; filename=""', "attachment.pdf"),
        (b"attachment", "attachment.pdf"),
    ],
)
def test_attachment_filename_decoding(disposition: bytes, expected: str) -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhi\n"
        b"--x\nContent-Type: application/pdf\nContent-Disposition: " + disposition + b"\n\n"
        b"%PDF\n--x--\n"
    )
    (attachment,) = parse_message(raw).attachments
    assert attachment.filename == expected


def test_content_type_name_is_used_without_disposition() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhi\n"
        b'--x\nContent-Type: application/zip; name="archive.zip"\n\nPK\n--x--\n'
    )
    (attachment,) = parse_message(raw).attachments
    assert (attachment.filename, attachment.content_type) == ("archive.zip", "application/zip")


def test_traversal_filenames_are_sanitised() -> None:
    parsed = parse_message(mf.traversal_filenames())
    assert [a.filename for a in parsed.attachments] == ["passwd", "evil.exe"]


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("report.pdf", "application/pdf", "report.pdf"),
        ("../../etc/passwd", "text/plain", "passwd"),
        ("C:\\Windows\\evil.exe", "application/octet-stream", "evil.exe"),
        ("..\\..\\boot.ini", "text/plain", "boot.ini"),
        ("/absolute/path/x.txt", "text/plain", "x.txt"),
        (".bashrc", "text/plain", "bashrc"),
        ("...hidden.txt", "text/plain", "hidden.txt"),
        ("  spaced name.txt  ", "text/plain", "spaced name.txt"),
        ("trailing dots...", "text/plain", "trailing dots"),
        ('a<b>c:d"e|f?g*h.txt', "text/plain", "a_b_c_d_e_f_g_h.txt"),
        ("nul\x00byte\x1f.txt", "text/plain", "nulbyte.txt"),
        ("invoice\u202etxt.exe", "application/octet-stream", "invoicetxt.exe"),
        ("CON", "text/plain", "_CON"),
        ("aux.txt", "text/plain", "_aux.txt"),
        ("", "application/pdf", "attachment.pdf"),
        (None, "image/jpeg", "attachment.jpg"),
        (None, "image/png", "attachment.png"),
        (None, "text/plain", "attachment.txt"),
        (None, "message/rfc822", "attachment.eml"),
        (None, "application/x-does-not-exist", "attachment.bin"),
        (None, "application/zip", "attachment.zip"),
        (None, "audio/mpeg", "attachment.mp3"),
        (None, "Application/MSWord", "attachment.doc"),
        (None, "message/delivery-status", "attachment.txt"),
        ("../", "text/html", "attachment.html"),
        ("..", "text/plain", "attachment.txt"),
        ("  ", "application/octet-stream", "attachment.bin"),
        ("e\u0301te\u0301.txt", "text/plain", "\u00e9t\u00e9.txt"),  # NFC
    ],
)
def test_sanitize_filename(name: str | None, content_type: str, expected: str) -> None:
    assert sanitize_filename(name, content_type) == expected


def test_sanitize_filename_caps_length_and_keeps_extension() -> None:
    result = sanitize_filename("ü" * 300 + ".pdf", "application/pdf")
    assert result.endswith(".pdf")
    assert len(result.encode("utf-8")) <= 255
    assert result[:-4] == "ü" * ((255 - 4) // 2)
    no_extension = sanitize_filename("x" * 1000, "text/plain")
    assert no_extension == "x" * 255


@FAST
@given(st.one_of(st.none(), st.text(max_size=400)), st.sampled_from(["text/plain", "foo/bar"]))
def test_sanitize_filename_properties(name: str | None, content_type: str) -> None:
    result = sanitize_filename(name, content_type)
    assert result
    assert len(result.encode("utf-8")) <= 255
    assert not result.startswith((".", " "))
    assert not set(result) & set('/\\<>:"|?*')
    assert not any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F for char in result)


# --------------------------------------------------------------------------
# message ids
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@example.com>", "<abc@example.com>"),
        ("  <abc@example.com>  ", "<abc@example.com>"),
        ("abc@example.com", "<abc@example.com>"),
        ("<abc@ex\r\n ample.com>", "<abc@example.com>"),
        ("<abc @ example.com>", "<abc@example.com>"),
        ("<abc@example.com> (added by postmaster)", "<abc@example.com>"),
        ("junk <abc@example.com> <def@example.com>", "<abc@example.com>"),
        ("<CaSe@Example.COM>", "<CaSe@Example.COM>"),
        ("<no-at-sign>", "<no-at-sign>"),
        ("", None),
        ("<>", None),
        ("   ", None),
        ("not an id", None),
        ("two words@x", None),
        ("<a\x00b@c>", None),
        ("<" + "x" * 2000 + "@y>", None),
    ],
)
def test_normalize_message_id(value: str, expected: str | None) -> None:
    assert normalize_message_id(value) == expected


def test_threading_headers() -> None:
    parsed = parse_message(mf.reply())
    assert parsed.message_id == "<reply@mailfactory.test>"
    assert parsed.in_reply_to == ("<plain@mailfactory.test>",)
    assert parsed.references == ("<root@mailfactory.test>", "<plain@mailfactory.test>")


def test_messy_threading_headers() -> None:
    raw = (
        b"Message-ID: <  spaced@x  >\n"
        b"In-Reply-To: <a@x> (Joe's message of Monday)\n"
        b"References: <r1@x>\n\t<r2@x> <r1@x>\n"
        b"References: bare@x junk\n\nbody"
    )
    parsed = parse_message(raw)
    assert parsed.message_id == "<spaced@x>"
    assert parsed.in_reply_to == ("<a@x>",)
    assert parsed.references == ("<r1@x>", "<r2@x>", "<bare@x>")


def test_missing_and_garbage_message_id() -> None:
    assert parse_message(mf.no_message_id()).message_id is None
    assert header_message_id(mf.no_message_id()) is None
    garbage = parse_message(b"Message-ID: not an id\n\nbody")
    assert garbage.message_id is None


@pytest.mark.parametrize(
    "raw",
    [
        b"Message-ID: <a@b>\n\nMessage-ID: <body@b>\n",
        b"Subject: x\r\nMessage-Id:\r\n <folded@b>\r\n\r\n",
        b"From nobody Mon Jan  6 10:00:00 2025\nMessage-ID: <mbox@b>\n\n",
        b"   \nMessage-ID: <after-continuation@b>\n\n",
        b"Subject: x\nnot a header line\nMessage-ID: <in-body@b>\n\n",
        b"\nMessage-ID: <in-body@b>\n",
        b"Message-ID: <first@b>\nMessage-ID: <second@b>\n\n",
        b"Message-ID: <cr@b>\rSubject: x\r\rMessage-ID: <body@b>",
    ],
)
def test_header_message_id_agrees_with_parse(raw: bytes) -> None:
    assert header_message_id(raw) == parse_message(raw).message_id


def test_header_message_id_values() -> None:
    assert header_message_id(b"Message-ID: <a@b>\n\nMessage-ID: <body@b>\n") == "<a@b>"
    assert header_message_id(b"Subject: x\nnot a header\nMessage-ID: <c@d>\n\n") is None


# --------------------------------------------------------------------------
# addresses, dates, headers
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"Alice <Alice@Example.COM>", [("Alice", "Alice@example.com")]),
        (
            b'"Doe, John" <john@x.org>, jane@Y.org',
            [("Doe, John", "john@x.org"), ("", "jane@y.org")],
        ),
        (b"john@x.org (John Doe)", [("John Doe", "john@x.org")]),
        (b"=?utf-8?q?J=C3=B6rg?= <j@x.de>", [("Jörg", "j@x.de")]),
        (b'"=?iso-8859-1?q?M=FCller=2C_Hans?=" <h@x.de>', [("Müller, Hans", "h@x.de")]),
        (b"J\xc3\xb6rg <j@x.de>", [("Jörg", "j@x.de")]),
        (b"Team: a@x.org, b@x.org;", [("", "a@x.org"), ("", "b@x.org")]),
        (b"undisclosed-recipients:;", []),
        (b"", []),
        (b"MAILER-DAEMON", []),
        (b'"unbalanced <a@x.org>', [("", "a@x.org")]),
        (b"Joe <joe@x.org", [("Joe", "joe@x.org")]),
        (b"<<<garbage>>> bob@x.org", [("", "bob@x.org")]),
        (b"a@b@c.org", [("", "a@b")]),
    ],
)
def test_address_parsing(value: bytes, expected: list[tuple[str, str]]) -> None:
    parsed = parse_message(b"To: " + value + b"\n\nbody")
    assert [(a.name, a.email) for a in parsed.to] == expected
    assert_storable(parsed)


def test_address_key_and_fields() -> None:
    parsed = parse_message(
        b"From: A <Mixed.Case@Example.COM>\nReply-To: r@x.org\nCc: c1@x.org, C2 <c2@X.ORG>\n\nb"
    )
    assert parsed.from_ == Address("A", "Mixed.Case@example.com")
    assert parsed.from_.key == "mixed.case@example.com"
    assert parsed.reply_to == (Address("", "r@x.org"),)
    assert parsed.cc == (Address("", "c1@x.org"), Address("C2", "c2@x.org"))


def test_huge_address_header_is_capped() -> None:
    addresses = ", ".join(f"user{i}@example.com" for i in range(5000)).encode()
    start = time.perf_counter()
    parsed = parse_message(b"To: " + addresses + b"\nCc: " + b"(" * 20000 + b"\n\nbody")
    assert time.perf_counter() - start < TIME_LIMIT
    assert len(parsed.to) == MAX_ADDRESSES
    assert parsed.to[0] == Address("", "user0@example.com")
    assert any("16384" in defect for defect in parsed.defects)
    assert any(f"more than {MAX_ADDRESSES} addresses" in defect for defect in parsed.defects)
    assert parsed.cc == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"Mon, 06 Jan 2025 10:00:00 +0100", datetime(2025, 1, 6, 9, 0, tzinfo=UTC)),
        (b"6 Jan 2025 10:00:00 GMT", datetime(2025, 1, 6, 10, 0, tzinfo=UTC)),
        (b"Mon, 06 Jan 2025 10:00:00 -0000", datetime(2025, 1, 6, 10, 0, tzinfo=UTC)),
        (b"Wed, 20 Sep 1995 00:19:00 (EDT) -0400", datetime(1995, 9, 20, 4, 19, tzinfo=UTC)),
        (b"yesterday", None),
        (b"Mon, 06 Jan 2025 10:00:00 +9999", None),
        (b"Mon, 06 Jan 99999 10:00:00 +0000", None),
        (b"", None),
    ],
)
def test_dates(value: bytes, expected: datetime | None) -> None:
    parsed = parse_message(b"Date: " + value + b"\n\nbody")
    assert parsed.date == expected
    if parsed.date is not None:
        assert parsed.date.tzinfo is not None


def test_date_keeps_offset() -> None:
    parsed = parse_message(b"Date: Mon, 06 Jan 2025 10:00:00 +0530\n\nx")
    assert parsed.date is not None
    assert parsed.date.utcoffset() == timedelta(hours=5, minutes=30)
    assert parsed.date.tzinfo == timezone(timedelta(hours=5, minutes=30))


def test_headers_mapping() -> None:
    raw = (
        b"Received: from a\n\tby b\nReceived: from c\nX-Custom: =?utf-8?q?d=C3=A9cod=C3=A9?=\n"
        b"AUTO-SUBMITTED: auto-replied\nSubject: s\n\nbody"
    )
    headers = parse_message(raw).headers
    assert headers["received"] == ("from a\tby b", "from c")
    assert headers["x-custom"] == ("décodé",)
    assert headers["auto-submitted"] == ("auto-replied",)
    assert all(name == name.lower() for name in headers)
    assert "from" not in headers


def test_huge_header_fields_are_cut_before_parsing_and_values_bounded() -> None:
    """A 10 MB Subject, an over-long name and Message-ID: bounded values, the same
    Message-ID at intake as in the pipeline, and the header block still ends where it
    did (the body is intact)."""
    raw = (
        b'From: "' + b"N" * 5_000 + b'" <carl@customer.test>\r\n'
        b"Message-ID: <ok@customer.test>\r\n"
        b"Subject: " + b"overflow " * 1_200_000 + b"\r\n"
        b"X-Long: " + b"x" * (2 * MAX_HEADER_FIELD) + b"\r\n"
        b"\r\n"
        b"the body\r\n"
    )
    parsed = timed_parse(raw)
    assert len(parsed.subject) <= MAX_SUBJECT and parsed.subject.startswith("overflow ")
    assert parsed.from_ is not None and len(parsed.from_.name) == MAX_NAME
    assert parsed.message_id == header_message_id(raw) == "<ok@customer.test>"
    assert len(parsed.headers["x-long"][0]) <= MAX_HEADER_FIELD
    assert parsed.text.strip() == "the body"
    assert any("middle cut before parsing" in defect for defect in parsed.defects)


def test_long_subject_is_kept_whole() -> None:
    parsed = timed_parse(mf.long_subject())
    assert parsed.subject == mf.LONG_SUBJECT
    assert len(parsed.subject) == 10_000


# --------------------------------------------------------------------------
# robustness
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "build"), mf.CASES, ids=[name for name, _ in mf.CASES])
def test_cases_parse(name: str, build: object) -> None:
    assert callable(build)
    raw = build()
    parsed = timed_parse(raw)
    assert_storable(parsed)
    assert header_message_id(raw) == parsed.message_id


def test_deep_nesting_is_bounded() -> None:
    parsed = timed_parse(mf.deeply_nested(depth=60))
    assert parsed.subject == "Deep"
    assert any("deeper than 20" in defect for defect in parsed.defects)
    shallow = parse_message(mf.deeply_nested(depth=10))
    assert shallow.text == "deep text\n"


def test_endless_enclosures_degrade_to_text() -> None:
    parsed = timed_parse(mf.endless_enclosures())
    assert parsed.subject == "Enclosures"
    assert parsed.message_id == "<endless@mailfactory.test>"
    assert "Content-Type: message/rfc822" in parsed.text
    assert any("unparseable" in defect for defect in parsed.defects)


def test_millions_of_header_lines_are_limited() -> None:
    raw = b"X-Spam: y\n" * 300_000 + b"Message-ID: <late@x>\nSubject: late\n\nbody\n"
    parsed = timed_parse(raw)
    assert parsed.message_id is None  # beyond the limit, dropped
    assert header_message_id(raw) is None
    assert parsed.text == "body\n"
    assert len(parsed.headers["x-spam"]) < 10_001
    assert any("header lines" in defect for defect in parsed.defects)


def test_huge_content_type_is_cut_but_boundary_survives() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b"
        + b"; p=v" * 100_000
        + b"\n\n--b\nContent-Type: text/plain\n\nthe body\n--b--\n"
    )
    parsed = timed_parse(raw)
    assert parsed.text == "the body"
    assert any("Content-Type/-Disposition" in defect for defect in parsed.defects)


def test_too_many_parts_keep_the_body_as_text() -> None:
    parts = b"".join(b"--b\nContent-Type: image/gif\n\nGIF\n" for _ in range(12_000))
    raw = b"Subject: parts\nContent-Type: multipart/mixed; boundary=b\n\n" + parts + b"--b--\n"
    parsed = timed_parse(raw)
    assert parsed.subject == "parts"
    assert parsed.attachments == ()
    assert parsed.text.startswith("--b\nContent-Type: image/gif")
    assert any("boundary lines" in defect for defect in parsed.defects)
    fewer = parse_message(raw.replace(parts, parts[: len(parts) // 4]))
    assert len(fewer.attachments) == 3_000


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00" * 1000,
        bytes(range(256)) * 20,
        b"\xff\xfe\x00S\x00u\x00b",
        b":\n:\n:::\n\n",
        b"Content-Type: multipart/mixed\n\n--\n--\n",
        b"Content-Type: multipart/mixed; boundary=\n\n--\n\n--\n",
        b"Content-Type: multipart/mixed; boundary=" + b"x" * 5000 + b"\n\n--x\n",
        b"Content-Type: text/plain; charset*=''\n\nx",
        b'Content-Type: text/plain; charset="\xff\xfe"\n\nx\xff',
        b"Content-Transfer-Encoding: base64\n\n!!!!====\n",
        b"Content-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n#0V%T\n`\nend\n",
        b"Content-Transfer-Encoding: quoted-printable\n\n=\n=ZZ=\n",
        b"Subject: " + b"=?utf-8?q?" * 5000 + b"\n\n",
        b"Received: " + b"a" * 2_000_000 + b"\n\nbody",
        b"X: y\n" * 20000 + b"\nbody",
    ],
)
def test_hostile_inputs_do_not_raise(raw: bytes) -> None:
    assert_storable(timed_parse(raw))


@needs_corpus
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_parses_quickly(path: Path) -> None:
    parsed, elapsed = parsed_corpus_file(path)
    assert elapsed < TIME_LIMIT, f"{path.name} took {elapsed:.2f}s"
    assert_storable(parsed)
    assert header_message_id(path.read_bytes()) == parsed.message_id


@needs_corpus
def test_corpus_is_not_empty() -> None:
    assert len(corpus_files()) > 100


@needs_corpus
def test_corpus_specific_repairs() -> None:
    endless = corpus_message("flanker/enclosed-endless.eml")
    assert [(a.filename, a.content_type) for a in endless.attachments] == [
        ("Thanks!.eml", "message/rfc822")
    ]
    assert endless.text == "Hello\n"
    russian = corpus_message("flanker/russian-attachment-yahoo.eml")
    assert russian.attachments[0].filename.startswith("Картинка с очень, очень длинным")
    broken_name = corpus_message("flanker/mailformed-headers.eml")
    assert broken_name.from_ is not None
    assert broken_name.from_.name.startswith("Юникод запрещен")
    global_enclosed = corpus_message("flanker/enclosed-global.eml")
    assert [a.content_type for a in global_enclosed.attachments] == ["message/global"]
    long_header = corpus_message("flanker/long-header.eml")
    assert long_header.subject.startswith("Die heiße Zypernsonne quälte Max und Victoria ja böse")
    dsn = corpus_message("flanker/bounce_delayed-broken.eml")
    assert dsn.content_type == "message/delivery-status"


# --------------------------------------------------------------------------
# property tests
# --------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert_storable(parsed)
    assert header_message_id(raw) == parsed.message_id


HEADER_NAMES = [
    "Subject",
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Content-Type",
    "Content-Disposition",
    "Content-Transfer-Encoding",
    "Content-ID",
    "X-Random",
]
header_values = st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"\n ").replace(b"\r", b"")),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass").replace(b"\n", b" ")),
    st.sampled_from(
        [
            b"=?utf-8?b?w6k=?=",
            b"=?iso-8859-1?q?=E9?= =?bogus?q?x?=",
            b"<a@b> <c@d>",
            b'"x" <y@z>, (comment) w@v',
            b"text/plain; charset=shift_jis",
            b"attachment; filename*0*=utf-8''%E2%82; filename*1*=%AC",
        ]
    ),
)


@st.composite
def mime_trees(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A random, often broken, MIME entity rendered to bytes."""
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_values), max_size=2))
    lines = [name.encode() + b": " + value for name, value in headers]
    kind = draw(
        st.sampled_from(["leaf", "leaf", "multipart", "message"] if depth < 3 else ["leaf"])
    )
    if kind == "leaf":
        ctype = draw(
            st.sampled_from(
                [b"text/plain", b"text/html", b"image/png", b"application/pdf", b"bogus", b""]
            )
        )
        charset = draw(
            st.sampled_from(
                [
                    b"",
                    b"; charset=utf-8",
                    b"; charset=latin1",
                    b"; charset=x-junk",
                    b"; charset=utf-7",
                ]
            )
        )
        cte = draw(st.sampled_from([b"", b"base64", b"quoted-printable", b"8bit", b"x-uuencode"]))
        disposition = draw(
            st.sampled_from([b"", b"attachment", b"inline", b'attachment; filename="../a.txt"'])
        )
        lines.append(b"Content-Type: " + ctype + charset)
        if cte:
            lines.append(b"Content-Transfer-Encoding: " + cte)
        if disposition:
            lines.append(b"Content-Disposition: " + disposition)
        payload = draw(st.binary(max_size=200))
        if cte == b"base64" and draw(st.booleans()):
            payload = base64.encodebytes(payload)
        return b"\n".join(lines) + b"\n\n" + payload
    if kind == "message":
        lines.append(b"Content-Type: message/rfc822")
        return b"\n".join(lines) + b"\n\n" + draw(mime_trees(depth + 1))
    subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related", b"report", b"signed"]))
    boundary = draw(st.sampled_from([b"b", b"b1", b"=_x", b"", b"same"]))
    children = draw(st.lists(mime_trees(depth + 1), max_size=3))
    declared = draw(st.sampled_from([boundary, b"other", None]))
    content_type = b"Content-Type: multipart/" + subtype
    if declared is not None:
        content_type += b'; boundary="' + declared + b'"'
    lines.append(content_type)
    body = draw(st.binary(max_size=20))
    for child in children:
        body += b"\n--" + boundary + b"\n" + child
    if draw(st.booleans()):
        body += b"\n--" + boundary + b"--\n"
    return b"\n".join(lines) + b"\n\n" + body


@FAST
@given(mime_trees(), st.booleans())
def test_random_mime_trees_never_raise(raw: bytes, crlf: bool) -> None:
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    start = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - start < TIME_LIMIT
    assert_storable(parsed)
    assert header_message_id(raw) == parsed.message_id


@FAST
@given(st.text(max_size=200))
def test_normalize_message_id_properties(value: str) -> None:
    result = normalize_message_id(value)
    if result is not None:
        assert result.startswith("<") and result.endswith(">")
        assert len(result) > 2
        assert not any(char.isspace() for char in result)
        result.encode("utf-8")


# --------------------------------------------------------------------------
# purity
# --------------------------------------------------------------------------

FORBIDDEN_IMPORTS = {"peewee", "aiosmtpd", "starlette", "jinja2", "socket", "asyncio", "os"}
CORE = Path(__file__).resolve().parents[1] / "maildesk" / "core"
PURE_MODULES = [
    *sorted(path.relative_to(CORE).as_posix() for path in (CORE / "message").glob("*.py")),
    "autoreply.py",
]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_core_module_is_pure(module: str) -> None:
    path = CORE / module
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN_IMPORTS
    assert ast.get_docstring(tree)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("erin@customer.test", "erin@customer.test"),
        ("  Erin@Customer.TEST. ", "Erin@customer.test"),
        ('"Erin" <erin@customer.test>', "erin@customer.test"),
        ("<erin@customer.test>", "erin@customer.test"),
        ("erin@customer.test (home)", "erin@customer.test"),
        ("a b@customer.test", None),  # the parser would read b@customer.test
        ("erin@customer.test@evil.test", None),
        ("Name erin@customer.test", None),
        ("erin@customer.test, bob@example.com", None),
        ("erin@", None),
    ],
)
def test_a_typed_address_is_read_as_mail_reads_it_but_never_guessed(
    typed: str, expected: str | None
) -> None:
    address = parse_typed_address(typed)
    assert (address.email if address else None) == expected
