"""What the newer API routes answer, as pydantic models: the source of their response
schemas in the OpenAPI document (`openapi`), which the tests hold real answers to.

The documents themselves are built where they always were (`queries.serialize`,
`queries.sla_report`, the routes); these models describe them, field for field, so a
change to one that the description does not follow fails the tests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

TIME: JsonDict = {"format": "date-time"}


class Answer(BaseModel):
    """An answer's object: these fields and no others."""

    model_config = ConfigDict(extra="forbid")


# -- events -------------------------------------------------------------------------------


class EventEntry(Answer):
    """One entry of a ticket's event log, as in `maildesk tickets show --json`, with its
    id (what `after` takes)."""

    id: int
    at: str = Field(json_schema_extra=TIME)
    actor: str = Field(description="who: an agent's or customer's address, or system")
    type: str = Field(description="created, status_changed, assigned, ...")
    data: dict[str, Any] = Field(description="what changed (before and after), by type")


class EventPage(Answer):
    """GET /api/tickets/{label}/events: a page of the log, oldest first."""

    ticket: str
    events: list[EventEntry]
    next_after: int | None = Field(
        description="pass as `after` for the next page; null: this page is the last"
    )


# -- bulk changes -------------------------------------------------------------------------


class BulkEntry(Answer):
    """What became of one ticket of a bulk change."""

    ticket: str = Field(description="the ticket's label (as given, when there is no such one)")
    ok: bool = Field(description="true: changed; false: nothing of it was changed")
    errors: list[str]


class BulkResults(Answer):
    """POST /api/tickets/bulk: one entry per ticket, in the order given."""

    changed: int = Field(description="how many tickets were changed")
    results: list[BulkEntry]


# -- the SLA report -----------------------------------------------------------------------


class SlaStat(Answer):
    """One SLA target over a set of tickets; times in seconds of the SLA clock."""

    measured: int = Field(description="tickets whose target counts: met, or breached")
    met: int
    compliance: float | None = Field(ge=0, le=1, description="met / measured")
    average_seconds: float | None
    median_seconds: float | None
    count: int = Field(description="how many durations the average and median are of")


class SlaSection(Answer):
    """A group of tickets: created in the period, resolved in it, and both targets."""

    created: int
    resolved: int
    first_response: SlaStat
    resolution: SlaStat
    next_response: SlaStat | None = Field(
        None,
        description="only where a priority has a next-response target: "
        + "answers due after further customer messages, over the cycles started in "
        "the period (each customer message waiting for an answer)",
    )


class SlaAgent(Answer):
    """An agent's tickets: assigned to them and created in the period, resolved in it,
    open now."""

    name: str
    assigned: int
    resolved: int
    open: int
    first_response: SlaStat
    resolution: SlaStat
    next_response: SlaStat | None = Field(
        None,
        description="only where a priority has a next-response target: "
        + "answers due after further customer messages, over the cycles started in "
        "the period (each customer message waiting for an answer)",
    )


class SlaReport(Answer):
    """GET /api/reports/sla: the document of `maildesk report sla --json`."""

    since: str = Field(json_schema_extra=TIME)
    until: str = Field(json_schema_extra=TIME)
    created: int
    resolved: int
    first_response: SlaStat
    resolution: SlaStat
    next_response: SlaStat | None = Field(
        None,
        description="only where a priority has a next-response target: "
        + "answers due after further customer messages, over the cycles started in "
        "the period (each customer message waiting for an answer)",
    )
    by_priority: dict[str, SlaSection] = Field(description="highest priority first")
    by_category: dict[str, SlaSection] = Field(description='"(none)": no category')
    by_agent: dict[str, SlaAgent] = Field(description="by the agent's address")


# -- webhooks -----------------------------------------------------------------------------


class DeliveryCounts(Answer):
    pending: int
    delivered: int
    failed: int


class WebhookEntry(Answer):
    """An endpoint, as in `maildesk webhooks list --json` (never its secret)."""

    id: int
    name: str = Field(description="a [[webhook]]'s name, or #id")
    origin: Literal["config", "admin"] = Field(
        description="config: a [[webhook]] of maildesk.toml (removed there); admin: added"
    )
    url: str
    events: list[str]
    desk: str | None
    internal: bool
    secret_env: str | None = Field(description="where a [[webhook]]'s secret is read from")
    created_at: str = Field(json_schema_extra=TIME)
    created_by: str
    deliveries: DeliveryCounts


class WebhookList(Answer):
    """GET /api/webhooks: the active endpoints, oldest first."""

    webhooks: list[WebhookEntry]


class NewWebhookAnswer(WebhookEntry):
    """POST /api/webhooks: the new endpoint and its signing secret, answered this once."""

    secret: str = Field(description="whsec_ and base64, per the Standard Webhooks specification")


class WebhookRemoved(Answer):
    """DELETE /api/webhooks/{webhook_id}: the endpoint is off; its undelivered events
    failed."""

    removed: int


class WebhookTest(Answer):
    """POST /api/webhooks/{webhook_id}/test: what the receiver answered a signed
    webhook.test event sent now (not recorded as a delivery)."""

    url: str
    delivered: bool = Field(description="true: the receiver answered 2xx")
    status: int | None = Field(description="the receiver's HTTP status; null: no answer")
    detail: str


class DeliveryEntry(Answer):
    """A delivery, as in `maildesk webhooks deliveries --json`."""

    id: int
    webhook: int = Field(description="the endpoint's id")
    webhook_id: str = Field(description="the webhook-id header: the same for every attempt")
    type: str
    ticket: str | None
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    next_at: str | None = Field(json_schema_extra=TIME, description="when pending: next try")
    last_status: int | None
    last_error: str | None
    created_at: str = Field(json_schema_extra=TIME)
    delivered_at: str | None = Field(json_schema_extra=TIME)


class DeliveryList(Answer):
    """GET /api/webhooks/deliveries: newest first."""

    deliveries: list[DeliveryEntry]


class Retried(Answer):
    """POST .../retry: how many failed deliveries were queued again."""

    retried: int


# -- followers ----------------------------------------------------------------------------


class FollowerEntry(Answer):
    """An agent who follows a ticket: they hear of its later customer messages and notes."""

    email: str
    name: str
    how: Literal["mention", "follow"] = Field(
        description="mention: named with @ in an internal note; follow: #follow, the button"
        " or this API"
    )
    since: str = Field(json_schema_extra=TIME)


class FollowerList(Answer):
    """GET, POST and DELETE /api/tickets/{label}/followers: the ticket's followers, in the
    order they came."""

    ticket: str
    followers: list[FollowerEntry]
