"""Custom fields on the agents' pages: a ticket's, a customer's, an organization's.

What each field shows (`FieldView`: a link field as its record's URL) and what the
form's inputs changed (`changed_fields`), for the ticket page (`pages.ticket`, which
turns the changes into `#set` lines) and the customer record pages (`pages.contacts`,
`pages.orgs`). The inputs themselves are `templates/web/_fields.html`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from starlette.datastructures import FormData

from maildesk.settings.fields import FieldDef


@dataclass(frozen=True)
class FieldView:
    """A custom field on a page: what it shows and what its control needs."""

    name: str
    label: str
    type: str
    options: tuple[str, ...]
    values: tuple[str, ...]  # canonical; empty: not set
    url: str | None  # a link field's record

    @classmethod
    def of(cls, definition: FieldDef, values: Sequence[str]) -> FieldView:
        return cls(
            definition.name,
            definition.label,
            definition.type,
            definition.options,
            tuple(values),
            definition.url(values[0]) if values else None,
        )

    @property
    def shown(self) -> str:
        if not self.values:
            return ""
        if self.type == "checkbox":
            return "yes" if self.values[0] == "true" else "no"
        return ", ".join(self.values)

    @property
    def control(self) -> str:
        """What the control shows (and `was_field_NAME` says was shown)."""
        return ",".join(self.values)


def views(
    definitions: Iterable[FieldDef], stored: Mapping[str, Sequence[str]]
) -> tuple[FieldView, ...]:
    """Each of `definitions` with its stored values."""
    return tuple(FieldView.of(d, stored.get(d.name, ())) for d in definitions)


def _line(form: FormData, name: str) -> str:
    """One form field as one line (a newline could smuggle in another #command)."""
    value = form.get(name)
    return " ".join(value.split()) if isinstance(value, str) else ""


def changed_fields(form: FormData, current: Mapping[str, str]) -> dict[str, str]:
    """The values of the fields in `current` (canonical, joined by commas) that the
    agent changed, as typed; "" clears one. A field counts as changed when its input
    differs from what the page showed (`was_field_NAME`) and from its value now, so a
    page loaded earlier never undoes someone else's change. A multiselect's options
    are checkboxes named alike (`has_field_NAME` marks the group, so none checked
    clears it)."""
    changed = {}
    for name, now in current.items():
        key = f"field_{name}"
        if f"has_{key}" in form:
            value = ",".join(v for v in form.getlist(key) if isinstance(v, str))
        elif key in form:
            value = _line(form, key)
        else:
            continue
        shown = _line(form, f"was_{key}") if f"was_{key}" in form else now
        value = " ".join(value.split())
        if value not in (shown, now):
            changed[name] = value
    return changed
