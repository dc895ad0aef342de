"""Agent #commands: the block of `#command value` lines at the top of an agent's reply.

Where it sits in the flow: after matching, for mail from a verified agent (design
invariant 5), the pipeline calls `parse_reply` on the reply's text. It gets typed
`Command` values to apply, the `body` to relay to the customer (or to store as an
internal note), and errors. Any error means the caller applies nothing and relays
nothing, and answers the agent with the errors and `cheat_sheet()`.

The block is the run of leading lines that are blank or start with `#` (after any
whitespace, as HTML-to-text conversion leaves it); the first other line ends it.
So a `#hashtag` or a Markdown `# Heading` further down is text, never a command,
and no command line can end up in `body`.

Pure: text in, values out. The policy is data: `COMMANDS` is the table of small
named specs, each with a syntax line and a parser that turns the value into a
typed command or an error message.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, TypeAlias

from maildesk.core.addresses import plain_address
from maildesk.core.match import Prefixes, TicketLabel, parse_label
from maildesk.core.vocabulary import STATUSES
from maildesk.core.when import SYNTAX as WHEN_SYNTAX
from maildesk.core.when import Later, parse_later

__all__ = [
    "COMMANDS",
    "DEFAULT_PRIORITIES",
    "Assign",
    "Cc",
    "CcAction",
    "Command",
    "CommandError",
    "CommandSpec",
    "Context",
    "Follow",
    "LinkArticle",
    "LinkKind",
    "LinkTicket",
    "ReplyLinked",
    "Merge",
    "Note",
    "ParsedReply",
    "SendHeld",
    "Remind",
    "SetCategory",
    "SetField",
    "SetPriority",
    "SetRequester",
    "SetStatus",
    "Split",
    "SpendTime",
    "Snooze",
    "Tag",
    "Unfollow",
    "Unlink",
    "UseTemplate",
    "cheat_sheet",
    "parse_reply",
    "spent_minutes",
]

DEFAULT_PRIORITIES = ("low", "medium", "high", "urgent")

# --------------------------------------------------------------------------
# Commands: what an agent asked for, one frozen value per kind. `slot` names
# what a command changes; two commands with the same slot in one reply conflict.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SetStatus:
    """`#status`, `#resolve`, `#close`."""

    status: str
    slot: ClassVar[str] = "status"


@dataclass(frozen=True)
class SetPriority:
    priority: str  # spelled as configured
    slot: ClassVar[str] = "priority"


@dataclass(frozen=True)
class Assign:
    """`email` None: unassign, unless `to_sender` (`#assign me`: the agent who wrote)."""

    email: str | None
    to_sender: bool = False
    slot: ClassVar[str] = "assignee"


@dataclass(frozen=True)
class SetCategory:
    name: str | None  # None: clear the category
    slot: ClassVar[str] = "category"


@dataclass(frozen=True)
class Tag:
    add: tuple[str, ...]
    remove: tuple[str, ...]
    slot: ClassVar[str] = "tags"


class CcAction(StrEnum):
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True)
class Cc:
    action: CcAction
    email: str

    @property
    def slot(self) -> str:
        # One line per address, so several addresses can change in one reply.
        return f"cc {self.email}"


@dataclass(frozen=True)
class Note:
    """`#note`: the whole reply is an internal note; nothing goes to the customer."""

    slot: ClassVar[str] = "note"


@dataclass(frozen=True)
class UseTemplate:
    name: str
    slot: ClassVar[str] = "template"


@dataclass(frozen=True)
class LinkArticle:
    """`#kb SLUG`: the knowledge-base article's title and link go into the reply."""

    slug: str

    @property
    def slot(self) -> str:
        return f"kb {self.slug}"


@dataclass(frozen=True)
class Merge:
    """Merge this ticket into the ticket labelled `into` (bare digits: of this desk)."""

    into: TicketLabel
    slot: ClassVar[str] = "merge"


@dataclass(frozen=True)
class SetField:
    """`#set NAME VALUE`: a custom field (`none` clears it). The value is checked
    against the field's definition when the commands are checked for the ticket."""

    name: str
    value: str  # as typed; "" clears

    @property
    def slot(self) -> str:
        return f"field {self.name}"


@dataclass(frozen=True)
class Follow:
    """`#follow`: the agent who wrote hears of the ticket's later customer messages and
    notes."""

    slot: ClassVar[str] = "follow"


@dataclass(frozen=True)
class Unfollow:
    """`#unfollow`: the agent who wrote no longer follows the ticket."""

    slot: ClassVar[str] = "follow"


@dataclass(frozen=True)
class SetRequester:
    """`#requester EMAIL [Name]`: whom the ticket is for. On a new mail to the desk it
    opens the ticket for that customer (a forward's detected sender overridden); on a
    reply it changes the requester."""

    email: str
    name: str = ""
    slot: ClassVar[str] = "requester"


@dataclass(frozen=True)
class Split:
    """`#split`: the customer message the agent answers (the one their notification
    was about) and every later message move to a new ticket; `#split only`: that
    message alone. Both tickets are linked."""

    only: bool = False
    slot: ClassVar[str] = "split"


class LinkKind(StrEnum):
    RELATED = "related"  # `#link`: the two tickets are related
    PARENT = "parent"  # `#incident`: the other ticket is this one's incident (parent)


@dataclass(frozen=True)
class LinkTicket:
    """`#link SUP-17` relates this ticket and SUP-17; `#incident SUP-17` makes this
    ticket one of those the incident SUP-17 answers (`#reply-linked`)."""

    other: TicketLabel
    kind: LinkKind = LinkKind.RELATED

    @property
    def slot(self) -> str:
        return f"link {self.other.prefix}-{self.other.number}"


@dataclass(frozen=True)
class Unlink:
    """`#unlink SUP-17`: remove the link between this ticket and SUP-17."""

    other: TicketLabel

    @property
    def slot(self) -> str:
        return f"link {self.other.prefix}-{self.other.number}"


@dataclass(frozen=True)
class ReplyLinked:
    """`#reply-linked`: the reply also goes, as its own mail, to the requester (and CCs)
    of each ticket this incident is the parent of."""

    slot: ClassVar[str] = "reply-linked"


@dataclass(frozen=True)
class SpendTime:
    """`#time 25m`: the agent spent this many minutes on the ticket."""

    minutes: int
    slot: ClassVar[str] = "time"


@dataclass(frozen=True)
class SendHeld:
    """`#send`: send the reply of this agent that was held because others wrote
    after the notification it answered (it goes out as it was written)."""

    slot: ClassVar[str] = "send"


@dataclass(frozen=True)
class Snooze:
    """`#snooze WHEN`: out of the open queue until then (`until` None: `#unsnooze`)."""

    until: Later | None
    slot: ClassVar[str] = "snooze"


@dataclass(frozen=True)
class Remind:
    """`#remind WHEN TEXT`: a mail to the agent who wrote, then, about this ticket."""

    at: Later
    text: str

    @property
    def slot(self) -> str:
        # Several reminders may be set in one reply.
        return f"remind {self.at} {self.text}"


Command: TypeAlias = (
    SetStatus
    | SetPriority
    | Assign
    | SetCategory
    | Tag
    | Cc
    | Note
    | UseTemplate
    | Merge
    | SetField
    | LinkArticle
    | Follow
    | Unfollow
    | SetRequester
    | Split
    | LinkTicket
    | Unlink
    | ReplyLinked
    | SpendTime
    | SendHeld
    | Snooze
    | Remind
)

# --------------------------------------------------------------------------
# The command table
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What parsing needs from the configuration."""

    prefix: Prefixes  # the ticket's desk's prefix, `SUP` (or every desk's)
    priorities: tuple[str, ...]


Parser: TypeAlias = Callable[[str, Context], "Command | str"]


@dataclass(frozen=True)
class CommandSpec:
    """One command: `parse` returns a `Command`, or an error message for the agent."""

    name: str
    description: str
    syntax: str  # may name {statuses}, {priorities} and {prefix}
    parser: Parser

    def usage(self, ctx: Context) -> str:
        """The syntax line, with the configured values filled in."""
        prefix = ctx.prefix if isinstance(ctx.prefix, str) else ctx.prefix[0]
        return self.syntax.format(
            statuses="|".join(STATUSES), priorities="|".join(ctx.priorities), prefix=prefix
        )

    def parse(self, value: str, ctx: Context) -> Command | str:
        return self.parser(value, ctx)


def _key(value: str) -> str:
    """`Waiting on-Customer` -> `waiting_on_customer`."""
    return re.sub(r"[\s\-]+", "_", value.strip().lower())


def _pick(value: str, choices: Sequence[str]) -> str | None:
    """The choice `value` names, ignoring case, spaces and dashes."""
    return {_key(choice): choice for choice in choices}.get(_key(value))


def _not_one_of(value: str, choices: Sequence[str], what: str) -> str:
    if not value.strip():
        return f"needs a {what}: one of {', '.join(choices)}"
    return f"unknown {what} {value.strip()[:40]!r}; one of {', '.join(choices)}"


def _no_value(value: str) -> str | None:
    if value.strip():
        return f"takes no value (got {value.strip()[:40]!r})"
    return None


# Outlook's plain text writes a linked address as `bob@example.com<mailto:bob@example.com>`.
_WITH_MAILTO = re.compile(r"(?P<shown>\S+?)\s*[<\[]mailto:(?P<target>[^>\]]+)[>\]]", re.I)


def _address(value: str) -> str | None:
    """`bob@example.com`, `<bob@example.com>`, `mailto:...`, Outlook's `x<mailto:x>`."""
    value = value.strip()
    linked = _WITH_MAILTO.fullmatch(value)
    if linked is not None:
        if linked["shown"].strip("<>").lower() != linked["target"].lower():
            return None
        value = linked["target"]
    value = value.removeprefix("<").removesuffix(">")
    if value.lower().startswith("mailto:"):
        value = value[len("mailto:") :]
    return plain_address(value)


def _status(value: str, ctx: Context) -> Command | str:
    status = _pick(value, STATUSES)
    return SetStatus(status) if status else _not_one_of(value, STATUSES, "status")


def _priority(value: str, ctx: Context) -> Command | str:
    priority = _pick(value, ctx.priorities)
    return SetPriority(priority) if priority else _not_one_of(value, ctx.priorities, "priority")


_NOBODY = frozenset({"none", "nobody", "-"})


def _assign(value: str, ctx: Context) -> Command | str:
    word = value.strip().lower()
    if word == "me":
        return Assign(None, to_sender=True)
    if word in _NOBODY:
        return Assign(None)
    email = _address(value)
    if email is None:
        return f"not an email: {value.strip()[:80]!r}" if word else "needs an email, `me` or `none`"
    return Assign(email)


_CATEGORY = re.compile(r"[\w][\w &/.+-]{0,63}")


def _category(value: str, ctx: Context) -> Command | str:
    name = " ".join(value.split())
    if not name:
        return "needs a category name (or `none`)"
    if name.lower() == "none":
        return SetCategory(None)
    if not _CATEGORY.fullmatch(name):
        return f"not a category name: {name[:80]!r}"
    return SetCategory(name)


_TAG = re.compile(r"[\w][\w.-]{0,49}")


def _tag(value: str, ctx: Context) -> Command | str:
    add: dict[str, None] = {}  # dicts keep order without repeats
    remove: dict[str, None] = {}
    for word in value.split():
        target, tag = (remove, word[1:]) if word.startswith("-") else (add, word.removeprefix("+"))
        if not _TAG.fullmatch(tag):
            return f"not a tag: {word!r} (letters, digits, `.`, `_`, `-`)"
        target[tag.lower()] = None
    if not add and not remove:
        return "needs at least one tag"
    both = add.keys() & remove.keys()
    if both:
        return f"adds and removes {', '.join(sorted(both))}"
    return Tag(tuple(add), tuple(remove))


def _cc(value: str, ctx: Context) -> Command | str:
    words = value.split()
    actions = {action.value: action for action in CcAction}
    if len(words) != 2 or words[0].lower() not in actions:
        return "needs `add` or `remove` and one email address"
    email = _address(words[1])
    if email is None:
        return f"not an email: {words[1]!r}"
    return Cc(actions[words[0].lower()], email)


def _note(value: str, ctx: Context) -> Command | str:
    return _no_value(value) or Note()


_TEMPLATE = re.compile(r"[a-z0-9_-]+")


def _template(value: str, ctx: Context) -> Command | str:
    name = value.strip().lower()
    if not _TEMPLATE.fullmatch(name):
        return "needs one template name (letters a-z, digits, `_`, `-`)"
    return UseTemplate(name)


ARTICLE_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")  # a knowledge-base article's name


def _kb(value: str, ctx: Context) -> Command | str:
    slug = value.strip().lower()
    if not ARTICLE_SLUG.fullmatch(slug):
        return "needs one article slug (letters a-z, digits, `-`)"
    return LinkArticle(slug)


def _merge(value: str, ctx: Context) -> Command | str:
    label = parse_label(ctx.prefix, value)
    if label is None or not label.number:  # 0: no ticket
        prefix = ctx.prefix if isinstance(ctx.prefix, str) else ctx.prefix[0]
        return f"needs a ticket like {prefix}-00017 (got {value.strip()[:40]!r})"
    return Merge(label)


_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _set(value: str, ctx: Context) -> Command | str:
    name, _, rest = value.strip().partition(" ")
    name = name.lower()
    if not _FIELD_NAME.fullmatch(name):
        return "needs a field name and a value (or `none`)"
    rest = rest.strip()
    if not rest:
        return f"needs a value for {name} (or `none`)"
    return SetField(name, "" if rest.lower() == "none" else rest)


def _follow(value: str, ctx: Context) -> Command | str:
    return _no_value(value) or Follow()


def _unfollow(value: str, ctx: Context) -> Command | str:
    return _no_value(value) or Unfollow()


_ANGLED = re.compile(r"(?P<name>[^<]*)<(?P<email>[^>]+)>\s*")


def _requester(value: str, ctx: Context) -> Command | str:
    """`bob@example.com Bob Customer`, or as a From header: `Bob Customer <bob@...>`."""
    value = value.strip()
    angled = _ANGLED.fullmatch(value)
    if angled is not None:
        email, name = _address(angled["email"]), angled["name"]
    else:
        first, _, name = value.partition(" ")
        email = _address(first)
    if email is None:
        if not value:
            return "needs the customer's email address (and a name if you like)"
        return f"not an email: {value[:80]!r}"
    return SetRequester(email, " ".join(name.strip().strip('"').split()))


def _label(value: str, ctx: Context) -> TicketLabel | str:
    label = parse_label(ctx.prefix, value)
    if label is None or not label.number:  # 0: no ticket
        prefix = ctx.prefix if isinstance(ctx.prefix, str) else ctx.prefix[0]
        return f"needs a ticket like {prefix}-00017 (got {value.strip()[:40]!r})"
    return label


def _split(value: str, ctx: Context) -> Command | str:
    word = value.strip().lower()
    if word and word != "only":
        return f"takes nothing or `only` (got {value.strip()[:40]!r})"
    return Split(only=word == "only")


def _link(value: str, ctx: Context) -> Command | str:
    label = _label(value, ctx)
    return label if isinstance(label, str) else LinkTicket(label)


def _incident(value: str, ctx: Context) -> Command | str:
    label = _label(value, ctx)
    return label if isinstance(label, str) else LinkTicket(label, LinkKind.PARENT)


def _unlink(value: str, ctx: Context) -> Command | str:
    label = _label(value, ctx)
    return label if isinstance(label, str) else Unlink(label)


def _reply_linked(value: str, ctx: Context) -> Command | str:
    return _no_value(value) or ReplyLinked()


MAX_MINUTES = 24 * 60  # one entry of time spent: at most a day
_SPENT = re.compile(
    r"(?:(?P<hours>\d{1,3}(?:[.,]\d{1,2})?)\s*h(?:ours?|rs?)?)?\s*"
    r"(?:(?P<minutes>\d{1,4})\s*m(?:in(?:utes?|s)?)?)?"
)


def spent_minutes(value: str) -> int | str:
    """Minutes in `25m`, `1h30m`, `1.5h`, `2h` (or bare minutes, `40`); an error
    message when it is not such a time, or not in 1 minute .. 24 hours."""
    text = value.strip().lower()
    if text.isdecimal() and len(text) <= 4:
        minutes = int(text)
    else:
        match = _SPENT.fullmatch(text)
        if not text or match is None or not (match["hours"] or match["minutes"]):
            return f"needs a time like 25m, 1h30m or 1.5h (got {value.strip()[:40]!r})"
        hours = float((match["hours"] or "0").replace(",", "."))
        minutes = round(hours * 60) + int(match["minutes"] or 0)
    if not 0 < minutes <= MAX_MINUTES:
        return f"must be between 1 minute and 24 hours (got {value.strip()[:40]!r})"
    return minutes


def _time(value: str, ctx: Context) -> Command | str:
    minutes = spent_minutes(value)
    return minutes if isinstance(minutes, str) else SpendTime(minutes)


def _send(value: str, ctx: Context) -> Command | str:
    return _no_value(value) or SendHeld()


_MAX_REMINDER = 500


def _snooze(value: str, ctx: Context) -> Command | str:
    if value.strip().lower() in _NOBODY:
        return Snooze(None)
    later, rest = parse_later(value)
    if later is None:
        return f"needs a time like 3d or 2026-12-24 09:00 (got {value.strip()[:40]!r})"
    if rest:
        return f"takes a time only (left over: {rest[:40]!r})"
    return Snooze(later)


def _unsnooze(value: str, ctx: Context) -> Command | str:
    return _no_value(value) or Snooze(None)


def _remind(value: str, ctx: Context) -> Command | str:
    later, rest = parse_later(value)
    if later is None:
        return f"needs a time like 2h or 2026-12-24 09:00 (got {value.strip()[:40]!r})"
    text = " ".join(rest.split())
    if not text:
        return "needs a text after the time"
    if len(text) > _MAX_REMINDER:
        return f"the text is longer than {_MAX_REMINDER} characters"
    return Remind(later, text)


def _resolve(value: str, ctx: Context) -> Command | str:
    return _no_value(value) or SetStatus("resolved")


def _close(value: str, ctx: Context) -> Command | str:
    return _no_value(value) or SetStatus("closed")


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("status", "set the status", "#status {statuses}", _status),
    CommandSpec("priority", "set the priority", "#priority {priorities}", _priority),
    CommandSpec("assign", "set the assignee (me: yourself)", "#assign EMAIL|me|none", _assign),
    CommandSpec("category", "set (or clear) the category", "#category NAME|none", _category),
    CommandSpec("tag", "add tags, remove those marked with -", "#tag TAG ... -TAG ...", _tag),
    CommandSpec("cc", "add or remove a CC of the ticket", "#cc add|remove EMAIL", _cc),
    CommandSpec("note", "keep the whole reply as an internal note", "#note", _note),
    CommandSpec("template", "send a canned response", "#template NAME", _template),
    CommandSpec("kb", "add an article's title and link", "#kb SLUG", _kb),
    CommandSpec("merge", "merge this ticket into another", "#merge {prefix}-00017", _merge),
    CommandSpec("set", "set (or clear) a custom field", "#set FIELD VALUE|none", _set),
    CommandSpec("follow", "hear of later customer mail and notes", "#follow", _follow),
    CommandSpec("unfollow", "stop following this ticket", "#unfollow", _unfollow),
    CommandSpec(
        "requester",
        "set the requester (a new mail: opens it to them)",
        "#requester EMAIL [Name]",
        _requester,
    ),
    CommandSpec("split", "this message and later ones to a new ticket", "#split [only]", _split),
    CommandSpec("link", "relate this ticket and another", "#link {prefix}-00017", _link),
    CommandSpec("unlink", "remove a link to another ticket", "#unlink {prefix}-00017", _unlink),
    CommandSpec(
        "incident",
        "make this ticket one the incident answers",
        "#incident {prefix}-00017",
        _incident,
    ),
    CommandSpec(
        "reply-linked",
        "also send the reply to the incident's tickets",
        "#reply-linked",
        _reply_linked,
    ),
    CommandSpec("time", "record time you spent on the ticket", "#time 25m|1h30m|1.5h", _time),
    CommandSpec("send", "send your reply that was held", "#send", _send),
    CommandSpec(
        "snooze", "out of the open queue until then", f"#snooze {WHEN_SYNTAX}|none", _snooze
    ),
    CommandSpec("unsnooze", "same as #snooze none", "#unsnooze", _unsnooze),
    CommandSpec("remind", "mail me a reminder then", f"#remind {WHEN_SYNTAX} TEXT", _remind),
    CommandSpec("resolve", "same as #status resolved", "#resolve", _resolve),
    CommandSpec("close", "same as #status closed", "#close", _close),
)
"""The commands, in the order the cheat sheet lists them."""

_BY_NAME = {spec.name: spec for spec in COMMANDS}

# --------------------------------------------------------------------------
# The reply
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandError:
    line_number: int  # 1-based, in the reply text
    line: str
    message: str
    syntax: str  # the valid form, when there is one to show

    def __str__(self) -> str:
        hint = f" (syntax: {self.syntax})" if self.syntax else ""
        return f"line {self.line_number}: {self.line.strip()}: {self.message}{hint}"


@dataclass(frozen=True)
class ParsedReply:
    commands: tuple[Command, ...]
    errors: tuple[CommandError, ...]  # any error: the caller applies nothing and relays nothing
    body: str  # the reply without the command block; never contains a command line
    is_note: bool  # `#note` present: store the body as an internal note, relay nothing

    @property
    def ok(self) -> bool:
        return not self.errors


# Stripped around command lines: whitespace (str.strip covers the non-breaking
# spaces HTML-to-text leaves) and the invisible characters some clients insert.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_COMMAND_LINE = re.compile(r"#\s*(?P<name>[\w-]*)\s*[:=]?\s*(?P<value>.*)", re.S)


def _clean(line: str) -> str:
    return line.strip().strip(_INVISIBLE).strip()


def _block_end(lines: Sequence[str]) -> int:
    """Index of the first line after the command block."""
    for index, line in enumerate(lines):
        cleaned = _clean(line)
        if cleaned and not cleaned.startswith("#"):
            return index
    return len(lines)


@dataclass
class _Parser:
    """Parses the block's lines one by one, remembering which line took which slot."""

    ctx: Context
    commands: list[Command] = field(default_factory=list)
    errors: list[CommandError] = field(default_factory=list)
    slots: dict[str, int] = field(default_factory=dict)

    def line(self, number: int, line: str) -> None:
        match = _COMMAND_LINE.fullmatch(_clean(line))
        assert match is not None  # every block line starts with `#`
        name = match["name"].lower()
        spec = _BY_NAME.get(name)
        if spec is None:
            self._error(number, line, *_unknown(name, self.ctx))
            return
        result = spec.parse(match["value"], self.ctx)
        if isinstance(result, str):
            self._error(number, line, result, spec.usage(self.ctx))
            return
        first = self.slots.setdefault(result.slot, number)
        if first != number:
            message = f"conflicts with line {first}: give each setting once"
            self._error(number, line, message, spec.usage(self.ctx))
            return
        self.commands.append(result)

    def _error(self, number: int, line: str, message: str, syntax: str) -> None:
        self.errors.append(CommandError(number, line, message, syntax))


def _unknown(name: str, ctx: Context) -> tuple[str, str]:
    """The message and syntax for a command name not in the table."""
    if not name:
        return "not a command (a command is `#name value`)", ""
    close = difflib.get_close_matches(name, _BY_NAME, n=1, cutoff=0.6)
    if not close:
        known = ", ".join(f"#{spec.name}" for spec in COMMANDS)
        return f"unknown command #{name}; commands: {known}", ""
    spec = _BY_NAME[close[0]]
    return f"unknown command #{name}; did you mean #{spec.name}?", spec.usage(ctx)


def parse_reply(text: str, *, prefix: Prefixes, priorities: Sequence[str]) -> ParsedReply:
    """Split an agent's reply into its commands and its body. Never raises."""
    lines = _LINE_BREAK.split(text)
    end = _block_end(lines)
    parser = _Parser(Context(prefix, tuple(priorities)))
    for index in range(end):
        if _clean(lines[index]):
            parser.line(index + 1, lines[index])
    return ParsedReply(
        commands=tuple(parser.commands),
        errors=tuple(parser.errors),
        body="\n".join(lines[end:]).rstrip(),
        is_note=any(isinstance(command, Note) for command in parser.commands),
    )


_SHEET_COLUMN = 24  # a longer syntax line puts its description on the next line


def cheat_sheet(*, prefix: str = "SUP", priorities: Sequence[str] = DEFAULT_PRIORITIES) -> str:
    """The commands with their syntax, for notification mails (fits 78 columns)."""
    ctx = Context(prefix, tuple(priorities))
    lines = ["Commands: lines at the very top of your reply, one per line."]
    for spec in COMMANDS:
        usage = spec.usage(ctx)
        if len(usage) > _SHEET_COLUMN:
            lines += [f"  {usage}", f"  {'':<{_SHEET_COLUMN}}  {spec.description}"]
        else:
            lines.append(f"  {usage:<{_SHEET_COLUMN}}  {spec.description}")
    return "\n".join(lines)
