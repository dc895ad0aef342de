"""The API's request bodies as pydantic models, and the one place their errors become
the API's 400 answers.

A model checks the shape of a body (which fields, of which JSON types); the values
themselves (is that a status? an agent? one line of text?) are checked as mail's
`#command` lines are, later, and refused with 422 (`routes`). So a field such as
`status` is a string here; its `enum` in the JSON schema documents what the command
accepts (case, spaces and dashes aside), for `openapi`.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException

from maildesk.core.commands import STATUSES
from maildesk.core.event_names import ALL, EVENTS
from maildesk.core.vocabulary import ROLES

M = TypeVar("M", bound=BaseModel)
B = TypeVar("B", bound=BaseModel)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(**schema: Any) -> Any:
    """A field that may be left out, but when given is never null (the model holds
    None for it then; read it only when it is in `model_fields_set`)."""

    def extra(field_schema: dict[str, Any]) -> None:
        _no_default(field_schema)
        field_schema.update(schema)

    return Field(None, json_schema_extra=extra)


class Body(BaseModel):
    """A request body: a JSON object with no fields but its own."""

    model_config = ConfigDict(extra="forbid")


class Requester(Body):
    """Who the new ticket is from, as if they had mailed it."""

    email: StrictStr
    name: StrictStr | None = None


class TranscriptEntry(Body):
    """One turn of a conversation held elsewhere (phone, chat)."""

    speaker: Literal["customer", "agent"] = Field(alias="from")
    text: StrictStr


class NewTicket(Body):
    """POST /api/tickets: a new ticket from `requester`, with `body` (their words) or a
    `transcript`; its fields set as the calling agent's commands."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["body"]}, {"required": ["transcript"]}]}
    )
    requester: Requester
    subject: StrictStr | None = None
    body: StrictStr = optional(description="the request, in the requester's words")
    transcript: list[TranscriptEntry] = optional(minItems=1)
    priority: StrictStr | None = None
    category: StrictStr | None = None
    tags: list[StrictStr] = []
    desk: StrictStr | None = Field(None, description="the desk's slug; null: the default desk")
    fields: dict[str, Any] = Field({}, description="custom fields by name")
    outbound: bool = Field(
        False,
        description="true: `body` is the calling agent's first message to the requester, "
        "sent to them from the desk address (as `#requester` by mail); the ticket waits on "
        "the customer",
    )
    assignee: StrictStr | None = Field(
        None, description="with outbound: an agent's address, me (the default) or none"
    )

    @field_validator("transcript")
    @classmethod
    def not_empty(cls, value: list[TranscriptEntry]) -> list[TranscriptEntry]:
        if not value:
            raise ValueError('expected a list of {"from": "customer"|"agent", "text": ...}')
        return value

    @model_validator(mode="after")
    def body_or_transcript(self) -> NewTicket:
        if ("body" in self.model_fields_set) == ("transcript" in self.model_fields_set):
            raise ValueError("give either body or transcript")
        if self.outbound and "body" not in self.model_fields_set:
            raise ValueError("outbound needs a body (the message to send)")
        if self.assignee is not None and not self.outbound:
            raise ValueError("assignee goes with outbound (else: PATCH the new ticket)")
        return self


class TicketChange(Body):
    """PATCH /api/tickets/{label}: the fields to change, each as a `#command` line."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    status: StrictStr = optional(enum=list(STATUSES))
    priority: StrictStr = optional(description="one of the desk's priorities")
    category: StrictStr | None = Field(None, description="null: none")
    assignee: StrictStr | None = Field(None, description="an agent's address, or me; null: none")
    tags_add: list[StrictStr] = []
    tags_remove: list[StrictStr] = []
    cc_add: list[StrictStr] = []
    cc_remove: list[StrictStr] = []
    fields: dict[str, Any] = Field({}, description="custom fields by name; null clears one")

    @model_validator(mode="after")
    def something(self) -> TicketChange:
        if not self.model_fields_set:
            fields = ", ".join(type(self).model_fields)
            raise ValueError(f"nothing to change (fields: {fields})")
        return self


class SnoozeChange(Body):
    """POST /api/tickets/{label}/snooze: `#snooze` (null: `#unsnooze`)."""

    until: StrictStr | None = Field(
        description="3d, 2h, 30m, 1w, or YYYY-MM-DD [HH:MM] in the desk's time zone; "
        "null: wake it now"
    )


class NewReminder(Body):
    """POST /api/tickets/{label}/reminders: `#remind`, a mail to the token's agent."""

    at: StrictStr = Field(description="2h, 3d, or YYYY-MM-DD [HH:MM] in the desk's time zone")
    text: StrictStr = Field(description="what to be reminded of (one line)")


MAX_BULK = 100  # tickets per bulk change: each is a mail through the pipeline


class BulkChange(Body):
    """POST /api/tickets/bulk: the change of PATCH /api/tickets/{label}, made to each
    of `tickets` in turn."""

    tickets: list[StrictStr] = Field(
        description="the tickets, SUP-00042 or 42",
        json_schema_extra={"minItems": 1, "maxItems": MAX_BULK},
    )
    changes: TicketChange

    @field_validator("tickets")
    @classmethod
    def bounded(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one ticket")
        if len(value) > MAX_BULK:
            raise ValueError(f"at most {MAX_BULK} tickets at once (not {len(value)})")
        return value


class NewMessage(Body):
    """POST /api/tickets/{label}/messages: a reply to the customer, or an internal note.
    `#command` lines at the top apply, as in mail."""

    text: StrictStr = Field(json_schema_extra={"pattern": r"\S"})  # not blank
    note: StrictBool = False
    reply_linked: StrictBool = Field(
        False,
        description="on an incident: also send the reply to the requester and CCs of each"
        " ticket linked to it as its incident (#reply-linked), each their own mail",
    )
    time_spent: StrictStr = optional(
        description="time you spent on the ticket, as `#time` takes it: 25m, 1h30m, 1.5h"
    )

    @field_validator("text")
    @classmethod
    def written(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("write something")
        return value


def _files(schema: dict[str, Any]) -> None:
    """Binary parts, as OpenAPI 3.1 writes them (a file name and a type of their own)."""
    _no_default(schema)
    schema["items"] = {"type": "string", "contentMediaType": "application/octet-stream"}
    schema["description"] = "a file to attach (repeat the part for several)"


class NewMessageForm(NewMessage):
    """POST /api/tickets/{label}/messages as multipart/form-data: the fields of
    `NewMessage` as text parts (`note`: true or false), and the files to attach."""

    file: list[bytes] = Field([], json_schema_extra=_files)


RECORD_FIELDS = "custom fields by name (those named change, the others stay); null clears one"


class ContactChange(Body):
    """PATCH /api/contacts/{contact_id}: the person's name, internal notes, organization,
    custom fields."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    name: StrictStr = optional()
    notes: StrictStr = optional(description="internal: agents only ever see them")
    organization: StrictInt | Literal["auto"] | None = Field(
        None, description="an organization's id; null: none; auto: by mail domain"
    )
    fields: dict[str, Any] = optional(description=RECORD_FIELDS)

    @model_validator(mode="after")
    def something(self) -> ContactChange:
        return _something(self)


class NewOrganization(Body):
    """POST /api/orgs: a customer organization."""

    name: StrictStr
    domains: list[StrictStr] = Field([], description="mail domains; contacts at them belong")
    notes: StrictStr = ""
    shared_tickets: StrictBool = Field(
        False, description="members see each other's tickets listed on their status pages"
    )
    fields: dict[str, Any] = Field({}, description="custom fields by name")


class OrganizationChange(Body):
    """PATCH /api/orgs/{org_id}: what to change; `domains` replaces the list."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    name: StrictStr = optional()
    domains: list[StrictStr] = optional()
    notes: StrictStr = optional()
    shared_tickets: StrictBool = optional()
    fields: dict[str, Any] = optional(description=RECORD_FIELDS)

    @model_validator(mode="after")
    def something(self) -> OrganizationChange:
        return _something(self)


CATEGORIES = (
    "the categories the agent is limited to ([[category]] names); null or []: every category"
)


class NewAgent(Body):
    """POST /api/agents (admins only): a new agent, admin or manager."""

    email: StrictStr
    name: StrictStr
    role: StrictStr = Field("agent", json_schema_extra={"enum": list(ROLES)})
    password: StrictStr = optional(
        minLength=8, description="a web sign-in password; none: no web sign-in"
    )
    desks: list[StrictStr] = optional(
        minItems=1, description="the desks' slugs the agent works; none: the default desk"
    )
    categories: list[StrictStr] | None = Field(None, description=CATEGORIES)


class AgentChange(Body):
    """PATCH /api/agents/{email} (admins only): what to change; `desks` and
    `categories` replace the lists."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    name: StrictStr = optional()
    role: StrictStr = optional(enum=list(ROLES))
    active: StrictBool = optional(description="false: no mail as an agent, no sign-in")
    away: StrictBool = optional(description="true: no notifications, no auto-assignment")
    desks: list[StrictStr] = optional(minItems=1, description="the desks' slugs the agent works")
    categories: list[StrictStr] | None = Field(None, description=CATEGORIES)

    @model_validator(mode="after")
    def something(self) -> AgentChange:
        return _something(self)


class NewWebhook(Body):
    """POST /api/webhooks (admins only): an endpoint that receives ticket events, signed
    with a secret maildesk makes (answered once)."""

    url: StrictStr = Field(
        description="http:// or https://; a private or loopback address only where "
        "[webhooks] allowed_networks lists its network"
    )
    events: list[StrictStr] = Field(
        [ALL],
        min_length=1,
        json_schema_extra={"items": {"type": "string", "enum": [*EVENTS, ALL]}},
        description='the events to send; "*": all',
    )
    desk: StrictStr | None = Field(None, description="only this desk's tickets (a slug)")
    internal: StrictBool = Field(False, description="internal notes and events too")


def _something(body: B) -> B:
    if not body.model_fields_set:
        raise ValueError(f"nothing to change (fields: {', '.join(type(body).model_fields)})")
    return body


class Error(BaseModel):
    """Every error answer: `error` says what is wrong, `errors` lists each problem."""

    error: str
    errors: list[str]


# -- errors ---------------------------------------------------------------------------


def parsed(model: type[M], data: dict[str, Any]) -> M:
    """`data` as a `model`; 400 naming the first problem, in the API's words."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(400, problem(model, exc.errors()[0])) from None


def problem(model: type[BaseModel], error: ErrorDetails) -> str:
    place = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown field {place!r} (fields: {', '.join(_fields(model, error['loc']))})"
    if kind == "value_error":  # one of ours: the message says it all
        message = str(error.get("ctx", {}).get("error", error["msg"]))
        return f"{place}: {message}" if place else message
    said = WORDS.get(kind, error["msg"].lower())
    return f"{place}: {said}" if place else said


WORDS = {
    "missing": "required",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "too_short": "expected at least one entry",
}


def _fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the object at `loc` (where an unknown field was found)."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        inner = _model_in(field.annotation if field else None)
        if inner is None:
            return []
        model = inner
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model in `Requester`, `list[TranscriptEntry]`, ... (else None)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
