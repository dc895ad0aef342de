"""Authentication-Results: did the domain of an agent's From address really send this mail?

Where it sits in the flow: `#commands` run only for mail from a verified agent
(design invariant 5), and a From header is easy to forge. Mail sent to the
agent's signed reply address (`core.reply_address`) needs nothing more; for
other mail, where `[security] trusted_authserv_id` is set, the pipeline calls
`verify_sender` with the message's headers, their order, the From address and
that id. A `Verdict` that is not ok means the mail is stored as an internal,
flagged note instead; its `reason` is the one line shown with it. With no id
configured nothing passes here.

What passes (any one suffices, RFC 7489 in short):

* `dmarc=pass`; if the result names a `header.from`, it must be the From domain.
* `dkim=pass` whose signing domain (`header.d`, else the domain of `header.i`)
  is aligned with the From domain.
* `spf=pass` whose `smtp.mailfrom` domain is aligned with the From domain
  (`smtp.helo` alone is not enough: it says nothing about the sender).

A `dmarc=fail` among the trusted results vetoes every pass: the domain owner
has said this mail is not theirs, whatever else verified.

Which headers count: only `Authentication-Results` (never ARC ones) whose
authserv-id is the trusted one, compared case-insensitively, and of those only
the topmost block. Under RFC 8601 a border MTA deletes the headers that claim
its own id before it adds its own (section 5), headers are added on top, and a
reader uses only the headers its trusted MTAs added (section 7.1): anything
below the first header that came from elsewhere may have been written by the
sender. So, reading the message top down:

* `Received` headers above our server's block are the hops after it (the
  delivery to maildesk) and are passed over;
* the first `Authentication-Results` must carry our id: one from another
  server, or one we cannot read, above it means it is not the topmost block;
* the block is that header and every one with our id below it, up to the first
  `Received` (the hop that brought the mail to our server) or the first
  `Authentication-Results` with another id or none we can read.

A border MTA running OpenDKIM, an SPF policy daemon and OpenDMARC, which each
add a header with the same id, gives one block; the sender's own headers always
sit below it. Within the block, each method is taken from the topmost header
that reports it, so a header the sender forged with our id, if the MTA failed
to delete it, cannot override any result the MTA reported, nor hide a
`dmarc=fail` anywhere in the block. It could only add a method the MTA did not
report at all; an MTA that does not remove forged headers with its own id
should at least report all three methods. Where another server of yours adds
its own `Authentication-Results` after the border MTA, trust that server's id.
Without the header order (a plain mapping of values) the
`Authentication-Results` are taken as adjacent.

Alignment is the relaxed kind, simplified: equal domains, or one a subdomain of
the other (`mail.example.com` and `example.com`). Without the Public Suffix
List, two subdomains of one organisation (`a.example.com`, `b.example.com`) do
not align, which errs on the safe side. The parent in such a pair must not be
a public suffix: a single label (`com`) never aligns with anything below it,
nor does a two-label name that looks like a country's second level (`co.uk`,
`com.au`, `ne.jp`). That list is a heuristic; a suffix it misses could only be
abused by whoever runs that suffix's own DNS, since the pass must be for the
suffix itself.

The parser follows RFC 8601 (`;`-separated results, `method/version=result`,
`reason=`, `ptype.property=value`, nested comments, quoted strings, `none`,
an authserv-id version) and is tolerant: garbage never raises, it just never
passes. A result with anything unreadable in it is dropped whole. Microsoft
365 writes its `Authentication-Results` without an authserv-id, so that
header never matches a trusted id.

Pure: header values in, a verdict out; no DNS, no IO.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Verdict", "verify_sender"]

_HEADER = "authentication-results"
_RECEIVED = "received"
_BLOCK_HEADERS = frozenset({_HEADER, _RECEIVED})
_METHODS = ("dmarc", "dkim", "spf")  # also the order of preference for the reason
_KEYWORD = re.compile(r"[A-Za-z0-9_.-]+")
_DIGITS = re.compile(r"[0-9]+")
_DOMAIN = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*")
_MAX_DOMAIN = 253
_MAX_SHOWN = 60
# Second-level labels that, under a two-letter country TLD, are usually a public
# suffix (co.uk, com.au, ac.jp, ne.jp, gob.mx ...): a heuristic, not the list.
_CCTLD_SECOND_LEVELS = frozenset(
    {"ac", "co", "com", "edu", "go", "gob", "gov", "gv", "ltd"}
    | {"mil", "ne", "net", "nic", "nom", "or", "org", "plc", "sch"}
)


@dataclass(frozen=True)
class Verdict:
    """Whether the sender's domain is verified, and one human line saying why.
    `refuted`: the trusted server reported `dmarc=fail`, the domain owner's own word
    that the mail is not theirs, which no other proof overrides."""

    ok: bool
    reason: str
    refuted: bool = False


@dataclass(frozen=True)
class _Result:
    """One resinfo: `method=result` and its properties (names lower-cased)."""

    method: str
    result: str
    props: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.props if key == name]


# --------------------------------------------------------------------------
# Parsing one header value
# --------------------------------------------------------------------------


def _split_resinfos(text: str) -> list[str | None]:
    """Comments replaced by a space, then split at each `;` outside quotes.

    Quoted strings stay as written (quotes, backslashes and all) for
    `_read_value`. An unterminated comment or quoted string runs to the end
    and makes that last chunk None: a cut-off result is not to be trusted.
    """
    chunks: list[str | None] = []
    broken = False
    current: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "(":
            depth = 0
            while i < n:
                ch = text[i]
                if ch == "\\":
                    i += 1
                elif ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            broken = i >= n
            current.append(" ")
        elif ch == '"':
            start = i
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            broken = i >= n
            current.append(text[start : i + 1])
        elif ch == ";":
            chunks.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    chunks.append(None if broken else "".join(current))
    return chunks


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _read_value(text: str, pos: int) -> tuple[str, int]:
    """A run of quoted strings and other non-space characters, unquoted.

    Covers a token, a quoted string, and `"local part"@domain`; tolerant of the
    characters real headers put in unquoted values (`/`, `=`, `@`, `+`).
    """
    out: list[str] = []
    n = len(text)
    while pos < n and not text[pos].isspace():
        if text[pos] == '"':
            pos += 1
            while pos < n and text[pos] != '"':
                if text[pos] == "\\" and pos + 1 < n:
                    pos += 1
                out.append(text[pos])
                pos += 1
            pos += 1  # the closing quote (or past the end)
        else:
            out.append(text[pos])
            pos += 1
    return "".join(out), min(pos, n)


def _parse_resinfo(chunk: str) -> _Result | None:
    """`method[/version]=result` then `name=value` pairs; None if anything is
    unreadable (or for `none`, or an empty chunk)."""
    pairs: list[tuple[str, str]] = []
    pos = _skip_space(chunk, 0)
    method_version: str | None = None
    while pos < len(chunk):
        key = _KEYWORD.match(chunk, pos)
        if key is None:
            return None
        pos = _skip_space(chunk, key.end())
        if not pairs and pos < len(chunk) and chunk[pos] == "/":
            version = _DIGITS.match(chunk, _skip_space(chunk, pos + 1))
            if version is None:
                return None
            method_version = version.group()
            pos = _skip_space(chunk, version.end())
        if pos >= len(chunk) or chunk[pos] != "=":
            return None
        value, pos = _read_value(chunk, _skip_space(chunk, pos + 1))
        if not value:
            return None
        pairs.append((key.group().lower(), value))
        pos = _skip_space(chunk, pos)
    if not pairs or (method_version is not None and method_version.lstrip("0") != "1"):
        return None
    (method, result), props = pairs[0], pairs[1:]
    if "." in method or _KEYWORD.fullmatch(result) is None:  # a property, or a junk result
        return None
    return _Result(method, result.lower(), tuple(props))


def _parse_header(text: str) -> tuple[str, tuple[_Result, ...]] | None:
    """(authserv-id, results) of one header value; None if no id can be read.

    A header of an unknown version (RFC 8601 section 2.2) keeps its id but
    yields no results.
    """
    first, *rest = _split_resinfos(text)
    if first is None:
        return None
    authserv_id, pos = _read_value(first, _skip_space(first, 0))
    if not authserv_id or "=" in authserv_id:  # Microsoft 365: no id, a result first
        return None
    version = first[pos:].strip()
    if version and (not version.isdigit() or version.lstrip("0") != "1"):
        return authserv_id, ()
    results = (_parse_resinfo(chunk) for chunk in rest if chunk is not None)
    return authserv_id, tuple(result for result in results if result is not None)


# --------------------------------------------------------------------------
# Domains and alignment
# --------------------------------------------------------------------------


def _domain(value: str) -> str | None:
    """The lower-cased (A-label) domain of an address, `@domain` or bare
    domain; None if it is not a plausible domain name."""
    domain = value.strip().strip("<>").rpartition("@")[2].strip().rstrip(".").lower()
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    if len(domain) > _MAX_DOMAIN or _DOMAIN.fullmatch(domain) is None:
        return None
    return domain


def _looks_like_public_suffix(domain: str) -> bool:
    labels = domain.split(".")
    if len(labels) < 2:
        return True
    return len(labels) == 2 and len(labels[1]) == 2 and labels[0] in _CCTLD_SECOND_LEVELS


def _aligned(domain: str, from_domain: str) -> bool:
    """Simplified relaxed alignment: equal, or one a subdomain of the other
    where the parent is not (apparently) a public suffix."""
    if domain == from_domain:
        return True
    if from_domain.endswith("." + domain):
        parent = domain
    elif domain.endswith("." + from_domain):
        parent = from_domain
    else:
        return False
    return not _looks_like_public_suffix(parent)


# --------------------------------------------------------------------------
# Judging the results
# --------------------------------------------------------------------------


def _identity(result: _Result) -> tuple[str, list[str]]:
    """The property naming the domain a result is about, and its values."""
    if result.method == "dmarc":
        return "header.from", result.values("header.from")
    if result.method == "spf":
        return "smtp.mailfrom", result.values("smtp.mailfrom")
    if result.values("header.d"):
        return "header.d", result.values("header.d")
    return "header.i", result.values("header.i")


def _passes(result: _Result, from_domain: str) -> bool:
    if result.result != "pass":
        return False
    _, values = _identity(result)
    domains = [_domain(value) for value in values]
    if result.method == "dmarc":
        return all(domain == from_domain for domain in domains)
    return bool(domains) and all(
        domain is not None and _aligned(domain, from_domain) for domain in domains
    )


def _show(value: str) -> str:
    domain = _domain(value)
    if domain is not None:
        return domain
    shown = "".join(ch if ch.isprintable() else "?" for ch in value)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 1] + "…"


def _describe(result: _Result) -> str:
    name, values = _identity(result)
    text = f"{result.method}={result.result}"
    if values:
        return f"{text} {name}={_show(values[0])}"
    if result.result == "pass" and result.method != "dmarc":
        return f"{text} without {'header.d' if result.method == 'dkim' else name}"
    return text


def _is_ours(value: str, authserv_id: str) -> bool:
    parsed = _parse_header(value)
    return parsed is not None and parsed[0].lower() == authserv_id.lower()


def _fields(
    headers: Mapping[str, tuple[str, ...]], order: Sequence[str]
) -> Iterator[tuple[str, str]]:
    """(name, value) of the headers that decide the topmost block, topmost first.

    Without `order` (the names in message order) only the Authentication-Results
    headers' own order is known: they are then taken as adjacent."""
    if not order:
        yield from ((_HEADER, value) for value in headers.get(_HEADER, ()))
        return
    seen: dict[str, int] = {}
    for name in order:
        if name not in _BLOCK_HEADERS:
            continue
        index = seen.get(name, 0)
        seen[name] = index + 1
        values = headers.get(name, ())
        if index < len(values):
            yield name, values[index]


def _trusted_group(
    fields: Iterable[tuple[str, str]], authserv_id: str
) -> list[tuple[_Result, ...]] | None:
    """Results of the topmost block of headers with our id, one tuple per header,
    topmost first; None if the topmost Authentication-Results is not ours."""
    wanted = authserv_id.lower()
    group: list[tuple[_Result, ...]] = []
    for name, value in fields:
        if name == _RECEIVED:
            if group:  # a hop below our server: everything further down came with the mail
                break
            continue  # a hop after our server (the delivery to maildesk)
        parsed = _parse_header(value)
        if parsed is None or parsed[0].lower() != wanted:
            break  # another server's (or an unreadable) header: nothing below it counts
        group.append(parsed[1])
    return group or None


def verify_sender(
    headers: Mapping[str, tuple[str, ...]],
    from_email: str,
    authserv_id: str,
    order: Sequence[str] = (),
) -> Verdict:
    """Whether the trusted `Authentication-Results` vouch for `from_email`'s domain.

    `order`: the header names in message order (`ParsedMessage.header_order`), so
    that a Received header ends the topmost block."""
    if authserv_id == "":
        return Verdict(False, "no trusted_authserv_id configured")
    where = f"({authserv_id})"
    local, at, domain_part = from_email.rpartition("@")
    from_domain = _domain(domain_part) if at and local else None
    if from_domain is None:
        return Verdict(False, f"no domain in sender address {_show(from_email)!r}")
    group = _trusted_group(_fields(headers, order), authserv_id)
    if group is None:
        if not any(_is_ours(value, authserv_id) for value in headers.get(_HEADER, ())):
            return Verdict(False, f"no Authentication-Results from {authserv_id}")
        return Verdict(False, f"the topmost Authentication-Results is not from {authserv_id}")

    effective: list[_Result] = []  # each method from the topmost header reporting it
    seen: set[str] = set()
    for results in group:
        here = [result for result in results if result.method in _METHODS]
        effective.extend(result for result in here if result.method not in seen)
        seen.update(result.method for result in here)
    if not effective:
        return Verdict(False, f"no dkim, spf or dmarc result {where}")

    if any(r.method == "dmarc" and r.result == "fail" for results in group for r in results):
        passed = [_describe(r) for r in effective if r.result == "pass"]
        overridden = f" overrides {', '.join(passed)}" if passed else ""
        return Verdict(False, f"dmarc=fail{overridden} {where}", refuted=True)

    for method in _METHODS:
        for result in effective:
            if result.method == method and _passes(result, from_domain):
                return Verdict(True, f"{_describe(result)} {where}")

    listed = ", ".join(_describe(result) for result in effective)
    if any(result.result == "pass" for result in effective):
        listed = f"no pass aligned with {from_domain}: {listed}"
    return Verdict(False, f"{listed} {where}")
