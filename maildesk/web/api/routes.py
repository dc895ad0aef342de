"""The JSON API's routes and the work behind them, in the web's database threads.

Every request carries `Authorization: Bearer <token>` (`maildesk agents token EMAIL`);
the token must be live and its agent active (`GET /api/openapi.json`, the API's own
description, needs none). Reads return the JSON of the CLI (`queries.serialize`: `tickets
list`/`tickets show --json`). A body is read as JSON, then as its pydantic model
(`models`: 400 for the wrong shape); changes become that agent's mail through
`actions` (intake source "api"), so they are checked, applied, logged and mailed
exactly as the same mail would be: a field change is a `#command` line, a reply is
relayed to the customer, a note stays internal.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from maildesk.core.commands import parse_reply
from maildesk.core.vocabulary import STATUSES
from maildesk.pipeline.flow import Outcome
from maildesk.queries import serialize
from maildesk.queries.ticket_list import TicketQuery, find_tickets, within
from maildesk.settings import checks
from maildesk.settings.desks import DeskProfile
from maildesk.settings.fields import FieldError, Fields, json_text
from maildesk.store.db import read_snapshot
from maildesk.store.models import Agent, Message, Ticket
from maildesk.tickets.agents import agent_for_token
from maildesk.web import actions
from maildesk.web.actions import Refused, Upload
from maildesk.web.api.forms import message_form
from maildesk.web.api.models import (
    M,
    NewMessage,
    NewMessageForm,
    NewTicket,
    TicketChange,
    TranscriptEntry,
    parsed,
)
from maildesk.web.context import Web, find_ticket, web_of
from maildesk.web.uploads import read_body

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_OFFSET = 1_000_000
MAX_NUMBER = 2**63 - 1  # beyond a BIGINT: no such ticket
LIST_PARAMS = (
    "status",
    "priority",
    "assignee",
    "category",
    "tag",
    "desk",
    "field",
    "q",
    "snoozed",
    "limit",
    "offset",
)
T = TypeVar("T")


class Rejected(Exception):
    """Values the desk refuses (422), each problem a line of `errors`."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


def bad(message: str) -> HTTPException:
    return HTTPException(400, message)


def unauthorized(message: str, error: str = "") -> HTTPException:
    challenge = 'Bearer realm="maildesk"' + (f', error="{error}"' if error else "")
    return HTTPException(401, message, headers={"WWW-Authenticate": challenge})


# -- request bodies: JSON, checked strictly -------------------------------------------


def media_type(request: Request) -> str:
    """The request's Content-Type without its parameters, in lower case."""
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


async def json_object(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; 400 for another content type or malformed JSON."""
    if media_type(request) != "application/json":
        raise bad("send a JSON object with Content-Type: application/json")
    raw = await read_body(request, limit, f"the body is larger than {limit} bytes")
    try:
        data = json.loads(raw)
        # JSON may escape a lone surrogate (`"\\ud800"`); no mail or database can hold
        # one, so it is refused here rather than failing later as a 500.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError) as exc:
        raise bad(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise bad("the body must be a JSON object")
    return data


def one_line(name: str, value: str) -> str:
    """A value for a `#command` line: it must not start another line."""
    if not value.strip() or not value.isprintable():
        raise Rejected([f"{name}: {value[:80]!r} is not one line of text"])
    return value.strip()


def tag_line(add: Sequence[str], remove: Sequence[str]) -> list[str]:
    """One `#tag` line for both lists (a reply may hold one)."""
    for name, tags in (("tags_add", add), ("tags_remove", remove)):
        for tag in tags:
            if len(tag.split()) != 1 or tag.startswith(("-", "+")):
                raise Rejected([f"{name}: not a tag: {tag[:80]!r}"])
    words = [*add, *(f"-{tag}" for tag in remove)]
    return [f"#tag {' '.join(words)}"] if words else []


def patch_commands(change: TicketChange) -> list[str]:
    """The `#command` lines a PATCH body asks for."""
    given = change.model_fields_set
    commands = [
        f"#{name} {one_line(name, getattr(change, name))}"
        for name in ("status", "priority")
        if name in given
    ]
    for name, command in (("category", "#category"), ("assignee", "#assign")):
        if name in given:
            value = getattr(change, name)  # null: clear it
            commands.append(f"{command} {'none' if value is None else one_line(name, value)}")
    commands += tag_line(change.tags_add, change.tags_remove)
    for name, action in (("cc_add", "add"), ("cc_remove", "remove")):
        commands += [f"#cc {action} {one_line(name, email)}" for email in getattr(change, name)]
    return commands + field_lines(change.fields)


def field_lines(fields: dict[str, Any]) -> list[str]:
    """`#set NAME VALUE` lines for custom fields given as JSON (null clears one); the
    values are checked against the fields' definitions with the other commands."""
    lines = []
    for name, value in fields.items():
        try:
            checks.field_name(name)  # one word: never read as a name and a value
        except ValueError:
            raise Rejected([f"fields.{name[:40]}: no such field"]) from None
        try:
            text = json_text(value)
        except FieldError as exc:
            raise Rejected([f"fields.{name}: {exc}"]) from None
        lines.append(f"#set {name} {one_line('fields.' + name, text)}")
    return lines


@dataclass(frozen=True)
class Creation:
    """What POST /api/tickets asks for, as mail and commands."""

    email: str
    name: str
    subject: str
    text: str
    commands: tuple[str, ...]
    desk: str | None = None
    category: str | None = None
    outbound: bool = False  # `text` is the agent's first message to the requester


def creation_of(spec: NewTicket, agent_name: str) -> Creation:
    name = spec.requester.name or ""
    if "body" in spec.model_fields_set:
        text = spec.body
    else:
        text = transcript_text(spec.transcript, name, agent_name)
    commands = []
    for field in ("priority", "category"):
        value = getattr(spec, field)
        if value is not None:
            commands.append(f"#{field} {one_line(field, value)}")
    commands += tag_line(spec.tags, ()) + field_lines(spec.fields)
    subject = spec.subject or ""
    if spec.outbound:
        commands.append(f"#assign {one_line('assignee', spec.assignee or 'me')}")
    return Creation(
        spec.requester.email,
        name,
        subject,
        text,
        tuple(commands),
        spec.desk,
        spec.category,
        spec.outbound,
    )


def transcript_text(entries: Sequence[TranscriptEntry], customer: str, agent: str) -> str:
    """A conversation held elsewhere (phone, chat), as the new ticket's first message."""
    parts = []
    for entry in entries:
        who = (customer or "Customer") if entry.speaker == "customer" else agent
        parts.append(f"{who}:\n{entry.text.strip()}")
    return "\n\n".join(parts)


# -- listing --------------------------------------------------------------------------


def number_param(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise bad(f"{name}: expected a whole number from {low} to {high}")
    return int(value)


def choice_param(params: QueryParams, name: str, choices: Sequence[str]) -> str | None:
    value = params.get(name) or None
    if value is not None and value not in choices:
        raise bad(f"{name}: one of {', '.join(choices)}")
    return value


def listing_of(
    params: QueryParams,
    priorities: Sequence[str],
    agent: Agent,
    fields: Fields,
    desks: Sequence[str] = (),
) -> TicketQuery:
    """GET /api/tickets: which tickets, most recently updated first."""
    unknown = sorted(set(params) - set(LIST_PARAMS))
    if unknown:
        raise bad(f"unknown parameter {unknown[0]!r} (parameters: {', '.join(LIST_PARAMS)})")
    assignee = (params.get("assignee") or "").strip().lower() or None
    status = choice_param(params, "status", STATUSES)
    for slug in params.getlist("desk"):
        if slug not in desks:
            raise bad(f"desk: one of {', '.join(desks)}")
    try:
        field_filters = fields.filters(params.getlist("field"))
    except FieldError as exc:
        raise bad(f"field: {exc}") from None
    return TicketQuery(
        statuses=(status,) if status else (),
        priority=choice_param(params, "priority", priorities),
        assignee=agent.email if assignee == "me" else assignee,
        category=params.get("category") or None,
        tag=(params.get("tag") or "").strip().lower() or None,
        desks=tuple(params.getlist("desk")),
        fields=field_filters,
        search=params.get("q") or None,
        snoozed={"true": True, "false": False, None: None}[
            choice_param(params, "snoozed", ("true", "false"))
        ],
        limit=number_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=number_param(params, "offset", 0, 0, MAX_OFFSET),
    )


def find(web: Web, spec: TicketQuery, agent: Agent) -> list[dict[str, Any]]:
    """The summaries of the tickets `spec` asks for (merged tickets left out), of those
    the agent sees only."""
    spec = within(spec, web.scope_of(agent))
    return [serialize.ticket_summary(t, web.desks) for t in find_tickets(web.db, spec)]


# -- the work, in the web's database threads ------------------------------------------


def ticket_or_404(web: Web, number: int, agent: Agent) -> Ticket:
    """The ticket, if there is one of that number the agent sees: any other answers as
    one that does not exist."""
    ticket = find_ticket(number)
    if ticket is None or not web.sees(agent, ticket):
        raise HTTPException(404, f"no ticket {number}")
    return ticket


def detail(web: Web, number: int, agent: Agent) -> dict[str, Any]:
    """The document of `maildesk tickets show --json`, from one snapshot."""
    with read_snapshot(web.desk.db):
        ticket = ticket_or_404(web, number, agent)
        document = serialize.ticket_detail(ticket, web.desks, web.desk.fields)
        document["sla"] = web.desk.sla.view(ticket, web.clock())
    return document


def create(web: Web, agent: Agent, spec: Creation) -> tuple[int, dict[str, Any]]:
    """A new ticket as if the requester mailed it, then its fields as the agent's
    commands. 202 when the intake did not make a new ticket (the requester's hourly
    limit of new tickets: the message joined their latest one)."""
    errors = [str(e) for e in parse_reply("\n".join(spec.commands), **command_context(web)).errors]
    desk = web.desks.get(spec.desk)
    visible = web.scope_of(agent)
    if spec.desk is not None and (
        not web.desks.known(spec.desk) or (visible is not None and not visible.has_desk(spec.desk))
    ):
        errors.append(f"desk: no desk {spec.desk[:40]!r} of yours")
    if visible is not None and not visible.has_category(spec.category):
        # An agent limited to categories opens tickets of theirs: any other would not
        # be there for them the moment it exists.
        errors.append(f"category: one of yours ({', '.join(visible.categories or ())})")
    if errors:
        raise Rejected(errors)
    if spec.outbound:
        return _created(web, agent, _to_customer(web, agent, spec, desk))
    outcome = actions.new_ticket(
        web,
        name=spec.name,
        email=spec.email,
        subject=spec.subject,
        text=spec.text,
        source="api",
        desk=desk,
    )
    number = web.desk.labels.find(outcome.ticket or "")
    if outcome.action != "created" or number is None:
        return 202, {"ticket": outcome.ticket, "action": outcome.action, "reason": outcome.reason}
    created = find_ticket(number)
    if spec.commands and created is not None:  # its category is one the agent sees after them
        actions.agent_mail(web, agent, created, "", commands=spec.commands, source="api")
    document = detail(web, number, agent)
    return 201, {"ticket": outcome.ticket, "action": outcome.action, **document}


def _to_customer(web: Web, agent: Agent, spec: Creation, desk: DeskProfile) -> Outcome:
    """`outbound`: the ticket opened to the requester, as the agent's `#requester` mail."""
    try:
        return actions.ticket_to_customer(
            web,
            agent,
            email=spec.email,
            name=spec.name,
            subject=spec.subject,
            text=spec.text,
            commands=spec.commands,
            desk=desk,
            source="api",
        )
    except Refused as exc:
        raise Rejected([str(exc)]) from None


def _created(web: Web, agent: Agent, outcome: Outcome) -> tuple[int, dict[str, Any]]:
    number = web.desk.labels.find(outcome.ticket or "")
    if outcome.action != "created" or number is None:
        return 202, {"ticket": outcome.ticket, "action": outcome.action, "reason": outcome.reason}
    return 201, {"ticket": outcome.ticket, "action": outcome.action, **detail(web, number, agent)}


def command_context(web: Web) -> dict[str, Any]:
    return {"prefix": web.prefixes, "priorities": web.config.tickets.priorities}


def update(web: Web, agent: Agent, number: int, commands: list[str]) -> dict[str, Any]:
    ticket = ticket_or_404(web, number, agent)
    errors = actions.command_errors(web, ticket, "\n".join(commands), agent)
    if errors:
        raise Rejected(errors)
    actions.agent_mail(web, agent, ticket, "", commands=commands, source="api")
    return detail(web, number, agent)


def add_message(
    web: Web,
    agent: Agent,
    number: int,
    text: str,
    note: bool,
    uploads: Sequence[Upload] = (),
    time_spent: str | None = None,
) -> dict[str, Any]:
    """The agent's reply or note, with `uploads` attached as the web's reply box attaches
    them (`actions.agent_mail`): stored as the same mail's attachments would be;
    `time_spent` recorded as a `#time` line would."""
    ticket = ticket_or_404(web, number, agent)
    commands = [] if time_spent is None else [f"#time {time_spent}"]
    checked = "\n".join([*(["#note"] if note else []), *commands, text])
    errors = actions.command_errors(web, ticket, checked, agent)
    if errors:
        raise Rejected(errors)
    outcome = actions.agent_mail(
        web, agent, ticket, text, commands=commands, note=note, uploads=uploads, source="api"
    )
    stored = (
        Message.select()
        .where(Message.intake == outcome.intake_id)
        .order_by(Message.id.desc())
        .first()
    )
    message = None if stored is None else serialize.message_detail(stored)
    return {"ticket": outcome.ticket, "message": message}


# -- routes ---------------------------------------------------------------------------


def answering(handler: Callable[[Request], Awaitable[Response]]) -> Callable[..., Any]:
    """The handler, with values the desk refuses answered 422 and their list."""

    async def handle(request: Request) -> Response:
        try:
            return await handler(request)
        except Rejected as exc:
            return JSONResponse({"error": str(exc), "errors": exc.errors}, 422)
        except Refused as exc:
            return JSONResponse({"error": str(exc), "errors": [str(exc)]}, 422)

    return handle


async def signed(web: Web, request: Request) -> Agent:
    """The token's agent; 401 without a live token of an active agent."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("send Authorization: Bearer <token> (maildesk agents token)")
    agent = await web.call(agent_for_token, web.db, token.strip(), web.clock())
    if agent is None:
        raise unauthorized("invalid, revoked or inactive token", "invalid_token")
    assert isinstance(agent, Agent)
    return agent


async def number_of(web: Web, request: Request) -> int:
    number = await web.ticket_number(request.path_params["label"])
    if number > MAX_NUMBER:
        raise HTTPException(404, "no such ticket")
    return number


async def body_of(web: Web, request: Request, model: type[M]) -> M:
    data = await json_object(request, web.config.web.max_upload_size)
    return parsed(model, data)


async def changed(web: Web, fn: Callable[..., T], *args: Any) -> T:
    """Run a change in the database threads; then send any mail it queued."""
    try:
        return await web.call(fn, web, *args)
    finally:
        web.on_mail()


async def list_tickets(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    spec = listing_of(
        request.query_params,
        web.config.tickets.priorities,
        agent,
        web.desk.fields,
        web.desks.slugs,
    )
    tickets = await web.call(find, web, spec, agent)
    return JSONResponse({"tickets": tickets, "limit": spec.limit, "offset": spec.offset})


async def show(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    return JSONResponse(await web.call(detail, web, await number_of(web, request), agent))


async def open_ticket(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    spec = creation_of(await body_of(web, request, NewTicket), agent.name)
    status, document = await changed(web, create, agent, spec)
    return JSONResponse(document, status)


async def change(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    number = await number_of(web, request)
    commands = patch_commands(await body_of(web, request, TicketChange))
    return JSONResponse(await changed(web, update, agent, number, commands))


async def post_message(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    number = await number_of(web, request)
    uploads: list[Upload] = []
    message: NewMessage
    if media_type(request) == "multipart/form-data":
        message, uploads = await message_form(request, web.config.web.max_upload_size)
    else:
        message = await body_of(web, request, NewMessage)
    text = f"#reply-linked\n{message.text}" if message.reply_linked else message.text
    document = await changed(
        web, add_message, agent, number, text, message.note, uploads, message.time_spent
    )
    return JSONResponse(document, 201)


class ApiRoute(Route):
    """A route of the API, with what `openapi` says of it."""

    def __init__(
        self,
        path: str,
        method: str,
        handler: Callable[[Request], Awaitable[Response]],
        operation: Operation,
    ) -> None:
        super().__init__(path, answering(handler), methods=[method], name=handler.__name__)
        self.method = method
        self.operation = operation


@dataclass(frozen=True)
class Operation:
    """What the API description says of one route."""

    summary: str
    status: int  # the status of success
    body: type[BaseModel] | None = None  # the request body's model (JSON)
    query: tuple[str, ...] = ()  # the query parameters
    also: tuple[int, ...] = ()  # other statuses of success
    admin: bool = False  # an admin's token only (403 for another)
    answer: type[BaseModel] | None = None  # the model of the body of success
    form: type[BaseModel] | None = None  # also taken as multipart/form-data, of this model
    roles: tuple[str, ...] = ()  # the roles whose tokens it serves (403 for another)
    description: str = ""  # more than the summary says, for people
    failures: tuple[int, ...] = ()  # statuses of failure beyond those the shape implies


routes = [
    ApiRoute("/api/tickets", "GET", list_tickets, Operation(
        "List tickets, most recently updated first", 200, query=LIST_PARAMS,
    )),
    ApiRoute("/api/tickets", "POST", open_ticket, Operation(
        "Open a ticket as if the requester mailed it", 201, NewTicket, also=(202,),
    )),
    ApiRoute("/api/tickets/{label}", "GET", show, Operation(
        "A ticket, as `maildesk tickets show --json`", 200,
    )),
    ApiRoute("/api/tickets/{label}", "PATCH", change, Operation(
        "Change a ticket's fields, as #command lines", 200, TicketChange,
    )),
    ApiRoute("/api/tickets/{label}/messages", "POST", post_message, Operation(
        "Reply to the customer, or add an internal note", 201, NewMessage, form=NewMessageForm,
        description="As JSON, or as multipart/form-data with the same fields and one or more"
        " `file` parts, attached as a mail's attachments are (at most [web] max_upload_size"
        " in all: 413 beyond).",
    )),
]  # fmt: skip
