"""What did the person write? Splits a reply's text into its new text and the quoted history.

Where it sits in the flow: for display only (the web view, notification mails,
previews). The full text is always stored; `split_reply` decides what to show
first and what to fold away.

Conservative: text is folded only when a marker says it is history: a `>`-quoted
block, an attribution line ("On <date>, <name> wrote:" and its German, French,
Spanish, Dutch and Italian forms), an Outlook header block ("From: / Sent: / To:
/ Subject:", also "Von: / Gesendet: / An: / Betreff:" and others), an "Original
Message" or forwarded-message separator, Outlook's line of underscores, a
signature after a `-- ` line, or a mobile footer ("Sent from my iPhone"). When
unsure, the text stays visible: an inline reply (quote, answer, quote, answer)
is shown whole, a quote that the writer introduces on the line just before it
("The log says:" then `> ...`) is theirs, and a "signature" longer than
MAX_SIGNATURE_LINES is text.

How: the lines become segments (blank, quote, text, or a marker spanning one or
more lines). Walking up from the bottom, each segment learns whether everything
from it to the end is history; the visible text ends at the first marker from
which it is. Above that, a quote at the very top followed by plain text is a
bottom-posted reply (Thunderbird's default), and the quote is history too.

Pure: text in, `Reply` out. The policy is data: `LANGUAGES` holds each
language's phrases, `MARKERS` the kinds of marker in the order they are tried.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "LANGUAGES",
    "MARKERS",
    "MAX_SIGNATURE_LINES",
    "Effect",
    "Language",
    "Marker",
    "Reply",
    "Role",
    "split_reply",
]


@dataclass(frozen=True)
class Reply:
    visible: str  # what the person wrote in this message
    quoted: str  # history and signature: quoted text above it (bottom-posting), then below it


# --------------------------------------------------------------------------
# Languages: how mail clients introduce a quote, in each language we know
# --------------------------------------------------------------------------


class Role(enum.Enum):
    """What an Outlook header line says."""

    FROM = "from"
    DATE = "date"
    TO = "to"
    CC = "cc"
    SUBJECT = "subject"


@dataclass(frozen=True)
class Language:
    code: str
    attributions: tuple[str, ...]  # regexes for a whole "On <date>, <name> wrote:" line
    verbs: tuple[str, ...]  # "wrote": a line ending in one before a `>` quote introduces it
    separators: tuple[str, ...]  # "Original Message" in "-----Original Message-----"
    forward_intros: tuple[str, ...]  # Apple Mail's "Begin forwarded message:"
    headers: Mapping[str, Role]  # Outlook header names, lower-cased
    mobile: tuple[str, ...]  # how "Sent from my iPhone" footers begin, lower-cased


_HEADERS_COMMON = {"cc": Role.CC, "date": Role.DATE}

LANGUAGES: tuple[Language, ...] = (
    Language(
        "en",
        attributions=(r"On\b.+\bwrote:",),
        verbs=("wrote",),
        separators=("original message", "forwarded message"),
        forward_intros=("begin forwarded message",),
        headers={"from": Role.FROM, "sent": Role.DATE, "to": Role.TO, "subject": Role.SUBJECT},
        mobile=("sent from ", "sent with ", "get outlook for "),
    ),
    Language(
        "de",
        attributions=(
            r"Am\b.+\bschrieb\b.*:",
            r".+\bschrieb am\b.+:",
            r".+\bhat am\b.+\bgeschrieben:",
        ),
        verbs=("schrieb", "geschrieben"),
        separators=("ursprüngliche nachricht", "weitergeleitete nachricht"),
        forward_intros=(
            "anfang der weitergeleiteten nachricht",
            "anfang der weitergeleiteten e-mail",
        ),
        headers={
            "von": Role.FROM,
            "gesendet": Role.DATE,
            "datum": Role.DATE,
            "an": Role.TO,
            "betreff": Role.SUBJECT,
        },
        mobile=("von meinem ", "gesendet von "),
    ),
    Language(
        "fr",
        attributions=(r"Le\b.+\ba écrit ?:",),
        verbs=("a écrit",),
        separators=("message d'origine", "message original", "message transféré"),
        forward_intros=("début du message réexpédié", "début du message transféré"),
        headers={"de": Role.FROM, "envoyé": Role.DATE, "à": Role.TO, "objet": Role.SUBJECT},
        mobile=("envoyé de mon ", "envoyé depuis "),
    ),
    Language(
        "es",
        attributions=(r"El\b.+\bescribió ?:",),
        verbs=("escribió",),
        separators=("mensaje original", "mensaje reenviado"),
        forward_intros=("inicio del mensaje reenviado",),
        headers={
            "de": Role.FROM,
            "enviado": Role.DATE,
            "enviado el": Role.DATE,
            "fecha": Role.DATE,
            "para": Role.TO,
            "asunto": Role.SUBJECT,
        },
        mobile=("enviado desde ",),
    ),
    Language(
        "nl",
        attributions=(r"Op\b.+\bschreef\b.*:", r"Op\b.+\bheeft\b.+\bgeschreven:"),
        verbs=("schreef", "geschreven"),
        separators=("oorspronkelijk bericht", "origineel bericht", "doorgestuurd bericht"),
        forward_intros=("begin doorgestuurd bericht",),
        headers={
            "van": Role.FROM,
            "verzonden": Role.DATE,
            "aan": Role.TO,
            "onderwerp": Role.SUBJECT,
        },
        mobile=("verzonden vanaf ", "verstuurd vanaf ", "verzonden met "),
    ),
    Language(
        "it",
        attributions=(r"Il\b.+\bha scritto:", r"In data\b.+\bha scritto:"),
        verbs=("ha scritto",),
        separators=("messaggio originale", "messaggio inoltrato"),
        forward_intros=("inizio messaggio inoltrato",),
        headers={
            "da": Role.FROM,
            "inviato": Role.DATE,
            "data": Role.DATE,
            "a": Role.TO,
            "oggetto": Role.SUBJECT,
        },
        mobile=("inviato da ", "inviato dal mio "),
    ),
)
"""Phrases per language; add a language by adding a row."""

MAX_SIGNATURE_LINES = 12  # a longer block after `-- ` is treated as text
MAX_ATTRIBUTION_LINES = 3  # clients wrap a long "On ... wrote:" line
MAX_ATTRIBUTION_CHARS = 300
MAX_HEADER_LINES = 12
MAX_MOBILE_CHARS = 70

# --------------------------------------------------------------------------
# Patterns built from the table
# --------------------------------------------------------------------------


def _alternatives(phrases: Sequence[str]) -> str:
    return "|".join(re.escape(p) for p in sorted(set(phrases), key=len, reverse=True))


_ATTRIBUTION = re.compile(
    "|".join(f"(?:{p})" for lang in LANGUAGES for p in lang.attributions), re.I
)
_VERB_ENDING = re.compile(
    rf".*\b(?:{_alternatives([v for lang in LANGUAGES for v in lang.verbs])}) ?:", re.I
)
# Clients put a time ("9:14 AM", "09:14") or an address in the attribution; a
# sentence that merely starts with "On" and ends with "wrote:" rarely has either.
_TIME = re.compile(r"\b\d{1,2}[:.h]\d{2}\b")
_TIME_OR_ADDRESS = re.compile(rf"{_TIME.pattern}|@")
_SEPARATOR = re.compile(
    rf"-{{2,}} ?(?:{_alternatives([s for lang in LANGUAGES for s in lang.separators])}) ?-{{2,}}",
    re.I,
)
_FORWARD_INTRO = re.compile(
    rf"(?:{_alternatives([s for lang in LANGUAGES for s in lang.forward_intros])}) ?:", re.I
)
_HEADER_ROLES: dict[str, Role] = {
    name: role for lang in LANGUAGES for name, role in {**_HEADERS_COMMON, **lang.headers}.items()
}
_HEADER_LINE = re.compile(r"\*?(?P<name>[^\W\d_][\w '-]{0,20}?) ?\*? ?: ?\*?(?P<value>.*)")
_MOBILE = re.compile(
    rf"(?:{_alternatives([m for lang in LANGUAGES for m in lang.mobile])}).+", re.I
)
_UNDERSCORES = re.compile(r"_{10,}")
_SPACES = re.compile(r"\s+")  # includes the non-breaking spaces of HTML-derived text
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _norm(line: str) -> str:
    """A line as markers see it: whitespace collapsed, no invisible characters."""
    return _SPACES.sub(" ", line.replace("\u200b", "").replace("\ufeff", "")).strip()


# --------------------------------------------------------------------------
# Markers: each matcher gets the normalized lines and an index, and returns how
# many lines the marker spans there (None: no marker).
# --------------------------------------------------------------------------


class Effect(enum.Enum):
    HISTORY = "everything from here on is history"
    PASS = "history if what follows it is"
    SIGNATURE = "history if short and what follows it is"


@dataclass(frozen=True)
class Marker:
    name: str
    description: str
    effect: Effect
    match: Callable[[Sequence[str], int], int | None]


def _next_is_quote(lines: Sequence[str], index: int) -> bool | None:
    """Is the first non-blank line from `index` a quote? None: only blank lines follow."""
    for line in lines[index:]:
        if line:
            return line.startswith(">")
    return None


def _attribution_span(lines: Sequence[str], index: int, strong: bool) -> int | None:
    """Lines an attribution spans from `index` (wrapped over up to three lines)."""
    joined = ""
    for span in range(1, MAX_ATTRIBUTION_LINES + 1):
        line = lines[index + span - 1] if index + span - 1 < len(lines) else ""
        if not line or line.startswith(">") or (span > 1 and joined[-1] in ".!?"):
            return None
        joined = f"{joined} {line}".strip()
        if len(joined) > MAX_ATTRIBUTION_CHARS:
            return None
        if not joined.endswith(":"):  # every attribution does; spares the regexes
            continue
        if _ATTRIBUTION.fullmatch(joined):
            if strong and not _TIME_OR_ADDRESS.search(joined):
                return None
            return span
        if not strong and span == 1 and _generic_attribution(joined):
            return span
    return None


def _generic_attribution(line: str) -> bool:
    """`Jane Doe wrote:`, or an address and a time: `* Jane <jane@example.com> [2026-11-18
    09:14]:` (but not "Please write to help@example.com:")."""
    if _VERB_ENDING.fullmatch(line):
        return True
    return "@" in line and bool(_TIME.search(line))


def _attribution_before_quote(lines: Sequence[str], index: int) -> int | None:
    span = _attribution_span(lines, index, strong=False)
    return span if span and _next_is_quote(lines, index + span) else None


def _attribution_before_text(lines: Sequence[str], index: int) -> int | None:
    # The quote lost its `>` (HTML turned into text): only a sure attribution counts.
    span = _attribution_span(lines, index, strong=True)
    return span if span and not _next_is_quote(lines, index + span) else None


def _header_block(lines: Sequence[str], index: int) -> int | None:
    """An Outlook block: From, then at least two of date, to and subject."""
    roles: set[Role] = set()
    span = 0
    unknown = 0
    for offset, line in enumerate(lines[index : index + MAX_HEADER_LINES]):
        match = _HEADER_LINE.fullmatch(line)
        role = _HEADER_ROLES.get(match["name"].lower().strip()) if match else None
        if offset == 0 and role is not Role.FROM:
            return None
        if role is not None:
            roles.add(role)
            span = offset + 1
        elif not line or unknown == 2:  # allow a wrapped To: or Cc: line or two
            break
        else:
            unknown += 1
    return span if len(roles & {Role.DATE, Role.TO, Role.SUBJECT}) >= 2 else None


def _one_line(
    pattern: re.Pattern[str], max_chars: int = 200
) -> Callable[[Sequence[str], int], int | None]:
    def match(lines: Sequence[str], index: int) -> int | None:
        line = lines[index]
        return 1 if len(line) <= max_chars and pattern.fullmatch(line) else None

    return match


def _signature(lines: Sequence[str], index: int) -> int | None:
    return 1 if lines[index] == "--" else None  # "-- ", or "--" where the space got lost


_QUOTE_INTRO = Marker(
    "attribution",
    "'On <date>, <name> wrote:' before a > quote",
    Effect.PASS,
    _attribution_before_quote,
)

MARKERS: tuple[Marker, ...] = (
    _QUOTE_INTRO,
    Marker(
        "attribution-unquoted",
        "'On <date> at <time>, <name> wrote:' before unquoted text",
        Effect.HISTORY,
        _attribution_before_text,
    ),
    Marker(
        "original-message",
        "'-----Original Message-----', '--- Forwarded message ---'",
        Effect.HISTORY,
        _one_line(_SEPARATOR),
    ),
    Marker(
        "forward-intro",
        "Apple Mail's 'Begin forwarded message:'",
        Effect.HISTORY,
        _one_line(_FORWARD_INTRO),
    ),
    Marker(
        "outlook-headers",
        "Outlook's 'From: / Sent: / To: / Subject:' block",
        Effect.HISTORY,
        _header_block,
    ),
    Marker(
        "outlook-rule",
        "Outlook's line of underscores above the header block",
        Effect.PASS,
        _one_line(_UNDERSCORES),
    ),
    Marker("signature", "a signature after a '-- ' line", Effect.SIGNATURE, _signature),
    Marker(
        "mobile-footer",
        "'Sent from my iPhone' and the like",
        Effect.PASS,
        _one_line(_MOBILE, MAX_MOBILE_CHARS),
    ),
)
"""The markers, in the order they are tried on each unquoted line."""

# --------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------


class Kind(enum.Enum):
    BLANK = "blank"
    QUOTE = "quote"
    TEXT = "text"
    MARKER = "marker"


@dataclass(frozen=True)
class _Segment:
    kind: Kind
    start: int  # line index
    end: int
    marker: Marker | None = None


def _segments(lines: Sequence[str]) -> list[_Segment]:
    segments: list[_Segment] = []
    index = 0
    while index < len(lines):
        segment = _segment_at(lines, index)
        segments.append(segment)
        index = segment.end
    return segments


def _segment_at(lines: Sequence[str], index: int) -> _Segment:
    line = lines[index]
    if not line:
        return _Segment(Kind.BLANK, index, index + 1)
    if line.startswith(">"):
        return _Segment(Kind.QUOTE, index, index + 1)
    for marker in MARKERS:
        span = marker.match(lines, index)
        if span:
            return _Segment(Kind.MARKER, index, index + span, marker)
    return _Segment(Kind.TEXT, index, index + 1)


def _history_from(segments: Sequence[_Segment]) -> list[bool]:
    """For each segment: is everything from it to the end history? (One entry more, the end.)"""
    history = [True] * (len(segments) + 1)
    next_boundary = len(segments)  # the next segment where a signature block ends
    texts_after = 0  # text segments between here and that boundary
    for i in range(len(segments) - 1, -1, -1):
        segment = segments[i]
        effect = segment.marker.effect if segment.marker else None
        if segment.kind is Kind.TEXT:
            history[i] = False
        elif effect is Effect.HISTORY:
            history[i] = True
        elif effect is Effect.SIGNATURE:
            history[i] = texts_after <= MAX_SIGNATURE_LINES and history[next_boundary]
        else:  # blank, quote, or a marker that passes
            history[i] = history[i + 1]
        if segment.kind is Kind.QUOTE or effect in (Effect.HISTORY, Effect.PASS):
            next_boundary, texts_after = i, 0
        elif segment.kind is not Kind.BLANK:
            texts_after += 1
    return history


def _may_start_history(segment: _Segment, above: Kind | None, previous: Kind | None) -> bool:
    """Can the history begin here? At a marker, or where a quote begins, unless a
    line of text sits right `above` it: then the writer is quoting. (`previous`:
    the kind of the last non-blank segment before this one.)"""
    if segment.kind is Kind.MARKER:
        return True
    return segment.kind is Kind.QUOTE and above is not Kind.TEXT and previous is not Kind.QUOTE


def _cut(segments: Sequence[_Segment]) -> int:
    """Index of the first segment of the trailing history (len(segments): none)."""
    history = _history_from(segments)
    above: Kind | None = None
    previous: Kind | None = None
    for i, segment in enumerate(segments):
        if history[i] and _may_start_history(segment, above, previous):
            return i
        above = segment.kind
        if segment.kind is not Kind.BLANK:
            previous = segment.kind
    return len(segments)


def _leading_quote(segments: Sequence[_Segment], cut: int) -> int:
    """Segments of a quote at the very top above the reply (bottom-posting); 0: none."""
    first = next((i for i, s in enumerate(segments) if s.kind is not Kind.BLANK), cut)
    if first >= cut:
        return 0
    head = segments[first]
    if head.kind is not Kind.QUOTE and head.marker is not _QUOTE_INTRO:
        return 0
    end = first + 1
    while end < cut and segments[end].kind in (Kind.BLANK, Kind.QUOTE):
        end += 1
    rest = segments[end:cut]
    if any(s.kind is Kind.QUOTE for s in rest) or not any(s.kind is Kind.TEXT for s in rest):
        return 0  # an inline reply, or nothing written: keep it all
    return end


def _text(lines: Sequence[str]) -> str:
    """Lines joined, without blank lines at either end nor the indentation HTML-to-text
    conversion leaves on every line."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    kept = lines[start:end]
    margins = [line[: len(line) - len(line.lstrip())] for line in kept if line.strip()]
    margin = min(margins, key=len) if margins else ""
    if not all(m.startswith(margin) for m in margins):
        margin = ""  # mixed tabs and spaces: leave it alone
    return "\n".join(
        line[len(margin) :] if line.startswith(margin) else line for line in kept
    ).rstrip()


def split_reply(text: str) -> Reply:
    """The new text of a reply, and the quoted history and signature below (or above) it."""
    lines = _LINE_BREAK.split(text)
    normalized = [_norm(line) for line in lines]
    segments = _segments(normalized)
    cut = _cut(segments)
    lead = _leading_quote(segments, cut)
    line_of = [s.start for s in segments] + [len(lines)]
    visible = _text(lines[line_of[lead] : line_of[cut]])
    above = _text(lines[: line_of[lead]])
    below = _text(lines[line_of[cut] :])
    return Reply(visible=visible, quoted="\n\n".join(part for part in (above, below) if part))
