"""@mentions: `@ann` or `@ann@example.com` in what an agent wrote names another agent.

Where it sits in the flow: the pipeline (and the web's check of a reply before it is
sent) takes the new text of an agent's reply (`core.quoting.split_reply(...).visible`,
so the quoted history is never read) and asks `find_mentions` what it names, then
`resolve` which agents those are. In an internal note each agent named is told and
follows the ticket (`tickets.followers`); in a reply to the customer a mention is an
error, as the customer would read it.

What is not a mention: an `@` inside a word or an address (`bob@ann.com`), a line
quoted with `>`, text between backticks and fenced code blocks (```), and an `@` not
followed by a name. Trailing sentence punctuation is not part of the name
(`thanks @ann.`).

Who is meant: `@full@address` is the agent with that address; `@name` the agent
whose address's local part is `name`, ignoring case. A name that fits several
agents (ann@example.com and ann@example.org) is an error naming them; a name or
address that is no agent's is an error too.

Pure: text and agents' addresses in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Mention", "Resolved", "find_mentions", "resolve"]


@dataclass(frozen=True)
class Mention:
    written: str  # as in the text, with its @: `@Ann`, `@ann@example.com`
    name: str  # lower case: the local part (`ann`), or the whole address

    @property
    def is_address(self) -> bool:
        return "@" in self.name


@dataclass(frozen=True)
class Resolved:
    emails: tuple[str, ...]  # the agents named, each once, in the order first named
    errors: tuple[str, ...]  # one per mention that names no single agent


_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LOCAL = r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?"
_DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
# Not after a word character, `@`, `.`, `+`, `-`, `/` or `:`: then the @ is inside an
# address (`bob@ann.com`), a path or a URL (`mailto:`, `https://x/@ann`).
_MENTION = re.compile(rf"(?<![\w@.+\-/:])@(?P<local>{_LOCAL})(?:@(?P<domain>{_DOMAIN}))?(?![\w@])")


def _lines_read(text: str) -> Iterable[str]:
    """The lines a mention may be on: not quoted, not in a fenced code block."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced or line.lstrip().startswith(">"):
            continue
        yield _INLINE_CODE.sub(" ", line)


def find_mentions(text: str) -> tuple[Mention, ...]:
    """The mentions in `text`, in order, each name once."""
    found: dict[str, Mention] = {}
    for line in _lines_read(text):
        for match in _MENTION.finditer(line):
            local, domain = match["local"], match["domain"]
            name = f"{local}@{domain}".lower() if domain else local.lower()
            found.setdefault(name, Mention(match.group(0), name))
    return tuple(found.values())


def resolve(mentions: Iterable[Mention], agents: Iterable[str]) -> Resolved:
    """Which of `agents` (their addresses) each mention names."""
    addresses = sorted({a.lower() for a in agents})
    by_local: dict[str, list[str]] = {}
    for address in addresses:
        by_local.setdefault(address.rpartition("@")[0], []).append(address)
    emails: dict[str, None] = {}
    errors: list[str] = []
    for mention in mentions:
        if mention.is_address:
            candidates = [mention.name] if mention.name in addresses else []
        else:
            candidates = by_local.get(mention.name, [])
        if len(candidates) == 1:
            emails[candidates[0]] = None
        elif candidates:
            errors.append(
                f"{mention.written}: names several agents ({', '.join(candidates)});"
                " write the whole address"
            )
        else:
            errors.append(f"{mention.written}: not an agent of this desk")
    return Resolved(tuple(emails), tuple(errors))
