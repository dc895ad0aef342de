"""Routing rules and auto-assignment: what a new ticket starts with, and who gets it.

Where it sits in the flow: when `maildesk.core.match.decide` says CREATE, the
pipeline gathers `MailFacts` about the mail and calls `route` with the configured
rules (built once by `Rule.parse` from the typed `[[rule]]` settings, in config
order). The `Routing` it gets back sets the new ticket's category, priority and
tags, and names the rules that matched for the event log. Then, if the ticket has
no assignee, the pipeline loads one `Candidate` per configured agent from the
database and asks `pick_assignee` whom to assign.

Rules are evaluated in order. A rule matches when every kind of condition it has
matches: recipients, "from" (its senders and sender domains together: either
matches), and keywords. Of the matching rules the first one that sets a category
decides the category, and likewise for the priority: later rules only fill what
is still unset. Tags accumulate, without repeats, in order. A matching rule with
`stop` ends the evaluation.

A rule may instead have `field` conditions (a custom field takes one of the given
values). New mail has no custom fields yet, so those rules are not tried by `route`:
`route_fields` tries them each time a ticket's fields change (an agent's `#set`,
the web, the API, the `/submit` form), and a rule acts when its condition becomes
true. A rule has either kind of condition, never both.

Pure: configuration values and mail facts in, values out. Keyword regexes are
compiled once per rule, run in linear time, and are fine on bodies of megabytes.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from maildesk.core.addresses import plain_address

__all__ = [
    "Candidate",
    "MailFacts",
    "Routing",
    "Rule",
    "RuleError",
    "Strategy",
    "pick_assignee",
    "route",
    "route_fields",
]


class RuleError(ValueError):
    """A routing rule in the configuration is invalid; the message names rule and key."""


_FIELD_WITH_MAIL = (
    "field is tried when a ticket's field is set, not on new mail: a rule has either "
    "field or recipient/sender/sender_domain/keyword conditions"
)


# --------------------------------------------------------------------------
# Keyword matching
# --------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Caseless and canonically composed: `STÖRUNG`, `störung` and `störung` spelled
    with a combining diaeresis (U+0308) all fold to the same text."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


_WORD = re.compile(r"\w")


def _keyword_pattern(keyword: str) -> str:
    """One keyword (or phrase) as a regex over folded text, with word boundaries.

    Any run of whitespace in the text matches the spaces of a phrase. A boundary
    is required only where the keyword starts or ends with a word character, so
    `c++` and `#urgent` work too. The left boundary is a lookbehind placed after
    the first character, so the regex still starts with a literal: the engine
    then skips ahead quickly instead of trying the lookbehind at every position.
    """
    words = _fold(keyword).split()
    phrase = r"\s+".join(re.escape(word) for word in words)
    first, rest = re.escape(words[0][0]), phrase[len(re.escape(words[0][0])) :]
    left = r"(?<!\w.)" if _WORD.match(words[0][0]) else ""
    right = r"(?!\w)" if _WORD.match(words[-1][-1]) else ""
    return first + left + rest + right


def _compile_keywords(keywords: Sequence[str]) -> re.Pattern[str] | None:
    if not keywords:
        return None
    # Longest first, so a phrase is preferred to its own first word (same result, clearer).
    ordered = sorted(dict.fromkeys(keywords), key=len, reverse=True)
    return re.compile("|".join(f"(?:{_keyword_pattern(k)})" for k in ordered))


class _Text:
    """A mail's subject and body, folded for keyword matching at most once each."""

    def __init__(self, subject: str, body: str) -> None:
        self._subject = subject
        self._body = body

    @cached_property
    def subject(self) -> str:
        return _fold(self._subject)

    @cached_property
    def body(self) -> str:
        return _fold(self._body)


# --------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------

KEYS = (
    "name",
    "recipient",
    "sender",
    "sender_domain",
    "keyword",
    "subject_only",
    "field",
    "set_category",
    "set_priority",
    "add_tags",
    "stop",
)
"""The keys a rule may have in the configuration."""

CONDITION_KEYS = ("recipient", "sender", "sender_domain", "keyword", "field")
MAIL_CONDITION_KEYS = CONDITION_KEYS[:4]

_DOMAIN = re.compile(r"[^@\s.]+(?:\.[^@\s.]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,49}")  # as the `#tag` command accepts


@dataclass(frozen=True)
class _Matcher:
    """A rule's conditions, prepared for matching."""

    recipients: frozenset[str]
    senders: frozenset[str]
    domains: tuple[str, ...]
    keywords: re.Pattern[str] | None
    subject_only: bool

    def matches(self, mail: MailFacts, text: _Text) -> bool:
        if self.recipients and not any(r.lower() in self.recipients for r in mail.recipients):
            return False
        if (self.senders or self.domains) and not self._from(mail.sender.lower()):
            return False
        if self.keywords is not None:
            if self.keywords.search(text.subject):
                return True
            return not self.subject_only and self.keywords.search(text.body) is not None
        return True

    def _from(self, sender: str) -> bool:
        if sender in self.senders:
            return True
        _, at, domain = sender.rpartition("@")
        return bool(at) and any(domain == d or domain.endswith("." + d) for d in self.domains)


@dataclass(frozen=True)
class Rule:
    """One routing rule: conditions (all kinds must match) and actions.

    Build rules from the configuration with `from_mapping`, which validates and
    normalises; constructing one directly assumes valid values.
    """

    name: str  # for the event log; `rule 2` when the configuration names none
    recipients: tuple[str, ...] = ()  # any recipient (To/Cc/envelope) is one of these
    senders: tuple[str, ...] = ()  # full addresses
    sender_domains: tuple[str, ...] = ()  # `example.com`: also `sub.example.com`
    keywords: tuple[str, ...] = ()  # words or phrases, in the subject or the body
    subject_only: bool = False  # keywords count only in the subject
    # (custom field, canonical value): a ticket's field takes any of these values.
    # Tried when a field is set (`route_fields`), never on new mail.
    fields: tuple[tuple[str, str], ...] = ()
    category: str | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    stop: bool = False  # when this rule matched, evaluate no later rule
    _matcher: _Matcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        mail = self.recipients or self.senders or self.sender_domains or self.keywords
        if not (mail or self.fields):
            raise RuleError(f"rule {self.name!r}: has no condition")
        if mail and self.fields:
            raise RuleError(f"rule {self.name!r}: {_FIELD_WITH_MAIL}")
        if self.subject_only and not self.keywords:
            raise RuleError(f"rule {self.name!r}: subject_only without keyword")
        if not all(keyword.split() for keyword in self.keywords):
            raise RuleError(f"rule {self.name!r}: blank keyword")
        matcher = _Matcher(
            recipients=frozenset(r.lower() for r in self.recipients),
            senders=frozenset(s.lower() for s in self.senders),
            domains=tuple(d.lower() for d in self.sender_domains),
            keywords=_compile_keywords(self.keywords),
            subject_only=self.subject_only,
        )
        object.__setattr__(self, "_matcher", matcher)

    def matches(self, mail: MailFacts) -> bool:
        """Whether this rule's conditions all hold for `mail` (never for a rule on
        custom fields: see `route_fields`)."""
        return not self.fields and self._matcher.matches(mail, _Text(mail.subject, mail.body))

    @classmethod
    def parse(
        cls,
        where: str,
        priorities: Sequence[str],
        *,
        name: str | None = None,
        recipients: Sequence[str] = (),
        senders: Sequence[str] = (),
        sender_domains: Sequence[str] = (),
        keywords: Sequence[str] = (),
        subject_only: bool = False,
        fields: Sequence[tuple[str, str]] = (),
        category: str | None = None,
        priority: str | None = None,
        tags: Sequence[str] = (),
        stop: bool = False,
    ) -> Rule:
        """A rule from typed configuration values, checked and normalised once.

        `where` names the rule in errors (`rule 3`) and is its name when `name` is
        None; empty sequences mean the condition is absent. Raises
        `RuleError("rule 3: ...")` naming the offending key.
        """
        if not (recipients or senders or sender_domains or keywords or fields):
            raise RuleError(f"{where}: has no condition (needs one of {', '.join(CONDITION_KEYS)})")
        if fields and (recipients or senders or sender_domains or keywords):
            raise RuleError(f"{where}: {_FIELD_WITH_MAIL}")
        text = _text(name, "name", where)
        keywords = _strings(keywords, "keyword", where)
        if subject_only and not keywords:
            raise RuleError(f"{where}: subject_only needs a keyword")
        return cls(
            name=text if text is not None else where,
            recipients=_addresses(recipients, "recipient", where),
            senders=_addresses(senders, "sender", where),
            sender_domains=_domains(sender_domains, "sender_domain", where),
            keywords=keywords,
            subject_only=subject_only,
            fields=tuple(dict.fromkeys(fields)),
            category=_text(category, "set_category", where),
            priority=_priority(priority, "set_priority", where, priorities),
            tags=_tags(tags, "add_tags", where),
            stop=stop,
        )

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, object], index: int, priorities: Sequence[str]
    ) -> Rule:
        """A rule from an untyped table (as TOML gives it); `index` is its position.

        Checks the keys and their types, then `parse` checks the values. Raises
        `RuleError("rule 3: ...")` naming the offending key.
        """
        where = f"rule {index}"
        for key in data:
            if key not in KEYS:
                close = difflib.get_close_matches(key, KEYS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise RuleError(f"{where}: unknown key {key!r}{hint}")
        if not any(key in data for key in CONDITION_KEYS):
            raise RuleError(f"{where}: has no condition (needs one of {', '.join(CONDITION_KEYS)})")
        return cls.parse(
            where,
            priorities,
            name=_typed_text(data, "name", where),
            recipients=_typed_strings(data, "recipient", where),
            senders=_typed_strings(data, "sender", where),
            sender_domains=_typed_strings(data, "sender_domain", where),
            keywords=_typed_strings(data, "keyword", where),
            subject_only=_typed_flag(data, "subject_only", where),
            fields=_typed_fields(data, "field", where),
            category=_typed_text(data, "set_category", where),
            priority=_typed_text(data, "set_priority", where),
            tags=_typed_tags(data, "add_tags", where),
            stop=_typed_flag(data, "stop", where),
        )


# ---- the types of an untyped table (from_mapping) ----------------------------


def _typed_text(data: Mapping[str, object], key: str, where: str) -> str | None:
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, str):
        raise RuleError(f"{where}: {key} must be a string, not {_kind(value)}")
    return value


def _typed_flag(data: Mapping[str, object], key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise RuleError(f"{where}: {key} must be true or false, not {_kind(value)}")
    return value


def _typed_strings(data: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    """A string or a non-empty list of strings."""
    if key not in data:
        return ()
    value = data[key]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise RuleError(f"{where}: {key} must be a string or a list of strings")
    if not items:
        raise RuleError(f"{where}: {key} is an empty list")
    return tuple(str(item) for item in items)


def _typed_fields(data: Mapping[str, object], key: str, where: str) -> tuple[tuple[str, str], ...]:
    """`NAME=VALUE` conditions, as written (the caller knows the fields' definitions)."""
    found = []
    for item in _typed_strings(data, key, where):
        name, equals, value = item.partition("=")
        if not (equals and name.strip() and value.strip()):
            raise RuleError(f"{where}: {key} {item!r}: write NAME=VALUE")
        found.append((name.strip(), value.strip()))
    return tuple(found)


def _typed_tags(data: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    if key not in data:
        return ()
    value = data[key]
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        raise RuleError(f"{where}: {key} must be a list of strings")
    return tuple(str(tag) for tag in value)


# ---- the values (parse) ------------------------------------------------------


def _text(value: str | None, key: str, where: str) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise RuleError(f"{where}: {key} is empty")
    return value.strip()


def _strings(items: Sequence[str], key: str, where: str) -> tuple[str, ...]:
    """Stripped, without repeats, in order."""
    stripped = [item.strip() for item in items]
    if not all(stripped):
        raise RuleError(f"{where}: {key} has an empty string")
    return tuple(dict.fromkeys(stripped))


def _addresses(items: Sequence[str], key: str, where: str) -> tuple[str, ...]:
    addresses = tuple(dict.fromkeys(a.lower() for a in _strings(items, key, where)))
    for address in addresses:
        if plain_address(address) is None:
            raise RuleError(f"{where}: {key} {address!r} is not an email address")
    return addresses


def _domains(items: Sequence[str], key: str, where: str) -> tuple[str, ...]:
    domains = tuple(dict.fromkeys(d.lower() for d in _strings(items, key, where)))
    for domain in domains:
        if not _DOMAIN.fullmatch(domain):
            raise RuleError(f"{where}: {key} {domain!r} is not a domain (like 'example.com')")
    return domains


def _priority(value: str | None, key: str, where: str, priorities: Sequence[str]) -> str | None:
    text = _text(value, key, where)
    if text is None:
        return None
    spelled = {p.lower(): p for p in priorities}.get(text.lower())
    if spelled is None:
        raise RuleError(f"{where}: {key} {text!r} is not one of {', '.join(priorities)}")
    return spelled


def _tags(items: Sequence[str], key: str, where: str) -> tuple[str, ...]:
    tags: dict[str, None] = {}  # keeps order without repeats
    for tag in items:
        if not _TAG.fullmatch(tag):
            raise RuleError(f"{where}: {key} {tag!r} is not a tag (letters, digits, . _ -)")
        tags[tag.lower()] = None
    return tuple(tags)


def _kind(value: object) -> str:
    return type(value).__name__


# --------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MailFacts:
    """What routing looks at in a new ticket's first mail."""

    recipients: tuple[str, ...]  # lower-cased: To, Cc and the envelope recipients
    sender: str  # lower-cased
    subject: str
    body: str  # the text the ticket stores


@dataclass(frozen=True)
class Routing:
    """What the new ticket starts with; None: leave the default."""

    category: str | None
    priority: str | None
    tags: tuple[str, ...]
    matched: tuple[str, ...]  # names of the rules that matched, in order


def route(rules: Sequence[Rule], mail: MailFacts) -> Routing:
    """Evaluate `rules` in order: the first rule setting a category (a priority)
    decides it, tags accumulate, and a matching rule with `stop` ends it all."""
    text = _Text(mail.subject, mail.body)
    return _apply(rule for rule in rules if not rule.fields and rule._matcher.matches(mail, text))


def route_fields(
    rules: Sequence[Rule],
    before: Mapping[str, Sequence[str]],
    after: Mapping[str, Sequence[str]],
) -> Routing:
    """The rules with field conditions that a change of a ticket's custom fields
    (canonical values by name, `before` and `after` it) makes true: a rule acts once,
    when its condition becomes true, not again at every later change (an agent who
    lowered the priority it raised keeps their choice). Evaluated as `route`."""
    return _apply(
        rule for rule in rules if rule.fields and _holds(rule, after) and not _holds(rule, before)
    )


def _holds(rule: Rule, values: Mapping[str, Sequence[str]]) -> bool:
    return any(value in values.get(name, ()) for name, value in rule.fields)


def _apply(matching: Iterable[Rule]) -> Routing:
    """The first matching rule setting a category (a priority) decides it, tags
    accumulate, and a matching rule with `stop` ends it all."""
    category: str | None = None
    priority: str | None = None
    tags: dict[str, None] = {}  # keeps order without repeats
    matched: list[str] = []
    for rule in matching:
        matched.append(rule.name)
        category = category if category is not None else rule.category
        priority = priority if priority is not None else rule.priority
        tags.update(dict.fromkeys(rule.tags))
        if rule.stop:
            break
    return Routing(category, priority, tuple(tags), tuple(matched))


# --------------------------------------------------------------------------
# Auto-assignment
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One agent who may be assigned, with the state the database keeps."""

    email: str
    open_tickets: int  # assigned tickets not resolved or closed
    last_assigned: int  # sequence number of this agent's last assignment; 0: never
    away: bool


class Strategy(StrEnum):
    """How a new ticket gets its assignee; values are configuration spellings."""

    ROUND_ROBIN = "round_robin"  # whoever was assigned longest ago
    LEAST_OPEN = "least_open"  # fewest open tickets, then as round-robin
    NONE = "none"  # nobody: tickets wait unassigned


def pick_assignee(strategy: Strategy, candidates: Sequence[Candidate]) -> str | None:
    """The email of the agent to assign, or None (strategy NONE, or everyone away).

    `candidates` are in configured order, which breaks the last ties. Round-robin
    state is `last_assigned` in the database, so it survives restarts and is
    shared by every running instance; an agent back from being away was assigned
    longest ago and so is next.
    """
    strategy = Strategy(strategy)
    present = [(i, c) for i, c in enumerate(candidates) if not c.away]
    if strategy is Strategy.NONE or not present:
        return None
    if strategy is Strategy.LEAST_OPEN:
        _, chosen = min(present, key=lambda p: (p[1].open_tickets, p[1].last_assigned, p[0]))
    else:
        _, chosen = min(present, key=lambda p: (p[1].last_assigned, p[0]))
    return chosen.email
