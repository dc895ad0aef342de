"""Custom fields, as the configuration defines them (`[[field]]`): on tickets, on
customers (contacts) and on organizations, each field on one kind of record.

A field's values are kept as canonical text (`store.models.TicketField`,
`ContactField`, `OrganizationField`, one row per value): a number without exponent or
trailing zeros, a date as YYYY-MM-DD, a checkbox as `true`/`false`, a select as its
option's own spelling. Equal values are equal text, so filtering on a field is one
indexed lookup. `parse` turns what people give (a mail's `#set order 12345`, a form,
`--field order=12345`, an API's JSON through `json_text`) into canonical text or a
`FieldError` saying what is wrong; `typed` turns it back into JSON.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from maildesk.settings.sections import Config

MAX_TEXT = 1000  # characters of a text value
MAX_TOKEN = 200  # characters of a link's value (a record's id in another system)
_TRUE = frozenset({"true", "yes", "on", "1", "x"})
_FALSE = frozenset({"false", "no", "off", "0"})
CLEAR = "none"  # the value that clears a field, in `#set` and `--field NAME=none`


class FieldError(ValueError):
    """A value a field cannot take, or a field that does not exist (for this record)."""


@dataclass(frozen=True)
class FieldDef:
    name: str
    label: str
    type: str  # settings.sections.FIELD_TYPES
    record: str = "ticket"  # settings.sections.FIELD_RECORDS
    options: tuple[str, ...] = ()
    link_template: str = ""
    desks: frozenset[str] = frozenset()  # empty: every desk
    categories: frozenset[str] = frozenset()  # lower-case; empty: every ticket
    submit: bool = False
    required: bool = False
    public: bool = False

    def applies(self, desk: str, category: str | None) -> bool:
        """Whether tickets of this desk and category have the field."""
        if self.desks and desk not in self.desks:
            return False
        return not self.categories or (category or "").lower() in self.categories

    def seen_by(self, desks: frozenset[str] | None) -> bool:
        """Whether agents of `desks` (None: every desk) see the field on a record."""
        return desks is None or not self.desks or bool(self.desks & desks)

    def parse(self, raw: Any) -> tuple[str, ...]:
        """Canonical values of `raw` (text as typed, or JSON); () clears the field."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return ()
        if self.type == "multiselect":
            items = raw if isinstance(raw, list) else str(raw).split(",")
            chosen = {self._option(item) for item in items if str(item).strip()}
            return tuple(o for o in self.options if o in chosen)
        if isinstance(raw, list | dict):
            raise FieldError(f"{self.name}: expected one value, got a list")
        return (self._one(raw),)

    def _one(self, raw: Any) -> str:
        text = str(raw).strip() if not isinstance(raw, bool) else ""
        match self.type:
            case "number":
                return self._number(raw, text)
            case "date":
                return self._date(text)
            case "select":
                return self._option(raw)
            case "checkbox":
                word = str(raw).strip().lower()
                if isinstance(raw, bool):
                    return "true" if raw else "false"
                if word in _TRUE or word in _FALSE:
                    return "true" if word in _TRUE else "false"
                raise FieldError(f"{self.name}: yes or no, got {word[:40]!r}")
            case "link":
                if any(ch.isspace() for ch in text) or len(text) > MAX_TOKEN:
                    raise FieldError(
                        f"{self.name}: one word of at most {MAX_TOKEN} characters, "
                        f"got {text[:40]!r}"
                    )
                return text
            case _:
                if "\n" in text or "\r" in text or len(text) > MAX_TEXT:
                    raise FieldError(f"{self.name}: one line of at most {MAX_TEXT} characters")
                return text

    def _date(self, text: str) -> str:
        problem = FieldError(f"{self.name}: not a date YYYY-MM-DD: {text[:40]!r}")
        if len(text) != 10:  # fromisoformat takes other ISO forms too
            raise problem
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise problem from None

    def _number(self, raw: Any, text: str) -> str:
        if isinstance(raw, bool):
            raise FieldError(f"{self.name}: not a number: {raw!r}")
        try:
            number = decimal.Decimal(text)
        except decimal.InvalidOperation:
            raise FieldError(f"{self.name}: not a number: {text[:40]!r}") from None
        if not number.is_finite() or abs(number.adjusted()) > 30:
            raise FieldError(f"{self.name}: not a usable number: {text[:40]!r}")
        canonical = format(number.normalize(), "f")
        return "0" if canonical in ("-0", "0") else canonical

    def _option(self, raw: Any) -> str:
        word = str(raw).strip()
        for option in self.options:
            if option.lower() == word.lower():
                return option
        raise FieldError(f"{self.name}: {word[:40]!r} is not one of {', '.join(self.options)}")

    def typed(self, values: Sequence[str]) -> Any:
        """The JSON value of canonical `values` (None: not set)."""
        if self.type == "multiselect":
            return list(values)
        if not values:
            return None
        value = values[0]
        if self.type == "number":
            number = decimal.Decimal(value)
            return int(number) if number == number.to_integral_value() else float(number)
        if self.type == "checkbox":
            return value == "true"
        return value

    def url(self, value: str) -> str | None:
        """A link field's record URL for `value`."""
        if self.type != "link" or not value:
            return None
        return self.link_template.replace("{value}", quote(value, safe=""))


class Fields:
    """The configured custom fields of one kind of record, in the order of the file."""

    def __init__(self, defs: Iterable[FieldDef]) -> None:
        self.all: tuple[FieldDef, ...] = tuple(defs)
        self._by_name = {f.name: f for f in self.all}

    @classmethod
    def from_config(cls, config: Config, record: str = "ticket") -> Fields:
        """The fields of `record` (settings.sections.FIELD_RECORDS)."""
        return cls(
            FieldDef(
                name=f.name,
                label=f.label or f.name,
                type=f.type,
                record=f.record,
                options=tuple(f.options),
                link_template=f.link_template,
                desks=frozenset(f.desks),
                categories=frozenset(c.strip().lower() for c in f.categories),
                submit=f.submit,
                required=f.required,
                public=f.public,
            )
            for f in config.field
            if f.record == record
        )

    def get(self, name: str) -> FieldDef | None:
        return self._by_name.get(name)

    def named(self, name: str) -> FieldDef:
        """The field `name`; FieldError if there is none."""
        found = self._by_name.get(name)
        if found is None:
            raise _no_such(name, self.all)
        return found

    def visible(self, desks: frozenset[str] | None) -> Fields:
        """The fields agents of `desks` see on a contact or organization (None: all)."""
        return Fields(f for f in self.all if f.seen_by(desks))

    def of(self, desk: str, category: str | None) -> tuple[FieldDef, ...]:
        """The fields tickets of this desk and category have."""
        return tuple(f for f in self.all if f.applies(desk, category))

    def for_ticket(self, name: str, desk: str, category: str | None) -> FieldDef:
        """The field `name` of a ticket of this desk and category; FieldError if it has none."""
        found = self._by_name.get(name)
        if found is None or not found.applies(desk, category):
            raise _no_such(name, self.of(desk, category))
        return found

    def changes(self, given: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
        """Canonical values by field name for values as typed (empty or `none` clears
        a field, as `#set NAME none` does); FieldError for the first that is no field
        or no value of it."""
        return {
            name: self.named(name).parse("" if text.strip().lower() == CLEAR else text)
            for name, text in given.items()
        }

    def assignments(self, given: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Changes written `NAME=VALUE` (`NAME=` or `NAME=none` clears), as `changes`;
        FieldError if one is not, or names a field twice."""
        found: dict[str, str] = {}
        for name, value in pairs(given, "field"):
            if name in found:
                raise FieldError(f"{name[:40]}: given twice")
            found[name] = value
        return self.changes(found)

    def filter(self, name: str, raw: str) -> tuple[str, str]:
        """(name, canonical value) for a list filter `NAME=VALUE`; FieldError if bad."""
        values = self.named(name).parse(raw)
        if len(values) != 1:
            raise FieldError(f"{name}: filter on one value")
        return name, values[0]

    def filters(self, given: Iterable[str]) -> tuple[tuple[str, str], ...]:
        """List filters written `NAME=VALUE`, as (name, canonical value); FieldError if
        one is not."""
        return tuple(self.filter(name, value) for name, value in pairs(given, "field filter"))

    def typed(self, stored: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """A record's fields as JSON: every one of these fields, null (a multiselect:
        []) when not set."""
        return {f.name: f.typed(stored.get(f.name, ())) for f in self.all}

    def links(self, stored: Mapping[str, Sequence[str]]) -> dict[str, str]:
        """The record URLs of the link fields among these that are set."""
        found = {}
        for definition in self.all:
            values = stored.get(definition.name, ())
            url = definition.url(values[0]) if values else None
            if url:
                found[definition.name] = url
        return found


def _no_such(name: str, known: Iterable[FieldDef]) -> FieldError:
    names = ", ".join(f.name for f in known) or "none"
    return FieldError(f"{name[:40]}: no such field (fields: {names})")


def pairs(given: Iterable[str], what: str) -> list[tuple[str, str]]:
    """`NAME=VALUE` items (filters, changes) as (name, value); FieldError if one is not
    written so."""
    found = []
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise FieldError(f"{item[:40]!r}: write a {what} as NAME=VALUE")
        found.append((name.strip(), value))
    return found


def json_text(value: Any) -> str:
    """A field's value given as JSON (an API body), as typed text: null or [] clears it
    (`none`), true/false are yes/no, a list is its items joined by commas. FieldError
    (without the field's name) for anything else, and for a blank string or "none",
    which would read as clearing it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == []:
        return CLEAR
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise FieldError("expected a list of strings")
        text = ",".join(value)
    elif isinstance(value, str | int | float):
        text = str(value)
    else:
        raise FieldError("expected a string, number, boolean or list")
    if text.strip().lower() in ("", CLEAR):
        raise FieldError("use null to clear a field")
    return text
